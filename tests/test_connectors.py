"""Connector tasks against a real job service on 127.0.0.1 (`tests/jobservice.py`)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jobservice import HTTPError, JobConnector, JobService

import flytelite as fl
import flytelite.connectors as flc
from flytelite.connectors import (
    AsyncConnector,
    ConnectorConfig,
    ConnectorContext,
    Phase,
    PhaseInfo,
    RateLimit,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FAST = {"poll_interval_s": 0.02, "cleanup_timeout_s": 5.0}


@pytest.fixture
def service() -> Any:
    with JobService() as svc:
        yield svc


def job_task(
    connector: AsyncConnector, name: str = "job", **options: Any
) -> flc.ConnectorTask[..., Any]:
    """A connector task whose inputs are a job's spec."""
    env = fl.TaskEnvironment(f"connectors_{name}")

    async def job(
        duration: float, result: Any = None, fail: str | None = None, fail_times: int | None = None
    ) -> Any: ...

    job.__name__ = name
    task = env.task(connector=connector, **options)(job)
    assert isinstance(task, flc.ConnectorTask)
    return task


def gather_task(name: str, calls: Any) -> fl.AsyncTask[[], list[Any]]:
    """A root task that gathers `calls()` (a list of awaitables)."""
    env = fl.TaskEnvironment(f"connectors_{name}_root")

    async def root() -> list[Any]:
        return list(await asyncio.gather(*calls()))

    root.__name__ = f"{name}_root"
    return env.task(root)


def max_in_window(times: list[float], qps: float, burst: int, slack_s: float) -> float:
    """The largest excess of requests over `burst + qps * window` in any window (<= 0: held)."""
    worst = float("-inf")
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            count = j - i + 1
            worst = max(worst, count - (burst + qps * (times[j] - start + slack_s)))
    return worst


def peak(times: list[float], window: float) -> int:
    """The most requests in any `window` seconds."""
    return max(sum(start <= t < start + window for t in times) for start in times)


# -- the public surface ---------------------------------------------------------------------------


def test_all_lists_every_public_name() -> None:
    public = {
        n for n, v in vars(flc).items() if not n.startswith("_") and not isinstance(v, type(os))
    }
    assert set(flc.__all__) == public
    assert flc.__all__ == sorted(flc.__all__)
    for name in flc.__all__:
        value = getattr(flc, name)
        if isinstance(value, type):
            assert value.__module__ == "flytelite.connectors", name
            if issubclass(value, Exception) and not issubclass(value, Warning):
                assert issubclass(value, fl.FlyteliteError), name


def test_config_defaults_are_flytes_and_bad_values_are_refused() -> None:
    config = ConnectorConfig()
    assert config.read_rate_limit == RateLimit(30, 300)
    assert config.write_rate_limit == RateLimit(20, 200)
    assert config.max_system_failures == 5
    assert dict(config.resource_quotas) == {}
    with pytest.raises(ValueError, match="qps must be a number > 0"):
        RateLimit(0, 10)
    with pytest.raises(ValueError, match="burst must be an int >= 1"):
        RateLimit(10, 0)
    with pytest.raises(ValueError, match="quota of namespace 'db' is 0"):
        ConnectorConfig(resource_quotas={"db": 0})
    with pytest.raises(ValueError, match="poll_workers"):
        ConnectorConfig(poll_workers=0)
    with pytest.raises(TypeError, match="RateLimit"):
        ConnectorConfig(read_rate_limit=30)  # type: ignore[arg-type]
    assert Phase.SUCCEEDED.is_terminal and not Phase.WAITING_FOR_RESOURCES.is_terminal


def test_declaration_errors_name_the_task_and_the_fix(service: JobService) -> None:
    env = fl.TaskEnvironment("connectors_decl")

    def sync(x: int) -> int: ...

    with pytest.raises(fl.TaskDefinitionError, match=r"'connectors_decl.sync'.*async def"):
        env.task(connector=JobConnector(service.url))(sync)

    async def query(sql: str) -> list[Any]: ...

    with pytest.raises(fl.TaskDefinitionError, match=r"is a class; pass an object"):
        env.task(connector=JobConnector)(query)

    class Partial(AsyncConnector):
        async def create(self, ctx: ConnectorContext) -> tuple[Any, Any]:
            return "id", None

    with pytest.raises(fl.TaskDefinitionError, match="does not implement get, status"):
        env.task(connector=Partial())(query)

    class TwoPools(JobConnector):
        config = ConnectorConfig(resource_quotas={"a": 1, "b": 2})

    with pytest.raises(fl.TaskDefinitionError, match=r"implement TwoPools.resource_requirements"):
        env.task(connector=TwoPools(service.url))(query)

    class AsyncStatus(JobConnector):
        async def status(self, resource: Any) -> PhaseInfo:  # type: ignore[override]
            return PhaseInfo(Phase.RUNNING)

    with pytest.raises(fl.TaskDefinitionError, match="status must be a plain `def`"):
        env.task(connector=AsyncStatus(service.url))(query)


