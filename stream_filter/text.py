"""Text normalisation shared by the classifiers: one definition of a "token".

Marketplace text mixes case, punctuation, non-breaking spaces, emoji, digits glued to words
("kaos30s", "1kg") and repeated letters ("murahhh"). Normalising once, the same way for the
lexicon and for listings, is what makes a token-set lookup exact and its cost independent of the
lexicon's size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")

_WORD = re.compile(r"[a-z]+|[0-9]+")  # letters and digits are separate tokens: "30s" -> "30", "s"
_REPEATS = re.compile(r"([a-z])\1{2,}")


def tokens(text: str) -> list[str]:
    """Lower-case ASCII tokens ("Kab. Bandung" -> ["kab", "bandung"]); one regex pass on ASCII text."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.lower()
    if _REPEATS.search(text):
        text = _REPEATS.sub(r"\1", text)
    return _WORD.findall(text)


def normalise(text: str) -> str:
    """The tokens joined by single spaces: the form lexicon terms and place names are stored in."""
    return " ".join(tokens(text))


def phrase_index(phrases: Iterable[str]) -> dict[str, int]:
    """First token -> the most words any phrase starting with it has (for `find_phrases`)."""
    index: dict[str, int] = {}
    for phrase in phrases:
        words = phrase.split()
        if words:
            index[words[0]] = max(index.get(words[0], 0), len(words))
    return index


def find_phrases(toks: list[str], index: dict[str, int], table: Mapping[str, T]) -> list[tuple[int, str, T]]:
    """Non-overlapping phrases of `table` in `toks`, longest first at each position.

    Only tokens that start some phrase are examined, so the cost follows the text, not the table.
    """
    found: list[tuple[int, str, T]] = []
    i, count = 0, len(toks)
    while i < count:
        longest = index.get(toks[i], 0)
        step = 1
        if longest > count - i:
            longest = count - i
        for n in range(longest, 0, -1):
            phrase = toks[i] if n == 1 else " ".join(toks[i : i + n])
            value = table.get(phrase)
            if value is not None:
                found.append((i, phrase, value))
                step = n
                break
        i += step
    return found
