"""Holds a batch of framed input until every writer schema it needs is known.

Why a whole batch waits: a registry outage says nothing about the records, so none may become a dead
letter for it, and records of a partition are decided in order, so none after a record that waits may
be decided either. Nothing of the batch is decided, delivered or acknowledged (so no offset is
committed) until the registry answers; meanwhile `/readyz` says why and the fetches are counted. A
worker stopped while it waits decides nothing: the next owner reads the records again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from stream_filter.core.framing import PLAIN, Framing
from stream_filter.core.ports import SourceRecord
from stream_filter.kafka.schema_registry import RegistryOutage, SchemaRegistry
from stream_filter.settings import Settings
from stream_filter.worker.metrics import Metrics
from stream_filter.worker.readiness import Readiness

log = logging.getLogger("stream_filter.worker")
FIRST_RETRY_S = 0.5
LAST_RETRY_S = 15.0


def registry_input(settings: Settings) -> tuple[SchemaRegistry | None, Framing]:
    """The registry and the framing of the input (no registry for plain JSON input)."""
    if settings.input_format == "json" or not settings.schema_registry_url:
        return None, PLAIN
    password = settings.schema_registry_password
    registry = SchemaRegistry(settings.schema_registry_url, username=settings.schema_registry_username,
                              password=password.get_secret_value() if password else None,
                              cache_dir=Path(settings.data_dir))
    return registry, Framing(settings.input_format, registry.schemas)


class SchemaWait:
    def __init__(self, registry: SchemaRegistry, framing: Framing, readiness: Readiness, metrics: Metrics,
                 stopping: Callable[[], bool], first_retry_s: float = FIRST_RETRY_S) -> None:
        self.registry, self.framing, self.readiness, self.metrics = registry, framing, readiness, metrics
        self.stopping = stopping
        self.first_retry_s = first_retry_s

    async def known(self, records: Sequence[SourceRecord], dropped: Callable[[], bool] = lambda: False) -> bool:
        """True once every schema id the records need is fetched or known to be unknown; False if the
        worker stops first, or `dropped` says the records were revoked meanwhile (left undecided)."""
        delay = self.first_retry_s
        while True:
            missing = self.registry.missing((r.value for r in records), self.framing)
            if not missing:
                if self.readiness.registry_outage is not None:
                    log.info("schema registry answers again: deciding the %d records that waited", len(records))
                    self.readiness.registry_outage = None
                return True
            try:
                await self.registry.fetch(missing)
            except RegistryOutage as exc:
                self.metrics.schema_fetches.labels("outage").inc()
                if self.readiness.registry_outage is None:
                    log.warning("schema registry unavailable (%s): %d records wait, none decided and no offset "
                                "committed until it answers", exc, len(records))
                self.readiness.registry_outage = (f"schema registry unavailable ({exc}); {len(records)} records wait "
                                                  f"for schema ids {sorted(missing)[:5]}")
                if self.stopping() or dropped():
                    self.readiness.registry_outage = None  # whoever reads them next waits if need be
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAST_RETRY_S)
                continue
            for schema_id in missing:
                known = self.registry.schemas.get(schema_id) is not None
                self.metrics.schema_fetches.labels("fetched" if known else "unknown").inc()
                if not known:
                    log.warning("schema id %d is not in the schema registry: its records are dead-lettered "
                                "UNKNOWN_SCHEMA_ID", schema_id)
