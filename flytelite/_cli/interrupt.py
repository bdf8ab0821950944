"""A run that Ctrl-C stops cleanly, and a second Ctrl-C stops at once.

The first SIGINT cancels the run: async bodies are cancelled, sync bodies that are
running are waited for (a thread cannot be stopped), outputs of bodies that
returned are written, reservations are released, and the run ends with
`fl.RunCancelled` and its report. A second SIGINT does not wait for any of that:
the process exits with status 130 at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, TypeVar

__all__ = ["EXIT_INTERRUPTED", "run_interruptibly"]

T = TypeVar("T")

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports a process ended by Ctrl-C


class _Interrupts:
    def __init__(self) -> None:
        self.count = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1 and self.loop is not None and self.task is not None:
            print(
                "flytelite: interrupted; stopping the run and keeping what finished "
                "(Ctrl-C again to exit at once)",
                file=sys.stderr,
                flush=True,
            )
            self.loop.call_soon_threadsafe(self.task.cancel)
            return
        if self.count == 1:  # the run has not started: nothing to keep
            raise KeyboardInterrupt
        print("flytelite: interrupted again: exiting now", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)


def run_interruptibly(start: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(start())`, with Ctrl-C handled as above (where signals can be handled:
    in the main thread).

    Raises:
        RunCancelled: (or another `CancelledError`) the first Ctrl-C cancelled the run.
        KeyboardInterrupt: Ctrl-C came before the run started.
    """
    interrupts = _Interrupts()

    async def main() -> T:
        interrupts.loop = asyncio.get_running_loop()
        interrupts.task = asyncio.current_task()
        return await start()

    try:
        previous = signal.signal(signal.SIGINT, interrupts.handle)
    except ValueError:  # not the main thread: signals are not ours to handle
        return asyncio.run(main())
    try:
        return asyncio.run(main())
    finally:
        signal.signal(signal.SIGINT, previous)
