"""What the policy topic says, record by record: the live history and the shadow policy.

Records (`PolicyMessage`, JSON): a live version on its own key (`history.version_key`), the shadow
on key `shadow` (an empty text clears it), and the retirement of a version on that version's key
(so compaction drops the version too). With a verify key, every record must carry an Ed25519
signature over its `policy` text. Pure: the follower and the CLI feed it records they read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import PolicyError, policy_from_text
from stream_filter.core.policy.history import PolicyHistory, is_version_key, version_key
from stream_filter.core.policy.signing import verify

Mode = Literal["live", "shadow", "retire"]
SHADOW_KEY = "shadow"


class PolicyMessage(BaseModel):
    schema_version: Literal[1] = 1
    mode: Mode
    policy: str  # live, shadow: the YAML text ("" clears the shadow); retire: the key of the version
    published_at: datetime
    signature: str | None = None  # Ed25519 over `policy`, base64


@dataclass
class PolicyTopic:
    verify_key: Ed25519PublicKey | None = None
    history: PolicyHistory = field(default_factory=PolicyHistory)
    shadow: PolicyBook | None = None
    shadow_text: str = ""

    def copy(self) -> PolicyTopic:
        return PolicyTopic(self.verify_key, PolicyHistory(dict(self.history.versions)), self.shadow, self.shadow_text)

    def take(self, key: bytes | None, value: bytes | None, today: date | None) -> Literal["live", "shadow"] | None:
        """Apply one record: the part it changed, or None. PolicyError (or `history.Refused`) when the
        record is invalid, unsigned, badly signed or refused; nothing changes then. `today` None:
        reading the topic's past (no in-force check: versions may have expired since)."""
        name = (key or b"").decode(errors="replace")
        if value is None:
            return None  # a tombstone: nothing a publish writes; compaction's business
        try:
            message = PolicyMessage.model_validate_json(value)
        except ValidationError as exc:
            raise PolicyError(f"policy record is not a PolicyMessage: {exc.errors(include_url=False)[0]['msg']}") \
                from None
        if self.verify_key is not None:
            verify(message.policy, message.signature, self.verify_key)
        if message.mode == "shadow":
            book = PolicyBook([policy_from_text(message.policy, "policy topic (shadow)")]) \
                if message.policy.strip() else None
            self.shadow, self.shadow_text = book, message.policy
            return "shadow"
        if not is_version_key(name):
            raise PolicyError(f"a {message.mode} record on key '{name[:60]}'")
        if message.mode == "retire":
            if message.policy != name:
                raise PolicyError("a retire record names another version than its key")
            return "live" if self.history.retire(name, today) else None
        if not message.policy.strip():
            raise PolicyError("an empty live policy is not allowed")
        policy = policy_from_text(message.policy, "policy topic (live)")
        if name != "live" and name != version_key(policy):
            raise PolicyError(f"record key '{name[:60]}' does not match its policy ({version_key(policy)})")
        return "live" if self.history.add(name, policy, today) else None
