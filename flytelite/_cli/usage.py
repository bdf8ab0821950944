"""The error for a mistake on the command line."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A mistake on the command line: reported in one line, exit status 2."""
