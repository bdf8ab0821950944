"""`flyte.durable`: `sleep`, `time` and `now` that survive a retried task body.

Each is a `@flyte.trace` step, so when a task's body is retried the values its
failed attempt got are replayed: `durable.time()` returns the same time, and
`durable.sleep(s)` only sleeps for what is left of `s` since the first attempt
started sleeping. Each is callable from sync code and as `.aio(...)`.
"""

from __future__ import annotations

import asyncio
import time as _time
from datetime import datetime

from ._syncify import Dual
from ._trace import trace

__all__ = ["now", "sleep", "time"]


@trace
def _sleep_start() -> float:
    return _time.time()


def _sleep(seconds: float) -> None:
    remaining = _sleep_start() + seconds - _time.time()
    if remaining > 0:
        _time.sleep(remaining)


async def _sleep_aio(seconds: float) -> None:
    remaining = _sleep_start() + seconds - _time.time()
    if remaining > 0:
        await asyncio.sleep(remaining)


@trace
def _durable_time() -> float:
    return _time.time()


@trace
def _durable_now() -> datetime:
    return datetime.now()


sleep = Dual(
    _sleep,
    _sleep_aio,
    name="sleep",
    doc="Sleep `seconds`, counted from the first attempt that reached this point.",
)
time = Dual.plain(
    _durable_time,
    name="time",
    doc="`time.time()`, the same on every attempt of the task call.",
)
now = Dual.plain(
    _durable_now,
    name="now",
    doc="`datetime.now()`, the same on every attempt of the task call.",
)
