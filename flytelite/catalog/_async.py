"""The async catalog client: a blocking `CatalogClient` behind reader and writer queues.

After Flyte's async catalog client: `download(...)` and `upload(...)` queue work
and return a future at once; the caller awaits it (or checks `.status`) while
the store's latency overlaps with everything else the run does. Identical
requests in flight share one store call.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .._cache import CacheStatus
from .._errors import CatalogNotStartedError
from ._breaker import Breaker, BreakerConfig
from ._catalog import CatalogClient, FsspecCatalog
from ._entry import Entry, EntryProblem, dump_outputs, load_outputs
from ._index import KEEP as INDEX_KEEP
from ._index import IndexRecord, explain, record_for
from ._keeper import LeaseKeeper
from ._key import Key
from ._messages import (
    DownloadFuture,
    DownloadRequest,
    DownloadResult,
    UploadFuture,
    UploadRequest,
    UploadResult,
)
from ._queue import QueueConfig, WorkQueue
from ._reasons import MissKind, MissReason, unreadable
from ._reservation import Reservation, ReservationStatus
from ._store import LocalStore

__all__ = ["AsyncCatalogClient", "CatalogConfig"]


@dataclass(frozen=True)
class CatalogConfig:
    """How a run talks to its catalog.

    Args:
        reader: The queue for lookups.
        writer: The queue for writes and reservations.
        reservation_heartbeat_s: How often the client extends the reservations
            it holds (from a thread of its own, whatever the event loop is
            doing); a lease expires after three missed heartbeats.
        inline_io_below: Entries smaller than this (bytes) in a local folder are
            read and written on the event loop's thread, where the I/O costs less
            than a hand-off to a worker thread and back. `0` sends everything
            through the queues. Other stores, and `FsspecCatalog` subclasses,
            always use the queues.
        miss_index: Keep the per-task index of written keys that explains misses
            (`ReportRow.miss_reason`, `flytelite cache why`). Off: misses say
            less, and nothing is written beside the entries.
        breaker: When the run stops contacting a store that keeps failing, and
            for how long (calls meanwhile report `LOOKUP_FAILURE` /
            `PUT_FAILURE` at once).
    """

    reader: QueueConfig = field(default_factory=QueueConfig)
    writer: QueueConfig = field(default_factory=QueueConfig)
    reservation_heartbeat_s: float = 5.0
    inline_io_below: int = 256 * 1024
    miss_index: bool = True
    breaker: BreakerConfig = field(default_factory=BreakerConfig)

    def __post_init__(self) -> None:
        hb = self.reservation_heartbeat_s
        if isinstance(hb, bool) or not isinstance(hb, (int, float)) or hb <= 0:
            raise ValueError(f"CatalogConfig(reservation_heartbeat_s={hb!r}): give seconds > 0.")


_INDEX_FLUSH_S = 0.5


def _ignore(error: Exception) -> None:
    return None


def _lookup_failure(key: Key, error: Exception) -> DownloadResult:
    return DownloadResult(key, CacheStatus.LOOKUP_FAILURE, error=error)


def _put_failure(key: Key, error: Exception) -> UploadResult:
    return UploadResult(key, CacheStatus.PUT_FAILURE, error=error)


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join()


class AsyncCatalogClient:
    """Reader and writer work queues in front of a blocking `CatalogClient`.

    Start it with `async with AsyncCatalogClient(client, config):` (or
    `start()` / `await aclose()`), inside the event loop that will use it.
    Every store call goes through the client's own methods, so a subclass of
    `FsspecCatalog` that overrides `get` sees every lookup.
    """

    def __init__(self, client: CatalogClient, config: CatalogConfig | None = None) -> None:
        self.client = client
        self.config = config or CatalogConfig()
        where = str(getattr(client, "url", type(client).__name__))
        self.breaker = Breaker(where, self.config.breaker)
        """Shared by both queues: one store, one verdict on whether it is reachable."""
        self.reader = WorkQueue("reader", self.config.reader, self.breaker)
        self.writer = WorkQueue("writer", self.config.writer, self.breaker)
        self.leases = LeaseKeeper(client, self.config.reservation_heartbeat_s, self.breaker)
        """Extends every reservation this client acquired until it is released."""
        self._started = False
        self._unique = itertools.count()
        self._inline: tuple[FsspecCatalog, LocalStore] | None = None
        if (
            type(client) is FsspecCatalog
            and isinstance(client.store, LocalStore)
            and self.config.inline_io_below > 0
        ):
            self._inline = (client, client.store)
        # The miss index: records of this run's writes wait here to be written in
        # batches, and each task's index is read at most once per run.
        self._lock = threading.Lock()
        self._pending: list[IndexRecord] = []
        # Per task, the newest records only (as many as the index keeps), so that
        # explaining a miss costs the same in a run's first call and its 100,000th.
        self._known: dict[str, collections.deque[IndexRecord]] = {}
        self._producers: frozenset[str] = frozenset()  # runs that wrote through this client
        self._flushes: list[asyncio.Future[Any]] = []
        self._writes: dict[str, int] = {}  # uploads finished per key digest (read-your-writes)
        self._flush_timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> AsyncCatalogClient:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start(self) -> None:
        """Start the queues on the running event loop."""
        loop = asyncio.get_running_loop()
        self.reader.start(loop)
        self.writer.start(loop)
        self._started = True

    async def aclose(self) -> None:
        """Finish queued work (index records included), then stop the worker threads."""
        if not self._started:
            return
        self._flush_index()
        for flush in self._flushes:
            await asyncio.shield(flush)
        self._started = False
        threads = self.reader.stop() + self.writer.stop()
        keeper = self.leases.stop()
        if keeper is not None:
            threads.append(keeper)
        if threads:
            await asyncio.get_running_loop().run_in_executor(None, _join, threads)

    def _check_started(self) -> None:
        if not self._started:
            raise CatalogNotStartedError(
                "the AsyncCatalogClient is not started: use `async with "
                "AsyncCatalogClient(client, config) as catalog:` or call `catalog.start()` "
                "inside the event loop first."
            )

    # -- lookups and writes -------------------------------------------------------------

    def download(self, *requests: DownloadRequest) -> DownloadFuture:
        """Queue lookups; returns at once."""
        self._check_started()
        futures = []
        for r in requests:
            future = self._read_inline(r) if self._inline is not None else None
            if future is None:
                # Writes finished for this key are part of the id: a lookup issued
                # after an upload completed never joins one that started before it.
                written = self._writes.get(r.key.digest, 0)
                future = self.reader.submit(
                    f"get:{r.key.digest}:{r.max_age}:{written}",
                    self._download,
                    r,
                    fail=functools.partial(_lookup_failure, r.key),
                )
            futures.append(future)
        return DownloadFuture(futures)

    def _read_inline(self, request: DownloadRequest) -> asyncio.Future[Any] | None:
        """A small local entry read on this thread, or `None` to use the reader queue."""
        catalog, store = self._inline  # type: ignore[misc]
        size = store.size(catalog.entry_path(request.key))
        if size is not None and size >= self.config.inline_io_below:
            return None
        try:
            if size is None:  # no entry: `get` would find none either
                result = DownloadResult(
                    request.key, CacheStatus.MISS, reason=self._compare_with_index(request.key)
                )
            else:
                result = self._download(request)
        except Exception:
            return None  # the queue retries transient errors
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(result)
        return future

    def upload(self, *requests: UploadRequest) -> UploadFuture:
        """Queue writes; returns at once."""
        self._check_started()
        future = self._upload_future(requests)
        for r, f in zip(requests, future._futures):
            if f.done():  # written on this thread already
                self._uploaded(r.key.digest, f)
            else:  # registered before any caller awaits `f`: it runs before they resume
                f.add_done_callback(functools.partial(self._uploaded, r.key.digest))
        return future

    def _uploaded(self, digest: str, _: asyncio.Future[Any]) -> None:
        self._writes[digest] = self._writes.get(digest, 0) + 1
        self._schedule_flush()

    def _upload_future(self, requests: tuple[UploadRequest, ...]) -> UploadFuture:
        futures = []
        for r in requests:
            future = self._write_inline(r) if self._inline is not None else None
            if future is None:
                future = self.writer.submit(
                    f"put:{r.key.digest}:{r.overwrite}",
                    self._upload,
                    r,
                    fail=functools.partial(_put_failure, r.key),
                )
            futures.append(future)
        return UploadFuture(futures)

    def _write_inline(self, request: UploadRequest) -> asyncio.Future[Any]:
        """A small local entry written on this thread; a large one goes to the writer
        queue, already pickled (the outputs are pickled here either way)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            payload = dump_outputs(request.outputs)
        except Exception as exc:  # unpicklable outputs: retrying cannot help
            future.set_result(_put_failure(request.key, exc))
            return future
        if len(payload) < self.config.inline_io_below:
            try:
                future.set_result(self._upload_pickled(request, payload))
                return future
            except Exception:  # noqa: S110 (the queue retries transient errors)
                pass
        return self.writer.submit(
            f"put:{request.key.digest}:{request.overwrite}",
            self._upload_pickled,
            request,
            payload,
            fail=functools.partial(_put_failure, request.key),
        )

    def _upload_pickled(self, request: UploadRequest, payload: bytes) -> UploadResult:
        assert self._inline is not None
        catalog = self._inline[0]
        key = request.key
        if request.overwrite:
            status = catalog.update_pickled(key, payload, producer=request.producer)
        else:
            status = catalog.put_pickled(
                key, payload, producer=request.producer, max_age=request.max_age
            )
        if status is CacheStatus.POPULATED:
            self._remember(key, request.producer)
        return UploadResult(key, status)

    def _download(self, request: DownloadRequest) -> DownloadResult:
        key = request.key
        if type(self.client) is FsspecCatalog:
            # One read tells both the entry and, on a miss, what was wrong with it.
            found = self.client.inspect(key)  # errors: retried, then `_lookup_failure`
            if not isinstance(found, Entry):
                reason = unreadable(found.reason) if found else None
                return DownloadResult(
                    key, CacheStatus.MISS, reason=reason or self._compare_with_index(key)
                )
            try:
                entry: Entry | None = load_outputs(found)
            except EntryProblem as problem:
                return DownloadResult(key, CacheStatus.MISS, reason=unreadable(problem.reason))
        else:  # a user's client: its own `get`, then `inspect` only to explain a miss
            entry = self.client.get(key)
        if entry is None:
            return DownloadResult(key, CacheStatus.MISS, reason=self._explain(key))
        if request.max_age is not None and entry.age > request.max_age:
            return DownloadResult(
                key,
                CacheStatus.MISS,
                reason=MissReason(
                    MissKind.EXPIRED,
                    f"entry expired (age {entry.age:.1f} s > max_age {request.max_age:g} s)",
                    age=entry.age,
                    max_age=request.max_age,
                ),
            )
        return DownloadResult(key, CacheStatus.HIT, entry=entry)

    def _explain(self, key: Key) -> MissReason | None:
        """Why `get` found nothing usable (misses only; at most one more small read)."""
        inspect = getattr(self.client, "inspect", None)
        try:
            found = inspect(key) if inspect is not None else None
        except Exception:
            found = None
        if isinstance(found, EntryProblem):
            return unreadable(found.reason)
        if isinstance(found, Entry):  # checked, yet `get` refused it: it does not load here
            return unreadable("its outputs cannot be loaded")
        return self._compare_with_index(key)

    def _compare_with_index(self, key: Key) -> MissReason | None:
        read = getattr(self.client, "index_records", None)
        if read is None or not self.config.miss_index:
            return None
        with self._lock:
            known = self._known.get(key.identifier)
        if known is None:
            try:
                loaded = read(key.identifier)
            except Exception:
                loaded = []
            with self._lock:
                known = self._known.setdefault(
                    key.identifier, collections.deque(loaded, maxlen=INDEX_KEEP)
                )
        with self._lock:
            records = list(known)
        return explain(record_for(key, ""), records, this_run=self._producers)

    def _remember(self, key: Key, producer: str) -> None:
        """Queue the written key's components for the index (called on worker threads)."""
        if getattr(self.client, "add_index_records", None) is None or not self.config.miss_index:
            return
        record = record_for(key, producer)
        with self._lock:
            if producer not in self._producers:
                self._producers = self._producers | {producer}
            self._pending.append(record)
            known = self._known.get(key.identifier)
            if known is not None:
                known.append(record)

    def _schedule_flush(self) -> None:
        if self._flush_timer is None and self._pending:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(_INDEX_FLUSH_S, self._flush_index)

    def _flush_index(self) -> None:
        """Write pending index records, batched, through the writer queue."""
        self._flush_timer = None
        with self._lock:
            pending, self._pending = self._pending, []
        if pending and self._started:
            self._flushes = [f for f in self._flushes if not f.done()]
            self._flushes.append(
                self.writer.submit(
                    f"index:{next(self._unique)}",
                    self.client.add_index_records,  # type: ignore[attr-defined]
                    pending,
                    fail=_ignore,  # the index is advisory: a failed write only loses reasons
                )
            )

    def _upload(self, request: UploadRequest) -> UploadResult:
        key = request.key
        if request.overwrite:
            status = self.client.update(key, request.outputs, producer=request.producer)
        else:
            status = self.client.put(
                key, request.outputs, producer=request.producer, max_age=request.max_age
            )
        if status is CacheStatus.POPULATED:
            self._remember(key, request.producer)
        return UploadResult(key, status)

    # -- reservations ---------------------------------------------------------------------

    async def get_or_extend_reservation(self, key: Key, owner_id: str) -> Reservation:
        """Acquire or extend `owner_id`'s reservation of `key` (through the writer queue).

        Once acquired, the client keeps extending it every
        `reservation_heartbeat_s` from its own thread until
        `release_reservation` (or `aclose`); a caller that is cancelled while
        waiting gives an acquired reservation up at once.
        """
        self._check_started()
        future = self.writer.submit(
            f"reserve:{key.digest}:{owner_id}:{next(self._unique)}",
            self._reserve,
            key,
            owner_id,
        )
        try:
            result: Reservation = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(lambda _: self._release_soon(key, owner_id))
            raise
        return result

    def _reserve(self, key: Key, owner_id: str) -> Reservation:
        asked = time.monotonic()
        lease = self.client.get_or_extend_reservation(key, owner_id, self.leases.pace(extra=1))
        self.leases.observe(time.monotonic() - asked)
        if lease.status is ReservationStatus.ACQUIRED:
            # Kept from this thread on: a busy event loop cannot let it lapse.
            self.leases.hold(key, owner_id)
        return lease

    def _release_soon(self, key: Key, owner_id: str) -> None:
        if self._started:
            self.writer.submit(
                f"release:{key.digest}:{owner_id}:{next(self._unique)}",
                self._release,
                key,
                owner_id,
                fail=_ignore,
            )

    async def release_reservation(self, key: Key, owner_id: str) -> Reservation:
        """Give up `owner_id`'s reservation of `key` (and stop extending it)."""
        self._check_started()
        future = self.writer.submit(
            f"release:{key.digest}:{owner_id}:{next(self._unique)}",
            self._release,
            key,
            owner_id,
        )
        result: Reservation = await future
        return result

    def _release(self, key: Key, owner_id: str) -> Reservation:
        self.leases.drop(key, owner_id)
        return self.client.release_reservation(key, owner_id)

    def stats(self) -> dict[str, int]:
        """Requests submitted and store calls executed per queue (dedup shows as the gap)."""
        return {
            "reader_submitted": self.reader.submitted,
            "reader_executed": self.reader.executed,
            "writer_submitted": self.writer.submitted,
            "writer_executed": self.writer.executed,
        }
