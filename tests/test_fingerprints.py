"""Auto versions follow the code a task reaches: real files, edited between real processes.

Each test writes a small project (a package and a workflow module) into a temporary
folder, runs a task in a fresh interpreter, edits a file, and runs again. The miss
reasons name the part of the code that changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flytelite as fl
from flytelite import _fingerprint

POPULATED, HIT = "POPULATED", "HIT"

_RUNNER = """
import json, sys
import flytelite as fl
import {module}
task = getattr({module}, sys.argv[1])
run = fl.run(task, *json.loads(sys.argv[2]), progress=False)
rows = [[r.task, str(r.cache), r.miss_reason] for r in run.report]
print(json.dumps({{"outputs": run.outputs, "rows": rows}}))
"""


class Project:
    """A user's project on disk, and a way to run one of its tasks in a new process."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache

    def write(self, path: str, source: str) -> None:
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(source))

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.root / path
        text = file.read_text()
        assert old in text, f"{old!r} not in {path}"
        file.write_text(text.replace(old, new))

    def run(
        self, task: str = "main", *args: Any, module: str = "flow", seed: str = "0"
    ) -> dict[str, Any]:
        env = {
            **os.environ,
            "PYTHONPATH": str(self.root),
            "FLYTELITE_CACHE_URL": str(self.cache),
            "PYTHONHASHSEED": seed,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        proc = subprocess.run(
            [sys.executable, "-c", _RUNNER.format(module=module), task, json.dumps(args)],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result

    def row(self, task: str = "main", *args: Any, name: str | None = None) -> list[Any]:
        """The run's report row for `name` (default: the root), with the outputs first."""
        result = self.run(task, *args)
        rows = [r for r in result["rows"] if name is None or r[0].endswith(f".{name}")]
        return [result["outputs"], *rows[0][1:]]


@pytest.fixture
def project(tmp_path: Path, cache_dir: Path) -> Project:
    p = Project(tmp_path / "project", cache_dir)
    p.write("pkg/__init__.py", "")
    p.write(
        "pkg/util.py",
        """
        FACTOR = 3


        def bump(x):
            # add the factor
            return x + FACTOR


        def unrelated():
            return "not used by any task"
        """,
    )
    p.write(
        "pkg/shapes.py",
        """
        class Shape:
            sides = 4

            def area(self, x):
                return x * self.sides
        """,
    )
    p.write(
        "flow.py",
        """
        import flytelite as fl
        from pkg.util import bump
        from pkg.shapes import Shape

        env = fl.TaskEnvironment("flow")
        OFFSET = 10


        @env.task(cache=True)
        def main(x: int) -> int:
            \"\"\"Bump, then measure.\"\"\"
            return bump(x) + Shape().area(1) + OFFSET


        @env.task(cache=True)
        def child(x: int) -> int:
            return x + 1


        @env.task(cache=True)
        async def parent(x: int) -> int:
            return await child.aio(x) * 2


        @env.task(cache=True, cache_version="1")
        def pinned(x: int) -> int:
            return bump(x)


        def make_scaler(k):
            @env.task(cache=True)
            def scaled(x: int) -> int:
                return x * k

            return scaled


        scaled = make_scaler(2)
        """,
    )
    return p


def test_a_helper_in_another_module_is_followed(project: Project) -> None:
    assert project.row("main", 1) == [18, POPULATED, "no entry for this task yet"]
    assert project.row("main", 1) == [18, HIT, None]
    project.edit("pkg/util.py", "return x + FACTOR", "return x + FACTOR + 100")
    assert project.row("main", 1) == [118, POPULATED, "helper 'pkg.util.bump' changed"]
    assert project.row("main", 1) == [118, HIT, None]
    why = subprocess.run(
        [
            sys.executable,
            "-m",
            "flytelite",
            "cache",
            "why",
            "main",
            "--cache-url",
            str(project.cache),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert why.returncode == 0, why.stderr
    assert "helper 'pkg.util.bump' changed" in why.stdout


def test_constants_are_followed_in_any_module(project: Project) -> None:
    project.row("main", 1)
    project.edit("pkg/util.py", "FACTOR = 3", "FACTOR = 4")
    assert project.row("main", 1) == [19, POPULATED, "constant 'pkg.util.FACTOR' changed"]
    project.edit("flow.py", "OFFSET = 10", "OFFSET = 20")
    assert project.row("main", 1) == [29, POPULATED, "constant 'OFFSET' changed"]


def test_methods_of_a_project_class_are_followed(project: Project) -> None:
    project.row("main", 1)
    project.edit("pkg/shapes.py", "return x * self.sides", "return x * self.sides * 2")
    assert project.row("main", 1) == [22, POPULATED, "method 'pkg.shapes.Shape.area' changed"]
    project.edit("pkg/shapes.py", "sides = 4", "sides = 5")
    assert project.row("main", 1) == [24, POPULATED, "class 'pkg.shapes.Shape' changed"]


def test_a_class_named_only_in_an_annotation_is_followed(project: Project) -> None:
    project.write(
        "flow_measure.py",
        """
        import flytelite as fl
        from pkg import shapes

        env = fl.TaskEnvironment("measure")


        @env.task(cache=True)
        def measure(s: "shapes.Shape", x: int) -> int:
            return s.area(x)


        @env.task(cache=True)
        async def main(x: int) -> int:
            return await measure.aio(shapes.Shape(), x)
        """,
    )
    # `Shape` has no __flytelite_hash__: give it one so it can be an input.
    project.edit(
        "pkg/shapes.py",
        "    sides = 4\n",
        "    sides = 4\n\n    def __flytelite_hash__(self):\n        return self.sides\n",
    )
    result = project.run("main", 2, module="flow_measure")
    assert result["outputs"] == 8
    project.edit("pkg/shapes.py", "return x * self.sides", "return x * self.sides + 1")
    again = project.run("main", 2, module="flow_measure")
    rows = {r[0]: r for r in again["rows"]}
    assert again["outputs"] == 9
    assert rows["measure.measure"][1:] == [POPULATED, "method 'pkg.shapes.Shape.area' changed"]


def test_comments_docstrings_formatting_and_unrelated_code_do_not_count(project: Project) -> None:
    project.row("main", 1)
    project.edit("pkg/util.py", "# add the factor", "# add the configured factor, always")
    project.edit("pkg/util.py", 'return "not used by any task"', 'return "still not used"')
    project.edit("pkg/util.py", "def bump(x):", "def bump( x ) :  # spaced")
    project.edit("flow.py", '"""Bump, then measure."""', '"""Bump the input, then measure it."""')
    project.write("pkg/extra.py", "def another():\n    return 1\n")  # a new module nobody imports
    project.edit(
        "flow.py", "OFFSET = 10\n", "OFFSET = 10\nUNUSED = 99\n\n\ndef spare():\n    pass\n"
    )
    assert project.row("main", 1) == [18, HIT, None]


def test_a_task_reached_from_another_counts_with_its_own_version(project: Project) -> None:
    result = project.run("parent", 1)
    assert result["outputs"] == 4
    project.edit("flow.py", "return x + 1", "return x + 2")
    again = project.run("parent", 1)
    rows = {r[0]: r for r in again["rows"]}
    assert again["outputs"] == 6
    assert rows["flow.parent"][1:] == [POPULATED, "task 'flow.child' changed"]
    assert rows["flow.child"][1:] == [POPULATED, "the task's own code changed"]


def test_a_closure_value_edited_between_processes_is_named(project: Project) -> None:
    assert project.row("scaled", 5) == [10, POPULATED, "no entry for this task yet"]
    project.edit("flow.py", "scaled = make_scaler(2)", "scaled = make_scaler(3)")
    assert project.row("scaled", 5) == [15, POPULATED, "closure value 'k' changed"]
    assert project.row("scaled", 5) == [15, HIT, None]


def test_an_explicit_cache_version_still_wins(project: Project) -> None:
    assert project.row("pinned", 1) == [4, POPULATED, "no entry for this task yet"]
    project.edit("pkg/util.py", "return x + FACTOR", "return x + FACTOR + 100")
    assert project.row("pinned", 1) == [4, HIT, None]


def test_the_loaded_code_counts_not_the_file_on_disk(project: Project) -> None:
    """A module edited after it was imported runs, and is keyed by, the code as loaded."""
    edit_after_import = """
        import json, pathlib
        import flytelite as fl
        import flow
        path = pathlib.Path(flow.__file__)
        path.write_text(path.read_text().replace("+ OFFSET", "+ OFFSET * 2"))
        run = fl.run(flow.main, 1, progress=False)
        print(json.dumps([run.outputs, str(run.report[0].cache)]))
    """
    env = {**os.environ, "PYTHONPATH": str(project.root), "FLYTELITE_CACHE_URL": str(project.cache)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(edit_after_import)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [18, POPULATED]  # the old body ran: its own key
    # The file on disk now holds the new body: a new process runs it, and misses.
    assert project.row("main", 1) == [28, POPULATED, "the task's own code changed"]
    project.edit("flow.py", "+ OFFSET * 2", "+ OFFSET")
    assert project.row("main", 1) == [18, HIT, None]


def test_versions_are_the_same_in_every_process_and_hash_seed(project: Project) -> None:
    project.write(
        "seeds.py",
        """
        import flytelite as fl
        env = fl.TaskEnvironment("seeds")
        NAMES = {"a", "b", "c", "d"}
        TABLE = {"x": frozenset({"p", "q"}), "y": (1, 2.5, None)}


        @env.task(cache=True)
        def main(x: str) -> bool:
            return x in {"a", "b", "c"} and x in NAMES and bool(TABLE)
        """,
    )
    first = project.run("main", "a", module="seeds", seed="1")
    second = project.run("main", "a", module="seeds", seed="2")
    assert first["rows"][0][1] == POPULATED
    assert second["rows"][0][1] == HIT


# -- in one process ---------------------------------------------------------------------------


def _module(name: str, source: str) -> types.ModuleType:
    """A module built from source at run time, as a notebook's cells are."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), module.__dict__)
    return module


def test_closure_values_of_factory_made_tasks_count() -> None:
    env = fl.TaskEnvironment("fp_factory")

    def make(k: int) -> fl.Task[..., int]:
        @env.task(cache=True)
        def scale(x: int) -> int:
            return x * k

        return scale

    double, triple = make(2), make(3)
    assert double.cache_version != triple.cache_version
    assert make(2).cache_version == double.cache_version
    assert fl.run(double, 5).outputs == 10
    run = fl.run(triple, 5)
    assert run.outputs == 15
    assert run.report[0].miss_reason == "closure value 'k' changed"


def test_a_notebook_cell_run_again_is_seen_at_the_next_run() -> None:
    cell = _module(
        "fp_notebook",
        """
        import flytelite as fl
        env = fl.TaskEnvironment("fp_notebook")
        RATE = 2

        def helper(x):
            return x * RATE

        @env.task(cache=True)
        def main(x: int) -> int:
            return helper(x)
        """,
    )
    try:
        task = cell.main
        assert fl.run(task, 4).outputs == 8
        # The helper's cell is run again with a new body; the task's cell is not.
        exec("def helper(x):\n    return x * RATE + 1\n", cell.__dict__)
        run = fl.run(task, 4)
        assert (run.outputs, run.report[0].miss_reason) == (9, "helper 'helper' changed")
        exec("RATE = 3\n", cell.__dict__)
        run = fl.run(task, 4)
        assert (run.outputs, run.report[0].miss_reason) == (13, "constant 'RATE' changed")
        assert fl.run(task, 4).report[0].cache is fl.CacheStatus.HIT
    finally:
        del sys.modules["fp_notebook"]


def test_imports_inside_the_body_and_module_attribute_chains_are_followed() -> None:
    pkg = _module("fp_pkg", "")
    pkg.__path__ = []  # a package
    util = _module("fp_pkg.util", "def bump(x):\n    return x + 1\n")
    pkg.util = util  # type: ignore[attr-defined]
    try:
        flow = _module(
            "fp_chains",
            """
            import flytelite as fl
            import fp_pkg
            env = fl.TaskEnvironment("fp_chains")

            @env.task(cache=True)
            def dotted(x: int) -> int:
                return fp_pkg.util.bump(x)

            @env.task(cache=True)
            def imported(x: int) -> int:
                import fp_pkg.util as u
                from fp_pkg.util import bump
                return u.bump(x) + bump(x)
            """,
        )
        for task in (flow.dotted, flow.imported):
            assert "helper fp_pkg.util.bump" in task.fingerprint.parts, task.name
    finally:
        for name in ("fp_pkg", "fp_pkg.util", "fp_chains"):
            sys.modules.pop(name, None)


def test_installed_and_standard_library_code_enter_by_name_or_declared_version() -> None:
    env = fl.TaskEnvironment("fp_outside")

    @env.task(cache=True)
    def dump(x: int) -> str:
        return json.dumps(np.arange(x).tolist())

    assert set(dump.fingerprint.parts) == {"code"}

    @env.task(cache=fl.Cache(dependencies=("numpy",)))
    def counted(x: int) -> int:
        return int(np.sum(np.arange(x)))

    assert counted.fingerprint.parts["dependency numpy"] == np.__version__

    @env.task(cache=fl.Cache(version="7", dependencies=("numpy",)))
    def pinned(x: int) -> int:
        return x

    assert pinned.cache_version == f"7+numpy=={np.__version__}"
    with pytest.raises(fl.TaskDefinitionError, match="dependencies"):
        fl.Cache(dependencies=(1,))  # type: ignore[arg-type]


def test_cycles_between_helpers_terminate() -> None:
    flow = _module(
        "fp_cycle",
        """
        import flytelite as fl
        env = fl.TaskEnvironment("fp_cycle")

        def even(n):
            return True if n == 0 else odd(n - 1)

        def odd(n):
            return False if n == 0 else even(n - 1)

        @env.task(cache=True)
        def main(n: int) -> bool:
            return even(n)
        """,
    )
    try:
        assert {"helper even", "helper odd"} <= set(flow.main.fingerprint.parts)
        assert fl.run(flow.main, 4).outputs is True
    finally:
        del sys.modules["fp_cycle"]


def test_past_the_limit_the_fingerprint_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "import flytelite as fl\nenv = fl.TaskEnvironment('fp_limit')\n"
    source += "".join(f"def h{i}(x):\n    return h{i + 1}(x)\n" for i in range(30))
    source += "def h30(x):\n    return x\n"
    source += "@env.task(cache=True)\ndef main(x: int) -> int:\n    return h0(x)\n"
    flow = _module("fp_limit", source)
    monkeypatch.setattr(_fingerprint, "LIMIT", 10)
    try:
        with pytest.warns(fl.FingerprintWarning, match="more than 10 functions"):
            parts = flow.main.fingerprint.parts
        assert len([p for p in parts if p.startswith("helper")]) == 10
    finally:
        del sys.modules["fp_limit"]


def test_a_closure_value_that_cannot_be_hashed_warns_once() -> None:
    env = fl.TaskEnvironment("fp_opaque")

    class Client:
        def get(self, x: int) -> int:
            return x

    def make(client: Client) -> fl.Task[..., int]:
        @env.task(cache=True)
        def fetch(x: int) -> int:
            return client.get(x)

        return fetch

    task = make(Client())
    with pytest.warns(fl.FingerprintWarning, match="closure value 'client'"):
        task.fingerprint  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task.fingerprint  # noqa: B018 (memoised: no second warning)


def test_a_fingerprint_is_computed_once_per_task_not_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = fl.TaskEnvironment("fp_once")

    @env.task(cache=True)
    def leaf(x: int) -> int:
        return x

    @env.task
    async def fan(n: int) -> int:
        return sum([r async for r in fl.map.aio(leaf, range(n))])

    walks: list[Any] = []
    real = _fingerprint.fingerprint

    def counting(func: Any, **kwargs: Any) -> Any:
        walks.append(func)
        return real(func, **kwargs)

    monkeypatch.setattr(_fingerprint, "fingerprint", counting)
    assert fl.run(fan, 50).outputs == sum(range(50))
    assert fl.run(fan, 50).outputs == sum(range(50))
    assert walks == [leaf.func]


def test_functions_and_tasks_passed_as_inputs_are_keyed_by_their_code() -> None:
    env = fl.TaskEnvironment("fp_inputs")

    @env.task(cache=True, cache_version="1")
    def apply(fn: Any, x: int) -> int:
        return int(fn(x))

    def make(k: int) -> Any:
        return lambda y: y * k

    assert fl.run(apply, make(2), 5).outputs == 10
    assert fl.run(apply, make(2), 5).report[0].cache is fl.CacheStatus.HIT  # a new, equal lambda
    assert fl.run(apply, make(3), 5).outputs == 15  # another closure value: another key
    assert fl.run(apply, lambda y: y + 1, 5).outputs == 6  # other code

    @env.task
    def double(x: int) -> int:
        return 2 * x

    first = fl.run(apply, double, 4)
    assert first.outputs == 8

    @env.task  # the same identity, other code: a task input is keyed by its version
    def double(x: int) -> int:  # type: ignore[no-redef]
        return 2 * x + 1

    again = fl.run(apply, double, 4)
    assert (again.outputs, again.report[0].cache) == (9, fl.CacheStatus.POPULATED)
