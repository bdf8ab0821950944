"""`flytelite cache ls|info|clear|prune` on local and S3 caches."""

from __future__ import annotations

import json
import os
import sys
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
    assert code == 0 and out.startswith("removed 2 entries unused for 7.0d")
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


# -- caches that cannot be used -----------------------------------------------------------

SUBCOMMANDS = [
    ["ls"],
    ["ls", "square"],
    ["info"],
    ["clear"],
    ["clear", "square"],
    ["prune", "--older-than", "1d"],
    ["why", "square"],
]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "foo://x",
            "error: the cache URL 'foo://x' has protocol 'foo', which fsspec does not know; "
            "use a local folder or a URL such as s3://bucket/prefix\n",
        ),
        (
            "gcs://b/x",
            "error: the cache URL 'gcs://b/x' needs gcsfs, which is not installed: "
            "pip install gcsfs\n",
        ),
    ],
)
def test_an_unusable_cache_url_is_one_line_for_every_command(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    url: str,
    message: str,
) -> None:
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # not installed, wherever the tests run
    code, out, err = cli(capsys, "cache", *command, "--cache-url", url)
    assert (code, out, err) == (2, "", message)


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_a_cache_location_that_is_not_a_folder_is_an_error_not_an_empty_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a cache")
    code, out, err = cli(capsys, "cache", *command, "--cache-url", str(blocker))
    assert (code, out, err) == (2, "", f"error: the cache at {blocker} is a file, not a folder\n")
    under = blocker / "cache"
    code, out, err = cli(capsys, "cache", *command, "--cache-url", f"file://{under}")
    assert (code, out) == (2, "")
    assert (
        err
        == f"error: the cache at file://{under} is under {blocker}, which is a file, not a folder\n"
    )


def test_a_cache_that_does_not_exist_yet_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "cache", "ls", "--cache-url", str(tmp_path / "new"))
    assert (code, out) == (0, f"no entries in {tmp_path / 'new'}\n")


# -- tasks named by identity --------------------------------------------------------------

french = fl.TaskEnvironment("données")
other = fl.TaskEnvironment("autre")


@french.task(cache=True, cache_version="1")
def f(x: int) -> int:
    return x


def _other_f() -> fl.Task[[int], int]:
    @other.task(cache=True, cache_version="1")
    def f(x: int) -> int:  # a second `f`, of another environment: `autre.f`
        return -x

    return f


f_other = _other_f()


@other.task(cache=True, cache_version="1")
def g(x: int) -> int:
    return x + 1


@french.task
async def fill_named() -> None:
    for i in range(2):
        await f.aio(i)
    await f_other.aio(0)
    await g.aio(0)


def test_cache_commands_take_task_identities_never_folder_names(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fl.run(fill_named)
    assert {p.name for p in (cache_dir / "v1").iterdir()} >= {"autre.f", "autre.g"}
    assert not (cache_dir / "v1" / "données.f").exists()  # its folder has a sanitised name
    code, out, _ = cli(capsys, "cache", "ls")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()[2:]] == [
        ["autre.f", "1"],
        ["autre.g", "1"],
        ["données.f", "2"],
    ]
    code, out, _ = cli(capsys, "cache", "ls", "données.f")
    assert code == 0 and len(out.splitlines()) == 2 + 2
    code, out, _ = cli(capsys, "cache", "why", "données.f")
    assert code == 0 and out.startswith("why données.f executed, newest first (2 entries):")
    code, out, _ = cli(capsys, "cache", "why", "g")  # a function name, unique
    assert code == 0 and out.startswith("why autre.g executed")
    folder = next(p.name for p in (cache_dir / "v1").iterdir() if p.name.startswith("donn"))
    code, out, err = cli(capsys, "cache", "clear", folder)  # the folder's name is not a name
    assert code == 2 and err.startswith(f"error: no entries of task {folder!r}")
    code, out, _ = cli(capsys, "cache", "clear", "données.f")
    assert code == 0 and out.startswith("removed 2 entries")
    code, out, _ = cli(capsys, "cache", "clear", "g")
    assert code == 0 and out.startswith("removed 1 entries")
    code, out, _ = cli(capsys, "cache", "ls")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["autre.f"]


@pytest.mark.parametrize("command", ["ls", "clear", "why", "prune"])
def test_an_ambiguous_function_name_is_a_usage_error_listing_the_candidates(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    fl.run(fill_named)
    extra = ["--older-than", "0s"] if command == "prune" else []
    code, out, err = cli(capsys, "cache", command, "f", *extra)
    assert (code, out) == (2, "")
    assert err == "error: 'f' is ambiguous: name one of autre.f, données.f\n"
    assert "entries:  4 in 3 tasks" in cli(capsys, "cache", "info")[1]  # nothing was removed


def test_prune_needs_a_bound_or_an_age(capsys: pytest.CaptureFixture[str]) -> None:
    fl.run(fill, 1)
    code, out, err = cli(capsys, "cache", "prune")
    assert code == 2 and "--max-size SIZE, --older-than AGE, or both" in err and out == ""
    code, out, err = cli(capsys, "cache", "prune", "square", "--task", "cube", "--max-size", "1")
    assert code == 2 and "two tasks named" in err
