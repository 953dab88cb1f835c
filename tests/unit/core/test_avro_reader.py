"""The compiled Avro reader reads exactly what fastavro reads (the reference), on valid bodies of
varied schemas and on thousands of mutations of them (fixed seed): the same JSON form and count of
containers, or the same dead-letter code."""

from __future__ import annotations

import io
import json
import math
import random
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import fastavro
import pytest

from stream_filter.core.avro_reader import Unsupported, compile_reader
from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.framing import AvroListing, WriterSchema, _avro


def read_with_fastavro(body: bytes, schema: WriterSchema) -> AvroListing | Failure:
    """The reference: fastavro's schemaless reader, its record turned into the JSON form."""
    stream = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(stream, schema.parsed, None)
    except (EOFError, IndexError) as exc:  # fastavro's IndexError: past the end, or a bad enum or union index
        if isinstance(exc, EOFError) or stream.tell() >= len(body):
            return Failure(ErrorCode.TRUNCATED_FRAME, "ends early")
        return Failure(ErrorCode.UNDECODABLE_BODY, "an index out of range")
    except Exception as exc:  # noqa: BLE001 - any way the bytes do not follow the writer schema
        return Failure(ErrorCode.UNDECODABLE_BODY, f"{type(exc).__name__}: {exc}")
    if stream.tell() != len(body):
        return Failure(ErrorCode.UNDECODABLE_BODY, "bytes left")
    tally = [0]
    return AvroListing(json_form(record, tally), tally[0])


def json_form(record: dict[str, Any], tally: list[int]) -> dict[str, Any]:
    """A record as JSON carries it: nulls absent, logical types in their JSON forms; containers counted."""
    tally[0] += 1
    return {key: _value(value, tally) for key, value in record.items() if value is not None}


