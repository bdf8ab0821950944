"""Per-task overhead of flytelite, next to Flyte 2's local runner.

Prints one Markdown table for this machine:

    scripts/bench               # N = 10,000 tasks (about a minute)
    scripts/bench --quick       # a smoke run: small N, one repeat
    scripts/bench --n 2000 --repeats 5
    python benchmarks/overhead.py --tracing   # the same, with OpenTelemetry spans on

Workloads 1-3 also run through Flyte 2 (`import flyte`) in its local run mode
when it is installed, at a smaller N: it costs hundreds of µs per task. Like
every benchmark here, this one reports timings and never asserts on them; it
does assert correctness (outputs, and the cache status of every call).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import blake3
import numpy as np

import flytelite as fl
from flytelite.catalog import CatalogConfig

REPO = Path(__file__).resolve().parent.parent
TARGET_UNCACHED_US = 50.0
TARGET_HIT_US = 150.0
TARGET_MISS_US = 400.0
TARGET_ARRAY_S = 0.15
TARGET_IMPORT_MS = 100.0
ARRAY_ITEMS = 25_000_000  # float64: 200 MB

env = fl.TaskEnvironment("bench_overhead")


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


# The floor: the same coroutines, gathered by plain asyncio.
async def plain_add_one(x: int) -> int:
    return x + 1


async def plain_fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(plain_add_one(i) for i in range(n))))


def plain_run(n: int) -> int:
    return asyncio.run(plain_fan_out(n))


def expected_sum(n: int) -> int:
    return n * (n + 1) // 2


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout is the table alone."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of `fn()` and its result, starting from a collected heap."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


class Folders:
    """Fresh, empty folders under one temporary root that is removed at the end."""

    def __init__(self) -> None:
        self._root = tempfile.TemporaryDirectory(prefix="flytelite-bench-")

    def fresh(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._root.name))

    def cleanup(self) -> None:
        self._root.cleanup()


# -- flytelite ------------------------------------------------------------------------


def check_run(run: fl.Run, child: fl.Task[..., Any], n: int, status: fl.CacheStatus) -> None:
    """Every one of the `n` child calls ended in `status`, and the sum is right."""
    assert run.outputs == expected_sum(n), run.outputs
    rows = run.report.by_task(child.name)
    assert len(rows) == n, f"{len(rows)} calls of {child.name}, expected {n}"
    wrong = [row for row in rows if row.cache is not status]
    assert not wrong, f"{len(wrong)} of {n} calls were not {status}: {wrong[0]}"
    attempts = 0 if status is fl.CacheStatus.HIT else 1
    assert all(row.attempts == attempts for row in rows), f"a {status} call ran {attempts}x"


def fl_uncached(n: int, repeats: int, folders: Folders) -> tuple[float, float]:
    """Best wall seconds of plain asyncio and of `fl.run`, for `n` uncached calls."""
    cache = str(folders.fresh("uncached"))  # nothing is cached; keeps the default folder out
    plain = flrun = float("inf")
    for _ in range(repeats):
        seconds, total = timed(partial(plain_run, n))
        assert total == expected_sum(n)
        plain = min(plain, seconds)
        seconds, run = timed(partial(fl.run, fan_out, n, cache_url=cache))
        check_run(run, add_one, n, fl.CacheStatus.DISABLED)
        flrun = min(flrun, seconds)
    return plain, flrun


def fl_hit(n: int, repeats: int, folders: Folders, *, index: bool = True) -> float:
    """Best wall seconds of a run whose `n` cached calls are all hits."""
    cache = str(folders.fresh("hit"))
    config = CatalogConfig(miss_index=index)
    populate = fl.run(fan_out_cached, n, cache_url=cache, catalog_config=config)  # not timed
    check_run(populate, add_one_cached, n, fl.CacheStatus.POPULATED)
    best = float("inf")
    for _ in range(repeats):
        run_it = partial(fl.run, fan_out_cached, n, cache_url=cache, catalog_config=config)
        seconds, run = timed(run_it)
        check_run(run, add_one_cached, n, fl.CacheStatus.HIT)
        best = min(best, seconds)
    return best


def fl_miss(n: int, repeats: int, folders: Folders, *, index: bool = True) -> float:
    """Best wall seconds of a run whose `n` cached calls all miss and write their entry."""
    best = float("inf")
    config = CatalogConfig(miss_index=index)
    for _ in range(repeats):
        cache = str(folders.fresh("miss"))  # every repeat starts from an empty cache
        run_it = partial(fl.run, fan_out_cached, n, cache_url=cache, catalog_config=config)
        seconds, run = timed(run_it)
        check_run(run, add_one_cached, n, fl.CacheStatus.POPULATED)
        best = min(best, seconds)
    return best


def fl_array_hit(repeats: int, folders: Folders) -> tuple[float, float]:
    """Best wall seconds of a hit on a cached task with a 200 MB array input, and of
    one blake3 pass over the array (for scale: the hit hashes the input)."""
    array = np.random.default_rng(0).random(ARRAY_ITEMS)
    cache = str(folders.fresh("array"))
    run = fl.run(array_size, array, cache_url=cache)  # populate: not timed
    assert run.outputs == ARRAY_ITEMS
    best = float("inf")
    for _ in range(repeats):
        seconds, run = timed(partial(fl.run, array_size, array, cache_url=cache))
        assert run.outputs == ARRAY_ITEMS
        assert [row.cache for row in run.report] == [fl.CacheStatus.HIT], run.report
        best = min(best, seconds)
    one_pass = min(timed(partial(blake3_pass, array))[0] for _ in range(repeats))
    return best, one_pass


def blake3_pass(array: np.ndarray) -> bytes:
    return blake3.blake3(array.view(np.uint8), max_threads=blake3.blake3.AUTO).digest()


def warm_up(folders: Folders) -> None:
    """One small run of each kind, so that lazy imports are not timed."""
    cache = str(folders.fresh("warm-up"))
    fl.run(fan_out, 10, cache_url=cache)
    fl.run(fan_out_cached, 10, cache_url=cache)
    fl.run(fan_out_cached, 10, cache_url=cache)


def import_seconds(module: str, repeats: int, folders: Folders) -> float:
    """Median seconds of `import module` alone, each in a fresh interpreter.

    Bytecode is cached as in an installed package: a first, untimed import writes
    it to a temporary PYTHONPYCACHEPREFIX (never into the source tree), whatever
    PYTHONDONTWRITEBYTECODE says here.
    """
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    child_env["PYTHONPYCACHEPREFIX"] = str(folders.fresh("pycache"))
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"

    def once() -> float:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=child_env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout.strip().splitlines()[-1])

    once()
    return statistics.median(once() for _ in range(repeats))


# -- Flyte 2, the peer --------------------------------------------------------------


@dataclass
class FlytePeer:
    """Flyte 2's figures (µs/task) for workloads 1-3, or why there are none."""

    n: int
    uncached_us: float | None = None
    floor_us: float | None = None
    hit_us: float | None = None
    miss_us: float | None = None
    import_ms: float | None = None
    version: str = ""
    missing: str = ""


