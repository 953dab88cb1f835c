"""A bounded memory of recent event ids, to tell a re-published event from a replay.

Why both: after a crash the worker re-reads records it already decided (a replay, same partition
and offset): those must be decided again, giving the same decision_id. An ingest pipeline that
publishes the same event_id twice (a different offset) is a duplicate: it is dead-lettered as
`DUPLICATE_EVENT`, so downstream never sees two decisions for one event. The memory is per worker
and bounded (oldest forgotten first); it is not shared across restarts, which only means a
duplicate spanning a restart is decided twice, with the same decision_id.
"""

from __future__ import annotations

from collections import OrderedDict

Position = tuple[str, int, int | None]  # topic, partition, offset (None: not read from a topic)


class RecentEvents:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, Position] = OrderedDict()

    def duplicate_of(self, event_id: str, position: Position | None) -> Position | None:
        """The earlier position of this event id if this record is a duplicate; records it otherwise."""
        if self.capacity <= 0 or position is None:
            return None
        earlier = self._seen.get(event_id)
        if earlier is not None and earlier != position:
            return earlier
        self._seen[event_id] = position
        self._seen.move_to_end(event_id)
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return None
