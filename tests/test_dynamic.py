"""Dynamic workflows: promises, compiled specs, spec caching, parallel DAGs, crash and resume."""

from __future__ import annotations

import copyreg
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

import flytelite as fl
from flytelite.catalog import FsspecCatalog
from flytelite.dynamic import Constant, Many, MappingOf, Node, Ref

HIT, MISS, POPULATED, SKIPPED = (
    fl.CacheStatus.HIT,
    fl.CacheStatus.MISS,
    fl.CacheStatus.POPULATED,
    fl.CacheStatus.SKIPPED,
)

env = fl.TaskEnvironment("dyn")
executed: list[str] = []
lock = threading.Lock()


def mark(what: str) -> None:
    with lock:
        executed.append(what)


@pytest.fixture(autouse=True)
def reset() -> None:
    executed.clear()


@env.task(cache=True, cache_version="1")
def slow(i: int) -> int:
    mark(f"slow {i}")
    time.sleep(0.5)
    return i


@env.task(cache=True, cache_version="1")
def total(xs: list[int], extra: dict[str, int]) -> int:
    mark("total")
    return sum(xs) + sum(extra.values())


@env.dynamic(cache=True, cache_version="1")
def fan_out(n: int) -> int:
    parts = [slow(i=i) for i in range(n)]
    return total(xs=parts, extra={"last": slow(n - 1), "fixed": 100})


def test_independent_nodes_run_in_parallel_and_nested_promises_resolve() -> None:
    started = time.perf_counter()
    run = fl.run(fan_out, n=8)
    elapsed = time.perf_counter() - started
    assert run.outputs == sum(range(8)) + 7 + 100
    assert elapsed < 2.0, f"8 independent 0.5 s nodes took {elapsed:.2f} s"
    root = run.report[0]
    assert root.task == "dyn.fan_out"
    assert root.spec_cache is POPULATED and root.cache is POPULATED
    nodes = run.report[1:]
    assert {r.node for r in nodes} == {f"n{i}" for i in range(10)}
    # slow(7) was called twice in the body: the second is a hit of the first
    assert sorted(executed) == sorted([f"slow {i}" for i in range(8)] + ["total"])


def test_a_rerun_hits_the_outputs_and_executes_nothing() -> None:
    fl.run(fan_out, n=3)
    executed.clear()
    run = fl.run(fan_out, n=3)
    assert run.outputs == 0 + 1 + 2 + 2 + 100
    assert [r.cache for r in run.report] == [HIT]
    assert run.report[0].spec_cache is SKIPPED  # the outputs hit: the spec was not needed
    assert executed == []


def test_the_spec_is_loaded_instead_of_compiled_on_rerun() -> None:
    compiled: list[int] = []

    @env.task(cache=True, cache_version="1")
    def leaf(x: int) -> int:
        return x + 1

    @env.dynamic(cache=fl.Cache(version="1", behavior="override"))
    def wf(n: int) -> list[int]:
        compiled.append(n)
        return [leaf(x=i) for i in range(n)]

    first = fl.run(wf, 3)
    second = fl.run(wf, 3)
    assert first.outputs == second.outputs == [1, 2, 3]
    assert compiled == [3]
    assert first.report[0].spec_cache is POPULATED
    assert second.report[0].spec_cache is HIT
    assert [r.cache for r in second.report[1:]] == [HIT] * 3


def test_an_uncached_dynamic_compiles_every_time() -> None:
    @env.task
    def plus(x: int) -> int:
        return x + 1

    @env.dynamic
    def wf(x: int) -> int:
        return plus(plus(x))

    run = fl.run(wf, 1)
    assert run.outputs == 3
    assert run.report[0].spec_cache is fl.CacheStatus.DISABLED
    assert run.report[0].cache is fl.CacheStatus.DISABLED


def test_values_pass_between_nodes_by_value() -> None:
    @env.task
    def make() -> list[int]:
        return [1, 2, 3]

    @env.task
    def mutate(xs: list[int]) -> list[int]:
        xs.append(99)
        return xs

    @env.task
    def read(xs: list[int]) -> list[int]:
        time.sleep(0.1)  # after `mutate` has had its chance
        return list(xs)

    @env.dynamic
    def wf() -> dict[str, Any]:
        base = make()
        return {"mutated": mutate(base), "read": read(base), "literal": mutate([0])}

    outputs = fl.run(wf).outputs
    assert outputs == {"mutated": [1, 2, 3, 99], "read": [1, 2, 3], "literal": [0, 99]}


