"""Microbenchmark of the pure classify step (origin + clusters), in microseconds per listing.

Run: `make bench-core` (or `python -m bench.core [CSV]`). Uses real listing titles (PRDECT-ID by
default) so caches and dictionary hits behave as on real traffic, and sweeps the lexicon size to
show that matching cost follows the text, not the number of terms. Prints figures; asserts nothing.
"""

from __future__ import annotations

import csv
import random
import string
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import orjson

from stream_filter.core.classify.classifier import default_classifier
from stream_filter.core.classify.clusters import classify_clusters
from stream_filter.core.classify.evaluation import row_to_event
from stream_filter.core.classify.lexicon import Lexicon, default_lexicon, parse_lexicon
from stream_filter.core.classify.model import Model, default_model
from stream_filter.core.classify.origin import classify_origin
from stream_filter.core.contracts.listing import ListingEvent

DEFAULT_CSV = Path(__file__).resolve().parents[1] / "tests" / "data" / "prdect-id" / "products.csv"
REPEAT = 15


def load_events(path: Path) -> list[ListingEvent]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        return [row_to_event(i, row) for i, row in enumerate(csv.DictReader(fh))]


def sized_lexicon(size: int, seed: int = 1) -> Lexicon:
    """The shipped terms cut or padded (with random pseudo-words) to `size` terms."""
    rng = random.Random(seed)
    base = default_lexicon()
    lines = [f"{term}\t{cluster}\t{w}" for term, ws in base.terms.items() for cluster, w in ws.items()
             if cluster in ("textile_fashion", "food_beverage")][:size]
    while len(lines) < size:
        words = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9)))
                         for _ in range(rng.randint(1, 3)))
        lines.append(f"{words}\tfood_beverage\t1.0")
    return parse_lexicon("\n".join(lines), "", "")


def per_listing_us(events: list[ListingEvent], fn: object) -> float:
    best = min(timeit.repeat(fn, number=1, repeat=REPEAT))  # type: ignore[arg-type]
    return best / len(events) * 1e6


def main(argv: list[str]) -> int:
    events = load_events(Path(argv[0]) if argv else DEFAULT_CSV)
    lex = default_lexicon()

    def classify_step(model: Model | None) -> None:
        for e in events:
            classify_origin(e)
            classify_clusters(e, lex, model)

    print(f"listings: {len(events)} (real titles), best of {REPEAT} runs")
    print(f"classify step (origin + clusters), shipped lexicon ({len(lex.terms)} terms): "
          f"{per_listing_us(events, lambda: classify_step(None)):.1f} us/listing; with the shipped model: "
          f"{per_listing_us(events, lambda: classify_step(default_model())):.1f} us/listing")
    reading = default_classifier()  # what a decision calls (route.decide): the configured model
    print(f"  as a decision reads it (Classifier.read, {reading.version}): "
          f"{per_listing_us(events, lambda: [reading.read(e) for e in events]):.1f} us/listing")
    print(f"  origin only: {per_listing_us(events, lambda: [classify_origin(e) for e in events]):.1f} us/listing")
    sizes = {}
    for size in (100, 2000):
        small = sized_lexicon(size)
        sizes[size] = per_listing_us(events, lambda small=small: [classify_clusters(e, small, None) for e in events])
        print(f"  clusters, {size:>5}-term lexicon: {sizes[size]:.1f} us/listing")
    print(f"  growth 100 -> 2000 terms: {sizes[2000] / sizes[100]:.2f}x")
    containers_bomb()
    framed_decode()
    offline_classify(OFFLINE_LISTINGS)
    return 0


