"""diskcache's workloads: `Cache.memoize` for the cache. Run by `benchmarks/peers.py`;
see `common.py`.

diskcache is a key-value store (SQLite for keys and small values, files for large
ones), not a workflow runner: a cached call is `cache.memoize()(f)(x)` in a plain
loop, and it has no async tasks, maps or workflows. `Cache(<fresh temp folder>)`,
otherwise defaults (values pickled, no checksums of the values). Hits are told from
misses by counting executed bodies.
"""

from __future__ import annotations

from functools import partial
from importlib.metadata import version
from typing import Any

import common
import diskcache
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


def cache(ctx: Ctx, name: str) -> diskcache.Cache:
    return diskcache.Cache(str(ctx.folders.fresh(name)))


def hit(ctx: Ctx) -> dict[str, Any]:
    n = ctx.n
    with cache(ctx, "diskcache-hit") as store:
        cached = store.memoize()(add_one_counted)
        cached_loop(cached, n, n)  # populate
        seconds = best_of(partial(cached_loop, cached, n, 0), ctx.repeats, equals(expected_sum(n)))
    return {"n": n, "us": seconds / n * 1e6}


def miss(ctx: Ctx) -> dict[str, Any]:
    n, best = ctx.n, float("inf")
    with cache(ctx, "diskcache-warm-up") as store:
        cached_loop(store.memoize()(add_one_counted), 10, 10)
    for _ in range(ctx.repeats):
        with cache(ctx, "diskcache-miss") as store:
            seconds, total = timed(partial(cached_loop, store.memoize()(add_one_counted), n, n))
        assert total == expected_sum(n)
        best = min(best, seconds)
    return {"n": n, "us": best / n * 1e6}


def big(ctx: Ctx) -> dict[str, Any]:
    array = np.random.default_rng(0).random(common.ARRAY_ITEMS)
    with cache(ctx, "diskcache-big") as store:
        cached_size = store.memoize()(array_size)
        cached_size(array)  # populate (diskcache keys the array by its pickle)
        array_hit = no_body_ran(lambda: cached_size(array))
        array_s = best_of(array_hit, ctx.repeats, equals(array.size))
        cached_bytes = store.memoize()(big_bytes)
        cached_bytes(common.BYTES_SIZE)  # populate
        bytes_hit = no_body_ran(lambda: len(cached_bytes(common.BYTES_SIZE)))
        bytes_s = best_of(bytes_hit, ctx.repeats, equals(common.BYTES_SIZE))
    return {"array_s": array_s, "bytes_s": bytes_s}


def versions() -> dict[str, str]:
    return {"diskcache": version("diskcache")}


if __name__ == "__main__":
    common.main({"hit": hit, "miss": miss, "big": big}, versions)
