"""joblib's workloads: `joblib.Memory` for the cache, `joblib.Parallel` for fan-out.
Run by `benchmarks/peers.py`; see `common.py`.

joblib has no async tasks and no workflows: a cached call is `memory.cache(f)(x)`, a
fan-out is `Parallel(n_jobs=1)(delayed(f)(i) ...)` (one process: the fastest for
trivial bodies), and the map is `Parallel(n_jobs=50, backend="threading")`.
`Memory(location=<fresh temp folder>, verbose=0)`, otherwise defaults (no compression,
no mmap). Hits are told from misses by counting executed bodies.
"""

from __future__ import annotations

import time
from functools import partial
from importlib.metadata import version
from typing import Any

import common
import joblib
import numpy as np
from common import (
    Ctx,
    add_one_counted,
    array_size,
    best_of,
    big_bytes,
    cached_loop,
    equals,
    expected_sum,
    no_body_ran,
    timed,
)


def add_one(x: int) -> int:
    return x + 1


def nap(i: int) -> int:
    time.sleep(common.MAP_SLEEP)
    return i


def fan_out(n: int) -> int:
    return sum(joblib.Parallel(n_jobs=1)(joblib.delayed(add_one)(i) for i in range(n)))


def memory(ctx: Ctx, name: str) -> joblib.Memory:
    return joblib.Memory(location=str(ctx.folders.fresh(name)), verbose=0)


def uncached(ctx: Ctx) -> dict[str, Any]:
    fan_out(10)
    seconds = best_of(partial(fan_out, ctx.n), ctx.repeats, equals(expected_sum(ctx.n)))
    return {"n": ctx.n, "us": seconds / ctx.n * 1e6}


def hit(ctx: Ctx) -> dict[str, Any]:
    n = ctx.n
    cached = memory(ctx, "joblib-hit").cache(add_one_counted)
    cached_loop(cached, n, n)  # populate
    seconds = best_of(partial(cached_loop, cached, n, 0), ctx.repeats, equals(expected_sum(n)))
    return {"n": n, "us": seconds / n * 1e6}


def miss(ctx: Ctx) -> dict[str, Any]:
    n, best = ctx.n, float("inf")
    cached_loop(memory(ctx, "joblib-warm-up").cache(add_one_counted), 10, 10)
    for _ in range(ctx.repeats):
        cached = memory(ctx, "joblib-miss").cache(add_one_counted)
        seconds, total = timed(partial(cached_loop, cached, n, n))
        assert total == expected_sum(n)
        best = min(best, seconds)
    return {"n": n, "us": best / n * 1e6}


def big(ctx: Ctx) -> dict[str, Any]:
    mem = memory(ctx, "joblib-big")
    array = np.random.default_rng(0).random(common.ARRAY_ITEMS)
    cached_size = mem.cache(array_size)
    cached_size(array)  # populate
    array_s = best_of(no_body_ran(lambda: cached_size(array)), ctx.repeats, equals(array.size))
    cached_bytes = mem.cache(big_bytes)
    cached_bytes(common.BYTES_SIZE)  # populate
    bytes_hit = no_body_ran(lambda: len(cached_bytes(common.BYTES_SIZE)))
    bytes_s = best_of(bytes_hit, ctx.repeats, equals(common.BYTES_SIZE))
    return {"array_s": array_s, "bytes_s": bytes_s}


def map_workload(ctx: Ctx) -> dict[str, Any]:
    items = common.MAP_ITEMS

    def naps() -> list[int]:
        parallel = joblib.Parallel(n_jobs=common.MAP_CONCURRENCY, backend="threading")
        return list(parallel(joblib.delayed(nap)(i) for i in range(items)))

    seconds = best_of(naps, min(ctx.repeats, 2), equals(list(range(items))))
    return {"s": seconds, "items": items}


def versions() -> dict[str, str]:
    return {"joblib": version("joblib")}


if __name__ == "__main__":
    common.main(
        {"uncached": uncached, "hit": hit, "miss": miss, "big": big, "map": map_workload},
        versions,
    )
