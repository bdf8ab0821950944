"""Executors: the process pool and a real Dask `LocalCluster` (2 worker processes).

Markers that a body leaves in files tell which process ran it and how often;
paths go in as arguments, since a worker does not see later changes to this
process's environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flytelite as fl
from flytelite import ExecutorError, MissingExtraError, SerializationError, WorkerLostError
from flytelite.executors._process import ProcessExecutor

ROOT = Path(__file__).resolve().parent.parent
HIT = fl.CacheStatus.HIT


def gone(pid: int) -> bool:
    """Whether process `pid` has exited (a zombie waiting for init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def write_atomically(path: Path, text: str) -> None:
    """Write `text` so that a reader never sees the file half-written."""
    part = path.with_suffix(".part")
    part.write_text(text)
    part.rename(path)


def failure(task: Any, *args: Any, **kwargs: Any) -> fl.TaskFailedError:
    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(task, *args, **kwargs)
    return info.value


# -- the process pool --------------------------------------------------------------------


def test_process_bodies_run_in_other_processes_sync_and_async() -> None:
    env = fl.TaskEnvironment("proc_results")

    @env.task(executor="process")
    def square(x: int) -> tuple[int, int]:
        return x * x, os.getpid()

    @env.task(executor="process")
    async def cube(x: int) -> tuple[int, int]:
        await asyncio.sleep(0)
        return x**3, os.getpid()

    @env.task
    async def root(n: int) -> list[tuple[int, int]]:
        squares = await asyncio.gather(*(square.aio(i) for i in range(n)))
        cubes = await asyncio.gather(*(cube(i) for i in range(n)))
        return [*squares, *cubes]

    run = fl.run(root, 6)
    values = [v for v, _ in run.outputs]
    assert values == [i * i for i in range(6)] + [i**3 for i in range(6)]
    assert os.getpid() not in {pid for _, pid in run.outputs}
    assert [r.attempts for r in run.report.by_task("square")] == [1] * 6


def test_process_bodies_run_in_parallel() -> None:
    env = fl.TaskEnvironment("proc_parallel")

    @env.task
    def nap(seconds: float) -> tuple[float, float]:
        started = time.time()
        time.sleep(seconds)
        return started, time.time()

    @env.task
    async def root() -> list[tuple[float, float]]:
        return list(await asyncio.gather(nap.aio(0.5), nap.aio(0.5)))

    pool = ProcessExecutor(max_workers=2)
    try:
        (start_a, end_a), (start_b, end_b) = fl.run(root, executor=pool).outputs
    finally:
        pool.shutdown()
    assert start_a < end_b and start_b < end_a  # the two naps overlapped


def test_environment_and_run_defaults_apply_to_sync_bodies_only() -> None:
    env = fl.TaskEnvironment("proc_env_default", executor="process")
    plain = fl.TaskEnvironment("proc_run_default")

    @env.task
    def in_env() -> int:
        return os.getpid()

    @env.task
    async def async_in_env() -> int:
        return os.getpid()

    @plain.task
    def in_run() -> int:
        return os.getpid()

    @plain.task
    async def async_in_run() -> int:
        return os.getpid()

    @plain.task(executor="process")
    async def async_asks() -> int:
        return os.getpid()

    @plain.task(executor="thread")
    def stays_in_thread() -> int:
        return os.getpid()

    @plain.task
    async def root() -> dict[str, int]:
        return {
            "in_env": await in_env.aio(),
            "async_in_env": await async_in_env(),
            "in_run": await in_run.aio(),
            "async_in_run": await async_in_run(),
            "async_asks": await async_asks(),
            "stays_in_thread": await stays_in_thread.aio(),
        }

    me = os.getpid()
    by_thread = fl.run(root).outputs
    assert by_thread["in_env"] != me
    assert by_thread["in_run"] == me and by_thread["async_asks"] != me
    by_process = fl.run(root, executor="process").outputs
    assert by_process["in_env"] != me and by_process["in_run"] != me
    assert by_process["async_in_env"] == me and by_process["async_in_run"] == me
    assert by_process["async_asks"] != me
    assert by_process["stays_in_thread"] == me


def test_a_timeout_kills_the_worker_and_the_pool_recovers(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("proc_timeout")
    pids = tmp_path / "pids"

    @env.task(executor="process", timeout=2)
    def hang(pids: Path) -> None:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        write_atomically(pids, f"{os.getpid()} {child.pid}")
        time.sleep(60)

    @env.task(executor="process")
    def fine(x: int) -> int:
        return x + 1

    started = time.perf_counter()
    error = failure(hang, pids)
    assert time.perf_counter() - started < 10
    assert isinstance(error.__cause__, fl.TaskTimeoutError)
    assert "proc_timeout.hang" in str(error.__cause__) and "killed" in str(error.__cause__)
    worker, child = map(int, pids.read_text().split())
    assert gone(worker), "the worker still runs after its timeout"
    assert wait_gone(child), "a process the body started survived the timeout"
    assert fl.run(fine, 1).outputs == 2


def test_a_killed_worker_fails_the_attempt_and_retries_rerun_it(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("proc_killed")

    @env.task(executor="process", retries=1)
    def fragile(marker: Path) -> int:
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return os.getpid()

    @env.task(executor="process")
    def doomed() -> None:
        os._exit(3)

    run = fl.run(fragile, tmp_path / "marker")
    first = int((tmp_path / "marker").read_text())
    assert run.outputs != first and gone(first)
    assert run.report[0].attempts == 2

    error = failure(doomed)
    assert isinstance(error.__cause__, WorkerLostError)
    assert isinstance(error.__cause__, fl.FlyteliteError)
    assert "'proc_killed.doomed'" in str(error.__cause__)
    assert "exited with code 3" in str(error.__cause__)


def test_cancelling_a_call_kills_its_worker(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("proc_cancel")
    pid_file = tmp_path / "pid"

    @env.task
    def slow(pid_file: Path) -> None:
        write_atomically(pid_file, str(os.getpid()))
        time.sleep(60)

    @env.task
    def quick() -> int:
        return os.getpid()

    @env.task
    async def broken(pid_file: Path) -> None:
        while not pid_file.exists():
            await asyncio.sleep(0.01)
        raise ValueError("sibling failed")

    @env.task
    async def root(pid_file: Path) -> None:
        await asyncio.gather(slow.aio(pid_file), broken(pid_file))

    pool = ProcessExecutor(max_workers=1)
    try:
        started = time.perf_counter()
        error = failure(root, pid_file, executor=pool)
        assert isinstance(error.__cause__, ValueError)
        assert time.perf_counter() - started < 10
        killed = int(pid_file.read_text())
        # At once, the next call gets a new worker, not the one being killed.
        run = fl.run(quick, executor=pool)
        assert run.outputs != killed and run.report[0].attempts == 1
        assert wait_gone(killed)
    finally:
        pool.shutdown()


def test_cache_hits_never_reach_the_pool(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("proc_cache")
    log = tmp_path / "executions"

    @env.task(executor="process", cache=True, cache_version="1")
    def work(x: int, log: Path) -> int:
        with log.open("a") as f:
            f.write(f"{x}\n")
        return x * 10

    @env.task
    async def root(n: int, log: Path) -> list[int]:
        return list(await asyncio.gather(*(work.aio(i, log) for i in range(n))))

    assert fl.run(root, 4, log).outputs == [0, 10, 20, 30]
    again = fl.run(root, 4, log)
    assert again.outputs == [0, 10, 20, 30]
    assert [(r.cache, r.attempts) for r in again.report.by_task("work")] == [(HIT, 0)] * 4
    assert sorted(log.read_text().split()) == ["0", "1", "2", "3"]


def test_an_unpicklable_input_or_output_is_a_clear_error_and_not_retried() -> None:
    env = fl.TaskEnvironment("proc_pickle")

    @env.task(executor="process", retries=2)
    def takes(lock: Any) -> None:
        pass

    @env.task(executor="process", retries=2)
    def gives() -> Any:
        return threading.Lock()

    error = failure(takes, threading.Lock())
    cause = error.__cause__
    assert isinstance(cause, SerializationError) and isinstance(cause, TypeError)
    assert "task 'proc_pickle.takes': its inputs cannot be sent to a process worker" in str(cause)
    assert error.report[0].attempts == 1

    error = failure(gives)
    assert isinstance(error.__cause__, SerializationError)
    assert "task 'proc_pickle.gives': its output cannot be sent back" in str(error.__cause__)
    assert error.report[0].attempts == 1


def test_a_body_exception_comes_back_with_its_type_and_remote_traceback() -> None:
    env = fl.TaskEnvironment("proc_raise")

    class Odd(Exception):
        pass

    @env.task(executor="process")
    def check(x: int) -> int:
        if x % 2:
            raise Odd(f"{x} is odd")
        return x

    @env.task
    async def root() -> str:
        try:
            await check.aio(3)
        except Odd as exc:
            return f"caught {exc}"
        return "not raised"

    assert fl.run(root).outputs == "caught 3 is odd"
    error = failure(check, 5)
    assert type(error.__cause__) is Odd
    assert "in check" in str(error.__cause__.__cause__)  # the worker's traceback


def test_the_stdio_channel_works_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # The channel Windows uses (no extra pipe descriptors), exercised here.
    monkeypatch.setattr("flytelite.executors._process._STDIO", True)
    env = fl.TaskEnvironment("proc_stdio")

    @env.task(timeout=1)
    def echo(data: bytes) -> int:
        print("a body's print does not break the channel")
        return len(data)

    @env.task(timeout=1)
    def hang() -> None:
        time.sleep(60)

    pool = ProcessExecutor(max_workers=1)
    try:
        assert fl.run(echo, b"x" * 3_000_000, executor=pool).outputs == 3_000_000
        assert isinstance(failure(hang, executor=pool).__cause__, fl.TaskTimeoutError)
        assert fl.run(echo, b"xy", executor=pool).outputs == 2
    finally:
        pool.shutdown()


def test_functions_defined_in_main_run_in_the_pool(tmp_path: Path, cache_dir: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, os, sys
            from dataclasses import dataclass
            import flytelite as fl

            env = fl.TaskEnvironment("main_script", executor="process")

            @dataclass
            class Point:
                x: int
                y: int

            def norm(p: Point) -> int:
                return abs(p.x) + abs(p.y)

            @env.task
            def measure(p: Point) -> tuple[int, int]:
                sys.stdout.write(f"measured {p.x}\\n")  # one write: lines of two workers never mix
                return norm(p), os.getpid()

            @env.task
            async def root() -> list[tuple[int, int]]:
                return list(await asyncio.gather(*(measure.aio(Point(i, -i)) for i in range(4))))

            run = fl.run(root)  # no `if __name__ == "__main__":` guard needed
            print([n for n, _ in run.outputs], os.getpid() in {p for _, p in run.outputs})
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "FLYTELITE_CACHE_URL": str(cache_dir), "FLYTELITE_PROGRESS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    *printed, last = result.stdout.splitlines()
    assert sorted(printed) == [f"measured {i}" for i in range(4)]  # by the bodies, flushed
    assert last == "[0, 2, 4, 6] False"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_starts_its_own_workers(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("proc_fork")

    @env.task(executor="process")
    def pid() -> int:
        return os.getpid()

    parent_worker = fl.run(pid).outputs  # the pool has a worker now
    out = tmp_path / "child"
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the file
        try:
            out.write_text(str(fl.run(pid).outputs))
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while os.waitpid(child, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            pytest.fail("the forked child hung on its parent's workers")
        time.sleep(0.02)
    assert int(out.read_text()) not in {parent_worker, child}
    assert fl.run(pid).outputs == parent_worker  # the parent's pool is untouched


def test_a_pool_that_was_shut_down_starts_new_workers() -> None:
    env = fl.TaskEnvironment("proc_shutdown")

    @env.task
    def pid() -> int:
        return os.getpid()

    pool = ProcessExecutor(max_workers=1)
    first = fl.run(pid, executor=pool).outputs
    pool.shutdown()
    assert gone(first)
    second = fl.run(pid, executor=pool).outputs
    pool.shutdown()
    assert second != first and gone(second)


def test_resolve_and_bad_settings() -> None:
    from flytelite.executors._resolve import resolve, shared_process_executor

    assert resolve(None) is None and resolve("thread") is None
    assert resolve("process") is shared_process_executor()
    pool = ProcessExecutor(max_workers=1)
    assert resolve(pool) is pool
    with pytest.raises(fl.TaskDefinitionError, match="'fork' is not an executor"):
        fl.TaskEnvironment("bad", executor="fork")
    with pytest.raises(ValueError, match="max_workers"):
        ProcessExecutor(max_workers=0)


# -- Dask --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[fl.DaskExecutor]:
    """One LocalCluster (2 worker processes, 1 thread each) for the module.

    Dask gives up on a task whose worker died at once (`allowed-failures: 0`), so
    that flytelite's own retries are what re-run it.
    """
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        executor = fl.DaskExecutor(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        )
        yield executor
        executor.close()


def test_dask_runs_sync_and_async_bodies_on_its_workers(dask_executor: fl.DaskExecutor) -> None:
    env = fl.TaskEnvironment("dask_results", executor=dask_executor)

    @env.task
    def square(x: int) -> tuple[int, int]:
        return x * x, os.getpid()

    @env.task(executor=dask_executor)
    async def cube(x: int) -> tuple[int, int]:
        await asyncio.sleep(0)
        return x**3, os.getpid()

    @env.task
    async def on_loop() -> int:
        return os.getpid()

    @env.task
    def length(data: bytes) -> int:
        return len(data)

    @env.task
    async def root(n: int) -> dict[str, Any]:
        squares = await asyncio.gather(*(square.aio(i) for i in range(n)))
        cubes = await asyncio.gather(*(cube(i) for i in range(n)))
        return {"squares": squares, "cubes": cubes, "loop": await on_loop()}

    # A large input is scattered, not put in the task graph (where Dask would warn).
    assert fl.run(length, b"x" * 30_000_000).outputs == 30_000_000
    out = fl.run(root, 5).outputs
    assert [v for v, _ in out["squares"]] == [i * i for i in range(5)]
    assert [v for v, _ in out["cubes"]] == [i**3 for i in range(5)]
    workers = {pid for _, pid in out["squares"] + out["cubes"]}
    assert os.getpid() not in workers and out["loop"] == os.getpid()
    assert dask_executor.cluster is not None
    assert workers <= _dask_worker_pids(dask_executor)


def _children(executor: Any, tmp_path: Path, name: str) -> None:
    """A body shipped to `executor` calls cached tasks, directly and through `fl.map`:
    they use the run's cache, retry, and show in the run's report."""
    env = fl.TaskEnvironment(name)
    marks = tmp_path / "executed"

    @env.task(cache=True, cache_version="1", retries=1)
    def leaf(x: int, marks: str) -> int:
        with open(marks, "a") as f:
            f.write(f"{x} {os.getpid()}\n")
        if x == 2 and not os.path.exists(marks + ".retried"):
            open(marks + ".retried", "w").close()
            raise RuntimeError("the first attempt fails")
        return x * 10

    @env.task(executor=executor)
    def parent(n: int, marks: str) -> list[int]:
        direct = leaf(0, marks)
        return [direct, *fl.map(leaf, range(1, n), [marks] * (n - 1))]

    run = fl.run(parent, 4, str(marks))
    assert run.outputs == [0, 10, 20, 30]
    rows = run.report.by_task("leaf")
    assert [r.cache for r in rows] == [fl.CacheStatus.POPULATED] * 4
    assert sorted(r.attempts for r in rows) == [1, 1, 1, 2]
    pids = {int(line.split()[1]) for line in marks.read_text().splitlines()}
    assert os.getpid() not in pids  # the children ran in the worker
    again = fl.run(parent, 4, str(marks))
    assert [r.cache for r in again.report.by_task("leaf")] == [HIT] * 4
    assert len(marks.read_text().splitlines()) == 5  # 4 items, one retried: nothing since
    assert fl.run(leaf, 3, str(marks)).report[0].cache is HIT  # the same keys as here


def test_tasks_called_by_a_process_body_use_the_runs_cache(tmp_path: Path) -> None:
    _children("process", tmp_path, "proc_children")


def test_tasks_called_by_a_dask_body_use_the_runs_cache(
    dask_executor: fl.DaskExecutor, tmp_path: Path
) -> None:
    _children(dask_executor, tmp_path, "dask_children")


def test_a_failing_child_in_a_worker_keeps_its_row(tmp_path: Path) -> None:
    env = fl.TaskEnvironment("proc_child_fails")

    @env.task(cache=True, cache_version="1")
    def fragile(x: int) -> int:
        raise ValueError(f"bad {x}")

    @env.task(executor="process")
    def parent() -> int:
        return fragile(7)

    error = failure(parent)
    assert isinstance(error.__cause__, ValueError) and "bad 7" in str(error.__cause__)
    report: Any = error.report
    assert [(r.status, r.error) for r in report.by_task("fragile")] == [
        ("failed", "ValueError: bad 7")
    ]


def _dask_worker_pids(executor: fl.DaskExecutor) -> set[int]:
    from distributed import Client

    with Client(executor.cluster.scheduler_address, set_as_default=False) as client:
        return set(client.run(os.getpid).values())


def test_dask_cache_hits_never_reach_the_cluster(
    dask_executor: fl.DaskExecutor, tmp_path: Path
) -> None:
    env = fl.TaskEnvironment("dask_cache")
    log = tmp_path / "executions"

    @env.task(cache=True, cache_version="1")
    def work(x: int, log: Path) -> int:
        with log.open("a") as f:
            f.write(f"{x}\n")
        return x + 100

    @env.task
    async def root(log: Path) -> list[int]:
        return list(await asyncio.gather(*(work.aio(i, log) for i in range(3))))

    assert fl.run(root, log, executor=dask_executor).outputs == [100, 101, 102]
    again = fl.run(root, log, executor=dask_executor)
    assert [(r.cache, r.attempts) for r in again.report.by_task("work")] == [(HIT, 0)] * 3
    assert sorted(log.read_text().split()) == ["0", "1", "2"]


def test_dask_unpicklable_input_is_a_clear_error(dask_executor: fl.DaskExecutor) -> None:
    env = fl.TaskEnvironment("dask_pickle", executor=dask_executor)

    @env.task(retries=2)
    def takes(lock: Any) -> None:
        pass

    error = failure(takes, threading.Lock())
    assert isinstance(error.__cause__, SerializationError)
    assert "task 'dask_pickle.takes': its inputs cannot be sent to a Dask worker" in str(
        error.__cause__
    )
    assert error.report[0].attempts == 1


def test_dask_killed_worker_is_retried(dask_executor: fl.DaskExecutor, tmp_path: Path) -> None:
    env = fl.TaskEnvironment("dask_killed", executor=dask_executor)

    @env.task(retries=1)
    def fragile(marker: Path) -> int:
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return os.getpid()

    run = fl.run(fragile, tmp_path / "marker")
    first = int((tmp_path / "marker").read_text())
    assert run.outputs != first
    assert run.report[0].attempts == 2  # Dask gave up (KilledWorker); flytelite retried


def test_dask_timeout_cancels_the_future(dask_executor: fl.DaskExecutor) -> None:
    env = fl.TaskEnvironment("dask_timeout", executor=dask_executor)

    @env.task(timeout=0.5)
    def slow() -> None:
        time.sleep(2)

    started = time.perf_counter()
    error = failure(slow)
    assert time.perf_counter() - started < 2
    assert isinstance(error.__cause__, fl.TaskTimeoutError)
    assert "'dask_timeout.slow' timed out after 0.5 s" in str(error.__cause__)
    assert "cancelled" in str(error.__cause__)


def test_dask_executor_with_an_address_or_a_client(dask_executor: fl.DaskExecutor) -> None:
    from distributed import Client

    env = fl.TaskEnvironment("dask_connect")

    @env.task
    def double(x: int) -> int:
        return 2 * x

    address = dask_executor.cluster.scheduler_address
    assert fl.run(double, 4, executor=fl.DaskExecutor(address)).outputs == 8
    with Client(address, set_as_default=False) as client:
        assert fl.run(double, 5, executor=fl.DaskExecutor(client=client)).outputs == 10

    async def in_a_running_loop() -> list[int]:
        async with Client(address, asynchronous=True, set_as_default=False) as client:
            ours = await fl.run.aio(double, 6, executor=fl.DaskExecutor(client=client))
        async with fl.DaskExecutor(address) as executor:  # closes this loop's client
            runs = [await fl.run.aio(double, i, executor=executor) for i in (7, 8)]
        return [ours.outputs, *(run.outputs for run in runs)]

    assert asyncio.run(in_a_running_loop()) == [12, 14, 16]


def test_dask_unreachable_scheduler_is_a_clear_error() -> None:
    dask = pytest.importorskip("dask")
    env = fl.TaskEnvironment("dask_unreachable")

    @env.task
    def one() -> int:
        return 1

    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        error = failure(one, executor=fl.DaskExecutor("tcp://127.0.0.1:1"))
    assert isinstance(error.__cause__, ExecutorError)
    assert "task 'dask_unreachable.one': cannot connect to the Dask scheduler at " in str(
        error.__cause__
    )


def test_dask_executor_options_and_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(fl.TaskDefinitionError, match="not both"):
        fl.DaskExecutor("tcp://127.0.0.1:1", client=object())
    with pytest.raises(fl.TaskDefinitionError, match="n_workers"):
        fl.DaskExecutor("tcp://127.0.0.1:1", n_workers=2)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'flytelite\[dask\]'") as info:
        fl.DaskExecutor()
    assert isinstance(info.value, ImportError) and isinstance(info.value, fl.FlyteliteError)


# -- the example -------------------------------------------------------------------------


def test_cpu_bound(cache_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cpu_bound.py"), "--seconds", "0.05"],
        env={**os.environ, "FLYTELITE_CACHE_URL": str(cache_dir), "FLYTELITE_PROGRESS": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["threads", "processes", "dask"]
    assert lines[-1].startswith("all three agree")