# -- running jobs ---------------------------------------------------------------------------------


def test_gather_of_many_calls_runs_them_concurrently(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "many")
    n = 200
    root = gather_task("many", lambda: [job(0.3, i) for i in range(n)])
    started = time.perf_counter()
    run = fl.run(root)
    elapsed = time.perf_counter() - started
    assert run.outputs == list(range(n))
    assert len(service.jobs) == n and service.count("POST") == n
    assert service.max_active() > n // 2  # concurrent, not one after another
    assert elapsed < 10
    rows = run.report.by_task("many")
    assert len(rows) == n and all(r.status == "succeeded" and r.attempts == 1 for r in rows)


def test_a_call_outside_a_run_runs_the_job(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "plain")
    assert asyncio.run(job(0.05, {"rows": 3})) == {"rows": 3}
    assert len(service.jobs) == 1
    slow = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "plain_slow", timeout=0.2)
    with pytest.raises(fl.TaskTimeoutError, match=r"'connectors_plain_slow\.plain_slow' timed out"):
        asyncio.run(slow(30.0))
    assert len(service.jobs) == 2 and service.active() == 0  # its job was deleted


def test_a_resource_returned_by_create_is_read_at_once(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "instant")
    run = fl.run(job, 0.0, "done")
    assert run.outputs == "done"
    assert service.count("GET") == 0  # the job was over when create answered


def test_quota_bounds_the_jobs_in_flight(service: JobService) -> None:
    config = ConnectorConfig(resource_quotas={"warehouse": 3}, **FAST)
    job = job_task(JobConnector(service.url, config), "quota")
    seen: list[dict[str, Phase]] = []

    async def watch() -> None:
        for _ in range(40):
            await asyncio.sleep(0.02)
            seen.append(job.phases())

    n = 12
    root = gather_task("quota", lambda: [*(job(0.15, i) for i in range(n)), watch()])
    run = fl.run(root)
    assert run.outputs[:n] == list(range(n))
    assert service.max_active() == 3  # never more than the quota, and the quota was used
    waiting = [sum(p is Phase.WAITING_FOR_RESOURCES for p in phases.values()) for phases in seen]
    admitted = [
        sum(p is not Phase.WAITING_FOR_RESOURCES for p in phases.values()) for phases in seen
    ]
    assert max(waiting) >= n - 3 - 1
    assert max(admitted) <= 3
    assert job.phases() == {}  # outside the run's loop


def test_quotas_per_namespace(service: JobService) -> None:
    class Pools(JobConnector):
        config = ConnectorConfig(resource_quotas={"small": 1, "big": 4}, **FAST)

        def resource_requirements(self, ctx: ConnectorContext) -> str | None:
            return "small" if str(ctx.inputs["result"]).startswith("small") else "big"

    job = job_task(Pools(service.url), "pools")
    root = gather_task(
        "pools",
        lambda: [job(0.1, f"{kind}-{i}") for i in range(4) for kind in ("small", "big")],
    )
    fl.run(root)
    small = sorted(
        (j.created, j.active_until()) for j in service.jobs.values() if j.result.startswith("small")
    )
    assert len(small) == 4
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(small))
    assert service.max_active() <= 5


def test_an_unknown_namespace_is_a_clear_error(service: JobService) -> None:
    class Wrong(JobConnector):
        config = ConnectorConfig(resource_quotas={"db": 2}, **FAST)

        def resource_requirements(self, ctx: ConnectorContext) -> str | None:
            return "gpu"

    job = job_task(Wrong(service.url), "wrongns", retries=3)
    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(job, 0.1)
    error = info.value.__cause__
    assert isinstance(error, flc.ConnectorContractError)
    assert "returned 'gpu', which is not a namespace" in str(error)
    assert info.value.report[0].attempts == 1  # a contract error is not retried
    assert not service.jobs


def test_create_retries_reuse_the_execution_name(service: JobService) -> None:
    service.fail_creates_after_commit = 2  # the job is committed, then the service errs
    seen: list[ConnectorContext] = []

    class Recording(JobConnector):
        async def create(self, ctx: ConnectorContext) -> tuple[str, dict[str, Any]]:
            seen.append(ctx)
            return await super().create(ctx)

    job = job_task(Recording(service.url, ConnectorConfig(**FAST)), "idem", retries=3)
    run = fl.run(job, 0.05, "once")
    assert run.outputs == "once"
    assert service.count("POST") == 3
    assert len(service.jobs) == 1  # one job for one call
    assert len({ctx.execution_name for ctx in seen}) == 1
    assert [ctx.attempt for ctx in seen] == [1, 2, 3]
    assert seen[0].run_id == run.run_id and seen[0].task is job
    assert dict(seen[0].inputs) == {
        "duration": 0.05,
        "result": "once",
        "fail": None,
        "fail_times": None,
    }
    assert run.report[0].attempts == 3