def _value(value: Any, tally: list[int]) -> Any:
    if isinstance(value, dict):
        return json_form(value, tally)
    if isinstance(value, list):
        tally[0] += 1
        return [_value(v, tally) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value

VARIED = {"type": "record", "name": "Everything", "namespace": "x.y", "fields": [
    {"name": "flag", "type": "boolean"}, {"name": "small", "type": "int"}, {"name": "big", "type": "long"},
    {"name": "ratio", "type": "float"}, {"name": "precise", "type": "double"}, {"name": "blob", "type": "bytes"},
    {"name": "text", "type": "string"},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}},
    {"name": "again", "type": ["null", "Kind"], "default": None},
    {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": ["null", "long", "string"]}},
    {"name": "when", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "odd", "type": {"type": "long", "logicalType": "made-up"}, "default": 0},
    {"name": "money", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "coin", "type": {"type": "fixed", "name": "Coin", "size": 3, "logicalType": "decimal", "precision": 6,
                              "scale": 1}},
    {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "at_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "nanos", "type": {"type": "long", "logicalType": "timestamp-nanos"}},
    {"name": "tree", "type": ["null", {"type": "record", "name": "Node", "fields": [
        {"name": "label", "type": "string"}, {"name": "children", "type": {"type": "array", "items": "Node"}}]}],
     "default": None},
    {"name": "either", "type": ["null", "string", "long", "Digest"], "default": None}]}
PUBLISHED = json.loads(Path("schemas/listing-event.v1.avsc").read_text(encoding="utf-8"))


def _datum(schema: Any, rng: random.Random, named: dict[str, Any], depth: int = 0) -> Any:
    """A random value of `schema` (fastavro's parsed form)."""
    if isinstance(schema, str):
        if schema in named:
            return _datum(named[schema], rng, named, depth)
        return {"null": None, "boolean": rng.random() < 0.5, "int": rng.randint(-2**31, 2**31 - 1),
                "long": rng.choice([0, -1, 63, -64, 64, rng.randint(-2**63, 2**63 - 1)]),
                "float": rng.uniform(-1e6, 1e6), "double": rng.uniform(-1e300, 1e300),
                "bytes": rng.randbytes(rng.randint(0, 12)),
                "string": "".join(rng.choice("aé漢 \n\"\\") for _ in range(rng.randint(0, 12)))}[schema]
    if isinstance(schema, list):
        branch = rng.choice(schema if depth < 3 else [s for s in schema if s == "null"] or schema)
        return _datum(branch, rng, named, depth + 1)
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "timestamp-micros" or logical == "timestamp-millis":
        return rng.randint(-2**40, 2**45)
    if logical == "date":
        return rng.randint(-700_000, 2_900_000)
    if logical == "uuid":
        return str(__import__("uuid").UUID(int=rng.getrandbits(128))).upper()
    if kind == "record":
        named[schema["name"]] = schema
        return {f["name"]: _datum(f["type"], rng, named, depth + 1) for f in schema["fields"]}
    if kind == "enum":
        named[schema["name"]] = schema
        return rng.choice(schema["symbols"])
    if kind == "fixed":
        named[schema["name"]] = schema
        return rng.randbytes(schema["size"])
    if kind == "array":
        return [_datum(schema["items"], rng, named, depth + 1) for _ in range(rng.randint(0, 3 if depth < 3 else 0))]
    if kind == "map":
        return {f"k{i}": _datum(schema["values"], rng, named, depth + 1) for i in range(rng.randint(0, 3))}
    return _datum(kind, rng, named, depth)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _outcome(result: AvroListing | Failure) -> Any:
    return result.code if isinstance(result, Failure) else result


STRICTER = ("index out of range", "varint longer than 10 bytes", "more items than the body holds")


def _agree(fast: AvroListing | Failure, reference: AvroListing | Failure) -> bool:
    """The same code; or the compiled reader refuses what the Avro spec has no room for and fastavro
    reads on: a negative enum or union index (fastavro counts it from the end of the list) and a long
    of more than 10 bytes (fastavro's bits wrap). Never the other way round."""
    if isinstance(fast, Failure) and any(reason in fast.message for reason in STRICTER):
        return True
    if isinstance(fast, Failure) and isinstance(reference, Failure):
        return fast.code == reference.code
    return False


def _mutations(body: bytes, rng: random.Random) -> list[bytes]:
    out = [body[:cut] for cut in sorted({rng.randrange(len(body) + 1) for _ in range(3)})]
    for _ in range(6):
        flipped = bytearray(body or b"\x00")
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        out.append(bytes(flipped))
    spliced = bytearray(body)
    spliced[rng.randrange(len(spliced) + 1):rng.randrange(len(spliced) + 1)] = rng.randbytes(rng.randint(0, 3))
    return [*out, bytes(spliced), body + rng.randbytes(1)]


@pytest.mark.parametrize("schema", [VARIED, PUBLISHED], ids=["varied", "published"])
def test_compiled_reader_reads_as_fastavro(schema: dict[str, Any]) -> None:
    writer = WriterSchema.of(1, "AVRO", json.dumps(schema))
    assert writer.reader is not None and writer.problem is None
    rng = random.Random(20261208)
    compared = mutated_failures = 0
    for _ in range(1_000):
        named: dict[str, Any] = {}
        out = io.BytesIO()
        fastavro.schemaless_writer(out, writer.parsed, _datum(writer.parsed, rng, named))
        for body in [out.getvalue(), *_mutations(out.getvalue(), rng)]:
            fast, reference = _avro(body, writer), read_with_fastavro(body, writer)
            if isinstance(reference, AvroListing) and isinstance(fast, AvroListing):
                assert fast.containers == reference.containers and _same(fast.raw, reference.raw), body
            else:
                assert _agree(fast, reference), (body, fast, reference)
                mutated_failures += 1
            compared += 1
    assert compared >= 10_000 and mutated_failures > 1_000


def test_bodies_that_ask_for_more_than_they_hold_stop_early() -> None:
    """A 5-byte body cannot ask for a hundred million nulls, nor a 1 MB one for a million records."""
    nulls = {"type": "record", "name": "N", "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}]}
    writer = WriterSchema.of(3, "AVRO", json.dumps(nulls))
    many = io.BytesIO()
    fastavro.schemaless_writer(many, writer.parsed, {"a": []})
    body = b"\x80\xc2\xd7\x2f" + b"\x00"  # a block of 50,000,000 items, then the end
    got = _avro(body, writer)
    assert isinstance(got, Failure) and got.code is ErrorCode.UNDECODABLE_BODY and "more items" in got.message
    rows = {"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "array", "items": {
        "type": "record", "name": "Row", "fields": [{"name": "b", "type": "boolean"}]}}}]}
    writer = WriterSchema.of(4, "AVRO", json.dumps(rows))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, writer.parsed, {"a": [{"b": True}] * 100_000})
    got = _avro(out.getvalue(), writer)
    assert isinstance(got, Failure) and got.code is ErrorCode.TOO_MANY_CONTAINERS


def test_schemas_it_cannot_read_are_unsupported_not_a_crash() -> None:
    deep: Any = "string"
    for _ in range(12):  # arrays of optional arrays: more nested blocks than Python compiles
        deep = {"type": "array", "items": ["null", deep]}
    schema = {"type": "record", "name": "D", "fields": [{"name": "a", "type": deep}]}
    writer = WriterSchema.of(5, "AVRO", json.dumps(schema))
    assert writer.reader is None and writer.problem is not None and "cannot be read" in writer.problem
    with pytest.raises(Unsupported):
        compile_reader(fastavro.parse_schema("string"), 10)
