"""The per-partition state maps (memory and rocksdict), without a broker: loading is tested on one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Output, Routed, route
from stream_filter.settings import Settings
from stream_filter.state.listing_states import ListingStates
from tests.factories import event_dict, held_keys

BOOK = PolicyBook.load("default")


def put(states: ListingStates, listing_id: str, partition: int, state: ListingState | None) -> Routed:
    """One listing's state written at once (a batch view of one)."""
    view = states.view([])
    record = view.put(listing_id, partition, state)
    assert view.flush() == []
    return record


def get(states: ListingStates, listing_id: str, partition: int) -> ListingState | None:
    return states.get_key(partition, listing_id.encode())


@pytest.mark.parametrize("store", ["auto", "memory"])
def test_put_get_keys_and_forget(store: str, tmp_path: Path) -> None:
    states = ListingStates(Settings(state_store=store, data_dir=str(tmp_path)))
    assert states.disk is (store == "auto")
    for partition in (0, 1):
        states.open(partition)
    body = event_dict(listing_id="L-7")
    step = advance(route(b"L-7", orjson.dumps(body), BOOK), None, 1)
    assert step.state is not None
    record = put(states, "L-7", 1, step.state)
    assert record.output is Output.STATE and record.partition == 1 and record.key == b"L-7"
    assert get(states, "L-7", 1) == step.state and get(states, "L-7", 0) is None
    assert held_keys(states, [0, 1]) == [(1, b"L-7")] and held_keys(states, [0]) == []
    assert states.get_key(1, b"L-7") == step.state
    tombstone = put(states, "L-7", 1, None)
    assert tombstone.value is None and get(states, "L-7", 1) is None
    put(states, "L-7", 1, step.state)
    states.forget([1])
    assert held_keys(states, [0, 1]) == [] and states.store(0) is not None and states.get_key(1, b"L-7") is None
    with pytest.raises(KeyError):
        states.store(1)


def test_disk_store_writes_no_log(tmp_path: Path) -> None:
    """The store is rebuilt from the changelog at every open, so RocksDB's write-ahead log stays empty."""
    states = ListingStates(Settings(state_store="auto", data_dir=str(tmp_path)))
    states.open(0)
    body = event_dict(listing_id="L-1")
    step = advance(route(b"L-1", orjson.dumps(body), BOOK), None, 0)
    assert step.state is not None
    for i in range(1000):
        put(states, f"L-{i}", 0, step.state)
    view = states.view([])  # the worker's way: one write batch
    for i in range(1000, 2000):
        view.put(f"L-{i}", 0, step.state)
    assert view.flush() == []
    logs = list((tmp_path / "stream-filter" / "listing-state" / "0").glob("*.log"))
    assert logs and sum(p.stat().st_size for p in logs) == 0
    assert get(states, "L-1999", 0) == step.state
    states.forget([0])


@pytest.mark.parametrize("store", ["auto", "memory"])
def test_batch_reads_at_once_sees_its_own_writes_and_writes_on_flush(store: str, tmp_path: Path) -> None:
    """A batch's view gives what per-event calls would: earlier states, its own writes in between
    (a listing twice in one batch), tombstones; the maps change only on flush."""
    states = ListingStates(Settings(state_store=store, data_dir=str(tmp_path)))
    for partition in (0, 1):
        states.open(partition)
    step = advance(route(b"L-1", orjson.dumps(event_dict(listing_id="L-1")), BOOK), None, 0)
    other = advance(route(b"L-2", orjson.dumps(event_dict(listing_id="L-2", title="Kemeja batik")), BOOK), None, 1)
    assert step.state is not None and other.state is not None
    put(states, "L-1", 0, step.state)
    put(states, "L-2", 1, other.state)
    view = states.view([(0, "L-1"), (1, "L-2"), (0, "L-3"), (0, "L-1")])
    assert view.get("L-1", 0) == step.state and view.get("L-2", 1) == other.state and view.get("L-3", 0) is None
    record = view.put("L-3", 0, other.state)
    assert (record.output, record.key, record.value, record.partition) == (Output.STATE, b"L-3",
                                                                           other.state.to_bytes(), 0)
    tombstone = view.put("L-1", 0, None)
    assert tombstone.value is None and tombstone.partition == 0
    assert view.get("L-3", 0) == other.state and view.get("L-1", 0) is None  # its own writes
    assert get(states, "L-3", 0) is None and get(states, "L-1", 0) == step.state  # not written yet
    view.put("L-3", 0, step.state)  # the last write of a listing wins
    view.flush()
    assert get(states, "L-3", 0) == step.state and get(states, "L-1", 0) is None
    assert get(states, "L-2", 1) == other.state and held_keys(states, [0, 1]) == [(0, b"L-3"), (1, b"L-2")]
    assert states.view([(0, "L-3")]).get("L-3", 0) == step.state  # a new batch reads what was flushed
    states.forget([0, 1])


def test_disk_store_keeps_indexes_and_filters_in_one_bounded_cache(tmp_path: Path) -> None:
    """RocksDB's default keeps every table's index on the heap, so memory grew with the listings held;
    the options RocksDB records for each partition show the bounded cache and the bloom filter."""
    states = ListingStates(Settings(state_store="auto", data_dir=str(tmp_path)))
    for partition in (0, 1):
        states.open(partition)
    for partition in (0, 1):
        options = max((tmp_path / "stream-filter" / "listing-state" / str(partition)).glob("OPTIONS-*")).read_text()
        assert "cache_index_and_filter_blocks=true" in options
        assert "pin_l0_filter_and_index_blocks_in_cache=true" in options
        assert "filter_policy=bloomfilter" in options
    assert states.stores.cache is not None  # one cache, made with the first partition, shared by the others
    states.forget([0, 1])


