"""`flytelite run` from a real shell process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flytelite.cli import main

WORKFLOW = textwrap.dedent(
    """
    import flytelite as fl

    env = fl.TaskEnvironment("cli_flow")

    @env.task(cache=True, cache_version="1")
    def summarize(name: str, n: int, scale: float = 1.0, loud: bool = False,
                  tags: list[str] = [], extra: dict = {}) -> dict:
        text = name.upper() if loud else name
        return {"text": text, "total": n * scale, "tags": tags, "extra": extra}

    @env.task
    def explode(reason: str) -> None:
        raise ValueError(f"exploded: {reason}")

    if __name__ == "__main__":
        raise SystemExit("the CLI must not run the __main__ block")
    """
)


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.py"
    path.write_text(WORKFLOW)
    return path


REPO = Path(__file__).resolve().parent.parent


def flytelite(
    *args: str, cache: Path, warnings: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m flytelite ...` of this checkout (not whichever flytelite is installed)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "FLYTELITE_CACHE_URL": str(cache), "PYTHONPATH": path}
    options = ["-W", warnings] if warnings else []
    return subprocess.run(
        [sys.executable, *options, "-m", "flytelite", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_parses_options_from_the_signature(workflow: Path, cache_dir: Path) -> None:
    result = flytelite(
        "run",
        str(workflow),
        "summarize",
        "--name",
        "hello world",
        "--n",
        "3",
        "--scale",
        "-0.5",
        "--loud",
        "true",
        "--tags",
        '["a", "b"]',
        "--extra",
        '{"k": 1}',
        cache=cache_dir,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "text": "HELLO WORLD",
        "total": -1.5,
        "tags": ["a", "b"],
        "extra": {"k": 1},
    }
    assert "cli_flow.summarize" in result.stderr  # the report goes to stderr
    again = flytelite(
        "run", str(workflow), "cli_flow.summarize", "--name", "x", "--n", "1", cache=cache_dir
    )
    again2 = flytelite(
        "run", str(workflow), "summarize", "--name", "x", "--n", "1", cache=cache_dir
    )
    assert again.returncode == again2.returncode == 0
    assert json.loads(again2.stdout)["text"] == "x"
    row = next(line for line in again2.stderr.splitlines() if "cli_flow.summarize" in line)
    assert row.split()[1:4] == ["1", "1", "0"]  # one call, a hit: nothing executed


def test_the_console_script_is_installed(workflow: Path, cache_dir: Path) -> None:
    exe = Path(sys.executable).parent / "flytelite"
    if not exe.exists():
        pytest.fail(f"console script missing next to {sys.executable}")
    result = subprocess.run(
        [
            str(exe),
            "run",
            str(workflow),
            "summarize",
            "--name",
            "a",
            "--n",
            "2",
            "--cache-url",
            str(cache_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 2.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--n", "1"], "no task 'nope'"),
        (["summarize", "--name", "a"], "needs --n"),
        (["summarize", "--name", "a", "--n", "three"], "error: --n 'three': expected int\n"),
        (["summarize", "--name", "a", "--n", "1", "--bogus", "2"], "no parameter for --bogus"),
        (["summarize", "--name", "a", "--n", "1", "--loud", "maybe"], "true or false"),
        (["summarize", "--name", "a", "--n", "1", "--tags", "[oops"], "--tags"),
    ],
)
def test_usage_errors_are_one_clear_line(
    workflow: Path, cache_dir: Path, args: list[str], message: str
) -> None:
    result = flytelite("run", str(workflow), *args, cache=cache_dir)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_missing_file_is_a_usage_error(tmp_path: Path, cache_dir: Path) -> None:
    result = flytelite("run", str(tmp_path / "nope.py"), "t", cache=cache_dir)
    assert result.returncode == 2 and "no such file" in result.stderr


def test_a_failing_task_exits_1_naming_the_task(workflow: Path, cache_dir: Path) -> None:
    result = flytelite("run", str(workflow), "explode", "--reason", "boom", cache=cache_dir)
    assert result.returncode == 1
    assert "cli_flow.explode" in result.stderr and "exploded: boom" in result.stderr
    assert result.stdout == ""


def test_task_parameters_are_never_taken_for_abbreviated_options(
    tmp_path: Path, cache_dir: Path
) -> None:
    path = tmp_path / "abbrev.py"
    path.write_text(
        "import flytelite as fl\n"
        "env = fl.TaskEnvironment('abbrev')\n"
        "@env.task\n"
        "def f(n: int, no: str = 'x', report: int = 0) -> str:\n"
        "    return f'{n}{no}{report}'\n"
    )
    result = flytelite(
        "run", str(path), "f", "--n", "3", "--no", "y", "--report", "5", cache=cache_dir
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "3y5"


# -- every option is checked before any task runs -----------------------------------------

TYPED = textwrap.dedent(
    '''
    import dataclasses
    import enum
    from pathlib import Path
    from typing import Literal, Optional

    import numpy as np

    import flytelite as fl

    env = fl.TaskEnvironment("typed")
    MARKER = Path(__file__).with_name("ran")


    class Color(enum.Enum):
        red = "red"
        green = "green"


    @dataclasses.dataclass
    class Point:
        x: int
        y: float = 0.0


    @env.task
    def describe(
        tags: list[str],
        counts: dict[str, int] = {},
        limit: Optional[int] = None,
        color: Color = Color.red,
        mode: Literal["fast", "slow"] = "fast",
        point: Point = Point(0),
        pair: tuple[int, str] = (1, "a"),
    ) -> str:
        """Describe the inputs.

        Each on its own.
        """
        MARKER.write_text("ran")
        return repr((tags, counts, limit, color, mode, point, pair))


    @env.task
    def total(data: np.ndarray, scale: float = 1.0) -> float:
        MARKER.write_text("ran")
        return float(data.sum()) * scale
    '''
)


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    path = tmp_path / "typed.py"
    path.write_text(TYPED)
    return path


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_values_are_built_from_their_annotations(
    typed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        capsys,
        str(typed),
        "describe",
        "--tags",
        '["a", "b"]',
        "--counts",
        '{"a": 2}',
        "--limit",
        "3",
        "--color",
        "green",
        "--mode",
        "slow",
        "--point",
        '{"x": 1}',
        "--pair",
        '[2, "b"]',
    )
    assert code == 0, err
    assert json.loads(out) == (
        "(['a', 'b'], {'a': 2}, 3, <Color.green: 'green'>, 'slow', Point(x=1, y=0.0), (2, 'b'))"
    )
    code, out, err = run_main(capsys, str(typed), "describe", "--tags", "[]", "--limit", "null")
    assert code == 0, err
    assert json.loads(out).startswith("([], {}, None, <Color.red: 'red'>, 'fast'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--tags", '["a", 1]'],
            """--tags '["a", 1]': expected list[str]: [1] is 1 (int), not str""",
        ),
        (
            ["--tags", "a"],
            "--tags 'a': expected list[str] as JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        (
            ["--tags", "[]", "--counts", '{"a": "x"}'],
            """--counts '{"a": "x"}': expected dict[str, int]: ['a'] is 'x' (str), not int""",
        ),
        (["--tags", "[]", "--limit", "lots"], "--limit 'lots': expected int | None"),
        (["--tags", "[]", "--color", "blue"], "--color 'blue': expected Color: one of red, green"),
        (["--tags", "[]", "--mode", "medium"], "--mode 'medium': expected one of 'fast', 'slow'"),
        (
            ["--tags", "[]", "--point", '{"x": "one"}'],
            """--point '{"x": "one"}': expected Point: .x is 'one' (str), not int""",
        ),
        (
            ["--tags", "[]", "--point", '{"y": 1.5}'],
            """--point '{"y": 1.5}': expected Point: missing field 'x'""",
        ),
        (
            ["--tags", "[]", "--point", '{"x": 1, "z": 2}'],
            """--point '{"x": 1, "z": 2}': expected Point: no field 'z' (its fields: x, y)""",
        ),
        (
            ["--tags", "[]", "--pair", "[1]"],
            "--pair '[1]': expected tuple[int, str]: the list has 1 item, not 2",
        ),
    ],
)
def test_values_that_do_not_fit_the_annotation_are_usage_errors(
    typed: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, str(typed), "describe", *args)
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert not (typed.parent / "ran").exists()  # nothing ran


def test_a_parameter_that_text_cannot_build_is_a_usage_error(
    typed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = (
        "error: --data takes a numpy.ndarray, which the command line cannot build from text; "
        "call task 'typed.total' from Python with fl.run(...)\n"
    )
    for args in (["--data", "[1, 2]"], []):  # given, or required and missing
        code, out, err = run_main(capsys, str(typed), "total", *args)
        assert (code, out, err) == (2, "", expected)
    assert not (typed.parent / "ran").exists()


def test_report_json_into_a_missing_folder_is_refused_before_anything_runs(
    typed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "report.json"
    code, out, err = run_main(
        capsys, str(typed), "describe", "--tags", "[]", "--report-json", str(target)
    )
    assert code == 2 and out == ""
    assert err == f"error: --report-json {target}: no folder '{target.parent}'; create it first\n"
    code, _, err = run_main(
        capsys, str(typed), "describe", "--tags", "[]", "--report-json", str(tmp_path)
    )
    assert (
        code == 2
        and err == f"error: --report-json {tmp_path}: that is a folder; name a file in it\n"
    )
    assert not (typed.parent / "ran").exists()


def test_task_help_lists_parameters_types_defaults_and_the_docstring(
    typed: Path, cache_dir: Path
) -> None:
    result = flytelite("run", str(typed), "describe", "--help", cache=cache_dir)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    words = " ".join(text.split())
    assert words.startswith(f"usage: flytelite run {typed} describe --tags JSON [--counts JSON]")
    assert "Describe the inputs.\n\nEach on its own.\n\ntask typed.describe, not cached\n" in text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for line in [
        "--tags JSON list[str], as JSON; required",
        "--counts JSON dict[str, int], as JSON; default: {}",
        "--limit INT int | None (null for None); default: None",
        "--color {red,green} Color; default: red",
        "--mode {fast,slow} Literal['fast', 'slow']; default: 'fast'",
        "--point JSON Point, as JSON; default: Point(x=0, y=0.0)",
    ]:
        assert line in lines, text
    assert not (typed.parent / "ran").exists()
    other = flytelite("run", str(typed), "total", "-h", cache=cache_dir)
    assert other.returncode == 0
    assert (
        "--data JSON numpy.ndarray, which the command line cannot build: call the task from "
        in (" ".join(other.stdout.split()))
    )
    plain = flytelite("run", "--help", cache=cache_dir)  # before FILE TASK: the command's help
    assert plain.returncode == 0 and "flytelite run FILE TASK --help" in " ".join(
        plain.stdout.split()
    )


# -- cache URLs that cannot work ----------------------------------------------------------


def flytelite_without(package: str, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a process where `package` cannot be imported (as if not installed)."""
    code = (
        f"import sys; sys.modules[{package!r}] = None; "
        "from flytelite.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return flytelite_python("-c", code, *args, cache=cache)


def flytelite_python(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "FLYTELITE_CACHE_URL": str(cache), "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "foo://x",
            "error: the cache URL 'foo://x' has protocol 'foo', which fsspec does not know; "
            "use a local folder or a URL such as s3://bucket/prefix",
        ),
        (
            "gcs://b/x",
            "error: the cache URL 'gcs://b/x' needs gcsfs, which is not installed: "
            "pip install gcsfs",
        ),
        (
            "s3://b/x",
            "error: the cache URL 's3://b/x' needs s3fs, which is not installed: "
            "pip install 'flytelite[s3]'",
        ),
    ],
)
def test_run_with_an_unusable_cache_url_is_one_line_and_runs_nothing(
    typed: Path, cache_dir: Path, url: str, message: str
) -> None:
    package = {"gcs": "gcsfs", "s3": "s3fs"}.get(url.split(":")[0], "nothing")
    args = ["run", str(typed), "describe", "--tags", "[]", "--cache-url", url]
    result = flytelite_without(package, *args, cache=cache_dir)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")
    assert not (typed.parent / "ran").exists()


