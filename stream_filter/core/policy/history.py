"""The live policy as a history of versions, as the policy topic holds it.

Why: one live record used to replace the whole book, so publishing next month's version left
nothing in force today (every listing went to review and left the approved catalogue). Now each
publish adds a version, on its own key (id, version and content digest); effective dates decide
which version is in force on an event's day, as with packs on the command line, and retiring a
version is a command of its own. A change that would leave no policy in force today, or that reuses
an id@version with other content, is refused: by the CLI before publishing, and by every worker
following the topic (logged, counted; the book stays as it was).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import PolicyError
from stream_filter.core.policy.model import Policy

LIVE_PREFIX = "live:"


class Refused(PolicyError):
    """A change the history does not take; the message says why and what to do."""


def version_key(policy: Policy) -> str:
    return f"{LIVE_PREFIX}{policy.id}@{policy.version}#{policy.digest}"


def is_version_key(key: str) -> bool:
    """Version records, and the single `live` record written before histories were kept."""
    return key.startswith(LIVE_PREFIX) or key == "live"


@dataclass
class PolicyHistory:
    versions: dict[str, Policy] = field(default_factory=dict)  # record key -> version, in publish order

    def book(self) -> PolicyBook | None:
        return PolicyBook(self.versions.values()) if self.versions else None


    def find(self, ref: str) -> list[str]:
        """The keys of the versions `ref` (`ID@VERSION`) names."""
        return [key for key, p in self.versions.items() if f"{p.id}@{p.version}" == ref]

    def add(self, key: str, policy: Policy, day: date) -> bool:
        """Take a published version; False if it is there already. `day`: the day of publication,
        on which something must be in force afterwards (the record's own day, so every worker decides
        the same whenever it reads the record). The single record written before histories were kept
        (key `live`) is replaced by a newer one, as it used to be."""
        if key in self.versions and key != "live":
            return False
        if self.versions.get(key) == policy:
            return False
        rest = {k: p for k, p in self.versions.items() if k != key}
        for other in rest.values():
            if (other.id, other.version, other.digest) == (policy.id, policy.version, policy.digest):
                return False  # the same version under another key (the record before histories)
            if (other.id, other.version) == (policy.id, policy.version):
                raise Refused(f"{policy.id}@{policy.version} is published already with other content "
                              f"(digest {other.digest}, this one {policy.digest}): publish it as a new version")
        self._check({**rest, key: policy}, day, f"publishing {policy.id}@{policy.version}")
        self.versions = {**rest, key: policy}
        return True

    def retire(self, key: str, day: date) -> bool:
        if key not in self.versions:
            return False
        policy = self.versions[key]
        rest = {k: p for k, p in self.versions.items() if k != key}
        self._check(rest, day, f"retiring {policy.id}@{policy.version}")
        self.versions = rest
        return True

    @staticmethod
    def _check(versions: dict[str, Policy], day: date, change: str) -> None:
        if not (versions and PolicyBook(versions.values()).active(day)):
            raise Refused(f"{change} would leave no policy in force on {day} (every listing would go to "
                          "review): publish a version in force that day first")


def live_book(history: PolicyHistory, configured: PolicyBook) -> PolicyBook:
    """What a worker decides under: the topic's versions, and for every day before the earliest of
    them takes effect the configured book it decided under until then (an event dated before the
    first publish is decided under what was in force on its day, never NO_POLICY_IN_FORCE); the
    configured book alone while the topic holds no version."""
    return PolicyBook(history.versions.values(), before=configured) if history.versions else configured
