"""The cache catalog: keys, entries, the clients that store them, and reservations.

Two layers, as in Flyte's backend: `CatalogClient` is the blocking protocol,
implemented by `FsspecCatalog` over a local folder or any fsspec URL;
`AsyncCatalogClient` puts reader and writer work queues in front of one, so a
run's lookups and writes overlap with everything else it does. The catalog
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
    "FsspecCatalog",
    "Key",
    "MissKind",
    "MissReason",
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
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
