"""`stream-filter policy ...`: validate, keygen and sign (offline); publish, retire and promote (the
policy topic). Each change is first taken by a copy of the topic as the workers hold it, with the
code they run (`PolicyTopic.take`): what the CLI publishes, the workers take. A refused change exits
2 with the reason; nothing is published.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import PolicyError, inlined_policy_text, policy_from_text
from stream_filter.core.policy.history import live_book, version_key
from stream_filter.core.policy.signing import keygen
from stream_filter.core.policy.topic import SHADOW_KEY, Mode, PolicyMessage, PolicyTopic, retire_key
from stream_filter.settings import Settings

PRIVATE, PUBLIC = "policy-signing.key", "policy-signing.pub"
Record = tuple[str, PolicyMessage]


def cmd_keygen(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    return write_key_pair(folder / PRIVATE, folder / PUBLIC, "keep it with whoever publishes policies",
                          "STREAM_FILTER_POLICY_VERIFY_KEY on every worker")


def write_key_pair(private_path: Path, public_path: Path, private_use: str, public_use: str) -> int:
    """A new Ed25519 key pair in two files, the private one readable by its owner only; never over an
    existing file (a key in use would be lost). Exit code 0, or 2 when refused."""
    private_path.parent.mkdir(parents=True, exist_ok=True)
    if private_path.exists() or public_path.exists():
        print(f"refused: {private_path} or {public_path} exists already", file=sys.stderr)
        return 2
    private, public = keygen()
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(private)
    public_path.write_bytes(public)
    print(f"wrote {private_path} ({private_use}) and {public_path} ({public_use})", file=sys.stderr)
    return 0


def _record(key: str, mode: Mode, text: str, args: argparse.Namespace) -> Record:
    from stream_filter.kafka.policy_feed import record

    return record(key, mode, text, Path(args.key).read_bytes() if args.key else None, Settings())


def _live_record(args: argparse.Namespace) -> Record:
    text = inlined_policy_text(args.file)
    return _record(version_key(policy_from_text(text, args.file)), "live", text, args)


def cmd_sign(args: argparse.Namespace) -> int:
    """A signed record of a policy file, published later with `publish --signed FILE` (signing apart
    from publishing: the private key need not be where the broker is)."""
    key, message = _live_record(args)
    Path(args.output).write_text(f'{{"key": "{key}", "message": {message.model_dump_json()}}}\n')
    print(f"wrote {args.output}: {key}, published at {message.published_at.isoformat()} when published",
          file=sys.stderr)
    return 0


def _signed(path: str) -> Record:
    import orjson

    raw = orjson.loads(Path(path).read_bytes())
    return str(raw["key"]), PolicyMessage.model_validate(raw["message"])


def _topic(settings: Settings) -> PolicyTopic:
    """The topic as the workers hold it (their verify key included); what they ignored, said."""
    from stream_filter.kafka.policy_feed import read_topic

    ignored: list[str] = []
    topic = asyncio.run(read_topic(settings, ignored.append))
    for why in ignored:
        print(f"note: the workers ignore a record on the topic: {why}", file=sys.stderr)
    return topic


def _check(settings: Settings, topic: PolicyTopic, records: list[Record]) -> PolicyTopic | None:
    """The topic after `records`, taken as a worker takes them; None (and why, printed) if refused."""
    if settings.policy_verify_key and any(message.signature is None for _, message in records):
        print("refused: the workers verify signatures (STREAM_FILTER_POLICY_VERIFY_KEY): sign with --key or "
              "publish a record made by `policy sign`", file=sys.stderr)
        return None
    after = topic.copy()
    for key, message in records:
        try:
            after.take(key.encode(), message.model_dump_json().encode())
        except PolicyError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return None
    return after


def _publish(settings: Settings, records: list[Record], done: str) -> int:
    from stream_filter.kafka.policy_feed import publish_records

    asyncio.run(publish_records(settings, records))
    print(done, file=sys.stderr)
    return 0


def _preview(settings: Settings, before: PolicyBook, after: PolicyBook, args: argparse.Namespace) -> None:
    """The impact on the active listings (the workers' states), and on a file of listings if given."""
    from stream_filter.core.impact import preview
    from stream_filter.kafka.held_states import read_held_states

    impact = preview(asyncio.run(read_held_states(settings)), after, datetime.now(UTC), examples=args.show)
    print(f"impact on the listings the workers hold ({settings.topic_state()}):")
    print("\n".join(impact.lines()))
    if args.listings:
        from stream_filter.cli.offline import lines
        from stream_filter.core.backtest import run_backtest

        result = run_backtest(lines(args.listings), before, after)  # changes read: live -> new
        print(f"impact on {args.listings} (each listing under the live book, then under the new one):")
        for change, n in result.change_counts().most_common():
            print(f"  {change}: {n}")


def _already(key: str) -> int:
    print(f"{key} is published already: nothing to do", file=sys.stderr)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.clear or args.shadow:
        text = "" if args.clear else inlined_policy_text(args.file)
        records = [_record(SHADOW_KEY, "shadow", text, args)]
    else:
        records = [_signed(args.signed) if args.signed else _live_record(args)]
    key, message = records[0]
    live = message.mode == "live"
    topic = _topic(settings)
    held = topic.history.versions
    if live and key in held:  # checked first: taking the same record again would be refused as a replay
        return _already(key)
    after = _check(settings, topic, records)
    if after is None:
        return 2
    if live and after.history.versions == held:  # the same version under the key from before histories
        return _already(key)
    configured = PolicyBook.load(settings.policy)
    before = live_book(topic.history, configured)
    book = live_book(after.history, configured) if after.history.versions else None
    if live and book is not None and (args.dry_run or args.listings):
        _preview(settings, before, book, args)
        if args.dry_run:
            print("dry run: nothing published", file=sys.stderr)
            return 0
    return _publish(settings, records, f"published {key} ({message.mode}) to {settings.topic_policy}")


def cmd_retire(args: argparse.Namespace) -> int:
    settings = Settings()
    topic = _topic(settings)
    keys = topic.history.find(args.ref)
    if not keys:
        print(f"refused: {args.ref} is not on {settings.topic_policy}", file=sys.stderr)
        return 2
    records = [_record(retire_key(key), "retire", key, args) for key in keys]
    if _check(settings, topic, records) is None:
        return 2
    return _publish(settings, records, f"retired {args.ref}")


def cmd_resign(args: argparse.Namespace) -> int:
    """Every live version the topic holds, and its shadow, published again signed in the second
    format (deployment and topic in the signature): what the workers of this release take."""
    from stream_filter.kafka.policy_feed import read_topic

    settings = Settings()
    ignored: list[str] = []
    held = asyncio.run(read_topic(settings, ignored.append, first_format=True))
    for why in ignored:
        print(f"note: not taken even in the first format: {why}", file=sys.stderr)
    texts = held.texts
    records = [_record(key, "live", texts[key], args) for key in held.history.versions if key in texts]
    if held.shadow_text.strip():
        records.append(_record(SHADOW_KEY, "shadow", held.shadow_text, args))
    if not records:
        print("nothing to sign again: the topic holds no version", file=sys.stderr)
        return 0
    if _check(settings, _topic_for_resign(settings), records) is None:
        return 2
    return _publish(settings, records, f"{len(records)} records published again, signed for {settings.app_id} "
                    f"on {settings.topic_policy}")


def _topic_for_resign(settings: Settings) -> PolicyTopic:
    """The topic as this release's workers take it: records in the first format refused (skipped)."""
    from stream_filter.kafka.policy_feed import read_topic

    return asyncio.run(read_topic(settings, lambda _: None))


def cmd_promote(args: argparse.Namespace) -> int:
    """Make the current shadow policy a live version, then clear the shadow."""
    settings = Settings()
    topic = _topic(settings)
    if not topic.shadow_text.strip():
        print("no shadow policy to promote", file=sys.stderr)
        return 1
    key = version_key(policy_from_text(topic.shadow_text, "shadow policy"))
    records = [_record(key, "live", topic.shadow_text, args), _record(SHADOW_KEY, "shadow", "", args)]
    if _check(settings, topic, records) is None:
        return 2
    return _publish(settings, records, "shadow policy promoted to live; shadow cleared")
