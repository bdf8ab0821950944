"""One run, many calls: time per call and peak memory at 10k, 100k and 1M calls.

Prints one Markdown table for this machine:

    python benchmarks/scale.py                      # 10k, 100k, 1M (about 15 minutes)
    python benchmarks/scale.py --quick              # a smoke run: 2k and 20k
    python benchmarks/scale.py --sizes 10000,100000

Each cell is a fresh interpreter running `fl.map` over N trivial calls (the
default, unbounded concurrency) from one async root task, on a local cache
folder of its own: uncached calls; a cold cached run (every call a miss, then
written); a warm re-run (every call a hit, in a new process); and the warm
re-run with the live progress view drawing (to a file, as plain lines). Time
is the wall time of `fl.run` divided by N, after a one-call run in the same
process (what a run pays once, imports and fingerprints, is not per call);
peak RSS is the process's. Targets
(issue: one million calls in one run): peak RSS <= 2 GB at 1M, and time per call
at 1M within 1.5x of that at 10k. Like every benchmark here it reports and
never asserts on timings; it does check every output and cache status.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import section  # benchmarks/_results.py (run as a script)

REPO = Path(__file__).resolve().parent.parent
TARGET_RSS_MB = 2048
TARGET_GROWTH = 1.5
WORKLOADS = {
    "uncached": "uncached calls",
    "cold": "cold: miss + populate",
    "warm": "warm: every call a hit",
    "progress": "warm, live progress view on",
}

WORKER = r"""
import json, resource, sys, time
import flytelite as fl


workload, n, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
env = fl.TaskEnvironment("scale")
cached = workload != "uncached"


@env.task(cache=cached, cache_version="1" if cached else None)
async def inc(x: int) -> int:
    return x + 1


@env.task
async def root(start: int, n: int) -> int:
    total = 0
    async for r in fl.map.aio(inc, range(start, start + n)):
        total += r
    return total


# A one-call run first: what a run pays once (imports, fingerprints) is not per call.
fl.run(root, -1, 1, cache_url=url, progress=False)
started = time.perf_counter()
run = fl.run(root, 0, n, cache_url=url, progress=workload == "progress")
seconds = time.perf_counter() - started
assert run.outputs == n * (n + 1) // 2, run.outputs
want = {"uncached": "DISABLED", "cold": "POPULATED"}.get(workload, "HIT")
# The report keeps 100,000 rows; its counts cover every call (the root's too).
counts = run.report.counts()
assert run.report.calls == n + 1
assert counts[fl.CacheStatus(want)] == n + (want == "DISABLED"), (want, counts)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "rows": len(run.report)}))
"""


def measure(workload: str, n: int, url: str, log: Path) -> dict[str, float]:
    """One fresh interpreter running `workload` over `n` calls."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "FLYTELITE_PROGRESS": "1"}
    with log.open("w") as stderr:  # the progress view's lines go here
        out = subprocess.run(
            [sys.executable, "-c", WORKER, workload, str(n), url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            check=False,
        )
    if out.returncode != 0:
        tail = log.read_text()[-2000:]
        raise SystemExit(f"scale.py: {workload} at N={n} failed:\n{tail}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def cell(result: dict[str, float], n: int) -> str:
    return f"{result['seconds'] / n * 1e6:,.1f} µs · {result['rss_mb']:,.0f} MB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="2k and 20k calls")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md even if --quick")
    args = parser.parse_args(argv)
    sizes = [2000, 20000] if args.quick else [int(s) for s in args.sizes.split(",")]

    began = time.time()
    results: dict[str, dict[int, dict[str, float]]] = {w: {} for w in WORKLOADS}
    for n in sizes:
        root = Path(tempfile.mkdtemp(prefix="flytelite-scale-"))
        try:
            for workload in ("uncached", "cold", "warm", "progress"):
                url = str(root / ("cache-uncached" if workload == "uncached" else "cache"))
                r = measure(workload, n, url, root / f"{workload}.log")
                results[workload][n] = r
                print(f"# {workload:>8} N={n:,}: {cell(r, n)}", file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    small, large = sizes[0], sizes[-1]
    with section("scale", write=args.write or not args.quick):
        print(
            f"## One run, many calls: `fl.map` over N trivial calls ({platform.python_version()})"
        )
        print()
        print(
            f"Written by `benchmarks/scale.py` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; "
            f"load average at the end {os.getloadavg()[0]:.1f}; took "
            f"{(time.time() - began) / 60:.1f} min. Each cell: time per call · peak RSS of the "
            "process."
        )
        print()
        header = ["workload", *(f"N = {n:,}" for n in sizes), f"{large:,} / {small:,} per call"]
        print("| " + " | ".join(header) + " |")
        print("|---|" + "---:|" * (len(header) - 1))
        for workload, label in WORKLOADS.items():
            row = results[workload]
            growth = (row[large]["seconds"] / large) / (row[small]["seconds"] / small)
            flag = "" if growth <= TARGET_GROWTH else " (over 1.5x)"
            cells = [cell(row[n], n) for n in sizes]
            print(f"| {label} | " + " | ".join(cells) + f" | {growth:.2f}x{flag} |")
        print()
        peak = max(r["rss_mb"] for row in results.values() for r in row.values())
        print(
            f"Peak RSS over all runs: {peak:,.0f} MB (target at 1M: <= {TARGET_RSS_MB:,} MB); "
            f"time per call at the largest N within {TARGET_GROWTH}x of the smallest: "
            + (
                "yes"
                if all(
                    (row[large]["seconds"] / large)
                    <= TARGET_GROWTH * (row[small]["seconds"] / small)
                    for row in results.values()
                )
                else "no"
            )
            + "."
        )


if __name__ == "__main__":
    main()
