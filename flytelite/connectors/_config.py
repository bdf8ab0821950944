"""How a connector may use its service: quotas, rate limits, polling, failure tolerance.

The defaults are Flyte's web-API plugin defaults (read 30 qps, burst 300; write
20 qps, burst 200; five system failures), except polling, which is tuned for
jobs that a laptop waits on: every second, by ten workers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["ConnectorConfig", "RateLimit"]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: on average `qps` requests a second, up to `burst` at once.

    A bucket starts full, so the first `burst` requests go at once; after that
    one request goes every `1 / qps` seconds. Over any window of `t` seconds at
    most `burst + qps * t` requests are made.

    Args:
        qps: Requests per second, on average (`math.inf`: no limit).
        burst: How many requests may go at once after a quiet period.
    """

    qps: float
    burst: int

    def __post_init__(self) -> None:
        if not _is_number(self.qps) or not self.qps > 0:
            raise ValueError(f"RateLimit(qps={self.qps!r}): qps must be a number > 0.")
        if not _is_count(self.burst) or self.burst < 1:
            raise ValueError(f"RateLimit(burst={self.burst!r}): burst must be an int >= 1.")


@dataclass(frozen=True)
class ConnectorConfig:
    """How a connector's calls use the service.

    Rate limits and quotas are shared by every call of the connector that runs
    at the same time in a run (one state per connector object and event loop).

    Args:
        resource_quotas: At most `n` jobs at once per quota namespace
            (`{"warehouse": 4}`); a call's namespace comes from
            `AsyncConnector.resource_requirements`. Calls over quota wait in
            `Phase.WAITING_FOR_RESOURCES`.
        read_rate_limit: Limits the status checks (`get`).
        write_rate_limit: Limits `create` and `delete`.
        poll_interval_s: How often the background poller checks every job in flight.
        poll_workers: How many status checks may be in flight at once.
        max_system_failures: How many failed status checks a call tolerates;
            one more fails it (its job is deleted) with the last error.
        cleanup_timeout_s: How long a cancelled or timed-out call waits for a
            `create` in flight to return, and for `delete` to succeed, so that
            no job is left running on the service.
    """

    resource_quotas: Mapping[str, int] = field(default_factory=dict)
    read_rate_limit: RateLimit = RateLimit(30, 300)
    write_rate_limit: RateLimit = RateLimit(20, 200)
    poll_interval_s: float = 1.0
    poll_workers: int = 10
    max_system_failures: int = 5
    cleanup_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        quotas: Any = self.resource_quotas
        if not isinstance(quotas, Mapping):
            raise TypeError(
                f"ConnectorConfig(resource_quotas={quotas!r}): give a dict of "
                f"namespace -> jobs at once, e.g. {{'default': 4}}."
            )
        for namespace, n in quotas.items():
            if not isinstance(namespace, str) or not namespace:
                raise ValueError(
                    f"ConnectorConfig: quota namespace {namespace!r} must be a non-empty str."
                )
            if not _is_count(n) or n < 1:
                raise ValueError(
                    f"ConnectorConfig: the quota of namespace {namespace!r} is {n!r}; "
                    f"it must be an int >= 1."
                )
        object.__setattr__(self, "resource_quotas", MappingProxyType(dict(quotas)))
        for name in ("read_rate_limit", "write_rate_limit"):
            value = getattr(self, name)
            if not isinstance(value, RateLimit):
                raise TypeError(f"ConnectorConfig({name}={value!r}): give a RateLimit(qps, burst).")
        for name in ("poll_interval_s", "cleanup_timeout_s"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < math.inf:
                raise ValueError(
                    f"ConnectorConfig({name}={value!r}): give a number of seconds > 0."
                )
        if not _is_count(self.poll_workers) or self.poll_workers < 1:
            raise ValueError(
                f"ConnectorConfig(poll_workers={self.poll_workers!r}): give an int >= 1."
            )
        if not _is_count(self.max_system_failures) or self.max_system_failures < 0:
            raise ValueError(
                f"ConnectorConfig(max_system_failures={self.max_system_failures!r}): "
                f"give an int >= 0."
            )
