"""The bounded per-word memo: computed once, kept up to its limit, long keys computed every time."""

from __future__ import annotations

from stream_filter.core.classify.memo import WORD_CHARS, Memo


def test_a_memo_computes_once_keeps_up_to_its_limit_and_not_long_keys() -> None:
    calls: list[str] = []

    def upper(word: str) -> str:
        calls.append(word)
        return word.upper()

    memo = Memo(upper, limit=3)
    assert [memo[w] for w in ("a", "b", "a")] == ["A", "B", "A"] and calls == ["a", "b"]
    assert list(map(memo.__getitem__, ["c", "d"])) == ["C", "D"]  # full at "d": cleared, then kept
    assert len(memo) <= 3 and memo["d"] == "D" and calls == ["a", "b", "c", "d"]
    long = "x" * (WORD_CHARS + 1)
    assert memo[long] == long.upper() and long not in memo
