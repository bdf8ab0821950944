"""Dask scale-out: CPU-bound cached calls on 1 and 2 workers, and hits that stay home.

Prints one Markdown table for this machine:

    python benchmarks/dask_scale.py             # 2,000 calls of about 10 ms
    python benchmarks/dask_scale.py --quick     # 200 calls

Each run maps a cached task over `--calls` items; its body spins for about
`--ms` milliseconds of pure Python (it holds the GIL: only more processes
help). The same work runs on a Dask `LocalCluster` of 1 worker, then of 2
(single-threaded worker processes), each on an empty cache, and then again on
the 2-worker cache, where every call is a hit. Bodies shipped to Dask are
counted by an executor that wraps `fl.DaskExecutor` (through the published
`Executor` protocol). Last, the same bodies run through Dask alone
(`client.map` and one `client.gather`, no flytelite, no cache) on 1 and then 2
workers: the speed-up Dask itself reaches on this machine, where its client and
scheduler share the cores with the workers.
Target (issue: scale and speed): 2 workers at least 1.7x faster than 1, and no
hit shipped. Like every benchmark here it reports and never asserts on timings;
it asserts every output, the statuses, and that hits ship nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

from _results import section  # benchmarks/_results.py (run as a script)

import flytelite as fl

TARGET_SPEEDUP = 1.7

env = fl.TaskEnvironment("dask_scale")


def burn(i: int, ms: float) -> int:
    """About `ms` milliseconds of pure Python, holding the GIL; returns `i`."""
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1
    return i


@env.task(cache=True, cache_version="1")
def spin(i: int, ms: float) -> int:
    return burn(i, ms)


@env.task
async def fan_out(n: int, ms: float) -> int:
    return sum([r async for r in fl.map.aio(spin, range(n), [ms] * n)])


class Counted:
    """An executor that counts the bodies it ships, then hands them to Dask."""

    def __init__(self, inner: fl.DaskExecutor) -> None:
        self.inner = inner
        self.shipped = 0

    async def run(
        self,
        func: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        task: str,
        timeout: float | None,
    ) -> Any:
        self.shipped += 1
        return await self.inner.run(func, args, kwargs, task=task, timeout=timeout)


def one(workers: int, n: int, ms: float, url: str, *, repeat: bool) -> list[dict[str, Any]]:
    dask = fl.DaskExecutor(n_workers=workers, threads_per_worker=1, processes=True)
    counted = Counted(dask)
    out = []
    try:
        # Start the cluster and its workers outside the timing.
        fl.run(spin, -1, 1.0, cache_url=url + "-warmup", executor=counted, progress=False)
        for label in ("cold", "hits") if repeat else ("cold",):
            counted.shipped = 0
            started = time.perf_counter()
            run = fl.run(fan_out, n, ms, cache_url=url, executor=counted, progress=False)
            seconds = time.perf_counter() - started
            assert run.outputs == n * (n - 1) // 2
            want = fl.CacheStatus.POPULATED if label == "cold" else fl.CacheStatus.HIT
            assert all(r.cache is want for r in run.report.by_task("spin")), label
            out.append({"label": label, "seconds": seconds, "shipped": counted.shipped})
        if repeat:
            assert out[-1]["shipped"] == 0, "a hit was shipped to a Dask worker"
    finally:
        dask.close()
    return out


def bare(workers: int, n: int, ms: float) -> float:
    """The same bodies through Dask alone: `client.map`, then one `client.gather`."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        client.submit(burn, -1, 1.0, pure=False).result()  # workers up, outside the timing
        started = time.perf_counter()
        futures = client.map(burn, range(n), [ms] * n, pure=False)
        assert sum(client.gather(futures)) == n * (n - 1) // 2
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--ms", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="200 calls")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md even if --quick")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.calls

    root = tempfile.mkdtemp(prefix="flytelite-dask-")
    began = time.time()
    single = one(1, n, args.ms, f"{root}/one", repeat=False)[0]
    double, hits = one(2, n, args.ms, f"{root}/two", repeat=True)
    speedup = single["seconds"] / double["seconds"]
    dask_single, dask_double = bare(1, n, args.ms), bare(2, n, args.ms)
    dask_speedup = dask_single / dask_double
    floor = n * args.ms / 1000

    with section("dask_scale", write=args.write or not args.quick):
        print(f"## Dask scale-out: {n:,} cached calls of about {args.ms:g} ms of CPU")
        print()
        print(
            f"Written by `benchmarks/dask_scale.py` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; "
            f"load average at the end {os.getloadavg()[0]:.1f}; took "
            f"{(time.time() - began) / 60:.1f} min. The floor is the CPU time of the bodies "
            "divided by the workers."
        )
        print()
        print("| run | wall | floor | per call | bodies shipped | speed-up |")
        print("|---|---:|---:|---:|---:|---:|")
        rows = (
            ("1 worker, empty cache", single, floor, "1.00x"),
            ("2 workers, empty cache", double, floor / 2, f"{speedup:.2f}x (target ≥ 1.7x)"),
            ("2 workers, every call a hit", hits, 0.0, "—"),
        )
        for label, r, fl_s, note in rows:
            print(
                f"| {label} | {r['seconds']:.2f} s | {fl_s:.2f} s | "
                f"{r['seconds'] / n * 1e3:.2f} ms | {r['shipped']:,} | {note} |"
            )
        for label, seconds, fl_s, note in (
            ("Dask alone, 1 worker (no cache)", dask_single, floor, "1.00x"),
            ("Dask alone, 2 workers (no cache)", dask_double, floor / 2, f"{dask_speedup:.2f}x"),
        ):
            print(
                f"| {label} | {seconds:.2f} s | {fl_s:.2f} s | {seconds / n * 1e3:.2f} ms | "
                f"{n:,} | {note} |"
            )
        print()
        met = "yes" if speedup >= TARGET_SPEEDUP else "no"
        print(
            f"2 workers ≥ {TARGET_SPEEDUP}x faster than 1: {met}; hits shipped: {hits['shipped']}. "
            f"Dask alone in the same run: {dask_speedup:.2f}x, so flytelite keeps "
            f"{speedup / dask_speedup:.0%} of the speed-up Dask itself gets here (its client "
            "and scheduler share the 2 cores with the workers)."
        )


if __name__ == "__main__":
    main()
