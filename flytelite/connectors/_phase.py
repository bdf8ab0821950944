"""Phases of a job, as a connector's `status` reports them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Phase", "PhaseInfo"]


class Phase(enum.Enum):
    """Where a connector call stands, after Flyte's task phases.

    A call is `NOT_STARTED` until it holds a quota token (`WAITING_FOR_RESOURCES`
    meanwhile), then follows what `AsyncConnector.status` reports until one of
    the terminal phases: `SUCCEEDED`, `RETRYABLE_FAILURE`, `PERMANENT_FAILURE`.
    """

    NOT_STARTED = "NOT_STARTED"
    WAITING_FOR_RESOURCES = "WAITING_FOR_RESOURCES"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    RETRYABLE_FAILURE = "RETRYABLE_FAILURE"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"

    @property
    def is_terminal(self) -> bool:
        """Whether the job is over: succeeded or failed."""
        return self in _TERMINAL


_TERMINAL = frozenset({Phase.SUCCEEDED, Phase.RETRYABLE_FAILURE, Phase.PERMANENT_FAILURE})


@dataclass(frozen=True)
class PhaseInfo:
    """A job's phase, as `AsyncConnector.status` reads it from a resource.

    Attributes:
        phase: The job's phase.
        outputs: For `Phase.SUCCEEDED`: the task's return value.
        message: What the service said, e.g. why the job failed; shown in errors.
    """

    phase: Phase
    outputs: Any = None
    message: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.phase, Phase):
            raise TypeError(f"PhaseInfo(phase={self.phase!r}): give a Phase, e.g. Phase.RUNNING.")
