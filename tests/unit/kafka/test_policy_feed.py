"""The policy follower's book, without a broker: what a worker decides under once the topic holds
versions."""

from __future__ import annotations

from datetime import date

from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.policy.files import parse_policy
from stream_filter.core.policy.history import version_key
from stream_filter.kafka.policy_feed import PolicyFollower
from stream_filter.settings import Settings

FIRST = """
id: topic-policy
version: "2026.12.07"
title: The first version published to the topic
effective_from: 2026-12-07
"""


def test_the_first_topic_version_keeps_the_configured_pack_for_the_days_before_it() -> None:
    """A worker on the shipped pack, then the first version published to the topic, effective today: a
    late event dated two days earlier is decided under the pack, never NO_POLICY_IN_FORCE."""
    configured = PolicyBook.load("default")
    holder = PolicyHolder(live=configured)
    changes: list[str] = []
    follower = PolicyFollower(Settings(), holder, lambda mode, _: changes.append(mode), lambda _: None)
    first = parse_policy(FIRST, "topic")
    assert follower.topic.history.add(version_key(first), first, date(2026, 12, 7))
    follower._apply({"live"})
    assert changes == ["live"]
    earlier = [p.id for p in holder.live.active(date(2026, 12, 5))]
    assert earlier == [p.id for p in configured.active(date(2026, 12, 5))] and earlier
    assert [p.id for p in holder.live.active(date(2026, 12, 7))] == ["topic-policy"]
    assert [p.id for p in holder.live.active(date(2030, 1, 1))] == ["topic-policy"]