def run_flyte(n: int, repeats: int, folders: Folders) -> FlytePeer:
    """Workloads 1-3 through Flyte 2's local runner, with its cache in a temp folder.

    Flyte's local cache is a sqlite file at `<config dir>/local-cache/cache.db`
    (`~/.flyte` without a config file), opened once and kept open. No public
    setting moves it, so the benchmark points `LocalDB._get_cache_dir` at a fresh
    folder per workload and closes the connection in between. Run metadata, which
    the local runner writes per action under `/tmp/flyte`, goes to a temp folder too.
    """
    import flyte
    from flyte._persistence._db import LocalDB

    peer = FlytePeer(n=n, version=getattr(flyte, "__version__", "?"))
    calls = [0]  # bodies executed: how a hit is told from a miss here

    fenv = flyte.TaskEnvironment("bench_overhead_flyte")

    @fenv.task
    async def f_add_one(x: int) -> int:
        return x + 1

    # Flyte's local runner reads its cache only for behavior "auto" (the version
    # is then derived from the function's source), so no explicit version here.
    @fenv.task(cache="auto")
    async def f_add_one_cached(x: int) -> int:
        calls[0] += 1
        return x + 1

    @fenv.task
    async def f_fan_out(n: int) -> int:
        return sum(await asyncio.gather(*(f_add_one(i) for i in range(n))))

    @fenv.task
    async def f_fan_out_cached(n: int) -> int:
        return sum(await asyncio.gather(*(f_add_one_cached(i) for i in range(n))))

    original_cache_dir = LocalDB.__dict__["_get_cache_dir"]

    def use_cache(folder: Path) -> None:
        # Both connections closed (the aiosqlite one, with aiosqlite installed, outlives
        # a run's loop): the next lookup connects to the new folder.
        asyncio.run(LocalDB.close())
        LocalDB._get_cache_dir = staticmethod(lambda: folder)

    def run(task: Any, n: int, executions: int) -> float:
        folder = folders.fresh("flyte-run")
        runner = flyte.with_runcontext(mode="local", raw_data_path=str(folder / "raw"))
        runner._metadata_path = str(folder / "metadata")  # not exposed by with_runcontext
        calls[0] = 0
        seconds, result = timed(partial(runner.run, task, n))
        assert result.outputs()[0] == expected_sum(n)
        assert calls[0] == executions, f"{calls[0]} bodies ran, expected {executions}"
        return seconds

    flyte.init()
    try:
        use_cache(folders.fresh("flyte-warm-up"))
        run(f_fan_out, 10, 0)
        run(f_fan_out_cached, 10, 10)

        progress(f"flyte 1. uncached, N={n:,}")
        use_cache(folders.fresh("flyte-uncached"))
        plain = min(timed(partial(plain_run, n))[0] for _ in range(repeats))
        uncached = min(run(f_fan_out, n, 0) for _ in range(repeats))
        peer.floor_us = plain / n * 1e6
        peer.uncached_us = (uncached - plain) / n * 1e6

        progress(f"flyte 2. cache hits, N={n:,}")
        use_cache(folders.fresh("flyte-hit"))
        run(f_fan_out_cached, n, n)  # populate: not timed
        peer.hit_us = min(run(f_fan_out_cached, n, 0) for _ in range(repeats)) / n * 1e6

        progress(f"flyte 3. miss + populate, N={n:,}")
        best = float("inf")
        for _ in range(repeats):
            use_cache(folders.fresh("flyte-miss"))
            best = min(best, run(f_fan_out_cached, n, n))
        peer.miss_us = best / n * 1e6
    finally:
        LocalDB.close_sync()
        LocalDB._get_cache_dir = original_cache_dir
    return peer


