"""`make run` as a newcomer sees it (`stream-filter demo`, on the test broker through
KAFKA_BOOTSTRAP_SERVERS, with this test's own topics): no warning or error line on the console,
progress while the worker comes up, one approved, one rejected and one review decision with their
reasons and evidence, live counts, and a summary after Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support import Names, free_port

COUNTS_WITHIN_S = 180.0  # the worker's start and 310 decisions; generous for a loaded CI machine
STOP_WITHIN_S = 60.0
NOISE = re.compile(r"warn|error|traceback|not found|exception", re.IGNORECASE)


def test_the_first_screen_shows_progress_three_examples_and_counts(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, **Names().env(kafka_bootstrap), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "STREAM_FILTER_WEB_PORT": str(free_port()), "STREAM_FILTER_DATA_DIR": str(tmp_path / "data")}
    seen: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "stream_filter", "demo"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout or ()]
                         + [lines.put(None)], daemon=True).start()
        try:
            deadline = time.monotonic() + COUNTS_WITHIN_S
            while not any(line.startswith("[") and "approved=" in line for line in seen):
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                assert line is not None, "demo ended early:\n" + "\n".join(seen)
                seen.append(line)
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(STOP_WITHIN_S)
        while (line := lines.get(timeout=5)) is not None:
            seen.append(line)
    text = "\n".join(seen)
    assert code == 0, text
    assert [line for line in seen if NOISE.search(line)] == [], text
    assert "[3/4] worker: starting" in text and re.search(r"ready in [\d.]+ s", text), text
    for outcome in ("APPROVED", "REJECTED", "REVIEW"):
        block = text[text.index(f"  {outcome} (decision "):]
        assert re.search(r"reasons:\n    [A-Z_]+: .+\n      basis: .+", block), block
        assert "origin: " in block, block
    assert re.search(r"summary: \d+ listings decided .*approved=\d+.*; worker stopped", text), text