def test_a_dynamic_can_call_a_dynamic() -> None:
    @env.task(cache=True, cache_version="1")
    def double(x: int) -> int:
        return 2 * x

    @env.dynamic(cache=True, cache_version="1")
    def inner(x: int) -> int:
        return double(double(x))

    @env.dynamic(cache=True, cache_version="1")
    def outer(xs: list[int]) -> list[int]:
        return [inner(x) for x in xs]

    run = fl.run(outer, [1, 2])
    assert run.outputs == [4, 8]
    inner_rows = run.report.by_task("inner")
    assert len(inner_rows) == 2 and all(r.spec_cache is POPULATED for r in inner_rows)


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("if p: pass", "`bool()`"),
        ("p == 1", "comparing"),
        ("p < 1", "comparing"),
        ("p + 1", "arithmetic"),
        ("1 - p", "arithmetic"),
        ("[x for x in p]", "iterating"),
        ("p[0]", "indexing"),
        ("len(p)", "`len()`"),
        ("f'{p}'", "formatting"),
        ("str(p)", "`str()`"),
        ("p.real", "reading attribute 'real'"),
        ("range(p)", "using as an index"),
    ],
)
def test_using_a_promise_as_a_value_is_a_clear_error(body: str, what: str) -> None:
    @env.task
    def one() -> int:
        return 1

    namespace: dict[str, Any] = {"one": one}
    exec(f"def use():\n    p = one()\n    {body}\n", namespace)

    wf = env.dynamic(namespace["use"])
    with pytest.raises(fl.PromiseUsageError) as info:
        wf.compile()
    message = str(info.value)
    assert what in message
    assert "dyn.one" in message and "node n0" in message and "into a task" in message
    with pytest.raises(fl.TaskFailedError) as failed:
        fl.run(wf)
    assert isinstance(failed.value.__cause__, fl.PromiseUsageError)


def test_aio_and_map_in_a_dynamic_body_are_clear_errors() -> None:
    @env.task
    def one() -> int:
        return 1

    @env.dynamic
    def uses_aio() -> Any:
        return one.aio()

    @env.dynamic
    def uses_map() -> Any:
        return list(fl.map(one, []))

    with pytest.raises(fl.PromiseUsageError, match="call `one"):
        uses_aio.compile()
    with pytest.raises(fl.PromiseUsageError, match="cannot wait"):
        uses_map.compile()


def test_async_bodies_are_refused() -> None:
    with pytest.raises(fl.TaskDefinitionError, match="plain `def`"):

        @env.dynamic
        async def wf() -> None:
            pass


def test_spec_prints_as_text_and_mermaid() -> None:
    spec = fan_out.compile(2)
    assert isinstance(spec, fl.WorkflowSpec)
    text = str(spec)
    assert text.splitlines()[0] == "WorkflowSpec dyn.fan_out (cache version 1): 4 nodes"
    assert "n3  dyn.total@1(xs=[n0, n1], extra={'last': n2, 'fixed': 100})" in text
    assert text.splitlines()[-1] == "  output: n3"
    assert spec.to_mermaid().splitlines() == [
        "flowchart TD",
        '    n0["n0: slow"]',
        '    n1["n1: slow"]',
        '    n2["n2: slow"]',
        '    n3["n3: total"]',
        "    n0 --> n3",
        "    n1 --> n3",
        "    n2 --> n3",
        '    output(["output"])',
        "    n3 --> output",
    ]


def test_a_spec_whose_task_changed_version_is_recompiled_with_a_warning() -> None:
    wenv = fl.TaskEnvironment("dyn_stale")

    @wenv.task(cache=True, cache_version="1")
    def step(x: int) -> int:
        return x

    @wenv.dynamic(cache=fl.Cache(version="1", behavior="override"))
    def wf(x: int) -> int:
        return step(x)

    assert fl.run(wf, 1).report[0].spec_cache is POPULATED

    @wenv.task(cache=True, cache_version="2")
    def step(x: int) -> int:  # type: ignore[no-redef]
        return x * 10

    with pytest.warns(fl.WorkflowWarning, match="cache version '1', now '2'"):
        run = fl.run(wf, 1)
    assert run.outputs == 10
    assert run.report[0].spec_cache is POPULATED
    assert fl.run(wf, 1).report[0].spec_cache is HIT


