"""Garbage collection for commands that decide many listings (the worker, offline `classify`).

Why: a decision allocates hundreds of short-lived containers, almost none in cycles. Python collects
its youngest generation every 700 allocations, i.e. several times per listing, and each collection
also walks whatever survived; collecting every YOUNG_OBJECTS_PER_COLLECTION allocations gives the
same memory back with far fewer walks (docs/performance.md).
"""

from __future__ import annotations

import gc

YOUNG_OBJECTS_PER_COLLECTION = 20_000


def collect_young_less_often() -> None:
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])
