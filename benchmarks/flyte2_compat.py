"""Flyte 2 programs, unchanged, under Flyte 2's local runner and under flytelite's surface.

Prints one Markdown table for this machine:

    python benchmarks/flyte2_compat.py            # N = 200 tasks, best of 3
    python benchmarks/flyte2_compat.py --quick    # a smoke run: small N, one repeat

Each program below is plain Flyte 2 (`import flyte`). Every measurement runs in
a fresh interpreter: once with the real `flyte` package (when installed), its
sqlite cache and run folders in a temporary folder, and once after
`flytelite.compat.install()`, with a temporary flytelite cache. The wall time
of `flyte.with_runcontext(mode="local").run(...)` is timed; interpreter start
and imports are not. Like every benchmark here it reports timings and never
asserts on them; it does check that both runners give the same outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROGRAM = """
import asyncio

import flyte

env = flyte.TaskEnvironment(name="bench_compat", resources=flyte.Resources(cpu=1))


@env.task
async def inc(x: int) -> int:
    return x + 1


@env.task
async def fan_out(n: int) -> int:
    return sum(await asyncio.gather(*(inc(i) for i in range(n))))


@env.task
async def fetch(i: int) -> int:
    await asyncio.sleep(0.05)  # an I/O-bound call: a web request, a query
    return i * i


@env.task
async def crawl(n: int, concurrency: int) -> int:
    return sum([r async for r in flyte.map.aio(fetch, range(n), concurrency=concurrency)])


@env.task(cache="auto")
async def featurize(x: int) -> list[int]:
    return [x, x * x, x % 7]


@env.task
async def features(n: int) -> int:
    rows = await asyncio.gather(*(featurize(i) for i in range(n)))
    return sum(sum(r) for r in rows)


@env.task
def square(x: int) -> int:
    return x * x


@env.task
def squares(n: int) -> int:
    return sum(flyte.map(square, range(n)))
"""

WORKER = r"""
import importlib.util, json, os, sys, tempfile, time, pathlib
runner, program, task, args, repeats, cached = (
    sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5]),
    sys.argv[6] == "1",
)
folder = pathlib.Path(tempfile.mkdtemp(prefix="bench-flyte2-"))
if runner == "flytelite":
    import flytelite.compat
    flytelite.compat.install()
    import flyte
else:
    import flyte
    from flyte._persistence._db import LocalDB
spec = importlib.util.spec_from_file_location("program", program)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
flyte.init()
count = [0]

def use_fresh_cache():
    count[0] += 1
    here = folder / f"cache-{count[0]}"
    if runner == "flytelite":
        os.environ["FLYTELITE_CACHE_URL"] = str(here)
    else:
        LocalDB.close_sync()
        LocalDB._get_cache_dir = staticmethod(lambda: here)

def timed():
    ctx = flyte.with_runcontext(mode="local", raw_data_path=str(folder / "raw"))
    if runner == "flyte":
        ctx._metadata_path = str(folder / "metadata")
    start = time.perf_counter()
    run = ctx.run(getattr(module, task), *args)
    return time.perf_counter() - start, repr(tuple(run.outputs()))

use_fresh_cache()
timed()  # warm-up: lazy imports and first-run setup are not timed
cold, warm, outputs = [], [], None
for _ in range(repeats):
    use_fresh_cache()
    seconds, outputs = timed()
    cold.append(seconds)
    if cached:
        seconds, again = timed()
        assert again == outputs, (again, outputs)
        warm.append(seconds)
print("RESULT " + json.dumps({"cold": min(cold), "warm": min(warm) if warm else None,
                              "outputs": outputs}))
"""


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def measure(
    runner: str, program: Path, task: str, args: list[Any], repeats: int, cached: bool
) -> dict[str, Any] | str:
    """One runner's best times for one workload, in a fresh interpreter; or why there are none."""
    env = {**os.environ, "FLYTELITE_PROGRESS": "0", "PYTHONWARNINGS": "ignore"}
    env["FLYTELITE_RUNS_DIR"] = str(program.parent / "runs")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            WORKER,
            runner,
            str(program),
            task,
            json.dumps(args),
            str(repeats),
            "1" if cached else "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return f"failed ({tail[0][:60]})"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1e3:,.0f} ms" if value < 10 else f"{value:,.1f} s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="tasks per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, one repeat")
    parser.add_argument("--no-flyte", action="store_true", help="skip Flyte 2 even if installed")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 40, 1
    n = args.n
    crawl_n = max(10, n // 10)
    workloads = [
        (f"1. `asyncio.gather` of {n} async tasks", "fan_out", [n], False),
        (
            f"2. `flyte.map.aio` of {crawl_n} I/O-bound tasks (50 ms), concurrency=10",
            "crawl",
            [crawl_n, 10],
            False,
        ),
        (f"3. {n} sync tasks through `flyte.map`", "squares", [n], False),
        (f'4. {n} cached tasks (`cache="auto"`)', "features", [n], True),
    ]
    load = os.getloadavg()[0]
    have_flyte = not args.no_flyte and _flyte_installed()
    rows = []
    with tempfile.TemporaryDirectory(prefix="flytelite-bench-flyte2-") as tmp:
        program = Path(tmp) / "program.py"
        program.write_text(PROGRAM)
        for title, task, task_args, cached in workloads:
            results: dict[str, dict[str, Any] | str] = {}
            for runner in ("flytelite", "flyte"):
                if runner == "flyte" and not have_flyte:
                    results[runner] = "not run" if args.no_flyte else "not installed"
                    continue
                progress(f"{runner}: {title}")
                results[runner] = measure(runner, program, task, task_args, args.repeats, cached)
            rows.extend(_rows(title, results, cached))
    header = ("workload", "Flyte 2 local runner", "flytelite (`flytelite.compat`)", "speed-up")
    print(
        f"Flyte 2 programs on flytelite: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load:.1f} at start, {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        f"Best of {args.repeats} timed runs after an untimed warm-up, each runner in its own "
        f"interpreter; wall time of `flyte.with_runcontext(mode='local').run(...)`. Cached "
        f"rows: the first run of a fresh cache (misses, entries written), then the same run "
        f"again (hits). Outputs of the two runners are compared: a mismatch is marked."
    )


def _rows(
    title: str, results: dict[str, dict[str, Any] | str], cached: bool
) -> list[tuple[str, str, str, str]]:
    ours, theirs = results["flytelite"], results["flyte"]
    same = ""
    if isinstance(ours, dict) and isinstance(theirs, dict) and ours["outputs"] != theirs["outputs"]:
        same = " **(outputs differ)**"
    phases = [("cold", " — first run" if cached else "")]
    if cached:
        phases.append(("warm", " — re-run, all hits"))
    out = []
    for phase, suffix in phases:
        mine = ours[phase] if isinstance(ours, dict) else None
        peer = theirs[phase] if isinstance(theirs, dict) else None
        ratio = f"{peer / mine:,.1f}x" if mine and peer else "—"
        out.append(
            (
                title + suffix + same,
                seconds(peer) if isinstance(theirs, dict) else theirs,
                seconds(mine) if isinstance(ours, dict) else ours,
                ratio,
            )
        )
    return out


def _flyte_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("flyte") is not None


if __name__ == "__main__":
    main()
