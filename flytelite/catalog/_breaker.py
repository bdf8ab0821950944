"""A circuit breaker for one store: a dead store costs a run seconds, not minutes.

Every store call of a run's catalog client reports its outcome here. After
`threshold` failures in a row the breaker opens: calls fail at once with
`StoreUnavailableError` (reported as `LOOKUP_FAILURE` / `PUT_FAILURE`) and
retries stop. After `cool_down_s` one call is let through as a probe; if it
succeeds the breaker closes, if it fails the breaker stays open for another
cool-down. One success anywhere resets the count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .._errors import StoreError, StoreUnavailableError

__all__ = ["Breaker", "BreakerConfig"]


@dataclass(frozen=True)
class BreakerConfig:
    """When a run stops contacting a failing store, and for how long.

    Args:
        threshold: Failures in a row (after the store's own retries) that open
            the breaker.
        cool_down_s: Seconds without contacting the store before one probe.
    """

    threshold: int = 3
    cool_down_s: float = 5.0

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise ValueError(f"BreakerConfig(threshold={t!r}): give an int >= 1.")
        c = self.cool_down_s
        if isinstance(c, bool) or not isinstance(c, (int, float)) or c < 0:
            raise ValueError(f"BreakerConfig(cool_down_s={c!r}): give seconds >= 0.")


class Breaker:
    """Thread-safe: worker threads of both queues share one breaker per store."""

    def __init__(self, where: str, config: BreakerConfig | None = None) -> None:
        self.where = where
        self.config = config or BreakerConfig()
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until: float | None = None
        self._probing = False
        self._last_error: BaseException | None = None
        self.opened = 0
        """How many times the breaker opened (a probe that failed counts again)."""
        self.refused = 0
        """Calls failed at once because the breaker was open."""

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def check(self) -> None:
        """Raise `StoreUnavailableError` unless the store may be contacted now."""
        with self._lock:
            if self._open_until is None:
                return
            if not self._probing and time.monotonic() >= self._open_until:
                self._probing = True  # this caller is the probe; others keep failing fast
                return
            self.refused += 1
            error = self._last_error
        if isinstance(error, StoreError) and error.__cause__ is not None:
            error = error.__cause__  # the file system's own exception
        raise StoreUnavailableError(
            f"{self.config.threshold} failures in a row (last: {type(error).__name__}: "
            f"{error}); the store is not contacted for {self.config.cool_down_s:g} s at a time"
        )

    def succeeded(self) -> None:
        if not self._failures and self._open_until is None:
            return  # the common case, on every store call: nothing to reset
        with self._lock:
            self._failures = 0
            self._open_until = None
            self._probing = False

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._last_error = error
            self._failures += 1
            if self._probing or (
                self._open_until is None and self._failures >= self.config.threshold
            ):
                self._probing = False
                self._open_until = time.monotonic() + self.config.cool_down_s
                self.opened += 1
