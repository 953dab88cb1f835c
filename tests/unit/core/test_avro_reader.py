"""The compiled Avro reader reads exactly what fastavro reads (the reference), on valid bodies of
varied schemas and on thousands of mutations of them (fixed seed): the same JSON form and count of
containers, or the same dead-letter code."""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path
from typing import Any

import fastavro
import pytest

from stream_filter.core.avro_reader import Unsupported, compile_reader
from stream_filter.core.contracts.dead_letter import Failure
from stream_filter.core.framing import AvroListing, WriterSchema, _avro, read_with_fastavro

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


STRICTER = ("index out of range", "varint longer than 10 bytes")


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


def test_what_the_compiled_reader_leaves_to_fastavro() -> None:
    decimal = {"type": "record", "name": "R", "fields": [
        {"name": "a", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}]}
    with pytest.raises(Unsupported):
        compile_reader(fastavro.parse_schema(decimal))
    writer = WriterSchema.of(2, "AVRO", json.dumps(decimal))
    assert writer.reader is None and writer.parsed is not None  # read by fastavro, still
    from decimal import Decimal
    out = io.BytesIO()
    fastavro.schemaless_writer(out, writer.parsed, {"a": Decimal("12.50")})
    read = _avro(out.getvalue(), writer)
    assert isinstance(read, AvroListing) and read.raw == {"a": "12.50"}
