"""The async catalog client: lookup throughput, de-duplication, and hit latency.

Prints one Markdown table for this machine:

    python benchmarks/catalog.py            # the full run (well under a minute)
    python benchmarks/catalog.py --quick    # a smoke run: few keys, one repeat

What it measures, all through `AsyncCatalogClient`:

1. Lookup throughput (lookups/s) of `download(...)` for distinct keys against a
   store whose `get` takes 50 ms (`SlowCatalog`, a subclass of `FsspecCatalog`
   on a temp folder: it also shows that a user's subclass is honoured), with
   reader `QueueConfig(workers=N)` for N = 1, 10, 50. The design target is
   `workers / latency` lookups/s; the reference is the same burst through a
   plain `ThreadPoolExecutor(N)`, the floor of this machine.
2. De-duplication: 1,000 identical lookups, all submitted before any completes,
   against the same 50 ms store; how many store `get` calls ran, and
   `client.stats()`.
3. Hit latency (p50/p95) of single sequential `download` hits on a moto S3
   server on 127.0.0.1 and on a local temp folder, interleaved with the
   blocking `FsspecCatalog.get` of the same entry (the difference is the
   queue's cost); on S3 also with `max_concurrency=1` in the storage options.
4. Write latency (p50/p95) of single sequential `upload` calls (populate) on
   both stores, interleaved with the blocking `FsspecCatalog.put`.
5. A dead store: `fl.run` of one cached call and of a 60-item `fl.map` against
   an S3 bucket whose server was stopped (connections refused), beside the same
   runs with no cache. The circuit breaker (`CatalogConfig(breaker=...)`) is
   what keeps the difference to a few seconds.

Nothing but 127.0.0.1 is contacted; without moto, boto3 and s3fs the S3 rows are
skipped. Like every benchmark here, it reports timings and never asserts on
them; it does check that every lookup is a hit and every write populates.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

from flytelite import CacheStatus
from flytelite.catalog import (
    AsyncCatalogClient,
    CatalogConfig,
    DownloadRequest,
    DownloadResult,
    Entry,
    FsspecCatalog,
    Key,
    QueueConfig,
    UploadRequest,
)

LATENCY_S = 0.05
WORKERS = (1, 10, 50)
DEDUP_LOOKUPS = 1_000
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service
}


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout is the table alone."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def key(i: int) -> Key:
    return Key("bench.task", "1", {"i": i})


def config(workers: int) -> CatalogConfig:
    return CatalogConfig(reader=QueueConfig(workers=workers))


class SlowCatalog(FsspecCatalog):
    """A catalog whose `get` takes `LATENCY_S` longer, and counts its calls."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gets = 0
        self._lock = threading.Lock()

    def get(self, key: Key) -> Entry | None:
        with self._lock:
            self.gets += 1
        time.sleep(LATENCY_S)
        return super().get(key)


def populate(catalog: FsspecCatalog, keys: list[Key]) -> None:
    for k in keys:
        catalog.put(k, {"i": k.digest})


def check_hits(results: list[DownloadResult]) -> None:
    misses = [r for r in results if not r.hit]
    if misses:
        raise RuntimeError(f"{len(misses)} lookups were not hits, e.g. {misses[0]}")


# -- 1. throughput and 2. dedup, on a slow local store -----------------------------------


async def burst(catalog: SlowCatalog, keys: list[Key], workers: int) -> float:
    """Seconds from the first `download` of `keys` (a fresh client) to the last result."""
    async with AsyncCatalogClient(catalog, config(workers)) as client:
        start = time.perf_counter()
        futures = [client.download(DownloadRequest(k)) for k in keys]
        responses = [await f for f in futures]
        elapsed = time.perf_counter() - start
    check_hits([r for response in responses for r in response.results])
    return elapsed


