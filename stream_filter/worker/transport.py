"""Faust's Kafka transport, with the consumer's fetch wait the worker sets.

Why: faust-streaming builds its aiokafka consumer with `fetch_max_wait_ms=1500` written into
`AIOKafkaConsumerThread._create_worker_consumer` (faust/transport/drivers/aiokafka.py), with no
setting. aiokafka keeps one fetch request in flight per broker: while the partitions it holds
records for are being decided, the request for the others waits up to that long at the broker
when they have nothing new, and nothing else is fetched meanwhile, so the agent runs dry. The
subclasses below change that one argument and nothing else; `tests/unit/worker/test_transport.py`
checks that the consumer Faust starts carries the value.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver


def transport_with(fetch_max_wait_ms: int) -> type[driver.Transport]:
    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read by start(), which builds the fetcher
            return consumer

    class TunedConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

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
