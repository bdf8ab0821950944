"""The dynamic task: its spec looked up or compiled, then run as a DAG of task calls.

With caching on, the spec is stored in the catalog under its own key (task
identity + `#spec`, cache version, inputs), so a re-run loads it instead of
compiling, and a run that crashed half-way resumes: every node uses its own
task's cache, so only unfinished nodes run.

A spec compiled in this process runs the very task objects its body called; a
loaded spec runs, for each node, the live task with that identity, version and
signature, and is recompiled with a warning when there is none (the task's
code, version or parameters moved on).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from flytelite import Cache, CacheStatus, SyncTask, TaskDefinitionError

from ..lowlevel import CallContext, tasks_named
from ._compiler import Compiler
from ._spec import Pattern, WorkflowSpec, task_ref

if TYPE_CHECKING:
    import asyncio

    from ..catalog import Key

__all__ = ["DynamicTask", "WorkflowWarning", "make_dynamic"]

P = ParamSpec("P")
R = TypeVar("R")


class WorkflowWarning(UserWarning):
    """A cached workflow spec could not be used as it was and was compiled again."""


class _Skipped(Exception):
    """Internal: a node that did not run because the workflow is failing."""


class DynamicTask(SyncTask[P, R]):
    """A task whose body is compiled into a workflow of task calls, then executed."""

    custom_execution = True
    has_spec = True

    def compile(self, *args: P.args, **kwargs: P.kwargs) -> WorkflowSpec:
        """Run the body in compile mode and return the workflow it describes."""
        return Compiler(self).compile(self.bind(args, kwargs))

    def spec_key(self, inputs: dict[str, Any]) -> Key:
        from ..lowlevel import cache_key

        return cache_key(self, inputs, spec=True)

    async def execute(self, ctx: CallContext, inputs: dict[str, Any]) -> Any:
        spec = await self._spec(ctx, inputs)
        ctx.row.edges = spec.edges()  # the DAG, for the run report
        return await _run_spec(ctx, spec)

    async def _spec(self, ctx: CallContext, inputs: dict[str, Any]) -> WorkflowSpec:
        if self.cache is None:
            ctx.row.spec_cache = CacheStatus.DISABLED
            return await self._compile(ctx, inputs)
        key = self.spec_key(inputs)
        found = await ctx.lookup(key)
        if found.hit:
            spec = found.outputs
            problem = _bind_tasks(spec)
            if problem is None:
                ctx.row.spec_cache = CacheStatus.HIT
                return spec  # type: ignore[no-any-return]
            ctx.warn(
                f"the cached spec of dynamic workflow {self.name!r} {problem}; "
                f"it was compiled again.",
                WorkflowWarning,
            )
        spec = await self._compile(ctx, inputs)
        # Replace an entry that was found but not used (stale, or no longer loadable here);
        # a miss with a reason means that an entry stands at the key.
        replace = found.hit or found.reason is not None
        ctx.row.spec_cache = await ctx.write(key, spec, overwrite=replace)
        return spec

    async def _compile(self, ctx: CallContext, inputs: dict[str, Any]) -> WorkflowSpec:
        spec: WorkflowSpec = await ctx.in_thread(Compiler(self).compile, inputs)
        return spec


def _bind_tasks(spec: Any) -> str | None:
    """Give a loaded spec the live task of each of its task references; or say why one
    cannot be used (`None` when it can)."""
    if not isinstance(spec, WorkflowSpec):
        return "is not a workflow spec"
    if spec._objects is not None:
        return None
    found = []
    for ref in spec._tasks:
        name, cache_version, signature = ref
        defined = tasks_named(name)
        match = next((t for t in defined if task_ref(t) == ref), None)
        if match is None:
            if not defined:
                return f"calls task {name!r}, which is not defined in this process"
            now = task_ref(defined[0])
            if now[2] != signature:
                return (
                    f"calls {name!r} with the parameters ({', '.join(signature)}) it was "
                    f"compiled against, now ({', '.join(now[2])})"
                )
            return f"calls {name!r} at cache version {cache_version!r}, now {now[1]!r}"
        found.append(match)
    spec._objects = tuple(found)
    return None


async def _run_spec(ctx: CallContext, spec: WorkflowSpec) -> Any:
    """Every node starts as soon as its inputs are ready. When one fails, nodes already
    running finish (their outputs are written), no new node starts, and the failure is raised.

    Runs from the spec's compact form: node `i` is `spec._calls[i]`."""
    import asyncio

    loop = asyncio.get_running_loop()
    tasks = spec._objects
    if tasks is None:
        problem = _bind_tasks(spec)
        if problem is not None or spec._objects is None:
            raise ValueError(f"workflow spec {spec.task!r} cannot run: it {problem}")
        tasks = spec._objects
    ids = spec._node_ids()
    done: list[asyncio.Future[Any]] = [loop.create_future() for _ in spec._calls]
    failures: list[tuple[str, str, BaseException]] = []  # node id, task, exception

    async def resolve(pattern: Pattern, values: Iterator[Any]) -> Any:
        if pattern == "lit":
            return copy.deepcopy(next(values))
        if pattern == "ref":
            # By value, as between Flyte nodes: a consumer that mutates its input
            # changes nothing another node or the cache sees.
            return copy.deepcopy(await asyncio.shield(done[next(values)]))
        tag, kind, patterns = pattern
        if tag == "seq":
            return kind([await resolve(p, values) for p in patterns])
        return kind([(next(values), await resolve(p, values)) for p in patterns])

    async def run(i: int) -> None:
        shape, *values = spec._calls[i]
        task_index, names, patterns = spec._shapes[shape]
        holes = iter(values)
        future = done[i]
        try:
            inputs = {name: await resolve(p, holes) for name, p in zip(names, patterns)}
            if failures:
                raise _Skipped
            task = tasks[task_index]
            future.set_result(await ctx.call(task, inputs, node=ids[i]))
        except _Skipped:
            future.set_exception(_Skipped())
            future.exception()
        except Exception as exc:
            failures.append((ids[i], spec._tasks[task_index][0], exc))
            future.set_exception(_Skipped())
            future.exception()

    await asyncio.gather(*(run(i) for i in range(len(done))))
    if failures:
        node_id, task_name, exc = failures[0]
        if hasattr(exc, "add_note"):
            exc.add_note(f"in node {node_id} ({task_name}) of dynamic workflow {spec.task!r}")
        raise exc
    pattern, *values = spec._output
    return await resolve(pattern, iter(values))


def make_dynamic(
    env: str, func: Callable[..., Any], cache: Cache | None, retries: int, timeout: float | None
) -> DynamicTask[..., Any]:
    import inspect

    if inspect.iscoroutinefunction(func):
        raise TaskDefinitionError(
            f"dynamic workflow '{env}.{func.__name__}': its body is compiled by running it once "
            f"and recording task calls, so write it as a plain `def`, not `async def`."
        )
    return DynamicTask(func, env=env, cache=cache, retries=retries, timeout=timeout)