async def executor_burst(catalog: SlowCatalog, keys: list[Key], workers: int) -> float:
    """The same burst through a plain `ThreadPoolExecutor`: the floor on this machine."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(workers) as pool:
        start = time.perf_counter()
        futures = [loop.run_in_executor(pool, catalog.get, k) for k in keys]
        entries = [await f for f in futures]
        elapsed = time.perf_counter() - start
    if any(e is None for e in entries):
        raise RuntimeError("a blocking get missed a populated entry")
    return elapsed


@dataclass
class Throughput:
    workers: int
    keys: int
    rates: list[float]
    executor_rates: list[float]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def executor_rate(self) -> float:
        return statistics.median(self.executor_rates)

    @property
    def target(self) -> float:
        return self.workers / LATENCY_S


def throughput(root: str, workers: int, n_keys: int, repeats: int) -> Throughput:
    catalog = SlowCatalog(os.path.join(root, f"throughput-{workers}"))
    keys = [key(i) for i in range(n_keys)]
    populate(catalog, keys)
    rates, executor_rates = [], []
    for _ in range(repeats):  # interleaved, so that both see the same machine load
        gc.collect()
        rates.append(n_keys / asyncio.run(burst(catalog, keys, workers)))
        gc.collect()
        executor_rates.append(n_keys / asyncio.run(executor_burst(catalog, keys, workers)))
    return Throughput(workers, n_keys, rates, executor_rates)


@dataclass
class Dedup:
    submitted: int
    gets: int
    seconds: float
    stats: dict[str, int]


async def identical_lookups(catalog: SlowCatalog, n: int) -> tuple[float, dict[str, int]]:
    k = key(0)
    async with AsyncCatalogClient(catalog, config(10)) as client:
        start = time.perf_counter()
        # No await between the submissions: none can complete before the last is queued.
        futures = [client.download(DownloadRequest(k)) for _ in range(n)]
        responses = [await f for f in futures]
        elapsed = time.perf_counter() - start
        stats = client.stats()
    check_hits([r for response in responses for r in response.results])
    return elapsed, stats


def dedup(root: str, n: int) -> Dedup:
    catalog = SlowCatalog(os.path.join(root, "dedup"))
    populate(catalog, [key(0)])
    seconds, stats = asyncio.run(identical_lookups(catalog, n))
    return Dedup(n, catalog.gets, seconds, stats)


# -- 3. hit latency and 4. write latency, on S3 (moto) and a local folder ----------------


@dataclass
class Latencies:
    samples: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples) * 1e3

    @property
    def p95_ms(self) -> float:
        if len(self.samples) < 2:
            return self.p50_ms
        return statistics.quantiles(self.samples, n=20, method="inclusive")[-1] * 1e3

    def cell(self) -> str:
        return f"p50 {self.p50_ms:.2f} ms, p95 {self.p95_ms:.2f} ms"


@dataclass
class StoreLatencies:
    hit: Latencies  # `download` through the client
    upload: Latencies  # `upload` through the client
    direct_hit: Latencies  # the blocking `FsspecCatalog.get`
    direct_put: Latencies  # the blocking `FsspecCatalog.put`


async def alternate(
    n: int, via_client: Callable[[int], Awaitable[Any]], blocking: Callable[[int], Any]
) -> tuple[Latencies, Latencies]:
    """Time `n` calls of each, interleaved, so that both see the same machine load."""
    client_s, blocking_s = [], []
    for i in range(n):
        start = time.perf_counter()
        await via_client(i)
        client_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        blocking(i)
        blocking_s.append(time.perf_counter() - start)
    return Latencies(client_s), Latencies(blocking_s)


async def sequential(catalog: FsspecCatalog, n_hits: int, n_uploads: int) -> StoreLatencies:
    hit_key = key(-1)
    populate(catalog, [hit_key])
    async with AsyncCatalogClient(catalog, config(10)) as client:

        async def hit(_: int) -> None:
            check_hits((await client.download(DownloadRequest(hit_key))).results)

        def direct_hit(_: int) -> None:
            if catalog.get(hit_key) is None:
                raise RuntimeError("the blocking get missed the populated entry")

        async def upload(i: int) -> None:
            k = key(1_000_000 + i)
            written = await client.upload(UploadRequest(k, {"i": k.digest}))
            if written.results[0].status is not CacheStatus.POPULATED:
                raise RuntimeError(f"upload did not populate: {written.results[0]}")

        def direct_put(i: int) -> None:
            k = key(2_000_000 + i)
            if catalog.put(k, {"i": k.digest}) is not CacheStatus.POPULATED:
                raise RuntimeError("the blocking put did not populate")

        await alternate(3, hit, direct_hit)  # warm-up: a worker thread, the connection pool
        hits, direct_hits = await alternate(n_hits, hit, direct_hit)
        uploads, direct_puts = await alternate(n_uploads, upload, direct_put)
    return StoreLatencies(hits, uploads, direct_hits, direct_puts)


def store_latencies(catalog: FsspecCatalog, n_hits: int, n_uploads: int) -> StoreLatencies:
    gc.collect()
    return asyncio.run(sequential(catalog, n_hits, n_uploads))


@contextmanager
def moto_s3() -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh bucket on a local S3 server (moto, 127.0.0.1): its URL and storage options."""
    from flytelite.testing import LocalS3

    os.environ.update(S3_CREDENTIALS)
    with LocalS3() as s3:
        yield s3.bucket()


