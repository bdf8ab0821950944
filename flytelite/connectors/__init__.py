"""Async web-API connectors: tasks that run as jobs on a remote service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._cache import Cache
from .._task import Task

__all__ = ["make_connector_task"]


def make_connector_task(
    env: str,
    func: Callable[..., Any],
    connector: Any,
    cache: Cache | None,
    retries: int,
    timeout: float | None,
) -> Task[..., Any]:
    """A task whose calls run as jobs through `connector`."""
    raise NotImplementedError("connector tasks are not available yet")
