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
from common import Ctx, best_of, expected_sum, timed

CALLS = [0]


def add_one_counted(x: int) -> int:
    CALLS[0] += 1
    return x + 1


def array_size(a: np.ndarray) -> int:
    CALLS[0] += 1
    return int(a.size)


def big_bytes(size: int) -> bytes:
    CALLS[0] += 1
    return bytes(size)


def cached_loop(cached: Any, n: int, executions: int) -> int:
    CALLS[0] = 0
    total = sum(cached(i) for i in range(n))
    assert CALLS[0] == executions, f"{CALLS[0]} bodies ran, expected {executions}"
    return total


def cache(ctx: Ctx, name: str) -> diskcache.Cache:
    return diskcache.Cache(str(ctx.folders.fresh(name)))


def equals(expected: Any) -> Any:
    def check(value: Any) -> None:
        assert value == expected, value

    return check


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

        def array_hit() -> int:
            CALLS[0] = 0
            size: int = cached_size(array)
            assert CALLS[0] == 0, "the body ran again"
            return size

        array_s = best_of(array_hit, ctx.repeats, equals(array.size))
        cached_bytes = store.memoize()(big_bytes)
        cached_bytes(common.BYTES_SIZE)  # populate

        def bytes_hit() -> int:
            CALLS[0] = 0
            size = len(cached_bytes(common.BYTES_SIZE))
            assert CALLS[0] == 0, "the body ran again"
            return size

        bytes_s = best_of(bytes_hit, ctx.repeats, equals(common.BYTES_SIZE))
    return {"array_s": array_s, "bytes_s": bytes_s}


def versions() -> dict[str, str]:
    return {"diskcache": version("diskcache")}


if __name__ == "__main__":
    common.main({"hit": hit, "miss": miss, "big": big}, versions)
