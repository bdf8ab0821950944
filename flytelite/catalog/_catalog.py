"""The blocking catalog client protocol and its implementation over object stores.

`FsspecCatalog` keeps, in one store: entries (`v1/<task>/<key>`), the blobs they
refer to (`blobs/`), reservations, the miss index and last-use records. Beside
it, a machine-local folder (`local/` in a local cache's own folder, else in the
per-user cache folder) holds the stat memo of file digests and the restored
copies of file outputs. Read-only, it writes nothing to the store. With a
`shared` catalog behind it, lookups that miss here are tried there, and a
shared hit is copied here (blobs first).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._cache import CacheStatus
from .._statcache import StatCache, local_dir, platform_cache_folder
from ._blobs import GRACE_S, BlobRef, Blobs
from ._entry import (
    HEAD_BYTES,
    Entry,
    EntryProblem,
    Pickled,
    decode_entry,
    dump_outputs,
    encode_entry,
    header_length,
    load_outputs,
    read_header,
)
from ._index import IndexRecord, MissIndex, explain_against
from ._key import Key
from ._reservation import Reservation, Reservations
from ._store import Store, local_root, open_store, safe_name, temp_beside
from ._usage import UsageLog

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
        read_only: Serve entries, write nothing to the store: `put` and
            `update` return `MISS`, and there are no leases, index or last-use records.
        shared: A catalog behind this one (a team's cache): a miss here is
            looked up there, and a hit there is copied here. Writes go there too
            unless it is read-only; so do reservations.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        secret: str | bytes | None = None,
        read_only: bool = False,
        shared: FsspecCatalog | None = None,
    ) -> None:
        self.url = url
        self.read_only = read_only
        self.shared = shared
        self.store: Store = open_store(url, storage_options)
        self.reservations = Reservations(self.store)
        self.index = MissIndex(self.store)
        self.usage = UsageLog(self.store)
        if secret is None:
            secret = os.environ.get("FLYTELITE_CACHE_SECRET") or None
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self.local_dir = _local_folder(url, read_only)
        self.stat_cache = StatCache(self.local_dir)
        self.blobs = Blobs(self.store, self.local_dir, self.stat_cache, writable=not read_only)
        if shared is not None:  # one machine-local folder for both layers
            shared.blobs = Blobs(
                shared.store, self.local_dir, self.stat_cache, writable=not shared.read_only
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def entry_path(self, key: Key) -> str:
        """Where the entry of `key` lives in the store."""
        return f"{LAYOUT}/{safe_name(key.identifier)}/{key.digest}"

    def inspect(self, key: Key) -> Entry | EntryProblem | None:
        """The checked entry (outputs not loaded), the problem with it, or `None`."""
        data = self.store.read(self.entry_path(key))
        if data is None:
            return None if self.shared is None else self._from_shared(key, replace=False)
        found = self.decode(data, key)
        if isinstance(found, EntryProblem) and self.shared is not None:
            # Damaged or refused here: the shared layer's copy, if good, replaces it.
            shared = self._from_shared(key, replace=True)
            if isinstance(shared, Entry):
                return shared
        return found

    def decode(self, data: bytes, key: Key) -> Entry | EntryProblem:
        """The checked entry of `key` in stored bytes (outputs not loaded), or the problem."""
        try:
            return decode_entry(data, key=key.digest, secret=self._secret, blobs=self.blobs)
        except EntryProblem as problem:
            return problem

    def _from_shared(self, key: Key, *, replace: bool) -> Entry | EntryProblem | None:
        """The shared layer's entry, copied here (its blobs first) unless read-only;
        with `replace`, over the (unusable) entry here."""
        shared = self.shared
        assert shared is not None
        data = shared.store.read(shared.entry_path(key))
        if data is None:
            return None
        found = shared.decode(data, key)
        if not isinstance(found, Entry) or self.read_only:
            return found
        try:
            self._copy_blobs(found.refs, shared.blobs)
            self.store.write(self.entry_path(key), [data], exclusive=not replace)
        except (OSError, EntryProblem):
            return found  # served from the shared layer; copied next time
        return self.decode(data, key)

    def _copy_blobs(self, refs: tuple[BlobRef, ...], source: Blobs) -> None:
        for ref in refs:
            digests = [ref.digest]
            if ref.kind == "dir":
                digests += source.members(ref)
            for digest in digests:
                if self.store.info(f"blobs/{digest}") is not None:
                    continue
                (self.local_dir / "copying").mkdir(parents=True, exist_ok=True)
                with temp_beside(str(self.local_dir / "copying" / digest)) as tmp:
                    if not source.store.get_file(f"blobs/{digest}", tmp):
                        raise EntryProblem(f"blob {digest[:12]} missing")
                    self.store.put_file(f"blobs/{digest}", tmp)

    def get(self, key: Key) -> Entry | None:
        found = self.inspect(key)
        if not isinstance(found, Entry):
            return None
        try:
            return load_outputs(found)
        except EntryProblem:
            return None

    def _encode(
        self,
        key: Key,
        payload: bytes,
        producer: str,
        refs: tuple[BlobRef, ...] = (),
        duration: float | None = None,
    ) -> list[bytes]:
        return encode_entry(
            key=key.digest,
            task=key.identifier,
            cache_version=key.cache_version,
            producer=producer,
            payload=payload,
            secret=self._secret,
            refs=refs,
            duration=duration,
        )

    def put(
        self,
        key: Key,
        outputs: Any,
        *,
        producer: str = "",
        max_age: float | None = None,
        duration: float | None = None,
    ) -> CacheStatus:
        """Write the outputs of `key` unless a valid entry is there (`duration`: seconds
        the body took, kept in the entry for the report's "time saved by hits")."""
        payload = dump_outputs(outputs)
        return self.put_pickled(key, payload, producer=producer, max_age=max_age, duration=duration)

    def update(
        self, key: Key, outputs: Any, *, producer: str = "", duration: float | None = None
    ) -> CacheStatus:
        return self.update_pickled(key, dump_outputs(outputs), producer=producer, duration=duration)

    def put_pickled(
        self,
        key: Key,
        payload: Pickled | bytes,
        *,
        producer: str = "",
        max_age: float | None = None,
        duration: float | None = None,
    ) -> CacheStatus:
        """`put` of outputs already pickled (`dump_outputs`)."""
        return self._write(key, payload, producer, max_age, duration, exclusive=True)

    def update_pickled(
        self,
        key: Key,
        payload: Pickled | bytes,
        *,
        producer: str = "",
        duration: float | None = None,
    ) -> CacheStatus:
        """`update` of outputs already pickled (`dump_outputs`)."""
        return self._write(key, payload, producer, None, duration, exclusive=False)

    def _write(
        self,
        key: Key,
        payload: Pickled | bytes,
        producer: str,
        max_age: float | None,
        duration: float | None,
        *,
        exclusive: bool,
    ) -> CacheStatus:
        """Commit here, then to a writable shared layer (create-if-absent or replace)."""
        if self.read_only:
            return CacheStatus.MISS
        status = self._commit(
            key, payload, producer, max_age=max_age, exclusive=exclusive, duration=duration
        )
        if self._writes_shared:
            assert self.shared is not None
            self.shared._write(key, payload, producer, max_age, duration, exclusive=exclusive)
        return status

    @property
    def _writes_shared(self) -> bool:
        return self.shared is not None and not self.shared.read_only

    def _commit(
        self,
        key: Key,
        payload: Pickled | bytes,
        producer: str,
        *,
        max_age: float | None,
        exclusive: bool,
        duration: float | None = None,
    ) -> CacheStatus:
        pickled = payload if isinstance(payload, Pickled) else Pickled(payload)
        started = time.monotonic()
        refs = tuple(self.blobs.put(pickled.sources))  # every blob before the entry
        parts = self._encode(key, pickled.payload, producer, refs, duration)
        path = self.entry_path(key)
        if not self.store.write(path, parts, exclusive=exclusive):
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
        if refs and time.monotonic() - started > GRACE_S / 2:
            self.blobs.ensure(refs, pickled.sources)  # slow enough for a collector to run
        return CacheStatus.POPULATED

    def get_or_extend_reservation(self, key: Key, owner_id: str, heartbeat_s: float) -> Reservation:
        if self._writes_shared:  # where every machine that writes can see it
            assert self.shared is not None
            return self.shared.get_or_extend_reservation(key, owner_id, heartbeat_s)
        return self.reservations.get_or_extend(key, owner_id, heartbeat_s)

    def release_reservation(self, key: Key, owner_id: str) -> Reservation:
        if self._writes_shared:
            assert self.shared is not None
            return self.shared.release_reservation(key, owner_id)
        return self.reservations.release(key, owner_id)

    # -- last use ---------------------------------------------------------------------------

    def record_use(self, used: dict[str, float]) -> None:
        """Record that entries (by `entry_path`) were used at the given times (batched)."""
        if not self.read_only:
            self.usage.add(used)

    # -- the miss index ---------------------------------------------------------------------

    def index_records(self, task: str) -> list[IndexRecord]:
        """The components of the task's newest keys, oldest first (for miss reasons)."""
        return self.index.read(task)

    def add_index_records(self, records: list[IndexRecord]) -> None:
        """Remember written keys' components, so later misses can be explained."""
        if not self.read_only:
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
        needed = header_length(head)
        if needed is not None and needed + 32 > len(head):  # a long header: many refs
            head = self.store.read_head(entry.path, needed + 32)
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
    return os.environ.get("FLYTELITE_CACHE_URL") or str(platform_cache_folder())


def _local_folder(url: str, read_only: bool) -> Path:
    """The machine-local folder of the cache at `url`: `local/` inside a writable local
    cache; else the per-user cache folder's `local/`, or, when that is inside this
    read-only cache, a folder in the temporary directory (a read-only cache is never
    written, not even its local folder)."""
    root = local_root(url)
    if root is not None and not read_only:
        return local_dir(str(Path(root).expanduser().absolute()))
    folder = local_dir(None).absolute()
    if root is not None:
        cache = Path(root).expanduser().absolute()
        if folder == cache or cache in folder.parents:
            import tempfile

            name = f"flytelite-local-{getattr(os, 'getuid', lambda: 0)()}"
            return Path(tempfile.gettempdir()) / name
    return folder
