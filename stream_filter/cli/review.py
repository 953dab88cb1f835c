"""`stream-filter review` and `explain`: the review loop and the lookup for people at a terminal.

Why in the CLI: a small team without a review tool of its own can work the queue with this alone.
`pending` is the review topic as a consumer builds it; `approve`/`reject` publish a ReviewVerdict
answering the listing's decision there; `explain` asks a worker's lookup page.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stream_filter.cli.render import clean, decision_lines, printable
from stream_filter.core.contracts.verdict import ReviewVerdict, Verdict
from stream_filter.settings import Settings


def _queue(settings: Settings) -> dict[str, dict[str, Any]]:
    from stream_filter.kafka.catalogue import read_catalogue

    catalogue = asyncio.run(read_catalogue(settings, kinds=("review",), keep=("review",)))
    return catalogue.records.get("review", {})


def cmd_pending(args: argparse.Namespace) -> int:
    queue = sorted(_queue(Settings()).values(), key=lambda r: r["decided_at"])
    for record in (clean(r) for r in queue[:args.show]):
        codes = ",".join(r["code"] for r in record["reasons"])
        print(f"{record['listing_id']}\t{record['decided_at']}\t{record['decision_id']}\t{codes}\t"
              f"{(record['listing'].get('title') or '')[:60]}")
    print(f"{len(queue)} listings in review", file=sys.stderr)
    return 0


def cmd_verdict(args: argparse.Namespace) -> int:
    from stream_filter.kafka.publish import publish

    try:
        expires = datetime.fromisoformat(args.expires) if args.expires else None
    except ValueError:
        expires = None
    if args.expires and (expires is None or expires.utcoffset() is None):
        print(f"--expires {printable(args.expires)}: give a time with its offset (e.g. 2027-05-29T00:00:00+07:00, "
              "or Z for UTC): a verdict's expiry is an instant", file=sys.stderr)
        return 2
    settings = Settings()
    decision = args.decision
    if decision is None:
        record = _queue(settings).get(args.listing_id)
        if record is None:
            print(f"{args.listing_id} is not in review (see `stream-filter review pending`)", file=sys.stderr)
            return 1
        decision = record["decision_id"]
    verdict = ReviewVerdict(
        verdict_id=str(uuid.uuid4()), listing_id=args.listing_id, decision_id=decision, verdict=Verdict(args.verdict),
        reviewer_id=args.reviewer or getpass.getuser(), reason_code=args.reason, note=args.note or "",
        reviewed_at=datetime.now(UTC), expires_at=expires)
    if args.key:  # signed for this deployment: workers with reviewer keys check it
        from stream_filter.core.verdict_auth import signed

        verdict = signed(verdict, settings.app_id, Path(args.key).read_bytes())
    from stream_filter.kafka.input_partitioner import input_partition

    # the partition the listing's events use (verdicts are co-partitioned), as the input's producers place it
    partition = asyncio.run(input_partition(settings, verdict.listing_id.encode()))
    asyncio.run(publish(settings, [(verdict.listing_id.encode(), verdict.model_dump_json().encode())],
                        settings.topic_review_verdicts, partition))
    print(f"verdict {verdict.verdict_id}: {verdict.verdict.value} {verdict.listing_id} (decision {decision})"
          f"{', signed by ' + verdict.reviewer_id if verdict.signature else ', unsigned'}", file=sys.stderr)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from stream_filter.cli.policy import write_key_pair

    folder = Path(args.dir)
    return write_key_pair(folder / f"{args.reviewer}.key", folder / f"{args.reviewer}.pem",
                          "the reviewer's: review approve|reject --key",
                          "add it to the workers' STREAM_FILTER_REVIEWER_KEYS directory; remove it to revoke")


def cmd_explain(args: argparse.Namespace) -> int:
    settings = Settings()
    url = f"{(args.url or settings.canonical_url()).rstrip('/')}/listings/{quote(args.listing_id, safe='')}"
    try:
        token = (Path(args.token_file).read_text(encoding="utf-8").strip() if args.token_file
                 else settings.api_token.get_secret_value() if settings.api_token else None)
    except OSError as exc:
        print(f"--token-file: {exc.strerror}: {printable(args.token_file)}", file=sys.stderr)
        return 2
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            print(f"{exc.code}: {error_text(exc.read(MAX_ANSWER_BYTES))}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, ValueError) as exc:  # no worker there, or an answer that is not JSON
        print(f"no answer from {url}: {printable(str(exc))}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0
    print(explanation(body))
    return 0


MAX_ANSWER_BYTES = 1_048_576


def error_text(raw: bytes) -> str:
    """An error answer's text: its JSON `error`, else the body's start (a proxy's HTML page), printable."""
    try:
        parsed = json.loads(raw)
        message = parsed.get("error", "") if isinstance(parsed, dict) else str(parsed)
    except ValueError:
        message = raw[:200].decode("utf-8", "replace")
    return printable(str(message))


def explanation(body: dict[str, Any]) -> str:
    """A lookup answer as a person reads it: where the listing is, why, under what, and before."""
    body = clean(body)
    lines = decision_lines(body["decision"])
    lines[0] = f"listing {body['listing_id']}: {lines[0]}"
    if (v := body.get("verdict")) is not None:
        lines.append(f"verdict: {v['verdict']} by {v['reviewer_id']} ({v['reason_code']}) at {v['reviewed_at']}"
                     f"{', expires ' + v['expires_at'] if v.get('expires_at') else ''}: {v['note']}")
    lines += ["before:"] + [f"  {p['decided_at']} {p['outcome']} {','.join(p['reason_codes'])} ({p['policy']}) "
                            f"{p['decision_id']}" for p in body["history"]]
    return "\n".join(lines)
