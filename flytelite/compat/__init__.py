"""Run Flyte 2 programs unchanged on flytelite."""

from __future__ import annotations

__all__ = ["install"]


def install() -> None:
    """Make `import flyte` resolve to flytelite's Flyte 2 surface in this process."""
    raise NotImplementedError("the Flyte 2 surface is not available yet")
