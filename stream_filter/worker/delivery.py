"""Sending decisions with confirmed delivery, one batch at a time.

Why batches: Faust's per-message send path is its main cost; queueing a whole batch and waiting for
all its acknowledgements once costs one wait per batch instead of one per record. The batch's
events are acknowledged to Faust (their offsets become committable) only after this returns, so a
crash replays the batch instead of losing it. A record the broker refuses as too large is replaced
by a dead letter carrying the original input bytes; other failures are retried until they succeed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from time import perf_counter

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from stream_filter.core.batch import Pair
from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.ports import BatchSender, OutputTopic, SourceRecord
from stream_filter.core.route import Output, Routed, dead_letter
from stream_filter.worker.metrics import Metrics

log = logging.getLogger("stream_filter.worker.delivery")
SEND_RETRY_DELAY_S = 1.0  # broker unreachable: retry the same record, never skip it
SEND_ERRORS = (KafkaError, ProducerSendError)  # Faust rewraps client errors raised while sending


class Deliverer:
    def __init__(self, outputs: Mapping[Output, OutputTopic], metrics: Metrics,
                 batches: BatchSender | None = None) -> None:
        self.outputs = outputs
        self.metrics = metrics
        self.batches = batches  # one Kafka batch per partition (record_batches.py); else one send per record

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
        return await self.outputs[routed.output].send(key=routed.key, value=routed.value, headers=routed.headers,
                                                      partition=routed.partition)

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
        """One record: send, wait for the ack, dead-letter if refused as too large, retry otherwise.

        Never raises: an exception here would escape the agent, and Faust would ack the batch."""
        source = (msg.topic, msg.partition, msg.offset)
        while True:
            try:
                await (await self._queue(routed))
                self.metrics.produced.labels(routed.output.value).inc()
                return
            except Exception as exc:  # noqa: BLE001 - nothing may escape to the agent loop
                error_seen = exc
            self.metrics.send_failures.inc()
            if routed.output is Output.SHADOW_DIFF:  # informational: never block or dead-letter for it
                log.warning("shadow diff not sent (%s)", type(error_seen).__name__)
                return
            too_large = _too_large(error_seen)
            if routed.output is Output.STATE and too_large:  # the decision went out; only memory is lost
                log.error("a listing state on partition %s refused as too large; not kept", routed.partition)
                log.debug("the listing: %r", routed.key)  # ids stay below DEBUG
                return
            if isinstance(error_seen, SEND_ERRORS) and not too_large:  # broker trouble: the same record again
                log.warning("send to %s failed (%s); retrying", routed.output.value, type(error_seen).__name__)
                await asyncio.sleep(SEND_RETRY_DELAY_S)
                continue
            code = ErrorCode.OUTPUT_TOO_LARGE if too_large else ErrorCode.PROCESSING_ERROR
            self.metrics.dead_letters.labels(code.value).inc()
            reason = f"{type(error_seen).__name__}: {error_seen}"
            error = Failure(code, f"{routed.output.value} record refused: {reason}")
            if routed.output is not Output.DEAD_LETTER:
                routed = dead_letter(msg.key, msg.value, error, source)  # the original bytes, untouched
            elif routed.value or routed.key:  # even those refused: keep only the source coordinates
                routed = dead_letter(None, b"", error, source)
                routed.headers.append(("original-value-omitted", b"true"))
            else:
                log.error("dead letter for %s/%s@%s refused even without key and value", *source)
                return


def _error(result: object) -> BaseException | None:
    return result if isinstance(result, BaseException) else None


def _too_large(exc: BaseException) -> bool:
    """Faust wraps the client's error in ProducerSendError; the cause tells what happened."""
    return isinstance(exc, MessageSizeTooLargeError) or isinstance(exc.__cause__, MessageSizeTooLargeError)
