"""The Flyte 2 surface: Flyte 2 programs (tests/flyte_programs/) run unchanged on flytelite.

In-process under `flytelite.compat.installed()`, and from a shell with
`flytelite run --flyte` and `python -m flytelite.compat`. Where the real
`flyte` package is installed, its local runner runs the same programs in a
subprocess (never in this process) and the outputs must be the same.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from programs import load_file

import flytelite as fl
from flytelite import compat
from flytelite.compat.flyte._notice import reset_notices

PROGRAMS = Path(__file__).resolve().parent / "flyte_programs"
DOCS = ["The quick brown fox. A hen.", "Jumps over the lazy dog!"]


def plain(value: Any) -> Any:
    """A JSON-ready form that keeps types apart (1 from 1.0, a tuple from a list)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"class": type(value).__name__, **fields}
    if isinstance(value, tuple):
        return {"tuple": [plain(v) for v in value]}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {repr(k): plain(v) for k, v in value.items()}}
    if isinstance(value, float):
        return {"float": repr(value)}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return {"repr": repr(value)}


def outcome(run: Any, task: Any, args: list[Any]) -> Any:
    """What a run of `task(*args)` gave, in `plain` form: its outputs, or what it raised."""
    try:
        return plain(tuple(run(task, *args).outputs()))
    except Exception as e:
        return {"raised": type(e).__name__, "code": getattr(e, "code", None), "message": str(e)}


CASES = {
    "wordstats.main": ("wordstats", "main", [DOCS, 3]),
    "failures.recover": ("failures", "recover", [3]),
    "failures.explode": ("failures", "explode", [4]),
    "files.main": ("files", "main", ["hello files", False]),
}

SUMMARY = (
    "Summary(stats=[Stats(words=6, longest='quick'), Stats(words=5, longest='jumps')], "
    "weighted=[18, 15], sentences=3, characters=52, longest='quick')"
)
EXPECTED = {
    "wordstats.main": lambda m: plain(
        (m.Summary([m.Stats(6, "quick"), m.Stats(5, "jumps")], [18, 15], 3, 52, "quick"),)
    ),
    "failures.explode": lambda m: {
        "raised": "RuntimeUserError",
        "code": "ZeroDivisionError",
        "message": "division by zero",
    },
    "files.main": lambda m: plain(
        ([11, {"part-0.txt": 1, "part-1.txt": 2, "part-2.txt": 3}, 6, "note.txt"],)
    ),
}

