"""A reader compiled once per Avro writer schema: bytes straight to the listing's JSON form (a null field
absent; timestamps, dates and times in ISO 8601, decimals and UUIDs as strings, bytes as Avro's JSON
encoding writes them), with the objects and arrays counted on the way.

Why not fastavro alone: fastavro's schemaless reader parses the schema again and reads every value
through the file object's `read` (about 20 us for a 1 KB listing here), so a framed Avro listing cost
2.4x a plain JSON one against the 2x goal (docs/performance.md). The compiled reader indexes the
bytes directly (about 5 us). fastavro stays the reference: it parses and checks every writer schema, and
a parity test holds the two equal on mutated and random bodies. Unlike fastavro's, the compiled
reader stops a body as soon as it opens more containers than a listing may hold, or a block counts
more items than the body has bytes left: a few bytes cannot ask for a billion nulls.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context
from typing import Any
from uuid import UUID

Reader = Callable[[bytes], tuple[dict[str, Any], int, int]]  # body -> (record, containers, bytes read)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_DAY = date(1970, 1, 1)
# (underlying type, logical type) -> the JSON form of `v`, for the logical types fastavro converts; any
# other logical type is read as its underlying type, as the Avro spec (and fastavro) say
_LOGICAL = {("long", "timestamp-millis"): "_ts(v, 1000)", ("long", "timestamp-micros"): "_ts(v, 1)",
            ("long", "local-timestamp-millis"): "_lts(v, 1000)", ("long", "local-timestamp-micros"): "_lts(v, 1)",
            ("int", "date"): "_day(v)", ("string", "uuid"): "str(_UUID(v))", ("int", "time-millis"): "_tms(v)",
            ("long", "time-micros"): "_tus(v)", ("bytes", "decimal"): "_dec(v, {p}, {s})",
            ("fixed", "decimal"): "_dec(v, {p}, {s})"}


class Unsupported(Exception):
    """A schema the compiled reader cannot read (the worker dead-letters its records UNSUPPORTED_SCHEMA)."""


class TooManyContainers(ValueError):
    """The body opens more objects and arrays than a listing may hold: stopped while reading."""


def _long(b: bytes, p: int, x: int) -> tuple[int, int]:
    """The rest of a varint whose first byte `x` had its high bit set; zigzag-decoded."""
    x &= 0x7F
    shift = 7
    while True:
        c = b[p]
        p += 1
        x |= (c & 0x7F) << shift
        if not c & 0x80:
            x &= 0xFFFFFFFFFFFFFFFF  # a long has 64 bits: the 10th byte's higher bits drop, as in fastavro
            return (x >> 1) ^ -(x & 1), p
        shift += 7
        if shift > 63:  # a long takes at most 10 bytes (fastavro reads on, its bits wrapping)
            raise ValueError("varint longer than 10 bytes")


def _ts(v: int, micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=v * micros)).isoformat()


def _lts(v: int, micros: int) -> str:
    return (_EPOCH_NAIVE + timedelta(microseconds=v * micros)).isoformat()


def _day(v: int) -> str:
    return (_EPOCH_DAY + timedelta(days=v)).isoformat()


def _tms(v: int) -> str:  # as fastavro's read_time_millis
    return time(int(v / 3_600_000), int(v / 60_000) % 60, int(v / 1000) % 60, int(v % 1000) * 1000).isoformat()


def _tus(v: int) -> str:  # as fastavro's read_time_micros
    return time(int(v / 3_600_000_000), int(v / 60_000_000) % 60, int(v / 1_000_000) % 60, v % 1_000_000).isoformat()


def _dec(v: bytes, precision: int, scale: int) -> str:  # as fastavro's read_decimal
    context = Context(prec=precision)
    return str(context.create_decimal(int.from_bytes(v, "big", signed=True)).scaleb(-scale, context))


def _too_many(t: list[int]) -> None:
    raise TooManyContainers(f"more than {t[1]} objects and arrays")


def _take(b: bytes, p: int, n: int) -> bytes:
    if n < 0 or p + n > len(b):
        raise EOFError("the body ends early")
    return b[p:p + n]


class _Compiler:
    def __init__(self) -> None:
        self.functions: list[str] = []
        self.names: dict[str, str] = {}  # record name -> the function that reads it
        self.named: dict[str, Any] = {}  # enum and fixed name -> its schema
        self.constants: dict[str, Any] = {}
        self.temp = 0

    def var(self) -> str:
        self.temp += 1
        return f"v{self.temp}"

    def const(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def read(self, schema: Any, out: str, pad: str) -> list[str]:
        """Lines that read one value of `schema` into `out` (b: the bytes, p: the position, t: the tally)."""
        if isinstance(schema, str):
            if schema in self.names:
                return [f"{pad}{out}, p = {self.names[schema]}(b, p, t)"]
            if schema in self.named:
                return self.read(self.named[schema], out, pad)
            return self.primitive(schema, out, pad)
        if isinstance(schema, list):
            return self.union(schema, out, pad)
        kind = schema["type"]
        form = _LOGICAL.get((kind, schema.get("logicalType")))
        if form is not None:
            if schema.get("logicalType") == "decimal":
                form = form.format(p=int(schema["precision"]), s=int(schema.get("scale", 0)))
                size = f"{int(schema['size'])}" if kind == "fixed" else "n"
                lines = self.primitive("long", "n", pad) if kind == "bytes" else []
                return [*lines, f"{pad}v = _take(b, p, {size})", f"{pad}p += {size}", f"{pad}{out} = {form}"]
            return [*self.primitive(kind, "v", pad), f"{pad}{out} = {form}"]
        if kind == "record":
            return [f"{pad}{out}, p = {self.record(schema)}(b, p, t)"]
        if kind == "enum":
            symbols = self.const(tuple(schema["symbols"]))
            self.named[schema["name"]] = schema
            return [*self.primitive("long", "i", pad),
                    f"{pad}if not 0 <= i < {len(schema['symbols'])}: raise ValueError('enum index out of range')",
                    f"{pad}{out} = {symbols}[i]"]
        if kind == "fixed":
            self.named[schema["name"]] = schema
            return [f"{pad}{out} = _take(b, p, {int(schema['size'])}).decode('latin-1')",
                    f"{pad}p += {int(schema['size'])}"]
        if kind in ("array", "map"):
            return self.blocks(schema, out, pad)
        return self.read(kind, out, pad)  # {"type": "string"}

    def primitive(self, kind: str, out: str, pad: str) -> list[str]:
        if kind == "null":
            return [f"{pad}{out} = None"]
        if kind == "boolean":
            return [f"{pad}{out} = b[p] != 0", f"{pad}p += 1"]
        if kind in ("int", "long"):
            return [f"{pad}x = b[p]", f"{pad}p += 1", f"{pad}if x & 0x80: {out}, p = _long(b, p, x)",
                    f"{pad}else: {out} = (x >> 1) ^ -(x & 1)"]
        if kind in ("float", "double"):
            size, fmt = (4, "<f") if kind == "float" else (8, "<d")
            return [f"{pad}{out} = _unpack({fmt!r}, _take(b, p, {size}))[0]", f"{pad}p += {size}"]
        if kind in ("string", "bytes"):
            codec = "" if kind == "string" else "'latin-1'"
            return [*self.primitive("long", "n", pad), f"{pad}{out} = _take(b, p, n).decode({codec})",
                    f"{pad}p += n"]
        raise Unsupported(f"type {kind}")

    def union(self, branches: list[Any], out: str, pad: str) -> list[str]:
        lines = self.primitive("long", "u", pad)
        for index, branch in enumerate(branches):
            lines.append(f"{pad}{'if' if index == 0 else 'elif'} u == {index}:")
            lines += self.read(branch, out, pad + "    ")
        return [*lines, f"{pad}else: raise ValueError('union index out of range')"]

    def blocks(self, schema: dict[str, Any], out: str, pad: str) -> list[str]:
        item = self.var()
        is_map = schema["type"] == "map"
        lines = [f"{pad}{out} = {{}}" if is_map else f"{pad}{out} = []", f"{pad}t[0] += 1",
                 f"{pad}if t[0] > t[1]: _too_many(t)", f"{pad}while True:",
                 *self.primitive("long", "k", pad + "    "), f"{pad}    if k == 0: break",
                 f"{pad}    if k < 0:", f"{pad}        k = -k", *self.primitive("long", "s", pad + "        "),
                 # no block holds more items than the body has bytes left (an item of no bytes: a null)
                 f"{pad}    if k > len(b) - p + 1: raise ValueError('a block counts more items than the body holds')",
                 f"{pad}    for _ in range(k):"]
        inner = pad + "        "
        if is_map:
            key = self.var()
            lines += self.primitive("string", key, inner)
            lines += self.read(schema["values"], item, inner)
            lines.append(f"{inner}if {item} is not None: {out}[{key}] = {item}")
        else:
            lines += self.read(schema["items"], item, inner)
            lines.append(f"{inner}{out}.append({item})")
        return lines

    def record(self, schema: dict[str, Any]) -> str:
        name = schema["name"]
        if name in self.names:
            return self.names[name]
        function = f"r{len(self.functions)}_{len(self.names)}"
        self.names[name] = function
        lines = [f"def {function}(b, p, t):", "    t[0] += 1", "    if t[0] > t[1]: _too_many(t)", "    o = {}"]
        for field in schema["fields"]:
            value = self.var()
            lines += self.read(field["type"], value, "    ")
            lines.append(f"    if {value} is not None: o[{field['name']!r}] = {value}")
        self.functions.append("\n".join([*lines, "    return o, p"]))
        return function


def compile_reader(parsed: Any, max_containers: int) -> Reader:
    """The reader of a record schema fastavro parsed, refusing bodies that open more than
    `max_containers` objects and arrays as soon as they do; raises Unsupported."""
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise Unsupported("the schema is not a record")
    compiler = _Compiler()
    top = compiler.record(parsed)
    namespace: dict[str, Any] = {"_long": _long, "_ts": _ts, "_lts": _lts, "_day": _day, "_tms": _tms, "_tus": _tus,
                                 "_dec": _dec, "_take": _take, "_UUID": UUID, "_unpack": struct.unpack,
                                 "_too_many": _too_many, **compiler.constants}
    try:
        exec("\n\n".join(compiler.functions), namespace)
    except (SyntaxError, RecursionError, MemoryError) as exc:  # nested past what Python compiles
        raise Unsupported(f"the schema nests too deeply to read ({type(exc).__name__})") from exc
    read = namespace[top]

    def reader(body: bytes) -> tuple[dict[str, Any], int, int]:
        tally = [0, max_containers]
        record, end = read(body, 0, tally)
        return record, tally[0], end
    return reader
