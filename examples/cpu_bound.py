"""CPU-bound fan-out: the same tasks on threads, on processes, and on Dask.

Pure-Python work holds the GIL, so sync bodies in threads take turns on one
core; `executor="process"` runs them on every core, and `fl.DaskExecutor()` on
a Dask cluster (here a `LocalCluster` on this machine). The workflow does not
change, only where its bodies run.

    python examples/cpu_bound.py                   # 8 tasks of about 0.5 s each
    python examples/cpu_bound.py --seconds 0.05    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from importlib.util import find_spec

import flytelite as fl

env = fl.TaskEnvironment("cpu_bound")


@env.task
def spin(n: int, seed: int) -> int:
    """About `n` steps of pure-Python arithmetic."""
    x = seed
    for i in range(n):
        x = (x * 1_103_515_245 + i) % 2_147_483_648
    return x


@env.task
async def fan_out(n: int, tasks: int) -> int:
    results = await asyncio.gather(*(spin.aio(n, seed) for seed in range(tasks)))
    return sum(results) % 1_000_003


def steps_for(seconds: float) -> int:
    """How many `spin` steps take about `seconds` on this machine."""
    n = 50_000
    while True:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            spin(n, 0)  # outside a run: the plain function
            timings.append(time.perf_counter() - started)
        elapsed = sorted(timings)[1]
        if elapsed > 0.05:
            return max(1, int(n * seconds / elapsed))
        n *= 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="how many tasks (default 8)")
    parser.add_argument("--seconds", type=float, default=0.5, help="work per task (default 0.5)")
    args = parser.parse_args()

    n = steps_for(args.seconds)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.tasks} tasks x {args.seconds:g} s of pure Python, on {cores} cores")
    answers = []

    def timed(name: str, executor: object, note: str = "") -> None:
        started = time.perf_counter()
        run = fl.run(fan_out, n, args.tasks, executor=executor)
        elapsed = time.perf_counter() - started
        answers.append(run.outputs)
        print(f"{name:<10} {elapsed:6.2f} s  {note}".rstrip())

    timed("threads", "thread", "(the GIL: one body at a time)")
    timed("processes", "process", "(includes starting the workers)")
    if find_spec("distributed") is None:
        print("dask       skipped: pip install 'flytelite[dask]'")
    else:
        started = time.perf_counter()
        with fl.DaskExecutor(processes=True, threads_per_worker=1) as dask:
            fl.run(spin, 1, 0, executor=dask)  # start the LocalCluster
            startup = time.perf_counter() - started
            timed("dask", dask, f"(+ {startup:.1f} s to start a LocalCluster)")
    if len(set(answers)) == 1:
        print(f"all three agree: {answers[0]}")
    else:
        raise SystemExit(f"the executors disagree: {answers}")


if __name__ == "__main__":
    main()