class _Recorder(pickle.Unpickler):
    """Unpickles, recording every class and function the data refers to."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.globals: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str) -> Any:
        self.globals.add((module, name))
        return super().find_class(module, name)


def test_a_stored_spec_refers_to_tasks_by_identity_and_round_trips() -> None:
    @env.task(cache=True, cache_version="1")
    def local_step(x: int, opts: dict[str, Any]) -> int:
        return x

    @env.dynamic(cache=True, cache_version="1")
    def wf(n: int) -> dict[str, Any]:
        firsts = [local_step(i, {"scale": 2}) for i in range(n)]
        return {"all": total(xs=firsts, extra={"k": local_step(n, {})}), "pair": (firsts[0], 1)}

    spec = wf.compile(3)
    recorder = _Recorder(cloudpickle.dumps(spec, protocol=5))
    loaded = recorder.load()
    # No function and no class of the workflow's module: tasks are named, never pickled.
    assert {module for module, _ in recorder.globals} <= {
        "flytelite",
        "flytelite._dynamic",
        "builtins",
    }
    assert loaded == spec and str(loaded) == str(spec)
    assert loaded.nodes == spec.nodes and loaded.output == spec.output
    assert loaded.nodes[0].inputs == {"x": Constant(0), "opts": Constant({"scale": 2})}
    assert loaded.nodes[4].inputs["xs"] == Many(list, (Ref("n0"), Ref("n1"), Ref("n2")))
    assert loaded.nodes[4].inputs["extra"] == MappingOf(dict, (("k", Ref("n3")),))
    assert loaded.nodes[4].upstream == ["n0", "n1", "n2", "n3"]


def test_a_spec_can_be_built_from_nodes() -> None:
    nodes = [
        Node("load", "dyn.slow", "1", {"i": Constant(1)}),
        Node("sum", "dyn.total", "1", {"xs": Many(list, (Ref("load"),)), "extra": Constant({})}),
    ]
    spec = fl.WorkflowSpec("dyn.custom", "1", nodes, Ref("sum"))
    assert spec.nodes == tuple(nodes) and spec.output == Ref("sum")
    loaded = pickle.loads(cloudpickle.dumps(spec))
    assert loaded == spec and loaded.nodes == tuple(nodes)
    assert "  sum  dyn.total@1(xs=[load], extra={})" in str(loaded)
    compiled = fan_out.compile(2)
    assert fl.WorkflowSpec(compiled.task, "1", compiled.nodes, compiled.output) == compiled
    with pytest.raises(ValueError, match="'nowhere'"):
        fl.WorkflowSpec("dyn.custom", "1", nodes, Ref("nowhere"))


def test_a_spec_entry_that_no_longer_loads_is_compiled_again_and_replaced() -> None:
    wenv = fl.TaskEnvironment("dyn_unloadable")

    @wenv.task(cache=True, cache_version="1")
    def step(x: int) -> int:
        return x + 1

    @wenv.dynamic(cache=fl.Cache(version="1", behavior="override"))
    def wf(x: int) -> int:
        return step(x)

    class FromAnOlderVersion:
        """Pickles like a spec of another format (once a frozen dataclass)."""

        def __reduce__(self) -> Any:
            state = {"task": wf.name, "cache_version": "1", "nodes": ()}
            return (copyreg._reconstructor, (fl.WorkflowSpec, object, None), state)

    catalog = FsspecCatalog(os.environ["FLYTELITE_CACHE_URL"])
    key = wf.spec_key({"x": 1})
    catalog.put(key, FromAnOlderVersion())
    assert catalog.get(key) is None  # checked, but it does not load
    run = fl.run(wf, 1)
    assert run.outputs == 2 and run.report[0].spec_cache is POPULATED
    entry = catalog.get(key)
    assert entry is not None and isinstance(entry.outputs, fl.WorkflowSpec)
    assert fl.run(wf, 1).report[0].spec_cache is HIT


def test_a_promise_from_another_compilation_is_a_clear_error() -> None:
    kept: list[Any] = []

    @env.task
    def one() -> int:
        return 1

    @env.task
    def plus(x: int) -> int:
        return x + 1

    @env.dynamic
    def first() -> int:
        kept.append(one())
        return plus(kept[-1])

    @env.dynamic
    def second() -> int:
        return plus(kept[0])

    first.compile()
    with pytest.raises(fl.PromiseUsageError, match="another compilation"):
        second.compile()


def test_a_promise_inside_another_kind_of_value_is_a_clear_error() -> None:
    @env.task
    def one() -> int:
        return 1

    @env.task
    def size(xs: Any) -> int:
        return len(xs)

    @env.dynamic
    def wf() -> int:
        return size({one()})  # a set: taken as a literal value

    with pytest.raises(fl.TaskFailedError) as failed:
        fl.run(wf)
    assert isinstance(failed.value.__cause__, fl.PromiseUsageError)
    assert "not a list, tuple or dict" in str(failed.value.__cause__)

    @env.dynamic
    def keyed() -> int:
        return size({one(): 1, "b": one()})

    with pytest.raises(fl.PromiseUsageError, match="using as a dict key"):
        keyed.compile()


WORKFLOW = textwrap.dedent(
    """
    import json, os, sys, time
    import flytelite as fl

    env = fl.TaskEnvironment("dyn_proc")

    def mark(what):
        with open(os.environ["MARKS"], "a") as f:
            f.write(what + "\\n")

    @env.task(cache=True, cache_version="1")
    def work(i: int) -> int:
        mark(f"work {i}")
        if os.environ.get("FAIL_AT") == str(i):
            raise RuntimeError(f"crash at {i}")
        time.sleep(0.05 * (i % 3))
        return i * i

    @env.task(cache=True, cache_version="1")
    def add(a: int, b: int) -> int:
        mark(f"add {a} {b}")
        return a + b

    @env.dynamic(cache=True, cache_version="1")
    def chain(n: int) -> int:
        mark("compile")
        acc = work(0)
        for i in range(1, n):
            acc = add(acc, work(i))
        return acc

    if __name__ == "__main__":
        try:
            run = fl.run(chain, int(sys.argv[1]))
        except fl.TaskFailedError as exc:
            print(json.dumps({"error": str(exc)}))
            sys.exit(1)
        print(json.dumps({"outputs": run.outputs, "spec": run.report[0].spec_cache.value,
                          "executed": sum(r.attempts > 0 for r in run.report[1:])}))
    """
)


def run_workflow(tmp_path: Path, n: int, **env_vars: str) -> tuple[int, dict[str, Any]]:
    script = tmp_path / "chain.py"
    script.write_text(WORKFLOW)
    proc = subprocess.run(
        [sys.executable, str(script), str(n)],
        env={**os.environ, "MARKS": str(tmp_path / "marks.txt"), **env_vars},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout)


def marks(tmp_path: Path) -> list[str]:
    path = tmp_path / "marks.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def test_crash_then_resume_in_real_processes(tmp_path: Path) -> None:
    code, out = run_workflow(tmp_path, 6, FAIL_AT="4")
    assert code == 1
    assert "dyn_proc.work" in out["error"] and "crash at 4" in out["error"]
    assert "(node n" in out["error"]
    first = marks(tmp_path)
    assert first.count("compile") == 1
    # Every work node ran (they are independent); adds stopped at the failure.
    assert sorted(m for m in first if m.startswith("work")) == [f"work {i}" for i in range(6)]

    code, out = run_workflow(tmp_path, 6)
    assert code == 0 and out["outputs"] == sum(i * i for i in range(6))
    assert out["spec"] == "HIT"
    second = marks(tmp_path)
    assert "compile" not in second  # the spec came from the catalog
    assert [m for m in second if m.startswith("work")] == ["work 4"]  # only what had not finished
    finished_adds = {m for m in first if m.startswith("add")}
    assert not finished_adds & set(second)  # no finished add ran again

    code, out = run_workflow(tmp_path, 6)
    assert out["spec"] == "SKIPPED" and out["executed"] == 0
    assert marks(tmp_path) == []


def test_the_spec_cache_is_shared_across_processes(tmp_path: Path) -> None:
    code, out = run_workflow(tmp_path, 3)
    assert code == 0 and out["spec"] == "POPULATED"
    assert marks(tmp_path).count("compile") == 1
    # Another process, other inputs for the nodes' caches, but the same spec inputs:
    # clear node entries to force execution while keeping the spec.
    cache = Path(os.environ["FLYTELITE_CACHE_URL"])
    for folder in (cache / "v1").iterdir():
        if "spec" not in folder.name and "chain" not in folder.name:
            for entry in folder.iterdir():
                entry.unlink()
    for entry in (cache / "v1" / "dyn_proc.chain").iterdir():
        entry.unlink()
    code, out = run_workflow(tmp_path, 3)
    assert code == 0 and out["spec"] == "HIT" and out["executed"] == 5
    assert "compile" not in marks(tmp_path)


# -- specs stay consistent with the code they call ------------------------------------------


@pytest.mark.parametrize("cached", [False, True])
def test_factory_made_tasks_that_share_an_identity_each_run_their_own_function(
    cached: bool,
) -> None:
    factory_env = fl.TaskEnvironment("dyn_factory")

    def make(k: int) -> Any:
        @factory_env.task(cache=cached)
        def scale(x: int) -> int:
            return x * k

        return scale

    double, triple = make(2), make(3)
    assert double.name == triple.name

    @factory_env.dynamic(cache=cached)
    def both(x: int) -> Any:
        return [double(x), triple(x)]

    assert fl.run(both, 5).outputs == [10, 15]
    again = fl.run(both, 5)  # from the stored spec, when cached
    assert again.outputs == [10, 15]


REORDER = """
import json, sys, warnings
import flytelite as fl

