"""flytelite's workloads, and the floors printed beside them (plain asyncio, a plain
read + unpickle loop). Run by `benchmarks/peers.py`; see `common.py`.

Every run gets its own fresh cache folder and `progress=False`.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import os
import pickle
import pstats
import struct
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import blake3
import common
import numpy as np
from common import Ctx, best_of, expected_sum, timed

import flytelite as fl

env = fl.TaskEnvironment("bench_peers")


# -- the tasks --------------------------------------------------------------------------


@env.task
async def add_one(x: int) -> int:
    return x + 1


@env.task(cache=True, cache_version="1")
async def add_one_cached(x: int) -> int:
    return x + 1


@env.task
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(add_one(i) for i in range(n))))


@env.task
async def fan_out_cached(n: int) -> int:
    return sum(await asyncio.gather(*(add_one_cached(i) for i in range(n))))


@env.task(cache=True, cache_version="1")
async def array_size(a: np.ndarray) -> int:
    return int(a.size)


@env.task(cache=True, cache_version="1")
async def big_bytes(size: int) -> bytes:
    return bytes(size)


@env.task
async def nap(i: int) -> int:
    await asyncio.sleep(common.MAP_SLEEP)
    return i


@env.task
async def map_naps(n: int, concurrency: int) -> list[int]:
    return [r async for r in fl.map.aio(nap, range(n), concurrency=concurrency)]


STARTED = [0]
GO: dict[str, asyncio.Event] = {}


@env.task
async def wait_for_go(i: int) -> int:
    STARTED[0] += 1
    await GO["go"].wait()
    return i


@env.task
async def hold_in_flight(n: int) -> float:
    """Bytes of RSS per call while `n` calls are all in flight."""
    return await _hold(n, wait_for_go)


@env.task(cache=True, cache_version="1")
async def square(i: int) -> int:
    return i * i


@env.task(cache=True, cache_version="1")
async def add(a: int, b: int) -> int:
    return a + b


@env.task(cache=True, cache_version="1")
async def finish(total: int) -> int:
    return total


def build(nodes: int) -> Any:
    level = [square(i) for i in range(common.dag_leaves(nodes))]
    while len(level) > 1:
        level = common.pairs(level, add)
    return finish(level[0])


# The DAG runs on every call: the workflow's own outputs are overwritten, never a hit,
# while its compiled spec is looked up and stored as with `cache=True`.
@env.dynamic(cache=fl.Cache(behavior="override", version="1"))
def dag_through(nodes: int) -> int:
    return build(nodes)


@env.dynamic(cache=True, cache_version="1")
def dag(nodes: int) -> int:
    return build(nodes)


# -- the floors: the same coroutines with plain asyncio ------------------------------------


async def plain_add_one(x: int) -> int:
    return x + 1


async def plain_fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(plain_add_one(i) for i in range(n))))


def plain_run(n: int) -> int:
    return asyncio.run(plain_fan_out(n))


async def plain_wait_for_go(i: int) -> int:
    STARTED[0] += 1
    await GO["go"].wait()
    return i


async def _hold(n: int, child: Any) -> float:
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

    results = await asyncio.gather(release_when_all_in_flight(), *(child(i) for i in range(n)))
    assert sum(results) == n * (n - 1) // 2
    return (during[0] - before) / n


def read_blob_unpickle(entry: Path, blob: Path) -> list[Any]:
    """open/read of an entry whose pickle is a blob (over 1 MiB), then open/read and
    pickle.loads of that blob: what a hit of a large output does, with no checks."""
    with open(entry, "rb") as f:
        f.read()
    with open(blob, "rb") as f:
        data = f.read()
    return [pickle.loads(data)]


def read_unpickle_loop(paths: list[Path]) -> list[Any]:
    """open/read/pickle.loads over flytelite's entry files: the payload follows
    magic (8 bytes), the header's length (u32) and the header, and a 32-byte seal
    follows it."""
    values = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        (header_len,) = struct.unpack_from("<I", data, 8)
        values.append(pickle.loads(memoryview(data)[12 + header_len : -32]))
    return values


# -- checks -----------------------------------------------------------------------------


def check_run(run: fl.Run, child: fl.Task[..., Any], n: int, status: fl.CacheStatus) -> None:
    """Every one of the `n` child calls ended in `status`, and the sum is right."""
    assert run.outputs == expected_sum(n), run.outputs
    # The report keeps a bounded number of rows and counts every call: the parent
    # (uncached) and its `n` children.
    assert run.report.calls == n + 1, f"{run.report.calls} calls, expected {n + 1}"
    wrong = [row for row in run.report.by_task(child.name) if row.cache is not status]
    assert not wrong, f"{len(wrong)} of {n} calls were not {status}: {wrong[0]}"
    want = n + (status is fl.CacheStatus.DISABLED)
    assert run.report.counts()[status] == want, (run.report.counts(), status, want)


def run(task: Any, *args: Any, cache: Path) -> fl.Run:
    return fl.run(task, *args, cache_url=str(cache), progress=False)


def warm_up(ctx: Ctx) -> None:
    """One small run of each kind, so that lazy imports are not timed."""
    cache = ctx.folders.fresh("warm-up")
    run(fan_out, 10, cache=cache)
    run(fan_out_cached, 10, cache=cache)
    run(fan_out_cached, 10, cache=cache)
    plain_run(10)


# -- the workloads ----------------------------------------------------------------------


def uncached(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n, cache = ctx.n, ctx.folders.fresh("uncached")
    plain = flrun = float("inf")
    for _ in range(ctx.repeats):  # interleaved, so that both see the same machine
        seconds, total = timed(partial(plain_run, n))
        assert total == expected_sum(n)
        plain = min(plain, seconds)
        seconds, result = timed(partial(run, fan_out, n, cache=cache))
        check_run(result, add_one, n, fl.CacheStatus.DISABLED)
        flrun = min(flrun, seconds)
    return {"n": n, "us": flrun / n * 1e6, "floor_us": plain / n * 1e6}


def hit(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n, cache = ctx.n, ctx.folders.fresh("hit")
    check_run(run(fan_out_cached, n, cache=cache), add_one_cached, n, fl.CacheStatus.POPULATED)
    check = partial(check_run, child=add_one_cached, n=n, status=fl.CacheStatus.HIT)
    seconds = best_of(partial(run, fan_out_cached, n, cache=cache), ctx.repeats, check)
    paths = sorted(p for p in (cache / "v1").rglob("*") if p.is_file())
    assert len(paths) == n, f"{len(paths)} entry files, expected {n}"

    def check_floor(values: list[Any]) -> None:
        assert sorted(values) == list(range(1, n + 1))

    floor = best_of(partial(read_unpickle_loop, paths), ctx.repeats, check_floor)
    return {"n": n, "us": seconds / n * 1e6, "floor_us": floor / n * 1e6}


def miss(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    n, best, floor = ctx.n, float("inf"), float("inf")
    for _ in range(ctx.repeats):  # interleaved, so that both see the same machine
        cache = ctx.folders.fresh("miss")  # every repeat starts from an empty cache
        seconds, result = timed(partial(run, fan_out_cached, n, cache=cache))
        check_run(result, add_one_cached, n, fl.CacheStatus.POPULATED)
        best = min(best, seconds)
        entries = [(p.name, p.read_bytes()) for p in (cache / "v1").rglob("*") if p.is_file()]
        assert len(entries) == n, f"{len(entries)} entry files, expected {n}"
        bare, _ = timed(partial(write_rename_loop, entries, ctx.folders.fresh("floor")))
        floor = min(floor, bare)
    return {"n": n, "us": best / n * 1e6, "floor_us": floor / n * 1e6}


def write_rename_loop(entries: list[tuple[str, bytes]], root: Path) -> None:
    """open/write/close of a temporary file, then rename onto the entry's name (no
    fsync): the same bytes, one folder as flytelite's entries of one task."""
    folder = root / "v1" / "task"
    folder.mkdir(parents=True)
    base = str(folder)
    for name, data in entries:
        target = f"{base}/{name}"
        with open(target + ".tmp", "wb") as f:
            f.write(data)
        os.rename(target + ".tmp", target)


