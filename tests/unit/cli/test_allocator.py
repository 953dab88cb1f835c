"""The worker's arena limit: threads that allocate share at most the arenas asked for."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from stream_filter.cli.allocator import limit_arenas

# Six threads allocate at once (blocks above pymalloc's size go to malloc); glibc's malloc_stats
# then prints one "Arena N:" section per arena on stderr.
SCRIPT = """
import ctypes, ctypes.util, sys, threading
from stream_filter.cli.allocator import limit_arenas
print(limit_arenas(int(sys.argv[1])))
ready = threading.Barrier(6)
def allocate():
    ready.wait()
    kept = [bytearray(100_000) for _ in range(20)]
    ready.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
"""


def _arenas(limit: int) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(limit)], capture_output=True, text=True, check=True)
    return done.stdout.strip(), done.stderr.count("Arena ")


def test_threads_share_the_arenas_asked_for() -> None:
    assert _arenas(2) == ("True", 2)
    applied, unlimited = _arenas(0)
    assert applied == "False" and unlimited > 2  # glibc's default gave the threads arenas of their own


def test_nothing_is_asked_for_zero() -> None:
    assert limit_arenas(0) is False


class _Started(Exception):
    """Stops the worker command right after it asked for arenas."""


def test_the_worker_asks_for_its_setting_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_filter.cli import online

    asked: list[int] = []

    def ask(count: int) -> bool:
        asked.append(count)
        raise _Started

    monkeypatch.setenv("STREAM_FILTER_MALLOC_ARENAS", "3")
    monkeypatch.setattr(online, "limit_arenas", ask)
    with pytest.raises(_Started):
        online.cmd_worker(argparse.Namespace())
    assert asked == [3]
