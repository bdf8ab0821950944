"""Caches shared by real processes: exactly-once with `serialize`, takeover, S3, signing."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import flytelite as fl
from flytelite.catalog import FsspecCatalog, Key

WORKER = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    import flytelite as fl
    from flytelite.catalog import CatalogConfig

    env = fl.TaskEnvironment("exactly_once")

    @env.task(cache=fl.Cache(version="1", serialize=True))
    def slow(x: int) -> int:
        with open(os.environ["MARKS"], "a") as f:
            f.write(f"start {os.getpid()} {x}\\n")
            f.flush()
        seconds = float(os.environ.get("BODY_SECONDS", "0.3"))
        if os.environ.get("SPIN"):  # hold the GIL, as CPU-bound bodies do
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(seconds)
        return x * x

    @env.task
    async def root(keys: list[int]) -> list[int]:
        return list(await asyncio.gather(*(slow.aio(k) for k in keys)))

    if __name__ == "__main__":
        options = None
        if os.environ.get("S3_ENDPOINT"):
            options = {"endpoint_url": os.environ["S3_ENDPOINT"],
                       "key": "testing", "secret": "testing"}
        config = CatalogConfig(reservation_heartbeat_s=float(os.environ.get("HEARTBEAT", "0.2")))
        run = fl.run(root, json.loads(sys.argv[1]), cache_url=os.environ["CACHE"],
                     storage_options=options, catalog_config=config)
        print(json.dumps({"outputs": run.outputs,
                          "statuses": [r.cache.value for r in run.report.by_task("slow")]}))
    """
)


def start_worker(tmp_path: Path, keys: list[int], cache: str, **env: str) -> subprocess.Popen[str]:
    script = tmp_path / "worker.py"
    if not script.exists():
        script.write_text(WORKER)
    full_env = {**os.environ, "CACHE": cache, "MARKS": str(tmp_path / "marks.txt"), **env}
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(keys)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def executions(tmp_path: Path) -> collections.Counter[int]:
    lines = (tmp_path / "marks.txt").read_text().splitlines()
    return collections.Counter(int(line.split()[2]) for line in lines)


def test_four_processes_execute_each_serialized_key_once(tmp_path: Path, cache_dir: Path) -> None:
    keys = list(range(6))
    procs = [start_worker(tmp_path, keys, str(cache_dir)) for _ in range(4)]
    results = [finish(p) for p in procs]
    assert all(r["outputs"] == [k * k for k in keys] for r in results)
    assert executions(tmp_path) == {k: 1 for k in keys}
    statuses = [s for r in results for s in r["statuses"]]
    assert statuses.count("POPULATED") == len(keys)
    assert statuses.count("HIT") == 3 * len(keys)


def test_serialized_keys_execute_once_under_load(tmp_path: Path, cache_dir: Path) -> None:
    # Hundreds of calls in flight per process, bodies holding the GIL, and a
    # heartbeat far below what such a process can keep: no live lease lapses.
    keys = list(range(200))
    load = {"BODY_SECONDS": "0.005", "SPIN": "1", "HEARTBEAT": "0.05"}
    procs = [start_worker(tmp_path, keys, str(cache_dir), **load) for _ in range(4)]
    results = [finish(p) for p in procs]
    assert all(r["outputs"] == [k * k for k in keys] for r in results)
    assert executions(tmp_path) == {k: 1 for k in keys}


def test_a_sigkilled_holder_is_taken_over_within_a_few_heartbeats(
    tmp_path: Path, cache_dir: Path
) -> None:
    holder = start_worker(tmp_path, [7], str(cache_dir), BODY_SECONDS="60", HEARTBEAT="0.2")
    marks = tmp_path / "marks.txt"
    deadline = time.monotonic() + 30
    while not (marks.exists() and marks.read_text()):
        assert time.monotonic() < deadline, "the holder never started"
        time.sleep(0.02)
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=10)
    started = time.monotonic()
    successor = start_worker(tmp_path, [7], str(cache_dir), BODY_SECONDS="0.1", HEARTBEAT="0.2")
    result = finish(successor)
    elapsed = time.monotonic() - started
    assert result["outputs"] == [49] and result["statuses"] == ["POPULATED"]
    assert executions(tmp_path) == {7: 2}
    # The lease lapses 3 heartbeats (raised to 0.5 s each: 1.5 s) after the last
    # extension; allow for start-up.
    assert elapsed < 8, f"takeover took {elapsed:.1f} s"


