"""Executors side by side: a CPU-bound fan-out, and the cost of shipping a trivial task.

Prints one Markdown table for this machine:

    python benchmarks/executors.py            # 8 x 0.5 s tasks, 200 trivial calls, 3 repeats
    python benchmarks/executors.py --quick    # a smoke run: 4 x 0.1 s, 50 calls, 1 repeat

Workloads, each through `fl.run` with `executor=` threads, processes and a Dask
`LocalCluster` (one single-threaded worker process per core):

1. CPU-bound fan-out: `--tasks` gathered calls of about `--seconds` of pure
   Python each. In threads they take turns on the GIL; processes and Dask use
   every core. Target for processes on 2 cores, 8 x 0.5 s: at most 2.4 s.
2. Overhead, gathered: `--calls` trivial calls (`x + 1`) at once; wall time / calls.
3. Overhead, one at a time: 20 trivial calls awaited in turn; wall time / call.

The same work through `concurrent.futures.ProcessPoolExecutor` and through Dask's
own client, without flytelite, gives the floors. Starting workers (the first
call) is shown on its own and never timed in the workloads. Like every benchmark
here it reports timings and asserts only correctness.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from importlib.util import find_spec
from typing import Any

import flytelite as fl
from flytelite.executors._resolve import shared_process_executor

SEQUENTIAL_CALLS = 20
TARGET_PROCESS_S = 2.4  # 8 x 0.5 s on 2 cores

env = fl.TaskEnvironment("bench_executors")


def spin_plain(n: int, seed: int) -> int:
    """About `n` steps of pure-Python arithmetic."""
    x = seed
    for i in range(n):
        x = (x * 1_103_515_245 + i) % 2_147_483_648
    return x


def add_one_plain(x: int) -> int:
    return x + 1


spin = env.task(spin_plain)
add_one = env.task(add_one_plain)


@env.task
async def cpu_fan_out(n: int, tasks: int) -> list[int]:
    return list(await asyncio.gather(*(spin.aio(n, seed) for seed in range(tasks))))


@env.task
async def trivial_gathered(calls: int) -> int:
    return sum(await asyncio.gather(*(add_one.aio(i) for i in range(calls))))


@env.task
async def trivial_in_turn(calls: int) -> int:
    total = 0
    for i in range(calls):
        total += await add_one.aio(i)
    return total


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout is the table alone."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def steps_for(seconds: float) -> int:
    """How many `spin` steps take about `seconds` here (median of three timings)."""
    n = 50_000
    while True:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            spin_plain(n, 0)
            timings.append(time.perf_counter() - started)
        if statistics.median(timings) > 0.1:
            return max(1, int(n * seconds / statistics.median(timings)))
        n *= 2


def timed(fn: Callable[[], Any], check: Callable[[Any], None]) -> float:
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    check(result)
    return elapsed


class Row:
    """One line of the table: a way to run the workloads, and its timings."""

    def __init__(self, name: str, run: Callable[[Any, tuple[Any, ...]], Any]) -> None:
        self.name = name
        self.run = run  # run(workload task, args) -> outputs
        self.startup: float | None = None
        self.timings: dict[str, list[float]] = {"cpu": [], "gathered": [], "in_turn": []}

    def median(self, workload: str) -> float:
        timings = self.timings[workload]
        return statistics.median(timings) if timings else float("nan")


def flytelite_row(name: str, executor: Any) -> Row:
    def run(task: Any, args: tuple[Any, ...]) -> Any:
        return fl.run(task, *args, executor=executor).outputs

    return Row(name, run)


def sequential_row() -> Row:
    """The CPU-bound work in this process, one call after another: what threads cannot beat."""

    def run(task: Any, args: tuple[Any, ...]) -> Any:
        n, tasks = args
        return [spin_plain(n, seed) for seed in range(tasks)]

    row = Row("plain Python, one call after another", run)
    row.startup = None
    return row


def start_up(row: Row) -> None:
    """Time the row's first call, which starts its workers."""
    progress(f"start-up: {row.name}")
    started = time.perf_counter()
    row.run(trivial_gathered, (cores(),))
    row.startup = time.perf_counter() - started


def measure(rows: list[Row], n: int, args: argparse.Namespace, expected_cpu: list[int]) -> None:
    """Time every workload of every row, taking turns within each repeat, so that a
    machine that slows down for a while slows every row alike."""
    calls = args.calls

    def check_cpu(out: Any) -> None:
        assert list(out) == expected_cpu, "wrong CPU-bound outputs"

    def check_gathered(out: Any) -> None:
        assert out == calls * (calls + 1) // 2, out

    def check_in_turn(out: Any) -> None:
        assert out == SEQUENTIAL_CALLS * (SEQUENTIAL_CALLS + 1) // 2, out

    for repeat in range(args.repeats):
        progress(f"repeat {repeat + 1} of {args.repeats}")
        for row in rows:
            row.timings["cpu"].append(
                timed(partial(row.run, cpu_fan_out, (n, args.tasks)), check_cpu)
            )
        for row in rows[1:]:
            gathered = timed(partial(row.run, trivial_gathered, (calls,)), check_gathered)
            row.timings["gathered"].append(gathered / calls)
            in_turn = timed(partial(row.run, trivial_in_turn, (SEQUENTIAL_CALLS,)), check_in_turn)
            row.timings["in_turn"].append(in_turn / SEQUENTIAL_CALLS)


