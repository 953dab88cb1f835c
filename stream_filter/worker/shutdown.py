"""Ending the worker within a bound, and never by acknowledging a batch that was not delivered.

Why not Faust's own stop alone: on SIGTERM the worker seals its listing states once the batch in
flight is delivered (`Worker.on_before_shutdown` waits for it under the lock), and a batch is
delivered only when every output is acknowledged, so with the broker down or an output refusing
writes the stop never ends. And a decision loop
cancelled in the middle of a batch exits at once (`EXIT_BATCH_ABANDONED`): the batch is never
acknowledged, and its next owner replays it.

So: a SIGTERM starts a timer; past `shutdown_timeout_s` the process exits at once (`os._exit`: no
Python clean-up that could commit anything). The consumer group hands its partitions to another
worker after the session timeout, which replays every record not committed: nothing is lost.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

import faust

log = logging.getLogger("stream_filter.worker")
EXIT_OUTPUT_BLOCKED = 5
EXIT_SHUTDOWN_TIMEOUT = 6
EXIT_BATCH_ABANDONED = 7


def hard_exit(code: int, message: str) -> None:
    """Say why on stderr (and in the log), then end the process without any clean-up."""
    log.critical("%s", message)
    print(f"stream-filter worker: {message}", file=sys.stderr, flush=True)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(code)


class BoundedWorker(faust.Worker):
    """Faust's worker, with a deadline on the stop that a signal starts.

    Overrides `mode.Worker._schedule_shutdown` (mode/worker.py), the one place both SIGTERM and
    SIGINT go through; the stop itself stays Faust's."""

    def __init__(self, *args: Any, shutdown_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shutdown_timeout_s = shutdown_timeout_s
        self._deadline: threading.Timer | None = None

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self._deadline is None:
            bound = self.shutdown_timeout_s
            self._deadline = threading.Timer(bound, hard_exit, (EXIT_SHUTDOWN_TIMEOUT, (
                f"stop not finished within {bound:.0f} s after {signal.name} (a batch not acknowledged by the "
                "broker?); exiting: the next owner of its partitions replays what was not committed")))
            self._deadline.daemon = True
            self._deadline.start()
        super()._schedule_shutdown(signal)
