"""The worker refuses to start on a listing-state changelog it cannot trust, with exit code 4 and a
message that says what to fix (docs/policy.md, "Listing state")."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings
from tests.support import Names, WorkerProcess, end_offsets

REFUSAL_S = 60.0  # the refusal comes before Faust starts: a few admin requests


def _worker(names: Names, bootstrap: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = WorkerProcess(names.env(bootstrap), tmp_path / "w.log").env
    return subprocess.run([sys.executable, "-m", "stream_filter", "worker"], capture_output=True, text=True,
                          env=env, timeout=REFUSAL_S, check=False)


async def _create(bootstrap: str, topic: NewTopic) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([topic])
    finally:
        await admin.close()


async def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): offset})
    finally:
        await consumer.stop()


def test_a_changelog_that_is_not_compacted_is_refused(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, app_id=names.app_id)
    asyncio.run(_create(kafka_bootstrap, NewTopic(settings.topic_state(), 4, 1,
                                                  topic_configs={"cleanup.policy": "delete"})))
    proc = _worker(names, kafka_bootstrap, tmp_path)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "cleanup.policy=delete" in proc.stderr and "compact" in proc.stderr.splitlines()[-1]


def test_a_changelog_missing_while_the_group_has_committed_is_refused(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Its states are lost (a deleted topic, a renamed app id): running on would miss withdrawals."""
    names = Names()
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, app_id=names.app_id, topic_input=names.topic("new"))
    asyncio.run(ensure_topics(settings, [settings.topic_input]))
    asyncio.run(publish(settings, [(b"L-1", b"{}")]))
    asyncio.run(_commit(kafka_bootstrap, names.app_id, names.topic("new"), 1))
    proc = _worker(names, kafka_bootstrap, tmp_path)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "states of active listings are lost" in proc.stderr and "--reset-offsets" in proc.stderr


def test_a_verdict_topic_not_co_partitioned_with_the_input_is_refused(kafka_bootstrap: str, tmp_path: Path) -> None:
    """More verdict partitions than input ones: verdicts would reach workers that do not hold their
    listings' states (docs/contracts.md, Review verdicts). Fewer are grown with the input instead."""
    names = Names()
    asyncio.run(_create(kafka_bootstrap, NewTopic(names.topic("new"), 2, 1)))
    asyncio.run(_create(kafka_bootstrap, NewTopic(names.topic("review-verdicts"), 3, 1)))
    proc = _worker(names, kafka_bootstrap, tmp_path)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "co-partitioned" in proc.stderr and "3 partitions" in proc.stderr
    fewer = Names()
    asyncio.run(_create(kafka_bootstrap, NewTopic(fewer.topic("new"), 3, 1)))
    asyncio.run(_create(kafka_bootstrap, NewTopic(fewer.topic("review-verdicts"), 1, 1)))
    settings = fewer.settings(kafka_bootstrap)
    asyncio.run(ensure_topics(settings))
    assert sorted(end_offsets(kafka_bootstrap, fewer.topic("review-verdicts"))) == [0, 1, 2]
