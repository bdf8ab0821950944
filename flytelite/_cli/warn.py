"""Warnings on the command line: one line each, without the echoed source line.

flytelite's own warnings (`CatalogWarning`, `WorkflowWarning`, ...) are about the
run, not about a line of code, so they read `flytelite: warning: CatalogWarning:
...`; other warnings keep their location, `flow.py:12: UserWarning: ...`.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["format_warning", "one_line_warnings"]


def format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int
) -> str:
    """The one line (with its newline) a warning prints as."""
    text = " ".join(str(message).split())
    if category.__module__.partition(".")[0] == "flytelite":
        return f"flytelite: warning: {category.__name__}: {text}\n"
    return f"{filename}:{lineno}: {category.__name__}: {text}\n"


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: IO[str] | None = None,
    line: str | None = None,
) -> None:
    stream = file or sys.stderr
    with contextlib.suppress(OSError, ValueError):  # a closed stream: drop it, like warnings does
        stream.write(format_warning(message, category, filename, lineno))


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show warnings as one line each while inside (the filters are left as they are)."""
    saved: Any = warnings.showwarning
    warnings.showwarning = _show
    try:
        yield
    finally:
        warnings.showwarning = saved
