"""Sync and async tasks side by side.

    python examples/sync_and_async.py

Sync task bodies run in worker threads. From async code, `await task.aio(...)`
gives an awaitable of a sync task, so many of them run at once; from sync code
(a sync task's body), calling a task blocks until its result is ready.
"""

import asyncio
import time

import flytelite as fl

env = fl.TaskEnvironment("sync_and_async")


@env.task(cache=True, cache_version="1")
def load(n: int) -> list[int]:
    time.sleep(0.5)  # a blocking library call, say
    return list(range(n))


@env.task
async def double(x: int) -> int:
    await asyncio.sleep(0.1)
    return 2 * x


@env.task
def total(n: int) -> int:
    """A sync body calling tasks: each call blocks until done."""
    numbers = load(n)
    return sum(double(x) for x in numbers[:3]) + sum(numbers)


@env.task
async def main(sizes: list[int]) -> list[int]:
    # Sync tasks from async code: `.aio(...)`, gathered so they run concurrently.
    loaded = await asyncio.gather(*(load.aio(n) for n in sizes))
    totals = await asyncio.gather(*(total.aio(len(xs)) for xs in loaded))
    return totals


if __name__ == "__main__":
    started = time.perf_counter()
    run = fl.run(main, sizes=[3, 4, 5])
    print(run.outputs)
    print(f"took {time.perf_counter() - started:.2f} s")
    print(run.report)