def test_create_errors_fail_the_call_with_the_connectors_exception(service: JobService) -> None:
    service.fail_creates_after_commit = 5
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "createfail", retries=1)
    with pytest.raises(fl.TaskFailedError, match="HTTP 500") as info:
        fl.run(job, 0.05)
    assert isinstance(info.value.__cause__, HTTPError)
    assert info.value.report[0].attempts == 2


def test_execution_names_are_unique_per_call(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "names")
    root = gather_task("names", lambda: [job(0.05, i) for i in range(20)])
    fl.run(root)
    fl.run(root)
    assert len({j.name for j in service.jobs.values()}) == 40


def test_get_failures_within_the_limit_are_tolerated(service: JobService) -> None:
    service.fail_gets = 3
    config = ConnectorConfig(max_system_failures=3, **FAST)
    job = job_task(JobConnector(service.url, config), "flaky")
    assert fl.run(job, 0.05, "ok").outputs == "ok"


def test_get_failures_past_the_limit_fail_the_call(service: JobService) -> None:
    service.fail_gets = 1000
    config = ConnectorConfig(max_system_failures=3, **FAST)
    job = job_task(JobConnector(service.url, config), "down")
    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(job, 10.0)
    error = info.value.__cause__
    assert isinstance(error, flc.ConnectorSystemError)
    assert error.failures == 4 and service.count("GET") == 4
    assert "max_system_failures=3" in str(error)
    assert "HTTPError: HTTP 500" in str(error)  # the last underlying error
    assert isinstance(error.__cause__, HTTPError)
    (only,) = service.jobs.values()
    assert only.deleted is not None  # deleted, not left running for 10 s
    assert service.active() == 0


def test_a_retryable_failure_retries_with_a_new_job(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "retry", retries=2)
    run = fl.run(job, 0.05, "second time", fail="retryable", fail_times=1)
    assert run.outputs == "second time"
    assert run.report[0].attempts == 2
    first, second = sorted(service.jobs.values(), key=lambda j: j.created)
    assert first.name == second.name  # the same execution name ...
    assert first.deleted is not None  # ... free again once the failed job was deleted
    assert second.deleted is None


def test_a_permanent_failure_is_not_retried(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "perm", retries=3)
    with pytest.raises(fl.TaskFailedError, match="failed permanently") as info:
        fl.run(job, 0.05, fail="permanent")
    error = info.value.__cause__
    assert isinstance(error, flc.JobPermanentlyFailedError)
    assert isinstance(error, fl.NonRetryableError)
    assert "failed (permanent)" in error.reason  # the service's message
    assert info.value.report[0].attempts == 1
    assert len(service.jobs) == 1


def test_a_status_that_breaks_the_contract_is_a_clear_error(service: JobService) -> None:
    class Sloppy(JobConnector):
        def status(self, resource: dict[str, Any]) -> PhaseInfo:
            return resource["state"]  # type: ignore[no-any-return]

    job = job_task(Sloppy(service.url, ConnectorConfig(**FAST)), "sloppy", retries=2)
    with pytest.raises(fl.TaskFailedError, match=r"Sloppy.status\(\) returned 'RUNNING'"):
        fl.run(job, 0.05)


# -- cleanup: delete on timeout, cancellation, failure ---------------------------------------


def test_a_timeout_deletes_the_job_and_releases_the_token(service: JobService) -> None:
    config = ConnectorConfig(resource_quotas={"only": 1}, **FAST)
    job = job_task(JobConnector(service.url, config), "slow", timeout=0.3, retries=1)
    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(job, 30.0)
    assert isinstance(info.value.__cause__, fl.TaskTimeoutError)
    # The retry could only start because the first attempt gave its token back.
    assert info.value.report[0].attempts == 2
    jobs = sorted(service.jobs.values(), key=lambda j: j.created)
    assert len(jobs) == 2 and all(j.deleted is not None for j in jobs)
    assert service.active() == 0


def test_a_failed_sibling_cancels_the_call_and_deletes_its_job(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "orphan")
    env = fl.TaskEnvironment("connectors_orphan_root")

    @env.task
    async def explode() -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError("sibling failed")

    @env.task
    async def root() -> None:
        await asyncio.gather(job(30.0), job(30.0), explode())

    with pytest.raises(fl.TaskFailedError, match="sibling failed"):
        fl.run(root)
    assert len(service.jobs) == 2
    assert all(j.deleted is not None for j in service.jobs.values())
    assert [r.status for r in service.requests if r.method == "DELETE"] == [204, 204]


