"""Text normalisation shared by the classifiers: one definition of a "token".

Marketplace text mixes case, punctuation, non-breaking spaces, emoji, digits glued to words
("kaos30s", "1kg") and repeated letters ("murahhh"). Normalising once, the same way for the
lexicon and for listings, is what makes a token-set lookup exact and its cost independent of the
lexicon's size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

_NON_WORD = re.compile(r"[^0-9a-z]+")
_DIGIT_ALPHA = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")
_REPEATS = re.compile(r"([a-z])\1{2,}")


def normalise(text: str) -> str:
    """Lower-case ASCII words separated by single spaces ("Kab. Bandung" -> "kab bandung")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = _REPEATS.sub(r"\1", text)
    text = _NON_WORD.sub(" ", text)
    text = _DIGIT_ALPHA.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return normalise(text).split()


def ngrams(toks: list[str], max_n: int) -> Iterator[tuple[int, int, str]]:
    """(start, length, phrase) for every n-gram up to `max_n`, longest first at each start."""
    for start in range(len(toks)):
        for n in range(min(max_n, len(toks) - start), 0, -1):
            yield start, n, " ".join(toks[start : start + n])
