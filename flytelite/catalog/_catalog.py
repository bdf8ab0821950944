"""The blocking catalog client protocol and its implementation over object stores."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._cache import CacheStatus
from ._entry import Entry, EntryProblem, decode_entry, dump_outputs, encode_entry, load_outputs
from ._key import Key
from ._store import Store, open_store, safe_name

__all__ = ["CatalogClient", "FsspecCatalog", "default_cache_url"]

LAYOUT = "v1"


@runtime_checkable
class CatalogClient(Protocol):
    """Blocking access to cache entries; every method may do I/O."""

    def get(self, key: Key) -> Entry | None:
        """The valid entry for `key` with its outputs loaded, or `None` (a miss)."""

    def put(
        self,
        key: Key,
        outputs: Any,
        *,
        producer: str = "",
        overwrite: bool = False,
        max_age: float | None = None,
    ) -> CacheStatus:
        """Store `outputs` under `key`.

        Without `overwrite`, a valid entry already at the key is kept (the first
        writer wins); a damaged entry, or one older than `max_age` seconds, is
        replaced.
        """


class FsspecCatalog:
    """A catalog in a folder or any fsspec URL: one object per entry.

    Args:
        url: A local path, `file://` URL, or any fsspec URL (`s3://bucket/cache`).
        storage_options: Passed to fsspec (credentials, `endpoint_url`, ...).
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.store: Store = open_store(url, storage_options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def entry_path(self, key: Key) -> str:
        return f"{LAYOUT}/{safe_name(key.identifier)}/{key.digest}"

    def read(self, key: Key) -> Entry | EntryProblem | None:
        """The checked entry (outputs not loaded), the problem with it, or `None`."""
        data = self.store.read(self.entry_path(key))
        if data is None:
            return None
        try:
            return decode_entry(data, key=key.digest)
        except EntryProblem as problem:
            return problem

    def get(self, key: Key) -> Entry | None:
        found = self.read(key)
        if not isinstance(found, Entry):
            return None
        try:
            return load_outputs(found)
        except EntryProblem:
            return None

    def put(
        self,
        key: Key,
        outputs: Any,
        *,
        producer: str = "",
        overwrite: bool = False,
        max_age: float | None = None,
    ) -> CacheStatus:
        parts = encode_entry(
            key=key.digest,
            task=key.identifier,
            cache_version=key.cache_version,
            producer=producer,
            payload=dump_outputs(outputs),
        )
        path = self.entry_path(key)
        if self.store.write(path, parts, exclusive=not overwrite):
            return CacheStatus.POPULATED
        existing = self.read(key)
        if isinstance(existing, Entry) and (
            max_age is None or time.time() - existing.created_at <= max_age
        ):
            return CacheStatus.POPULATED  # another writer committed a valid entry first
        self.store.write(path, parts, exclusive=False)
        return CacheStatus.POPULATED


def default_cache_url() -> str:
    """`FLYTELITE_CACHE_URL`, else the per-user cache folder of this platform."""
    url = os.environ.get("FLYTELITE_CACHE_URL")
    if url:
        return url
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(base / "flytelite")
