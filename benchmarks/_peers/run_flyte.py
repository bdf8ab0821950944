"""Flyte 2's workloads, in its local run mode (`flyte.with_runcontext(mode="local")`).
Run by `benchmarks/peers.py`; see `common.py`.

As in benchmarks/overhead.py: flyte's local cache is a sqlite file at
`<config dir>/local-cache/cache.db` (`~/.flyte` without a config file), opened once
and kept open; no public setting moves it, so `LocalDB._get_cache_dir` is pointed
at a fresh temp folder per workload (the connection is closed in between). Run
metadata, which the local runner writes per action, and raw data go to temp
folders too. Hits are told from misses by counting executed bodies.
"""

from __future__ import annotations

import asyncio
import gc
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import common
import flyte
import numpy as np
from common import Ctx, best_of, expected_sum, timed
from flyte._persistence._db import LocalDB

fenv = flyte.TaskEnvironment("bench_peers_flyte")
CALLS = [0]  # bodies executed


@fenv.task
async def add_one(x: int) -> int:
    return x + 1


# Flyte's local runner reads its cache only for behavior "auto" (the version is then
# derived from the function's source), so no explicit version here.
@fenv.task(cache="auto")
async def add_one_cached(x: int) -> int:
    CALLS[0] += 1
    return x + 1


@fenv.task
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(add_one(i) for i in range(n))))


@fenv.task
async def fan_out_cached(n: int) -> int:
    return sum(await asyncio.gather(*(add_one_cached(i) for i in range(n))))


@fenv.task(cache="auto")
async def array_size(a: np.ndarray) -> int:
    CALLS[0] += 1
    return int(a.size)


@fenv.task(cache="auto")
async def big_bytes(size: int) -> bytes:
    CALLS[0] += 1
    return bytes(size)


@fenv.task
async def nap(i: int) -> int:
    await asyncio.sleep(common.MAP_SLEEP)
    return i


@fenv.task
async def map_naps(n: int, concurrency: int) -> list[int]:
    """Idiomatic: `flyte.map`. In local mode it runs the items one after another."""
    return [r async for r in flyte.map.aio(nap, range(n), concurrency=concurrency)]


@fenv.task
async def gather_naps(n: int, concurrency: int) -> list[int]:
    """The same with `asyncio.gather` and a semaphore: concurrent in local mode."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> int:
        async with gate:
            return await nap(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


STARTED = [0]
GO: dict[str, asyncio.Event] = {}


@fenv.task
async def wait_for_go(i: int) -> int:
    STARTED[0] += 1
    await GO["go"].wait()
    return i


@fenv.task
async def hold_in_flight(n: int) -> float:
    GO["go"] = asyncio.Event()
    STARTED[0] = 0
    gc.collect()
    before = common.rss_bytes()
    during: list[int] = []

    async def release_when_all_in_flight() -> int:
        while STARTED[0] < n:
            await asyncio.sleep(0.005)
        during.append(common.rss_bytes())
        GO["go"].set()
        return 0

    results = await asyncio.gather(
        release_when_all_in_flight(), *(wait_for_go(i) for i in range(n))
    )
    assert sum(results) == n * (n - 1) // 2
    return (during[0] - before) / n


@fenv.task(cache="auto")
async def square(i: int) -> int:
    CALLS[0] += 1
    return i * i


@fenv.task(cache="auto")
async def add(a: int, b: int) -> int:
    CALLS[0] += 1
    return a + b


@fenv.task(cache="auto")
async def finish(total: int) -> int:
    CALLS[0] += 1
    return total


@fenv.task
async def dag(nodes: int) -> int:
    """Nested tasks: Flyte 2's dynamic workflow is a task body that awaits its children."""
    level = list(await asyncio.gather(*(square(i) for i in range(common.dag_leaves(nodes)))))
    while len(level) > 1:
        carried = [level[-1]] if len(level) % 2 else []
        added = await asyncio.gather(
            *(add(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2))
        )
        level = [*added, *carried]
    return await finish(level[0])


# -- running ------------------------------------------------------------------------


def use_cache(folder: Path) -> None:
    """Point flyte's local cache at `folder` (the next lookup connects there)."""
    # Both connections closed (the aiosqlite one, with aiosqlite installed, outlives
    # a run's loop): the next lookup connects to the new folder.
    asyncio.run(LocalDB.close())
    LocalDB._get_cache_dir = staticmethod(lambda: folder)


def run(ctx: Ctx, task: Any, *args: Any, executions: int | None = None) -> Any:
    folder = ctx.folders.fresh("flyte-run")
    runner = flyte.with_runcontext(mode="local", raw_data_path=str(folder / "raw"))
    runner._metadata_path = str(folder / "metadata")  # not exposed by with_runcontext
    CALLS[0] = 0
    outputs = runner.run(task, *args).outputs()[0]
    if executions is not None:
        assert CALLS[0] == executions, f"{CALLS[0]} bodies ran, expected {executions}"
    return outputs


