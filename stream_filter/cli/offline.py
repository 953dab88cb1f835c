"""The offline commands: decide, backtest and measure files; write schemas; validate policies.

They use the same pure core as the worker and need no broker, so `classify` on a file and the
worker on a topic give the same decisions.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from stream_filter.cli.collection import collect_young_less_often
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import load_policy


def lines(path: str) -> Iterator[bytes]:
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
    from stream_filter.core.lifecycle import advance
    from stream_filter.core.listing_state import ListingState
    from stream_filter.core.route import Output, route

    book = PolicyBook.load(args.policy)
    collect_young_less_often()
    out: IO[bytes] = open(args.output, "wb") if args.output else sys.stdout.buffer
    counts: Counter[str] = Counter()
    states: dict[str, ListingState] = {}
    try:
        for number, line in enumerate(lines(args.input), start=1):
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


def cmd_backtest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
    from rich.table import Table

    from stream_filter.core.backtest import report_csv, report_json, run_backtest
    from stream_filter.core.classify.classifier import load_classifier

    book = PolicyBook.load(args.policy)
    against = PolicyBook.load(args.against) if args.against else None
    classifier = load_classifier(args.model, Path(args.lexicon) if args.lexicon else None)
    other = None
    if args.against_model or args.against_lexicon:
        other = load_classifier(args.against_model or args.model,
                                Path(args.against_lexicon) if args.against_lexicon else None)
    size = Path(args.input).stat().st_size if args.input != "-" else None
    console = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("backtest", total=size)
        result = run_backtest(lines(args.input), book, against, args.clock,
                              progress=lambda n: bar.advance(task, n), classifier=classifier,
                              against_classifier=other)
    out = Console()
    names = [f"{args.policy} / {classifier.version}"]
    if result.against is not None:
        names.append(f"{args.against or args.policy} / {(other or classifier).version}")
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
    if result.against is not None:
        changes = Table(title=f"outcome changes ({names[0]} -> {names[1]})")
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


def cmd_policy(args: argparse.Namespace) -> int:
    policy = load_policy(args.file)
    until = policy.effective_until or "open-ended"
    print(f"ok: {policy.id} version {policy.version}, in force {policy.effective_from} to {until}; "
          f"{len(policy.blocked_clusters)} cluster rules, {len(policy.blocked_categories)} category rules, "
          f"price floor: {f'{policy.min_price.amount} {policy.min_price.currency}' if policy.min_price else 'none'}, "
          f"{len(policy.fx_rates)} FX rates, {len(policy.exemptions.hs_positive_list)} positive-list prefixes")
    return 0