# -- the floors: the same work without flytelite --------------------------------------


def pool_row(pool: ProcessPoolExecutor) -> Row:
    """`loop.run_in_executor` on a `ProcessPoolExecutor`, gathered like the tasks."""

    async def go(task: Any, args: tuple[Any, ...]) -> Any:
        loop = asyncio.get_running_loop()
        if task is cpu_fan_out:
            n, tasks = args
            calls = [loop.run_in_executor(pool, spin_plain, n, s) for s in range(tasks)]
            return list(await asyncio.gather(*calls))
        if task is trivial_gathered:
            (count,) = args
            calls = [loop.run_in_executor(pool, add_one_plain, i) for i in range(count)]
            return sum(await asyncio.gather(*calls))
        (count,) = args
        total = 0
        for i in range(count):
            total += await loop.run_in_executor(pool, add_one_plain, i)
        return total

    return Row("ProcessPoolExecutor, no flytelite", lambda task, args: asyncio.run(go(task, args)))


def dask_client_row(address: str) -> Row:
    """Dask's asynchronous client, submitting and gathering like the tasks."""
    from distributed import Client

    async def go(task: Any, args: tuple[Any, ...]) -> Any:
        async with Client(address, asynchronous=True, set_as_default=False) as client:
            if task is cpu_fan_out:
                n, tasks = args
                futures = [client.submit(spin_plain, n, s, pure=False) for s in range(tasks)]
                return list(await client.gather(futures))
            if task is trivial_gathered:
                (count,) = args
                futures = [client.submit(add_one_plain, i, pure=False) for i in range(count)]
                return sum(await client.gather(futures))
            (count,) = args
            total = 0
            for i in range(count):
                total += await client.submit(add_one_plain, i, pure=False)
            return total

    return Row("Dask client, no flytelite", lambda task, args: asyncio.run(go(task, args)))


# -- the table ----------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.2f} s"


def per_call(value: float) -> str:
    if value != value:
        return "—"
    return f"{value * 1e3:.2f} ms" if value >= 1e-3 else f"{value * 1e6:.0f} µs"


def table(rows: list[Row], args: argparse.Namespace) -> str:
    threads = rows[1].median("cpu")
    lines = [
        f"| executor | {args.tasks} x {args.seconds:g} s CPU-bound | vs threads "
        f"| {args.calls} trivial calls, gathered (per call) "
        f"| 1 trivial call at a time | start-up (first call) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cpu = row.median("cpu")
        lines.append(
            f"| {row.name} | {seconds(cpu)} | {threads / cpu:.2f}x "
            f"| {per_call(row.median('gathered'))} | {per_call(row.median('in_turn'))} "
            f"| {seconds(row.startup)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="CPU-bound tasks (default 8)")
    parser.add_argument("--seconds", type=float, default=0.5, help="work per task (default 0.5)")
    parser.add_argument("--calls", type=int, default=200, help="trivial calls (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is kept")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 4 x 0.1 s, 50 calls")
    parser.add_argument("--no-dask", action="store_true", help="skip Dask even if installed")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.seconds, args.calls, args.repeats = 4, 0.1, 50, 1
    os.environ.setdefault("FLYTELITE_PROGRESS", "0")

    n = steps_for(args.seconds)
    expected = [spin_plain(n, seed) for seed in range(args.tasks)]
    progress(f"{args.tasks} x {args.seconds:g} s = {n:,} steps each; {cores()} cores")

    rows = [
        sequential_row(),
        flytelite_row("flytelite, threads", "thread"),
        flytelite_row("flytelite, processes", "process"),
    ]
    dask: Any = None
    if not args.no_dask and find_spec("distributed") is not None:
        dask = fl.DaskExecutor(
            n_workers=cores(), threads_per_worker=1, processes=True, dashboard_address=None
        )
        rows.append(flytelite_row(f"flytelite, Dask LocalCluster ({cores()} workers)", dask))
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(cores(), mp_context=spawn) as pool:
        try:
            rows.append(pool_row(pool))
            for row in rows[1:]:
                start_up(row)
            if dask is not None:  # on the cluster that the executor started
                rows.append(dask_client_row(dask.cluster.scheduler_address))
                start_up(rows[-1])
            measure(rows, n, args, expected)
        finally:
            if dask is not None:
                dask.close()
            shared_process_executor().shutdown()

    print(table(rows, args))
    processes = rows[2].median("cpu")
    target = "met" if processes <= TARGET_PROCESS_S else "**not met**"
    print(
        f"\nprocesses: {processes:.2f} s for {args.tasks} x {args.seconds:g} s on {cores()} "
        f"cores (target for 8 x 0.5 s on 2 cores: ≤ {TARGET_PROCESS_S} s, {target}); "
        f"median of {args.repeats}, rows taking turns; Python {sys.version.split()[0]}, "
        f"load {os.getloadavg()[0]:.2f}."
    )
    if dask is None:
        print("Dask: not run (pip install 'flytelite[dask]').")


if __name__ == "__main__":
    main()
