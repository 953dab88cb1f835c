"""Sending decisions with confirmed delivery, one batch at a time.

Why batches: Faust's per-message send path is its main cost; queueing a whole batch and waiting for
all its acknowledgements once costs one wait per batch instead of one per record. The batch's
events are acknowledged to Faust (their offsets become committable) only after this returns, so a
crash replays the batch instead of losing it. A record the broker refuses as too large is replaced
by a dead letter carrying the original input bytes; broker errors are retried (a permanent one up
to a bound, then the worker exits: `output_health.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from time import perf_counter

from stream_filter.core.batch import Pair
from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.ports import BatchSender, OutputTopic, SourceRecord
from stream_filter.core.route import Output, Routed, dead_letter
from stream_filter.kafka.record_batches import wire_value
from stream_filter.kafka.send_errors import SendError, classify, describe
from stream_filter.worker.metrics import Metrics
from stream_filter.worker.output_health import Blocked, OutputHealth

log = logging.getLogger("stream_filter.worker.delivery")
SEND_RETRY_DELAY_S = 0.5  # the first pause before the same record again (doubling, never skipped)
MAX_RETRY_DELAY_S = 10.0
PROBE_AFTER_S = 10.0  # a retriable failure this old: ask the broker whether the topic is there and writable


TopicProbe = Callable[[str], Awaitable[str | None]]  # why a topic cannot be written, if the broker says


def _never(blocked: Blocked) -> None:
    raise AssertionError("no exit bound set")


class Deliverer:
    def __init__(self, outputs: Mapping[Output, OutputTopic], metrics: Metrics,
                 batches: BatchSender | None = None, *, names: Mapping[Output, str] | None = None,
                 health: OutputHealth | None = None, probe: TopicProbe | None = None,
                 exit_after_s: float = 0.0, on_blocked: Callable[[Blocked], None] = _never,
                 frames: Mapping[Output, bytes] | None = None) -> None:
        self.outputs = outputs
        self.frames = frames or {}  # framed output (kafka/record_batches.wire_value)
        self.metrics = metrics
        self.batches = batches  # one Kafka batch per partition (record_batches.py); else one send per record
        self.names = names or {}
        self.health = health or OutputHealth()
        self.probe = probe
        self.exit_after_s = exit_after_s  # 0: a permanent error is retried for ever (and reported)
        self.on_blocked = on_blocked

    async def deliver_decided(self, outputs: Sequence[Pair], changelog: Sequence[Pair]) -> None:
        """A batch of input records: the one ordering rule for decisions and listing states.

        States first: a state the changelog holds marks the events it applied, and a replay of those
        sends again what they sent (`core/listing_state.py`), so a crash after the states and before
        the decisions loses nothing, and a policy change before the replay cannot decide them anew.
        Tombstones (deleted listings) last: a deleted listing has no state to replay from, so its
        withdrawal must be acknowledged before its state goes (a replay then withdraws it again)."""
        await self.deliver_batch([pair for pair in changelog if pair[0].value is not None])
        await self.deliver_batch(outputs)
        await self.deliver_batch([pair for pair in changelog if pair[0].value is None])

    async def deliver_reevaluated(self, outputs: Sequence[Pair], changelog: Sequence[Pair]) -> None:
        """A chunk of re-evaluated listings: decisions first, states after. No input record replays a
        re-evaluation; the next pass does, from the state, with the same ids, should a crash fall in
        between."""
        await self.deliver_batch(outputs)
        await self.deliver_batch(changelog)

    async def _queue(self, routed: Routed) -> Awaitable[object]:
        return await self.outputs[routed.output].send(key=routed.key, value=wire_value(routed, self.frames),
                                                      headers=routed.headers, partition=routed.partition)

    async def deliver_batch(self, batch: Sequence[Pair]) -> None:
        """Queue every record, then wait for all acknowledgements; failed ones go the slow, careful way."""
        if not batch:
            return
        started = perf_counter()
        outcomes = await (self.batches.send([r for r, _ in batch]) if self.batches else self._send_each(batch))
        first_failure = next((i for i, o in enumerate(outcomes) if isinstance(o, BaseException)), len(batch))
        produced = Counter(routed.output.value for routed, _ in batch[:first_failure])
        for output, count in produced.items():
            self.metrics.produced.labels(output).inc(count)
        # From the first failure on, send again one by one and in order, even what already succeeded:
        # the latest copy of every key is then in order (the earlier copies are harmless replays).
        # Each is sent alone: a batch the broker refused as too large may have failed records that fit.
        for routed, msg in batch[first_failure:]:
            await self.deliver(routed, msg)
        # "states": a batch's state records (before its decisions) or tombstones (after them)
        kind = "states" if batch[0][0].output is Output.STATE else "decisions"
        self.metrics.delivery.labels(kind).observe(perf_counter() - started)

    async def _send_each(self, batch: Sequence[Pair]) -> list[BaseException | None]:
        futures: list[Awaitable[object] | BaseException] = []
        for routed, _ in batch:
            try:
                futures.append(await self._queue(routed))
            except Exception as exc:  # noqa: BLE001 - handled per record in deliver()
                futures.append(exc)
        pending = [f for f in futures if not isinstance(f, BaseException)]
        results = iter(await asyncio.gather(*pending, return_exceptions=True))
        return [fut if isinstance(fut, BaseException) else _error(next(results)) for fut in futures]

    async def deliver(self, routed: Routed, msg: SourceRecord) -> None:
        """One record: send and wait for the ack; on failure, by kind (`kafka/send_errors.py`): retry
        with backoff (broker trouble, or a permanent error until the exit bound), dead-letter (too
        large for the broker, or not a Kafka error), or drop (shadow diffs, too-large states).

        Never raises: an exception here would end the decision loop (and the worker with it)."""
        source = (msg.topic, msg.partition, msg.offset)
        topic = self.names.get(routed.output, routed.output.value)
        attempt = 0
        while True:
            try:
                await (await self._queue(routed))
                self.metrics.produced.labels(routed.output.value).inc()
                if self.health.delivered(topic):
                    self.metrics.output_blocked.labels(routed.output.value).set(0)
                    log.warning("send to %s works again", topic)
                return
            except Exception as exc:  # noqa: BLE001 - nothing may escape to the decision loop
                error_seen = exc
            kind = classify(error_seen)
            self.metrics.send_failures.labels(kind.value).inc()
            if routed.output is Output.SHADOW_DIFF:  # informational: never block or dead-letter for it
                log.warning("shadow diff not sent (%s)", type(error_seen).__name__)
                return
            if routed.output is Output.STATE and kind is SendError.TOO_LARGE:  # only memory is lost
                log.error("a listing state on partition %s refused as too large; not kept", routed.partition)
                log.debug("the listing: %r", routed.key)  # ids stay below DEBUG
                return
            if kind in (SendError.RETRIABLE, SendError.PERMANENT):  # the same record again, after a pause
                await self._blocked(topic, routed.output, kind, describe(error_seen))
                await asyncio.sleep(min(SEND_RETRY_DELAY_S * 2**attempt, MAX_RETRY_DELAY_S))
                attempt += 1
                continue
            code = ErrorCode.OUTPUT_TOO_LARGE if kind is SendError.TOO_LARGE else ErrorCode.PROCESSING_ERROR
            self.metrics.dead_letters.labels(code.value).inc()
            error = Failure(code, f"{routed.output.value} record refused: {describe(error_seen)}")
            if routed.output is not Output.DEAD_LETTER:
                routed = dead_letter(msg.key, msg.value, error, source)  # the original bytes, untouched
            elif routed.value or routed.key:  # even those refused: keep only the source coordinates
                routed = dead_letter(None, b"", error, source)
                routed.headers.append(("original-value-omitted", b"true"))
            else:
                log.error("dead letter for %s/%s@%s refused even without key and value", *source)
                return
            topic = self.names.get(routed.output, routed.output.value)

    async def _blocked(self, topic: str, output: Output, kind: SendError, error: str) -> None:
        """Note a failed send to `topic`; ask whether a lasting retriable failure is in fact permanent
        (a deleted topic looks like a metadata timeout); past the bound, a permanent one ends the worker."""
        blocked, news = self.health.failed(topic, kind, error)
        lasting = self.health.failing_for(blocked)
        if blocked.kind is SendError.RETRIABLE and self.probe and lasting >= PROBE_AFTER_S:
            found = await self.probe(topic)
            if found:
                blocked, news = self.health.failed(topic, SendError.PERMANENT, found)
        self.metrics.output_blocked.labels(output.value).set(1)
        if news and blocked.kind is SendError.PERMANENT:
            log.error("cannot write to %s: %s; retrying%s", topic, blocked.error,
                      f", exiting after {self.exit_after_s:.0f} s" if self.exit_after_s else "")
        elif news:
            log.warning("send to %s failed (%s); retrying", topic, blocked.error)
        if blocked.kind is SendError.PERMANENT and self.exit_after_s and lasting >= self.exit_after_s:
            self.on_blocked(blocked)


def _error(result: object) -> BaseException | None:
    return result if isinstance(result, BaseException) else None


