"""Say something once per process on stderr, and raise for what cannot be honoured.

Flyte 2 programs set options that mean nothing on one machine (images,
resources, secrets, queues). The surface accepts them, records them, and says
so once per option, on stderr, so that stdout stays the program's own.
"""

from __future__ import annotations

import sys
import threading

from flytelite import FlyteliteError

__all__ = ["UnsupportedFeatureError", "ignored", "notice", "reset_notices"]

_said: set[str] = set()
_lock = threading.Lock()


class UnsupportedFeatureError(FlyteliteError, NotImplementedError):
    """Raised when a Flyte 2 program uses something flytelite cannot do locally.

    `.feature` names it, e.g. `"flyte.deploy"`.
    """

    def __init__(self, feature: str, why: str) -> None:
        super().__init__(
            f"{feature} is not supported by flytelite's Flyte 2 surface: {why} "
            f"Run this program with the real `flyte` package for that."
        )
        self.feature = feature


def notice(key: str, message: str) -> None:
    """Write `flytelite: {message}` to stderr, the first time `key` is seen in this process."""
    with _lock:
        if key in _said:
            return
        _said.add(key)
    sys.stderr.write(f"flytelite: {message}\n")
    sys.stderr.flush()


def ignored(where: str, option: str, detail: str = "has no local effect") -> None:
    """Say once that `option` (given to `where`) is recorded and ignored."""
    notice(f"ignored:{option}", f"{where}({option}=...) {detail}; recorded and ignored.")


def reset_notices() -> None:
    """Forget what was said (tests use this to see a notice again)."""
    with _lock:
        _said.clear()
