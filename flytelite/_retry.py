"""The backoff schedule shared by every retry loop (engine, connectors, catalog queue).

It imports nothing of flytelite, so that the catalog can use it without the engine.
"""

from __future__ import annotations

__all__ = ["backoff"]


def backoff(retry: int, *, base: float, cap: float = float("inf")) -> float:
    """The seconds to wait before retry number `retry` (0 for the first): `base`,
    doubled for each retry after it, at most `cap`."""
    delay: float = base * 2**retry
    return min(delay, cap)
