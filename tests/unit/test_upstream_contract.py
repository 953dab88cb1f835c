"""The upstream contract: every private name of faust-streaming, mode-streaming and aiokafka the
worker relies on, with its signature, in one place, so that an upgrade fails loudly here and
nowhere else (pyproject.toml bounds the versions; requirements/ locks them).

Three kinds of reliance:
- a private method the worker overrides or calls: its signature must stay as it is;
- Faust code copied into `worker/transport.py` (`Consumer.getmany`, `_drain_messages`' bookkeeping,
  `Consumer.ack`) or whose order the worker relies on (`Recovery._resume_streams` sends
  `on_rebalance_complete` before it resumes fetching): the digest of the upstream source. When it
  changes, re-read the upstream code, bring the copy in line, then update the digest;
- private attributes of a built consumer, and the partition assignor Faust picks.
The order of the rebalance signals is also checked on a real broker:
`tests/integration/worker/test_rebalance_signals.py`.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# dotted path -> (its signature as `inspect.signature` prints it, where the worker relies on it)
SIGNATURES: dict[str, tuple[str, str]] = {
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._create_worker_consumer": (
        "(self, transport: 'Transport') -> aiokafka.consumer.consumer.AIOKafkaConsumer",
        "transport.py overrides it (fetch wait, assignor check)"),
    "faust.transport.drivers.aiokafka.Consumer._new_consumer_thread": (
        "(self) -> 'AIOKafkaConsumerThread'", "transport.py overrides it"),
    "faust.App._new_transport": ("(self) -> faust.types.transports.TransportT", "transport.App overrides it"),
    "faust.transport.consumer.Consumer._get_active_partitions": (
        "(self) -> Set[faust.types.tuples.TP]", "hold/release edit the set it returns"),
    "faust.transport.consumer.Consumer._set_active_tps": (
        "(self, tps: Set[faust.types.tuples.TP]) -> Set[faust.types.tuples.TP]", "overridden: held stay out"),
    "faust.transport.consumer.Consumer.on_buffer_drop": (
        "(self, tp: faust.types.tuples.TP) -> None", "overridden: held stay out"),
    "faust.transport.consumer.Consumer.resume_partitions": (
        "(self, tps: Iterable[faust.types.tuples.TP]) -> None", "overridden: held stay out"),
    "faust.transport.consumer.Consumer._wait_next_records": (
        "(self, timeout: float) -> Tuple[Optional[Mapping[faust.types.tuples.TP, List[Any]]], "
        "Optional[Set[faust.types.tuples.TP]]]", "the getmany fork calls it"),
    "faust.transport.consumer.Consumer._to_message": (
        "(self, tp: faust.types.tuples.TP, record: Any) -> faust.types.tuples.ConsumerMessage",
        "the getmany fork calls it"),
    "faust.transport.consumer.Consumer._add_gap": (
        "(self, tp: faust.types.tuples.TP, offset_from: int, offset_to: int) -> None", "the intake read calls it"),
    "faust.transport.consumer.Consumer.perform_seek": ("(self) -> None", "the getmany fork calls it"),
    "faust.transport.consumer.Consumer.force_commit": (
        "(self, topics: Optional[AbstractSet[Union[str, faust.types.tuples.TP]]] = None, "
        "start_new_transaction: bool = True) -> bool", "app.py commits at revocation"),
    "faust.sensors.monitor.Monitor.track_tp_end_offset": (
        "(self, tp: faust.types.tuples.TP, offset: int) -> None", "the getmany fork keeps Faust's lag figures"),
    "faust.assignor.PartitionAssignor.external_topics_metadata": (
        "(self) -> MutableMapping[str, MutableMapping[str, List[int]]]", "the lookup finds owners with it"),
    "mode.Worker._schedule_shutdown": ("(self, signal: signal.Signals) -> None", "shutdown.BoundedWorker overrides it"),
    "mode.utils.futures.notify": ("(fut: Optional[_asyncio.Future], result: Any = None) -> None",
                                  "the ack fork wakes Faust's committer"),
}

# dotted path -> sha256 (first 16 hex digits) of its upstream source, copied or relied on for its order
SOURCES: dict[str, str] = {
    "faust.transport.consumer.Consumer.getmany": "4b168d84882a70d6",  # forked: TunedConsumer.getmany
    "faust.transport.consumer.Consumer._drain_messages": "44a2500309e83c63",  # forked: TunedConsumer._read
    "faust.transport.consumer.Consumer.ack": "5fcf41cf45153475",  # forked: TunedConsumer.acknowledge
    "faust.tables.recovery.Recovery._resume_streams": "d986a6710c1aca98",  # signal before resume
    "faust.tables.recovery.Recovery.on_recovery_completed": "6ef567acf072e46d",  # the same, after a restore
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad",
}

# upstream behaviour relied on by its text: dotted path -> (a line its source holds, where the worker relies on it)
SOURCE_TEXTS: dict[str, tuple[str, str]] = {
    "aiokafka.producer.producer.AIOKafkaProducer._partition": (
        '"Unrecognized partition"', "send_errors.py retries a send to a partition its metadata lacks"),
}

# private attributes of Faust's consumer that the forks read and write, and their types
CONSUMER_ATTRIBUTES = {"_read_offset": dict, "_committed_offset": dict, "_acked_index": dict, "_acked": dict,
                       "_n_acked": int, "_paused_partitions": set, "_buffered_partitions": set}


def resolve(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(path)


@pytest.mark.parametrize("path", sorted(SIGNATURES))
def test_a_relied_on_name_keeps_its_signature(path: str) -> None:
    expected, why = SIGNATURES[path]
    try:
        found = str(inspect.signature(resolve(path)))
    except AttributeError:
        pytest.fail(f"{path} is gone upstream ({why})")
    assert found == expected, f"{path} changed upstream ({why}): re-read it, then update this module"


@pytest.mark.parametrize("path", sorted(SOURCES))
def test_copied_or_ordered_upstream_code_is_unchanged(path: str) -> None:
    digest = hashlib.sha256(inspect.getsource(resolve(path)).encode()).hexdigest()[:16]
    assert digest == SOURCES[path], (f"{path} changed upstream: bring worker/transport.py's copy (or the order "
                                     "it relies on) in line, then update the digest here")


@pytest.mark.parametrize("path", sorted(SOURCE_TEXTS))
def test_relied_on_upstream_text_is_there(path: str) -> None:
    text, where = SOURCE_TEXTS[path]
    assert text in inspect.getsource(resolve(path)), f"{path} changed: {where}"


def test_the_rebalance_signal_comes_before_fetching_resumes() -> None:
    """What `on_rebalance_complete` relies on, read in the source (the broker test shows it live)."""
    for path in ("faust.tables.recovery.Recovery._resume_streams",
                 "faust.tables.recovery.Recovery.on_recovery_completed"):
        source = inspect.getsource(resolve(path))
        assert source.index("on_rebalance_complete.send()") < source.index("resume_partitions(") \
            < source.index("resume_flow()"), path


def test_aiokafka_reads_the_fetch_wait_the_worker_sets_when_it_starts() -> None:
    from aiokafka import AIOKafkaConsumer

    assert "self._fetch_max_wait_ms" in inspect.getsource(AIOKafkaConsumer.start)
    assert inspect.signature(AIOKafkaConsumer).parameters["fetch_max_wait_ms"].default == 500


def test_the_ack_lock_faust_commits_under_is_where_the_fork_takes_it() -> None:
    from faust.types import tuples

    from stream_filter.worker import transport

    assert transport.ack_lock is tuples.ack_lock
    assert "with ack_lock" in inspect.getsource(resolve("faust.transport.consumer.Consumer.ack"))


@contextmanager
def built_consumer(**overrides: Any) -> Iterator[tuple[Any, Any]]:
    """The worker's Faust app and the aiokafka consumer its consumer thread builds (never started)."""
    from stream_filter.settings import Settings
    from stream_filter.worker.faust_options import faust_options
    from stream_filter.worker.transport import App

    settings = Settings(app_id=f"contract-{len(overrides)}")
    app = App(settings.app_id, fetch_max_wait_ms=100, **{**faust_options(settings), **overrides})
    thread = app.consumer._thread
    try:
        yield app, thread
    finally:
        thread.thread_loop.close()  # made for the consumer thread, which never ran


