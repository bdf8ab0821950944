"""A connector's shared state in one event loop: rate limits, quotas, poller, calls.

Every call of a connector that runs in the same event loop (one run, or
several runs of one program) shares this state, so limits hold across all of
them. It lives on the connector object, keyed by the loop, and holds no task
or future once its calls are over.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import weakref
from dataclasses import dataclass
from typing import Any

from ._config import ConnectorConfig
from ._connector import AsyncConnector
from ._phase import Phase
from ._poller import Poller
from ._quota import Quota
from ._ratelimit import TokenBucket

__all__ = ["Call", "Runtime", "execution_name", "runtime_for"]

_ATTRIBUTE = "_flytelite_runtimes"
_numbers = itertools.count(1)


def execution_name(run_id: str, task: str) -> str:
    """A new job name for a call of `task`: unique in the process, and across
    processes through the run id; lower-case letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{run_id}-{task}".lower()).strip("-")
    return f"{slug}-{next(_numbers)}"


@dataclass(eq=False)
class Call:
    """One connector call, across its attempts."""

    task: str
    execution_name: str
    phase: Phase = Phase.NOT_STARTED
    attempts: int = 0


class Runtime:
    """The shared state of one connector in one event loop."""

    def __init__(self, connector: AsyncConnector, config: ConnectorConfig) -> None:
        self.connector = connector
        self.config = config
        self.read = TokenBucket(config.read_rate_limit)
        self.write = TokenBucket(config.write_rate_limit)
        self.quota = Quota(config.resource_quotas)
        self.poller = Poller(connector, config, self.read)
        self.calls: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
        """Calls by the engine's report row, which every attempt of a call shares."""
        self.active: dict[str, Call] = {}
        """Calls with an attempt under way, by execution name."""

    def call_for(self, row: Any, task: str, run_id: str) -> Call:
        """The call whose report row is `row`: new on its first attempt."""
        call = self.calls.get(row)
        if call is None:
            call = self.calls[row] = Call(task, execution_name(run_id, task))
        return call


def runtime_for(connector: AsyncConnector, *, create: bool = True) -> Runtime | None:
    """The connector's state in the running event loop (made on first use)."""
    loop = asyncio.get_running_loop()
    # On the instance, not in a global table: a connector may be unhashable (a dataclass).
    runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] | None
    runtimes = vars(connector).get(_ATTRIBUTE)
    if runtimes is None:
        if not create:
            return None
        runtimes = weakref.WeakKeyDictionary()
        vars(connector)[_ATTRIBUTE] = runtimes  # past __setattr__: frozen dataclasses too
    runtime = runtimes.get(loop)
    if runtime is None and create:
        runtime = runtimes[loop] = Runtime(connector, connector.config)
    return runtime