def test_a_failed_delete_is_retried(service: JobService) -> None:
    service.fail_deletes = 1
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "redelete", timeout=0.2)
    with pytest.raises(fl.TaskFailedError):
        fl.run(job, 30.0)
    assert [r.status for r in service.requests if r.method == "DELETE"] == [500, 204]
    assert service.active() == 0


def test_a_delete_that_keeps_failing_warns(service: JobService) -> None:
    service.fail_deletes = 100
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "nodelete", timeout=0.2)
    with (
        pytest.warns(flc.ConnectorWarning, match="could not be deleted"),
        pytest.raises(fl.TaskFailedError),
    ):
        fl.run(job, 30.0)
    assert service.count("DELETE") == 3


def test_a_call_cancelled_during_create_deletes_the_job_create_made(service: JobService) -> None:
    class SlowCreate(JobConnector):
        async def create(self, ctx: ConnectorContext) -> tuple[str, dict[str, Any]]:
            created = await super().create(ctx)
            await asyncio.sleep(0.4)  # the service committed; the answer is slow
            return created

    job = job_task(SlowCreate(service.url, ConnectorConfig(**FAST)), "slowcreate", timeout=0.2)
    with pytest.raises(fl.TaskFailedError):
        fl.run(job, 30.0)
    (only,) = service.jobs.values()
    assert only.deleted is not None


# -- cache and rate limits ------------------------------------------------------------------------


def test_cache_hits_never_touch_the_service(service: JobService) -> None:
    job = job_task(
        JobConnector(service.url, ConnectorConfig(**FAST)), "cached", cache=True, cache_version="1"
    )
    root = gather_task("cached", lambda: [job(0.05, i) for i in range(5)])
    first = fl.run(root)
    requests = len(service.requests)
    second = fl.run(root)
    assert second.outputs == first.outputs == list(range(5))
    assert len(service.requests) == requests
    rows = second.report.by_task("cached")
    assert [r.cache for r in rows] == [fl.CacheStatus.HIT] * 5
    assert all(r.attempts == 0 for r in rows)


def test_the_read_rate_limit_holds_across_concurrent_calls(service: JobService) -> None:
    qps, burst = 25.0, 5
    config = ConnectorConfig(
        read_rate_limit=RateLimit(qps, burst), poll_interval_s=0.005, poll_workers=16
    )
    connector = JobConnector(service.url, config)
    job = job_task(connector, "reads")
    n = 20
    root = gather_task("reads", lambda: [job(0.6, i) for i in range(n)])
    run = fl.run(root)
    assert run.outputs == list(range(n))
    # Unlimited, 20 jobs polled every 5 ms would make thousands of gets a second.
    sent, seen = connector.sent["GET"], service.times("GET")
    assert len(sent) == len(seen)
    assert max_in_window(sent, qps, burst, slack_s=0.005) <= 0
    # The service sees each request after a varying delay (its threads share the GIL with
    # the test's event loop, on a busy machine): only check that it saw the limit's order.
    assert peak(seen, 1.0) <= 2 * (burst + qps)
    assert len(sent) / (sent[-1] - sent[0]) > qps * 0.6  # and the poller used the allowance


def test_the_write_rate_limit_holds_for_creates(service: JobService) -> None:
    qps, burst = 40.0, 4
    config = ConnectorConfig(write_rate_limit=RateLimit(qps, burst), **FAST)
    connector = JobConnector(service.url, config)
    job = job_task(connector, "writes")
    root = gather_task("writes", lambda: [job(0.0, i) for i in range(24)])
    fl.run(root)
    sent = connector.sent["POST"]
    assert len(sent) == 24 == service.count("POST")
    assert max_in_window(sent, qps, burst, slack_s=0.005) <= 0
    assert peak(service.times("POST"), 1.0) <= 2 * (burst + qps)
    assert sent[-1] - sent[0] >= (24 - burst) / qps * 0.95


def test_the_poller_leaves_no_task_behind(service: JobService) -> None:
    job = job_task(JobConnector(service.url, ConnectorConfig(**FAST)), "idle")

    async def main() -> int:
        run = await fl.run.aio(job, 0.05, 3)
        await asyncio.sleep(0.1)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return int(run.outputs)

    assert asyncio.run(main()) == 3


# -- the example ----------------------------------------------------------------------------------


def test_connector_http_example(cache_dir: Path) -> None:
    env = {**os.environ, "FLYTELITE_CACHE_URL": str(cache_dir)}

    def run_example() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(EXAMPLES / "connector_http.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = run_example()
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "word counts: [2, 3, 1, 4, 2, 5]"
    assert "jobs created: 6, most at once: 2 (quota 2)" in lines
    second = run_example()
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0] == lines[0]
    assert "jobs created: 0, most at once: 0 (quota 2)" in second.stdout.splitlines()