def big(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    array = np.random.default_rng(0).random(common.ARRAY_ITEMS)
    cache = ctx.folders.fresh("big")
    assert run(array_size, array, cache=cache).outputs == array.size  # populate

    def check_array(result: fl.Run) -> None:
        assert result.outputs == array.size
        assert [row.cache for row in result.report] == [fl.CacheStatus.HIT], result.report

    array_s = best_of(partial(run, array_size, array, cache=cache), ctx.repeats, check_array)
    blake3_s = best_of(partial(blake3_pass, array), ctx.repeats, lambda digest: None)
    size = common.BYTES_SIZE
    assert len(run(big_bytes, size, cache=cache).outputs) == size  # populate

    def check_bytes(result: fl.Run) -> None:
        assert len(result.outputs) == size
        assert [row.cache for row in result.report] == [fl.CacheStatus.HIT], result.report

    bytes_s = best_of(partial(run, big_bytes, size, cache=cache), ctx.repeats, check_bytes)
    (path,) = [p for p in (cache / "v1").rglob("*") if p.is_file() and "big_bytes" in p.parent.name]

    def check_read(values: list[Any]) -> None:
        assert len(values[0]) == size

    (blob,) = [p for p in (cache / "blobs").rglob("*") if p.is_file()]  # its pickle
    read_s = best_of(partial(read_blob_unpickle, path, blob), ctx.repeats, check_read)
    return {"array_s": array_s, "blake3_s": blake3_s, "bytes_s": bytes_s, "read_s": read_s}


def blake3_pass(array: np.ndarray) -> bytes:
    return blake3.blake3(array.view(np.uint8), max_threads=blake3.blake3.AUTO).digest()


def map_workload(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    items, cache = common.MAP_ITEMS, ctx.folders.fresh("map")

    def check(result: fl.Run) -> None:
        assert result.outputs == list(range(items))

    seconds = best_of(
        partial(run, map_naps, items, common.MAP_CONCURRENCY, cache=cache),
        min(ctx.repeats, 2),
        check,
    )
    return {"s": seconds, "items": items}


def memory(ctx: Ctx) -> dict[str, Any]:
    cache = ctx.folders.fresh("memory")
    run(hold_in_flight, 100, cache=cache)  # warm-up
    per_call = run(hold_in_flight, ctx.n, cache=cache).outputs
    return {"n": ctx.n, "kb": per_call / 1024}


def memory_floor(ctx: Ctx) -> dict[str, Any]:
    asyncio.run(_hold(100, plain_wait_for_go))  # warm-up
    per_call = asyncio.run(_hold(ctx.n, plain_wait_for_go))
    return {"n": ctx.n, "kb": per_call / 1024}


def scaling(ctx: Ctx) -> dict[str, Any]:
    """Per-task cost at each size, net of an empty run: (wall(N) - wall(0)) / N."""
    warm_up(ctx)
    cache = ctx.folders.fresh("scaling")
    sizes = (1_000, 5_000, 20_000) if ctx.quick else (1_000, 10_000, 100_000)

    def check_plain(n: int) -> Any:
        return lambda total: assert_equal(total, expected_sum(n))

    def check_fl(n: int) -> Any:
        return lambda r: check_run(r, add_one, n, fl.CacheStatus.DISABLED)

    empty_plain = best_of(partial(plain_run, 0), 5, check_plain(0))
    empty_fl = best_of(partial(run, fan_out, 0, cache=cache), 5, check_fl(0))
    out: dict[str, Any] = {"sizes": list(sizes), "us": [], "floor_us": [], "floor_nogc_us": []}
    for n in sizes:
        repeats = max(1, min(ctx.repeats, 5 if n <= 1_000 else 3 if n <= 10_000 else 2))
        plain = best_of(partial(plain_run, n), repeats, check_plain(n))
        flrun = best_of(partial(run, fan_out, n, cache=cache), repeats, check_fl(n))
        out["floor_us"].append((plain - empty_plain) / n * 1e6)
        out["us"].append((flrun - empty_fl) / n * 1e6)
        # The floor again with the cyclic GC off: what the collector costs at this size.
        gc.disable()
        try:
            nogc = best_of(partial(plain_run, n), repeats, check_plain(n))
        finally:
            gc.enable()
        out["floor_nogc_us"].append((nogc - empty_plain) / n * 1e6)
    return out


def assert_equal(a: Any, b: Any) -> None:
    assert a == b, (a, b)


def dynamic(ctx: Ctx) -> dict[str, Any]:
    warm_up(ctx)
    nodes = min(common.DAG_NODES, ctx.n)
    expected = common.dag_expected(nodes)
    run(dag_through, 20, cache=ctx.folders.fresh("dag-warm-up"))

    def check(spec: fl.CacheStatus, nodes_status: fl.CacheStatus) -> Any:
        def check_run(result: fl.Run) -> None:
            assert result.outputs == expected, result.outputs
            rows = list(result.report)
            assert len(rows) == nodes + 1, len(rows)
            assert rows[0].spec_cache is spec, rows[0]
            wrong = [row for row in rows[1:] if row.cache is not nodes_status]
            assert not wrong, wrong[0]

        return check_run

    first = float("inf")
    for _ in range(ctx.repeats):
        cache = ctx.folders.fresh("dag")
        seconds, result = timed(partial(run, dag_through, nodes, cache=cache))
        check(fl.CacheStatus.POPULATED, fl.CacheStatus.POPULATED)(result)
        first = min(first, seconds)
    rerun = best_of(
        partial(run, dag_through, nodes, cache=cache),
        ctx.repeats,
        check(fl.CacheStatus.HIT, fl.CacheStatus.HIT),
    )
    # With cache=True the workflow's own outputs are an entry too: a re-run is one hit.
    cache = ctx.folders.fresh("dag-cached")
    run(dag, nodes, cache=cache)

    def check_hit(result: fl.Run) -> None:
        assert result.outputs == expected
        assert [row.cache for row in result.report] == [fl.CacheStatus.HIT], result.report

    outputs_hit = best_of(partial(run, dag, nodes, cache=cache), ctx.repeats, check_hit)
    return {"nodes": nodes, "first_s": first, "rerun_s": rerun, "outputs_hit_s": outputs_hit}


def profile(ctx: Ctx) -> dict[str, Any]:
    """cProfile of a hit run and a miss + populate run: the top entries by own time."""
    warm_up(ctx)
    n, cache = ctx.n, ctx.folders.fresh("profile")
    out: dict[str, Any] = {}
    for name, status in (("miss", fl.CacheStatus.POPULATED), ("hit", fl.CacheStatus.HIT)):
        profiler = cProfile.Profile()
        profiler.enable()
        result = run(fan_out_cached, n, cache=cache)
        profiler.disable()
        check_run(result, add_one_cached, n, status)
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs()
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
        out[name] = text.getvalue()
    return out


def versions() -> dict[str, str]:
    return {
        name: version(name) for name in ("flytelite", "numpy", "blake3", "anyio", "cloudpickle")
    }


if __name__ == "__main__":
    common.main(
        {
            "uncached": uncached,
            "hit": hit,
            "miss": miss,
            "big": big,
            "map": map_workload,
            "memory": memory,
            "memory_floor": memory_floor,
            "scaling": scaling,
            "dynamic": dynamic,
            "profile": profile,
        },
        versions,
    )