REAL_RUNNER = """
import importlib.util, json, sys, tempfile, pathlib
try:
    import flyte
    from flyte._persistence._db import LocalDB
except ImportError:
    print("NO FLYTE")
    raise SystemExit(0)
{helpers}
folder = pathlib.Path(tempfile.mkdtemp())
LocalDB._get_cache_dir = staticmethod(lambda: folder / "cache")
flyte.init()
cases = json.loads(sys.argv[2])
spec = importlib.util.spec_from_file_location("program", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

def run(task, *args):
    runner = flyte.with_runcontext(mode="local", raw_data_path=str(folder / "raw"))
    runner._metadata_path = str(folder / "metadata")
    return runner.run(task, *args)

results = {{case: outcome(run, getattr(module, task), args) for case, task, args in cases}}
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def flyte_local_runner() -> dict[str, Any]:
    """Outcomes of `CASES` under the real Flyte 2 local runner (one subprocess per program,
    all at once); empty when `flyte` is not installed."""
    helpers = textwrap.dedent(inspect.getsource(plain)) + textwrap.dedent(
        inspect.getsource(outcome)
    )
    by_program: dict[str, list[tuple[str, str, list[Any]]]] = {}
    for case, (program, task, args) in CASES.items():
        by_program.setdefault(program, []).append((case, task, args))
    code = "from typing import Any\nimport dataclasses\n" + REAL_RUNNER.format(helpers=helpers)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(PROGRAMS / f"{program}.py"), json.dumps(cases)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        for program, cases in by_program.items()
    ]
    installed = importlib.util.find_spec("flyte") is not None
    results: dict[str, Any] = {}
    for process in processes:
        out, err = process.communicate(timeout=100)
        if "NO FLYTE" in out:
            assert not installed, err[-3000:]
            return {}
        lines = [line for line in out.splitlines() if line.startswith("RESULTS ")]
        assert lines, f"the Flyte 2 runner printed no results:\n{out[-2000:]}\n{err[-3000:]}"
        results.update(json.loads(lines[-1][len("RESULTS ") :]))
    return results


@pytest.fixture
def flyte(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """The surface, installed for this test only; runs keep their reports under tmp_path."""
    monkeypatch.setenv("FLYTELITE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FLYTELITE_PROGRESS", "0")
    monkeypatch.delenv("RUNTIME_LOG", raising=False)
    assert not compat.is_installed()
    with compat.installed() as surface:
        yield surface
    assert not compat.is_installed()
    assert sys.modules.get("flyte") is not surface


def load(program: str) -> ModuleType:
    """A fresh copy of a program of tests/flyte_programs/ (its module state starts anew)."""
    return load_file(PROGRAMS / f"{program}.py")


def local_run(flyte: ModuleType) -> Any:
    return flyte.with_runcontext(mode="local").run


def report_of(run: Any) -> dict[str, Any]:
    assert run.url.startswith("file://")
    data: dict[str, Any] = json.loads(Path(run.url[len("file://") :]).read_text())
    return data


def flytelite_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flytelite", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FLYTELITE_PROGRESS": "0", **env},
    )


# -- importing ---------------------------------------------------------------------------


def test_install_routes_flyte_imports_and_uninstall_undoes_it() -> None:
    assert not compat.is_installed()
    before = {n: m for n, m in sys.modules.items() if n == "flyte" or n.startswith("flyte.")}
    with compat.installed() as surface:
        import flyte
        import flyte.durable
        import flyte.errors
        import flyte.io
        from flyte import Cache

        assert flyte is surface is compat.flyte  # type: ignore[attr-defined]
        assert Cache is compat.flyte.Cache  # type: ignore[attr-defined]
        assert flyte.errors.RuntimeUserError.__module__ == "flytelite.compat.flyte.errors"
        assert sys.modules["flyte.io"] is flyte.io and flyte.io.File.__name__ == "File"
        with pytest.raises(ModuleNotFoundError, match=r"'flyte\.remote'.*surface") as caught:
            import flyte.remote
        assert caught.value.name == "flyte.remote"
    after = {n: m for n, m in sys.modules.items() if n == "flyte" or n.startswith("flyte.")}
    assert after == before
    spec = importlib.util.find_spec("flyte")
    assert spec is None or "flytelite" not in str(spec.origin)


def test_install_sets_aside_an_imported_flyte_says_so_once_and_puts_it_back() -> None:
    script = textwrap.dedent(
        """
        import sys
        try:
            import flyte
        except ImportError:
            print("NO FLYTE"); raise SystemExit(0)
        import flyte.errors
        real, hook = flyte, sys.excepthook
        import flytelite.compat as compat
        compat.install(); compat.install()
        import flyte as surface
        assert surface is not real and surface.__name__ == "flytelite.compat.flyte", surface
        assert sys.modules["flyte.errors"] is surface.errors
        assert sys.excepthook is sys.__excepthook__
        compat.uninstall()
        assert sys.modules["flyte"] is real and sys.excepthook is hook
        compat.install()
        import flyte
        assert flyte is surface
        compat.uninstall()
        print("OK")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    if "NO FLYTE" in done.stdout:
        pytest.skip("the real flyte package is not installed")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"
    notices = [line for line in done.stderr.splitlines() if "Flyte 2 surface" in line]
    assert len(notices) == 1, done.stderr
    assert "the imported flyte" in notices[0] and "set aside" in notices[0]


