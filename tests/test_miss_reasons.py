"""Every executed cached call says why: reasons in the report and `flytelite cache why`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import flytelite as fl
from flytelite.cli import main


def reasons(run: fl.Run, task: str) -> list[str | None]:
    return [r.miss_reason for r in run.report.by_task(task)]


def define(version: str | None, body: int = 1, extra: bool = False) -> Any:
    """(Re)define `reasons.work`, as a user editing and re-running a script would."""
    env = fl.TaskEnvironment("reasons")
    cache = fl.Cache(version=version) if version else fl.Cache()
    if extra:

        @env.task(cache=cache)
        def work(x: int, y: str = "a", z: int = 0) -> str:
            return f"{x}{y}{z}"

    elif body == 1:

        @env.task(cache=cache)
        def work(x: int, y: str = "a") -> str:
            return f"{x}{y}"

    else:

        @env.task(cache=cache)
        def work(x: int, y: str = "a") -> str:
            return f"{y}{x}"

    return work


def test_first_run_then_input_changes_name_the_parameters() -> None:
    work = define("1")
    env = fl.TaskEnvironment("reasons")

    @env.task
    async def first() -> None:
        await work.aio(1)
        await work.aio(5)  # new inputs in the same run: nothing earlier to compare with

    @env.task
    async def later() -> None:
        await work.aio(2)  # x changed (against run one's entries)
        await work.aio(1, "b")  # y changed
        await work.aio(1)  # a hit
        await work.aio(3, "c")  # both changed, against the closest entry

    assert reasons(fl.run(first), "work") == [
        "no entry for this task yet",
        "no entry for these inputs yet",
    ]
    run = fl.run(later)
    assert reasons(run, "work") == [
        "input 'x' changed",
        "input 'y' changed",
        None,
        "inputs 'x', 'y' changed",
    ]
    assert run.report.by_task("work")[2].cache is fl.CacheStatus.HIT
    assert [r.miss_reason for r in run.report.by_task("later")] == [None]  # uncached
    dicts = [d for d in run.report.to_dicts() if d["task"] == "reasons.work"]
    assert dicts[0]["miss_reason"] == "input 'x' changed"
    assert "miss_reason" not in dicts[2]
    text = str(run.report)
    assert "misses by reason:" in text
    assert "1  input 'x' changed" in text


def test_a_map_over_new_items_has_no_earlier_entry_for_each() -> None:
    env = fl.TaskEnvironment("reasons_map")

    @env.task(cache=True, cache_version="1")
    async def item(i: int) -> int:
        return i

    @env.task
    async def root(n: int) -> list[int]:
        return [r async for r in fl.map.aio(item, range(n), concurrency=2)]

    run = fl.run(root, 6)
    # The first finds nothing of the task; the second looks up while the first runs or
    # after it wrote (a call that never waits writes before another call starts); the
    # rest find only entries of this very run, which are not earlier entries.
    found = reasons(run, "item")
    assert found[0] == "no entry for this task yet"
    assert found[1] in ("no entry for this task yet", "no entry for these inputs yet")
    assert found[2:] == ["no entry for these inputs yet"] * 4
    again = fl.run(root, 8)
    assert reasons(again, "item")[6:] == ["input 'i' changed"] * 2  # run one's entries count


def test_version_source_and_signature_changes() -> None:
    fl.run(define("1"), 1)
    assert reasons(fl.run(define("2"), 1), "work") == ["cache_version changed ('1' → '2')"]
    fl.run(define(None, body=1), 1)
    changed = reasons(fl.run(define(None, body=2), 1), "work")[0]
    assert changed == "the task's own code changed"
    fl.run(define("3"), 1)
    added = reasons(fl.run(define("3", extra=True), 1), "work")
    assert added == ["the task's signature changed (added 'z')"]


def test_expired_and_override() -> None:
    env = fl.TaskEnvironment("reasons_age")

    @env.task(cache=fl.Cache(version="1", max_age=timedelta(seconds=0.2)))
    def aging() -> int:
        return 1

    fl.run(aging)
    time.sleep(0.3)
    reason = fl.run(aging).report[0].miss_reason
    assert reason is not None and reason.startswith("entry expired (age 0.")
    assert "max_age 0.2 s" in reason

    @env.task(cache=fl.Cache(version="1", behavior="override"))
    def forced() -> int:
        return 1

    assert fl.run(forced).report[0].miss_reason == "behavior override"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], "entry unreadable: truncated"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "entry unreadable: corrupt"),
        (lambda b: b"not an entry at all, but long enough", "entry unreadable: foreign format"),
    ],
)
def test_unreadable_entries(cache_dir: Path, damage: Callable[[bytes], bytes], reason: str) -> None:
    work = define("1")
    fl.run(work, 1)
    (entry,) = (cache_dir / "v1" / "reasons.work").iterdir()
    entry.write_bytes(damage(entry.read_bytes()))
    assert reasons(fl.run(work, 1), "work") == [reason]


def test_signature_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    work = define("1")
    fl.run(work, 1)
    monkeypatch.setenv("FLYTELITE_CACHE_SECRET", "s3cret")
    with pytest.warns(fl.CatalogWarning, match="refused"):
        run = fl.run(work, 1)
    assert reasons(run, "work") == ["entry unreadable: signature refused"]


class _Unreachable(MemoryFileSystem):
    protocol = "unreachable"
    store: dict[str, Any] = {}
    pseudo_dirs = [""]

    def cat_file(self, path: str, start: Any = None, end: Any = None, **kwargs: Any) -> bytes:
        raise ConnectionError("no route to store")


def test_lookup_failure() -> None:
    fsspec.register_implementation("unreachable", _Unreachable, clobber=True)
    with pytest.warns(fl.CatalogWarning):
        run = fl.run(define("1"), 1, cache_url="unreachable://cache")
    (reason,) = reasons(run, "work")
    assert reason == "lookup failure of the store (ConnectionError: no route to store)"


def test_a_removed_entry_is_explained(cache_dir: Path) -> None:
    work = define("1")
    first = fl.run(work, 1)
    for entry in (cache_dir / "v1" / "reasons.work").iterdir():
        entry.unlink()
    (reason,) = reasons(fl.run(work, 1), "work")
    assert reason == (
        f"the entry written by run {first.run_id} was removed since (cache cleared or pruned)"
    )


@pytest.mark.parametrize("damage", ["missing", "garbage", "wrong shape"])
def test_a_lost_or_damaged_index_degrades_to_no_entry_yet(cache_dir: Path, damage: str) -> None:
    fl.run(define("1"), 1)
    index = cache_dir / "index" / "reasons.work.json"
    assert index.exists()
    if damage == "missing":
        index.unlink()
    elif damage == "garbage":
        index.write_bytes(b"\x00\xffnot json")
    else:
        index.write_text(json.dumps({"records": [{"task": "reasons.work"}]}))
    run = fl.run(define("1"), 2)
    assert reasons(run, "work") == ["no entry for this task yet"]
    assert run.report[0].status == "succeeded"


def test_the_index_stays_bounded(cache_dir: Path) -> None:
    work = define("1")

    @fl.TaskEnvironment("reasons").task
    async def many(n: int) -> None:
        for i in range(n):
            await work.aio(i)

    fl.run(many, 100)
    records = json.loads((cache_dir / "index" / "reasons.work.json").read_text())["records"]
    assert len(records) == 64
    assert records[-1]["inputs"] != records[0]["inputs"]


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import flytelite as fl

    env = fl.TaskEnvironment("reasons_proc")

    @env.task(cache=True, cache_version=sys.argv[1])
    def fit(data: str, rate: float, seed: int = 0) -> str:
        return f"{data}:{rate}:{seed}"

    if __name__ == "__main__":
        run = fl.run(fit, sys.argv[2], float(sys.argv[3]))
        print(json.dumps(run.report[0].miss_reason))
    """
)


