"""The history of the changelog's partition counts: an entry only when the count changes."""

from __future__ import annotations

from stream_filter.kafka.topics import next_layout


def test_a_new_deployment_starts_its_history_with_one_count() -> None:
    assert next_layout([], 0, 4) == [4]  # changelog created a moment ago
    assert next_layout([], 4, 4) == [4]  # changelog already there, same count: nothing moved


def test_growing_adds_the_new_count_after_the_old_one() -> None:
    assert next_layout([], 4, 8) == [4, 8]  # a changelog from before histories, growing now
    assert next_layout([4], 4, 8) == [4, 8]
    assert next_layout([4, 8], 8, 12) == [4, 8, 12]


def test_an_unchanged_count_leaves_the_history_alone() -> None:
    assert next_layout([4, 8], 8, 8) == [4, 8]
    assert next_layout([4, 8], 8, 4) == [4, 8]  # the changelog never shrinks
