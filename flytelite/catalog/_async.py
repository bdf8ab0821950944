"""The async catalog client: a blocking `CatalogClient` behind reader and writer queues.

After Flyte's async catalog client: `download(...)` and `upload(...)` queue work
and return a future at once; the caller awaits it (or checks `.status`) while
the store's latency overlaps with everything else the run does. Identical
requests in flight share one store call.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from ._entry import Entry, EntryProblem, Pickled, dump_outputs, load_outputs
from ._explain import MissExplainer
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
from ._prune import parse_size, prune
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
        max_size: Bound the cache: when a run that wrote ends (its root's
            client closes, see `AsyncCatalogClient.prune_on_close`), least
            recently used entries are pruned until the cache is under this size
            (bytes, or text such as `"10GB"`). `fl.run` takes
            `FLYTELITE_CACHE_MAX_SIZE` when the config leaves it unset. Not on
            read-only caches.
    """

    reader: QueueConfig = field(default_factory=QueueConfig)
    writer: QueueConfig = field(default_factory=QueueConfig)
    reservation_heartbeat_s: float = 5.0
    inline_io_below: int = 256 * 1024
    miss_index: bool = True
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    max_size: int | str | None = None

    def __post_init__(self) -> None:
        hb = self.reservation_heartbeat_s
        if isinstance(hb, bool) or not isinstance(hb, (int, float)) or hb <= 0:
            raise ValueError(f"CatalogConfig(reservation_heartbeat_s={hb!r}): give seconds > 0.")
        if self.max_size is not None:
            try:
                object.__setattr__(self, "max_size", parse_size(self.max_size))
            except ValueError as exc:
                raise ValueError(f"CatalogConfig(max_size={self.max_size!r}): {exc}") from None


_INDEX_FLUSH_S = 0.5


def _ignore(error: Exception) -> None:
    return None


def _lookup_failure(key: Key, error: Exception) -> DownloadResult:
    return DownloadResult(key, CacheStatus.LOOKUP_FAILURE, error=error)


def _put_failure(key: Key, error: Exception) -> UploadResult:
    return UploadResult(key, CacheStatus.PUT_FAILURE, error=error)


def _inherits(client: object, *names: str) -> bool:
    """Whether `client` uses `FsspecCatalog`'s own methods `names` (no override)."""
    return isinstance(client, FsspecCatalog) and all(
        getattr(type(client), n) is getattr(FsspecCatalog, n) for n in names
    )


