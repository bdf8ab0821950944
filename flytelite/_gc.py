"""Garbage collection while runs are in progress.

A run allocates a few small objects per call; with CPython's default
thresholds the cyclic collector then runs every few hundred calls and rescans
everything that existed before the run. While at least one run is in progress
in the process, objects older than the first run are frozen (left out of
collections) and young collections run less often. Both are undone when the
last run ends, leaving exactly the state the application had: an application
that froze objects itself keeps its permanent generation untouched. Garbage is
still collected during a run, just in larger batches.
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
_ours: tuple[int, int, int] = (700, 10, 10)
_froze = False


@contextmanager
def during_run() -> Iterator[None]:
    global _runs, _saved, _ours, _froze
    with _lock:
        _runs += 1
        if _runs == 1:
            _saved = gc.get_threshold()
            # An application that froze objects itself (the pre-fork idiom) keeps
            # exactly its own permanent generation: `unfreeze` cannot tell its
            # objects from ours, so the run then leaves freezing alone.
            _froze = gc.get_freeze_count() == 0
            if _froze:
                gc.freeze()
            _ours = (max(_saved[0], _YOUNG_THRESHOLD), _saved[1], _saved[2])
            gc.set_threshold(*_ours)
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                if gc.get_threshold() == _ours:  # not changed by the application meanwhile
                    gc.set_threshold(*_saved)
                if _froze:
                    gc.unfreeze()
