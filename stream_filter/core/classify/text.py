"""Text normalisation shared by the classifiers: one definition of a "token".

Marketplace text mixes case, punctuation, non-breaking spaces, emoji, digits glued to words
("kaos30s", "1kg") and repeated letters ("murahhh"). Normalising once, the same way for the
lexicon and for listings, is what makes a token-set lookup exact and its cost independent of the
lexicon's size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import compress
from typing import TypeVar

from stream_filter.core.classify.memo import Memo

T = TypeVar("T")

_WORD = re.compile(r"[a-z]+|[0-9]+")  # letters and digits are separate tokens: "30s" -> "30", "s"
_REPEATS = re.compile(r"([a-z])\1{2,}")
# Every ASCII character that is not a lower-case letter or a digit separates tokens. str.translate and
# str.split run in C, faster than the regex on long descriptions (bench.core measures it).
_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not ("a" <= chr(c) <= "z" or "0" <= chr(c) <= "9")})
_LETTERS_ONLY = bytes(c if 97 <= c <= 122 else 0 for c in range(256))  # other bytes -> 0
_NOT_LETTER = bytes(0 if 97 <= c <= 122 else 1 for c in range(256))  # 1 where a triple cannot start


def has_triple_letter(text: str) -> bool:
    """Whether a letter repeats three times in a row ("murahhh"), for lower-case ASCII `text`.

    Byte-parallel: with x, y, z the text read from offsets 0, 1, 2 as big integers, a triple is a zero
    byte of (x^y)|(y^z)|not_letter(x); the classic "has a zero byte" test finds it in a few C-level
    big-integer operations, faster than 26 substring searches or the regex.
    """
    n = len(text) - 2
    if n < 48:  # below this the regex is cheaper than the set-up
        return n > 0 and _REPEATS.search(text) is not None
    raw = text.encode("ascii")
    letters = raw.translate(_LETTERS_ONLY)
    x, y, z = (int.from_bytes(letters[i : i + n], "big") for i in range(3))
    v = (x ^ y) | (y ^ z) | int.from_bytes(raw[:n].translate(_NOT_LETTER), "big")
    ones = int.from_bytes(b"\x01" * n, "big")
    return bool((v - ones) & ~v & (ones << 7))


def tokens(text: str) -> list[str]:
    """Lower-case ASCII tokens ("Kab. Bandung" -> ["kab", "bandung"]), letters and digits apart.

    Read word by word (split at ASCII spaces, which separate tokens in every case and which no
    squeeze or accent fold crosses), each word's tokens from a cache: listing texts repeat a small
    vocabulary, so most words cost one dictionary lookup instead of the normalisation steps.
    """
    out: list[str] = []
    for toks in map(_WORD_TOKENS.__getitem__, text.split(" ")):
        out += toks
    return out


def _tokenise(text: str) -> list[str]:
    """`tokens` of one text, without the per-word cache.

    Same result as `_WORD.findall` over the lower-cased, repeat-squeezed text ("murahhh" -> "murah"),
    computed with C string methods; the regex only runs on the rare words that mix letters and digits.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.lower()
    if has_triple_letter(text):
        text = _REPEATS.sub(r"\1", text)
    spaced = text.translate(_SEPARATORS)
    words = spaced.split()
    if not any(digit in spaced for digit in "0123456789"):
        return words
    return [part for word in words for part in ((word,) if word.isalpha() or word.isdigit() else _WORD.findall(word))]


_WORD_TOKENS: Memo[tuple[str, ...]] = Memo(lambda word: tuple(_tokenise(word)))  # a word's tokens


def normalise(text: str) -> str:
    """The tokens joined by single spaces: the form lexicon terms and place names are stored in."""
    return " ".join(tokens(text))


SHORT_TEXT_CHARS = 200  # longer texts are not cached: a cache of long strings could hold megabytes


def short_tokens(text: str) -> tuple[str, ...]:
    """Tokens of texts drawn from a small set (category names, brands, variant suffixes): cached."""
    return _cached_tokens(text) if len(text) <= SHORT_TEXT_CHARS else tuple(tokens(text))


def short_normalise(text: str) -> str:
    """`normalise` for texts drawn from a small set (category names): cached."""
    return _cached_normalised(text) if len(text) <= SHORT_TEXT_CHARS else normalise(text)


@lru_cache(maxsize=16384)
def _cached_normalised(text: str) -> str:
    return " ".join(_cached_tokens(text))


@lru_cache(maxsize=16384)
def _cached_tokens(text: str) -> tuple[str, ...]:
    return tuple(tokens(text))


def phrase_index(phrases: Iterable[str]) -> dict[str, int]:
    """First token -> the most words any phrase starting with it has (for `find_phrases`)."""
    index: dict[str, int] = {}
    for phrase in phrases:
        words = phrase.split()
        if words:
            index[words[0]] = max(index.get(words[0], 0), len(words))
    return index


def find_phrases(toks: Sequence[str], index: dict[str, int], table: Mapping[str, T]) -> list[tuple[int, str, T]]:
    """Non-overlapping phrases of `table` in `toks`, longest first at each position.

    Only tokens that start some phrase are examined, so the cost follows the text, not the table.
    """
    found: list[tuple[int, str, T]] = []
    count = len(toks)
    end = 0  # tokens before `end` belong to a phrase already found
    for i in compress(range(count), map(index.__contains__, toks)):  # the tokens that start a phrase, in C
        if i < end:
            continue
        for n in range(min(index[toks[i]], count - i), 0, -1):
            phrase = toks[i] if n == 1 else " ".join(toks[i : i + n])
            value = table.get(phrase)
            if value is not None:
                found.append((i, phrase, value))
                end = i + n
                break
    return found