def _expired(key: Key, max_age: float | None, entry: Entry) -> DownloadResult | None:
    if max_age is None or entry.age <= max_age:
        return None
    return DownloadResult(
        key,
        CacheStatus.MISS,
        reason=MissReason(
            MissKind.EXPIRED,
            f"entry expired (age {entry.age:.1f} s > max_age {max_age:g} s)",
            age=entry.age,
            max_age=max_age,
        ),
    )


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
        self.explainer = MissExplainer(client, index=self.config.miss_index)
        """Why lookups missed; its records of this run's writes are flushed in batches."""
        # What the client lets this one do itself, decided once: where `get` is
        # `FsspecCatalog`'s own, one `inspect` read tells the entry and, on a miss,
        # what was wrong; where `get`, `put` and `update` are all its own, small
        # entries in a local folder are read and written on the loop's thread.
        self._inspect_is_get = _inherits(client, "get", "inspect")
        self._inline: tuple[FsspecCatalog, LocalStore] | None = None
        if (
            isinstance(client, FsspecCatalog)
            and _inherits(client, "get", "inspect", "put", "update")
            and _inherits(client, "put_pickled", "update_pickled")
            and isinstance(client.store, LocalStore)
            and client.shared is None  # a local miss is looked up in the shared layer
            and self.config.inline_io_below > 0
        ):
            self._inline = (client, client.store)
        self._loop: asyncio.AbstractEventLoop  # set by `start`: the loop of every call
        self.prune_on_close = False
        """Prune to `CatalogConfig.max_size` in `aclose` (set by `fl.run` for its root
        session, not for the sessions of bodies shipped to workers)."""
        self.read_only = bool(getattr(client, "read_only", False))
        """Nothing is written: uploads report `MISS`, no index or last-use records."""
        self._tracks_use = isinstance(client, FsspecCatalog) and not self.read_only
        self._used: dict[str, float] = {}  # entry path → last hit, not yet recorded
        self._used_lock = threading.Lock()  # hits are noted on reader threads too
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
        loop = self._loop = asyncio.get_running_loop()
        self.reader.start(loop)
        self.writer.start(loop)
        self._started = True

    async def aclose(self) -> None:
        """Finish queued work (index and last-use records included), prune to
        `CatalogConfig.max_size` if set, then stop the worker threads."""
        if not self._started:
            return
        self._flush_index()
        bound = self.config.max_size is not None and self.prune_on_close
        if bound and not self.read_only and self._writes:
            # Queued behind this run's last writes and records, off every call's path;
            # only after a run that wrote (one that did not, did not grow the cache).
            self._flushes.append(
                self.writer.submit(
                    f"prune:{next(self._unique)}",
                    self._prune,
                    fail=_ignore,  # a bound not kept this time is kept at the next run's end
                )
            )
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
            future: asyncio.Future[Any] | None = None
            if self._inline is not None:
                result = self._read_inline(r.key, r.max_age)
                if result is not None:
                    future = asyncio.get_running_loop().create_future()
                    future.set_result(result)
            if future is None:
                future = self._queue_download(r)
            futures.append(future)
        self._remember_use()
        return DownloadFuture(futures)

    async def lookup(self, key: Key, max_age: float | None = None) -> DownloadResult:
        """One lookup, awaited: what `download(DownloadRequest(key, max_age))` gives,
        without a batch's futures (a small local entry is read at once)."""
        self._check_started()
        if self._inline is not None:
            result = self._read_inline(key, max_age)
            if result is not None:
                self._remember_use()
                return result
        future = self._queue_download(DownloadRequest(key, max_age))
        self._remember_use()
        return await asyncio.shield(future)  # shared with identical lookups of other calls

    def _queue_download(self, request: DownloadRequest) -> asyncio.Future[Any]:
        # Writes finished for this key are part of the id: a lookup issued after an
        # upload completed never joins one that started before it.
        key = request.key
        written = self._writes.get(key.digest, 0)
        return self.reader.submit(
            f"get:{key.digest}:{request.max_age}:{written}",
            self._download,
            request,
            fail=functools.partial(_lookup_failure, key),
        )

    def _remember_use(self) -> None:
        if self._tracks_use and self._flush_timer is None:
            # Hits are remembered by the lookups; a flush writes them, batched.
            self._flush_timer = asyncio.get_running_loop().call_later(
                _INDEX_FLUSH_S, self._flush_index
            )

    def _read_inline(self, key: Key, max_age: float | None) -> DownloadResult | None:
        """A small local entry read on this thread, or `None` to use the reader queue."""
        catalog, store = self._inline  # type: ignore[misc]
        path = catalog.entry_path(key)
        try:
            data = store.read_small(path, self.config.inline_io_below)
            if data is None:  # no entry: `get` would find none either
                return DownloadResult(
                    key, CacheStatus.MISS, reason=self.explainer.against_index(key)
                )
            if isinstance(data, int):
                return None  # large: read off the loop
            found = catalog.decode(data, key)
            if isinstance(found, Entry) and found.refs:
                return None  # its blobs are read (and files restored) off the loop
            return self._found(key, max_age, found, path)
        except Exception:
            return None  # the queue retries transient errors

    def upload(self, *requests: UploadRequest) -> UploadFuture:
        """Queue writes; returns at once."""
        self._check_started()
        if self.read_only:  # asked not to write: no attempt, so no failure either
            loop = asyncio.get_running_loop()
            done = []
            for r in requests:
                f: asyncio.Future[Any] = loop.create_future()
                f.set_result(UploadResult(r.key, CacheStatus.MISS))
                done.append(f)
            return UploadFuture(done)
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
        future: asyncio.Future[Any] = self._loop.create_future()
        try:
            payload = dump_outputs(request.outputs)
        except Exception as exc:  # unpicklable outputs: retrying cannot help
            future.set_result(_put_failure(request.key, exc))
            return future
        if not payload.sources and len(payload.payload) < self.config.inline_io_below:
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

    def _upload_pickled(self, request: UploadRequest, payload: Pickled) -> UploadResult:
        assert self._inline is not None
        catalog = self._inline[0]
        key = request.key
        if request.overwrite:
            status = catalog.update_pickled(
                key, payload, producer=request.producer, duration=request.duration
            )
        else:
            status = catalog.put_pickled(
                key,
                payload,
                producer=request.producer,
                max_age=request.max_age,
                duration=request.duration,
            )
        if status is CacheStatus.POPULATED:
            self.explainer.written(key, request.producer)
        return UploadResult(key, status)

    def _download(self, request: DownloadRequest) -> DownloadResult:
        key, max_age = request.key, request.max_age
        if self._inspect_is_get:
            assert isinstance(self.client, FsspecCatalog)
            # One read tells both the entry and, on a miss, what was wrong with it.
            # (Errors: retried, then `_lookup_failure`.)
            return self._found(key, max_age, self.client.inspect(key))
        entry = self.client.get(key)  # a user's `get`, then its `inspect` to explain
        if entry is None:
            return DownloadResult(key, CacheStatus.MISS, reason=self.explainer.after_get(key))
        return self._checked(key, max_age, entry)

    def _found(
        self,
        key: Key,
        max_age: float | None,
        found: Entry | EntryProblem | None,
        path: str | None = None,
    ) -> DownloadResult:
        """The result of a lookup from what `inspect` found (at `path`, if known)."""
        if not isinstance(found, Entry):
            reason = unreadable(found.reason) if found else None
            return DownloadResult(
                key, CacheStatus.MISS, reason=reason or self.explainer.against_index(key)
            )
        expired = _expired(key, max_age, found)
        if expired is not None:  # before loading: no blob is read for an expired entry
            return expired
        try:
            entry = load_outputs(found)
        except EntryProblem as problem:
            return DownloadResult(key, CacheStatus.MISS, reason=unreadable(problem.reason))
        return self._hit(key, entry, path)

    def _checked(self, key: Key, max_age: float | None, entry: Entry) -> DownloadResult:
        expired = _expired(key, max_age, entry)
        if expired is not None:
            return expired
        return self._hit(key, entry)

    def _hit(self, key: Key, entry: Entry, path: str | None = None) -> DownloadResult:
        if self._tracks_use:
            # Remembered, not written: flushed in batches with the miss index.
            if path is None:
                assert isinstance(self.client, FsspecCatalog)
                path = self.client.entry_path(key)
            with self._used_lock:
                self._used[path] = time.time()
        return DownloadResult(key, CacheStatus.HIT, entry=entry)

    def _prune(self) -> None:
        assert isinstance(self.client, FsspecCatalog) and self.config.max_size is not None
        prune(self.client, max_size=int(self.config.max_size))

    def _schedule_flush(self) -> None:
        if self._flush_timer is None and (self.explainer.has_pending or self._used):
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(_INDEX_FLUSH_S, self._flush_index)

    def _flush_index(self) -> None:
        """Write pending index records, batched, through the writer queue."""
        self._flush_timer = None
        if self._used and self._started:
            with self._used_lock:
                used, self._used = self._used, {}
            assert isinstance(self.client, FsspecCatalog)
            self._flushes = [f for f in self._flushes if not f.done()]
            self._flushes.append(
                self.writer.submit(
                    f"usage:{next(self._unique)}",
                    self.client.record_use,
                    used,
                    fail=_ignore,  # advisory: a lost batch makes entries look older
                )
            )
        pending = self.explainer.take_pending()
        if pending and self._started and self.explainer.client is not None:
            self._flushes = [f for f in self._flushes if not f.done()]
            self._flushes.append(
                self.writer.submit(
                    f"index:{next(self._unique)}",
                    self.explainer.client.add_index_records,
                    pending,
                    fail=_ignore,  # the index is advisory: a failed write only loses reasons
                )
            )

    def _upload(self, request: UploadRequest) -> UploadResult:
        key = request.key
        client = self.client
        # The body's duration goes to a catalog whose writes are flytelite's own; a
        # user's `put` and `update` keep the protocol's signature.
        timed = isinstance(client, FsspecCatalog) and _inherits(client, "put", "update")
        extra = {"duration": request.duration} if timed else {}
        if request.overwrite:
            status = client.update(key, request.outputs, producer=request.producer, **extra)
        else:
            status = client.put(
                key, request.outputs, producer=request.producer, max_age=request.max_age, **extra
            )
        if status is CacheStatus.POPULATED:
            self.explainer.written(key, request.producer)
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
            self.leases.hold(key, owner_id, lease.expires_at)
            if not self.leases.holds(key, owner_id):
                # The reply came too late to leave the lease time to spare: another
                # process may hold the key by the time a body would start. This
                # caller waits and asks again, at a pace that has now measured the
                # store's latency (so the next lease is long enough).
                self.leases.drop(key, owner_id)
                with contextlib.suppress(Exception):
                    self.client.release_reservation(key, owner_id)
                return Reservation(
                    ReservationStatus.EXISTS, "", lease.expires_at, lease.heartbeat_s
                )
        return lease

    def holds_reservation(self, key: Key, owner_id: str) -> bool:
        """Whether `owner_id` still holds `key`'s reservation with time to spare
        (checked just before a body runs: a lease can lapse while its holder waits
        for its turn on a busy machine)."""
        return self.leases.holds(key, owner_id)

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
