"""Dynamic workflows: a body compiled into a DAG of task calls, the DAG cached as an artifact.

The body of `@env.dynamic` runs in compile mode: every task call records a node
and returns a `Promise` of its output, which later calls can take as inputs.
The result is a `WorkflowSpec`. With caching on, the spec is stored in the
catalog under its own key (task identity + `#spec`, cache version, inputs), so
a re-run loads it instead of compiling, and a run that crashed half-way
resumes: every node uses its own task's cache, so only unfinished nodes run.

Specs reference tasks by identity, cache version and signature, never by
pickled function. A spec compiled in this process runs the very task objects
its body called; a loaded spec runs, for each node, the live task with that
identity, version and signature, and is recompiled with a warning when there is
none (the task's code, version or parameters moved on). Node inputs bind by
parameter name. A spec
keeps its nodes in a compact form of plain tuples (see `WorkflowSpec`), which
is what is stored and what runs; `Node` objects are built when `.nodes` is read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

from ._cache import Cache, CacheStatus
from ._context import CallContext, current_runner
from ._errors import PromiseUsageError, TaskDefinitionError
from ._task import SyncTask, Task, tasks_named

if TYPE_CHECKING:
    import asyncio

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
    """One task call of a workflow: its task (by identity, cache version and the
    signature it was compiled against) and inputs, bound by parameter name."""

    id: str
    task: str
    cache_version: str
    inputs: dict[str, Binding]
    signature: tuple[str, ...] = ()

    @property
    def upstream(self) -> list[str]:
        return sorted({r for b in self.inputs.values() for r in _refs(b)})


# -- the compact form: what a spec stores and runs from ------------------------------------------
#
# Thousands of small objects are slow to unpickle, and many calls of a workflow are made the
# same way (a loop body), so a spec keeps each call as its *shape* and its *values*, like a
# query and its parameters:
#
#   tasks   ((task identity, cache version, signature), ...)  each distinct task once
#   shapes  ((task index, input names, patterns), ...)  each distinct way of calling once
#   calls   ((shape index, *values), ...)               one per node, in call order
#   ids     (node id, ...) in call order, or None for n0, n1, ... (as compiled)
#
# A pattern describes one input: "lit" (a literal value), "ref" (the output of a node),
# ("seq", list or tuple, patterns) or ("map", dict, patterns). The call's values fill the
# patterns in order: a literal's value, a referenced node's index, a dict item's key.

Pattern = Any  # "lit" | "ref" | ("seq", kind, (Pattern, ...)) | ("map", kind, (Pattern, ...))
Call = tuple[Any, ...]  # (shape index, *values)
Shape = tuple[int, tuple[str, ...], tuple[Pattern, ...]]

_FORMAT = 2
"""The version of the pickled form; a spec stored in another one does not load (a miss)."""


TaskRef = tuple[str, str, tuple[str, ...]]  # identity, cache version, signature


class _Builder:
    """Collects calls in the compact form, each distinct task and shape once."""

    def __init__(self) -> None:
        self.tasks: dict[Any, int] = {}  # a task object (or its reference) -> its index
        self.refs: list[TaskRef] = []
        self.objects: list[Task[..., Any] | None] = []
        self.shapes: dict[Shape, int] = {}
        self.calls: list[Call] = []

    def add(
        self,
        ref: TaskRef,
        task: Task[..., Any] | None,
        names: tuple[str, ...],
        patterns: tuple[Pattern, ...],
        values: list[Any],
    ) -> None:
        # Keyed by the object itself when there is one: two factory-made tasks that share
        # an identity are two tasks, and each node runs the one its call named.
        slot = ref if task is None else task
        index = self.tasks.get(slot)
        if index is None:
            index = self.tasks[slot] = len(self.refs)
            self.refs.append(ref)
            self.objects.append(task)
        shape = (index, names, patterns)
        self.calls.append((self.shapes.setdefault(shape, len(self.shapes)), *values))


def _pattern(binding: Binding, index: dict[str, int], values: list[Any]) -> Pattern:
    """The pattern of a binding; its values are appended to `values`."""
    if isinstance(binding, Ref):
        if binding.node not in index:
            raise ValueError(f"a binding refers to node {binding.node!r}, which is not in the spec")
        values.append(index[binding.node])
        return "ref"
    if isinstance(binding, Literal):
        values.append(binding.value)
        return "lit"
    if isinstance(binding, Many):
        return ("seq", binding.kind, tuple(_pattern(i, index, values) for i in binding.items))
    patterns = []
    for key, item in binding.items:
        values.append(key)
        patterns.append(_pattern(item, index, values))
    return ("map", binding.kind, tuple(patterns))


def _binding(pattern: Pattern, values: Iterator[Any], ids: tuple[str, ...]) -> Binding:
    """The binding that a pattern and its values describe."""
    if pattern == "lit":
        return Literal(next(values))
    if pattern == "ref":
        return Ref(ids[next(values)])
    tag, kind, patterns = pattern
    if tag == "seq":
        return Many(kind, tuple(_binding(p, values, ids) for p in patterns))
    return Mapping_(kind, tuple((next(values), _binding(p, values, ids)) for p in patterns))


class WorkflowSpec:
    """A compiled dynamic workflow: nodes in call order and the output binding.

    It is kept, stored and run in a compact form of plain tuples (each task
    and each distinct way of calling once, then one tuple of values per call),
    which loads fast from the cache; `nodes` and `output` are built from it
    when read.
    """

    __slots__ = (
        "_calls",
        "_ids",
        "_nodes",
        "_objects",
        "_output",
        "_shapes",
        "_tasks",
        "cache_version",
        "task",
    )
    task: str
    cache_version: str
    _tasks: tuple[TaskRef, ...]
    _objects: tuple[Task[..., Any], ...] | None  # the tasks the body called, when compiled here
    _shapes: tuple[Shape, ...]
    _calls: tuple[Call, ...]
    _output: tuple[Any, ...]  # (pattern, *values)
    _ids: tuple[str, ...] | None
    _nodes: tuple[Node, ...] | None

    def __init__(
        self,
        task: str,
        cache_version: str,
        nodes: Iterable[Node],
        output: Binding = Literal(None),
    ) -> None:
        nodes = tuple(nodes)
        ids = tuple(node.id for node in nodes)
        index = {node_id: i for i, node_id in enumerate(ids)}
        if len(index) != len(ids):
            raise ValueError("the nodes of a workflow spec need distinct ids")
        builder = _Builder()
        for node in nodes:
            values: list[Any] = []
            patterns = tuple(_pattern(b, index, values) for b in node.inputs.values())
            builder.add(
                (node.task, node.cache_version, node.signature),
                None,
                tuple(node.inputs),
                patterns,
                values,
            )
        values = []
        pattern = _pattern(output, index, values)
        compiled = ids == tuple(f"n{i}" for i in range(len(ids)))
        self._set(task, cache_version, builder, (pattern, *values), None if compiled else ids)
        self._nodes = nodes

    @classmethod
    def _compiled(
        cls,
        task: str,
        cache_version: str,
        builder: _Builder,
        output: tuple[Any, ...],
        ids: tuple[str, ...] | None,
    ) -> WorkflowSpec:
        spec = cls.__new__(cls)
        spec._set(task, cache_version, builder, output, ids)
        return spec

    def _set(
        self,
        task: str,
        cache_version: str,
        builder: _Builder,
        output: tuple[Any, ...],
        ids: tuple[str, ...] | None,
    ) -> None:
        self.task = task
        self.cache_version = cache_version
        self._tasks = tuple(builder.refs)
        objects = tuple(builder.objects)
        self._objects = None if None in objects else objects  # type: ignore[assignment]
        self._shapes = tuple(builder.shapes)
        self._calls = tuple(builder.calls)
        self._output = output
        self._ids = ids
        self._nodes = None

    def __getstate__(self) -> tuple[Any, ...]:
        return (
            _FORMAT,
            self.task,
            self.cache_version,
            self._tasks,
            self._shapes,
            self._calls,
            self._output,
            self._ids,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == _FORMAT):
            raise ValueError(f"not a workflow spec of format {_FORMAT}")
        (
            _,
            self.task,
            self.cache_version,
            self._tasks,
            self._shapes,
            self._calls,
            self._output,
            self._ids,
        ) = state
        self._nodes = None
        self._objects = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkflowSpec):
            return NotImplemented
        return self.__getstate__() == other.__getstate__()

    def __repr__(self) -> str:
        return (
            f"<WorkflowSpec {self.task} (cache version {self.cache_version}): "
            f"{len(self._calls)} nodes>"
        )

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The task calls, in call order."""
        if self._nodes is None:
            nodes = []
            ids = self._node_ids()
            for node_id, (shape, *values) in zip(ids, self._calls):
                task, names, patterns = self._shapes[shape]
                holes = iter(values)
                inputs = {name: _binding(p, holes, ids) for name, p in zip(names, patterns)}
                name, cache_version, signature = self._tasks[task]
                nodes.append(Node(node_id, name, cache_version, inputs, signature))
            self._nodes = tuple(nodes)
        return self._nodes

    @property
    def output(self) -> Binding:
        """How the workflow's output is made from node outputs."""
        pattern, *values = self._output
        return _binding(pattern, iter(values), self._node_ids())

    def _node_ids(self) -> tuple[str, ...]:
        if self._ids is None:
            return tuple(f"n{i}" for i in range(len(self._calls)))
        return self._ids

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

    __slots__ = ("_compiler", "_index", "_node", "_task", "_workflow")

    def __init__(self, compiler: Compiler, index: int, node: str, task: str) -> None:
        self._compiler = compiler
        self._index = index
        self._node = node
        self._task = task
        self._workflow = compiler.workflow.name

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

    def __reduce__(self) -> NoReturn:
        # Reached when a promise sits inside a value that is not a list, tuple or dict (a set,
        # an object): the value was taken as a literal, which is copied when the node runs
        # and pickled when the spec is stored.
        raise PromiseUsageError(
            f"dynamic workflow {self._workflow!r}: the output of {self._task} (node "
            f"{self._node}), a promise, was passed inside a value that is not a list, tuple "
            f"or dict (a set, say, or an object), so it was taken as a literal value. Pass "
            f"promises directly, or inside lists, tuples and dicts.",
            workflow=self._workflow,
            node=self._node,
        )