def test_reasons_across_real_processes(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)

    def run(*args: str) -> Any:
        out = subprocess.run(
            [sys.executable, str(script), *args],
            env={**os.environ, "FLYTELITE_CACHE_URL": str(cache_dir)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert run("1", "train.csv", "0.1") == "no entry for this task yet"
    assert run("1", "train.csv", "0.1") is None  # a hit
    assert run("1", "train.csv", "0.2") == "input 'rate' changed"
    assert run("1", "other.csv", "0.2") == "input 'data' changed"
    assert run("2", "other.csv", "0.2") == "cache_version changed ('1' → '2')"

    assert main(["cache", "why", "fit"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "why reasons_proc.fit executed, newest first (4 entries):"
    assert [line.split("  ")[-1].strip() for line in lines[3:]] == [
        "cache_version changed ('1' → '2')",
        "input 'data' changed",
        "input 'rate' changed",
        "no entry for this task yet",
    ]
    assert main(["cache", "why", "nope"]) == 2
    assert "no recorded entries of task 'nope'" in capsys.readouterr().err


def test_the_index_can_be_turned_off(cache_dir: Path) -> None:
    from flytelite.catalog import CatalogConfig

    config = CatalogConfig(miss_index=False)
    run = fl.run(define("1"), 1, catalog_config=config)
    assert reasons(run, "work") == ["no entry"]
    assert not (cache_dir / "index").exists()
    assert fl.run(define("1"), 1, catalog_config=config).report[0].cache is fl.CacheStatus.HIT


def kinds(run: fl.Run, task: str) -> list[Any]:
    return [r.miss_reason.kind if r.miss_reason else None for r in run.report.by_task(task)]


def test_reasons_are_typed_kinds_with_structured_detail() -> None:
    from flytelite.catalog import MissKind, MissReason

    work = define("1")
    assert kinds(fl.run(work, 1), "work") == [MissKind.FIRST]
    (changed,) = [r.miss_reason for r in fl.run(work, 2).report.by_task("work")]
    assert isinstance(changed, MissReason) and changed == "input 'x' changed"
    assert changed.kind is MissKind.INPUTS_CHANGED and changed.detail == {"names": ("x",)}
    (bumped,) = [r.miss_reason for r in fl.run(define("2"), 1).report.by_task("work")]
    assert bumped.kind is MissKind.VERSION_CHANGED
    assert bumped.detail == {"before": "1", "now": "2"}
    (grown,) = kinds(fl.run(define("2", extra=True), 1), "work")
    assert grown is MissKind.SIGNATURE_CHANGED
    override = define("2", extra=True)
    override.cache = fl.Cache(version="2", behavior="override")
    (forced,) = kinds(fl.run(override, 1), "work")
    assert forced is MissKind.OVERRIDE


def test_reasons_survive_pickling_and_json() -> None:
    import pickle

    from flytelite.catalog import MissKind, MissReason

    reason = MissReason(MissKind.INPUTS_CHANGED, "input 'x' changed", names=("x",))
    again = pickle.loads(pickle.dumps(reason))
    assert again == reason and again.kind is MissKind.INPUTS_CHANGED
    assert again.detail == {"names": ("x",)}
    assert json.dumps({"r": reason}) == '{"r": "input \'x\' changed"}'


def test_report_counts_expired_entries_as_one_reason_whatever_their_ages() -> None:
    env = fl.TaskEnvironment("reasons_expired")

    @env.task(cache=fl.Cache(version="1", max_age=timedelta(seconds=0.05)))
    def work(x: int) -> int:
        return x

    @env.task
    async def many() -> list[int]:
        return [await work.aio(x) for x in range(3)]

    fl.run(many)
    time.sleep(0.1)
    run = fl.run(many)
    texts = {r.miss_reason for r in run.report.by_task("work")}
    assert all(t is not None and t.startswith("entry expired (age") for t in texts)
    assert run.report.miss_reasons() == {"entry expired": 3}
