"""The C allocator's arenas, for the worker process.

Why: glibc gives threads that allocate at the same time arenas of their own (up to eight per core),
and each arena keeps memory it freed for reuse by its own threads. The worker runs several threads
that allocate (the event loop, Faust's consumer thread, RocksDB's flush and compaction threads), so
freed memory sits in several arenas at once, and the worker's peak RSS moved by several megabytes
between runs of the same load (docs/performance.md, Sweeps). A small, fixed number of arenas bounds what they
hold. It must be set before those threads start; `MALLOC_ARENA_MAX` in the environment does the same
for glibc, and this call wins over it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def limit_arenas(count: int) -> bool:
    """Ask glibc for at most `count` arenas. False when `count` is 0 (glibc's default) or the C
    library is not glibc (musl, macOS): the process then allocates as it would have."""
    if count <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no C library by that name, or one without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, count))