# -- the same values as Flyte 2's local runner -----------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_match_flyte_2s_local_runner(
    case: str, flyte: ModuleType, flyte_local_runner: dict[str, Any]
) -> None:
    program, task, args = CASES[case]
    module = load(program)
    flyte.init()
    got = outcome(local_run(flyte), getattr(module, task), args)
    if case in EXPECTED:
        assert got == EXPECTED[case](module)
    if flyte_local_runner:
        real = flyte_local_runner[case]
        if case == "files.main":  # Flyte 2 lists a folder in the file system's order
            sizes = real["tuple"][0][1]["dict"]
            real["tuple"][0][1]["dict"] = dict(sorted(sizes.items()))
        assert got == real


def test_recovering_parent_sees_codes_and_the_original_is_chained(flyte: ModuleType) -> None:
    module = load("failures")
    run = flyte.run(module.recover, 3)
    (seen,) = run.outputs()
    assert seen[:4] == [
        "RuntimeUserError code=ZeroDivisionError message=division by zero",
        "RuntimeUserError code=KeyError message='missing'",
        "RuntimeUserError code=NonRecoverableError message=input 3 can never work",
        "RuntimeUserError code=QuotaExceeded message=over quota by 3",
    ]
    assert seen[4:] == [
        "flaky gave 30",
        "[1.5, 'RuntimeUserError code=ZeroDivisionError message=division by zero', 0.75]",
        "3 attempts",  # NonRecoverableError skipped the retries; flaky needed one
    ]
    with pytest.raises(flyte.errors.RuntimeUserError) as caught:
        flyte.run(module.explode, 4)
    error = caught.value
    assert (error.code, str(error)) == ("ZeroDivisionError", "division by zero")
    assert isinstance(error.__cause__, ZeroDivisionError)
    reports = Path(os.environ["FLYTELITE_RUNS_DIR"]).rglob("report.json")
    failed = [
        r for r in map(json.loads, (p.read_text() for p in reports)) if r["status"] != "SUCCEEDED"
    ]
    assert [r["error"] for r in failed] == ["failures.divide: ZeroDivisionError: division by zero"]
    assert [c["status"] for c in failed[0]["calls"]] == ["failed", "failed"]


# -- ordinary flytelite tasks ------------------------------------------------------------


def test_surface_tasks_are_flytelite_tasks_run_and_cached_by_flytelite_run(
    flyte: ModuleType,
) -> None:
    module = load("wordstats")
    assert isinstance(module.main, fl.Task) and module.main.name == "wordstats.main"
    first = fl.run(module.main, DOCS, factor=3)
    again = fl.run(module.main, DOCS, factor=3)
    assert first.outputs == again.outputs
    assert {r.cache for r in first.report.by_task("tokenize")} == {fl.CacheStatus.POPULATED}
    assert {r.cache for r in again.report.by_task("tokenize")} == {fl.CacheStatus.HIT}
    assert {r.cache for r in again.report.by_task("stats")} == {fl.CacheStatus.HIT}
    assert first.outputs.weighted == [18, 15]


def test_groups_and_actions_are_in_the_run_report(flyte: ModuleType) -> None:
    module = load("wordstats")
    run = local_run(flyte)(module.main, DOCS, 3)
    report = report_of(run)
    assert report["status"] == "SUCCEEDED" and report["root"] == "wordstats.main"
    groups = {(c["task"], c.get("group")) for c in report["calls"]}
    assert ("wordstats.tokenize", "tokenize") in groups
    assert ("wordstats-heavy.stats", "wordstats-heavy.stats_map") in groups
    assert ("wordstats.scale", "wordstats.scale_map") in groups
    parents = {c["action"]: c.get("parent") for c in report["calls"]}
    weighted = next(c["action"] for c in report["calls"] if c["task"] == "wordstats.weighted")
    scales = [c for c in report["calls"] if c["task"] == "wordstats.scale"]
    assert scales and all(parents[c["action"]] == weighted for c in scales)
    assert report["actions"][0]["action"] == "a0"


# -- better than Flyte 2's local runner -------------------------------------------------


