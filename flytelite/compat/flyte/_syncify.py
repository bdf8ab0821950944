"""Functions that are called plainly from sync code and as `.aio(...)` from async code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar

__all__ = ["Dual"]

P = ParamSpec("P")
R = TypeVar("R")


class Dual(Generic[P, R]):
    """`f(...)` blocks and returns; `await f.aio(...)` is the same for async code."""

    def __init__(
        self, sync: Callable[P, R], aio: Callable[P, Awaitable[R]], *, name: str, doc: str
    ) -> None:
        self._sync = sync
        self._aio = aio
        self.__name__ = self.__qualname__ = name
        self.__doc__ = doc

    @classmethod
    def plain(cls, sync: Callable[P, R], *, name: str, doc: str) -> Dual[P, R]:
        """A `Dual` whose `.aio` form runs `sync` as it is (it does not block)."""

        async def aio(*args: P.args, **kwargs: P.kwargs) -> R:
            return sync(*args, **kwargs)

        return cls(sync, aio, name=name, doc=doc)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._sync(*args, **kwargs)

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        """The awaitable form."""
        return self._aio(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<function {self.__name__} (and .aio)>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        # Bound as a method: `run.outputs()` and `await run.outputs.aio()`.
        sync, aio = self._sync, self._aio
        return Dual(
            lambda *a, **k: sync(obj, *a, **k),
            lambda *a, **k: aio(obj, *a, **k),
            name=self.__name__,
            doc=self.__doc__ or "",
        )
