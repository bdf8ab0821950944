"""The workflow spec: what a dynamic body compiles to, and the form it is stored in.

A spec holds the task calls of a workflow as nodes (each task named by identity,
cache version and signature, its inputs bound by parameter name) and the binding
of its output. It keeps its nodes in a compact form of plain tuples (see
`WorkflowSpec`), which is what is stored and what runs; `Node` objects are built
when `.nodes` is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flytelite import Task

__all__ = [
    "Binding",
    "Builder",
    "Constant",
    "Many",
    "MappingOf",
    "Node",
    "Pattern",
    "Ref",
    "TaskRef",
    "WorkflowSpec",
    "task_ref",
]


# -- bindings: how a node's input is obtained ------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """The output of another node."""

    node: str


@dataclass(frozen=True)
class Constant:
    """A value fixed at compile time."""

    value: Any


@dataclass(frozen=True)
class Many:
    """A list or tuple with promises inside."""

    kind: type
    items: tuple[Binding, ...]


@dataclass(frozen=True)
class MappingOf:
    """A dict with promises among its values."""

    kind: type
    items: tuple[tuple[Any, Binding], ...]


Binding = Ref | Constant | Many | MappingOf


def _refs(binding: Binding) -> list[str]:
    if isinstance(binding, Ref):
        return [binding.node]
    if isinstance(binding, Many):
        return [r for item in binding.items for r in _refs(item)]
    if isinstance(binding, MappingOf):
        return [r for _, item in binding.items for r in _refs(item)]
    return []


def _show(binding: Binding) -> str:
    if isinstance(binding, Ref):
        return binding.node
    if isinstance(binding, Constant):
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


class Builder:
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
    if isinstance(binding, Constant):
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
        return Constant(next(values))
    if pattern == "ref":
        return Ref(ids[next(values)])
    tag, kind, patterns = pattern
    if tag == "seq":
        return Many(kind, tuple(_binding(p, values, ids) for p in patterns))
    return MappingOf(kind, tuple((next(values), _binding(p, values, ids)) for p in patterns))


def _collect_refs(pattern: Pattern, values: Iterator[Any], into: set[int]) -> None:
    """Add the node indexes a pattern refers to (consuming its values) to `into`."""
    if pattern == "lit":
        next(values)
    elif pattern == "ref":
        into.add(next(values))
    else:
        tag, _, patterns = pattern
        for p in patterns:
            if tag == "map":
                next(values)
            _collect_refs(p, values, into)


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
        output: Binding = Constant(None),
    ) -> None:
        nodes = tuple(nodes)
        ids = tuple(node.id for node in nodes)
        index = {node_id: i for i, node_id in enumerate(ids)}
        if len(index) != len(ids):
            raise ValueError("the nodes of a workflow spec need distinct ids")
        builder = Builder()
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
        builder: Builder,
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
        builder: Builder,
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

    def edges(self) -> tuple[tuple[str, str], ...]:
        """The DAG's edges, `(upstream node id, node id)`, read from the compact form."""
        ids = self._node_ids()
        out: list[tuple[str, str]] = []
        for i, (shape, *values) in enumerate(self._calls):
            patterns = self._shapes[shape][2]
            if all(p == "lit" for p in patterns):
                continue
            holes = iter(values)
            upstream: set[int] = set()
            for pattern in patterns:
                _collect_refs(pattern, holes, upstream)
            out.extend((ids[u], ids[i]) for u in sorted(upstream))
        return tuple(out)

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


def task_ref(task: Task[..., Any]) -> TaskRef:
    """How a spec names a task: identity, cache version ("" when uncached), signature."""
    version = task.cache_version if task.cache is not None else ""
    return task.name, version, task.signature_token
