"""Tracebacks that show the user's code: the frames of flytelite's machinery are hidden.

A failing task's exception travels through the engine, anyio's worker threads and
asyncio before the command line prints it; an import error passes through
importlib. Those frames say nothing about the user's mistake, so they are left
out, as pytest and rich leave out their own. `--traceback full` shows them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import sysconfig
import traceback
from typing import IO

__all__ = ["is_hidden", "print_exception"]

# Packages whose frames are machinery, and modules of the standard library that are.
_HIDDEN_PACKAGES = ("flytelite", "anyio", "asyncio", "importlib", "concurrent")
_HIDDEN_MODULES = ("contextlib.py", "threading.py", "runpy.py")


@functools.lru_cache(maxsize=1)
def _hidden() -> tuple[tuple[str, ...], frozenset[str]]:
    folders = []
    for name in _HIDDEN_PACKAGES:
        spec = importlib.util.find_spec(name)  # found, not imported
        for folder in (spec and spec.submodule_search_locations) or ():
            folders.append(os.path.abspath(folder) + os.sep)
    stdlib = sysconfig.get_paths()["stdlib"]
    files = frozenset(os.path.abspath(os.path.join(stdlib, name)) for name in _HIDDEN_MODULES)
    return tuple(folders), files


def is_hidden(filename: str) -> bool:
    """Whether a frame of `filename` belongs to flytelite's machinery, not the user's code."""
    if filename.startswith("<frozen "):
        return True
    folders, files = _hidden()
    path = os.path.abspath(filename)
    return path.startswith(folders) or path in files


def _trim(te: traceback.TracebackException, seen: set[int]) -> None:
    """Drop hidden frames from `te` and from the exceptions chained to it."""
    if id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(
        [frame for frame in te.stack if not is_hidden(frame.filename)]
    )
    for chained in (te.__cause__, te.__context__, *(getattr(te, "exceptions", None) or ())):
        if chained is not None:
            _trim(chained, seen)


def print_exception(exc: BaseException, *, full: bool = False, file: IO[str] | None = None) -> None:
    """Print `exc` with its traceback: the user's frames only, or every frame with `full`."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    if not full:
        _trim(te, set())
    print("".join(te.format()), end="", file=file or sys.stderr)
