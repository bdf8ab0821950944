"""`flytelite cache ls|info|clear|prune` on local and S3 caches."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import flytelite as fl
from flytelite.cli import main

env = fl.TaskEnvironment("cli_cache")


@env.task(cache=True, cache_version="3")
def square(x: int) -> int:
    return x * x


@env.task(cache=True)
def cube(x: int) -> int:
    return x**3


@env.task
async def fill(n: int) -> None:
    for i in range(n):
        await square.aio(i)
    await cube.aio(2)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_ls_info_and_one_tasks_entries(capsys: pytest.CaptureFixture[str]) -> None:
    fl.run(fill, 4)
    code, out, _ = cli(capsys, "cache", "ls")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:]}
    assert rows == {"cli_cache.cube": "1", "cli_cache.square": "4"}
    code, out, _ = cli(capsys, "cache", "ls", "square")
    assert code == 0 and len(out.splitlines()) == 2 + 4
    assert all(line.split()[-2] == "3" for line in out.splitlines()[2:])  # cache version
    code, out, _ = cli(capsys, "cache", "info")
    assert "entries:  5 in 2 tasks" in out


def test_clear_one_task_then_everything(capsys: pytest.CaptureFixture[str]) -> None:
    fl.run(fill, 3)
    code, out, _ = cli(capsys, "cache", "clear", "cli_cache.square")
    assert code == 0 and out.startswith("removed 3 entries")
    assert [r.cache for r in fl.run(square, 1).report] == [fl.CacheStatus.POPULATED]
    code, out, _ = cli(capsys, "cache", "clear")
    assert out.startswith("removed 2 entries")
    code, out, _ = cli(capsys, "cache", "ls")
    assert out.startswith("no entries")


def test_prune_removes_only_old_entries(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fl.run(fill, 3)
    old = sorted(p for p in (cache_dir / "v1").rglob("*") if p.is_file() and "square" in str(p))[:2]
    week_ago = time.time() - 8 * 86400
    for path in old:
        os.utime(path, (week_ago, week_ago))
    code, out, _ = cli(capsys, "cache", "prune", "--older-than", "7d")
    assert code == 0 and out.startswith("removed 2 entries older than 7.0d")
    code, out, _ = cli(capsys, "cache", "info")
    assert "entries:  2 in 2 tasks" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cache", "ls", "nope"], "no entries of task 'nope'"),
        (["cache", "clear", "nope"], "no entries of task 'nope'"),
    ],
)
def test_unknown_tasks_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    fl.run(fill, 1)
    code, out, err = cli(capsys, *args)
    assert code == 2 and message in err and out == ""


def test_bad_ages_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["cache", "prune", "--older-than", "soon"])
    assert info.value.code == 2
    assert "not an age" in capsys.readouterr().err


def test_cache_commands_work_on_s3(
    s3_cache: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    fl.run(fill, 2, cache_url=s3_cache["url"], storage_options=s3_cache["storage_options"])
    where = [
        "--cache-url",
        s3_cache["url"],
        "--storage-options",
        json.dumps(s3_cache["storage_options"]),
    ]
    code, out, _ = cli(capsys, "cache", "info", *where)
    assert code == 0 and "entries:  3 in 2 tasks" in out
    code, out, _ = cli(capsys, "cache", "clear", "cube", *where)
    assert out.startswith("removed 1 entries")
    code, out, _ = cli(capsys, "cache", "ls", *where)
    assert "cli_cache.cube" not in out and "cli_cache.square" in out
