"""Call semantics inside and outside a run, through the public API."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import flytelite as fl

HIT, POPULATED, DISABLED = fl.CacheStatus.HIT, fl.CacheStatus.POPULATED, fl.CacheStatus.DISABLED


def test_outside_a_run_a_task_is_the_plain_function() -> None:
    env = fl.TaskEnvironment("plain")

    @env.task
    def add(a: int, b: int) -> int:
        return a + b

    @env.task(cache=True)
    async def twice(x: int) -> int:
        return 2 * x

    assert add(1, 2) == 3
    assert asyncio.run(twice(4)) == 8
    assert asyncio.run(add.aio(2, 2)) == 4
    assert add.__name__ == "add" and add.name == "plain.add"


def test_run_returns_outputs_and_one_report_row_per_call() -> None:
    env = fl.TaskEnvironment("rows")

    @env.task
    async def leaf(x: int) -> int:
        return x + 1

    @env.task
    async def root(n: int) -> list[int]:
        return list(await asyncio.gather(*(leaf(i) for i in range(n))))

    run = fl.run(root, 5)
    assert run.outputs == [1, 2, 3, 4, 5]
    assert [r.task for r in run.report] == ["rows.root"] + ["rows.leaf"] * 5
    for row in run.report:
        assert row.cache is DISABLED
        assert row.spec_cache is None
        assert row.attempts == 1
        assert row.status == "succeeded"
        assert row.duration >= 0
    table = str(run.report)
    assert "rows.leaf" in table and "calls" in table.splitlines()[0]


def test_gathered_async_tasks_run_concurrently() -> None:
    env = fl.TaskEnvironment("concurrent")

    @env.task
    async def nap(i: int) -> int:
        await asyncio.sleep(1)
        return i

    @env.task
    async def root() -> list[int]:
        return list(await asyncio.gather(*(nap(i) for i in range(40))))

    started = time.perf_counter()
    run = fl.run(root)
    elapsed = time.perf_counter() - started
    assert run.outputs == list(range(40))
    assert elapsed < 3, f"40 x 1 s gathered took {elapsed:.2f} s"


def test_sync_tasks_run_in_worker_threads_and_aio_gathers_them() -> None:
    env = fl.TaskEnvironment("threads")
    threads: set[int] = set()

    @env.task
    def block(i: int) -> int:
        threads.add(threading.get_ident())
        time.sleep(0.3)
        return i * i

    @env.task
    async def root() -> list[int]:
        return list(await asyncio.gather(*(block.aio(i) for i in range(8))))

    started = time.perf_counter()
    run = fl.run(root)
    assert run.outputs == [i * i for i in range(8)]
    assert time.perf_counter() - started < 2.0  # 8 x 0.3 s in sequence would be 2.4 s
    assert threading.get_ident() not in threads
    assert len(threads) > 1


def test_a_sync_body_calling_tasks_blocks_for_each_result() -> None:
    env = fl.TaskEnvironment("sync_calls")

    @env.task
    async def inc(x: int) -> int:
        return x + 1

    @env.task
    def square(x: int) -> int:
        return x * x

    @env.task
    def parent(n: int) -> int:
        return sum(square(inc(i)) for i in range(n))

    run = fl.run(parent, 4)
    assert run.outputs == 1 + 4 + 9 + 16
    assert len(run.report.by_task("square")) == 4


def test_nested_sync_calls_do_not_exhaust_worker_threads() -> None:
    env = fl.TaskEnvironment("nested_threads")

    @env.task
    def leaf(x: int) -> int:
        return x

    @env.task
    def middle(x: int) -> int:
        return leaf(x) + 1

    @env.task
    async def root(n: int) -> int:
        # Far more blocked sync parents than there are thread slots.
        return sum(await asyncio.gather(*(middle.aio(i) for i in range(n))))

    run = fl.run(root, 300)
    assert run.outputs == sum(range(300)) + 300


def test_a_sync_task_called_directly_from_async_code_says_to_use_aio() -> None:
    env = fl.TaskEnvironment("sync_on_loop")

    @env.task
    def square(x: int) -> int:
        return x * x

    @env.task
    async def root() -> int:
        return square(3)

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(root)
    cause = info.value.__cause__
    assert isinstance(cause, fl.RunContextError)
    assert "square.aio" in str(cause)


def test_a_parent_catches_its_childs_own_exception() -> None:
    env = fl.TaskEnvironment("catching")

    @env.task
    async def child(x: int) -> int:
        raise ValueError(f"bad {x}")

    @env.task
    async def root() -> str:
        try:
            await child(3)
        except ValueError as exc:
            return f"caught: {exc}"
        return "not raised"

    assert fl.run(root).outputs == "caught: bad 3"


def test_run_raises_task_failed_error_naming_the_failed_task() -> None:
    env = fl.TaskEnvironment("failing")

    @env.task
    async def child(x: int) -> int:
        raise KeyError("missing thing")

    @env.task
    async def root() -> int:
        return await child(1)

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(root)
    error = info.value
    assert isinstance(error.__cause__, KeyError)
    assert error.task == "failing.child" and error.root == "failing.root"
    assert "failing.child" in str(error) and "missing thing" in str(error)
    assert isinstance(error, fl.FlyteliteError)
    failed = [r for r in error.report if r.status == "failed"]
    assert {r.task for r in failed} == {"failing.child", "failing.root"}
    assert failed[0].error is not None and "KeyError" in failed[0].error


def test_retries_rerun_the_body_and_count_attempts() -> None:
    env = fl.TaskEnvironment("retrying")
    attempts: list[int] = []

    @env.task(retries=3)
    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    run = fl.run(flaky)
    assert run.outputs == "ok"
    assert run.report[0].attempts == 3


def test_retries_give_up_with_the_last_exception() -> None:
    env = fl.TaskEnvironment("retry_exhausted")
    attempts: list[int] = []

    @env.task(retries=2)
    def always() -> None:
        attempts.append(1)
        raise ConnectionError(f"attempt {len(attempts)}")

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(always)
    assert len(attempts) == 3
    assert "attempt 3" in str(info.value.__cause__)


def test_non_retryable_error_stops_at_once() -> None:
    env = fl.TaskEnvironment("non_retryable")
    attempts: list[int] = []

    @env.task(retries=5)
    async def refuse() -> None:
        attempts.append(1)
        raise fl.NonRetryableError("bad input, retrying will not help")

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(refuse)
    assert attempts == [1]
    assert isinstance(info.value.__cause__, fl.NonRetryableError)


def test_timeout_cancels_an_async_body() -> None:
    env = fl.TaskEnvironment("timeouts")
    finished: list[bool] = []

    @env.task(timeout=0.2)
    async def slow() -> None:
        await asyncio.sleep(5)
        finished.append(True)

    started = time.perf_counter()
    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(slow)
    assert time.perf_counter() - started < 2
    cause = info.value.__cause__
    assert isinstance(cause, fl.TaskTimeoutError) and isinstance(cause, TimeoutError)
    assert cause.task == "timeouts.slow" and cause.timeout == 0.2
    assert "timed out after 0.2 s" in str(cause)
    assert finished == []


def test_timeout_fails_a_sync_body_at_the_deadline_and_says_so() -> None:
    env = fl.TaskEnvironment("sync_timeouts")

    @env.task(timeout=0.2)
    def slow() -> None:
        time.sleep(1.0)

    started = time.perf_counter()
    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(slow)
    assert time.perf_counter() - started < 0.9
    assert "cannot be stopped" in str(info.value.__cause__)


def test_timeouts_are_retried() -> None:
    env = fl.TaskEnvironment("timeout_retry")
    attempts: list[int] = []

    @env.task(timeout=0.2, retries=1)
    async def sometimes_slow() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            await asyncio.sleep(5)
        return "second time lucky"

    run = fl.run(sometimes_slow)
    assert run.outputs == "second time lucky"
    assert run.report[0].attempts == 2


def test_identical_cached_calls_in_one_run_execute_once() -> None:
    env = fl.TaskEnvironment("dedup")
    executed: list[int] = []

    @env.task(cache=True)
    async def slow(x: int) -> int:
        executed.append(x)
        await asyncio.sleep(0.2)
        return x * 10

    @env.task
    async def root() -> list[int]:
        return list(await asyncio.gather(*(slow(i % 2) for i in range(10))))

    run = fl.run(root)
    assert run.outputs == [0, 10] * 5
    assert sorted(executed) == [0, 1]
    statuses = [r.cache for r in run.report.by_task("slow")]
    assert statuses.count(POPULATED) == 2 and statuses.count(HIT) == 8


def test_a_cached_call_hits_in_the_next_run() -> None:
    env = fl.TaskEnvironment("next_run")
    executed: list[int] = []

    @env.task(cache=True, cache_version="1")
    def work(x: int) -> dict[str, int]:
        executed.append(x)
        return {"x": x}

    first = fl.run(work, 3)
    second = fl.run(work, x=3)
    assert first.outputs == second.outputs == {"x": 3}
    assert executed == [3]
    assert first.report[0].cache is POPULATED
    assert second.report[0].cache is HIT
    assert second.report[0].attempts == 0
    assert first.report[0].key == second.report[0].key


def test_changing_cache_version_or_body_invalidates() -> None:
    executed: list[str] = []
    env = fl.TaskEnvironment("versions")

    def define(version: str | None, suffix: str) -> fl.Task[..., str]:
        if suffix == "a":

            @env.task(cache=True, cache_version=version) if version else env.task(cache=True)
            def work(x: int) -> str:
                executed.append("a")
                return f"a{x}"
        else:

            @env.task(cache=True, cache_version=version) if version else env.task(cache=True)
            def work(x: int) -> str:
                executed.append("b")
                return f"b{x}"

        return work

    assert fl.run(define("1", "a"), 1).outputs == "a1"
    assert fl.run(define("1", "b"), 1).outputs == "a1"  # same explicit version: a hit
    assert fl.run(define("2", "b"), 1).outputs == "b1"  # new version: executes
    assert executed == ["a", "b"]


def test_cache_behaviors_override_and_disable() -> None:
    env = fl.TaskEnvironment("behaviors")
    executed: list[str] = []

    @env.task(cache=True, cache_version="1")
    def work() -> int:
        executed.append("auto")
        return len(executed)

    assert fl.run(work).outputs == 1
    assert fl.run(work).outputs == 1

    @env.task(cache=fl.Cache(behavior="override", version="1"))
    def work() -> int:  # type: ignore[no-redef]
        executed.append("override")
        return len(executed)

    run = fl.run(work)
    assert run.outputs == 2 and run.report[0].cache is POPULATED

    @env.task(cache=fl.Cache(behavior="disable"))
    def work() -> int:  # type: ignore[no-redef]
        executed.append("disable")
        return len(executed)

    run = fl.run(work)
    assert run.outputs == 3 and run.report[0].cache is DISABLED

    @env.task(cache=True, cache_version="1")
    def work() -> int:  # type: ignore[no-redef]
        executed.append("auto again")
        return -1

    assert fl.run(work).outputs == 2  # the overridden entry


def test_redefining_a_task_replaces_it() -> None:
    env = fl.TaskEnvironment("redefine")

    @env.task
    def greet() -> str:
        return "old"

    @env.task
    def greet() -> str:  # type: ignore[no-redef]
        return "new"

    @env.task
    async def root() -> str:
        return await greet.aio()

    assert fl.run(root).outputs == "new"


def test_bad_arguments_fail_before_anything_runs() -> None:
    env = fl.TaskEnvironment("bad_args")
    ran: list[bool] = []

    @env.task
    def work(a: int, b: int = 2) -> int:
        ran.append(True)
        return a + b

    with pytest.raises(fl.InputError) as info:
        fl.run(work, 1, 2, 3)
    assert "bad_args.work" in str(info.value) and "work(a: int, b: int = 2)" in str(info.value)
    with pytest.raises(fl.InputError, match="missing a required argument: 'a'"):
        fl.run(work, b=1)
    with pytest.raises(TypeError, match=r"decorate the function with @env\.task"):
        fl.run(len, [1])  # type: ignore[arg-type]
    assert ran == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cache": "yes"}, "not a cache setting"),
        ({"retries": -1}, "retries=-1"),
        ({"timeout": 0}, "timeout=0"),
        ({"cache_version": "1"}, "no effect without caching"),
        ({"cache": fl.Cache(version="1"), "cache_version": "2"}, "disagrees"),
        ({"cache": fl.Cache(ignored_inputs=("nope",))}, "'nope', which is not a parameter"),
    ],
)
def test_bad_task_options_are_clear_errors(options: dict[str, object], message: str) -> None:
    env = fl.TaskEnvironment("bad_options")
    with pytest.raises(fl.TaskDefinitionError, match=message):

        @env.task(**options)  # type: ignore[call-overload]
        def work(x: int) -> int:
            return x


def test_bad_cache_policies_are_clear_errors() -> None:
    with pytest.raises(fl.TaskDefinitionError, match="not a cache behavior"):
        fl.Cache(behavior="sometimes")  # type: ignore[arg-type]
    with pytest.raises(fl.TaskDefinitionError, match="timedelta"):
        fl.Cache(max_age=60)  # type: ignore[arg-type]


def test_run_aio_inside_a_running_loop_and_run_refuses_one() -> None:
    env = fl.TaskEnvironment("aio")

    @env.task
    async def one() -> int:
        return 1

    async def caller() -> int:
        with pytest.raises(fl.RunContextError, match=r"fl\.run\.aio"):
            fl.run(one)
        run = await fl.run.aio(one)
        return int(run.outputs)

    assert asyncio.run(caller()) == 1


def test_run_inside_a_run_is_refused() -> None:
    env = fl.TaskEnvironment("nested_run")

    @env.task
    def inner() -> int:
        return 1

    @env.task
    def outer() -> int:
        return fl.run(inner).outputs  # type: ignore[no-any-return]

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(outer)
    assert isinstance(info.value.__cause__, fl.RunContextError)


def test_outputs_of_a_finished_body_are_written_while_the_run_fails(cache_dir: Path) -> None:
    env = fl.TaskEnvironment("shielded")
    executed: list[str] = []

    @env.task(cache=True, cache_version="1")
    def slow_but_done() -> str:
        time.sleep(0.5)
        executed.append("slow")
        return "precious"

    @env.task
    async def fail_fast() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("sibling failed")

    @env.task
    async def root() -> None:
        await asyncio.gather(slow_but_done.aio(), fail_fast())

    with pytest.raises(fl.TaskFailedError, match="sibling failed"):
        fl.run(root)
    run = fl.run(slow_but_done)
    assert run.outputs == "precious"
    assert run.report[0].cache is HIT
    assert executed == ["slow"]


def test_the_run_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    env = fl.TaskEnvironment("quiet")

    @env.task(cache=True)
    async def work(x: int) -> int:
        print(f"user says {x}")
        return x

    fl.run(work, 1)
    fl.run(work, 1)
    out, err = capsys.readouterr()
    assert out == "user says 1\n"
    assert err == ""


def test_cache_accepts_a_behavior_name() -> None:
    env = fl.TaskEnvironment("behavior_names")
    executed: list[int] = []

    @env.task(cache="auto")
    def work() -> int:
        executed.append(1)
        return len(executed)

    assert fl.run(work).outputs == fl.run(work).outputs == 1

    @env.task(cache="override")
    def work() -> int:  # type: ignore[no-redef]
        executed.append(1)
        return len(executed)

    assert fl.run(work).outputs == 2
    with pytest.raises(fl.TaskDefinitionError, match="a behavior"):

        @env.task(cache="sometimes")  # type: ignore[call-overload]
        def other() -> None:
            pass


def test_run_inside_an_async_task_says_it_is_inside_a_run() -> None:
    env = fl.TaskEnvironment("nested_async_run")

    @env.task
    async def inner() -> int:
        return 1

    @env.task
    async def outer() -> int:
        return fl.run(inner).outputs  # type: ignore[no-any-return]

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(outer)
    assert "inside a run" in str(info.value.__cause__)


def test_warnings_as_errors_never_fail_a_run_on_catalog_trouble(tmp_path: Path) -> None:
    import warnings

    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = fl.TaskEnvironment("strict_warnings")

    @env.task(cache=True)
    def work() -> int:
        return 7

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = fl.run(work, cache_url=str(blocker / "cache"), progress=False)
    assert run.outputs == 7 and run.report[0].cache is fl.CacheStatus.PUT_FAILURE


def test_runs_leave_garbage_collection_as_they_found_it() -> None:
    import gc

    env = fl.TaskEnvironment("gc_state")
    seen: list[tuple[int, int]] = []

    @env.task
    def probe() -> None:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
        time.sleep(0.2)

    before = gc.get_threshold()
    threads = [
        threading.Thread(target=fl.run, args=(probe,), kwargs={"progress": False}) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert all(threshold >= 20_000 for threshold, _ in seen)  # collections deferred in a run


def test_a_task_called_from_a_thread_a_body_started_warns_and_the_context_fix_works() -> None:
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    env = fl.TaskEnvironment("threads_of_a_body")

    @env.task(cache=True, cache_version="1")
    def leaf(x: int) -> int:
        return x + 1

    @env.task
    def plain_threads(n: int) -> list[int]:
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(leaf, range(n)))

    @env.task
    def with_context(n: int) -> list[int]:
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(contextvars.copy_context().run, leaf, i) for i in range(n)]
            return [f.result() for f in futures]

    with pytest.warns(fl.RunContextWarning, match="'threads_of_a_body.leaf' was called outside"):
        run = fl.run(plain_threads, 3)
    assert run.outputs == [1, 2, 3] and run.report.by_task("leaf") == []
    run = fl.run(with_context, 3)
    assert run.outputs == [1, 2, 3]
    assert [r.cache for r in run.report.by_task("leaf")] == [fl.CacheStatus.POPULATED] * 3


def test_a_cancelled_run_raises_run_cancelled_with_its_report_and_keeps_finished_outputs() -> None:
    env = fl.TaskEnvironment("cancelled_run")

    @env.task(cache=True, cache_version="1")
    async def quick(i: int) -> int:
        return i

    @env.task
    async def hang(started: asyncio.Event) -> None:
        started.set()
        await asyncio.sleep(60)

    @env.task
    async def root(started: asyncio.Event) -> None:
        await asyncio.gather(quick(1), quick(2))
        await hang(started)

    async def cancel_while_hanging() -> fl.RunCancelled:
        started = asyncio.Event()
        run = asyncio.ensure_future(fl.run.aio(root, started, progress=False))
        await started.wait()
        run.cancel()
        with pytest.raises(fl.RunCancelled) as info:
            await run
        assert run.cancelled()  # to asyncio, a cancellation like any other
        return info.value

    cancelled = asyncio.run(cancel_while_hanging())
    assert isinstance(cancelled, asyncio.CancelledError)
    assert (
        str(cancelled)
        == "the run of 'cancelled_run.root' was cancelled after 2 of 4 calls finished"
    )
    assert cancelled.root == "cancelled_run.root" and cancelled.run_id
    assert [(r.task, r.status) for r in cancelled.report] == [
        ("cancelled_run.root", "cancelled"),
        ("cancelled_run.quick", "succeeded"),
        ("cancelled_run.quick", "succeeded"),
        ("cancelled_run.hang", "cancelled"),
    ]
    assert [r.cache for r in fl.run(quick, 2).report] == [HIT]  # its output was kept


def test_a_run_keeps_the_applications_own_gc_freeze() -> None:
    import gc

    env = fl.TaskEnvironment("gc_frozen")

    @env.task
    def noop() -> int:
        return 1

    gc.freeze()  # the pre-fork idiom: everything so far stays out of collections
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        threshold = gc.get_threshold()
        fl.run(noop, progress=False)
        # Still frozen (`unfreeze` would empty it); frozen objects freed meanwhile leave it.
        assert frozen * 0.9 < gc.get_freeze_count() <= frozen
        assert gc.get_threshold() == threshold
        gc.set_threshold(1000, 10, 10)  # the application's own thresholds...
        assert fl.run(noop, progress=False).outputs == 1
        assert gc.get_threshold() == (1000, 10, 10)  # ...are what a run restores
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_run_options_never_collide_with_task_inputs(cache_dir: Path) -> None:
    env = fl.TaskEnvironment("option_names")
    executed: list[tuple[float, str]] = []

    @env.task(cache=True, cache_version="1")
    def step(progress: float, executor: str = "me") -> str:
        executed.append((progress, executor))
        return f"{progress}-{executor}"

    # fl.run refuses to guess which is meant, before anything runs...
    with pytest.raises(fl.InputError, match=r"parameter 'progress'.*with_runcontext") as info:
        fl.run(step, progress=0.5)
    assert info.value.parameter == "progress" and executed == []
    # ...even when the input is given by position; options the task does not name work...
    with pytest.raises(fl.InputError, match="parameter 'progress'"):
        fl.run(step, 0.5, progress=False)
    assert fl.run(step, 0.5, cache_url=str(cache_dir)).outputs == "0.5-me"
    # ...and with_runcontext keeps the two apart: every keyword of .run is the task's.
    context = fl.with_runcontext(progress=False, cache_url=str(cache_dir / "other"))
    run = context.run(step, progress=0.25, executor="you")
    assert run.outputs == "0.25-you" and run.cache_url == str(cache_dir / "other")
    assert executed == [(0.5, "me"), (0.25, "you")]

    async def main() -> fl.Run:
        return await context.run.aio(step, progress=0.25, executor="you")

    assert asyncio.run(main()).report[0].cache is fl.CacheStatus.HIT
