"""An output topic sent through Faust's transport producer.

Why not `Topic.send`: its per-message FutureMessage and callback machinery cost about a fifth of the
worker's CPU; one aiokafka send per record through the producer Faust already runs does not. The
worker creates every output topic before it starts (`kafka/topics.py`), so no declaration is needed.
"""

from __future__ import annotations

from collections.abc import Awaitable

import faust


class ProducerTopic:
    def __init__(self, app: faust.App, name: str) -> None:
        self.app, self.name = app, name

    async def send(self, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
                   partition: int | None = None) -> Awaitable[object]:
        return await self.app.producer.send(self.name, key, value, partition, None, headers)