# -- tracebacks show the user's code ------------------------------------------------------

MACHINERY = ("flytelite/", "anyio", "asyncio", "importlib", "concurrent/futures", "threading.py")


def machinery_in(text: str) -> list[str]:
    """Traceback lines of frames outside the user's code."""
    frames = [line for line in text.splitlines() if line.lstrip().startswith('File "')]
    return [line for line in frames if any(part in line for part in MACHINERY)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "import flytelite as fl\n\ndef broken(:\n    pass\n",
            [
                '  File "{path}", line 3',
                "    def broken(:",
                "               ^",
                "SyntaxError: invalid syntax",
                "error: {path} could not be imported: SyntaxError: invalid syntax (bad.py, line 3)",
            ],
        ),
        (
            "import flytelite as fl\nimport no_such_module_here\n",
            [
                "Traceback (most recent call last):",
                '  File "{path}", line 2, in <module>',
                "    import no_such_module_here",
                "ModuleNotFoundError: No module named 'no_such_module_here'",
                "error: {path} could not be imported: ModuleNotFoundError: "
                "No module named 'no_such_module_here'",
            ],
        ),
        (
            "import flytelite as fl\nfrom bad_helper import settings\n",
            [
                "Traceback (most recent call last):",
                '  File "{path}", line 2, in <module>',
                "    from bad_helper import settings",
                '  File "{helper}", line 2, in <module>',
                '    raise RuntimeError("no settings file")',
                "RuntimeError: no settings file",
                "error: {path} could not be imported: RuntimeError: no settings file",
            ],
        ),
    ],
)
def test_a_file_that_fails_to_import_shows_only_the_users_frames(
    tmp_path: Path, cache_dir: Path, source: str, expected: list[str]
) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source)
    helper = tmp_path / "bad_helper.py"
    helper.write_text('settings = None\nraise RuntimeError("no settings file")\n')
    result = flytelite("run", str(path), "anything", cache=cache_dir)
    assert result.returncode == 2 and result.stdout == ""
    lines = [line.format(path=path, helper=helper) for line in expected]
    assert result.stderr.splitlines() == lines