def containers_bomb() -> None:
    """A listing within every size limit that is a megabyte of empty JSON containers (an extra field):
    the time `route()` takes to dead-letter it."""
    from stream_filter.core.policy.book import PolicyBook
    from stream_filter.core.route import route

    body = orjson.dumps({"schema_version": 1, "event_id": "e", "event_type": "listing.created",
                         "occurred_at": "2026-12-01T00:00:00Z", "listing_id": "L-1", "title": "Kaos"})
    bomb = body[:-1] + b',"extra":[' + b",".join([b"[]", b"{}"] * 170_000) + b"]}"
    book = PolicyBook.load("default")
    best = min(timeit.repeat(lambda: route(b"L-1", bomb, book), number=1, repeat=REPEAT))
    code = route(b"L-1", bomb, book).error
    print(f"  a {len(bomb) / 1e6:.2f} MB listing of empty containers: {best * 1000:.1f} ms to route "
          f"({code.code.value if code else 'decided'})")


def framed_decode(n: int = 5_000) -> None:
    """Decode (to a validated ListingEvent) of the throughput run's 1.2 KB listings: plain JSON, and
    the same listings as a schema-registry producer frames them (Avro under the published schema,
    JSON Schema), the writer schemas already fetched."""
    from bench.run import payloads
    from stream_filter.core.contracts.dead_letter import Failure
    from stream_filter.core.decode import decode_listing
    from stream_filter.core.framing import Framing, WriterSchema
    from stream_filter.dev.framed import avro_body, frame, listing_schema

    plain = [(key, value) for key, value in payloads(n, 5, "framed")
             if not isinstance(decode_listing(key, value), Failure)]  # the valid ones: the others stop early
    schema = listing_schema()
    avsc = (Path(__file__).resolve().parents[1] / "schemas" / "listing-event.v1.avsc").read_text(encoding="utf-8")
    framing = Framing("registry", {1: WriterSchema.of(1, "AVRO", avsc), 2: WriterSchema.of(2, "JSON", "{}")})
    avro = [(key, frame(1, avro_body(orjson.loads(value), schema))) for key, value in plain]
    json_framed = [(key, frame(2, value)) for key, value in plain]

    def run(records: list[tuple[bytes, bytes]], framing: Framing | None) -> float:
        def once() -> None:
            for key, value in records:
                decode_listing(key, value, framing=framing) if framing else decode_listing(key, value)
        return min(timeit.repeat(once, number=1, repeat=REPEAT)) / len(records) * 1e6

    base, fast, framed_json = run(plain, None), run(avro, framing), run(json_framed, framing)
    size = {"plain": sum(len(v) for _, v in plain) // len(plain), "avro": sum(len(v) for _, v in avro) // len(avro)}
    print(f"decode of {len(plain):,} valid bench listings: plain JSON {base:.1f} us ({size['plain']} B); "
          f"framed Avro {fast:.1f} us ({size['avro']} B, {fast / base:.2f}x); "
          f"framed JSON {framed_json:.1f} us ({framed_json / base:.2f}x)")


OFFLINE_LISTINGS = 100_000


def offline_classify(n: int) -> None:
    """`stream-filter classify` of n benchmark listings (the throughput run's 1.2 KB events), the
    command as a user runs it (start-up included), against orjson parsing and writing the same lines:
    the floor any Python decision on these bytes pays."""
    from bench.run import payloads

    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "listings.jsonl", Path(tmp) / "decisions.jsonl"
        data = [value for _, value in payloads(n, 5, "offline")]
        source.write_bytes(b"\n".join(data) + b"\n")
        started = time.perf_counter()
        with out.open("wb") as fh:
            for line in source.read_bytes().splitlines():
                try:
                    fh.write(orjson.dumps(orjson.loads(line)) + b"\n")
                except orjson.JSONDecodeError:
                    fh.write(line + b"\n")
        floor = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stream_filter", "classify", str(source), "-o", str(out)],
                       check=True, capture_output=True)
        command = time.perf_counter() - started
    print(f"offline classify of {n:,} listings: {command:.1f} s ({command / n * 1e6:.0f} us/listing); "
          f"orjson parse + write of the same lines: {floor:.2f} s ({floor / n * 1e6:.1f} us/listing); "
          f"ratio {command / floor:.1f}x")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