class Compiler:
    """The runner while a dynamic body compiles: task calls become nodes (in the compact form)."""

    def __init__(self, workflow: DynamicTask[..., Any]) -> None:
        self.workflow = workflow
        self.builder = _Builder()
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per distinct names

    def _record(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise:
        inputs = task.bind(args, kwargs)
        names = tuple(inputs)
        values: list[Any] = []
        patterns = tuple(self._bind(value, values) for value in inputs.values())
        index = len(self.builder.calls)
        self.builder.add(_ref(task), task, self._names.setdefault(names, names), patterns, values)
        return Promise(self, index, f"n{index}", task.name)

    def _bind(self, value: Any, values: list[Any]) -> Pattern:
        """The pattern of an argument (promises may sit inside lists, tuples and dicts);
        its values are appended to `values`."""
        if isinstance(value, Promise):
            if value._compiler is not self:
                raise PromiseUsageError(
                    f"dynamic workflow {self.workflow.name!r}: a task call was given a promise "
                    f"of {value._task} (node {value._node}) from another compilation (of "
                    f"{value._workflow!r}); a promise is only valid in the body run that made it.",
                    workflow=self.workflow.name,
                    node=value._node,
                )
            values.append(value._index)
            return "ref"
        mark = len(values)
        if type(value) in (list, tuple):
            items = tuple(self._bind(v, values) for v in value)
            if any(item != "lit" for item in items):
                return ("seq", type(value), items)
        elif type(value) is dict:
            patterns = []
            for k, v in value.items():
                if isinstance(k, Promise):
                    k._misuse("using as a dict key")
                values.append(k)
                patterns.append(self._bind(v, values))
            if any(p != "lit" for p in patterns):
                return ("map", dict, tuple(patterns))
        del values[mark:]  # no promise inside: the whole value is one literal
        values.append(value)
        return "lit"

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
        values: list[Any] = []
        pattern = self._bind(output, values)
        return WorkflowSpec._compiled(
            self.workflow.name, version, self.builder, (pattern, *values), ids=None
        )


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
        from .catalog import Key  # the catalog loads with the first run

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


def _ref(task: Task[..., Any]) -> TaskRef:
    """How a spec names a task: identity, cache version ("" when uncached), signature."""
    version = task.cache_version if task.cache is not None else ""
    return task.name, version, task.signature_token


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
        match = next((t for t in defined if _ref(t) == ref), None)
        if match is None:
            if not defined:
                return f"calls task {name!r}, which is not defined in this process"
            now = _ref(defined[0])
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