FAILING = textwrap.dedent(
    """
    import flytelite as fl

    env = fl.TaskEnvironment("failing")


    def parse(text):
        return int(text)


    @env.task
    def leaf(text: str) -> int:
        return parse(text)


    @env.task
    async def root(text: str) -> int:
        return await leaf.aio(text) + 1
    """
)


def test_a_failing_task_shows_its_own_traceback_then_one_summary_line(
    tmp_path: Path, cache_dir: Path
) -> None:
    path = tmp_path / "failing.py"
    path.write_text(FAILING)
    result = flytelite("run", str(path), "root", "--text", "x", "--no-progress", cache=cache_dir)
    assert result.returncode == 1 and result.stdout == ""
    shown = result.stderr.split("\n\n")[0].splitlines()  # what comes before the report
    code = [line.strip() for line in shown if not line.lstrip().startswith(("File", "^", "~"))]
    assert code == [
        "Traceback (most recent call last):",
        "return await leaf.aio(text) + 1",
        "return parse(text)",
        "return int(text)",
        "ValueError: invalid literal for int() with base 10: 'x'",
        "error: task 'failing.leaf' failed (in a run of 'failing.root'): "
        "ValueError: invalid literal for int() with base 10: 'x'",
    ]
    assert [line.split(", in ")[-1] for line in shown if line.lstrip().startswith("File")] == [
        "root",
        "leaf",
        "parse",
    ]
    assert machinery_in(result.stderr) == []
    assert "failing.leaf" in result.stderr.split("\n\n")[1]  # then the report
    full = flytelite(
        "run", str(path), "root", "--text", "x", "--traceback", "full", cache=cache_dir
    )
    assert full.returncode == 1
    hidden = "\n".join(machinery_in(full.stderr))
    assert "flytelite/_engine.py" in hidden and "anyio" in hidden and "asyncio" in hidden


