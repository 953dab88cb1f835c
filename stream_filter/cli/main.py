"""`stream-filter`: the worker, offline classification, publishing, evaluation and schemas.

Every command builds its Settings and policy at start (never at import) and uses the same pure
core as the worker, so `classify` on a file and the worker on a topic give the same decisions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import PolicyError, load_policy
from stream_filter.settings import Settings


def _lines(path: str) -> Iterator[bytes]:
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        for line in stream:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def cmd_classify(args: argparse.Namespace) -> int:
    """Decide a file of events as the worker would, listing state included (updates that move a
    listing and deletes also print the removal record for the listing's previous outcome)."""
    from stream_filter.core.lifecycle import ListingState, advance
    from stream_filter.core.route import Output, route

    book = PolicyBook.load(args.policy)
    out: IO[bytes] = open(args.output, "wb") if args.output else sys.stdout.buffer
    counts: Counter[str] = Counter()
    states: dict[str, ListingState] = {}
    try:
        for number, line in enumerate(_lines(args.input), start=1):
            routed = route(None, line, book, require_key=False, clock=args.clock)
            counts[routed.output.value] += 1
            if routed.output is Output.DEAD_LETTER and routed.error is not None:
                body = {"dead_letter": {"line": number, "error_code": routed.error.code.value,
                                        "error_message": routed.error.message,
                                        "raw": line.decode("utf-8", errors="replace")}}
                out.write(orjson.dumps(body) + b"\n")
                continue
            listing_id = routed.decision.listing_id if routed.decision else ""
            step = advance(routed, states.get(listing_id), 0)
            if step.state is not None:
                states[listing_id] = step.state
            elif step.remove:
                states.pop(listing_id, None)
            for record in step.records:
                out.write((record.value or b"") + b"\n")
    finally:
        if args.output:
            out.close()
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), file=sys.stderr)
    return 0


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
    records = [(_key_of(line), line) for line in _lines(args.file)]
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
    whole run, and full collections would otherwise walk them again and again."""
    import gc

    from stream_filter.core.route import route
    from stream_filter.dev.samples import example_lines

    line = example_lines(10)[0]
    route(orjson.loads(line)["listing_id"].encode(), line, book)
    gc.collect()
    gc.freeze()


def cmd_worker(args: argparse.Namespace) -> int:
    import faust

    from stream_filter.kafka.topics import ensure_topics
    from stream_filter.worker.app import Worker

    settings = Settings()
    if settings.event_loop == "uvloop":
        import uvloop

        uvloop.install()  # before Faust creates its loop
    book = PolicyBook.load(settings.policy)  # a bad policy stops the worker here, before it consumes
    asyncio.run(ensure_topics(settings))
    app = Worker(settings, book).app
    settle_heap(book)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()  # returns only via SystemExit
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
    from rich.table import Table

    from stream_filter.core.backtest import report_csv, report_json, run_backtest

    book = PolicyBook.load(args.policy)
    against = PolicyBook.load(args.against) if args.against else None
    size = Path(args.input).stat().st_size if args.input != "-" else None
    console = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("backtest", total=size)
        result = run_backtest(_lines(args.input), book, against, args.clock,
                              progress=lambda n: bar.advance(task, n))
    out = Console()
    names = [args.policy] + ([args.against] if against else [])
    summaries = [result.summary] + ([result.against] if result.against else [])
    for title, attr in (("outcome", "outcomes"), ("reason", "reasons"), ("cluster", "clusters"),
                        ("origin", "origins"), ("dead-letter code", "dead_letters")):
        table = Table(title=f"by {title}")
        table.add_column(title)
        for name in names:
            table.add_column(name, justify="right")
        keys = sorted({k for s in summaries for k in getattr(s, attr)})
        for key in keys:
            table.add_row(key, *[str(getattr(s, attr)[key]) for s in summaries])
        out.print(table)
    if against is not None:
        changes = Table(title=f"outcome changes ({args.policy} -> {args.against})")
        changes.add_column("change")
        changes.add_column("listings", justify="right")
        for change, count in sorted(result.change_counts().items()):
            changes.add_row(change, str(count))
        out.print(changes)
        for c in result.changes[: args.show]:
            out.print(f"  line {c.line} {c.listing_id}: {c.before} [{c.reasons_before}] "
                      f"-> {c.after} [{c.reasons_after}]")
        if len(result.changes) > args.show:
            out.print(f"  ... {len(result.changes) - args.show} more (use --report)")
    if args.report:
        path = Path(args.report)
        path.write_bytes(report_json(result)) if path.suffix == ".json" else path.write_text(report_csv(result))
        console.print(f"report written to {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream_filter.dev.demo import main as demo_main

    return demo_main()


def cmd_eval(args: argparse.Namespace) -> int:
    from stream_filter.core.classify.evaluation import measure, report

    print(report(measure(Path(args.csv)), args.errors))
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from stream_filter.core.contracts.schemas import render, write

    directory = Path(args.dir)
    if args.check:
        stale = [n for n, text in render().items()
                 if not (directory / n).exists() or (directory / n).read_text(encoding="utf-8") != text]
        print("schemas up to date" if not stale else f"stale: {', '.join(stale)}", file=sys.stderr)
        return 1 if stale else 0
    for path in write(directory):
        print(path)
    return 0


def cmd_policy_publish(args: argparse.Namespace) -> int:
    from stream_filter.core.policy.files import read_policy_text
    from stream_filter.kafka.policy_feed import Mode, publish_policy

    settings = Settings()
    text = "" if args.clear else read_policy_text(args.file)
    mode: Mode = "shadow" if args.shadow or args.clear else "live"
    asyncio.run(publish_policy(settings, mode, text))
    print(f"published {'an empty shadow (cleared)' if args.clear else args.file} as {mode} to "
          f"{settings.topic_policy}", file=sys.stderr)
    return 0


def cmd_policy_promote(args: argparse.Namespace) -> int:
    """Make the current shadow policy live, then clear the shadow."""
    from stream_filter.kafka.policy_feed import PolicyMessage, publish_policy, read_latest

    settings = Settings()
    latest = asyncio.run(read_latest(settings))
    shadow: PolicyMessage | None = latest.get("shadow")
    if shadow is None or not shadow.policy.strip():
        print("no shadow policy to promote", file=sys.stderr)
        return 1
    asyncio.run(publish_policy(settings, "live", shadow.policy))
    asyncio.run(publish_policy(settings, "shadow", ""))
    print("shadow policy promoted to live; shadow cleared", file=sys.stderr)
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    policy = load_policy(args.file)
    until = policy.effective_until or "open-ended"
    print(f"ok: {policy.id} version {policy.version}, in force {policy.effective_from} to {until}; "
          f"{len(policy.blocked_clusters)} cluster rules, {len(policy.blocked_categories)} category rules, "
          f"price floor: {f'{policy.min_price.amount} {policy.min_price.currency}' if policy.min_price else 'none'}, "
          f"{len(policy.fx_rates)} FX rates, {len(policy.exemptions.hs_positive_list)} positive-list prefixes")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stream-filter", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run the Faust worker (settings from STREAM_FILTER_* env)").set_defaults(
        func=cmd_worker)
    c = sub.add_parser("classify", help="decide a JSONL file of ListingEvents offline")
    c.add_argument("input", help="JSONL file, or - for stdin")
    c.add_argument("-o", "--output", help="write DecisionRecords here (default stdout)")
    c.add_argument("--policy", default="default", help="policy packs and/or YAML files, comma-separated")
    c.add_argument("--clock", choices=["event", "processing"], default="event",
                   help="policy in force at the event's occurred_at (default) or now")
    c.set_defaults(func=cmd_classify)
    b = sub.add_parser("backtest", help="summarise a policy's decisions on a file, or compare two policies")
    b.add_argument("input", help="JSONL file of ListingEvents, or - for stdin")
    b.add_argument("--policy", required=True, help="policy packs and/or files (A)")
    b.add_argument("--against", help="policy packs and/or files to compare with (B)")
    b.add_argument("--clock", choices=["event", "processing"], default="event")
    b.add_argument("--report", help="write a report: .json (summary and changes) or .csv (changes)")
    b.add_argument("--show", type=int, default=20, help="print up to N changed listings")
    b.set_defaults(func=cmd_backtest)
    pr = sub.add_parser("produce", help="publish a JSONL file to the input topic")
    pr.add_argument("file")
    pr.add_argument("--topic", help="override the input topic")
    pr.set_defaults(func=cmd_produce)
    sub.add_parser("demo", help="make run: local broker, worker, sample data, live counts").set_defaults(
        func=cmd_demo)
    sub.add_parser("topics", help="create missing input and output topics").set_defaults(func=cmd_topics)
    e = sub.add_parser("eval", help="measure the classifiers on a labelled CSV (PRDECT-ID columns)")
    e.add_argument("csv", nargs="?", default="../shared/data/prdect-id/products.csv")
    e.add_argument("--errors", type=int, default=0, help="show up to N misclassified rows per cluster")
    e.set_defaults(func=cmd_eval)
    s = sub.add_parser("schemas", help="write (or --check) the JSON Schemas in schemas/")
    s.add_argument("--dir", default="schemas")
    s.add_argument("--check", action="store_true")
    s.set_defaults(func=cmd_schemas)
    pol = sub.add_parser("policy", help="policy tools")
    pol_sub = pol.add_subparsers(dest="policy_command", required=True)
    v = pol_sub.add_parser("validate", help="validate a policy file or pack")
    v.add_argument("file")
    v.set_defaults(func=cmd_policy)
    pub = pol_sub.add_parser("publish", help="validate and publish a policy to the policy topic (live or --shadow)")
    pub.add_argument("file", nargs="?", default="", help="policy pack name or YAML file")
    pub.add_argument("--shadow", action="store_true", help="evaluate beside the live policy; do not enforce")
    pub.add_argument("--clear", action="store_true", help="publish an empty shadow (stop shadow evaluation)")
    pub.set_defaults(func=cmd_policy_publish)
    pol_sub.add_parser("promote", help="make the shadow policy live").set_defaults(func=cmd_policy_promote)
    return p


def main(argv: list[str] | None = None) -> int:
    from aiokafka.errors import KafkaError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PolicyError as exc:
        print(f"policy error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:  # unreachable broker, wrong credentials, TLS failure: one clear line, no traceback
        print(f"kafka error: {exc} (check the bootstrap servers, security protocol and credentials)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
