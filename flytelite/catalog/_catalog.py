"""The blocking catalog client protocol and its implementation over object stores."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._cache import CacheStatus
from ._entry import (
    HEAD_BYTES,
    Entry,
    EntryProblem,
    decode_entry,
    dump_outputs,
    encode_entry,
    load_outputs,
    read_header,
)
from ._index import IndexRecord, MissIndex, explain_against
from ._key import Key
from ._reservation import Reservation, Reservations
from ._store import Store, open_store, safe_name

__all__ = ["CatalogClient", "FsspecCatalog", "StoredEntry", "default_cache_url"]

LAYOUT = "v1"


@runtime_checkable
class CatalogClient(Protocol):
    """Blocking access to cache entries and reservations; every method may do I/O.

    `AsyncCatalogClient` runs these methods on its worker threads, so an
    implementation (or a subclass of `FsspecCatalog` that adds, say, metrics)
    only has to be thread-safe.
    """

    def get(self, key: Key) -> Entry | None:
        """The valid entry for `key` with its outputs loaded, or `None` (a miss)."""

    def put(
        self, key: Key, outputs: Any, *, producer: str = "", max_age: float | None = None
    ) -> CacheStatus:
        """Create the entry for `key` if there is no valid one.

        The first writer wins: a valid entry already at the key is kept and
        `HIT` is returned; a damaged or refused entry, or one older than
        `max_age` seconds, is replaced. `POPULATED` when this call wrote.
        """

    def update(self, key: Key, outputs: Any, *, producer: str = "") -> CacheStatus:
        """Write the entry for `key`, replacing any entry there (`Cache("override")`)."""

    def get_or_extend_reservation(self, key: Key, owner_id: str, heartbeat_s: float) -> Reservation:
        """Acquire or extend `owner_id`'s reservation of `key`, or report its holder."""

    def release_reservation(self, key: Key, owner_id: str) -> Reservation:
        """Give up `owner_id`'s reservation of `key`."""


@dataclass(frozen=True)
class StoredEntry:
    """An entry as listed in a store, without reading it."""

    task: str
    key: str
    size: int
    mtime: float
    path: str


