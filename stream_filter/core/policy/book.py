"""The policy versions a worker holds, and which of them are in force on a given day."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from stream_filter.core.contracts.decision import PolicyRef
from stream_filter.core.policy.files import PolicyError, load_policy
from stream_filter.core.policy.model import Policy

MAX_DAYS_KEPT = 4096


class PolicyBook:
    """Every loaded version; `active(day)` gives, per policy id, the newest version in force."""

    def __init__(self, policies: Iterable[Policy], before: PolicyBook | None = None) -> None:
        self.policies = sorted(policies, key=lambda p: (p.id, p.effective_from))
        if not self.policies:
            raise PolicyError("no policy loaded")
        self._active: dict[date, list[Policy]] = {}  # per day: asked for every event and listing state
        # in force on the days before the earliest of `policies` takes effect: the configured book a
        # worker decided under until the policy topic held versions (late events are dated then)
        self.before = before
        self._start = min(p.effective_from for p in self.policies)

    @classmethod
    def load(cls, spec: str) -> PolicyBook:
        """`spec`: comma-separated pack names and/or file paths (each file one version)."""
        return cls(load_policy(part.strip()) for part in spec.split(",") if part.strip())

    def active(self, day: date) -> list[Policy]:
        """The versions in force on `day` (a list shared between callers: not to be changed)."""
        found = self._active.get(day)
        if found is None:
            if len(self._active) >= MAX_DAYS_KEPT:  # events from many days (an event clock): start afresh
                self._active.clear()
            current: dict[str, Policy] = {}
            for policy in self.policies:
                if policy.in_force(day):
                    current[policy.id] = policy  # sorted by effective_from: the newest wins
            if not current and self.before is not None and day < self._start:
                found = self._active[day] = self.before.active(day)
            else:
                found = self._active[day] = list(current.values())
        return found

    def describe(self) -> list[PolicyRef]:
        return [p.ref for p in self.policies]


@dataclass
class PolicyHolder:
    """What the agent reads per batch: the live book, and the shadow book if one is being evaluated."""

    live: PolicyBook
    shadow: PolicyBook | None = None
