"""The HTML run report: what it shows, that it stays small, that it loads nothing, and
how it looks in a real browser (headless Chromium over the DevTools protocol)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, chromium

import flytelite as fl

REPO = Path(__file__).resolve().parent.parent
env = fl.TaskEnvironment("html")
calls: list[int] = []


@env.task(cache=True, cache_version="1")
async def fetch(i: int) -> int:
    await asyncio.sleep(0.01 * (i % 3))
    return i * i


@env.task(cache=True, cache_version="1", retries=1)
async def fragile(i: int) -> int:
    calls.append(i)
    if calls.count(i) == 1:
        raise ConnectionError("first attempt fails")
    return i


@env.task
async def broken() -> int:
    raise ValueError("broken on purpose")


@env.task
def sync_sum(xs: list[int]) -> int:
    return sum(fl.map(fetch, xs))


@env.task(cache=True, cache_version="1")
def square(x: int) -> int:
    return x * x


@env.task(cache=True, cache_version="1")
def total(xs: list[int]) -> int:
    return sum(xs)


@env.dynamic(cache=True, cache_version="1")
def squares(n: int) -> int:
    return total([square(i) for i in range(n)])


@env.task
async def pipeline(n: int) -> int:
    values = await asyncio.gather(*(fetch.aio(i) for i in range(n)))
    await fragile.aio(n)
    try:
        await broken.aio()
    except ValueError:
        pass
    return sum(values) + await sync_sum.aio(list(range(n + 2))) + await squares.aio(n)


def test_the_page_shows_the_run(tmp_path: Path) -> None:
    calls.clear()
    fl.run(fetch, 0, progress=False)  # a hit in the run below
    run = fl.run(pipeline, 4, progress=False)
    page = run.report.to_html()
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "html.pipeline" in text and "SUCCEEDED".lower() in text.lower()
    assert run.run_id in text and run.cache_url in text
    assert f"{len(run.report)} calls" in " ".join(text.split())
    # one bar per call, each with its details on hover
    tips = [html.unescape(t) for t in re.findall(r'class="fl-bar"[^>]*data-tip="([^"]*)"', page)]
    assert len(tips) == len(run.report)
    (failed,) = [t for t in tips if t.startswith("html.broken")]
    assert "failed" in failed and "ValueError: broken on purpose" in failed
    (retried,) = [t for t in tips if t.startswith("html.fragile")]
    assert "attempts 2" in retried and "miss: no entry" in retried
    row = run.report.by_task("fragile")[0]
    assert row.key is not None and f"key {row.key[:12]}" in retried
    hit = next(t for t in tips if t.startswith("html.fetch") and "cache hit" in t)
    assert "attempts 0" in hit
    # the timeline nests calls under their caller: the map's calls under sync_sum
    labels = re.findall(r'<text class="fl-lane-label" x="(\d+)"[^>]*>([^<]*)</text>', page)
    indent = {name: int(x) for x, name in labels}
    assert (
        indent["pipeline"]
        < indent["sync_sum"]
        < max(int(x) for x, name in labels if name == "fetch")
    )
    # per-task table, misses by reason, the DAG
    assert re.search(r"html\.fetch</td><td[^>]*>10</td>", page)  # 4 gathered, 6 mapped
    assert "no entry" in text
    assert "squares: 5 nodes, 4 edges" in text
    assert page.count('class="fl-node"') == 5
    assert "Calls in flight" in text and "peak " in text
    # self-contained: nothing is loaded from anywhere
    assert not re.search(r"""(src|href)\s*=|@import|url\((?!#)""", page)
    path = tmp_path / "run.html"
    run.report.save_html(path)
    assert path.read_text(encoding="utf-8") == page


@env.task(cache=True, cache_version="1")
def unkeepable() -> object:
    return threading.Lock()  # cannot be pickled: a put failure


def test_time_saved_by_hits_comes_from_the_run_that_wrote_the_entries(tmp_path: Path) -> None:
    # The re-run executes nothing, so only the entries can say what the hits saved.
    saving = fl.TaskEnvironment("html_saved")

    @saving.task(cache=True, cache_version="1")
    async def slow(i: int) -> int:
        await asyncio.sleep(0.25)
        return i

    @saving.task
    async def fan() -> int:
        return sum(await asyncio.gather(*(slow(i) for i in range(3))))

    cache = str(tmp_path / "cache")
    first = fl.run(fan, cache_url=cache, progress=False)
    assert all(r.populated_in is None for r in first.report)  # nothing was a hit
    again = fl.run(fan, cache_url=cache, progress=False)
    hits = again.report.by_task("slow")
    assert [r.cache for r in hits] == [fl.CacheStatus.HIT] * 3
    assert all(r.populated_in is not None and 0.25 <= r.populated_in < 5 for r in hits)
    assert [d["populated_in"] for d in again.report.to_dicts()[1:]] == [
        r.populated_in for r in hits
    ]
    page = html.unescape(again.report.to_html())
    saved = re.search(r'<b class="fl-hit">≈ ([\d.]+) (ms|s)</b><span>saved by hits', page)
    assert saved is not None
    seconds = float(saved.group(1)) / (1000 if saved.group(2) == "ms" else 1)
    assert seconds >= 0.7  # three hits of 0.25 s calls, less the hits' own time


def test_store_failures_have_their_colour_and_figure() -> None:
    with pytest.warns(fl.CatalogWarning, match="could not be written"):
        run = fl.run(unkeepable, progress=False)
    page = run.report.to_html()
    assert run.report[0].cache is fl.CacheStatus.PUT_FAILURE
    assert "lookup / put failure" in page  # in the legend
    assert re.search(r'class="fl-bar"[^>]*fill="#e58a1f"', page)
    assert "store failures" in page


def test_ten_thousand_calls_stay_under_two_megabytes() -> None:
    many = fl.TaskEnvironment("html_many")

    @many.task
    async def tiny(i: int) -> int:
        return i

    @many.task
    async def fan(n: int) -> int:
        return sum([r async for r in fl.map.aio(tiny, range(n), concurrency=64)])

    run = fl.run(fan, 10_000, progress=False)
    assert len(run.report) == 10_001
    page = run.report.to_html()
    assert len(page.encode()) < 2_000_000, len(page)
    assert "10,001 calls: one lane per task under the same callers" in page
    counts = [int(n) for n in re.findall(r"(\d+) calls of html_many\.tiny", html.unescape(page))]
    assert sum(counts) == 10_000  # every call is in one merged bar
    compact = run.report._repr_html_()
    assert len(compact.encode()) < 300_000


def test_sparse_calls_of_many_tasks_merge_within_the_bound() -> None:
    """Calls one after another, alternating between 120 tasks: 50 calls per lane, too
    far apart to merge within a pixel; 6,000 bars would make a page of more than a
    megabyte. They merge within more pixels, into at most 3,000 bars."""
    sparse = fl.TaskEnvironment("html_sparse")
    steps = [sparse.task(_step(i)) for i in range(120)]

    @sparse.task
    async def sequence(n: int) -> int:
        for i in range(n):
            await steps[i % len(steps)].aio(i)
        return n

    run = fl.run(sequence, 6_000, progress=False)
    page = run.report.to_html()
    # How many bars merge depends on how far apart the calls ran (a loaded machine
    # spreads them); the bound is on bars, and keeps the page well under 2 MB.
    assert len(page.encode()) < 1_000_000, len(page)
    tips = [html.unescape(t) for t in re.findall(r'class="fl-bar"[^>]*data-tip="([^"]*)"', page)]
    assert 120 < len(tips) <= 3000
    covered = 0
    for tip in tips:
        many = re.match(r"(\d+) calls of html_sparse\.step", tip)
        covered += int(many.group(1)) if many else tip.startswith("html_sparse.step")
    assert covered == 6_000  # every call is in exactly one bar


def _step(i: int) -> Any:
    async def step(x: int) -> int:
        return x

    step.__name__ = step.__qualname__ = f"step{i}"
    return step


def test_a_large_dag_is_drawn_one_box_per_task_and_level() -> None:
    run = fl.run(squares, 200, progress=False)
    page = run.report.to_html()
    assert "squares: 201 nodes, 200 edges (one box per task on each level)" in page
    assert page.count('class="fl-node"') == 2
    assert "square \u00d7200" in page


def test_notebook_display_is_compact_and_has_no_script() -> None:
    run = fl.run(pipeline, 2, progress=False)
    for shown in (run._repr_html_(), run.report._repr_html_()):
        assert "<script" not in shown and "<table" in shown and "<svg" in shown
        assert "html.pipeline" in shown and "misses by reason" in shown
        assert shown.startswith('<div class="fl-report">')
    assert "outputs <code>" in run._repr_html_()
    assert "<title>html.broken" in run._repr_html_()  # hover details as SVG titles
    assert fl.Report()._repr_html_().count("No calls") == 1
    with pytest.raises(fl.TaskFailedError) as failed:
        fl.run(broken, progress=False)
    assert "failed: ValueError: broken on purpose" in failed.value.report._repr_html_()


def test_to_dicts_has_start_times_and_parents() -> None:
    run = fl.run(pipeline, 2, progress=False)
    dicts = run.report.to_dicts()
    assert "parent" not in dicts[0]
    assert all(d["parent"] < i for i, d in enumerate(dicts) if "parent" in d)
    assert all(isinstance(d["started"], float) for d in dicts)
    workflow = next(d for d in dicts if d["task"] == "html.squares")
    assert workflow["edges"] == [["n0", "n2"], ["n1", "n2"]]
    json.dumps(dicts)


FLOW = textwrap.dedent(
    """
    import flytelite as fl

    env = fl.TaskEnvironment("cli_html")

    @env.task(cache=True, cache_version="1")
    def double(x: int) -> int:
        return 2 * x

    @env.task
    def main(x: int) -> int:
        return double(x) + double(x + 1)

    @env.task
    def fails(x: int) -> int:
        raise RuntimeError(f"no {x}")
    """
)


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "flytelite", *args],
        env={**os.environ, "FLYTELITE_CACHE_URL": str(cache), "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_report_html(tmp_path: Path, cache_dir: Path) -> None:
    flow = tmp_path / "flow.py"
    flow.write_text(FLOW)
    out = tmp_path / "run.html"
    result = _cli("run", str(flow), "main", "--x", "3", "--report-html", str(out), cache=cache_dir)
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "cli_html.main" in page
    assert page.count('class="fl-bar"') == 3
    failed = tmp_path / "failed.html"
    result = _cli(
        "run", str(flow), "fails", "--x", "1", "--report-html", str(failed), cache=cache_dir
    )
    assert result.returncode == 1
    assert re.search(r'class="fl-error">failed: RuntimeError: no 1<', failed.read_text())
    missing = tmp_path / "nope" / "run.html"
    result = _cli(
        "run", str(flow), "main", "--x", "3", "--report-html", str(missing), cache=cache_dir
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --report-html {missing}: no folder '{missing.parent}'; create it first\n"
    )


# -- in a real browser ------------------------------------------------------------------------


def test_the_report_in_headless_chromium(tmp_path: Path) -> None:
    chromium()  # fails, saying how to install it, where there is none
    calls.clear()
    fl.run(fetch, 1, progress=False)
    run = fl.run(pipeline, 6, progress=False)
    path = tmp_path / "run.html"
    run.report.save_html(path)
    with Browser() as browser:
        page = browser.open(path)
        assert page.evaluate("document.querySelectorAll('.fl-bar').length") == len(run.report)
        assert page.evaluate("document.querySelectorAll('.fl-node').length") == 7
        # hovering a bar shows its details
        box = page.evaluate(
            "(() => { const b = [...document.querySelectorAll('.fl-bar')]"
            ".find(b => b.dataset.tip.startsWith('html.fragile'));"
            " b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        page.move_mouse(*box)
        assert page.evaluate("document.getElementById('fl-tip').hidden") is False
        tip = page.evaluate("document.getElementById('fl-tip').textContent")
        assert tip.startswith("html.fragile") and "attempts 2" in tip
        page.move_mouse(2, 2)
        assert page.evaluate("document.getElementById('fl-tip').hidden") is True
        shot = tmp_path / "report.png"
        page.screenshot(shot)
        assert page.console_errors == []
        assert page.requests == [path.resolve().as_uri()]  # the file itself, nothing else
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    print(f"screenshot: {shot}")


def test_the_browser_check_sees_errors_and_requests(tmp_path: Path) -> None:
    """The harness itself: a page with a console error and a request is caught."""
    chromium()
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('boom'); undefinedName();</script></body></html>"
    )
    with Browser() as browser:
        page = browser.open(bad)
    assert any("boom" in e for e in page.console_errors)
    assert any("undefinedName" in e for e in page.console_errors)
    assert "http://127.0.0.1:9/x.png" in page.requests


def test_the_report_example(tmp_path: Path, cache_dir: Path) -> None:
    """examples/report.py (the docs' screenshot is of its report): a pipeline run twice,
    the second run mostly cache hits."""
    out = tmp_path / "report.html"
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "report.py"), str(out)],
        env={**os.environ, "FLYTELITE_CACHE_URL": str(cache_dir), "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"report: {out}"
    page = html.unescape(out.read_text())
    assert "report_example.pipeline" in page and "features: 13 nodes, 12 edges" in page
    download = re.search(r"report_example\.download</td><td[^>]*>(\d+)</td><td[^>]*>(\d+)", page)
    assert download is not None and download.groups() == ("12", "10")  # 2 new shards
