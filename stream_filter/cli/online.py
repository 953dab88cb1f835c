"""The online commands: the worker, publishing files and policies, creating topics, the demo.

Each builds its Settings at start (never at import), from `STREAM_FILTER_*` variables.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from stream_filter.cli.allocator import limit_arenas
from stream_filter.cli.collection import collect_young_less_often
from stream_filter.cli.offline import lines
from stream_filter.core.policy.book import PolicyBook
from stream_filter.settings import Settings


def _key_of(line: bytes) -> bytes | None:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return str(obj["listing_id"]).encode() if isinstance(obj, dict) and obj.get("listing_id") else None


def cmd_produce(args: argparse.Namespace) -> int:
    from stream_filter.kafka.publish import publish
    from stream_filter.kafka.topics import ensure_topics

    settings = Settings()
    records = [(_key_of(line), line) for line in lines(args.file)]
    asyncio.run(ensure_topics(settings))
    sent = asyncio.run(publish(settings, records, args.topic))
    print(f"published {sent} records to {args.topic or settings.topic_input}", file=sys.stderr)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from stream_filter.kafka.topics import ensure_topics

    created = asyncio.run(ensure_topics(Settings()))
    print("created: " + (", ".join(created) or "none (all exist)"), file=sys.stderr)
    return 0


def settle_heap(book: PolicyBook) -> None:
    """Load the classifiers' tables (a first decision), then move every object alive now out of the
    garbage collector's reach: the lexicon, gazetteer, policies and Faust's own objects live for the
    whole run, and full collections would otherwise walk them again and again (`collection.py`)."""
    import gc

    from stream_filter.core.route import route
    from stream_filter.dev.samples import example_lines

    line = example_lines(10)[0]
    route(_key_of(line), line, book)
    gc.collect()
    gc.freeze()
    collect_young_less_often()


def cmd_worker(args: argparse.Namespace) -> int:
    from stream_filter.core.classify.model import default_model, use_model
    from stream_filter.worker.app import Worker
    from stream_filter.worker.faust_options import event_loop
    from stream_filter.worker.preflight import PreflightError, output_frames, preflight
    from stream_filter.worker.shutdown import BoundedWorker

    settings = Settings()
    limit_arenas(settings.malloc_arenas)  # before any thread starts: Faust's consumer, RocksDB's
    if event_loop(settings) != settings.event_loop:
        print("TLS to the broker: the standard asyncio loop (uvloop's TLS close waits 30 s)", file=sys.stderr)
    elif settings.event_loop == "uvloop":
        import uvloop

        uvloop.install()  # before Faust creates its loop
    book = PolicyBook.load(settings.policy)  # a bad policy stops the worker here, before it consumes
    use_model(settings.cluster_model)
    try:
        default_model()  # a missing or unreadable model stops the worker here too
    except (OSError, ValueError) as exc:
        print(f"not starting: cluster model '{settings.cluster_model}': {exc}", file=sys.stderr)
        return 2
    from stream_filter.kafka.policy_feed import verify_key

    try:
        checked_key = verify_key(settings)  # a missing or wrong key stops the worker: never unchecked by accident
    except (OSError, ValueError) as exc:  # PolicyError is a ValueError
        print(f"not starting: STREAM_FILTER_POLICY_VERIFY_KEY '{settings.policy_verify_key}': {exc}", file=sys.stderr)
        return 2
    if checked_key is None:
        print("policy records are not checked: anyone who can write the policy topic changes what is enforced "
              "(set STREAM_FILTER_POLICY_VERIFY_KEY)", file=sys.stderr)
    try:
        checked = asyncio.run(preflight(settings))
        frames = asyncio.run(output_frames(settings))
    except PreflightError as exc:
        print(f"not starting: {exc}", file=sys.stderr)
        return 4
    if checked.max_output_bytes < settings.max_output_bytes:  # said here: Faust sets up logging only later
        print(f"records kept below {checked.max_output_bytes} bytes: an output topic's max.message.bytes",
              file=sys.stderr)
    settings = checked
    app = Worker(settings, book, output_frames=frames).app
    settle_heap(book)
    worker = BoundedWorker(app, loglevel=settings.log_level, quiet=True,
                           shutdown_timeout_s=settings.shutdown_timeout_s)
    worker.execute_from_commandline()  # returns only via SystemExit
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream_filter.dev.demo import main as demo_main

    return demo_main()


def cmd_catalogue(args: argparse.Namespace) -> int:
    """Build the catalogue from the output topics as a consumer would; with --expect, compare it with
    the file's offline decisions (exit 1 when a listing differs)."""
    from stream_filter.core.catalogue import expected_topics
    from stream_filter.kafka.catalogue import read_catalogue

    catalogue = asyncio.run(read_catalogue(Settings()))
    counts = catalogue.counts()
    on_several = sum(1 for kinds in catalogue.topics_of().values() if len(kinds) > 1)
    print(" ".join(f"{kind}={counts[kind]}" for kind in sorted(counts)) + f" on_several_topics={on_several} "
          f"duplicates_dropped={catalogue.duplicates}")
    if not args.expect:
        return 1 if on_several else 0
    differ = catalogue.differences(expected_topics(lines(args.expect), PolicyBook.load(args.policy), args.clock))
    print(f"listings that differ from the offline decisions of {args.expect}: {len(differ)}")
    for listing_id, (found, wanted) in sorted(differ.items())[: args.show]:
        print(f"  {listing_id}: on {sorted(found) or 'no topic'}, expected {wanted or 'no topic (deleted)'}")
    return 1 if differ else 0

