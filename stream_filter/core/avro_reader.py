"""A reader compiled once per Avro writer schema: bytes straight to the JSON form `framing.json_form`
gives of fastavro's record, with the containers counted on the way.

Why not fastavro alone: fastavro's schemaless reader parses the schema again and reads every value
through the file object's `read` (about 20 us for a 1 KB listing here), so a framed Avro listing cost
2.4x a plain JSON one against the 2x goal (docs/performance.md). The compiled reader indexes the
bytes directly (about 5 us). fastavro stays the reference: it parses and checks every writer schema,
it reads what the compiled reader does not cover (decimals, times, local timestamps, durations:
`Unsupported`), and a parity test holds the two equal on mutated and random bodies.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

Reader = Callable[[bytes], tuple[dict[str, Any], int, int]]  # body -> (record, containers, bytes read)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_LOGICAL = {"timestamp-millis": "_ts(v, 1000)", "timestamp-micros": "_ts(v, 1)", "date": "_day(v)",
            "uuid": "str(_UUID(v))"}
_PRIMITIVE_LOGICAL = {"timestamp-millis": "long", "timestamp-micros": "long", "date": "int", "uuid": "string"}
# the logical types fastavro converts; any other is read as its underlying type, as the Avro spec says
_KNOWN_LOGICAL = {"decimal", "uuid", "date", "time-millis", "time-micros", "timestamp-millis", "timestamp-micros",
                  "timestamp-nanos", "local-timestamp-millis", "local-timestamp-micros", "local-timestamp-nanos",
                  "duration"}


class Unsupported(Exception):
    """A schema the compiled reader leaves to fastavro."""


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


def _day(v: int) -> str:
    return (_EPOCH_DAY + timedelta(days=v)).isoformat()


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
        logical = schema.get("logicalType")
        if logical in _KNOWN_LOGICAL:
            if _PRIMITIVE_LOGICAL.get(logical) != kind:
                raise Unsupported(f"logical type {logical} on {kind}")
            return [*self.primitive(kind, "v", pad), f"{pad}{out} = {_LOGICAL[logical]}"]
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
        lines = [f"{pad}{out} = {{}}" if is_map else f"{pad}{out} = []", f"{pad}t[0] += 1", f"{pad}while True:",
                 *self.primitive("long", "k", pad + "    "), f"{pad}    if k == 0: break",
                 f"{pad}    if k < 0:", f"{pad}        k = -k", *self.primitive("long", "s", pad + "        "),
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
        lines = [f"def {function}(b, p, t):", "    t[0] += 1", "    o = {}"]
        for field in schema["fields"]:
            value = self.var()
            lines += self.read(field["type"], value, "    ")
            lines.append(f"    if {value} is not None: o[{field['name']!r}] = {value}")
        self.functions.append("\n".join([*lines, "    return o, p"]))
        return function


def compile_reader(parsed: Any) -> Reader:
    """The reader of a record schema fastavro parsed; raises Unsupported for what it leaves to fastavro."""
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise Unsupported("the schema is not a record")
    compiler = _Compiler()
    top = compiler.record(parsed)
    namespace: dict[str, Any] = {"_long": _long, "_ts": _ts, "_day": _day, "_take": _take, "_UUID": UUID,
                                 "_unpack": struct.unpack, **compiler.constants}
    exec("\n\n".join(compiler.functions), namespace)
    read = namespace[top]

    def reader(body: bytes) -> tuple[dict[str, Any], int, int]:
        tally = [0]
        record, end = read(body, 0, tally)
        return record, tally[0], end
    return reader
