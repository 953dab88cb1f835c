"""The producers' partitioners and learning which one placed the input's keys."""

from __future__ import annotations

import logging
import random
import zlib

import pytest

from stream_filter.kafka.input_partitioner import MIN_KEYS, InputPartitioner
from stream_filter.kafka.partitioning import PARTITIONERS, crc32_partition, fnv1a_partition, partition_for


def test_the_partitioners_as_their_clients_compute_them() -> None:
    # librdkafka: rd_crc32(key) % partition_cnt, the zlib CRC-32
    assert crc32_partition(b"L-1", 7) == zlib.crc32(b"L-1") % 7
    # Sarama: FNV-1a 32 as a signed int32, Go's remainder, absolute value (FNV-1a test vectors)
    assert fnv1a_partition(b"a", 1 << 30) == abs(0xE40C292C - (1 << 32)) % (1 << 30)
    assert fnv1a_partition(b"foobar", 1 << 30) == abs(0xBF9CF968 - (1 << 32)) % (1 << 30)
    assert partition_for(b"L-1", 7) == PARTITIONERS["murmur2"](b"L-1", 7)


@pytest.mark.parametrize("name", sorted(PARTITIONERS))
def test_auto_learns_the_partitioner_from_where_keys_are(name: str) -> None:
    rng = random.Random(7)
    keys = [f"L-{rng.randrange(10**9)}".encode() for _ in range(MIN_KEYS + 5)]
    learner = InputPartitioner()
    learner.observe([(k, PARTITIONERS[name](k, 4)) for k in keys[: MIN_KEYS - 1]], 4)
    assert learner.name is None and learner.partition(b"x", 4) is None  # never guessed from a few records
    learner.observe([(k, PARTITIONERS[name](k, 4)) for k in keys[MIN_KEYS - 1:]], 4)
    assert learner.name == name and learner.partition(keys[0], 4) == PARTITIONERS[name](keys[0], 4)


def test_one_partition_or_keys_no_partitioner_fits_teach_nothing() -> None:
    learner = InputPartitioner()
    learner.observe([(f"k{i}".encode(), 0) for i in range(100)], 1)
    assert learner.name is None
    rng = random.Random(3)
    learner.observe([(f"k{i}".encode(), rng.randrange(8)) for i in range(200)], 8)  # a partitioner of its own
    assert learner.name is None and "not known yet" in (learner.why_unknown() or "")


def test_a_set_partitioner_counts_records_that_disagree_and_names_the_one_that_fits(
        caplog: pytest.LogCaptureFixture) -> None:
    checked = InputPartitioner("murmur2")
    keys = [f"L-{i}".encode() for i in range(200)]
    with caplog.at_level(logging.WARNING):
        checked.observe([(k, crc32_partition(k, 8)) for k in keys], 8)
    wrong = sum(partition_for(k, 8) != crc32_partition(k, 8) for k in keys)
    assert checked.disagreed == wrong > 100
    assert caplog.text.count("STREAM_FILTER_INPUT_PARTITIONER=") == 1  # logged once
    assert "STREAM_FILTER_INPUT_PARTITIONER=crc32 fits it" in caplog.text
    with pytest.raises(ValueError, match="unknown partitioner"):
        InputPartitioner("random")
