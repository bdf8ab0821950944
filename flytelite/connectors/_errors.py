"""Exceptions of connector calls, under flytelite's root::

    FlyteliteError
    └── ConnectorError                       a connector call failed
        ├── JobFailedError                   the job ended in RETRYABLE_FAILURE (retried)
        │   └── JobPermanentlyFailedError    the job ended in PERMANENT_FAILURE
        │                                    (also a NonRetryableError: never retried)
        ├── ConnectorSystemError             status checks failed past max_system_failures
        └── ConnectorContractError           the connector broke its contract
                                             (also a NonRetryableError)

An exception raised by the connector's own `create` is not wrapped: the call
fails with it (and is retried per the task's `retries`), as a task body would.
"""

from __future__ import annotations

from flytelite import FlyteliteError, NonRetryableError

__all__ = [
    "ConnectorContractError",
    "ConnectorError",
    "ConnectorSystemError",
    "ConnectorWarning",
    "JobFailedError",
    "JobPermanentlyFailedError",
]


class ConnectorError(FlyteliteError):
    """Raised when a connector call fails on flytelite's side of the contract.

    `.task` is the task's identity and `.execution_name` the call's job name.
    """

    def __init__(self, message: str, *, task: str, execution_name: str) -> None:
        super().__init__(message)
        self.task = task
        self.execution_name = execution_name


class JobFailedError(ConnectorError):
    """Raised when a job ends in `Phase.RETRYABLE_FAILURE`; the task's `retries` apply.

    `.reason` is what `status` said about the failure (`PhaseInfo.message`).
    """

    def __init__(self, message: str, *, task: str, execution_name: str, reason: str) -> None:
        super().__init__(message, task=task, execution_name=execution_name)
        self.reason = reason


class JobPermanentlyFailedError(JobFailedError, NonRetryableError):
    """Raised when a job ends in `Phase.PERMANENT_FAILURE`; it is never retried."""


class ConnectorSystemError(ConnectorError):
    """Raised when a job's status checks (`get`) failed more than `max_system_failures` times.

    `__cause__` is the last error of `get`; `.failures` counts them.
    """

    def __init__(self, message: str, *, task: str, execution_name: str, failures: int) -> None:
        super().__init__(message, task=task, execution_name=execution_name)
        self.failures = failures


class ConnectorContractError(ConnectorError, NonRetryableError):
    """Raised when a connector returns what its contract rules out (a wrong type, an
    unknown quota namespace); retrying cannot help, so it never is."""


class ConnectorWarning(UserWarning):
    """A job could not be deleted after a cancelled or failed call; it may still be running."""
