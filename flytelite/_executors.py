"""Executors: where task bodies run when not in the run's worker threads."""

from __future__ import annotations

from typing import Any

from ._context import Executor

__all__ = ["resolve"]


def resolve(spec: Any) -> Executor | None:
    """The executor for a setting: `None` for `"thread"` (the run's worker threads)."""
    if spec is None or spec == "thread":
        return None
    if spec == "process":
        raise NotImplementedError("the process executor is not available yet")
    executor: Executor = spec
    return executor
