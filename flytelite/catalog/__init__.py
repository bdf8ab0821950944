"""The cache catalog: keys, entries, and the clients that store them.

`CatalogClient` is the blocking protocol; `FsspecCatalog` implements it over a
local folder or any fsspec URL. The catalog imports flytelite's hashing and
errors only, never the task or engine modules.
"""

from ._catalog import CatalogClient as CatalogClient
from ._catalog import FsspecCatalog as FsspecCatalog
from ._catalog import default_cache_url as default_cache_url
from ._entry import Entry as Entry
from ._key import Key as Key

__all__ = ["CatalogClient", "Entry", "FsspecCatalog", "Key", "default_cache_url"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
