"""Dead-letter codes: the stable reasons an input record ends on the dead-letter topic.

Why a contract of its own: consumers of `listings.dead-letter` (ops, the ingest team) key alerts
and fixes on these codes; decoding, deciding and delivering all produce them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    NULL_VALUE = "NULL_VALUE"
    OVERSIZED_VALUE = "OVERSIZED_VALUE"
    INVALID_UTF8 = "INVALID_UTF8"
    INVALID_JSON = "INVALID_JSON"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    NESTED_TOO_DEEP = "NESTED_TOO_DEEP"
    TOO_MANY_CONTAINERS = "TOO_MANY_CONTAINERS"  # more JSON objects and arrays than a listing holds (decode.py)
    UNSUPPORTED_SCHEMA_VERSION = "UNSUPPORTED_SCHEMA_VERSION"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    TITLE_TOO_LONG = "TITLE_TOO_LONG"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"  # another text field past its limit
    TOO_MANY_ITEMS = "TOO_MANY_ITEMS"  # a list (category_path) past its limit
    IMPOSSIBLE_VALUE = "IMPOSSIBLE_VALUE"
    MISSING_KEY = "MISSING_KEY"
    KEY_MISMATCH = "KEY_MISMATCH"
    EVENT_TOO_OLD = "EVENT_TOO_OLD"
    DUPLICATE_EVENT = "DUPLICATE_EVENT"
    OUTPUT_TOO_LARGE = "OUTPUT_TOO_LARGE"
    PROCESSING_ERROR = "PROCESSING_ERROR"
    STALE_VERDICT = "STALE_VERDICT"  # answers a decision that is not the listing's latest (or no active listing)
    VERDICT_NOT_FOR_REVIEW = "VERDICT_NOT_FOR_REVIEW"  # answers a decision that neither review nor a verdict made
    EXPIRED_VERDICT = "EXPIRED_VERDICT"  # its expiry had passed when it arrived
    UNSIGNED_VERDICT = "UNSIGNED_VERDICT"  # no signature, and the worker checks verdicts (reviewer keys set)
    UNKNOWN_REVIEWER = "UNKNOWN_REVIEWER"  # signed by a reviewer with no key listed (never listed, or revoked)
    BAD_VERDICT_SIGNATURE = "BAD_VERDICT_SIGNATURE"  # the signature is not the reviewer's over this verdict here
    REPLAYED_VERDICT = "REPLAYED_VERDICT"  # a verdict already applied, published again
    # schema-registry input (core/framing.py)
    NOT_FRAMED = "NOT_FRAMED"  # STREAM_FILTER_INPUT_FORMAT=registry and the value does not start with byte 0
    TRUNCATED_FRAME = "TRUNCATED_FRAME"  # shorter than the 5-byte frame, or the Avro body ends early
    UNKNOWN_SCHEMA_ID = "UNKNOWN_SCHEMA_ID"  # the registry answers and has no schema of that id (asked twice)
    UNSUPPORTED_SCHEMA = "UNSUPPORTED_SCHEMA"  # Protobuf, references, or a schema that does not parse
    UNDECODABLE_BODY = "UNDECODABLE_BODY"  # the body does not follow its writer schema


@dataclass(frozen=True)
class Failure:
    """Why an input record goes to the dead-letter topic: at decode, at decision or at delivery."""

    code: ErrorCode
    message: str
