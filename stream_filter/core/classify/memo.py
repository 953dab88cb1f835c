"""A bounded memo for per-word work on the hot path: tokens of a word, a word's model weights.

Why a dict subclass: a hit is `memo[key]`, one C-level lookup (also through `map`), and only a miss
runs Python (`__missing__`). Listing texts repeat a small vocabulary, so nearly every lookup hits.
Bounded by clearing when full: an unusual stream refills it with its own words, and memory stays
flat however many distinct words go by.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")

WORDS = 1 << 15  # distinct words a memo keeps
WORD_CHARS = 40  # longer keys (URLs, glued text) are rare: computed, not kept


class Memo(dict[str, V], Generic[V]):
    def __init__(self, compute: Callable[[str], V], limit: int = WORDS) -> None:
        super().__init__()
        self.compute, self.limit = compute, limit

    def __missing__(self, key: str) -> V:
        value = self.compute(key)
        if len(key) <= WORD_CHARS:
            if len(self) >= self.limit:
                self.clear()
            self[key] = value
        return value