def test_the_consumer_carries_the_private_state_the_forks_use() -> None:
    with built_consumer() as (app, _):
        consumer = app.consumer
        for name, kind in CONSUMER_ATTRIBUTES.items():
            assert isinstance(getattr(consumer, name), kind), name
        assert isinstance(app.monitor.stream_inbound_time, dict)
        assert isinstance(app.consumer_generation_id, int)
        assert callable(app.topics.acks_enabled_for)


def test_faust_assigns_partitions_with_its_own_assignor() -> None:
    from faust.assignor import PartitionAssignor

    async def strategy() -> Any:
        with built_consumer() as (app, thread):
            client = thread._create_worker_consumer(app.transport)
            try:
                return app, client._partition_assignment_strategy
            finally:
                await client.stop()

    app, chosen = asyncio.run(strategy())
    assert type(app.assignor) is PartitionAssignor and list(chosen) == [app.assignor]


# the refused client is never closed (the worker stops there): its warning is collected here, not later
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_round_robin_is_refused_when_a_setting_would_bring_it_back() -> None:
    async def build() -> None:
        with built_consumer(table_standby_replicas=0) as (app, thread):
            thread._create_worker_consumer(app.transport)

    with pytest.raises(RuntimeError, match="PartitionAssignor"):
        asyncio.run(build())
    gc.collect()


def test_pinned_policy_digests_and_decision_id() -> None:
    """The policy digest hashes pydantic's JSON of the policy: an upgrade that changed that output
    would change every decision id (and replays would no longer be recognised). A pack edited on
    purpose changes its line here too (2026-12-08: the digest leaves out the included packs' names, so
    `default`, which includes two, changed once)."""
    from stream_filter.core.contracts.decision import decision_id
    from stream_filter.core.policy.files import load_policy

    digests = {name: load_policy(name).digest for name in ("akar-2021", "default", "permendag-31-2023",
                                                           "shopee-13-2021")}
    assert digests == {"akar-2021": "4102a921ace8005a", "default": "38c19dbf53374302",
                       "permendag-31-2023": "2b3bb83b6370ded2", "shopee-13-2021": "21a07563956185cb"}
    assert decision_id("listing-1", "event-1", load_policy("default").ref) == "8c0fce6b-73c3-5d83-b57c-94d8960b69b5"
