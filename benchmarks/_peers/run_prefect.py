"""Prefect 3's workloads: tasks called from flows. Run by `benchmarks/peers.py`,
usually with another interpreter (prefect's own virtualenv); see `common.py`.

Setup (set here, before prefect is imported): ephemeral mode, i.e. no
`PREFECT_API_URL`: prefect starts a temporary local server (sqlite) for the
process; `PREFECT_HOME` and `PREFECT_LOCAL_STORAGE_PATH` in temp folders; logging
at WARNING and not sent to the API; telemetry off. Async tasks gathered in async
flows; cached tasks use `cache_policy=INPUTS + TASK_SOURCE` (reusable across flow
runs; the default policy also keys on the flow run) and `persist_result=True`,
results pickled to local files. An empty store is an emptied storage folder. The
map is `task.map` with `ThreadPoolTaskRunner(max_workers=50)`. Hits are told from
misses by counting executed bodies.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

_ROOT = Path(
    tempfile.mkdtemp(
        prefix="prefect-home-",
        dir=next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--tmp"), None),
    )
)
STORAGE = _ROOT / "storage"
STORAGE.mkdir()
for name, value in {
    "PREFECT_HOME": str(_ROOT / "home"),
    "PREFECT_LOCAL_STORAGE_PATH": str(STORAGE),
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}.items():
    os.environ[name] = value
os.environ.pop("PREFECT_API_URL", None)

import asyncio  # noqa: E402
import gc  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

import common  # noqa: E402
import numpy as np  # noqa: E402
from common import Ctx, best_of, expected_sum, timed  # noqa: E402
from prefect import flow, task  # noqa: E402
from prefect.cache_policies import INPUTS, TASK_SOURCE  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

CALLS = [0]
CACHED = {"cache_policy": INPUTS + TASK_SOURCE, "persist_result": True}


@task
async def add_one(x: int) -> int:
    return x + 1


@task(**CACHED)
async def add_one_cached(x: int) -> int:
    CALLS[0] += 1
    return x + 1


@flow
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(add_one(i) for i in range(n))))


@flow
async def fan_out_cached(n: int) -> int:
    return sum(await asyncio.gather(*(add_one_cached(i) for i in range(n))))


@task(**CACHED)
async def array_size(a: np.ndarray) -> int:
    CALLS[0] += 1
    return int(a.size)


@task(**CACHED)
async def big_bytes(size: int) -> bytes:
    CALLS[0] += 1
    return bytes(size)


@flow
async def call(one: Any, *args: Any) -> Any:
    return await one(*args)


@task
def nap(i: int) -> int:
    time.sleep(common.MAP_SLEEP)
    return i


@flow(task_runner=ThreadPoolTaskRunner(max_workers=common.MAP_CONCURRENCY))
def map_naps(n: int) -> list[int]:
    return list(nap.map(range(n)).result())


STARTED = [0]
GO: dict[str, asyncio.Event] = {}


@task
async def wait_for_go(i: int) -> int:
    STARTED[0] += 1
    await GO["go"].wait()
    return i


@flow
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


@task(**CACHED)
async def square(i: int) -> int:
    CALLS[0] += 1
    return i * i


@task(**CACHED)
async def add(a: int, b: int) -> int:
    CALLS[0] += 1
    return a + b


@task(**CACHED)
async def finish(value: int) -> int:
    CALLS[0] += 1
    return value


@flow
async def dag(nodes: int) -> int:
    level = list(await asyncio.gather(*(square(i) for i in range(common.dag_leaves(nodes)))))
    while len(level) > 1:
        carried = [level[-1]] if len(level) % 2 else []
        added = await asyncio.gather(
            *(add(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2))
        )
        level = [*added, *carried]
    return await finish(level[0])


# -- running ------------------------------------------------------------------------


def run(flow_fn: Any, *args: Any, executions: int | None = None) -> Any:
    CALLS[0] = 0
    if asyncio.iscoroutinefunction(flow_fn.fn):
        result = asyncio.run(flow_fn(*args))
    else:
        result = flow_fn(*args)
    if executions is not None:
        assert CALLS[0] == executions, f"{CALLS[0]} bodies ran, expected {executions}"
    return result


def empty_store() -> None:
    shutil.rmtree(STORAGE)
    STORAGE.mkdir()


def equals(expected: Any) -> Any:
    def check(value: Any) -> None:
        assert value == expected, value

    return check


def warm_up(ctx: Ctx) -> None:
    """Starts the temporary server, and leaves no lazy import to be timed."""
    run(fan_out, 10)
    empty_store()
    run(fan_out_cached, 10, executions=10)
    run(fan_out_cached, 10, executions=0)


def uncached(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n = ctx.n
    seconds = best_of(partial(run, fan_out, n), ctx.repeats, equals(expected_sum(n)))
    return {"n": n, "us": seconds / n * 1e6}


def hit(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n = ctx.n
    empty_store()
    run(fan_out_cached, n, executions=n)  # populate
    hits = partial(run, fan_out_cached, n, executions=0)
    seconds = best_of(hits, ctx.repeats, equals(expected_sum(n)))
    return {"n": n, "us": seconds / n * 1e6}


def miss(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n, best = ctx.n, float("inf")
    for _ in range(ctx.repeats):
        empty_store()
        seconds, total = timed(partial(run, fan_out_cached, n, executions=n))
        assert total == expected_sum(n)
        best = min(best, seconds)
    return {"n": n, "us": best / n * 1e6}


def big(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    empty_store()
    array = np.random.default_rng(0).random(common.ARRAY_ITEMS)
    run(call, array_size, array, executions=1)  # populate
    array_s = best_of(
        partial(run, call, array_size, array, executions=0), ctx.repeats, equals(array.size)
    )
    size = common.BYTES_SIZE
    run(call, big_bytes, size, executions=1)  # populate
    bytes_s = best_of(
        lambda: len(run(call, big_bytes, size, executions=0)), ctx.repeats, equals(size)
    )
    return {"array_s": array_s, "bytes_s": bytes_s}


def map_workload(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    items = common.MAP_ITEMS
    naps = partial(run, map_naps, items)
    seconds = best_of(naps, min(ctx.repeats, 2), equals(list(range(items))))
    return {"s": seconds, "items": items}


def memory(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    run(hold_in_flight, 20)  # warm-up
    return {"n": ctx.n, "kb": run(hold_in_flight, ctx.n) / 1024}


def dynamic(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    nodes = min(common.DAG_NODES, ctx.n)
    executed = 2 * common.dag_leaves(nodes)
    expected = common.dag_expected(nodes)
    first = float("inf")
    for _ in range(ctx.repeats):
        empty_store()
        seconds, result = timed(partial(run, dag, nodes, executions=executed))
        assert result == expected
        first = min(first, seconds)
    rerun = best_of(partial(run, dag, nodes, executions=0), ctx.repeats, equals(expected))
    return {"nodes": executed, "first_s": first, "rerun_s": rerun}


def versions() -> dict[str, str]:
    return {"prefect": version("prefect")}


if __name__ == "__main__":
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
