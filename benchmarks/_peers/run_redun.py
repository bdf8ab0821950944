"""redun's workloads: tasks are lazy; a workflow is an expression graph that a
`Scheduler` evaluates. Run by `benchmarks/peers.py`; see `common.py`.

Setup: `Scheduler(config=Config({"backend": {"db_uri": ...}, "executors.default":
{"type": "local", "max_workers": ...}}))`, a new scheduler per run (as a new process
would make). Uncached work records into an in-memory sqlite database (the fastest);
cached work into a sqlite file in a fresh temp folder (redun's default local store is
`.redun/redun.db`), so a warm store is a file that outlives the scheduler. redun
caches by default; uncached tasks say `cache=False`. Hits are told from misses by
counting executed bodies.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from importlib.metadata import version
from typing import Any

import common
import numpy as np
from common import Ctx, best_of, expected_sum, timed
from redun import Scheduler, task
from redun.config import Config

redun_namespace = "bench_peers"
CALLS = [0]
_LOCK = threading.Lock()


def count() -> None:
    with _LOCK:  # bodies run on the executor's threads
        CALLS[0] += 1


@task(cache=False)
def add_one(x: int) -> int:
    return x + 1


@task(cache=False)
def total(values: list[int]) -> int:
    return sum(values)


@task(cache=False)
def fan_out(n: int) -> Any:
    return total([add_one(i) for i in range(n)])


@task()
def add_one_cached(x: int) -> int:
    count()
    return x + 1


@task()
def total_cached(values: list[int]) -> int:
    return sum(values)


@task()
def fan_out_cached(n: int) -> Any:
    return total_cached([add_one_cached(i) for i in range(n)])


@task()
def array_size(a: np.ndarray) -> int:
    count()
    return int(a.size)


@task()
def big_bytes(size: int) -> bytes:
    count()
    return bytes(size)


@task(cache=False)
def nap(i: int) -> int:
    time.sleep(common.MAP_SLEEP)
    return i


@task(cache=False)
def collect(values: list[int]) -> list[int]:
    return values


@task(cache=False)
def map_naps(n: int) -> Any:
    return collect([nap(i) for i in range(n)])


@task()
def square(i: int) -> int:
    count()
    return i * i


@task()
def add(a: int, b: int) -> int:
    count()
    return a + b


@task()
def finish(value: int) -> int:
    count()
    return value


@task()
def dag(nodes: int) -> Any:
    """Lazy expressions: the whole DAG is returned, redun evaluates it."""
    level = [square(i) for i in range(common.dag_leaves(nodes))]
    while len(level) > 1:
        level = common.pairs(level, add)
    return finish(level[0])


def scheduler(db_uri: str = "sqlite:///:memory:", workers: int = 20) -> Scheduler:
    config = Config(
        {
            "backend": {"db_uri": db_uri},
            "executors.default": {"type": "local", "max_workers": str(workers)},
        }
    )
    s = Scheduler(config=config)
    s.load()
    return s


def store(ctx: Ctx, name: str) -> str:
    return f"sqlite:///{ctx.folders.fresh(name) / 'redun.db'}"


def run(db_uri: str, expr: Any, executions: int | None = None, workers: int = 20) -> Any:
    CALLS[0] = 0
    result = scheduler(db_uri, workers).run(expr)
    if executions is not None:
        assert CALLS[0] == executions, f"{CALLS[0]} bodies ran, expected {executions}"
    return result


def equals(expected: Any) -> Any:
    def check(value: Any) -> None:
        assert value == expected, value

    return check


def warm_up(ctx: Ctx) -> None:
    run("sqlite:///:memory:", fan_out(10))
    db = store(ctx, "redun-warm-up")
    run(db, fan_out_cached(10), 10)
    run(db, fan_out_cached(10), 0)


def uncached(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n = ctx.n
    seconds = best_of(
        partial(run, "sqlite:///:memory:", fan_out(n)), ctx.repeats, equals(expected_sum(n))
    )
    return {"n": n, "us": seconds / n * 1e6}


def hit(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n, db = ctx.n, store(ctx, "redun-hit")
    run(db, fan_out_cached(n), n)  # populate
    seconds = best_of(partial(run, db, fan_out_cached(n), 0), ctx.repeats, equals(expected_sum(n)))
    return {"n": n, "us": seconds / n * 1e6}


def miss(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n, best = ctx.n, float("inf")
    for _ in range(ctx.repeats):
        seconds, result = timed(partial(run, store(ctx, "redun-miss"), fan_out_cached(n), n))
        assert result == expected_sum(n)
        best = min(best, seconds)
    return {"n": n, "us": best / n * 1e6}


def big(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    db = store(ctx, "redun-big")
    array = np.random.default_rng(0).random(common.ARRAY_ITEMS)
    run(db, array_size(array), 1)  # populate
    array_s = best_of(partial(run, db, array_size(array), 0), ctx.repeats, equals(array.size))
    run(db, big_bytes(common.BYTES_SIZE), 1)  # populate
    bytes_s = best_of(
        lambda: len(run(db, big_bytes(common.BYTES_SIZE), 0)),
        ctx.repeats,
        equals(common.BYTES_SIZE),
    )
    return {"array_s": array_s, "bytes_s": bytes_s}


def map_workload(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    items = common.MAP_ITEMS
    seconds = best_of(
        partial(run, "sqlite:///:memory:", map_naps(items), workers=common.MAP_CONCURRENCY),
        min(ctx.repeats, 2),
        equals(list(range(items))),
    )
    return {"s": seconds, "items": items}


def dynamic(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    nodes = min(common.DAG_NODES, ctx.n)
    executed = 2 * common.dag_leaves(nodes)
    expected = common.dag_expected(nodes)
    first, db = float("inf"), ""
    for _ in range(ctx.repeats):
        db = store(ctx, "redun-dag")
        seconds, result = timed(partial(run, db, dag(nodes), executed))
        assert result == expected
        first = min(first, seconds)
    rerun = best_of(partial(run, db, dag(nodes), 0), ctx.repeats, equals(expected))
    return {"nodes": executed, "first_s": first, "rerun_s": rerun}


def versions() -> dict[str, str]:
    return {"redun": version("redun")}


if __name__ == "__main__":
    common.main(
        {
            "uncached": uncached,
            "hit": hit,
            "miss": miss,
            "big": big,
            "map": map_workload,
            "dynamic": dynamic,
        },
        versions,
    )
