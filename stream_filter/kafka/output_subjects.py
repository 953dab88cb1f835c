"""The output topics' subjects in the schema registry: which topics carry decision records, the
schema registered under them, and the frame a worker with framed output puts before each record.

Why one home: `stream-filter schemas register` writes these subjects and the worker reads them at
start (STREAM_FILTER_OUTPUT_FORMAT=registry); both must mean the same subjects and the same schema.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from stream_filter.core.contracts.schemas import render
from stream_filter.core.framing import frame
from stream_filter.core.route import Output
from stream_filter.kafka.schema_registry import RegistryOutage, SchemaRegistry
from stream_filter.settings import Settings

DECISION_OUTPUTS = (Output.APPROVED, Output.REJECTED, Output.REVIEW, Output.SHADOW_DIFF)  # dead letters: input bytes


class NotRegistered(Exception):
    """The decision record's schema is not under an output subject: `stream-filter schemas register`."""


def decision_schema() -> str:
    """`schemas/decision-record.v1.json` less its `$schema` line: Apicurio's compatible API answers 500
    to a draft 2020-12 declaration, and a schema without one is read as the registry's default draft."""
    schema = json.loads(render()["decision-record.v1.json"])
    schema.pop("$schema", None)
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def subjects(settings: Settings) -> dict[Output, str]:
    topics = {Output.APPROVED: settings.topic_approved, Output.REJECTED: settings.topic_rejected,
              Output.REVIEW: settings.topic_review, Output.SHADOW_DIFF: settings.topic_shadow_diff}
    return {output: f"{topics[output]}-value" for output in DECISION_OUTPUTS}


async def lookup(registry: SchemaRegistry, subject: str, schema: str) -> tuple[int, Any]:
    """(status, body) of asking whether the JSON `schema` is under `subject`: 200 with its id and
    version, 404 when it is not (or the subject does not exist)."""
    payload = {"schema": schema, "schemaType": "JSON"}
    return await registry.request("POST", f"/subjects/{quote(subject, safe='')}", payload)


async def frames(registry: SchemaRegistry, settings: Settings) -> dict[Output, bytes]:
    """The 5-byte frame of each decision output: the id the registry gives this schema under its subject.
    Raises NotRegistered, or RegistryOutage when the registry does not answer."""
    prefixes: dict[Output, bytes] = {}
    schema = decision_schema()
    for output, subject in subjects(settings).items():
        status, found = await lookup(registry, subject, schema)
        if status not in (200, 404):  # refused credentials, a registry in trouble: not a missing schema
            raise RegistryOutage(f"the schema registry at {registry.shown} answered HTTP {status} for {subject}")
        if status != 200 or not isinstance(found, dict) or not isinstance(found.get("id"), int):
            raise NotRegistered(f"the decision record's schema is not registered under {subject} (HTTP {status}): "
                                f"run `stream-filter schemas register` first")
        prefixes[output] = frame(found["id"], b"")
    return prefixes
