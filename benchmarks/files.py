"""Files and the cache's lifecycle: hashing big inputs, restoring big outputs, pruning.

Prints one Markdown table for this machine:

    python benchmarks/files.py            # the full run (1 GB file, 200 MB output, 100k entries)
    python benchmarks/files.py --quick    # a smoke run (64 MB, 16 MB, 5k entries)

What it measures:

1. Hashing a 1 GB `fl.File` input with `flytelite.lowlevel.hash_value` (what a
   call's key costs): *cold*, the first time (the file is read and hashed with
   blake3's threads; the OS page cache may hold it, since the benchmark just
   wrote it, so this is the hashing cost more than the disk's), and
   *unchanged*, every later time (a `stat` and a lookup in the stat memo).
   Target: unchanged ≤ 1 ms.
2. A task that returns a 200 MB `fl.File`: the run that executes and stores
   it (hash, copy into a blob), the first hit after the original was deleted
   (the blob copied back and verified), and a later hit (the restored copy
   checked by `stat`), each a whole `fl.run` of one call.
3. Pruning a local cache of 100k entries (written directly, ~300 B each, half
   of them with last-use records; on tmpfs where there is one, so that the
   setup takes seconds, which measures flytelite's work more than the disk's):
   planning (`--dry-run`: list, read the last-use records, order), pruning to
   half the size (planning plus 50k deletes), and planning when blobs exist
   (then every entry's header is read for the blobs it refers to).

Like every benchmark here, it reports timings and never asserts on them; it
does check that the hits are hits and that pruning kept what it should.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import flytelite as fl
from flytelite.catalog import FsspecCatalog, Key, plan_prune, prune
from flytelite.lowlevel import hash_value

env = fl.TaskEnvironment("bench_files")


@env.task(cache=True, cache_version="1")
def big_output(folder: str, mb: int) -> fl.File:
    path = Path(folder, "output.bin")
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    return fl.File(path)


def write_big(path: Path, mb: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mb):
            f.write(block[i % 256 :] + block[: i % 256])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def bench_hashing(folder: Path, mb: int, rows: list[tuple[str, str, str]]) -> None:
    path = folder / "input.bin"
    write_big(path, mb)
    time.sleep(2.1)  # the stat memo remembers only files settled for two seconds
    started = time.perf_counter()
    cold = hash_value(fl.File(path))
    cold_s = time.perf_counter() - started
    times = []
    for _ in range(50):
        started = time.perf_counter()
        warm = hash_value(fl.File(path))
        times.append(time.perf_counter() - started)
        assert warm == cold
    rows.append((f"hash a {mb:,} MB File input", "cold (read and hashed)", ms(cold_s)))
    rows.append(
        (
            f"hash a {mb:,} MB File input",
            "unchanged (stat memo), median of 50",
            ms(statistics.median(times)),
        )
    )
    path.unlink()


def bench_output(folder: Path, mb: int, rows: list[tuple[str, str, str]]) -> None:
    out = folder / "task"
    out.mkdir()
    runner = fl.with_runcontext(progress=False).run
    started = time.perf_counter()
    first = runner(big_output, str(out), mb)
    populate = time.perf_counter() - started
    assert first.report[0].cache is fl.CacheStatus.POPULATED
    Path(first.outputs.path).unlink()
    started = time.perf_counter()
    hit = runner(big_output, str(out), mb)
    restore = time.perf_counter() - started
    assert hit.report[0].cache is fl.CacheStatus.HIT
    assert os.path.getsize(hit.outputs.path) == mb << 20
    times = []
    for _ in range(5):
        started = time.perf_counter()
        again = runner(big_output, str(out), mb)
        times.append(time.perf_counter() - started)
        assert again.report[0].cache is fl.CacheStatus.HIT
    what = f"a {mb:,} MB File output (fl.run)"
    rows.append((what, "executed and stored as a blob", ms(populate)))
    rows.append((what, "first hit: restored from the blob, verified", ms(restore)))
    rows.append(
        (what, "later hit: restored copy unchanged, median of 5", ms(statistics.median(times)))
    )


def fill(catalog: FsspecCatalog, n: int) -> None:
    """`n` small entries of one task, written directly (as many runs would have)."""
    from flytelite.catalog._entry import encode_entry  # the format, without the keys' hashing

    folder = Path(catalog.url, "v1", "bench.task")
    folder.mkdir(parents=True)
    now = time.time()
    used = {}
    for i in range(n):
        digest = f"{i:064x}"
        parts = encode_entry(
            key=digest, task="bench.task", cache_version="1", producer="bench", payload=b"x" * 200
        )
        (folder / digest).write_bytes(b"".join(parts))  # plain writes: only the setup
        if i % 2:
            used[f"v1/bench.task/{digest}"] = now + 3600 + i  # after every write
    catalog.record_use(used)


def bench_prune(folder: Path, n: int, rows: list[tuple[str, str, str]]) -> None:
    catalog = FsspecCatalog(str(folder / "prune-cache"))
    where = "tmpfs" if str(folder).startswith("/dev/shm") else "disk"
    started = time.perf_counter()
    fill(catalog, n)
    rows.append(
        (
            f"prune {n:,} entries ({where})",
            "writing them (setup)",
            ms(time.perf_counter() - started),
        )
    )
    entries = list(catalog.entries())
    total = sum(e.size for e in entries)
    started = time.perf_counter()
    plan = plan_prune(catalog, max_size=total // 2)
    rows.append(
        (
            f"prune {n:,} entries ({where})",
            "plan: list, last use, order (--dry-run)",
            ms(time.perf_counter() - started),
        )
    )
    assert len(plan.entries) >= n // 2 - 1
    started = time.perf_counter()
    done = prune(catalog, max_size=total // 2)
    rows.append(
        (
            f"prune {n:,} entries ({where})",
            f"prune to half: {len(done.entries):,} removed",
            ms(time.perf_counter() - started),
        )
    )
    left = {e.key for e in catalog.entries()}
    assert all(int(k, 16) % 2 for k in left)  # the recently used half stays
    big = os.urandom(2 << 20)
    catalog.put(Key("bench.blob", "1", {"x": 1}), big)  # one entry with a blob
    started = time.perf_counter()
    plan_prune(catalog, max_size=0)
    rows.append(
        (
            f"prune {len(left) + 1:,} entries ({where})",
            "plan with blobs present (every header read)",
            ms(time.perf_counter() - started),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument(
        "--prune-dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the pruned cache lives (default: tmpfs where there is one, so that "
        "writing 100k entries takes seconds; the temp folder otherwise)",
    )
    args = parser.parse_args()
    input_mb, output_mb, entries = (64, 16, 5_000) if args.quick else (1024, 200, 100_000)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="flytelite-bench-files-") as tmp:
        folder = Path(tmp)
        os.environ["FLYTELITE_CACHE_URL"] = str(folder / "cache")
        bench_hashing(folder, input_mb, rows)
        bench_output(folder, output_mb, rows)
        with tempfile.TemporaryDirectory(dir=args.prune_dir) as prune_tmp:
            bench_prune(Path(prune_tmp), entries, rows)
    print(
        f"flytelite files and cache lifecycle — {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}\n"
    )
    widths = [max(len(r[i]) for r in [("what", "case", "time"), *rows]) for i in range(3)]
    for n, row in enumerate([("what", "case", "time"), *rows]):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


if __name__ == "__main__":
    main()
