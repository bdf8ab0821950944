"""`flyte.logger` (the `flyte.user` logger) and `flyte.system_logger` (`flyte`).

As in Flyte 2, user logs are shown at INFO and above on stderr, and do not
propagate to the root logger (`USER_LOG_LEVEL` and `LOG_LEVEL` change the
levels). Loggers below `flyte.user` (`logging.getLogger("flyte.user.etl")`)
go through the same handler, which writes to whatever `sys.stderr` is at the
time. The handlers are attached while the surface is installed.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["attach", "detach", "logger", "system_logger"]

_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on the current `sys.stderr` (which tests and tools may swap)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def _level(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if text.isdigit():
        return int(text)
    level = logging.getLevelName(text.upper()) if text else default
    return level if isinstance(level, int) else default


def _logger(name: str, variable: str, default: int) -> logging.Logger:
    log = logging.getLogger(name)
    log.setLevel(_level(variable, default))
    return log


system_logger = _logger("flyte", "LOG_LEVEL", logging.WARNING)
logger = _logger("flyte.user", "USER_LOG_LEVEL", logging.INFO)


def attach() -> None:
    """Give the two loggers their stderr handler (once), and stop them propagating."""
    for log in (system_logger, logger):
        if not any(isinstance(h, _StderrHandler) for h in log.handlers):
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter(_FORMAT))
            log.addHandler(handler)
        log.propagate = False


def detach() -> None:
    """Undo `attach`."""
    for log in (system_logger, logger):
        for handler in [h for h in log.handlers if isinstance(h, _StderrHandler)]:
            log.removeHandler(handler)
        log.propagate = True
