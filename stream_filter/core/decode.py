"""Bytes to a validated ListingEvent, or a typed reason why not.

Why a function of raw bytes: Faust's typed topics drop undecodable records silently. The worker
reads raw bytes and calls this, so every bad record becomes a dead-letter record with one of the
stable codes below, and the same function serves the offline `classify` command.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.contracts.listing import MAX_CATEGORY_LEVELS, MAX_CONTAINERS, SCHEMA_VERSION, ListingEvent
from stream_filter.core.framing import PLAIN, AvroListing, Framing, unframe


class Decoded(NamedTuple):  # immutable, built in C: one per listing
    event: ListingEvent
    raw: dict[str, Any]  # the JSON object as received, passed through into the decision record


# Validation errors on these fields are about values that cannot be real, not about shape.
_IMPOSSIBLE_FIELDS = {"amount", "currency", "country", "made_in", "units_per_listing"}


def _classify_validation(exc: ValidationError) -> Failure:
    first = exc.errors(include_url=False)[0]
    path = ".".join(str(p) for p in first["loc"]) or "<root>"
    message = f"{path}: {first['msg']}"
    if first["type"] == "string_too_long":  # the title's own code is older than the others'
        return Failure(ErrorCode.TITLE_TOO_LONG if first["loc"] == ("title",) else ErrorCode.FIELD_TOO_LONG, message)
    if first["type"] == "too_long":
        return Failure(ErrorCode.TOO_MANY_ITEMS, message)
    if first["loc"] and str(first["loc"][-1]) in _IMPOSSIBLE_FIELDS and first["type"] != "missing":
        return Failure(ErrorCode.IMPOSSIBLE_VALUE, message)
    extra = len(exc.errors()) - 1
    return Failure(ErrorCode.SCHEMA_VIOLATION, message + (f" (+{extra} more)" if extra else ""))


MAX_DEPTH = 32  # JSON nesting a listing may have: every accepted listing can be written back as state
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def containers(value: bytes) -> int:
    """How many JSON objects and arrays the text opens, brackets inside strings not counted. Counted
    in C: the brackets first (an upper bound, most listings stop there), then without the strings."""
    upper = value.count(b"{") + value.count(b"[")
    if upper <= MAX_CONTAINERS:
        return upper
    bare = _STRING.sub(b"", value)
    return bare.count(b"{") + bare.count(b"[")


def nested_deeper_than(value: dict[str, Any], limit: int) -> bool:
    """Whether objects or arrays nest more than `limit` levels (the listing itself is level 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def decode_listing(key: bytes | None, value: bytes | None, *, max_value_bytes: int = 1_048_576,
                   require_key: bool = True, framing: Framing = PLAIN) -> Decoded | Failure:
    """Validate one record. `require_key=False` serves files, which have no Kafka key. `framing`: how
    values are framed (schema-registry input) and the writer schemas fetched for them."""
    if value is None or len(value) == 0:
        return Failure(ErrorCode.NULL_VALUE, "record value is null or empty (tombstone?)")
    if len(value) > max_value_bytes:
        return Failure(ErrorCode.OVERSIZED_VALUE, f"value is {len(value)} bytes, limit {max_value_bytes}")
    if framing.is_framed(value):
        body = unframe(value, framing)
        if isinstance(body, Failure):
            return body
        if isinstance(body, AvroListing):  # in its JSON form; the reader stopped it past MAX_CONTAINERS
            return _validated(key, body.raw, body.containers, require_key)
        value = body
    if (opened := containers(value)) > MAX_CONTAINERS:
        return Failure(ErrorCode.TOO_MANY_CONTAINERS, f"{opened} JSON objects and arrays, limit {MAX_CONTAINERS}")
    try:
        raw = orjson.loads(value)  # checks UTF-8 too: the bytes are decoded once, here
    except orjson.JSONDecodeError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Failure(ErrorCode.INVALID_UTF8, f"value is not UTF-8 at byte {bad.start}")
        return Failure(ErrorCode.INVALID_JSON, f"value is not JSON: {exc}")
    if not isinstance(raw, dict):
        return Failure(ErrorCode.NOT_AN_OBJECT, f"value is a JSON {type(raw).__name__}, not an object")
    return _validated(key, raw, opened, require_key)


def _validated(key: bytes | None, raw: dict[str, Any], opened: int, require_key: bool) -> Decoded | Failure:
    """The checks and the model every listing object goes through, however it was encoded."""
    # the brackets counted above: a listing with fewer cannot nest that deep, so most are never walked
    if opened > MAX_DEPTH and nested_deeper_than(raw, MAX_DEPTH):
        return Failure(ErrorCode.NESTED_TOO_DEEP, f"objects or arrays nest deeper than {MAX_DEPTH} levels")
    if "schema_version" in raw and raw["schema_version"] != SCHEMA_VERSION:
        return Failure(ErrorCode.UNSUPPORTED_SCHEMA_VERSION,
                           f"schema_version {raw['schema_version']!r} is not supported (expected {SCHEMA_VERSION})")
    path = raw.get("category_path")  # pydantic would validate every item before counting them
    if isinstance(path, list) and len(path) > MAX_CATEGORY_LEVELS:
        return Failure(ErrorCode.TOO_MANY_ITEMS,
                       f"category_path: {len(path)} levels, limit {MAX_CATEGORY_LEVELS}")
    try:
        event = ListingEvent.model_validate(raw)
    except ValidationError as exc:
        return _classify_validation(exc)
    if require_key and (problem := key_problem(key, event.listing_id)) is not None:
        return problem
    return Decoded(event, raw)


def key_problem(key: bytes | None, listing_id: str, what: str = "record") -> Failure | None:
    """Why a record's key is not its listing id (records are keyed by listing id: the partition and
    the listing's state follow from it), or None."""
    if not key:
        return Failure(ErrorCode.MISSING_KEY, f"{what} has no key (expected the listing_id)")
    if key != listing_id.encode():
        return Failure(ErrorCode.KEY_MISMATCH, f"{what} key does not equal listing_id")
    return None