class FsspecCatalog:
    """A catalog in a folder or any fsspec URL: one object per entry.

    Args:
        url: A local path, `file://` URL, or any fsspec URL (`s3://bucket/cache`).
        storage_options: Passed to fsspec (credentials, `endpoint_url`, ...).
        secret: Sign entries with HMAC-SHA256 and refuse unsigned or wrongly
            signed ones. Default: the `FLYTELITE_CACHE_SECRET` environment variable.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        secret: str | bytes | None = None,
    ) -> None:
        self.url = url
        self.store: Store = open_store(url, storage_options)
        self.reservations = Reservations(self.store)
        self.index = MissIndex(self.store)
        if secret is None:
            secret = os.environ.get("FLYTELITE_CACHE_SECRET") or None
        self._secret = secret.encode() if isinstance(secret, str) else secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def entry_path(self, key: Key) -> str:
        """Where the entry of `key` lives in the store."""
        return f"{LAYOUT}/{safe_name(key.identifier)}/{key.digest}"

    def inspect(self, key: Key) -> Entry | EntryProblem | None:
        """The checked entry (outputs not loaded), the problem with it, or `None`."""
        data = self.store.read(self.entry_path(key))
        if data is None:
            return None
        try:
            return decode_entry(data, key=key.digest, secret=self._secret)
        except EntryProblem as problem:
            return problem

    def get(self, key: Key) -> Entry | None:
        found = self.inspect(key)
        if not isinstance(found, Entry):
            return None
        try:
            return load_outputs(found)
        except EntryProblem:
            return None

    def _encode(self, key: Key, payload: bytes, producer: str) -> list[bytes]:
        return encode_entry(
            key=key.digest,
            task=key.identifier,
            cache_version=key.cache_version,
            producer=producer,
            payload=payload,
            secret=self._secret,
        )

    def put(
        self, key: Key, outputs: Any, *, producer: str = "", max_age: float | None = None
    ) -> CacheStatus:
        return self.put_pickled(key, dump_outputs(outputs), producer=producer, max_age=max_age)

    def update(self, key: Key, outputs: Any, *, producer: str = "") -> CacheStatus:
        return self.update_pickled(key, dump_outputs(outputs), producer=producer)

    def put_pickled(
        self, key: Key, payload: bytes, *, producer: str = "", max_age: float | None = None
    ) -> CacheStatus:
        """`put` of outputs already pickled (with cloudpickle)."""
        parts = self._encode(key, payload, producer)
        path = self.entry_path(key)
        if self.store.write(path, parts, exclusive=True):
            return CacheStatus.POPULATED
        existing = self.inspect(key)
        if isinstance(existing, Entry) and (
            max_age is None or time.time() - existing.created_at <= max_age
        ):
            try:
                load_outputs(existing)  # valid, but loadable here? (a class may be gone)
            except EntryProblem:
                pass
            else:
                return CacheStatus.HIT  # another writer committed a valid entry first
        self.store.write(path, parts, exclusive=False)  # only a valid entry wins the race
        return CacheStatus.POPULATED

    def update_pickled(self, key: Key, payload: bytes, *, producer: str = "") -> CacheStatus:
        """`update` of outputs already pickled (with cloudpickle)."""
        self.store.write(
            self.entry_path(key), self._encode(key, payload, producer), exclusive=False
        )
        return CacheStatus.POPULATED

    def get_or_extend_reservation(self, key: Key, owner_id: str, heartbeat_s: float) -> Reservation:
        return self.reservations.get_or_extend(key, owner_id, heartbeat_s)

    def release_reservation(self, key: Key, owner_id: str) -> Reservation:
        return self.reservations.release(key, owner_id)

    # -- the miss index ---------------------------------------------------------------------

    def index_records(self, task: str) -> list[IndexRecord]:
        """The components of the task's newest keys, oldest first (for miss reasons)."""
        return self.index.read(task)

    def add_index_records(self, records: list[IndexRecord]) -> None:
        """Remember written keys' components, so later misses can be explained."""
        self.index.add(records)

    def indexed_tasks(self) -> list[str]:
        """The tasks that have a miss index, by identity."""
        tasks = []
        for name in self.store.names("index"):
            records = self.index.read_file(name)
            if records:
                tasks.append(records[0].task)
        return sorted(tasks)

    def why(self, task: str) -> list[tuple[IndexRecord, str, IndexRecord | None]]:
        """The task's recent entries, newest first, each with why it had to be computed
        (its difference from the closest entry written before it) and that entry."""
        records = self.index.read(task)
        return [
            (r, *explain_against(r, records[:i], this_run=frozenset({r.producer})))
            for i, r in reversed(list(enumerate(records)))
        ]

    # -- maintenance (the `flytelite cache` commands) -----------------------------------

    def entries(self, task: str | None = None) -> Iterator[StoredEntry]:
        """Every entry in the store (or of one task folder), from a listing."""
        prefix = LAYOUT if task is None else f"{LAYOUT}/{safe_name(task)}"
        for info in self.store.list(prefix):
            parts = info.path.split("/")
            if len(parts) == 3 and parts[0] == LAYOUT:
                yield StoredEntry(parts[1], parts[2], info.size, info.mtime, info.path)

    def header(self, entry: StoredEntry) -> dict[str, Any] | None:
        """The header of a listed entry (unchecked), or `None` if it is not readable."""
        head = self.store.read_head(entry.path, HEAD_BYTES)
        if head is None:
            return None
        try:
            return read_header(head)
        except EntryProblem:
            return None

    def remove(self, entry: StoredEntry) -> None:
        """Delete a listed entry."""
        self.store.delete(entry.path)


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
