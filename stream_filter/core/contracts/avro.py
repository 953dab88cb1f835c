"""An Avro schema of ListingEvent v1, derived from the model's JSON Schema, for producers to copy.

Why derived and never used: producers that publish through a schema registry write with a schema
of their own, and the worker reads each record with that writer schema (core/framing.py), so this
file resolves nothing. It is published so that a producer starts from a schema that validates, and
it is generated (`stream-filter schemas`) and drift-tested like the JSON Schemas.

The mapping: optional fields are `["null", T]` with a null default (a null field counts as absent);
`occurred_at` is a `timestamp-millis`; the price amount is a decimal written as a string (Avro's
decimal needs one scale for every currency); enumerations are strings, their values in the doc (an
Avro enum refuses symbols it does not know, and the event types hold dots).
"""

from __future__ import annotations

import json
from typing import Any

from stream_filter.core.contracts.listing import ListingEvent

NAMESPACE = "dev.stream_filter.v1"


def listing_event_avsc() -> str:
    schema = ListingEvent.model_json_schema(by_alias=True)
    record = _record("ListingEvent", schema, schema.get("$defs", {}))
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def _record(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    required = set(schema.get("required", ()))
    fields = [_field(key, prop, key in required, defs) for key, prop in schema["properties"].items()]
    record: dict[str, Any] = {"type": "record", "name": name, "namespace": NAMESPACE}
    if "description" in schema:
        record["doc"] = schema["description"]
    return {**record, "fields": fields}


def _field(key: str, prop: dict[str, Any], required: bool, defs: dict[str, Any]) -> dict[str, Any]:
    field: dict[str, Any] = {"name": key}
    doc = prop.get("description") or _resolved(prop, defs).get("description")
    values = _resolved(prop, defs).get("enum")
    if values:
        doc = f"{doc + ' ' if doc else ''}One of: {', '.join(values)}."
    if doc:
        field["doc"] = doc
    kind = _type(prop, defs)
    if required:
        return {**field, "type": kind}
    if isinstance(kind, dict) and kind.get("type") == "array":
        return {**field, "type": kind, "default": prop.get("default", [])}
    return {**field, "type": ["null", kind], "default": None}


def _resolved(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The property's non-null schema, references followed."""
    options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
    first = options[0] if len(options) == 1 else prop
    if "$ref" in first:
        return dict(defs[first["$ref"].rsplit("/", 1)[-1]])
    return first


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> Any:
    options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
    if {o.get("type") for o in options} == {"number", "string"}:
        return "string"  # a decimal amount, as text
    schema = _resolved(prop, defs)
    if "$ref" in options[0]:
        if schema.get("type") == "object":
            return _record(schema["title"], schema, defs)
    kind = schema.get("type")
    if kind == "string" and schema.get("format") == "date-time":
        return {"type": "long", "logicalType": "timestamp-millis"}
    if kind == "array":
        return {"type": "array", "items": _type(schema["items"], defs)}
    return {"string": "string", "integer": "long", "boolean": "boolean", "number": "double"}[str(kind)]
