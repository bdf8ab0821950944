"""Connector tasks: 1,000 calls as jobs on a local HTTP job service.

Prints one Markdown table for this machine:

    python benchmarks/connectors.py            # 1,000 calls per scenario
    python benchmarks/connectors.py --quick    # a smoke run: 100 calls

The service is the threaded HTTP job service of the tests (`tests/jobservice.py`,
on 127.0.0.1, in this process), and the connector its `JobConnector` (asyncio
streams, one connection per request). Every call is a job that runs for
`--job-s` seconds; all calls are gathered at once by one root task, uncached.
For each scenario (a read rate limit, unlimited reads, a quota) it reports:

- throughput: calls per second of wall time, from the first create to the last result;
- the status checks (`get`) the background poller made: per call, their mean
  rate, and the busiest one-second window as the client sent them and as the
  service saw them (its threads see each request after a varying delay), next
  to what the read limit allows in one second (burst + qps);
- the poller's overhead per call: how long after its job finished a call
  returned (mean and p95; polling every `poll_interval_s` costs about half an
  interval plus waiting for a read token), and the CPU time of the run's event
  loop thread per call (flytelite, the poller and the HTTP client; the service's
  threads are not counted).

Like every benchmark here, it reports and never asserts on timings; it does
check every output.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from jobservice import JobConnector, JobService

import flytelite as fl
from flytelite.connectors import ConnectorConfig, RateLimit

WRITES = RateLimit(500, 100)


@dataclass(frozen=True)
class Scenario:
    name: str
    config: ConnectorConfig


@dataclass(frozen=True)
class Figures:
    calls: int
    wall_s: float
    gets: int
    read_qps_mean: float
    read_qps_peak: int
    read_qps_peak_sent: int
    delay_mean_s: float
    delay_p95_s: float
    cpu_s: float


def scenarios(poll_s: float) -> list[Scenario]:
    common = {"write_rate_limit": WRITES, "poll_interval_s": poll_s, "poll_workers": 10}
    return [
        Scenario(
            "reads limited to 200 qps (burst 50)",
            ConnectorConfig(read_rate_limit=RateLimit(200, 50), **common),  # type: ignore[arg-type]
        ),
        Scenario(
            "reads unlimited",
            ConnectorConfig(read_rate_limit=RateLimit(math.inf, 1), **common),  # type: ignore[arg-type]
        ),
        Scenario(
            "quota 100 jobs, reads 200 qps",
            ConnectorConfig(
                resource_quotas={"default": 100},
                read_rate_limit=RateLimit(200, 50),
                **common,  # type: ignore[arg-type]
            ),
        ),
    ]


def measure(scenario: Scenario, calls: int, job_s: float) -> Figures:
    with JobService() as service:
        env = fl.TaskEnvironment("bench_connectors")
        connector = JobConnector(service.url, scenario.config)

        @env.task(connector=connector)
        async def job(duration: float, result: int) -> int: ...

        returned: dict[int, float] = {}
        cpu: list[float] = []

        async def one(i: int) -> int:
            value = await job(job_s, i)
            returned[i] = time.monotonic()
            return value

        @env.task
        async def root(n: int) -> list[int]:
            cpu.append(time.thread_time())
            values = await asyncio.gather(*(one(i) for i in range(n)))
            cpu.append(time.thread_time())
            return list(values)

        started = time.monotonic()
        run = fl.run(root, calls)
        wall = time.monotonic() - started
        assert run.outputs == list(range(calls))
        gets = service.times("GET")
        finished = {job.result: job.finishes for job in service.jobs.values()}
    delays = sorted(returned[i] - finished[i] for i in range(calls))
    return Figures(
        calls=calls,
        wall_s=wall,
        gets=len(gets),
        read_qps_mean=len(gets) / (gets[-1] - gets[0]) if len(gets) > 1 else 0.0,
        read_qps_peak=peak(gets, 1.0),
        read_qps_peak_sent=peak(sorted(connector.sent["GET"]), 1.0),
        delay_mean_s=statistics.fmean(delays),
        delay_p95_s=delays[max(0, math.ceil(0.95 * len(delays)) - 1)],
        cpu_s=cpu[1] - cpu[0],
    )


def peak(times: list[float], window: float) -> int:
    """The most requests in any `window` seconds."""
    most = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def allowed(scenario: Scenario) -> str:
    """The most gets the read limit allows in one second: burst + qps."""
    limit = scenario.config.read_rate_limit
    return "∞" if limit.qps == math.inf else f"{limit.burst + limit.qps:,.0f}"


def limit_text(limit: RateLimit) -> str:
    return "none" if limit.qps == math.inf else f"{limit.qps:g} qps, burst {limit.burst}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000, help="connector calls per scenario")
    parser.add_argument("--job-s", type=float, default=1.0, help="how long each job runs")
    parser.add_argument("--poll-s", type=float, default=0.25, help="poll_interval_s")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 calls")
    args = parser.parse_args(argv)
    calls = 100 if args.quick else args.calls

    load_avg = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="flytelite-bench-connectors-") as cache:
        os.environ["FLYTELITE_CACHE_URL"] = cache
        for scenario in scenarios(args.poll_s):
            f = measure(scenario, calls, args.job_s)
            rows.append(
                (
                    scenario.name,
                    f"{f.calls:,}",
                    f"{f.wall_s:.2f}",
                    f"{f.calls / f.wall_s:,.0f}",
                    f"{f.gets:,} ({f.gets / f.calls:.1f})",
                    limit_text(scenario.config.read_rate_limit),
                    f"{f.read_qps_mean:,.0f} / {f.read_qps_peak_sent:,} / {f.read_qps_peak:,}"
                    f" / {allowed(scenario)}",
                    f"{f.delay_mean_s * 1e3:,.0f} / {f.delay_p95_s * 1e3:,.0f}",
                    f"{f.cpu_s / f.calls * 1e3:.2f}",
                )
            )
    header = (
        "scenario",
        "calls",
        "wall s",
        "calls/s",
        "gets (per call)",
        "read limit",
        "gets/s: mean / busiest 1 s sent / seen / allowed",
        "job done → call returned, ms mean / p95",
        "loop CPU ms/call",
    )
    print(
        f"flytelite connectors: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load_avg:.1f} at start; jobs of {args.job_s:g} s, "
        f"poll_interval_s={args.poll_s:g}, 10 poll workers, writes {limit_text(WRITES)}"
    )
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
