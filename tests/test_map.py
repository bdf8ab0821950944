"""`fl.map` and `fl.map.aio`: order, concurrency, exceptions, sync and async callers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

import flytelite as fl

env = fl.TaskEnvironment("maps")
in_flight = {"now": 0, "max": 0}
lock = threading.Lock()


@env.task
async def tracked(i: int, delay: float) -> int:
    with lock:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
    try:
        await asyncio.sleep(delay)
    finally:
        with lock:
            in_flight["now"] -= 1
    if i < 0:
        raise ValueError(f"negative {i}")
    return i * 10


@env.task
def sync_tracked(i: int) -> int:
    with lock:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
    try:
        time.sleep(0.05)
    finally:
        with lock:
            in_flight["now"] -= 1
    return -i


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    in_flight.update(now=0, max=0)


def test_results_come_in_input_order_even_when_finishing_out_of_order() -> None:
    @env.task
    async def root() -> list[int]:
        delays = [0.3, 0.01, 0.2, 0.0, 0.1]
        return [r async for r in fl.map.aio(tracked, range(5), delays, concurrency=3)]

    assert fl.run(root).outputs == [0, 10, 20, 30, 40]


@pytest.mark.parametrize("k", [1, 3, 7])
def test_concurrency_k_keeps_exactly_k_in_flight(k: int) -> None:
    @env.task
    async def root(n: int) -> list[int]:
        # Uneven durations: a slow head must not stall the others.
        delays = [0.2 if i % 4 == 0 else 0.02 for i in range(n)]
        return [r async for r in fl.map.aio(tracked, range(n), delays, concurrency=k)]

    run = fl.run(root, 30)
    assert run.outputs == [i * 10 for i in range(30)]
    assert in_flight["max"] == k


def test_unbounded_concurrency_runs_everything_at_once() -> None:
    @env.task
    async def root(n: int) -> list[int]:
        return [r async for r in fl.map.aio(tracked, range(n), [0.5] * n)]

    started = time.perf_counter()
    assert fl.run(root, 100).outputs == [i * 10 for i in range(100)]
    assert time.perf_counter() - started < 2
    assert in_flight["max"] == 100


def test_an_unbounded_map_keeps_at_most_ten_thousand_calls_in_flight() -> None:
    # A very long map without a limit must not hold a call per item in memory at once.
    # Every call waits until 10,000 are in flight: with the bound exactly 10,000 are,
    # without it all 10,300 would start.
    gate: dict[str, asyncio.Event] = {}

    @env.task
    async def held(i: int) -> int:
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            if in_flight["now"] >= 10_000:
                gate["open"].set()
            await asyncio.wait_for(gate["open"].wait(), timeout=60)
        finally:
            with lock:
                in_flight["now"] -= 1
        return i

    @env.task
    async def root(n: int) -> int:
        gate["open"] = asyncio.Event()
        return sum([r async for r in fl.map.aio(held, range(n))])

    n = 10_300
    assert fl.run(root, n, progress=False).outputs == sum(range(n))
    assert in_flight["max"] == 10_000


def test_failed_items_yield_their_exception_by_default() -> None:
    @env.task
    async def root() -> list[object]:
        return [r async for r in fl.map.aio(tracked, [1, -2, 3], [0, 0, 0])]

    out = fl.run(root).outputs
    assert out[0] == 10 and out[2] == 30
    assert isinstance(out[1], ValueError) and str(out[1]) == "negative -2"


def test_return_exceptions_false_raises_the_items_exception() -> None:
    @env.task
    async def root() -> str:
        seen = []
        try:
            async for r in fl.map.aio(
                tracked, [1, -2, 3, 4], [0, 0, 0.5, 0.5], return_exceptions=False
            ):
                seen.append(r)
        except ValueError as exc:
            return f"{seen} then {exc}"
        return "no error"

    started = time.perf_counter()
    assert fl.run(root).outputs == "[10] then negative -2"
    assert time.perf_counter() - started < 0.45  # the rest were cancelled, not awaited


def test_sync_map_from_a_sync_task_body_in_a_worker_thread() -> None:
    @env.task
    def parent(n: int) -> list[int]:
        return list(fl.map(sync_tracked, range(n), concurrency=4))

    started = time.perf_counter()
    assert fl.run(parent, 16).outputs == [-i for i in range(16)]
    assert time.perf_counter() - started < 0.6  # 16 x 0.05 s in sequence is 0.8 s
    assert in_flight["max"] == 4


def test_sync_map_of_async_tasks_and_early_exit() -> None:
    @env.task
    def parent() -> list[int]:
        out = []
        for r in fl.map(tracked, range(100), [0.01] * 100, concurrency=5):
            out.append(r)
            if len(out) == 3:
                break
        return out

    run = fl.run(parent)
    assert run.outputs == [0, 10, 20]
    assert len(run.report.by_task("tracked")) < 100


def test_map_outside_a_run_calls_the_plain_functions() -> None:
    assert list(fl.map(sync_tracked, [1, 2, 3])) == [-1, -2, -3]
    results = list(fl.map(tracked, [1, -1], [0, 0]))
    assert results[0] == 10 and isinstance(results[1], ValueError)


def test_blocking_map_on_the_event_loop_says_to_use_aio() -> None:
    @env.task
    async def root() -> list[int]:
        return list(fl.map(sync_tracked, [1]))

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(root)
    assert "fl.map.aio" in str(info.value.__cause__)


def test_bad_map_arguments_are_clear_errors() -> None:
    with pytest.raises(TypeError, match="expects a task"):
        fl.map(len, [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency=-1"):
        fl.map.aio(tracked, [1], concurrency=-1)


def test_cached_map_items_hit_on_the_next_run() -> None:
    executed: list[int] = []

    @env.task(cache=True)
    async def cached(i: int) -> int:
        executed.append(i)
        return i

    @env.task
    async def root() -> list[int]:
        return [r async for r in fl.map.aio(cached, range(10), concurrency=3)]

    assert fl.run(root).outputs == list(range(10))
    run = fl.run(root)
    assert run.outputs == list(range(10))
    assert sorted(executed) == list(range(10))
    assert {r.cache for r in run.report.by_task("cached")} == {fl.CacheStatus.HIT}


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "hits"])
def test_calls_that_never_suspend_still_let_the_loop_run(cached: bool) -> None:
    # A hit read inline and a body that awaits nothing finish without suspending: the
    # map must still give the loop turns, so that its results are consumed (and
    # freed) as they come and timers and other tasks run, instead of after the last call.
    n = 2_000
    pulled = [0]
    ticked: list[int] = []  # how many items had been taken when the callback ran

    def items() -> Iterator[int]:
        for i in range(n):
            pulled[0] = i + 1
            if i == 0:  # a callback scheduled once the map is under way
                asyncio.get_running_loop().call_soon(lambda: ticked.append(pulled[0]))
            yield i

    @env.task(cache=cached, cache_version="1" if cached else None)
    async def instant(i: int) -> int:
        return i + 1

    @env.task
    async def root() -> tuple[int, int]:
        pulled[0] = 0
        ticked.clear()
        first = 0
        total = 0
        async for r in fl.map.aio(instant, items()):
            first = first or pulled[0]
            total += r
        assert total == n * (n + 1) // 2
        return ticked[0], first

    if cached:
        fl.run(root)  # every call a miss, then written: the run below is all hits
    run = fl.run(root)
    ticked_at, first_result_at = run.outputs
    assert ticked_at < 200, f"the loop had no turn until {ticked_at} calls were made"
    assert first_result_at < 400, f"the first result came after {first_result_at} calls"
    if cached:
        assert {r.cache for r in run.report.by_task(instant.name)} == {fl.CacheStatus.HIT}


def test_a_loop_of_awaited_calls_lets_sibling_tasks_run() -> None:
    made = [0]

    @env.task
    async def instant(i: int) -> int:
        made[0] += 1
        return i

    @env.task
    async def root() -> int:
        async def calls() -> int:
            return sum([await instant(i) for i in range(1_000)])

        async def sibling() -> int:
            await asyncio.sleep(0)  # started with the loop; resumes on its next turn
            return made[0]

        _, seen = await asyncio.gather(calls(), sibling())
        return seen

    seen = fl.run(root).outputs
    assert seen < 200, f"a sibling task waited for {seen} calls to be made"


def test_concurrency_zero_means_no_limit() -> None:
    @env.task
    async def root(n: int) -> list[int]:
        return [r async for r in fl.map.aio(tracked, range(n), [0.2] * n, concurrency=0)]

    assert fl.run(root, 20).outputs == [i * 10 for i in range(20)]
    assert in_flight["max"] == 20


@pytest.mark.parametrize("concurrency", [0, 1, 3])
def test_an_input_iterable_that_raises_fails_the_map_after_items_in_flight_settle(
    concurrency: int,
) -> None:
    executed: list[int] = []

    @env.task(cache=True, cache_version="1")
    async def slow_square(i: int) -> int:
        await asyncio.sleep(0.05)
        executed.append(i)
        return i * i

    def inputs(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)
        raise LookupError("the input source broke after 5 items")

    @env.task
    async def root() -> list[int]:
        return [r async for r in fl.map.aio(slow_square, inputs(5), concurrency=concurrency)]

    @env.task
    def sync_root() -> list[int]:
        return list(fl.map(slow_square, inputs(5), concurrency=concurrency))

    for entry in (root, sync_root):
        with pytest.raises(fl.TaskFailedError) as info:
            fl.run(entry)
        assert isinstance(info.value.__cause__, LookupError)
    assert sorted(executed) == list(range(5))  # every item taken ran once, then was cached

    @env.task
    async def again() -> list[int]:
        return [r async for r in fl.map.aio(slow_square, range(5))]

    run = fl.run(again)
    assert run.outputs == [i * i for i in range(5)]
    assert {r.cache for r in run.report.by_task("slow_square")} == {fl.CacheStatus.HIT}