def s3_latencies(n_hits: int, n_uploads: int) -> tuple[StoreLatencies, StoreLatencies] | str:
    """S3 with default options and with `max_concurrency=1`, or why it was skipped."""
    missing = [m for m in ("moto", "boto3", "s3fs") if find_spec(m) is None]
    if missing:
        return f"skipped ({', '.join(missing)} not installed)"
    with moto_s3() as (url, options):
        default = store_latencies(FsspecCatalog(url, options), n_hits, n_uploads)
        # s3fs's `cat_file` sends a HEAD (for the size) before the GET unless
        # max_concurrency is 1: two round trips per lookup by default.
        single = FsspecCatalog(f"{url}-single", {**options, "max_concurrency": 1})
        return default, store_latencies(single, n_hits, n_uploads)


@dataclass
class DeadStore:
    one_call: float
    map_60: float
    one_call_no_cache: float
    map_60_no_cache: float


def dead_store() -> DeadStore | str:
    """Runs against a stopped S3 server, and the same runs with no cache."""
    import warnings

    import flytelite as fl

    missing = [m for m in ("moto", "boto3", "s3fs") if find_spec(m) is None]
    if missing:
        return f"skipped ({', '.join(missing)} not installed)"
    env = fl.TaskEnvironment("bench_dead_store")

    @env.task(cache=True, cache_version="1")
    def square(x: int) -> int:
        return x * x

    @env.task
    async def squares(n: int) -> list[int]:
        return [y async for y in fl.map.aio(square, range(n))]

    def timed(task: Any, arg: int, **options: Any) -> float:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fl.CatalogWarning)
            fl.run(task, arg, progress=False, **options)
        return time.perf_counter() - started

    with moto_s3() as (url, options):
        timed(square, -1, cache_url=url, storage_options=options)  # the store works
    # The server is stopped: every connection to it is refused.
    dead = {"cache_url": url, "storage_options": options}
    return DeadStore(
        timed(square, 1, **dead),
        timed(squares, 60, **dead),
        timed(square, 1, cache_url=None),
        timed(squares, 60, cache_url=None),
    )


# -- the table ----------------------------------------------------------------------------


def rate_cell(value: float) -> str:
    return f"{value:,.0f}/s" if value >= 100 else f"{value:.1f}/s"