# -- the table ----------------------------------------------------------------------


def us(value: float) -> str:
    return f"{value:,.0f} µs/task" if value >= 100 else f"{value:.1f} µs/task"


def ratio(peer: float | None, ours: float) -> str:
    if peer is None or ours <= 0:
        return "—"
    return f"{peer / ours:,.1f}x"


def met(value: float, target: float) -> str:
    return "yes" if value <= target else "**no**"


def enable_tracing() -> Callable[[], int]:
    """The application traces: an SDK provider whose spans are batched, then dropped
    (what is timed is flytelite's side and the SDK's, not an exporter's I/O). Returns
    how many spans were exported so far, after a flush."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    exported = [0]

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            exported[0] += len(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)

    def count() -> int:
        provider.force_flush()
        return exported[0]

    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="tasks per run (flytelite)")
    parser.add_argument("--flyte-n", type=int, default=1_000, help="tasks per run (flyte)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--imports", type=int, default=10, help="fresh interpreters to time")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, one repeat")
    parser.add_argument("--no-flyte", action="store_true", help="skip Flyte 2 even if installed")
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="set an OpenTelemetry SDK tracer provider (batch processor, an exporter that "
        "drops the spans), so that every run and call is a span",
    )
    args = parser.parse_args(argv)
    spans = enable_tracing() if args.tracing else None
    if args.quick:
        args.n, args.flyte_n, args.repeats, args.imports = 1_000, 100, 1, 3
    n, repeats = args.n, args.repeats

    load = os.getloadavg()[0]
    folders = Folders()
    try:
        warm_up(folders)
        progress(f"flytelite 1. uncached, N={n:,}")
        plain_s, uncached_s = fl_uncached(n, repeats, folders)
        progress(f"flytelite 2. cache hits, N={n:,}")
        hit_s = fl_hit(n, repeats, folders)
        progress(f"flytelite 3. miss + populate, N={n:,}")
        miss_s = fl_miss(n, repeats, folders)
        progress("flytelite 2-3 again, the miss index off")
        hit_off_s = fl_hit(n, repeats, folders, index=False)
        miss_off_s = fl_miss(n, repeats, folders, index=False)
        progress("flytelite 4. 200 MB array input, hit")
        array_s, blake3_s = fl_array_hit(repeats, folders)
        progress("5. import time")
        import_ms = import_seconds("flytelite", args.imports, folders) * 1e3

        # Flyte last, so that importing it cannot change anything flytelite measures.
        peer = FlytePeer(n=args.flyte_n)
        if args.no_flyte:
            peer.missing = "not run"
        elif find_spec("flyte") is None:
            peer.missing = "not installed"
        else:
            try:
                peer = run_flyte(args.flyte_n, repeats, folders)
                peer.import_ms = import_seconds("flyte", args.imports, folders) * 1e3
            except Exception as exc:
                traceback.print_exc()
                peer = FlytePeer(n=args.flyte_n, missing=f"failed ({type(exc).__name__})")
    finally:
        folders.cleanup()

    floor_us = plain_s / n * 1e6
    uncached_us = (uncached_s - plain_s) / n * 1e6
    hit_us = hit_s / n * 1e6
    miss_us = miss_s / n * 1e6
    hit_off_us = hit_off_s / n * 1e6
    miss_off_us = miss_off_s / n * 1e6

    def peer_cell(value: float | None, extra: str = "") -> str:
        if peer.missing:
            return peer.missing
        return "—" if value is None else us(value) + extra

    flyte_n = f"N={peer.n:,}"
    rows = [
        (
            "1. uncached async task via gather: overhead over plain asyncio",
            f"{us(uncached_us)} (asyncio floor {us(floor_us)})",
            f"≤ {TARGET_UNCACHED_US:g} µs/task",
            met(uncached_us, TARGET_UNCACHED_US),
            peer_cell(peer.uncached_us, f" ({flyte_n}; floor {peer.floor_us or 0:.1f})"),
            ratio(peer.uncached_us, uncached_us),
        ),
        (
            "2. cache hit, per task (all N calls HIT)",
            us(hit_us),
            f"≤ {TARGET_HIT_US:g} µs/task",
            met(hit_us, TARGET_HIT_US),
            peer_cell(peer.hit_us, f" ({flyte_n})"),
            ratio(peer.hit_us, hit_us),
        ),
        (
            "3. miss + populate, per task (empty cache)",
            us(miss_us),
            f"≤ {TARGET_MISS_US:g} µs/task",
            met(miss_us, TARGET_MISS_US),
            peer_cell(peer.miss_us, f" ({flyte_n})"),
            ratio(peer.miss_us, miss_us),
        ),
        (
            "2-3'. the miss index (miss reasons) off: hit / miss per task",
            f"{us(hit_off_us)} / {us(miss_off_us)}",
            "index on: hits not slower, misses ≤ 10% slower",
            (
                f"hits {hit_us / hit_off_us:.2f}x, misses {miss_us / miss_off_us:.2f}x "
                f"with the index"
            ),
            "—",
            "—",
        ),
        (
            "4. 200 MB numpy array into a cached task: hit run",
            f"{array_s:.3f} s",
            f"≤ {TARGET_ARRAY_S:g} s",
            met(array_s, TARGET_ARRAY_S),
            peer.missing or "not run",
            "—",
        ),
        (
            "5. `import flytelite`, fresh interpreter",
            f"{import_ms:.0f} ms",
            f"≤ {TARGET_IMPORT_MS:g} ms",
            met(import_ms, TARGET_IMPORT_MS),
            peer.missing or f"{peer.import_ms:.0f} ms (`import flyte`)",
            ratio(peer.import_ms, import_ms),
        ),
    ]
    header = (
        "workload",
        "flytelite",
        "target",
        "met?",
        "flyte (Flyte 2 local runner)",
        "ratio flyte/flytelite",
    )
    tracing = "off"
    if spans is not None:
        count = spans()
        assert count > 4 * n, f"tracing is on but only {count} spans were recorded"
        tracing = f"on (OpenTelemetry SDK, {count:,} spans batched and dropped)"
    print(
        f"flytelite overhead: N = {n:,} tasks, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load:.1f} at start, tracing {tracing}"
    )
    print()
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|:---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    peer_note = (
        f"flyte {peer.version}: `flyte.with_runcontext(mode='local')`, N = {peer.n:,}, "
        f"its sqlite cache in a temp folder per workload"
        if not peer.missing
        else f"flyte: {peer.missing}"
    )
    print(
        f"Rows 1-4: best of {repeats} timed runs after an untimed warm-up; row 5: median of "
        f"{args.imports} fresh interpreters, bytecode cached. Row 1 is (wall of the run - wall "
        f"of the same coroutines under plain `asyncio.gather`) / N; rows 2-3 are wall of the "
        f"run / N (floor included). Row 4 includes hashing the input (one blake3 pass over "
        f"the array: {blake3_s:.3f} s). Every cache workload uses its own fresh temp folder. "
        f"{peer_note}."
    )


if __name__ == "__main__":
    main()
