"""Every output record of the examples and the benchmark pool, byte for byte as the golden file
holds it (bench/golden.py)."""

from __future__ import annotations

from bench.golden import GOLDEN, decisions, line_of
from stream_filter.core.policy.book import PolicyBook


def test_decisions_are_byte_identical_to_the_golden_file() -> None:
    expected = GOLDEN.read_bytes().splitlines()
    got = list(decisions(PolicyBook.load("default")))
    assert len(got) == len(expected) > 2_000
    differ = [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if line_of(a).rstrip() != b]
    assert differ == [], (len(differ), expected[differ[0]], got[differ[0]].value)
