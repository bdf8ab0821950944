"""flytelite: async workflows with a content-addressed cache catalog.

Layers, each importing only those above it:

    _errors, _cache          exceptions, cache policy and statuses
    _hashing                 canonical blake3 hashing of inputs
    _statcache, _files       `fl.File` / `fl.Dir`, keyed by content (digests memoised by stat)
    catalog/                 keys, entries, stores (local folder or any fsspec URL)
    _task, _context          the task model, the run context
    _environment             `TaskEnvironment`: the decorators and their options
    _keys, _engine, _report  cache keys, and what happens to each call inside a run
    _memo                    the run's view of the catalog
    dynamic/                 dynamic workflows: compiled specs, cached, run as DAGs
    executors/               process and Dask executors: bodies in other processes
    _run, _map               `fl.run` and `fl.map`, the public entry points
"""

import typing as _typing

from ._cache import Cache as Cache
from ._cache import CacheStatus as CacheStatus
from ._environment import TaskEnvironment as TaskEnvironment
from ._errors import CatalogNotStartedError as CatalogNotStartedError
from ._errors import CatalogWarning as CatalogWarning
from ._errors import ExecutorError as ExecutorError
from ._errors import FingerprintWarning as FingerprintWarning
from ._errors import FlyteliteError as FlyteliteError
from ._errors import InputError as InputError
from ._errors import MissingExtraError as MissingExtraError
from ._errors import NonRetryableError as NonRetryableError
from ._errors import PromiseUsageError as PromiseUsageError
from ._errors import RemoteTaskError as RemoteTaskError
from ._errors import RunContextError as RunContextError
from ._errors import RunContextWarning as RunContextWarning
from ._errors import SerializationError as SerializationError
from ._errors import StoreError as StoreError
from ._errors import StoreUnavailableError as StoreUnavailableError
from ._errors import TaskDefinitionError as TaskDefinitionError
from ._errors import TaskFailedError as TaskFailedError
from ._errors import TaskTimeoutError as TaskTimeoutError
from ._errors import UnhashableInputError as UnhashableInputError
from ._errors import WorkerLostError as WorkerLostError
from ._files import Dir as Dir
from ._files import File as File
from ._hashing import HashMethod as HashMethod
from ._map import map as map
from ._report import Report as Report
from ._report import ReportRow as ReportRow
from ._run import Run as Run
from ._run import RunContext as RunContext
from ._run import run as run
from ._run import with_runcontext as with_runcontext
from ._task import AsyncTask as AsyncTask
from ._task import SyncTask as SyncTask
from ._task import Task as Task
from .dynamic import DynamicTask as DynamicTask
from .dynamic import Promise as Promise
from .dynamic import WorkflowSpec as WorkflowSpec
from .dynamic import WorkflowWarning as WorkflowWarning

if _typing.TYPE_CHECKING:
    from ._cancelled import RunCancelled as RunCancelled
    from .executors._dask import DaskExecutor as DaskExecutor

__version__ = "0.1.0"

__all__ = [
    "AsyncTask",
    "Cache",
    "CacheStatus",
    "CatalogNotStartedError",
    "CatalogWarning",
    "DaskExecutor",
    "Dir",
    "DynamicTask",
    "ExecutorError",
    "File",
    "FingerprintWarning",
    "FlyteliteError",
    "HashMethod",
    "InputError",
    "MissingExtraError",
    "NonRetryableError",
    "Promise",
    "PromiseUsageError",
    "RemoteTaskError",
    "Report",
    "ReportRow",
    "Run",
    "RunCancelled",
    "RunContext",
    "RunContextError",
    "RunContextWarning",
    "SerializationError",
    "StoreError",
    "StoreUnavailableError",
    "SyncTask",
    "Task",
    "TaskDefinitionError",
    "TaskEnvironment",
    "TaskFailedError",
    "TaskTimeoutError",
    "UnhashableInputError",
    "WorkerLostError",
    "WorkflowSpec",
    "WorkflowWarning",
    "__version__",
    "map",
    "run",
    "with_runcontext",
]


_LAZY = {"DaskExecutor": ".executors._dask", "RunCancelled": "._cancelled"}


def __getattr__(name: str) -> _typing.Any:
    # These load on first use, not with `import flytelite`: the executors, and what
    # needs asyncio.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flytelite' has no attribute {name!r}")


for _name in __all__:
    if _name in _LAZY:
        continue
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
