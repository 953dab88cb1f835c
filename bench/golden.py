"""The golden decisions: what `route()` writes for the examples and the benchmark pool at a fixed
clock, every output record's topic, key, headers and value, byte for byte.

Why: the hot-path work (decode, decision record, policies) must not change a single byte a consumer
reads. The file was written before that work began (`python -m bench.golden`), and
tests/unit/core/test_golden.py decides the same inputs again and compares.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.run import payloads
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Routed, route

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden" / "decisions.jsonl"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POOL = 2_000  # benchmark listings (bench/run.py's payloads, 1% malformed)


def inputs() -> Iterator[tuple[bytes | None, bytes]]:
    """The examples (keyless, as files are) and the benchmark pool (keyed)."""
    for line in (ROOT / "examples" / "listings.jsonl").read_bytes().splitlines():
        yield None, line
    yield from payloads(POOL, 5, "golden")


def line_of(routed: Routed) -> bytes:
    """One output record as a line: its topic, key and headers, and its value's length and sha256 (the
    values hold the listings: kept whole, the file would be 10 MB)."""
    value = routed.value or b""
    return orjson.dumps({"output": routed.output.value, "key": (routed.key or b"").decode("utf-8", "replace"),
                         "headers": [[k, v.decode("utf-8", "replace")] for k, v in routed.headers],
                         "value_bytes": len(value), "value_sha256": hashlib.sha256(value).hexdigest()}) + b"\n"


def render() -> bytes:
    book = PolicyBook.load("default")
    return b"".join(line_of(decided) for decided in decisions(book))


def decisions(book: PolicyBook) -> Iterator[Routed]:
    for key, value in inputs():
        yield route(key, value, book, require_key=key is not None, now=NOW, clock="event")


def main() -> int:
    GOLDEN.write_bytes(render())
    print(f"wrote {GOLDEN.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
