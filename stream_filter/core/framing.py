"""Schema-registry framing: the Confluent wire format (byte 0, a 4-byte big-endian schema id, then
the body), read with the writer schemas the edge fetched by id.

Why pure and here: the decode is one function of bytes for every entry point, so a framed record
gets the same limits, checks and dead-letter codes as a plain JSON one. Fetching stays at the edge
(`kafka/schema_registry.py`): the core is handed bytes and a read-only map of schemas by id. The
schema's type is the registry's word for that id, never a guess from the payload. Avro bodies are
decoded with the writer schema alone (producers name their records as they like), their logical
types turned into their JSON forms, so the listing is then validated, stored and passed through
exactly as a JSON one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import fastavro
import orjson

from stream_filter.core.contracts.dead_letter import ErrorCode, Failure

InputFormat = Literal["json", "registry", "auto"]  # auto: byte 0 is framed, anything else plain JSON
MAGIC = 0
HEADER_BYTES = 5


@dataclass(frozen=True)
class WriterSchema:
    """One registered schema as the registry gave it; `problem` says why it cannot be used."""

    schema_id: int
    schema_type: str  # the registry's word: AVRO, JSON, PROTOBUF
    parsed: Any = None  # fastavro's parsed schema, for AVRO
    problem: str | None = None

    @classmethod
    def of(cls, schema_id: int, schema_type: str | None, text: str, references: bool = False) -> WriterSchema:
        kind = (schema_type or "AVRO").upper()  # the Confluent API leaves out the type of Avro schemas
        if references:
            return cls(schema_id, kind, problem=f"schema {schema_id} refers to other schemas (not supported)")
        if kind == "JSON":
            return cls(schema_id, kind)
        if kind != "AVRO":
            return cls(schema_id, kind, problem=f"schema {schema_id} is {kind}; only AVRO and JSON are read")
        try:
            return cls(schema_id, kind, parsed=fastavro.parse_schema(orjson.loads(text)))
        except Exception as exc:  # noqa: BLE001 - any reason the registry's text is not a usable Avro schema
            return cls(schema_id, kind, problem=f"schema {schema_id} is not a usable Avro schema: {exc}")


@dataclass(frozen=True)
class Framing:
    """How input values are framed, and the writer schemas fetched so far (None: the registry has no
    such id). The edge fills the map before a batch that needs it is decided."""

    fmt: InputFormat = "json"
    schemas: Mapping[int, WriterSchema | None] = field(default_factory=dict)

    def is_framed(self, value: bytes) -> bool:
        return self.fmt == "registry" or (self.fmt == "auto" and value[:1] == b"\x00")


PLAIN = Framing()


def framed_id(value: bytes | None) -> int | None:
    """The schema id of a framed value (None: not framed, or too short to hold an id)."""
    if value is not None and len(value) >= HEADER_BYTES and value[0] == MAGIC:
        return int.from_bytes(value[1:HEADER_BYTES], "big")
    return None


def unframe(value: bytes, framing: Framing) -> bytes | dict[str, Any] | Failure:
    """A framed value's body: JSON text to decode as a plain value, or an Avro record already turned
    into its JSON form."""
    if value[0] != MAGIC:
        return Failure(ErrorCode.NOT_FRAMED, f"value starts with byte {value[0]}, not the schema-registry frame's 0")
    if len(value) < HEADER_BYTES:
        return Failure(ErrorCode.TRUNCATED_FRAME, f"value is {len(value)} bytes, shorter than the 5-byte frame")
    schema_id = int.from_bytes(value[1:HEADER_BYTES], "big")
    schema = framing.schemas.get(schema_id)
    if schema is None:
        return Failure(ErrorCode.UNKNOWN_SCHEMA_ID, f"schema id {schema_id} is not in the schema registry")
    if schema.problem is not None:
        return Failure(ErrorCode.UNSUPPORTED_SCHEMA, schema.problem)
    body = value[HEADER_BYTES:]
    if schema.schema_type == "JSON":
        return body
    return _avro(body, schema)


def _avro(body: bytes, schema: WriterSchema) -> dict[str, Any] | Failure:
    stream = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(stream, schema.parsed, None)
    except EOFError:
        return Failure(ErrorCode.TRUNCATED_FRAME, f"the Avro body ends early for schema {schema.schema_id}")
    except Exception as exc:  # noqa: BLE001 - any way the bytes do not follow the writer schema
        return Failure(ErrorCode.UNDECODABLE_BODY, f"Avro body does not decode with schema {schema.schema_id}: "
                       f"{type(exc).__name__}: {exc}")
    if stream.tell() != len(body):
        return Failure(ErrorCode.UNDECODABLE_BODY, f"{len(body) - stream.tell()} bytes left after the Avro record "
                       f"of schema {schema.schema_id}")
    if not isinstance(record, dict):
        return Failure(ErrorCode.NOT_AN_OBJECT, f"schema {schema.schema_id} writes a {type(record).__name__}, "
                       "not a record")
    return json_form(record)


def json_form(record: dict[str, Any]) -> dict[str, Any]:
    """The Avro record as JSON would carry it: a null field is absent, logical types in their JSON
    forms (timestamps and dates in ISO 8601, decimals and UUIDs as strings, bytes as Avro's JSON
    encoding writes them)."""
    return {k: _value(v) for k, v in record.items() if v is not None}


def _value(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return json_form(value)
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)