_STARTED = []


def start(ctx: Ctx) -> None:
    """flyte.init once, then a small run of each kind so that lazy imports are not timed."""
    if not _STARTED:
        flyte.init()
        _STARTED.append(True)
    use_cache(ctx.folders.fresh("flyte-warm-up"))
    run(ctx, fan_out, 10)
    run(ctx, fan_out_cached, 10, executions=10)


def equals(expected: Any) -> Any:
    def check(value: Any) -> None:
        assert value == expected, value

    return check


def uncached(ctx: Ctx) -> dict[str, Any]:
    start(ctx)
    n = ctx.n
    use_cache(ctx.folders.fresh("flyte-uncached"))
    seconds = best_of(partial(run, ctx, fan_out, n), ctx.repeats, equals(expected_sum(n)))
    return {"n": n, "us": seconds / n * 1e6}


def hit(ctx: Ctx) -> dict[str, Any]:
    start(ctx)
    n = ctx.n
    use_cache(ctx.folders.fresh("flyte-hit"))
    run(ctx, fan_out_cached, n, executions=n)  # populate
    hits = partial(run, ctx, fan_out_cached, n, executions=0)
    seconds = best_of(hits, ctx.repeats, equals(expected_sum(n)))
    return {"n": n, "us": seconds / n * 1e6}


def miss(ctx: Ctx) -> dict[str, Any]:
    start(ctx)
    n, best = ctx.n, float("inf")
    for _ in range(ctx.repeats):
        use_cache(ctx.folders.fresh("flyte-miss"))
        seconds, total = timed(partial(run, ctx, fan_out_cached, n, executions=n))
        assert total == expected_sum(n)
        best = min(best, seconds)
    return {"n": n, "us": best / n * 1e6}


def big(ctx: Ctx) -> dict[str, Any]:
    start(ctx)
    use_cache(ctx.folders.fresh("flyte-big"))
    array = np.random.default_rng(0).random(common.ARRAY_ITEMS)
    run(ctx, array_size, array, executions=1)  # populate
    # An ndarray input travels as a pickle file at a fresh path, so the second call
    # may not hit: time it, and say whether the body ran again.
    array_s, size = timed(partial(run, ctx, array_size, array))
    assert size == array.size
    array_hit = CALLS[0] == 0
    run(ctx, big_bytes, common.BYTES_SIZE, executions=1)  # populate
    bytes_s = best_of(
        partial(run, ctx, big_bytes, common.BYTES_SIZE, executions=0),
        ctx.repeats,
        lambda out: equals(common.BYTES_SIZE)(len(out)),
    )
    return {"array_s": array_s, "array_hit": array_hit, "bytes_s": bytes_s}


def map_workload(ctx: Ctx) -> dict[str, Any]:
    start(ctx)
    items = 4 if ctx.quick else 10  # flyte.map runs them one after another: 0.5 s each
    seconds, out = timed(partial(run, ctx, map_naps, items, common.MAP_CONCURRENCY))
    assert out == list(range(items))
    full = common.MAP_ITEMS
    gather_s, out = timed(partial(run, ctx, gather_naps, full, common.MAP_CONCURRENCY))
    assert out == list(range(full))
    scaled = seconds * full / items
    return {"s": scaled, "items": items, "measured_s": seconds, "gather_s": gather_s}


def memory(ctx: Ctx) -> dict[str, Any]:
    start(ctx)
    run(ctx, hold_in_flight, 100)  # warm-up
    return {"n": ctx.n, "kb": run(ctx, hold_in_flight, ctx.n) / 1024}


def dynamic(ctx: Ctx) -> dict[str, Any]:
    start(ctx)
    nodes = min(common.DAG_NODES, ctx.n)
    leaves = common.dag_leaves(nodes)
    executed = 2 * leaves  # leaves + (leaves - 1) adds + finish
    expected = common.dag_expected(nodes)
    first = float("inf")
    for _ in range(ctx.repeats):
        use_cache(ctx.folders.fresh("flyte-dag"))
        seconds, out = timed(partial(run, ctx, dag, nodes, executions=executed))
        assert out == expected
        first = min(first, seconds)
    rerun = best_of(partial(run, ctx, dag, nodes, executions=0), ctx.repeats, equals(expected))
    return {"nodes": executed, "first_s": first, "rerun_s": rerun}


def versions() -> dict[str, str]:
    return {"flyte": version("flyte")}


if __name__ == "__main__":
    try:
        common.main(
            {
                "uncached": uncached,
                "hit": hit,
                "miss": miss,
                "big": big,
                "map": map_workload,
                "memory": memory,
                "dynamic": dynamic,
            },
            versions,
        )
    finally:
        LocalDB.close_sync()