# -- warnings and the report of a store that fails ----------------------------------------

STORE = textwrap.dedent(
    """
    import threading

    import flytelite as fl

    env = fl.TaskEnvironment("store")


    @env.task(cache=True, cache_version="1")
    def double(x: int) -> int:
        return 2 * x


    @env.task(cache=True, cache_version="1")
    def lock(x: int) -> object:
        return threading.Lock()  # outputs that cannot be pickled: a put failure


    @env.task
    def both(x: int) -> str:
        double(x)
        lock(x)
        return "done"
    """
)


@pytest.mark.parametrize("progress", [True, False])
def test_catalog_warnings_are_one_line_and_failures_have_report_columns(
    tmp_path: Path, cache_dir: Path, progress: bool
) -> None:
    path = tmp_path / "store.py"
    path.write_text(STORE)
    report = tmp_path / "report.json"
    first = flytelite(
        "run", str(path), "both", "--x", "1", "--report-json", str(report), cache=cache_dir
    )
    assert first.returncode == 0, first.stderr
    assert [line for line in first.stderr.splitlines() if "Warning" in line] == [
        "flytelite: warning: CatalogWarning: outputs of 'store.lock' could not be written to the "
        f"cache at {cache_dir} (TypeError: cannot pickle '_thread.lock' object); results are "
        "returned but not cached."
    ]
    key = next(
        row["key"] for row in json.loads(report.read_text()) if row["task"] == "store.double"
    )
    entry = next(cache_dir.rglob(key))
    entry.unlink()
    entry.mkdir()  # what stands at the entry's path cannot be read: a lookup failure
    flags = [] if progress else ["--no-progress"]
    result = flytelite("run", str(path), "both", "--x", "1", *flags, cache=cache_dir)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "Warning" in line]
    assert len(warned) == 2  # one per kind of trouble: a lookup, a write
    assert all(line.startswith("flytelite: warning: CatalogWarning: ") for line in warned)
    assert "could not be read (IsADirectoryError" in warned[0]
    assert "could not be written to the cache" in warned[1]
    assert "memo.write" not in result.stderr  # no echoed source line
    summary = "flytelite: cache warnings: 1 lookups failed, 1 outputs not written"
    assert (summary in result.stderr.splitlines()) is progress  # the progress view's last line
    table = result.stderr[result.stderr.index("task ") :].splitlines()
    assert table[0].split() == [
        "task", "calls", "hits", "misses", "lookup", "failures", "put", "failures",
        "failed", "total", "s", "p95", "s",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split()[1:6] for line in table[2:5]}
    assert rows == {
        "store.both": ["1", "0", "0", "0", "0"],
        "store.double": ["1", "0", "0", "1", "0"],  # a lookup failure, not a miss
        "store.lock": ["1", "0", "0", "0", "1"],  # a put failure
    }


def test_a_warning_of_the_users_code_is_one_line_with_its_place(
    tmp_path: Path, cache_dir: Path
) -> None:
    path = tmp_path / "warns.py"
    path.write_text(
        "import warnings\n"
        "import flytelite as fl\n"
        "env = fl.TaskEnvironment('warns')\n"
        "warnings.warn('imported early')\n"
        "@env.task\n"
        "def careful() -> int:\n"
        "    warnings.warn('the body warns', DeprecationWarning, stacklevel=1)\n"
        "    return 1\n"
    )
    result = flytelite(
        "run", str(path), "careful", "--no-progress", cache=cache_dir, warnings="default"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[:2] == [
        f"{path}:4: UserWarning: imported early",
        f"{path}:7: DeprecationWarning: the body warns",
    ]
