"""`fl.RunCancelled`: a cancelled run, with the report of what it did before.

It is an `asyncio.CancelledError`, so cancellation propagates as asyncio expects;
the module loads with the first run (or the first use of the name), not with
`import flytelite`, which does not import asyncio.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._report import Report

__all__ = ["RunCancelled"]


class RunCancelled(asyncio.CancelledError):
    """Raised by `fl.run.aio` when its run is cancelled (Ctrl-C in `flytelite run`, a
    timeout around the run, a cancelled task group).

    By then every body that had returned has had its outputs written to the cache,
    sync bodies still running have been waited for, and reservations are released.

    Attributes:
        report: The rows of the calls so far; unfinished calls have status `"cancelled"`.
        root: The identity of the run's root task.
        run_id: The run's id.
    """

    def __init__(self, message: str, *, report: Report, root: str, run_id: str) -> None:
        super().__init__(message)
        self.report = report
        self.root = root
        self.run_id = run_id


RunCancelled.__module__ = "flytelite"  # it is `fl.RunCancelled`
