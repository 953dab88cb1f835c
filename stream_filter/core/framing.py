"""Schema-registry framing: the Confluent wire format (byte 0, a 4-byte big-endian schema id, then
the body), read with the writer schemas the edge fetched by id.

Why pure and here: the decode is one function of bytes for every entry point, so a framed record
gets the same limits, checks and dead-letter codes as a plain JSON one. Fetching stays at the edge
(`kafka/schema_registry.py`): the core is handed bytes and a read-only map of schemas by id. The
schema's type is the registry's word for that id, never a guess from the payload. Avro bodies are
decoded with the writer schema alone (producers name their records as they like; fastavro parses it,
core/avro_reader.py reads with it), their logical types turned into their JSON forms, so the listing
is then validated, stored and passed through exactly as a JSON one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import fastavro
import orjson

from stream_filter.core.avro_reader import Reader, TooManyContainers, Unsupported, compile_reader
from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.contracts.listing import MAX_CONTAINERS

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
    reader: Reader | None = None  # compiled for this Avro schema (core/avro_reader.py)

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
            parsed = fastavro.parse_schema(orjson.loads(text))
        except Exception as exc:  # noqa: BLE001 - any reason the registry's text is not a usable Avro schema
            return cls(schema_id, kind, problem=f"schema {schema_id} is not a usable Avro schema: {exc}")
        try:
            reader = compile_reader(parsed, MAX_CONTAINERS)
        except Unsupported as exc:
            return cls(schema_id, kind, parsed=parsed, problem=f"schema {schema_id} cannot be read: {exc}")
        except Exception as exc:  # noqa: BLE001 - whatever else a schema does to the compiler: unusable, not a crash
            return cls(schema_id, kind, parsed=parsed, problem=f"schema {schema_id} cannot be read: "
                       f"{type(exc).__name__}: {exc}")
        return cls(schema_id, kind, parsed=parsed, reader=reader)


@dataclass(frozen=True)
class Framing:
    """How input values are framed, and the writer schemas fetched so far (None: the registry has no
    such id). The edge fills the map before a batch that needs it is decided."""

    fmt: InputFormat = "json"
    schemas: Mapping[int, WriterSchema | None] = field(default_factory=dict)

    def is_framed(self, value: bytes) -> bool:
        return self.fmt == "registry" or (self.fmt == "auto" and value[:1] == b"\x00")


PLAIN = Framing()


class AvroListing(NamedTuple):  # one per framed listing: built in C
    """An Avro body read into its JSON form, and how many objects and arrays it holds."""

    raw: dict[str, Any]
    containers: int


def frame(schema_id: int, body: bytes) -> bytes:
    """Byte 0, the schema id in 4 bytes big-endian, the body: the Confluent wire format."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def strip_frame(value: bytes) -> bytes:
    """A JSON value with its frame, if it has one, taken off (JSON text never starts with byte 0):
    readers of the output topics take framed and plain records alike."""
    return value[HEADER_BYTES:] if value[:1] == b"\x00" else value


def framed_id(value: bytes | None) -> int | None:
    """The schema id of a framed value (None: not framed, or too short to hold an id)."""
    if value is not None and len(value) >= HEADER_BYTES and value[0] == MAGIC:
        return int.from_bytes(value[1:HEADER_BYTES], "big")
    return None


def unframe(value: bytes, framing: Framing) -> bytes | AvroListing | Failure:
    """A framed value's body: JSON text to decode as a plain value, or an Avro record already turned
    into its JSON form."""
    schema_id = framed_id(value)
    if schema_id is None:
        if value[0] != MAGIC:
            return Failure(ErrorCode.NOT_FRAMED, f"value starts with byte {value[0]}, not the schema-registry "
                           "frame's 0")
        return Failure(ErrorCode.TRUNCATED_FRAME, f"value is {len(value)} bytes, shorter than the 5-byte frame")
    schema = framing.schemas.get(schema_id)
    if schema is None:
        return Failure(ErrorCode.UNKNOWN_SCHEMA_ID, f"schema id {schema_id} is not in the schema registry")
    if schema.problem is not None:
        return Failure(ErrorCode.UNSUPPORTED_SCHEMA, schema.problem)
    body = value[HEADER_BYTES:]
    if schema.schema_type == "JSON":
        return body
    return _avro(body, schema)


def _avro(body: bytes, schema: WriterSchema) -> AvroListing | Failure:
    assert schema.reader is not None  # an Avro schema without a reader has a problem (WriterSchema.of)
    try:
        record, containers, end = schema.reader(body)
    except (EOFError, IndexError):  # the compiled reader's IndexError is only ever reading past the end
        return Failure(ErrorCode.TRUNCATED_FRAME, f"the Avro body ends early for schema {schema.schema_id}")
    except TooManyContainers as exc:
        return Failure(ErrorCode.TOO_MANY_CONTAINERS, f"{exc}, limit {MAX_CONTAINERS}")
    except RecursionError:
        return Failure(ErrorCode.NESTED_TOO_DEEP, f"records of schema {schema.schema_id} nest too deep")
    except Exception as exc:  # noqa: BLE001 - any way the bytes do not follow the writer schema
        return Failure(ErrorCode.UNDECODABLE_BODY, f"Avro body does not decode with schema {schema.schema_id}: "
                       f"{type(exc).__name__}: {exc}")
    if end != len(body):
        return Failure(ErrorCode.UNDECODABLE_BODY, f"{len(body) - end} bytes left after the Avro record "
                       f"of schema {schema.schema_id}")
    return AvroListing(record, containers)
