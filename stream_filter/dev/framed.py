"""Listings as a schema-registry producer writes them: the Avro datum of a JSON listing under the
published schema (`schemas/listing-event.v1.avsc`), and the Confluent frame around a body.

For tests and benchmarks: the worker never writes framed input; it reads it (core/framing.py).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import fastavro

from stream_filter.core.contracts.avro import listing_event_avsc
from stream_filter.core.framing import frame

__all__ = ["avro_body", "avro_datum", "frame", "listing_schema"]


def avro_datum(listing: dict[str, Any]) -> dict[str, Any]:
    """What an Avro producer holds for a JSON listing: a datetime for `occurred_at`, text for the amount."""
    datum = dict(listing)
    datum["occurred_at"] = datetime.fromisoformat(str(listing["occurred_at"]).replace("Z", "+00:00"))
    if isinstance(listing.get("price"), dict):
        datum["price"] = {**listing["price"], "amount": str(listing["price"]["amount"])}
    return datum


def listing_schema() -> Any:
    return fastavro.parse_schema(json.loads(listing_event_avsc()))


def avro_body(listing: dict[str, Any], schema: Any | None = None) -> bytes:
    """The Avro body (no frame) of a JSON listing under `schema` (default: the published one)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema or listing_schema(), avro_datum(listing))
    return out.getvalue()
