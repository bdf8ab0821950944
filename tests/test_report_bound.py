"""A very large run's report: rows kept up to a bound, per-task figures exact, failures kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import flytelite as fl

env = fl.TaskEnvironment("bounded")


@env.task(cache=True, cache_version="1")
async def item(i: int) -> int:
    if i % 50 == 49:
        raise ValueError(f"item {i} is bad")
    return i


@env.task
async def fan(n: int) -> list[int]:
    return [r async for r in fl.map.aio(item, range(n), concurrency=8) if isinstance(r, int)]


def table_row(report: fl.Report, task: str) -> list[str]:
    line = next(line for line in str(report).splitlines() if line.startswith(task))
    return line.split()


def test_rows_beyond_the_limit_are_counted_exactly_and_failures_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTELITE_REPORT_ROWS", "40")
    cache = str(tmp_path / "cache")
    fl.run(fan, 100, cache_url=cache, progress=False)  # the first 100 items: written
    run = fl.run(fan, 300, cache_url=cache, progress=False)
    report = run.report

    assert report.calls == 301  # the root and 300 items
    failed = [r for r in report if r.status == "failed"]
    assert sorted(int(r.error.split()[-3]) for r in failed if r.error) == list(range(49, 300, 50))
    assert len(report) == 40 + sum(1 for r in failed if report.index(r) >= 40)
    counts = report.counts()
    assert counts[fl.CacheStatus.HIT] == 98  # items 0-99 but the two failures (never written)
    assert counts[fl.CacheStatus.POPULATED] == 200 - 4
    # The table adds the counted calls to the kept rows.
    # calls, hits, misses (cached calls that executed: 2 re-run failures + 200 new), failed
    assert table_row(report, "bounded.item")[1:5] == ["300", "98", "202", "6"]
    assert sum(report.miss_reasons().values()) == 202
    assert re.fullmatch(r"<Report 301 calls, \d+ rows kept>", repr(report))
    page = report.to_html()
    # Every call counted in the summary; the ones without rows said, not drawn.
    assert ">301<" in page and f"the other {report.calls - len(report)} are counted" in page


def test_no_limit_keeps_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTELITE_REPORT_ROWS", "0")
    run = fl.run(fan, 120, cache_url=str(tmp_path), progress=False)
    assert len(run.report) == run.report.calls == 121
    assert run.report.folded == {}


def test_a_bad_row_limit_is_a_clear_error_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLYTELITE_REPORT_ROWS", "lots")
    with pytest.raises(ValueError, match=r"FLYTELITE_REPORT_ROWS='lots': give a whole number"):
        fl.run(fan, 3, progress=False)