env = fl.TaskEnvironment("dyn_reorder")


@env.task(cache=True, cache_version="1")
def sub({params}) -> int:
    return a - b


@env.dynamic(cache=fl.Cache("override", version="1"))  # executes: loads the stored spec
def wf() -> int:
    return sub(a=10, b=3)


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    run = fl.run(wf, progress=False)
direct = fl.run(sub, a=10, b=3, progress=False)
print(json.dumps({{
    "outputs": run.outputs,
    "direct": direct.outputs,
    "spec": str(run.report[0].spec_cache),
    "warnings": [str(w.message) for w in caught if w.category is fl.WorkflowWarning],
}}))
"""


def test_a_spec_is_recompiled_when_a_node_task_reorders_its_parameters(tmp_path: Path) -> None:
    def run(params: str) -> dict[str, Any]:
        script = tmp_path / "reorder.py"
        script.write_text(REORDER.format(params=params))
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        out: dict[str, Any] = json.loads(proc.stdout)
        return out

    first = run("a: int, b: int")
    assert (first["outputs"], first["direct"], first["spec"]) == (7, 7, "POPULATED")
    # Same cache_version, parameters swapped: the stored spec is not reused as it was.
    second = run("b: int, a: int")
    assert (second["outputs"], second["direct"]) == (7, 7)
    assert second["spec"] == "POPULATED"
    assert len(second["warnings"]) == 1 and "parameters" in second["warnings"][0]


def test_node_inputs_bind_by_parameter_name() -> None:
    named_env = fl.TaskEnvironment("dyn_named")

    @named_env.task
    def sub(a: int, b: int) -> int:
        return a - b

    @named_env.dynamic
    def wf() -> int:
        return sub(a=10, b=3)  # type: ignore[return-value]

    compiled = wf.compile()
    (node,) = compiled.nodes
    # The same call with its inputs listed in the other order.
    inputs: dict[str, Any] = {"b": Constant(3), "a": Constant(10)}
    swapped = Node(node.id, node.task, node.cache_version, inputs, node.signature)
    spec = fl.WorkflowSpec(compiled.task, compiled.cache_version, [swapped], Ref(node.id))
    from flytelite.dynamic._task import _run_spec

    class Context:
        row: Any = None
        run_id = "test"

        async def call(self, task: Any, inputs: dict[str, Any], *, node: str | None = None) -> Any:
            args, kwargs = task.call_args(inputs)
            return task.func(*args, **kwargs)

    import asyncio

    assert asyncio.run(_run_spec(Context(), spec)) == 7  # type: ignore[arg-type]