def test_map_runs_concurrently_honouring_concurrency(flyte: ModuleType) -> None:
    module = load("runtime")
    started = time.perf_counter()
    squares, peak = local_run(flyte)(module.fan_out, 6, 2).outputs()
    bounded = time.perf_counter() - started
    assert squares == [0, 1, 4, 9, 16, 25]
    assert peak == 2
    assert bounded < 6 * 0.15  # one after another would take 0.9 s or more
    _, peak = local_run(flyte)(module.fan_out, 6, 0).outputs()
    assert peak == 6


def test_timeout_and_deadline_are_enforced(flyte: ModuleType) -> None:
    module = load("runtime")
    started = time.perf_counter()
    (seen,) = local_run(flyte)(module.guarded, 5.0).outputs()
    assert seen == [
        "MaxRuntimeExceededError code=MaxRuntimeExceededError",
        "DeadlineExceededError code=DeadlineExceededError",
    ]
    assert time.perf_counter() - started < 3.0


def test_serialize_makes_concurrent_override_calls_execute_once(
    flyte: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    monkeypatch.setenv("RUNTIME_LOG", str(log))
    module = load("runtime")

    def two_runs_at_once(task: Any) -> list[Any]:
        outputs: list[Any] = []
        barrier = threading.Barrier(2)

        def one() -> None:
            barrier.wait()
            outputs.append(flyte.run(task, "docs").outputs())

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        return outputs

    assert two_runs_at_once(module.build_index) == [("index of docs",)] * 2
    assert log.read_text().splitlines() == ["build_index docs"]
    # Without serialize, "override" executes every time, as in Flyte 2.
    assert two_runs_at_once(module.build_unserialized) == [("index of docs",)] * 2
    assert log.read_text().splitlines().count("build_unserialized docs") == 2


def test_cache_persists_across_runs_and_run_context_switches(
    flyte: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    monkeypatch.setenv("RUNTIME_LOG", str(log))

    def executions() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    module = load("runtime")
    assert flyte.run(module.cached_sum, 4).outputs() == (18,)
    assert executions() == 4
    second = flyte.run(module.cached_sum, 4)
    assert second.outputs() == (18,) and executions() == 4
    assert {c["cache"] for c in report_of(second)["calls"][1:]} == {"HIT"}
    load("runtime")  # the same program loaded afresh, as a new process would: still cached
    assert flyte.run(load("runtime").cached_sum, 4).outputs() == (18,) and executions() == 4
    overwritten = flyte.with_runcontext(overwrite_cache=True).run(module.cached_sum, 4)
    assert executions() == 8
    assert {c["cache"] for c in report_of(overwritten)["calls"][1:]} == {"POPULATED"}
    bypassed = flyte.with_runcontext(disable_run_cache=True).run(module.cached_sum, 4)
    assert executions() == 12
    assert {c["cache"] for c in report_of(bypassed)["calls"][1:]} == {"DISABLED"}
    assert flyte.run(module.cached_sum, 4).outputs() == (18,) and executions() == 12


# -- traces, durable, context, reports, logs --------------------------------------------


def test_traces_replay_when_a_task_retries(
    flyte: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load("traces")
    run = flyte.run(module.crawl, ["a", "bb"])
    (result,) = run.outputs()
    # Two fetches and two measures: the retry replayed them instead of running them again,
    # and flyte.durable.time() gave the retry the first attempt's time.
    assert result == {"sizes": [3, 4], "calls": 4, "same_start": True}
    assert module.calls == ["a", "bb", "measure <a>", "measure <bb>"]
    report = report_of(run)
    traces = [a for a in report["actions"] if a["kind"] == "trace"]
    assert {t["parent"] for t in traces} == {"a0"}
    assert [t["status"] for t in traces].count("replayed") == 5  # 2 fetch, 2 measure, 1 time
    html = Path(report["actions"][0]["report"]).read_text()
    assert "<p>2 pages</p>" in html
    assert capsys.readouterr().err.count("crawled 2 pages") == 2  # one line per attempt
    assert module.fetch.__name__ == "fetch"  # traced functions keep their names
    assert flyte.durable.time() <= time.time()  # outside a task: the plain function


def test_ctx_groups_and_custom_context(flyte: ModuleType) -> None:
    module = load("traces")
    (result,) = flyte.run(module.context_root).outputs()
    inside, outside, in_task, root_action = result
    assert inside == {
        "tag": "inside",
        "mode": "local",
        "group": "inner",
        "team": "data",
        "same_run": True,
    }
    assert outside == {**inside, "tag": "outside", "group": None, "team": None}
    assert (in_task, root_action) == (True, "a0")
    assert not flyte.ctx() and flyte.ctx().action is None  # outside a task


# -- files, folders, dataframes --------------------------------------------------------


def test_files_folders_and_dataframes_are_keyed_by_content(
    flyte: ModuleType, tmp_path: Path
) -> None:
    module = load("files")
    (result,) = flyte.run(module.main, "hello files").outputs()
    assert result == [11, {"part-0.txt": 1, "part-1.txt": 2, "part-2.txt": 3}, 6, "note.txt"]
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("same bytes")
    two.write_text("same bytes")
    File = flyte.io.File
    assert flyte.run(module.count_bytes, File(path=str(one))).outputs() == (10,)
    hit = flyte.run(module.count_bytes, File(path=str(two)))  # another path, same content
    assert report_of(hit)["calls"][0]["cache"] == "HIT"
    two.write_text("other bytes!")
    miss = flyte.run(module.count_bytes, File(path=str(two)))
    assert miss.outputs() == (12,) and report_of(miss)["calls"][0]["cache"] == "POPULATED"
    keyed = File.from_existing_remote(str(one), file_cache_key="v1")
    assert flyte.run(module.count_bytes, keyed).outputs() == (10,)
    one.write_text("changed, but the key says v1")
    assert flyte.run(module.count_bytes, keyed).outputs() == (10,)  # keyed by the given hash
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    Dir = flyte.io.Dir
    assert flyte.run(module.folder_sizes, Dir(path=str(folder))).outputs() == ({"a.txt": 1},)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "a.txt").write_text("a")
    assert (
        report_of(flyte.run(module.folder_sizes, Dir(path=str(copy))))["calls"][0]["cache"] == "HIT"
    )
    executed = len(module.executions)
    (copy / "b.txt").write_text("b")
    assert flyte.run(module.folder_sizes, Dir(path=str(copy))).outputs() == (
        {"a.txt": 1, "b.txt": 1},
    )
    assert len(module.executions) == executed + 1


# -- options: accepted, ignored, refused -------------------------------------------------


def test_ignored_options_are_recorded_and_said_once(
    flyte: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    reset_notices()
    kwargs = {"resources": flyte.Resources(cpu=2), "secrets": [flyte.Secret(key="token")]}
    first = flyte.TaskEnvironment("opts", **kwargs)
    flyte.TaskEnvironment("opts2", **kwargs)
    err = capsys.readouterr().err
    assert err.count("TaskEnvironment(resources=...)") == 1
    assert err.count("TaskEnvironment(secrets=...)") == 1

    @first.task(cache="auto", retries=2, timeout=30)
    async def double(x: int) -> int:
        return 2 * x

    assert double.resources == flyte.Resources(cpu=2) and double.retries == 2
    assert double.timeout == 30.0 and double.cache is not None
    quiet = double.override(cache="disable", retries=1)
    assert quiet.name == double.name and quiet.cache is None and quiet.retries == 1
    with pytest.raises(ValueError, match="Name cannot be overridden"):
        double.override(name="other")
    clone = first.clone_with("opts3", cache="auto")
    assert clone.name == "opts3" and clone.resources == flyte.Resources(cpu=2)
    with pytest.raises(ValueError, match="snake_case or kebab-case"):
        flyte.TaskEnvironment("Not A Name")


def test_what_cannot_be_honoured_raises_clearly(flyte: ModuleType) -> None:
    env = flyte.TaskEnvironment("refusals")
    with pytest.raises(compat.UnsupportedFeatureError, match=r"flyte\.deploy"):
        flyte.deploy(env)
    with pytest.raises(compat.UnsupportedFeatureError, match="dry_run"):
        flyte.with_runcontext(dry_run=True)
    with pytest.raises(AttributeError, match="not part of flytelite's Flyte 2 surface"):
        _ = flyte.no_such_thing

    @env.task
    def square(x: int) -> int:
        return x * x

    @env.task
    async def blocking_map(n: int) -> list[int]:
        return list(flyte.map(square, range(n)))

    @env.task
    async def blocking_call(n: int) -> str:
        try:
            square(n)
        except flyte.errors.SyncTaskCallInAsyncContextError as e:
            return e.code
        return "no error"

    with pytest.raises(fl.TaskFailedError) as caught:  # a misuse of the API: flytelite's error
        flyte.run(blocking_map, 3)
    assert isinstance(caught.value.__cause__, fl.RunContextError)
    assert "flyte.map.aio" in str(caught.value.__cause__)
    assert flyte.run(blocking_call, 3).outputs() == ("SyncTaskCallInAsyncContextError",)


# -- from a shell -----------------------------------------------------------------------


def test_flytelite_run_flyte_and_python_m_flytelite_compat(cache_dir: Path, tmp_path: Path) -> None:
    env = {"FLYTELITE_CACHE_URL": str(cache_dir), "FLYTELITE_RUNS_DIR": str(tmp_path / "runs")}
    ok = flytelite_cli(
        "run",
        "--flyte",
        str(PROGRAMS / "wordstats.py"),
        "main",
        "--docs",
        json.dumps(DOCS),
        "--factor",
        "3",
        env=env,
    )
    failing = flytelite_cli(
        "run", "--flyte", str(PROGRAMS / "failures.py"), "explode", "--x", "4", env=env
    )
    script = subprocess.Popen(
        [sys.executable, "-m", "flytelite.compat", str(PROGRAMS / "wordstats.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FLYTELITE_PROGRESS": "0", **env},
    )
    out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0, err
    assert out.strip() == SUMMARY
    assert "wordstats.tokenize" in err  # the report, on stderr
    out, err = failing.communicate(timeout=60)
    assert failing.returncode == 1
    assert "ZeroDivisionError: division by zero" in err and "failures.explode" in err
    out, err = script.communicate(timeout=60)
    assert script.returncode == 0, err
    assert out.strip().startswith("Summary(stats=[Stats(words=4, longest='quick')")


def test_outside_a_run_tasks_are_functions_and_run_aio_works_in_a_loop(
    flyte: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import functools
    import logging

    module = load("wordstats")
    assert asyncio.run(module.tokenize("A b, c!")) == ["a", "b", "c"]
    assert module.scale(2, 3) == 6
    assert list(flyte.map(functools.partial(module.scale, factor=2), [1, 2])) == [2, 4]
    image = flyte.Image.from_debian_base().with_pip_packages("x").with_apt_packages("y")
    assert [step[0] for step in image.steps] == ["with_pip_packages", "with_apt_packages"]
    assert module.stats.image == module.heavy.image and module.stats.resources.cpu == 2
    logging.getLogger("flyte.user.etl").info("from a child logger")
    logging.getLogger("flyte.user.etl").debug("not shown")
    err = capsys.readouterr().err
    assert "from a child logger" in err and "not shown" not in err
    run = asyncio.run(flyte.run.aio(module.main, DOCS, 3))
    assert repr(run.outputs()[0]) == SUMMARY
    assert run.wait() is None and run.done() and run.phase == "SUCCEEDED"
    assert run.outputs.aio is not None and run.name in run.url


def test_an_input_named_like_a_run_option_reaches_the_task(flyte: ModuleType) -> None:
    env = flyte.TaskEnvironment("option_inputs")

    @env.task
    async def step(progress: float, executor: str = "me") -> str:
        return f"{progress}-{executor}"

    assert local_run(flyte)(step, progress=0.5, executor="you").outputs()[0] == "0.5-you"
