"""The tokeniser's fast path (C string methods) against its definition (one regex pass)."""

from __future__ import annotations

import random
import re

from stream_filter.core.classify.text import find_phrases, phrase_index, tokens

_WORD = re.compile(r"[a-z]+|[0-9]+")
_REPEATS = re.compile(r"([a-z])\1{2,}")


def reference_tokens(text: str) -> list[str]:
    """The definition the fast path must match: ASCII-fold, lower-case, squeeze triples, regex words."""
    import unicodedata

    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _WORD.findall(_REPEATS.sub(r"\1", text))


def test_examples() -> None:
    assert tokens("Kab. Bandung") == ["kab", "bandung"]
    assert tokens("Kaos30s Murahhh!!  1kg") == ["kaos", "30", "s", "murah", "1", "kg"]
    assert tokens("Café\u00a0Crème – 2x") == ["cafe", "creme", "2", "x"]
    assert tokens("") == [] and tokens(" -- ") == []


def test_matches_reference_on_random_text() -> None:
    rng = random.Random(7)
    alphabet = "aaabbbkk  ..--,/09Zé\u00a0\t\n_'\"()xxx1234567890ABC"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert tokens(text) == reference_tokens(text), text


def reference_find(toks: list[str], table: dict[str, int]) -> list[tuple[int, str, int]]:
    """Longest phrase at each position, scanning every position."""
    longest = max((len(p.split()) for p in table), default=0)
    found, i = [], 0
    while i < len(toks):
        for n in range(min(longest, len(toks) - i), 0, -1):
            phrase = " ".join(toks[i : i + n])
            if phrase in table:
                found.append((i, phrase, table[phrase]))
                i += n
                break
        else:
            i += 1
    return found


def test_find_phrases_matches_reference() -> None:
    rng = random.Random(3)
    words = ["kopi", "mesin", "susu", "batik", "tulis", "kain", "x"]
    table = {"kopi": 1, "mesin kopi": 2, "batik tulis": 3, "kain batik tulis": 4, "susu": 5, "kain": 6}
    index = phrase_index(table)
    for _ in range(2000):
        toks = [rng.choice(words) for _ in range(rng.randint(0, 12))]
        assert find_phrases(toks, index, table) == reference_find(toks, table), toks


def test_has_triple_letter_matches_regex() -> None:
    from stream_filter.core.classify.text import has_triple_letter

    rng = random.Random(11)
    for _ in range(5000):
        text = "".join(rng.choice("aab b..000zzy") for _ in range(rng.randint(0, 30)))
        assert has_triple_letter(text) == bool(_REPEATS.search(text)), text
    assert has_triple_letter("murahhh") and not has_triple_letter("...000   aab")


def test_word_cache_is_bounded_and_gives_the_same_tokens(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from stream_filter.core.classify import text
    from stream_filter.core.classify.memo import Memo

    monkeypatch.setattr(text, "_WORD_TOKENS", Memo(text._WORD_TOKENS.compute, 8))
    rng = random.Random(5)
    alphabet = "abkz09Zé\u00a0\u1680.-"
    for _ in range(500):
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(0, 6))]
        sentence = " ".join(words)
        assert tokens(sentence) == reference_tokens(sentence), sentence
        assert tokens(sentence) == reference_tokens(sentence), sentence  # the second time from the cache
        assert len(text._WORD_TOKENS) <= 8
