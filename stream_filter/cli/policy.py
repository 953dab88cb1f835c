"""`stream-filter policy ...`: validate, keygen and sign (offline); publish, retire and promote (the
policy topic), each checked against what the topic holds before anything is written.

A refused change exits 2 with the reason; nothing is published.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import today
from stream_filter.core.policy.files import PolicyError, policy_from_text, read_policy_text
from stream_filter.core.policy.history import Refused, version_key
from stream_filter.core.policy.signing import keygen, sign
from stream_filter.core.policy.topic import SHADOW_KEY, Mode, PolicyTopic
from stream_filter.settings import Settings

PRIVATE, PUBLIC = "policy-signing.key", "policy-signing.pub"


def cmd_keygen(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE, folder / PUBLIC
    if private_path.exists() or public_path.exists():
        print(f"refused: {private_path} or {public_path} exists already", file=sys.stderr)
        return 2
    private, public = keygen()
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(private)
    public_path.write_bytes(public)
    print(f"wrote {private_path} (keep it with whoever publishes policies) and {public_path} "
          "(STREAM_FILTER_POLICY_VERIFY_KEY on every worker)", file=sys.stderr)
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    """The signature of a policy file's text, for `publish --signature` (signing apart from publishing)."""
    print(sign(read_policy_text(args.file), Path(args.key).read_bytes()))
    return 0


def _signature(args: argparse.Namespace, text: str) -> str | None:
    if getattr(args, "signature", None):
        return Path(args.signature).read_text().strip()
    return sign(text, Path(args.key).read_bytes()) if args.key else None


def _topic(settings: Settings) -> PolicyTopic:
    """The topic as the workers see it (with the verify key they use, if set: forged records do not count)."""
    from stream_filter.kafka.policy_feed import read_topic, verify_key

    return asyncio.run(read_topic(settings, verify_key(settings)))


def _publish(settings: Settings, records: list[tuple[str, Mode, str, str | None]]) -> None:
    from stream_filter.kafka.policy_feed import publish_records, record

    asyncio.run(publish_records(settings, [record(key, mode, text, sig) for key, mode, text, sig in records]))


def _preview(settings: Settings, before: PolicyBook | None, after: PolicyBook, listings: str | None,
             show: int) -> None:
    """The impact on the active listings (the workers' states), and on a file of listings if given."""
    from stream_filter.core.impact import preview
    from stream_filter.kafka.held_states import read_held_states

    impact = preview(asyncio.run(read_held_states(settings)), after, datetime.now(UTC), examples=show)
    print(f"impact on the listings the workers hold ({settings.topic_state()}):")
    print("\n".join(impact.lines()))
    if listings:
        from stream_filter.cli.offline import lines
        from stream_filter.core.backtest import run_backtest

        result = run_backtest(lines(listings), after, before)
        print(f"impact on {listings} (decided under the live book, then under the new one):")
        for change, n in result.change_counts().most_common():
            print(f"  {change}: {n}")


def cmd_publish(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.clear or args.shadow:
        text = "" if args.clear else read_policy_text(args.file)
        if text:
            policy_from_text(text, args.file)  # as workers read it: includes of shipped packs only
        _publish(settings, [(SHADOW_KEY, "shadow", text, _signature(args, text))])
        print(f"published {'an empty shadow (cleared)' if args.clear else args.file} as shadow to "
              f"{settings.topic_policy}", file=sys.stderr)
        return 0
    text = read_policy_text(args.file)
    policy = policy_from_text(text, args.file)
    topic = _topic(settings)
    before = topic.history.book()
    candidate = topic.copy()
    key = version_key(policy)
    try:
        added = candidate.history.add(key, policy, today())
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    if not added:
        print(f"{policy.id}@{policy.version} (digest {policy.digest}) is published already", file=sys.stderr)
        return 0
    book = candidate.history.book()
    assert book is not None
    if args.dry_run or args.listings:
        _preview(settings, before, book, args.listings, args.show)
        if args.dry_run:
            print("dry run: nothing published", file=sys.stderr)
            return 0
    _publish(settings, [(key, "live", text, _signature(args, text))])
    print(f"published {policy.id}@{policy.version} (digest {policy.digest}, in force from {policy.effective_from}) "
          f"to {settings.topic_policy}", file=sys.stderr)
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    settings = Settings()
    topic = _topic(settings)
    keys = topic.history.find(args.ref)
    if not keys:
        print(f"refused: {args.ref} is not on {settings.topic_policy}", file=sys.stderr)
        return 2
    candidate = topic.copy()
    try:
        for key in keys:
            candidate.history.retire(key, today())
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    _publish(settings, [(key, "retire", key, _signature(args, key)) for key in keys])
    print(f"retired {args.ref}", file=sys.stderr)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Make the current shadow policy a live version, then clear the shadow."""
    settings = Settings()
    topic = _topic(settings)
    if not topic.shadow_text.strip():
        print("no shadow policy to promote", file=sys.stderr)
        return 1
    policy = policy_from_text(topic.shadow_text, "shadow policy")
    key = version_key(policy)
    try:
        topic.copy().history.add(key, policy, today())
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    _publish(settings, [(key, "live", topic.shadow_text, _signature(args, topic.shadow_text)),
                        (SHADOW_KEY, "shadow", "", _signature(args, ""))])
    print("shadow policy promoted to live; shadow cleared", file=sys.stderr)
    return 0


__all__ = ["PolicyError", "cmd_keygen", "cmd_promote", "cmd_publish", "cmd_retire", "cmd_sign"]
