"""Live progress on stderr, the report table, `--report-json`, and the testing helpers."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import flytelite as fl
from flytelite import _progress
from flytelite.testing import MemoryCatalog, assert_statuses, run_isolated, statuses

SCRIPT = textwrap.dedent(
    """
    import asyncio, os
    import flytelite as fl

    env = fl.TaskEnvironment("progress_demo")

    @env.task(cache=True)
    async def step(i: int) -> int:
        await asyncio.sleep(0.3)
        return i

    @env.task
    async def root(n: int) -> int:
        return sum(await asyncio.gather(*(step(i) for i in range(n))))

    if __name__ == "__main__":
        print(fl.run(root, 30).outputs)
    """
)


def test_a_terminal_gets_a_live_rich_view_on_stderr(tmp_path: Path) -> None:
    script = tmp_path / "demo.py"
    script.write_text(SCRIPT)
    controller, terminal = pty.openpty()
    env = {**os.environ, "FLYTELITE_CACHE_URL": str(tmp_path / "cache"), "COLUMNS": "100"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=terminal, env=env
    )
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=30)
    os.close(controller)
    assert proc.returncode == 0
    assert out == b"435\n"  # stdout keeps only what the program prints
    text = seen.decode(errors="replace")
    assert "\x1b[" in text  # a live view, drawn with escape codes
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "progress_demo.step" in plain and "cached" in plain
    assert "31/31 calls" in plain
    assert "misses by reason: no entry for this task yet (30)" in plain


def test_pipes_get_plain_lines_without_escape_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_progress, "PLAIN_EVERY_S", 0.5)
    env = fl.TaskEnvironment("progress_plain")

    @env.task
    async def slow() -> int:
        import asyncio

        await asyncio.sleep(1.6)
        return 1

    run = fl.run(slow)
    out, err = capsys.readouterr()
    assert out == "" and run.outputs == 1
    lines = err.splitlines()
    assert lines and all(line.startswith("flytelite: ") for line in lines)
    assert "\x1b" not in err
    assert "0/1 calls done, 1 running" in lines[0]
    assert "finished after" in lines[-1] and "1/1 calls done" in lines[-1]


def test_quick_runs_print_nothing_and_progress_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_progress, "PLAIN_EVERY_S", 0.0)
    env = fl.TaskEnvironment("progress_off")

    @env.task
    async def slow() -> int:
        import asyncio

        await asyncio.sleep(1.2)
        return 1

    fl.run(slow, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("FLYTELITE_PROGRESS", "0")
    fl.run(slow)
    assert capsys.readouterr().err == ""


def test_cache_warnings_are_summarised_at_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = fl.TaskEnvironment("progress_warn")

    @env.task(cache=True)
    def work(i: int) -> int:
        return i

    @env.task
    async def root() -> None:
        for i in range(3):
            await work.aio(i)

    with pytest.warns(fl.CatalogWarning):
        fl.run(root, cache_url=str(blocker / "cache"))
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "flytelite: cache warnings: 3 outputs not written"


def test_the_report_table_counts_hits_misses_failures_and_durations() -> None:
    env = fl.TaskEnvironment("report_table")

    @env.task(cache=True)
    async def leaf(i: int) -> int:
        if i == 3:
            raise ValueError("three")
        return i

    @env.task
    async def root() -> list[object]:
        return [r async for r in fl.map.aio(leaf, [0, 1, 0, 3])]

    run = run_isolated(root)
    lines = str(run.report).splitlines()
    assert lines[0].split() == [
        "task",
        "calls",
        "hits",
        "misses",
        "failed",
        "total",
        "s",
        "p95",
        "s",
    ]
    leaf_row = next(line for line in lines if line.startswith("report_table.leaf"))
    assert leaf_row.split()[1:5] == ["4", "1", "3", "1"]  # the failed call missed too
    dicts = run.report.to_dicts()
    assert {d["task"] for d in dicts} == {"report_table.root", "report_table.leaf"}
    assert json.loads(json.dumps(dicts)) == dicts  # JSON-ready


def test_the_report_table_has_columns_for_lookup_and_put_failures(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = fl.TaskEnvironment("report_failures")

    @env.task(cache=True)
    def work(i: int) -> int:
        return i

    @env.task
    async def root() -> None:
        for i in range(2):
            await work.aio(i)

    with pytest.warns(fl.CatalogWarning):
        run = fl.run(root, cache_url=str(blocker / "cache"), progress=False)
    lines = str(run.report).splitlines()
    assert lines[0].split()[:6] == ["task", "calls", "hits", "misses", "put", "failures"]
    assert "lookup failures" not in lines[0]  # a column only for what happened
    row = next(line for line in lines if line.startswith("report_failures.work"))
    assert row.split()[1:6] == ["2", "0", "0", "2", "0"]  # put failures, not misses
    fine = str(run_isolated(root).report).splitlines()[0]
    assert "failures" not in fine


def test_report_json_from_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flytelite",
            "run",
            "examples/map.py",
            "main",
            "--pages",
            "3",
            "--report-json",
            str(path),
        ],
        env={**os.environ, "FLYTELITE_CACHE_URL": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(path.read_text())
    assert rows[0]["task"] == "map_example.main"
    assert {r["cache"] for r in rows if r["task"] == "map_example.fetch"} <= {"POPULATED", "HIT"}
    assert all("miss_reason" in r for r in rows if r["cache"] == "POPULATED")


def test_testing_helpers_isolate_and_assert() -> None:
    env = fl.TaskEnvironment("testing_helpers")

    @env.task(cache=True)
    def double(x: int) -> int:
        return 2 * x

    catalog = MemoryCatalog()
    first = run_isolated(double, 2, cache_url=catalog.url)
    second = run_isolated(double, 2, cache_url=catalog.url)
    assert_statuses(first, "double", fl.CacheStatus.POPULATED)
    assert_statuses(second, "testing_helpers.double", fl.CacheStatus.HIT)
    assert statuses(run_isolated(double, 2), "double") == [fl.CacheStatus.POPULATED]  # fresh
    with pytest.raises(
        AssertionError, match="expected statuses \\['HIT'\\], got \\['POPULATED'\\]"
    ):
        assert_statuses(first, "double", fl.CacheStatus.HIT)
    assert len(list(catalog.entries())) == 1
    catalog.clear()
    assert list(catalog.entries()) == []


def test_the_pytest_plugin_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import flytelite as fl
        from flytelite.testing import assert_statuses

        env = fl.TaskEnvironment("plugin_demo")

        @env.task(cache=True)
        def square(x: int) -> int:
            return x * x

        def test_hits(flytelite_run, flytelite_cache):
            assert flytelite_run(square, 3).outputs == 9
            run = flytelite_run(square, 3)
            assert_statuses(run, "square", fl.CacheStatus.HIT)
            assert run.cache_url == flytelite_cache

        def test_isolated(flytelite_run):
            assert_statuses(flytelite_run(square, 3), "square", fl.CacheStatus.POPULATED)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
