"""The compiler: the runner while a dynamic body runs, turning task calls into nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flytelite import PromiseUsageError

from ..lowlevel import current_runner
from ._promise import Promise
from ._spec import Builder, Pattern, WorkflowSpec, task_ref

if TYPE_CHECKING:
    from flytelite import Task

    from ._task import DynamicTask

__all__ = ["Compiler"]


class Compiler:
    """The runner while a dynamic body compiles: task calls become nodes (in the compact form)."""

    def __init__(self, workflow: DynamicTask[..., Any]) -> None:
        self.workflow = workflow
        self.builder = Builder()
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per distinct names

    def _record(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise:
        inputs = task.bind(args, kwargs)
        names = tuple(inputs)
        values: list[Any] = []
        patterns = tuple(self._bind(value, values) for value in inputs.values())
        index = len(self.builder.calls)
        self.builder.add(
            task_ref(task), task, self._names.setdefault(names, names), patterns, values
        )
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
