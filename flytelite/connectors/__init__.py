"""Async web-API connectors: task calls that run as jobs on a remote service.

After Flyte's web-API async plugin. A user subclasses `AsyncConnector`
(`create`, `get`, `status`, `delete`) and declares a task on a body-less
`async def` with `@env.task(connector=...)`; each call then allocates a quota
token, creates a job, is polled by a shared background poller until the job is
over, and is cached, retried and reported like any task.

Modules, each importing only those above it:

    _config, _phase, _errors    settings, phases, exceptions
    _connector                  `AsyncConnector` and the context it gets
    _ratelimit, _quota          token buckets, allocation tokens per namespace
    _poller                     the shared background poller
    _runtime                    a connector's shared state per event loop
    _attempt                    one attempt of a call: token, create, poll, cleanup
    _task                       `ConnectorTask`, the task kind the engine executes
"""

from ._config import ConnectorConfig as ConnectorConfig
from ._config import RateLimit as RateLimit
from ._connector import AsyncConnector as AsyncConnector
from ._connector import ConnectorContext as ConnectorContext
from ._errors import ConnectorContractError as ConnectorContractError
from ._errors import ConnectorError as ConnectorError
from ._errors import ConnectorSystemError as ConnectorSystemError
from ._errors import ConnectorWarning as ConnectorWarning
from ._errors import JobFailedError as JobFailedError
from ._errors import JobPermanentlyFailedError as JobPermanentlyFailedError
from ._phase import Phase as Phase
from ._phase import PhaseInfo as PhaseInfo
from ._task import ConnectorTask as ConnectorTask

__all__ = [
    "AsyncConnector",
    "ConnectorConfig",
    "ConnectorContext",
    "ConnectorContractError",
    "ConnectorError",
    "ConnectorSystemError",
    "ConnectorTask",
    "ConnectorWarning",
    "JobFailedError",
    "JobPermanentlyFailedError",
    "Phase",
    "PhaseInfo",
    "RateLimit",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
