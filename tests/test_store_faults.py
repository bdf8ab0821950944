"""A broken store costs little: the circuit breaker, damaged entries, read-your-writes."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import flytelite as fl
from flytelite.catalog import BreakerConfig, CatalogConfig, QueueConfig
from flytelite.testing import LocalS3


class SwitchedFileSystem(MemoryFileSystem):
    """An in-memory store that can be taken down (connections refused) and brought back."""

    protocol = "switchedtest"
    store: dict[str, Any] = {}
    pseudo_dirs = [""]
    down = False
    calls = 0
    lock = threading.Lock()

    @classmethod
    def _touch(cls) -> None:
        with cls.lock:
            cls.calls += 1
        if cls.down:
            raise ConnectionRefusedError("connection refused")

    def cat_file(self, path: str, start: Any = None, end: Any = None, **kwargs: Any) -> bytes:
        self._touch()
        return super().cat_file(path, start, end, **kwargs)  # type: ignore[no-any-return]

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        self._touch()
        super().pipe_file(path, value, mode=mode, **kwargs)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
        self._touch()
        return super().ls(path, detail=detail, **kwargs)


@pytest.fixture
def switched() -> Iterator[type[SwitchedFileSystem]]:
    fsspec.register_implementation("switchedtest", SwitchedFileSystem, clobber=True)
    SwitchedFileSystem.store.clear()
    SwitchedFileSystem.down, SwitchedFileSystem.calls = False, 0
    yield SwitchedFileSystem
    SwitchedFileSystem.store.clear()


def squares_workflow(name: str) -> tuple[fl.Task[..., Any], fl.Task[..., Any], list[int]]:
    env = fl.TaskEnvironment(name)
    executed: list[int] = []

    @env.task(cache=True, cache_version="1")
    def square(x: int) -> int:
        executed.append(x)
        return x * x

    @env.task
    async def squares(n: int) -> list[int]:
        return [y async for y in fl.map.aio(square, range(n))]

    return square, squares, executed


def one_worker(breaker: BreakerConfig) -> CatalogConfig:
    return CatalogConfig(
        reader=QueueConfig(workers=1), writer=QueueConfig(workers=1), breaker=breaker
    )


def test_a_dead_store_is_contacted_a_few_times_then_left_alone(
    switched: type[SwitchedFileSystem],
) -> None:
    _, squares, executed = squares_workflow("dead_store")
    switched.down = True
    config = one_worker(BreakerConfig(threshold=3, cool_down_s=60))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fl.run(squares, 50, cache_url="switchedtest://c", catalog_config=config)
    assert run.outputs == [x * x for x in range(50)] and sorted(executed) == list(range(50))
    rows = run.report.by_task("square")
    assert {r.cache for r in rows} == {fl.CacheStatus.LOOKUP_FAILURE}
    # The first lookup tries, and retries, until the breaker opens; nothing after it.
    assert switched.calls == 3
    messages = [str(w.message) for w in caught if issubclass(w.category, fl.CatalogWarning)]
    assert len(messages) == 2, messages  # one for lookups, one for writes
    assert any("not contacted for 60 s at a time" in m for m in messages)


def test_a_store_that_comes_back_is_used_again_after_the_cool_down(
    switched: type[SwitchedFileSystem],
) -> None:
    env = fl.TaskEnvironment("store_returns")

    @env.task(cache=True, cache_version="1")
    def square(x: int) -> int:
        return x * x

    @env.task
    async def one_by_one(n: int) -> list[int]:
        out = []
        for x in range(n):
            if x == 3:
                switched.down = False  # the store is back
                await asyncio.sleep(0.1)  # longer than the cool-down
            out.append(await square.aio(x))
        return out

    switched.down = True
    config = one_worker(BreakerConfig(threshold=2, cool_down_s=0.05))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fl.CatalogWarning)
        run = fl.run(one_by_one, 6, cache_url="switchedtest://c", catalog_config=config)
    statuses = [r.cache for r in run.report.by_task("square")]
    assert statuses[:3] == [fl.CacheStatus.LOOKUP_FAILURE] * 3
    assert statuses[3:] == [fl.CacheStatus.POPULATED] * 3
    again = fl.run(one_by_one, 6, cache_url="switchedtest://c", catalog_config=config)
    assert [r.cache for r in again.report.by_task("square")][3:] == [fl.CacheStatus.HIT] * 3


def test_a_run_against_a_stopped_s3_server_finishes_without_its_cache() -> None:
    square, squares, _ = squares_workflow("dead_s3")
    with LocalS3() as s3:
        url, options = s3.bucket()
        assert fl.run(square, 2, cache_url=url, storage_options=options).outputs == 4
    # The server is gone: connections to it are refused.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fl.run(squares, 20, cache_url=url, storage_options=options)
    messages = [str(w.message) for w in caught if issubclass(w.category, fl.CatalogWarning)]
    assert len(messages) == 2 and "could not be read" in messages[0], messages
    assert "EndpointConnectionError" in messages[0]
    assert "not contacted for 5 s at a time" in messages[1]
    assert run.outputs == [x * x for x in range(20)]
    assert {r.cache for r in run.report.by_task("square")} == {fl.CacheStatus.LOOKUP_FAILURE}


@pytest.mark.parametrize(
    "bad",
    [
        {"threshold": 0},
        {"threshold": True},
        {"cool_down_s": -1},
        {"cool_down_s": "5"},
    ],
)
def test_breaker_config_is_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="BreakerConfig"):
        BreakerConfig(**bad)
