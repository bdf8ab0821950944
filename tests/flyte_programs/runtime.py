"""A Flyte 2 program that leans on what Flyte 2's local runner does not do.

`flyte.map` with `concurrency`, `timeout` and `Timeout(deadline=...)`,
`Cache(serialize=True)` with `behavior="override"`, and caching across runs.
Bodies log their executions to the file named by `RUNTIME_LOG`.
"""

import asyncio
import os
from datetime import timedelta

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="runtime", reusable=flyte.ReusePolicy(replicas=2))

_running = 0
_peak = 0


def note(line: str) -> None:
    path = os.environ.get("RUNTIME_LOG")
    if path:
        with open(path, "a") as log:
            log.write(line + "\n")


@env.task
async def slow_square(i: int) -> int:
    global _running, _peak
    _running += 1
    _peak = max(_peak, _running)
    await asyncio.sleep(0.15)
    _running -= 1
    return i * i


@env.task
async def fan_out(n: int, concurrency: int) -> tuple[list[int], int]:
    global _peak
    _peak = 0
    squares = [r async for r in flyte.map.aio(slow_square, range(n), concurrency=concurrency)]
    return squares, _peak


@env.task(timeout=timedelta(seconds=0.3))
async def nap(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "rested"


@env.task(retries=10, timeout=flyte.Timeout(deadline=timedelta(seconds=0.5)))
async def never_ready(x: int) -> int:
    await asyncio.sleep(0.05)
    raise RuntimeError("not ready")


@env.task
async def guarded(seconds: float) -> list[str]:
    out = []
    try:
        out.append(await nap(seconds))
    except flyte.errors.TaskTimeoutError as e:
        out.append(f"{type(e).__name__} code={e.code}")
    try:
        await never_ready(1)
    except flyte.errors.TaskTimeoutError as e:
        out.append(f"{type(e).__name__} code={e.code}")
    return out


@env.task(cache=flyte.Cache(behavior="override", serialize=True, version_override="1"))
async def build_index(name: str) -> str:
    note(f"build_index {name}")
    await asyncio.sleep(0.4)
    return f"index of {name}"


@env.task(cache=flyte.Cache(behavior="override", version_override="1"))
async def build_unserialized(name: str) -> str:
    note(f"build_unserialized {name}")
    await asyncio.sleep(0.4)
    return f"index of {name}"


@env.task(cache="auto")
async def expensive(x: int) -> int:
    note(f"expensive {x}")
    return x * 3


@env.task
async def cached_sum(n: int) -> int:
    return sum(await asyncio.gather(*(expensive(i) for i in range(n))))
