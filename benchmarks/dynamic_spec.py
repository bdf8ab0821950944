"""Dynamic workflows: compiling a spec, loading it back from the catalog, running its DAG.

Prints one Markdown table for this machine:

    python benchmarks/dynamic_spec.py            # 1,000- and 10,000-node workflows
    python benchmarks/dynamic_spec.py --quick    # a smoke run: fewer repeats

The workflow is built from blocks of ten task calls whose bindings look like
real ones: literals (ints, floats, strings, small dicts and lists), plain refs,
nested lists of refs, a tuple of refs, a dict with a ref among its values, and
a chain through every block. What it measures, for 1,000 and 10,000 nodes:

a. compile: `DynamicTask.compile(n)`, median of several;
b. spec load: `FsspecCatalog(folder).get(spec_key)` of the spec that an
   `fl.run` stored (read, check, unpickle), median of several; and the same
   followed by the check a cached-spec run makes before its first node;
c. compile / load: how much a cached spec saves;
d. orchestration per node: `fl.run` of the same DAG over trivial uncached
   async tasks (nothing is written per node), minus the median compile time,
   divided by nodes; and a re-run in which the spec is a HIT and every node is
   a cache HIT (the whole run, divided by nodes).

Like every benchmark here, it reports timings and never asserts on them; it
does check outputs and the cache status of every call.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flytelite as fl
from flytelite.catalog import FsspecCatalog
from flytelite.dynamic._task import _bind_tasks

SIZES = (1_000, 10_000)
BLOCK = 10  # nodes per block of the workflow
TARGET_LOAD_MS = 10.0  # at 1,000 nodes
TARGET_RATIO = 20.0
TARGET_UNCACHED_US = 50.0  # the per-task targets of benchmarks/overhead.py
TARGET_HIT_US = 150.0

env = fl.TaskEnvironment("bench_dynamic")


# -- the tasks: trivial bodies, one family cached and one not -----------------------------------


@env.task
async def load(i: int, source: str, options: dict[str, Any]) -> int:
    return i


@env.task
async def transform(x: int, factor: float, tags: list[str]) -> int:
    return x + 1


@env.task
async def merge(parts: list[list[int]], weights: dict[str, float]) -> int:
    return sum(sum(p) for p in parts)


@env.task
async def score(x: int, config: dict[str, Any]) -> int:
    return x + config["prev"] % 7


@env.task
async def summarize(values: tuple[int, ...], label: str) -> int:
    return len(values)


cached = env.task(cache=True, cache_version="1")


@cached
async def load_c(i: int, source: str, options: dict[str, Any]) -> int:
    return i


@cached
async def transform_c(x: int, factor: float, tags: list[str]) -> int:
    return x + 1


@cached
async def merge_c(parts: list[list[int]], weights: dict[str, float]) -> int:
    return sum(sum(p) for p in parts)


@cached
async def score_c(x: int, config: dict[str, Any]) -> int:
    return x + config["prev"] % 7


@cached
async def summarize_c(values: tuple[int, ...], label: str) -> int:
    return len(values)


@dataclass(frozen=True)
class Family:
    load: Any
    transform: Any
    merge: Any
    score: Any
    summarize: Any


UNCACHED = Family(load, transform, merge, score, summarize)
CACHED = Family(load_c, transform_c, merge_c, score_c, summarize_c)


def build(n: int, t: Family) -> dict[str, Any]:
    """`n` task calls (a multiple of BLOCK) in blocks of ten; returns the output binding."""
    assert n % BLOCK == 0
    prev: Any = 0
    summaries = []
    for b in range(n // BLOCK):
        base = b * BLOCK
        loads = [
            t.load(
                i=base + k,
                source=f"s3://bucket/data/part-{base + k:05d}.parquet",
                options={"columns": ["id", "value", "ts"], "sep": ",", "header": True},
            )
            for k in range(4)
        ]
        transformed = [t.transform(x=x, factor=1.5, tags=["clean", f"b{b}"]) for x in loads[:3]]
        merged = t.merge(
            parts=[[transformed[0], transformed[1]], [transformed[2], loads[3]]],
            weights={"a": 0.25, "b": 0.75},
        )
        prev = t.score(x=merged, config={"prev": prev, "threshold": 0.3, "block": b})
        summaries.append(t.summarize(values=tuple(loads), label=f"block-{b}"))
    return {"final": prev, "summaries": summaries[-10:]}


@env.dynamic(cache=fl.Cache(version="1", behavior="override"))  # outputs never hit: the DAG runs
def wf_cached(n: int) -> dict[str, Any]:
    return build(n, CACHED)


@env.dynamic
def wf_uncached(n: int) -> dict[str, Any]:
    return build(n, UNCACHED)


def expected(n: int) -> dict[str, Any]:
    """The workflow's output, computed directly."""
    prev = 0
    for b in range(n // BLOCK):
        base = b * BLOCK
        loads = [base + k for k in range(4)]
        merged = sum(x + 1 for x in loads[:3]) + loads[3]
        prev = merged + prev % 7
    return {"final": prev, "summaries": [4] * min(10, n // BLOCK)}


# -- measuring ----------------------------------------------------------------------------------


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout is the table alone."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of `fn()` and its result, starting from a collected heap."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(timings: dict[str, tuple[Callable[[], Any], int]], rounds: int) -> dict[str, float]:
    """Median seconds of each function: `rounds` rounds, each timing every function its
    count of times, so that all of them see the same machine (its load varies)."""
    samples: dict[str, list[float]] = {name: [] for name in timings}
    for _ in range(rounds):
        for name, (fn, count) in timings.items():
            samples[name].extend(timed(fn)[0] for _ in range(count))
    return {name: statistics.median(values) for name, values in samples.items()}


@dataclass
class Figures:
    nodes: int
    compile_s: float = 0.0
    load_s: float = 0.0
    load_checked_s: float = 0.0
    spec_bytes: int = 0
    uncached_run_s: float = 0.0
    uncached_compile_s: float = 0.0
    hit_run_s: float = 0.0

    @property
    def ratio(self) -> float:
        return self.compile_s / self.load_s

    @property
    def uncached_us(self) -> float:
        return (self.uncached_run_s - self.uncached_compile_s) / self.nodes * 1e6

    @property
    def hit_us(self) -> float:
        return self.hit_run_s / self.nodes * 1e6


def measure(n: int, repeats: int, folder: Path) -> Figures:
    """Every figure for `n` nodes; untimed first calls check the results."""
    cache = str(folder)
    spec = wf_cached.compile(n)
    assert len(spec.nodes) == n

    progress(f"{n:,} nodes: populate the catalog (not timed)")
    run = fl.run(wf_cached, n, cache_url=cache)
    assert run.outputs == expected(n), run.outputs
    assert run.report[0].spec_cache is fl.CacheStatus.POPULATED
    key = wf_cached.spec_key(wf_cached.bind((n,), {}))
    catalog = FsspecCatalog(cache)

    def load() -> fl.WorkflowSpec:
        entry = catalog.get(key)
        assert entry is not None
        loaded: fl.WorkflowSpec = entry.outputs
        return loaded

    def load_checked() -> fl.WorkflowSpec:
        loaded = load()
        assert _bind_tasks(loaded) is None
        return loaded

    assert load() == spec and str(load()) == str(spec)  # the stored spec is the compiled one

    progress(f"{n:,} nodes: compile and load")
    medians = interleaved(
        {
            "compile": (lambda: wf_cached.compile(n), 1),
            "load": (load, 4),
            "load_checked": (load_checked, 4),
        },
        repeats,
    )
    figures = Figures(
        nodes=n,
        compile_s=medians["compile"],
        load_s=medians["load"],
        load_checked_s=medians["load_checked"],
        spec_bytes=len(catalog.store.read(catalog.entry_path(key)) or b""),
    )

    def rerun() -> fl.Run:
        return fl.run(wf_cached, n, cache_url=cache)

    def uncached() -> fl.Run:
        return fl.run(wf_uncached, n, cache_url=cache)

    run = rerun()
    assert run.outputs == expected(n)
    assert run.report[0].spec_cache is fl.CacheStatus.HIT
    assert len(run.report) == n + 1
    assert all(row.cache is fl.CacheStatus.HIT for row in run.report[1:])
    run = uncached()
    assert run.outputs == expected(n)
    assert len(run.report) == n + 1
    assert all(row.cache is fl.CacheStatus.DISABLED for row in run.report)

    progress(f"{n:,} nodes: runs (spec and nodes HIT; uncached nodes and their compile)")
    medians = interleaved(
        {
            "hit": (rerun, 1),
            "uncached_compile": (lambda: wf_uncached.compile(n), 1),
            "uncached": (uncached, 1),
        },
        repeats,
    )
    figures.hit_run_s = medians["hit"]
    figures.uncached_compile_s = medians["uncached_compile"]
    figures.uncached_run_s = medians["uncached"]
    return figures


def warm_up(folder: Path) -> None:
    """One small run of each kind, so that lazy imports are not timed."""
    for _ in range(2):
        fl.run(wf_cached, 20, cache_url=str(folder))
        fl.run(wf_uncached, 20, cache_url=str(folder))


# -- the table ----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.2f} ms"


def us(value: float) -> str:
    return f"{value:,.0f} µs/node" if value >= 100 else f"{value:.1f} µs/node"


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds; medians are kept")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats

    load_avg = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="flytelite-bench-dynamic-") as root:
        warm_up(Path(root) / "warm-up")
        results = [measure(n, repeats, Path(root) / f"n{n}") for n in SIZES]
    small, big = results

    def both(cell: Callable[[Figures], str]) -> tuple[str, str]:
        return cell(small), cell(big)

    rows = [
        (
            "a. compile: `DynamicTask.compile(n)`",
            *both(lambda f: ms(f.compile_s)),
            "—",
            "—",
        ),
        (
            "b. spec load: `FsspecCatalog.get(spec_key)` → WorkflowSpec",
            *both(lambda f: ms(f.load_s)),
            f"≤ {TARGET_LOAD_MS:g} ms at 1,000 nodes",
            yes(small.load_s * 1e3 <= TARGET_LOAD_MS),
        ),
        (
            "b'. spec load + the stale check of a cached-spec run",
            *both(lambda f: ms(f.load_checked_s)),
            "—",
            "—",
        ),
        (
            "stored spec entry",
            *both(lambda f: f"{f.spec_bytes / 1024:,.0f} KiB"),
            "—",
            "—",
        ),
        (
            "c. compile / load",
            *both(lambda f: f"{f.ratio:,.1f}x"),
            f"≥ {TARGET_RATIO:g}x",
            " / ".join(yes(f.ratio >= TARGET_RATIO) for f in results),
        ),
        (
            "d. run, uncached async nodes: (run - compile) / nodes",
            *both(lambda f: us(f.uncached_us)),
            f"≤ {TARGET_UNCACHED_US:g} µs/node",
            " / ".join(yes(f.uncached_us <= TARGET_UNCACHED_US) for f in results),
        ),
        (
            "d'. re-run, spec HIT and every node HIT: run / nodes",
            *both(lambda f: us(f.hit_us)),
            f"≤ {TARGET_HIT_US:g} µs/node",
            " / ".join(yes(f.hit_us <= TARGET_HIT_US) for f in results),
        ),
    ]
    header = ("measure", f"{small.nodes:,} nodes", f"{big.nodes:,} nodes", "target", "met?")
    print(
        f"flytelite dynamic workflows: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load_avg:.1f} at start"
    )
    print()
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---|:---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        f"Medians of {repeats} timed runs ({repeats * 4} for loads) after an untimed warm-up, "
        f"each from a collected heap, interleaved in rounds (compile with loads, runs with "
        f"runs). Blocks of {BLOCK} calls with literal, ref, nested-list, "
        f"tuple and dict bindings. In d the uncached workflow's compile time "
        f"({ms(small.uncached_compile_s)} / {ms(big.uncached_compile_s)}) is subtracted; in d' "
        f"the run includes loading the spec. The µs/node targets are those of a plain task "
        f"call in benchmarks/overhead.py. `met?` for several sizes reads 1,000 / 10,000 nodes."
    )


if __name__ == "__main__":
    main()
