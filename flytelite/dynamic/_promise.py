"""The promise: the future output of a task call while a dynamic body compiles."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from flytelite import PromiseUsageError

if TYPE_CHECKING:
    from ._compiler import Compiler

__all__ = ["Promise"]


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