def latency_rows(
    store: str, found: StoreLatencies | str, n_hits: int, n_uploads: int, *, hits_only: bool = False
) -> list[tuple[str, ...]]:
    def cells(client: str, direct: str, call: str) -> tuple[str, str]:
        if isinstance(found, str):
            return found, "—"
        return getattr(found, client).cell(), f"blocking `{call}`: {getattr(found, direct).cell()}"

    rows = [
        (
            f"3. hit latency, {store}",
            f"{n_hits} sequential `download` hits of one small entry",
            *cells("hit", "direct_hit", "get"),
        )
    ]
    if not hits_only:
        rows.append(
            (
                f"4. write latency, {store}",
                f"{n_uploads} sequential `upload`s (populate), distinct keys",
                *cells("upload", "direct_put", "put"),
            )
        )
    # No design target for latencies: the target and ratio columns stay empty.
    return [
        (name, setting, measured, "—", "—", reference)
        for name, setting, measured, reference in rows
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few keys, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        n_keys, repeats, n_hits, n_uploads = {1: 10, 10: 50, 50: 100}, 1, 20, 10
    else:
        n_keys, repeats, n_hits, n_uploads = {1: 40, 10: 200, 50: 200}, 3, 200, 100

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="flytelite-bench-") as root:
        results = []
        for workers in WORKERS:
            progress(f"1. throughput, workers={workers}, {n_keys[workers]} keys x {repeats}")
            results.append(throughput(root, workers, n_keys[workers], repeats))
        progress(f"2. dedup, {DEDUP_LOOKUPS:,} identical lookups")
        deduped = dedup(root, DEDUP_LOOKUPS)
        progress(f"3-4. local folder, {n_hits} hits, {n_uploads} uploads")
        local = store_latencies(FsspecCatalog(os.path.join(root, "local")), n_hits, n_uploads)
    progress(f"3-4. S3 on moto, {n_hits} hits, {n_uploads} uploads")
    s3 = s3_latencies(n_hits, n_uploads)
    progress("5. a dead store: one call and a 60-item map against a stopped S3 server")
    dead = dead_store()

    rows: list[tuple[str, ...]] = []
    for t in results:
        spread = f" (runs: {', '.join(f'{r:,.0f}' for r in t.rates)})" if repeats > 1 else ""
        rows.append(
            (
                f"1. lookup throughput, workers={t.workers}",
                f"{t.keys} distinct keys at once, `get` + {LATENCY_S * 1e3:.0f} ms",
                f"{rate_cell(t.rate)}{spread}",
                f"{rate_cell(t.target)} (workers / latency)",
                f"{t.rate / t.target:.2f}",
                f"`ThreadPoolExecutor({t.workers})`: {rate_cell(t.executor_rate)}",
            )
        )
    stats = ", ".join(f"{k}={v}" for k, v in deduped.stats.items() if k.startswith("reader"))
    rows.append(
        (
            "2. dedup, identical lookups",
            f"{deduped.submitted:,} `download`s of one key before any completes",
            f"{deduped.gets} store `get` ran (submitted / executed = "
            f"{deduped.submitted / max(deduped.gets, 1):,.0f}x), all done in "
            f"{deduped.seconds * 1e3:.0f} ms; `stats()`: {stats}",
            "1 `get`",
            f"{deduped.gets:.2f}",
            "—",
        )
    )
    rows += latency_rows("local folder", local, n_hits, n_uploads)
    s3_default, s3_single = (s3, s3) if isinstance(s3, str) else s3
    rows += latency_rows("S3 (moto, 127.0.0.1)", s3_default, n_hits, n_uploads)
    rows += latency_rows("S3, `max_concurrency=1`", s3_single, n_hits, n_uploads, hits_only=True)
    for label, got in (("one cached call", "one_call"), ("a 60-item `fl.map`", "map_60")):
        if isinstance(dead, str):
            rows.append((f"5. dead store, {label}", "`fl.run`", dead, "—", "—", "—"))
            continue
        measured, bare = getattr(dead, got), getattr(dead, f"{got}_no_cache")
        rows.append(
            (
                f"5. dead store, {label}",
                "`fl.run` against a stopped S3 server (connections refused)",
                f"{measured:.2f} s",
                "no cache + a few s",
                "—",
                f"`cache_url=None`: {bare:.2f} s",
            )
        )

    print(
        f"flytelite catalog: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load:.1f} at start{' (quick run)' if args.quick else ''}"
    )
    print()
    print(
        "| workload | setting | AsyncCatalogClient | design target | measured / target "
        "| reference: same store, no flytelite queue |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        f"Row 1: median of {repeats} run(s), each with a fresh `AsyncCatalogClient` (its worker "
        f"threads start during the burst), timed from the first `download` to the last result; "
        f"the reference sends the same burst through `loop.run_in_executor`. Rows 2-4: reader "
        f"and writer workers=10. Rows 3-4: an entry holding a small dict, after 3 untimed hits; "
        f"the moto server answers one request at a time. By default s3fs sends a HEAD before "
        f"each GET (`max_concurrency` > 1); the last row passes `max_concurrency=1` in "
        f"storage_options."
    )


if __name__ == "__main__":
    main()
