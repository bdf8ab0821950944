"""`flytelite run` from a real shell process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


def flytelite(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLYTELITE_CACHE_URL": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "flytelite", *args],
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
        (["summarize", "--name", "a", "--n", "three"], "--n 'three'"),
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