def test_two_app_ids_sharing_a_data_dir_keep_their_stores_apart(tmp_path: Path) -> None:
    one = ListingStates(Settings(state_store="auto", data_dir=str(tmp_path), app_id="one"))
    two = ListingStates(Settings(state_store="auto", data_dir=str(tmp_path), app_id="two"))
    one.open(0)
    two.open(0)  # would fail on the other's RocksDB lock were the directory shared
    assert (tmp_path / "one" / "listing-state" / "0").is_dir() and (tmp_path / "two" / "listing-state" / "0").is_dir()
    one.forget([0])
    two.forget([0])


def test_a_sealed_store_is_kept_and_goes_on_from_its_offset_once(tmp_path: Path) -> None:
    """Sealed at shutdown: the next open keeps it and says where restoring goes on; opened once, it
    is no longer sealed (a crash then must not trust it), so the open after that starts empty."""
    states = ListingStates(Settings(state_store="auto", data_dir=str(tmp_path)))
    states.open(0)
    step = advance(route(b"L-1", orjson.dumps(event_dict(listing_id="L-1")), BOOK), None, 0)
    put(states, "L-1", 0, step.state)
    states.seal({0: 17})
    assert states.held() == []
    again = states.stores.open(0, resume=True)
    assert again.resumes_at == 17 and again.get(b"L-1") is not None
    again.close()
    third = states.stores.open(0, resume=True)
    assert third.resumes_at is None and third.keys_after(None, 10) == []
    third.close()


def test_a_memory_store_never_resumes(tmp_path: Path) -> None:
    states = ListingStates(Settings(state_store="memory", data_dir=str(tmp_path)))
    states.open(0)
    states.seal({0: 5})
    assert states.stores.open(0, resume=True).resumes_at is None


def test_unloaded_names_owned_partitions_not_held_and_none_before_an_assignment(tmp_path: Path) -> None:
    states = ListingStates(Settings(state_store="memory", data_dir=str(tmp_path)))
    assert states.unloaded() is None
    states.assigned([0, 1, 2])
    assert states.unloaded() == [0, 1, 2]
    states.open(1)
    assert states.unloaded() == [0, 2]
    states.assigned([1])
    assert states.unloaded() == []


def test_after_sealing_nothing_is_loaded_again(tmp_path: Path) -> None:
    """At shutdown a late load (a re-evaluation pass restarting) would reopen the sealed stores, and
    opening one unseals it: the next start would restore in full. No broker answers here: a load
    that tried to read would fail the test."""
    import asyncio

    settings = Settings(state_store="auto", data_dir=str(tmp_path), kafka_bootstrap_servers="127.0.0.1:9")
    states = ListingStates(settings)
    states.assigned([0])
    states.open(0)
    states.seal({0: 7})
    asyncio.run(asyncio.wait_for(states.load([0, 1]), 5))
    assert states.held() == []
    assert ListingStates(settings).stores.open(0, resume=True).resumes_at == 7  # still sealed


def test_a_batch_of_held_partitions_never_waits_behind_another_partitions_load(tmp_path: Path) -> None:
    """The agent asks for its batch's partitions; held ones return at once while a moved partition
    loads (before, every batch waited on the load's lock for the whole load)."""
    states = ListingStates(Settings(state_store="memory", data_dir=str(tmp_path)))
    states.assigned([0, 1])  # a rebalance: the count is asked again by the next load
    states.open(0)

    async def run() -> None:
        async with states._loading:  # partition 1 loading in the background
            await asyncio.wait_for(states.load([0]), 0.5)  # held: no broker asked, no wait
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(states.load([1]), 0.05)  # not held: waits for the load under way

    asyncio.run(run())


@pytest.mark.parametrize("store", ["auto", "memory"])
def test_chunks_walk_every_key_once_in_order(store: str, tmp_path: Path) -> None:
    """A pass reads keys a chunk at a time from where the last chunk ended; a key written meanwhile
    behind the walk is not read twice, one ahead of it is read, and a dropped partition ends its walk
    (without being reported walked, as a finished or an empty one is)."""
    states = ListingStates(Settings(state_store=store, data_dir=str(tmp_path)))
    for partition in (0, 1, 2):
        states.open(partition)
    view = states.view([])
    names = [f"L-{i:03d}" for i in range(25)]
    for name in names:
        routed = route(name.encode(), orjson.dumps(event_dict(listing_id=name)), BOOK)
        state = advance(routed, None, 0).state
        view.put(name, 0, state)
        view.put(name, 1, state)
    assert view.flush() == []
    assert states.held_count([0, 1]) == 50 or store == "auto"  # RocksDB's count is an estimate
    walked, ended = [], []
    for i, chunk in enumerate(states.chunks([2, 1, 0], 10, walked=ended.append)):
        assert len(chunk) <= 10
        walked += chunk
        if i == 0:  # behind the walk on partition 0, then ahead of it
            routed = route(b"L-000a", orjson.dumps(event_dict(listing_id="L-000a")), BOOK)
            extra = states.view([])
            extra.put("L-000a", 0, advance(routed, None, 0).state)
            extra.put("L-999", 0, advance(routed, None, 0).state)
            assert extra.flush() == []
        if chunk[0][0] == 1 and len(walked) > 40:
            states.forget([1])
    on_zero = [key.decode() for partition, key in walked if partition == 0]
    assert on_zero == [*names, "L-999"]
    on_one = [key for partition, key in walked if partition == 1]
    assert 0 < len(on_one) < 25  # partition 1 dropped part way
    assert ended == [0, 2]
