"""Many processes on one S3 cache: exactly-once under a race, and what each call costs.

Prints one Markdown table for this machine:

    python benchmarks/shared_cache.py                 # 2, 5, 10 and 20 processes, 1,000 keys
    python benchmarks/shared_cache.py --quick         # 2 and 4 processes, 100 keys
    python benchmarks/shared_cache.py --procs 2,20 --keys 500

The store is a real S3-compatible server on 127.0.0.1 (`flytelite.testing.LocalS3`,
moto: it answers one request at a time, so request counts are exact and wall
times include its queueing). First, one process costs a call three ways on a
bucket of its own: a miss (no `serialize`), a hit (the same keys again) and a
serialized miss. Then P processes start together (they wait on a file) and race
on the same `serialize=True` keys: every process maps over all of them, each key
must execute exactly once over all processes (each body appends a line to a
file), every process must get every value, and every entry must be whole.
Requests are counted at the server. Like every benchmark here it reports and
never asserts on timings; it does assert exactly-once and every output.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import section  # benchmarks/_results.py (run as a script)

REPO = Path(__file__).resolve().parent.parent

WORKER = r"""
import asyncio, json, os, sys, time
from pathlib import Path
import flytelite as fl
from flytelite.catalog import CatalogConfig


url, endpoint, keys, serialize, marks, go = sys.argv[1:7]
env = fl.TaskEnvironment("shared")


@env.task(cache=fl.Cache(version="1", serialize=serialize == "1"))
async def work(i: int) -> int:
    with open(marks, "a") as f:
        f.write(f"{i} {os.getpid()}\n")
    await asyncio.sleep(0.005)  # a short body: the race is about the store
    return i * i


@env.task
async def root(n: int) -> list[int]:
    return [r async for r in fl.map.aio(work, range(n))]


options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
config = CatalogConfig(reservation_heartbeat_s=0.5)
fl.run(root, 0, cache_url=url + "-warmup", storage_options=options, progress=False)
Path(go + f".ready.{os.getpid()}").touch()
while not os.path.exists(go):
    time.sleep(0.005)
started = time.perf_counter()
run = fl.run(root, int(keys), cache_url=url, storage_options=options, catalog_config=config,
             progress=False)
seconds = time.perf_counter() - started
assert run.outputs == [i * i for i in range(int(keys))]
rows = run.report.by_task("work")
statuses = [r.cache.value for r in rows]
reasons = {str(i): str(r.miss_reason) for i, r in enumerate(rows) if r.attempts}
print(json.dumps({"seconds": seconds, "statuses": statuses, "reasons": reasons}))
"""


def launch(
    procs: int, url: str, endpoint: str, keys: int, serialize: bool, folder: Path, s3: Any
) -> dict[str, Any]:
    """Start `procs` workers, wait until all are ready, release them together."""
    marks, go = folder / "marks.txt", folder / "go"
    marks.unlink(missing_ok=True)
    go.unlink(missing_ok=True)
    for ready in folder.glob("go.ready.*"):
        ready.unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO), **s3.CREDENTIALS}
    argv = [url, endpoint, str(keys), "1" if serialize else "0", str(marks), str(go)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    while len(list(folder.glob("go.ready.*"))) < procs:
        if any(w.poll() is not None for w in workers):
            break
        time.sleep(0.02)
    s3.requests.clear()
    started = time.perf_counter()
    go.touch()
    outs = [w.communicate() for w in workers]
    wall = time.perf_counter() - started
    for w, (_, err) in zip(workers, outs):
        if w.returncode != 0:
            raise SystemExit(f"shared_cache.py: a worker failed:\n{err[-3000:]}")
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    lines = marks.read_text().splitlines() if marks.exists() else []
    executed = collections.Counter(int(line.split()[0]) for line in lines)
    return {
        "wall": wall,
        "requests": dict(s3.requests),
        "executed": executed,
        "statuses": collections.Counter(s for r in results for s in r["statuses"]),
        "reasons": [r["reasons"] for r in results],
    }


def per_call(requests: dict[str, int], calls: int) -> str:
    total = sum(requests.values())
    kinds = ", ".join(f"{k} {v / calls:.2f}" for k, v in sorted(requests.items()))
    return f"{total / calls:.2f} ({kinds})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", default="2,5,10,20")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="2 and 4 processes, 100 keys")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md even if --quick")
    args = parser.parse_args(argv)
    procs = [2, 4] if args.quick else [int(p) for p in args.procs.split(",")]
    keys = 100 if args.quick else args.keys

    from flytelite.testing import LocalS3

    began = time.time()
    folder = Path(tempfile.mkdtemp(prefix="flytelite-shared-"))
    rows = []
    with LocalS3() as s3:
        url, _ = s3.bucket()
        miss = launch(1, url + "-plain", s3.endpoint_url, keys, False, folder, s3)
        hit = launch(1, url + "-plain", s3.endpoint_url, keys, False, folder, s3)
        serial = launch(1, url + "-one", s3.endpoint_url, keys, True, folder, s3)
        for label, r, status in (
            ("miss + populate (1 process)", miss, "POPULATED"),
            ("hit (1 process)", hit, "HIT"),
            ("serialized miss, no contention (1 process)", serial, "POPULATED"),
        ):
            assert r["statuses"] == {status: keys}, (label, r["statuses"])
            rows.append((label, r["wall"], keys, r["requests"], "—"))
        for p in procs:
            race_url = f"{url}-race{p}"
            r = launch(p, race_url, s3.endpoint_url, keys, True, folder, s3)
            once = all(r["executed"][i] == 1 for i in range(keys)) and len(r["executed"]) == keys
            assert once, f"{p} processes: some key did not execute exactly once"
            again = launch(1, race_url, s3.endpoint_url, keys, True, folder, s3)
            assert again["statuses"] == {"HIT": keys}, again["statuses"]  # whole entries
            hits = r["statuses"].get("HIT", 0)
            note = f"yes ({hits:,} of {p * keys:,} calls hit)"
            rows.append(
                (f"race: {p} processes, serialized", r["wall"], p * keys, r["requests"], note)
            )
            print(f"# {p} processes: {r['wall']:.1f} s", file=sys.stderr, flush=True)

    with section("shared_cache", write=args.write or not args.quick):
        print(f"## Many processes on one S3 cache ({platform.python_version()}, moto on 127.0.0.1)")
        print()
        print(
            f"Written by `benchmarks/shared_cache.py` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; "
            f"{keys:,} keys; took {(time.time() - began) / 60:.1f} min. Requests are per call "
            "of the task (all processes' calls), counted at the server."
        )
        print()
        print(
            "| workload | wall | per call | requests per call | exactly once, all values, whole |"
        )
        print("|---|---:|---:|---|---|")
        for label, wall, calls, requests, note in rows:
            print(
                f"| {label} | {wall:.2f} s | {wall / calls * 1e3:.2f} ms | "
                f"{per_call(requests, calls)} | {note} |"
            )


if __name__ == "__main__":
    main()
