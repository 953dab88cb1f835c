"""Every dead-letter code is reachable from bytes, and a good record decodes with its raw JSON."""

from __future__ import annotations

import orjson
import pytest

from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.decode import Decoded, decode_listing
from tests.factories import event_dict


def _dec(value: bytes | None, key: bytes | None = b"L-1", **kw: object) -> Decoded | Failure:
    return decode_listing(key, value, **kw)  # type: ignore[arg-type]


def test_valid_record_decodes_and_keeps_extra_fields() -> None:
    result = _dec(orjson.dumps(event_dict(extra_field={"a": 1})))
    assert isinstance(result, Decoded)
    assert result.event.listing_id == "L-1"
    assert result.raw["extra_field"] == {"a": 1}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, ErrorCode.NULL_VALUE),
        (b"", ErrorCode.NULL_VALUE),
        (b"\xff\xfe", ErrorCode.INVALID_UTF8),
        (b"{oops", ErrorCode.INVALID_JSON),
        (b"[1]", ErrorCode.NOT_AN_OBJECT),
        (b"42", ErrorCode.NOT_AN_OBJECT),
        (orjson.dumps(event_dict(schema_version=2)), ErrorCode.UNSUPPORTED_SCHEMA_VERSION),
        (orjson.dumps({k: v for k, v in event_dict().items() if k != "occurred_at"}), ErrorCode.SCHEMA_VIOLATION),
        (orjson.dumps(event_dict(title="x" * 501)), ErrorCode.TITLE_TOO_LONG),
        (orjson.dumps(event_dict(brand="b" * 201)), ErrorCode.FIELD_TOO_LONG),
        (orjson.dumps(event_dict(marketplace="m" * 201)), ErrorCode.FIELD_TOO_LONG),
        (orjson.dumps(event_dict(description="d" * 20001)), ErrorCode.FIELD_TOO_LONG),
        (orjson.dumps(event_dict(category_path=["c" * 201])), ErrorCode.FIELD_TOO_LONG),
        (orjson.dumps(event_dict(seller={"id": "s" * 201})), ErrorCode.FIELD_TOO_LONG),
        (orjson.dumps(event_dict(seller={"business_id": "n" * 201})), ErrorCode.FIELD_TOO_LONG),
        (orjson.dumps(event_dict(ship_from={"location": "l" * 201})), ErrorCode.FIELD_TOO_LONG),
        (orjson.dumps(event_dict(category_path=["c"] * 21)), ErrorCode.TOO_MANY_ITEMS),
        (orjson.dumps(event_dict(category_path=["c"] * 100_000)), ErrorCode.TOO_MANY_ITEMS),
        (orjson.dumps(event_dict(price={"amount": "-1", "currency": "IDR"})), ErrorCode.IMPOSSIBLE_VALUE),
        (orjson.dumps(event_dict(price={"amount": "1", "currency": "XYZ"})), ErrorCode.IMPOSSIBLE_VALUE),
        (orjson.dumps(event_dict(seller={"country": "QQ"})), ErrorCode.IMPOSSIBLE_VALUE),
        (orjson.dumps(event_dict(units_per_listing=0)), ErrorCode.IMPOSSIBLE_VALUE),
        (orjson.dumps(event_dict(occurred_at="2026-11-01T10:00:00")), ErrorCode.SCHEMA_VIOLATION),
        (orjson.dumps(event_dict(title=None)), ErrorCode.SCHEMA_VIOLATION),
    ],
)
def test_bad_values_get_their_code(value: bytes | None, code: ErrorCode) -> None:
    result = _dec(value)
    assert isinstance(result, Failure), result
    assert result.code is code
    assert result.message


def test_schema_violation_names_the_field_path() -> None:
    result = _dec(orjson.dumps(event_dict(seller={"cross_border_program": "maybe"})))
    assert isinstance(result, Failure)
    assert result.code is ErrorCode.SCHEMA_VIOLATION
    assert "seller.cross_border_program" in result.message


def test_oversized_value_is_refused_before_parsing() -> None:
    result = _dec(orjson.dumps(event_dict(description="d" * 5000)), max_value_bytes=2048)
    assert isinstance(result, Failure) and result.code is ErrorCode.OVERSIZED_VALUE


def test_key_must_match_listing_id() -> None:
    value = orjson.dumps(event_dict())
    missing = _dec(value, key=None)
    mismatch = _dec(value, key=b"other")
    assert isinstance(missing, Failure) and missing.code is ErrorCode.MISSING_KEY
    assert isinstance(mismatch, Failure) and mismatch.code is ErrorCode.KEY_MISMATCH
    assert isinstance(_dec(value, key=None, require_key=False), Decoded)


def test_deleted_event_needs_no_title() -> None:
    result = _dec(orjson.dumps(event_dict(event_type="listing.deleted", title=None)))
    assert isinstance(result, Decoded)


def test_a_listing_nested_too_deep_to_keep_as_state_is_dead_lettered() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    result = decode_listing(b"L-1", orjson.dumps(event_dict(extra=deep)))
    assert isinstance(result, Failure) and result.code is ErrorCode.NESTED_TOO_DEEP
    shallow = decode_listing(b"L-1", orjson.dumps(event_dict(extra={"a": [{"b": [1, 2]}]})))
    assert isinstance(shallow, Decoded)



def test_every_text_and_list_field_of_the_contract_has_a_limit() -> None:
    """A new field without a bound would let one listing cost unbounded time to classify."""
    import json

    from stream_filter.core.contracts.schemas import render

    def unbounded(schema: dict[str, object], defs: dict[str, dict[str, object]], where: str) -> list[str]:
        if "$ref" in schema:
            return unbounded(defs[str(schema["$ref"]).rsplit("/", 1)[1]], defs, where)
        found: list[str] = []
        for option in schema.get("anyOf", []):  # type: ignore[attr-defined]
            found += unbounded(option, defs, where)
        kind = schema.get("type")
        if kind == "string" and not ({"maxLength", "pattern", "enum", "format"} & schema.keys()):
            found.append(where)
        if kind == "array":
            if "maxItems" not in schema:
                found.append(where)
            found += unbounded(schema.get("items", {}), defs, where + "[]")  # type: ignore[arg-type]
        for name, sub in schema.get("properties", {}).items():  # type: ignore[attr-defined]
            found += unbounded(sub, defs, f"{where}.{name}")
        return found

    schema = json.loads(render()["listing-event.v1.json"])
    assert unbounded(schema, schema.get("$defs", {}), "listing") == []


def test_a_listing_of_a_megabyte_of_empty_containers_is_refused_before_it_is_parsed() -> None:
    """Within every size limit, yet costly to parse, validate, keep and send: refused by its count of
    objects and arrays (brackets in strings do not count)."""
    body = orjson.dumps(event_dict(listing_id="L-1"))
    bomb = body[:-1] + b',"extra":[' + b",".join([b"[]", b"{}"] * 170_000) + b"]}"
    assert 900_000 < len(bomb) < 1_048_576
    result = decode_listing(b"L-1", bomb)
    assert isinstance(result, Failure) and result.code is ErrorCode.TOO_MANY_CONTAINERS
    assert "340002 JSON objects and arrays" in result.message
    wordy = orjson.dumps(event_dict(listing_id="L-1", description='[{"x": [1]} ' * 300))  # brackets in a string
    assert isinstance(decode_listing(b"L-1", wordy), Decoded)
    variants = orjson.dumps({**event_dict(listing_id="L-1"), "variants": [{"sku": i} for i in range(500)]})
    assert isinstance(decode_listing(b"L-1", variants), Decoded)  # a long variant list is a real listing
