"""What the policy topic says, record by record: the live history and the shadow policy.

Records (`PolicyMessage`, JSON): a live version on its own key (`history.version_key`), the shadow
on key `shadow` (an empty text clears it), and the retirement of a version on a key of its own
(`retire_key`: compaction never drops a retirement for a later record on the version's key; records
before this kept it on the version's key and are still read). Every check uses the record's own
publication day, so a worker that follows the topic and one that reads it from the start after a
restart decide alike.

Replays: records are taken in order of publication time (`take_all` sorts what it reads, so a
compacted topic reads as it was published), a record older than the newest taken is refused, one
more than `MAX_AHEAD` in the future is refused (it would block every later record on its key), and a
retired version never returns. With a verify key, every record must carry an Ed25519 signature over
`signed_bytes`: the deployment, the topic, the key, the mode, the publication time and the text, so
a record signed for staging is not valid in production. Records signed in the first format (no
deployment or topic) are refused with a message naming `stream-filter policy resign`, which reads
them (`first_format`) and publishes the topic's versions again, signed in the second.
Pure: the follower and the CLI feed it the records they read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, ValidationError

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import day_of
from stream_filter.core.policy.files import PolicyError, policy_from_text
from stream_filter.core.policy.history import PolicyHistory, is_version_key, version_key
from stream_filter.core.policy.signing import verify

MAX_AHEAD = timedelta(minutes=5)  # clocks differ a little; a record further ahead is refused
RETIRE_PREFIX = "retire:"


def retire_key(version: str) -> str:
    """The key a version's retirement goes on: its own, never the version's."""
    return f"{RETIRE_PREFIX}{version}"

Mode = Literal["live", "shadow", "retire"]
SHADOW_KEY = "shadow"


class PolicyMessage(BaseModel):
    schema_version: Literal[1] = 1
    mode: Mode
    policy: str  # live, shadow: the YAML text ("" clears the shadow); retire: the key of the version
    published_at: AwareDatetime
    signature: str | None = None  # Ed25519 over signed_bytes(key, message), base64


def signed_bytes(key: str, message: PolicyMessage, deployment: str = "", topic: str = "") -> bytes:
    """What a signature covers: format 2 names the deployment (app id) and the topic; the first
    format (no deployment and topic given) is still verified, for records published before."""
    if not deployment and not topic:
        return f"stream-filter policy record 1\n{key}\n{message.mode}\n{message.published_at.isoformat()}\n" \
            f"{message.policy}".encode()
    return (f"stream-filter policy record 2\n{deployment}\n{topic}\n{key}\n{message.mode}\n"
            f"{message.published_at.isoformat()}\n{message.policy}").encode()


@dataclass
class PolicyTopic:
    verify_key: Ed25519PublicKey | None = None
    history: PolicyHistory = field(default_factory=PolicyHistory)
    shadow: PolicyBook | None = None
    shadow_text: str = ""
    latest: dict[str, datetime] = field(default_factory=dict)  # key -> publication time of the last record taken
    deployment: str = ""  # the app id and the policy topic's name, in what signatures cover
    name: str = ""
    newest: datetime | None = None  # publication time of the newest record taken
    retired: set[str] = field(default_factory=set)  # version keys retired: never live again
    old_format: int = 0  # records taken that were signed in the first format (with `first_format` only)
    first_format: bool = False  # take records signed in the first format (`policy resign` reads them)
    texts: dict[str, str] = field(default_factory=dict)  # version key -> the text published (to sign again)

    def copy(self) -> PolicyTopic:
        return PolicyTopic(self.verify_key, PolicyHistory(dict(self.history.versions)), self.shadow,
                           self.shadow_text, dict(self.latest), self.deployment, self.name, self.newest,
                           set(self.retired), self.old_format, self.first_format, dict(self.texts))

    def _verify(self, name: str, message: PolicyMessage) -> None:
        assert self.verify_key is not None
        try:
            verify(signed_bytes(name, message, self.deployment or "-", self.name or "-"), message.signature,
                   self.verify_key)
            return
        except PolicyError:
            verify(signed_bytes(name, message), message.signature, self.verify_key)  # the first format, or raise
        if not self.first_format:
            raise PolicyError(f"a record on '{name[:60]}' signed in the first format (its signature names no "
                              "deployment or topic: valid wherever the key is): run `stream-filter policy resign "
                              "--key KEY` once to publish the topic's versions again, signed for this deployment")
        self.old_format += 1

    def take(self, key: bytes | None, value: bytes | None,
             now: datetime | None = None) -> Literal["live", "shadow"] | None:
        """Apply one record: the part it changed, or None. PolicyError (or `history.Refused`) when the
        record is invalid, unsigned, badly signed, replayed or refused; nothing changes then."""
        name = (key or b"").decode(errors="replace")
        if value is None:
            if is_version_key(name):
                raise PolicyError(f"a tombstone on version key '{name[:60]}' (ignored; compaction will drop the "
                                  "version on the next start: only the publisher may write the topic)")
            return None
        try:
            message = PolicyMessage.model_validate_json(value)
        except ValidationError as exc:
            raise PolicyError(f"policy record is not a PolicyMessage: {exc.errors(include_url=False)[0]['msg']}") \
                from None
        if self.verify_key is not None:
            self._verify(name, message)
        if message.published_at > (now or datetime.now(UTC)) + MAX_AHEAD:
            raise PolicyError(f"a record on '{name[:60]}' published in the future "
                              f"({message.published_at.isoformat()}): refused, it would block every later record")
        if name in self.latest and message.published_at <= self.latest[name]:
            raise PolicyError(f"a record on '{name[:60]}' not newer than the last one taken (a replay)")
        if self.newest is not None and message.published_at < self.newest:
            raise PolicyError(f"a record on '{name[:60]}' older than the newest record taken (a replay, or signed "
                              "before a later publish: publish it again)")
        changed = self._apply(name, message)
        self.latest[name] = message.published_at
        self.newest = max(self.newest or message.published_at, message.published_at)
        return changed

    def order(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> list[tuple[bytes | None, bytes | None]]:
        """Records in order of publication time (unreadable ones first: they are refused either way).
        A compacted topic keeps the newest record per key at its own offset: read in offset order a
        record published again later would come after newer ones."""
        def when(record: tuple[bytes | None, bytes | None]) -> datetime:
            try:
                return PolicyMessage.model_validate_json(record[1] or b"").published_at
            except ValidationError:
                return datetime.min.replace(tzinfo=UTC)
        return sorted(records, key=when)

    def _apply(self, name: str, message: PolicyMessage) -> Literal["live", "shadow"] | None:
        day = day_of(message.published_at)
        if message.mode == "shadow":
            if name != SHADOW_KEY:
                raise PolicyError(f"a shadow record on key '{name[:60]}'")
            book = PolicyBook([policy_from_text(message.policy, "policy topic (shadow)")]) \
                if message.policy.strip() else None
            self.shadow, self.shadow_text = book, message.policy
            return "shadow"
        if message.mode == "retire":
            version = name.removeprefix(RETIRE_PREFIX)
            if not is_version_key(version) or message.policy != version:
                raise PolicyError("a retire record names another version than its key")
            changed = self.history.retire(version, day)
            self.retired.add(version)
            return "live" if changed else None
        if not is_version_key(name):
            raise PolicyError(f"a {message.mode} record on key '{name[:60]}'")
        if name in self.retired:
            raise PolicyError(f"version '{name[:60]}' was retired: publish a new version instead")
        if not message.policy.strip():
            raise PolicyError("an empty live policy is not allowed")
        policy = policy_from_text(message.policy, "policy topic (live)")
        if name != "live" and name != version_key(policy):
            raise PolicyError(f"record key '{name[:60]}' does not match its policy ({version_key(policy)})")
        added = self.history.add(name, policy, day)
        if added or name not in self.texts:  # the text of the version in force on the key (`live` is replaced)
            self.texts[name] = message.policy
        return "live" if added else None
