"""Dynamic workflows: a body compiled into a DAG of task calls, the DAG cached as an artifact.

The body of `@env.dynamic` runs in compile mode: every task call records a node
and returns a `Promise` of its output, which later calls can take as inputs.
The result is a `WorkflowSpec`. With caching on, the spec is stored in the
catalog under its own key (task identity + `#spec`, cache version, inputs), so
a re-run loads it instead of compiling, and a run that crashed half-way
resumes: every node uses its own task's cache, so only unfinished nodes run.

Specs reference tasks by identity and cache version, never by pickled
function; a spec whose tasks moved on is recompiled with a warning.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from typing_extensions import ParamSpec

from ._cache import Cache, CacheStatus
from ._context import CallContext, current_runner
from ._errors import PromiseUsageError, TaskDefinitionError
from ._task import SyncTask, Task, get_task
from .catalog import Key

__all__ = ["DynamicTask", "Promise", "WorkflowSpec", "WorkflowWarning"]

P = ParamSpec("P")
R = TypeVar("R")


class WorkflowWarning(UserWarning):
    """A cached workflow spec could not be used as it was and was compiled again."""


# -- bindings: how a node's input is obtained ------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """The output of another node."""

    node: str


@dataclass(frozen=True)
class Literal:
    """A value fixed at compile time."""

    value: Any


@dataclass(frozen=True)
class Many:
    """A list or tuple with promises inside."""

    kind: type
    items: tuple[Binding, ...]


@dataclass(frozen=True)
class Mapping_:
    """A dict with promises among its values."""

    kind: type
    items: tuple[tuple[Any, Binding], ...]


Binding = Ref | Literal | Many | Mapping_


def _refs(binding: Binding) -> list[str]:
    if isinstance(binding, Ref):
        return [binding.node]
    if isinstance(binding, Many):
        return [r for item in binding.items for r in _refs(item)]
    if isinstance(binding, Mapping_):
        return [r for _, item in binding.items for r in _refs(item)]
    return []


def _show(binding: Binding) -> str:
    if isinstance(binding, Ref):
        return binding.node
    if isinstance(binding, Literal):
        text = repr(binding.value)
        return text if len(text) <= 40 else f"{text[:37]}..."
    if isinstance(binding, Many):
        inner = ", ".join(_show(i) for i in binding.items)
        return f"[{inner}]" if binding.kind is list else f"({inner})"
    inner = ", ".join(f"{k!r}: {_show(v)}" for k, v in binding.items)
    return f"{{{inner}}}"


@dataclass(frozen=True)
class Node:
    """One task call of a workflow: its task (by identity and cache version) and inputs."""

    id: str
    task: str
    cache_version: str
    inputs: dict[str, Binding]

    @property
    def upstream(self) -> list[str]:
        return sorted({r for b in self.inputs.values() for r in _refs(b)})


@dataclass(frozen=True)
class WorkflowSpec:
    """A compiled dynamic workflow: nodes in call order and the output binding."""

    task: str
    cache_version: str
    nodes: tuple[Node, ...]
    output: Binding = field(default=Literal(None))

    def __str__(self) -> str:
        lines = [
            f"WorkflowSpec {self.task} (cache version {self.cache_version}): "
            f"{len(self.nodes)} nodes"
        ]
        for node in self.nodes:
            args = ", ".join(f"{k}={_show(v)}" for k, v in node.inputs.items())
            lines.append(f"  {node.id}  {node.task}@{node.cache_version}({args})")
        lines.append(f"  output: {_show(self.output)}")
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        """The DAG as a Mermaid flowchart."""
        lines = ["flowchart TD"]
        for node in self.nodes:
            label = node.task.rsplit(".", 1)[-1]
            lines.append(f'    {node.id}["{node.id}: {label}"]')
        for node in self.nodes:
            for up in node.upstream:
                lines.append(f"    {up} --> {node.id}")
        lines.append('    output(["output"])')
        for ref in sorted(set(_refs(self.output))):
            lines.append(f"    {ref} --> output")
        return "\n".join(lines)


# -- compile mode -------------------------------------------------------------------------------


class Promise:
    """The future output of a task call inside a dynamic workflow's body.

    Pass it to other task calls (directly, or inside a list, tuple or dict) or
    return it. Its value does not exist while the body runs, so using it as a
    value raises `PromiseUsageError`.
    """

    __slots__ = ("_node", "_task", "_workflow")

    def __init__(self, node: str, task: str, workflow: str) -> None:
        self._node = node
        self._task = task
        self._workflow = workflow

    def __repr__(self) -> str:
        return f"<Promise of {self._task} (node {self._node})>"

    def _misuse(self, what: str) -> NoReturn:
        raise PromiseUsageError(
            f"dynamic workflow {self._workflow!r}: {what} the output of {self._task} "
            f"(node {self._node}), which is a promise: inside a dynamic workflow a task call "
            f"only records a node, and its value exists when the workflow runs. Pass the "
            f"promise to another task call instead, and move logic that needs the value "
            f"(conditions, arithmetic, indexing, formatting) into a task.",
            workflow=self._workflow,
            node=self._node,
        )

    def __bool__(self) -> bool:
        self._misuse("`bool()` (an `if` or `while`) of")

    def __eq__(self, other: object) -> bool:
        self._misuse("comparing")

    def __ne__(self, other: object) -> bool:
        self._misuse("comparing")

    def __lt__(self, other: object) -> bool:
        self._misuse("comparing")

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> NoReturn:
        self._misuse("iterating over")

    def __len__(self) -> int:
        self._misuse("`len()` of")

    def __getitem__(self, item: object) -> NoReturn:
        self._misuse("indexing")

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        self._misuse(f"reading attribute {name!r} of")

    def __format__(self, spec: str) -> str:
        self._misuse("formatting")

    def __str__(self) -> str:
        self._misuse("`str()` of")

    def __int__(self) -> int:
        self._misuse("`int()` of")

    def __float__(self) -> float:
        self._misuse("`float()` of")

    def __index__(self) -> int:
        self._misuse("using as an index")

    def __contains__(self, item: object) -> bool:
        self._misuse("`in` on")

    def _arith(self, *_: object) -> NoReturn:
        self._misuse("arithmetic with")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _arith
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _arith
    __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = __and__ = __or__ = __xor__ = _arith

    def __call__(self, *args: object, **kwargs: object) -> NoReturn:
        self._misuse("calling")


def _bind(value: Any) -> Binding:
    """A binding for an argument: promises may sit inside lists, tuples and dicts."""
    if isinstance(value, Promise):
        return Ref(value._node)
    if type(value) in (list, tuple):
        items = tuple(_bind(v) for v in value)
        if any(not isinstance(i, Literal) for i in items):
            return Many(type(value), items)
    elif type(value) is dict:
        pairs = tuple((k, _bind(v)) for k, v in value.items())
        if any(not isinstance(b, Literal) for _, b in pairs):
            return Mapping_(dict, pairs)
    return Literal(value)


class Compiler:
    """The runner while a dynamic body compiles: task calls become nodes."""

    def __init__(self, workflow: DynamicTask[..., Any]) -> None:
        self.workflow = workflow
        self.nodes: list[Node] = []

    def _record(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise:
        inputs = task.bind(args, kwargs)
        node = Node(
            id=f"n{len(self.nodes)}",
            task=task.name,
            cache_version=task.cache_version if task.cache is not None else "",
            inputs={name: _bind(value) for name, value in inputs.items()},
        )
        self.nodes.append(node)
        return Promise(node.id, task.name, self.workflow.name)

    def call(self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._record(task, args, kwargs)

    def call_async(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        raise PromiseUsageError(
            f"dynamic workflow {self.workflow.name!r}: `{task.func.__name__}.aio(...)` was "
            f"called in its body; a dynamic body is plain sync code that records task calls: "
            f"call `{task.func.__name__}(...)` directly.",
            workflow=self.workflow.name,
            node=None,
        )

    def block_on(self, aw: Any) -> Any:
        raise PromiseUsageError(
            f"dynamic workflow {self.workflow.name!r}: its body cannot wait for results "
            f"(e.g. `fl.map`): it only records task calls.",
            workflow=self.workflow.name,
            node=None,
        )

    def in_loop_thread(self) -> bool:
        return False

    def compile(self, inputs: dict[str, Any]) -> WorkflowSpec:
        token = current_runner.set(self)
        try:
            args, kwargs = self.workflow.call_args(inputs)
            output = self.workflow.func(*args, **kwargs)
        finally:
            current_runner.reset(token)
        version = self.workflow.cache_version if self.workflow.cache is not None else ""
        return WorkflowSpec(self.workflow.name, version, tuple(self.nodes), _bind(output))


# -- the task kind --------------------------------------------------------------------------------


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
        assert self.cache is not None
        keyed = {k: v for k, v in inputs.items() if k not in self.cache.ignored_inputs}
        return Key(
            f"{self.name}#spec",
            self.cache_version,
            keyed,
            signature=self.signature_token,
            hash_methods=self.hash_methods,
        )

    async def execute(self, ctx: CallContext, inputs: dict[str, Any]) -> Any:
        spec = await self._spec(ctx, inputs)
        return await _run_spec(ctx, spec)

    async def _spec(self, ctx: CallContext, inputs: dict[str, Any]) -> WorkflowSpec:
        if self.cache is None:
            ctx.row.spec_cache = CacheStatus.DISABLED
            return await self._compile(ctx, inputs)
        key = self.spec_key(inputs)
        found = await ctx.lookup(key)
        if found.hit:
            spec = found.outputs
            problem = _stale(spec)
            if problem is None:
                ctx.row.spec_cache = CacheStatus.HIT
                return spec  # type: ignore[no-any-return]
            ctx.warn(
                f"the cached spec of dynamic workflow {self.name!r} {problem}; "
                f"it was compiled again.",
                WorkflowWarning,
            )
        spec = await self._compile(ctx, inputs)
        ctx.row.spec_cache = await ctx.write(key, spec, overwrite=found.hit)
        return spec

    async def _compile(self, ctx: CallContext, inputs: dict[str, Any]) -> WorkflowSpec:
        spec: WorkflowSpec = await ctx.in_thread(Compiler(self).compile, inputs)
        return spec


def _stale(spec: Any) -> str | None:
    """Why a loaded spec cannot be executed as it is, or `None`."""
    if not isinstance(spec, WorkflowSpec):
        return "is not a workflow spec"
    for node in spec.nodes:
        task = get_task(node.task)
        if task is None:
            return f"calls task {node.task!r}, which is not defined in this process"
        version = task.cache_version if task.cache is not None else ""
        if version != node.cache_version:
            return f"calls {node.task!r} at cache version {node.cache_version!r}, now {version!r}"
    return None


async def _run_spec(ctx: CallContext, spec: WorkflowSpec) -> Any:
    """Every node starts as soon as its inputs are ready. When one fails, nodes already
    running finish (their outputs are written), no new node starts, and the failure is raised."""
    loop = asyncio.get_running_loop()
    done: dict[str, asyncio.Future[Any]] = {n.id: loop.create_future() for n in spec.nodes}
    failures: list[tuple[Node, BaseException]] = []

    async def resolve(binding: Binding) -> Any:
        if isinstance(binding, Ref):
            # By value, as between Flyte nodes: a consumer that mutates its input
            # changes nothing another node or the cache sees.
            return copy.deepcopy(await asyncio.shield(done[binding.node]))
        if isinstance(binding, Literal):
            return copy.deepcopy(binding.value)
        if isinstance(binding, Many):
            return binding.kind([await resolve(i) for i in binding.items])
        return binding.kind([(k, await resolve(v)) for k, v in binding.items])

    async def run(node: Node) -> None:
        future = done[node.id]
        try:
            inputs = {name: await resolve(b) for name, b in node.inputs.items()}
            if failures:
                raise _Skipped
            task = get_task(node.task)
            assert task is not None  # checked when the spec was loaded
            future.set_result(await ctx.call(task, inputs, node=node.id))
        except _Skipped:
            future.set_exception(_Skipped())
            future.exception()
        except Exception as exc:
            failures.append((node, exc))
            future.set_exception(_Skipped())
            future.exception()

    await asyncio.gather(*(run(node) for node in spec.nodes))
    if failures:
        node, exc = failures[0]
        if hasattr(exc, "add_note"):
            exc.add_note(f"in node {node.id} ({node.task}) of dynamic workflow {spec.task!r}")
        raise exc
    return await resolve(spec.output)


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
