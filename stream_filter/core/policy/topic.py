"""What the policy topic says, record by record: the live history and the shadow policy.

Records (`PolicyMessage`, JSON): a live version on its own key (`history.version_key`), the shadow
on key `shadow` (an empty text clears it), and the retirement of a version on that version's key
(so compaction drops the version too). Every check uses the record's own publication day, so a
worker that follows the topic and one that reads it from the start after a restart decide alike.
With a verify key, every record must carry an Ed25519 signature over `signed_bytes` (key, mode,
publication time, text); and per key only records newer than the last one taken count, so an old
signed record cannot be replayed. Pure: the follower and the CLI feed it the records they read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, ValidationError

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import day_of
from stream_filter.core.policy.files import PolicyError, policy_from_text
from stream_filter.core.policy.history import PolicyHistory, is_version_key, version_key
from stream_filter.core.policy.signing import verify

Mode = Literal["live", "shadow", "retire"]
SHADOW_KEY = "shadow"


class PolicyMessage(BaseModel):
    schema_version: Literal[1] = 1
    mode: Mode
    policy: str  # live, shadow: the YAML text ("" clears the shadow); retire: the key of the version
    published_at: AwareDatetime
    signature: str | None = None  # Ed25519 over signed_bytes(key, message), base64


def signed_bytes(key: str, message: PolicyMessage) -> bytes:
    return f"stream-filter policy record 1\n{key}\n{message.mode}\n{message.published_at.isoformat()}\n" \
        f"{message.policy}".encode()


@dataclass
class PolicyTopic:
    verify_key: Ed25519PublicKey | None = None
    history: PolicyHistory = field(default_factory=PolicyHistory)
    shadow: PolicyBook | None = None
    shadow_text: str = ""
    latest: dict[str, datetime] = field(default_factory=dict)  # key -> publication time of the last record taken

    def copy(self) -> PolicyTopic:
        return PolicyTopic(self.verify_key, PolicyHistory(dict(self.history.versions)), self.shadow,
                           self.shadow_text, dict(self.latest))

    def take(self, key: bytes | None, value: bytes | None) -> Literal["live", "shadow"] | None:
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
            verify(signed_bytes(name, message), message.signature, self.verify_key)
        if name in self.latest and message.published_at <= self.latest[name]:
            raise PolicyError(f"a record on '{name[:60]}' not newer than the last one taken (a replay)")
        changed = self._apply(name, message)
        self.latest[name] = message.published_at
        return changed

    def _apply(self, name: str, message: PolicyMessage) -> Literal["live", "shadow"] | None:
        day = day_of(message.published_at)
        if message.mode == "shadow":
            if name != SHADOW_KEY:
                raise PolicyError(f"a shadow record on key '{name[:60]}'")
            book = PolicyBook([policy_from_text(message.policy, "policy topic (shadow)")]) \
                if message.policy.strip() else None
            self.shadow, self.shadow_text = book, message.policy
            return "shadow"
        if not is_version_key(name):
            raise PolicyError(f"a {message.mode} record on key '{name[:60]}'")
        if message.mode == "retire":
            if message.policy != name:
                raise PolicyError("a retire record names another version than its key")
            return "live" if self.history.retire(name, day) else None
        if not message.policy.strip():
            raise PolicyError("an empty live policy is not allowed")
        policy = policy_from_text(message.policy, "policy topic (live)")
        if name != "live" and name != version_key(policy):
            raise PolicyError(f"record key '{name[:60]}' does not match its policy ({version_key(policy)})")
        return "live" if self.history.add(name, policy, day) else None
