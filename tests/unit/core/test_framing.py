"""Schema-registry input: framed Avro and JSON listings decide as their plain JSON, and every bad
frame gets its own dead-letter code."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest

from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.decode import Decoded, decode_listing
from stream_filter.core.framing import Framing, WriterSchema, framed_id
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import route
from stream_filter.dev.framed import avro_body, frame
from stream_filter.dev.samples import generate
from tests.factories import event_dict

PUBLISHED = WriterSchema.of(7, None, Path("schemas/listing-event.v1.avsc").read_text(encoding="utf-8"))
JSON_SCHEMA = WriterSchema.of(8, "JSON", "{}")
FRAMING = Framing("registry", {7: PUBLISHED, 8: JSON_SCHEMA, 9: None})


def _decision(value: bytes, framing: Framing, book: PolicyBook) -> tuple[Any, ...]:
    routed = route(None, value, book, require_key=False, framing=framing, clock="event")
    assert routed.decision is not None, routed.error
    d = routed.decision
    return d.outcome, d.action, [r.code for r in d.reasons], d.clusters, d.decision_id, d.origin


def test_framed_avro_and_json_decide_as_plain_json() -> None:
    book = PolicyBook.load("default")
    examples = [d.raw for line in Path("examples/listings.jsonl").read_bytes().splitlines()
                if isinstance(d := decode_listing(None, line, require_key=False), Decoded)]
    listings = [s.event for s in generate(200, seed=11)] + examples
    assert len(listings) > 400 and {x["event_type"] for x in listings} >= {"listing.created", "listing.updated",
                                                                          "listing.deleted"}
    for listing in listings:
        plain = _decision(orjson.dumps(listing), Framing(), book)
        assert _decision(frame(7, avro_body(listing)), FRAMING, book) == plain
        assert _decision(frame(8, orjson.dumps(listing)), FRAMING, book) == plain
        # both framings on one topic: byte 0 is framed, anything else plain JSON
        assert _decision(frame(7, avro_body(listing)), Framing("auto", FRAMING.schemas), book) == plain
        assert _decision(orjson.dumps(listing), Framing("auto", FRAMING.schemas), book) == plain


def _write(schema: dict[str, Any], datum: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), datum)
    return out.getvalue()


def test_a_producer_schema_of_its_own_with_logical_types_reads_as_json() -> None:
    """Names of the producer's choosing, an extra field, and logical types in their JSON forms."""
    schema = {"type": "record", "name": "Listing", "namespace": "com.seller.ingest", "fields": [
        {"name": "schema_version", "type": "int"},
        {"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "event_type", "type": {"type": "enum", "name": "Kind", "symbols": ["created", "updated"]}},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "listing_id", "type": "string"}, {"name": "title", "type": "string"},
        {"name": "brand", "type": ["null", "string"], "default": None},
        {"name": "price", "type": {"type": "record", "name": "Money", "fields": [
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
            {"name": "currency", "type": "string"}]}},
        {"name": "listed_on", "type": {"type": "int", "logicalType": "date"}}]}
    from datetime import UTC, date, datetime
    from decimal import Decimal
    from uuid import UUID
    datum = {"schema_version": 1, "event_id": UUID(int=5), "event_type": "created",
             "occurred_at": datetime(2026, 11, 1, 8, 30, tzinfo=UTC), "listing_id": "L-1", "title": " Batik tulis ",
             "brand": None, "price": {"amount": Decimal("12.50"), "currency": "usd"}, "listed_on": date(2026, 11, 1)}
    framing = Framing("registry", {3: WriterSchema.of(3, "AVRO", json.dumps(schema))})
    got = decode_listing(b"L-1", frame(3, _write(schema, datum)), framing=framing)
    assert isinstance(got, Failure)  # "created" is not an event type of ListingEvent v1: validated as JSON is
    assert got.code is ErrorCode.SCHEMA_VIOLATION and got.message.startswith("event_type")
    schema["fields"][2]["type"]["symbols"] = ["CREATED"]
    datum["event_type"] = "CREATED"
    got = decode_listing(b"L-1", frame(3, _write(schema, datum)), framing=framing)
    assert isinstance(got, Failure) and got.code is ErrorCode.SCHEMA_VIOLATION
    schema["fields"][2]["type"] = "string"
    datum["event_type"] = "listing.created"
    framing = Framing("registry", {3: WriterSchema.of(3, "AVRO", json.dumps(schema))})
    got = decode_listing(b"L-1", frame(3, _write(schema, datum)), framing=framing)
    assert isinstance(got, Decoded), got
    assert got.raw["occurred_at"] == "2026-11-01T08:30:00+00:00"
    assert got.raw["event_id"] == "00000000-0000-0000-0000-000000000005"
    assert got.raw["price"] == {"amount": "12.50", "currency": "usd"}
    assert got.raw["listed_on"] == "2026-11-01"  # an extra field, passed through in its JSON form
    assert "brand" not in got.raw  # a null optional field counts as absent
    assert got.event.title == "Batik tulis" and got.event.price is not None and got.event.price.currency == "USD"
    assert orjson.loads(orjson.dumps(got.raw)) == got.raw  # storable and passed through as JSON


def _code(value: bytes, framing: Framing = FRAMING) -> ErrorCode:
    got = decode_listing(b"L-1", value, framing=framing)
    assert isinstance(got, Failure), got
    return got.code


def test_bad_frames_have_their_codes() -> None:
    good = avro_body(event_dict())
    assert _code(orjson.dumps(event_dict())) is ErrorCode.NOT_FRAMED  # registry: every value is framed
    assert _code(b"\x00\x00\x07") is ErrorCode.TRUNCATED_FRAME
    assert _code(frame(7, good[:-3])) is ErrorCode.TRUNCATED_FRAME
    assert _code(frame(9, good)) is ErrorCode.UNKNOWN_SCHEMA_ID  # the registry said it has no such id
    assert _code(frame(10, good)) is ErrorCode.UNKNOWN_SCHEMA_ID  # never fetched: the edge fetches first
    assert _code(frame(7, good + b"\x02")) is ErrorCode.UNDECODABLE_BODY  # bytes left over
    assert _code(frame(7, b"\x02" + b"\xff" * 20)) is ErrorCode.UNDECODABLE_BODY
    assert _code(frame(8, b"{not json")) is ErrorCode.INVALID_JSON  # a framed JSON body is decoded as JSON is
    for schema in (WriterSchema.of(4, "PROTOBUF", "syntax = 'proto3';"), WriterSchema.of(4, None, "{\"type\": 1}"),
                   WriterSchema.of(4, "AVRO", "{}", references=True)):
        assert _code(frame(4, good), Framing("registry", {4: schema})) is ErrorCode.UNSUPPORTED_SCHEMA
    # under auto, a value that does not start with byte 0 is plain JSON, with the JSON codes
    assert _code(b"\x01\x00\x00\x00\x07", Framing("auto", FRAMING.schemas)) is ErrorCode.INVALID_JSON


def test_avro_listings_keep_the_container_and_depth_limits() -> None:
    schema = {"type": "record", "name": "L", "fields": [
        {"name": "schema_version", "type": "int"}, {"name": "event_id", "type": "string"},
        {"name": "event_type", "type": "string"}, {"name": "occurred_at", "type": "string"},
        {"name": "listing_id", "type": "string"}, {"name": "title", "type": "string"},
        {"name": "variants", "type": {"type": "array", "items": {"type": "map", "values": "string"}}},
        {"name": "tree", "type": ["null", {"type": "record", "name": "Node", "fields": [
            {"name": "child", "type": ["null", "Node"], "default": None}]}], "default": None}]}
    framing = Framing("registry", {5: WriterSchema.of(5, "AVRO", json.dumps(schema))})
    base = {k: event_dict()[k] for k in ("schema_version", "event_id", "event_type", "occurred_at", "listing_id",
                                          "title")}
    ok = decode_listing(b"L-1", frame(5, _write(schema, {**base, "variants": [{"a": "b"}] * 10})), framing=framing)
    assert isinstance(ok, Decoded)
    many = frame(5, _write(schema, {**base, "variants": [{"a": "b"}] * 2_500}))
    assert _code(many, framing) is ErrorCode.TOO_MANY_CONTAINERS
    node: dict[str, Any] = {"child": None}
    for _ in range(40):
        node = {"child": node}
    deep = frame(5, _write(schema, {**base, "variants": [], "tree": node}))
    assert _code(deep, framing) is ErrorCode.NESTED_TOO_DEEP


def test_framed_id() -> None:
    assert framed_id(frame(70_000, b"x")) == 70_000
    assert framed_id(b"{}") is None and framed_id(b"\x00\x01") is None and framed_id(None) is None


@pytest.mark.parametrize("fmt", ["json", "auto"])
def test_plain_json_is_unchanged(fmt: str) -> None:
    value = orjson.dumps(event_dict())
    plain = decode_listing(b"L-1", value)
    framed = decode_listing(b"L-1", value, framing=Framing(fmt, {}))  # type: ignore[arg-type]
    assert isinstance(plain, Decoded) and isinstance(framed, Decoded) and plain.raw == framed.raw
