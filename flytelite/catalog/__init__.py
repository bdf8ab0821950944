"""The cache catalog: keys, entries, the clients that store them, and reservations.

Two layers, as in Flyte's backend: `CatalogClient` is the blocking protocol,
implemented by `FsspecCatalog` over a local folder or any fsspec URL;
`AsyncCatalogClient` puts reader and writer work queues in front of one, so a
run's lookups and writes overlap with everything else it does. `prune` and `gc`
keep a cache in bounds (least recently used first). The catalog
imports flytelite's hashing and errors only, never the task or engine modules.
"""

from ._async import AsyncCatalogClient as AsyncCatalogClient
from ._async import CatalogConfig as CatalogConfig
from ._breaker import BreakerConfig as BreakerConfig
from ._catalog import CatalogClient as CatalogClient
from ._catalog import FsspecCatalog as FsspecCatalog
from ._catalog import StoredEntry as StoredEntry
from ._catalog import default_cache_url as default_cache_url
from ._entry import Entry as Entry
from ._entry import EntryProblem as EntryProblem
from ._explain import ExplainingClient as ExplainingClient
from ._index import IndexRecord as IndexRecord
from ._key import Key as Key
from ._messages import DownloadFuture as DownloadFuture
from ._messages import DownloadRequest as DownloadRequest
from ._messages import DownloadResponse as DownloadResponse
from ._messages import DownloadResult as DownloadResult
from ._messages import ResponseStatus as ResponseStatus
from ._messages import UploadFuture as UploadFuture
from ._messages import UploadRequest as UploadRequest
from ._messages import UploadResponse as UploadResponse
from ._messages import UploadResult as UploadResult
from ._prune import GcResult as GcResult
from ._prune import PrunePlan as PrunePlan
from ._prune import gc as gc
from ._prune import last_used as last_used
from ._prune import parse_size as parse_size
from ._prune import plan_prune as plan_prune
from ._prune import prune as prune
from ._queue import QueueConfig as QueueConfig
from ._reasons import MissKind as MissKind
from ._reasons import MissReason as MissReason
from ._reservation import Reservation as Reservation
from ._reservation import ReservationStatus as ReservationStatus

__all__ = [
    "AsyncCatalogClient",
    "BreakerConfig",
    "CatalogClient",
    "CatalogConfig",
    "DownloadFuture",
    "DownloadRequest",
    "DownloadResponse",
    "DownloadResult",
    "Entry",
    "EntryProblem",
    "ExplainingClient",
    "FsspecCatalog",
    "GcResult",
    "IndexRecord",
    "Key",
    "MissKind",
    "MissReason",
    "PrunePlan",
    "QueueConfig",
    "Reservation",
    "ReservationStatus",
    "ResponseStatus",
    "StoredEntry",
    "UploadFuture",
    "UploadRequest",
    "UploadResponse",
    "UploadResult",
    "default_cache_url",
    "gc",
    "last_used",
    "parse_size",
    "plan_prune",
    "prune",
]

for _name in __all__:
    globals()[_name].__module__ = __name__  # classes and functions alike
del _name