def test_three_processes_on_s3_execute_each_key_once(
    tmp_path: Path, s3_cache: dict[str, Any]
) -> None:
    keys = list(range(4))
    procs = [start_worker(tmp_path, keys, s3_cache["url"], **s3_cache["env"]) for _ in range(3)]
    results = [finish(p) for p in procs]
    assert all(r["outputs"] == [k * k for k in keys] for r in results)
    assert executions(tmp_path) == {k: 1 for k in keys}
    catalog = FsspecCatalog(s3_cache["url"], s3_cache["storage_options"])
    assert len(list(catalog.entries())) == len(keys)


def test_s3_entries_are_created_once_and_damaged_ones_replaced(s3_cache: dict[str, Any]) -> None:
    catalog = FsspecCatalog(s3_cache["url"], s3_cache["storage_options"])
    key = Key("env.s3", "1", {"x": 1})
    assert catalog.put(key, "first") is fl.CacheStatus.POPULATED
    assert catalog.put(key, "second") is fl.CacheStatus.HIT
    entry = catalog.get(key)
    assert entry is not None and entry.outputs == "first"
    (stored,) = catalog.entries()
    catalog.store.write(stored.path, [b"garbage that is not an entry"], exclusive=False)
    assert catalog.get(key) is None
    assert catalog.put(key, "third") is fl.CacheStatus.POPULATED
    entry = catalog.get(key)
    assert entry is not None and entry.outputs == "third"


def test_a_run_against_s3_hits_on_the_second_run(s3_cache: dict[str, Any]) -> None:
    env = fl.TaskEnvironment("s3_run")
    executed: list[int] = []

    @env.task(cache=True)
    async def work(x: int) -> int:
        executed.append(x)
        return x + 1

    options = s3_cache["storage_options"]
    first = fl.run(work, 1, cache_url=s3_cache["url"], storage_options=options)
    second = fl.run(work, 1, cache_url=s3_cache["url"], storage_options=options)
    assert first.outputs == second.outputs == 2
    assert second.report[0].cache is fl.CacheStatus.HIT
    assert executed == [1]


class TestSigning:
    def test_signed_entries_round_trip(self, tmp_path: Path) -> None:
        catalog = FsspecCatalog(str(tmp_path), secret="s3cret")
        key = Key("env.signed", "1", {})
        catalog.put(key, {"ok": True})
        entry = catalog.get(key)
        assert entry is not None and entry.outputs == {"ok": True}

    def test_unsigned_and_wrongly_signed_entries_are_refused_before_unpickling(
        self, tmp_path: Path
    ) -> None:
        marker = tmp_path / "executed"

        class Payload:
            def __reduce__(self) -> tuple[Any, ...]:
                return (os.system, (f"touch {marker}",))

        key = Key("env.signed", "1", {})
        FsspecCatalog(str(tmp_path / "a")).put(key, Payload())  # an attacker without the secret
        FsspecCatalog(str(tmp_path / "b"), secret="wrong").put(key, Payload())
        for folder in ("a", "b"):
            reader = FsspecCatalog(str(tmp_path / folder), secret="right")
            assert reader.get(key) is None
            problem = reader.inspect(key)
            assert isinstance(problem, Exception) and "signature refused" in str(problem)
        assert not marker.exists()

    def test_a_reader_without_the_secret_refuses_signed_entries(self, tmp_path: Path) -> None:
        key = Key("env.signed", "1", {})
        FsspecCatalog(str(tmp_path), secret="s3cret").put(key, 1)
        assert FsspecCatalog(str(tmp_path)).get(key) is None

    def test_runs_with_a_secret_refuse_forged_entries_and_replace_them(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        env = fl.TaskEnvironment("signed_runs")
        executed: list[int] = []

        @env.task(cache=True, cache_version="1")
        def work(x: int) -> int:
            executed.append(x)
            return x

        fl.run(work, 5, cache_url=str(tmp_path))  # unsigned: as a forger would write
        monkeypatch.setenv("FLYTELITE_CACHE_SECRET", "team secret")
        with pytest.warns(fl.CatalogWarning, match="refused"):
            run = fl.run(work, 5, cache_url=str(tmp_path))
        assert run.report[0].cache is fl.CacheStatus.POPULATED
        reason = run.report[0].miss_reason
        assert reason is not None and "signature refused" in reason
        assert fl.run(work, 5, cache_url=str(tmp_path)).report[0].cache is fl.CacheStatus.HIT
        assert executed == [5, 5]
