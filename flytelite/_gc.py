"""Garbage collection while runs are in progress.

A run allocates a few small objects per call; with CPython's default
thresholds the cyclic collector then runs every few hundred calls and rescans
everything that existed before the run. While at least one run is in progress
in the process, objects older than the first run are frozen (left out of
collections) and young collections run less often. Both are undone when the
last run ends. Garbage is still collected during a run, just in larger batches.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["during_run"]

_YOUNG_THRESHOLD = 20_000
_lock = threading.Lock()
_runs = 0
_saved: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def during_run() -> Iterator[None]:
    global _runs, _saved
    with _lock:
        _runs += 1
        if _runs == 1:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(_saved[0], _YOUNG_THRESHOLD), *_saved[1:])
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
