"""The plug-in layers build on the published surface only.

Dynamic workflows, connectors, the executors and the Flyte 2 surface import
flytelite's core only through `flytelite`, `flytelite.lowlevel` and
`flytelite.catalog`: never a private core module, so that the core can change
how it works inside without breaking them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import flytelite
import flytelite as fl

ROOT = Path(flytelite.__file__).parent
PLUGINS = ("dynamic", "connectors", "executors", "compat")
ALLOWED = {"flytelite", "flytelite.lowlevel", "flytelite.catalog"}


def core_imports(path: Path) -> set[str]:
    """The flytelite modules outside its own package that `path` imports."""
    package = path.relative_to(ROOT).parts[0]
    depth = len(path.relative_to(ROOT).parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            elif node.level == depth:  # relative to flytelite itself
                base = "flytelite" + (f".{node.module}" if node.module else "")
                names = [base] if node.module else [f"flytelite.{a.name}" for a in node.names]
            else:
                continue  # inside its own package
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            ours = name == "flytelite" or name.startswith("flytelite.")
            if ours and not name.startswith(f"flytelite.{package}"):
                found.add(name)
    return found


def test_plugins_import_only_the_published_surface() -> None:
    offending = []
    for package in PLUGINS:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            for name in sorted(core_imports(path)):
                top = ".".join(name.split(".")[:2])
                if top in ALLOWED or name in ALLOWED:
                    continue
                offending.append(f"{where}: {name}")
    assert offending == []


def test_the_check_sees_private_imports() -> None:
    # The rule's own test: a private core import is found, relative or absolute.
    sample = ROOT / "dynamic" / "_spec.py"
    assert "flytelite.lowlevel" in core_imports(ROOT / "dynamic" / "_compiler.py")
    assert all(not n.startswith("flytelite._") for n in core_imports(sample))
    assert "flytelite._engine" in core_imports(ROOT / "lowlevel.py")


def test_a_call_handle_receives_the_row_of_the_next_call() -> None:
    import asyncio

    from flytelite.lowlevel import CallHandle, expect_call

    env = fl.TaskEnvironment("handles")

    @env.task(retries=1)
    async def flaky(x: int) -> int:
        if x == 1 and not seen:
            seen.append(x)
            raise RuntimeError("once")
        return x

    @env.task
    async def parent() -> list[str]:
        handles = [CallHandle(), CallHandle()]
        expect_call(handles[0])
        await flaky.aio(1)
        await flaky.aio(2)  # made without a handle: nothing claims it
        expect_call(handles[1])
        await asyncio.gather(flaky.aio(3))  # a copy of this context: still the next call
        return [f"{h.row.task}:{h.row.attempts}" for h in handles if h.row is not None]

    seen: list[int] = []
    assert fl.run(parent).outputs == ["handles.flaky:2", "handles.flaky:1"]


def test_open_run_serves_task_calls_and_keeps_their_rows(tmp_path: Path) -> None:
    import asyncio

    from flytelite.catalog import FsspecCatalog
    from flytelite.lowlevel import current_runner, open_run

    env = fl.TaskEnvironment("sessions")
    executed: list[int] = []

    @env.task(cache=True, cache_version="1")
    async def double(x: int) -> int:
        executed.append(x)
        return 2 * x

    @env.task(cache=True, cache_version="1")
    def triple(x: int) -> int:
        executed.append(x)
        return 3 * x

    async def serve(run_id: str) -> tuple[list[int], list[str]]:
        async with open_run(FsspecCatalog(str(tmp_path / "cache")), run_id=run_id) as session:
            token = current_runner.set(session)
            try:
                outputs = [await double(1), await session.call_async(double, (2,), {})]
                outputs.append(await asyncio.to_thread(triple, 3))  # a sync call from a thread
            finally:
                current_runner.reset(token)
        return outputs, [f"{r.task}:{r.cache.value}" for r in session.report]

    first = asyncio.run(serve("first"))
    assert first == (
        [2, 4, 9],
        ["sessions.double:POPULATED", "sessions.double:POPULATED", "sessions.triple:POPULATED"],
    )
    again = asyncio.run(serve("again"))
    assert again[0] == [2, 4, 9] and all(r.endswith(":HIT") for r in again[1])
    assert executed == [1, 2, 3]
    # Entries written in a session are shared with runs.
    assert (
        fl.run(double, 2, cache_url=str(tmp_path / "cache")).report[0].cache is fl.CacheStatus.HIT
    )
