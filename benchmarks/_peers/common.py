"""What every peer's worker shares: timing, RSS, temp folders, and the JSON it hands back.

A worker is run by `benchmarks/peers.py` in its own interpreter (prefect's may be
another virtualenv), so this module uses the standard library only::

    python benchmarks/_peers/run_flyte.py --workloads hit,miss --n 1000 --out r.json

It runs each named workload, catching its failure, and writes one JSON object:
``{"versions": {...}, "workloads": {name: {figure: value, ...} | {"error": "..."}}}``.
Timings are reported, never asserted; correctness is asserted (outputs, hits).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARRAY_ITEMS = 25_000_000  # float64: 200 MB
BYTES_SIZE = 200_000_000
MAP_ITEMS = 200
MAP_SLEEP = 0.5
MAP_CONCURRENCY = 50
DAG_NODES = 1_000
_PAGE = os.sysconf("SC_PAGE_SIZE")


def progress(message: str) -> None:
    """Progress goes to stderr; the driver shows it as it comes."""
    print(f"[bench]   {message}", file=sys.stderr, flush=True)


# -- bodies that count their executions (for caches called in a plain loop) -------------

CALLS = [0]
"""How many counted bodies ran since `cached_loop` (or a check) reset it."""


def add_one_counted(x: int) -> int:
    CALLS[0] += 1
    return x + 1


def array_size(a: Any) -> int:
    CALLS[0] += 1
    return int(a.size)


def big_bytes(size: int) -> bytes:
    CALLS[0] += 1
    return bytes(size)


def cached_loop(cached: Any, n: int, executions: int) -> int:
    """Call `cached(i)` for i < n; exactly `executions` bodies must have run."""
    CALLS[0] = 0
    total = sum(cached(i) for i in range(n))
    assert CALLS[0] == executions, f"{CALLS[0]} bodies ran, expected {executions}"
    return total


def no_body_ran(call: Callable[[], Any]) -> Callable[[], Any]:
    """`call`, asserting that it ran no counted body (a hit)."""

    def checked() -> Any:
        CALLS[0] = 0
        value = call()
        assert CALLS[0] == 0, "the body ran again"
        return value

    return checked


def equals(expected: Any) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        assert value == expected, value

    return check


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of `fn()` and its result, starting from a collected heap."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(fn: Callable[[], Any], repeats: int, check: Callable[[Any], None]) -> float:
    """The fastest of `repeats` timed calls of `fn`, each result checked."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        seconds, result = timed(fn)
        check(result)
        best = min(best, seconds)
    return best


def rss_bytes() -> int:
    """This process's resident set size, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def expected_sum(n: int) -> int:
    """sum(i + 1 for i in range(n))"""
    return n * (n + 1) // 2


def dag_leaves(nodes: int) -> int:
    """The DAG of workload 9: `nodes // 2` leaves `square(i)`, a pairwise tree of
    `leaves - 1` `add(a, b)` nodes, and one `finish(total)`: `nodes` calls in all."""
    return max(2, nodes // 2)


def dag_expected(nodes: int) -> int:
    return sum(i * i for i in range(dag_leaves(nodes)))


def pairs(level: list[Any], add: Callable[[Any, Any], Any]) -> list[Any]:
    """One level of the DAG's reduction tree: `add` over neighbours, an odd one carried up."""
    out = [add(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        out.append(level[-1])
    return out


class Folders:
    """Fresh, empty folders under one root."""

    def __init__(self, root: str | None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="flytelite-peers-"))
        self.root.mkdir(parents=True, exist_ok=True)

    def fresh(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


@dataclass
class Ctx:
    """What a workload is given: its task count, repeats, and a place for files."""

    n: int
    repeats: int
    quick: bool
    folders: Folders


Workload = Callable[[Ctx], dict[str, Any]]


def main(workloads: dict[str, Workload], versions: Callable[[], dict[str, str]]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", required=True, help="comma-separated names")
    parser.add_argument("--n", type=int, required=True, help="tasks per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tmp", default=None, help="root for temp folders")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    folders = Folders(args.tmp)
    ctx = Ctx(n=args.n, repeats=args.repeats, quick=args.quick, folders=folders)
    results: dict[str, Any] = {}
    for name in args.workloads.split(","):
        progress(f"{name}, N={args.n:,}")
        start = time.perf_counter()
        try:
            results[name] = workloads[name](ctx)
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["took_s"] = time.perf_counter() - start
        Path(args.out).write_text(json.dumps({"versions": versions(), "workloads": results}))
