"""The run context: how a task call finds the run it belongs to.

`fl.run` sets `current_runner` for the duration of a run; a task called while
it is unset is a plain function call. Tasks depend only on the small `Runner`
interface below, never on the engine itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._task import Task

__all__ = ["Runner", "current_runner"]


class Runner(Protocol):
    def call(self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A task called as `t(...)`: an awaitable on the event loop, else the result."""

    def call_async(
        self, task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coroutine[Any, Any, Any]:
        """A task called as `t.aio(...)`: always an awaitable."""

    def block_on(self, aw: Awaitable[Any]) -> Any:
        """Await `aw` on the run's event loop from another thread, and wait for it."""

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the run's event loop thread."""


current_runner: ContextVar[Runner | None] = ContextVar("flytelite_runner", default=None)
