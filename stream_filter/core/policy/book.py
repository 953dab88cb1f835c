"""The policy versions a worker holds, and which of them are in force on a given day."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from stream_filter.core.contracts.decision import PolicyRef
from stream_filter.core.policy.files import PolicyError, load_policy
from stream_filter.core.policy.model import Policy


class PolicyBook:
    """Every loaded version; `active(day)` gives, per policy id, the newest version in force."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self.policies = sorted(policies, key=lambda p: (p.id, p.effective_from))
        if not self.policies:
            raise PolicyError("no policy loaded")

    @classmethod
    def load(cls, spec: str) -> PolicyBook:
        """`spec`: comma-separated pack names and/or file paths (each file one version)."""
        return cls(load_policy(part.strip()) for part in spec.split(",") if part.strip())

    def active(self, day: date) -> list[Policy]:
        current: dict[str, Policy] = {}
        for policy in self.policies:
            if policy.in_force(day):
                current[policy.id] = policy  # sorted by effective_from: the newest wins
        return list(current.values())

    def describe(self) -> list[PolicyRef]:
        return [p.ref for p in self.policies]


@dataclass
class PolicyHolder:
    """What the agent reads per batch: the live book, and the shadow book if one is being evaluated."""

    live: PolicyBook
    shadow: PolicyBook | None = None
