"""Faust's Kafka transport, with the consumer's fetch wait the worker sets, and partitions held.

Why: faust-streaming builds its aiokafka consumer with `fetch_max_wait_ms=1500` written into
`AIOKafkaConsumerThread._create_worker_consumer` (faust/transport/drivers/aiokafka.py), with no
setting. aiokafka keeps one fetch request in flight per broker: while the partitions it holds
records for are being decided, the request for the others waits up to that long at the broker
when they have nothing new, and nothing else is fetched meanwhile, so the agent runs dry. The
subclasses below change that one argument and nothing else; `tests/unit/worker/test_transport.py`
checks that the consumer Faust starts carries the value.

Held partitions: a partition whose listing states are still loading is not fetched until they are
(`hold`, `release`), so a batch never waits under the lock for a load while the other partitions
have records. Faust fetches only its consumer's "active" partitions (faust/transport/consumer.py:
`_get_active_partitions`); it pauses every assigned partition during a rebalance and resumes them
all afterwards (`Recovery._resume_streams`), and a stream buffer that drains re-adds its partition
(`on_buffer_drop`): the overrides keep held partitions out through each of those.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from time import monotonic
from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from stream_filter.core.ports import SourceRecord
from stream_filter.worker.intake import Intake


def transport_with(fetch_max_wait_ms: int) -> type[driver.Transport]:
    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            if self._assignor is not self.app.assignor:
                # Faust falls back to round-robin when no table wants standbys: the verdicts would no
                # longer share their listings' partitions and the lookup would lose the owners' URLs
                raise RuntimeError(f"Faust chose {self._assignor!r} as the partition assignor, not its own "
                                   "PartitionAssignor: `table_standby_replicas` must stay above 0 (faust_options)")
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read by start(), which builds the fetcher
            return consumer

    class TunedConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        @property
        def held(self) -> set[TP]:
            return self.__dict__.setdefault("_held", set())

        def hold(self, tps: Iterable[TP]) -> None:
            """Stop fetching these partitions until `release` (their states are loading)."""
            tps = set(tps)
            self.held.update(tps)
            self._get_active_partitions().difference_update(tps)

        def release(self, tps: Iterable[TP]) -> None:
            """Fetch them again, unless Faust has paused them itself (a rebalance resumes those)."""
            tps = set(tps)
            self.held.difference_update(tps)
            assigned, paused = self.assignment(), self._paused_partitions
            self._get_active_partitions().update(tp for tp in tps if tp in assigned and tp not in paused)

        def _set_active_tps(self, tps: set[TP]) -> set[TP]:
            active: set[TP] = super()._set_active_tps(tps)
            active.difference_update(self.held)
            return active

        def resume_partitions(self, tps: Iterable[TP]) -> None:
            super().resume_partitions(tps)
            self._get_active_partitions().difference_update(self.held)

        def on_buffer_drop(self, tp: TP) -> None:
            super().on_buffer_drop(tp)
            if tp in self.held:
                self._get_active_partitions().discard(tp)

        @property
        def intakes(self) -> dict[str, Intake]:
            """Topics whose records go to an `Intake` in batches instead of Faust's per-record path."""
            return self.__dict__.setdefault("_intakes", {})

        async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # noqa: ASYNC109 - Faust's
            """faust/transport/consumer.py `Consumer.getmany`, with the records of `intakes` topics put
            there a fetched partition at a time (the same checks: flow, generation, active partitions)."""
            records, active = await self._wait_next_records(timeout)
            if records is None or self.should_stop:
                return
            if not self.flow_active:  # as Faust: a rebalance began; its recovery seeks to the committed offsets
                try:
                    await self.perform_seek()
                except Exception as exc:  # noqa: BLE001 - as Faust: logged, the recovery seeks again
                    self.log.warning(f"exception performing seek when flow not active {exc}")
                return
            generation = self.app.consumer_generation_id
            intakes = {topic: (intake, intake.generation) for topic, intake in self.intakes.items()}
            for tp, fetched in records.items():
                if not self.flow_active or self.app.consumer_generation_id != generation:
                    break
                if active is not None and tp not in active and tp not in self._buffered_partitions:
                    continue
                target = intakes.get(tp.topic)
                if target is None:
                    for record in fetched:  # Faust's own path
                        yield tp, self._to_message(tp, record)
                    continue
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))  # Faust's lag figures
                fresh = await self._read(tp, fetched)
                if fresh and not await target[0].put(target[1], fresh):
                    break  # partitions were revoked while it waited for room

        async def _read(self, tp: TP, fetched: list[Any]) -> list[Any]:
            """`_drain_messages`' bookkeeping: the read offset, gaps (offsets the log does not hold, as
            after compaction or transaction markers) and records already read."""
            last = self._read_offset[tp]
            first, final = (fetched[0].offset, fetched[-1].offset) if fetched else (0, 0)
            if fetched and final - first == len(fetched) - 1 and (last is None or 0 <= first - last <= 1):
                self._read_offset[tp] = final  # the usual fetch: contiguous, right after the last read
                return fetched
            fresh = []
            for record in fetched:
                offset = record.offset
                if last is None or offset >= last:
                    # `last is not None`: Faust's own test (`r_offset` truthy) misses a gap after offset 0
                    if last is not None and offset - last > 1 and self.app.topics.acks_enabled_for(tp.topic):
                        await self._add_gap(tp, last + 1, offset)
                    fresh.append(record)
                    last = offset
            self._read_offset[tp] = last
            return fresh

        def acknowledge(self, records: Iterable[SourceRecord]) -> None:
            """`Consumer.ack` for records taken from an intake, once their outputs are acknowledged:
            Faust's committer then commits past them. Also tells Faust's monitor that the partitions'
            records are being processed (its stall check, `verify_event_path`, reads that time).
            The bookkeeping is per partition; per record only the offset is collected."""
            offsets: dict[tuple[str, int], list[int]] = {}
            for record in records:
                if record.offset is not None:
                    offsets.setdefault((record.topic, record.partition), []).append(record.offset)
            inbound, now = self.app.monitor.stream_inbound_time, monotonic()
            with ack_lock:
                for (topic, partition), taken in offsets.items():
                    tp = TP(topic, partition)
                    inbound[tp] = now
                    committed = self._committed_offset[tp]
                    index = self._acked_index[tp]
                    new = [o for o in taken if (committed is None or o >= committed) and o not in index]
                    index.update(new)
                    self._acked[tp].extend(new)
                    self._n_acked += len(new)
                notify(self._waiting_for_ack)

    class Transport(driver.Transport):
        Consumer = TunedConsumer

    return Transport


class App(faust.App):
    """A Faust app whose consumer transport is `transport_with(...)`: the aiokafka driver always (the
    broker URL's scheme, which Faust would look up, is `kafka://` in `faust_options`)."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self._transport_class = transport_with(fetch_max_wait_ms)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return self._transport_class(self.conf.broker_consumer, self)
