"""How a run uses its catalog: lookups, shielded writes, and reservations for `serialize`.

The engine asks this module three things: is there an entry (`lookup`), write
these outputs (`write`), and may this call execute the key or has someone else
produced it meanwhile (`take_turn`). Store failures become statuses and one
warning each, never exceptions.
"""

from __future__ import annotations

import asyncio
import itertools
import warnings
from dataclasses import dataclass
from typing import Any

from ._cache import CacheStatus
from ._errors import CatalogWarning
from .catalog import (
    AsyncCatalogClient,
    DownloadResult,
    Key,
    ReservationStatus,
    ResponseStatus,
    UploadFuture,
    UploadRequest,
    UploadResponse,
)

__all__ = ["CatalogWarning", "Lease", "RunCatalog", "Written", "settle"]

_FIRST_POLL_S = 0.02


async def settle(aw: asyncio.Future[Any]) -> tuple[Any, bool]:
    """Wait for `aw` even if the waiting task is cancelled meanwhile.

    Returns `aw`'s result and whether a cancellation arrived; the caller re-raises
    it once the work is safe. Used where stopping halfway would lose finished work.
    """
    cancelled = False
    while True:
        try:
            return await asyncio.shield(aw), cancelled
        except asyncio.CancelledError:
            if aw.cancelled():
                raise
            cancelled = True


@dataclass(frozen=True)
class Written:
    """The outcome of a write: its status, whether a cancellation arrived meanwhile,
    and the entry that stood if another writer committed first."""

    status: CacheStatus
    cancelled: bool
    committed: DownloadResult | None = None


class Lease:
    """A held reservation; the catalog client extends it until it is released."""

    def __init__(self, catalog: RunCatalog | None, key: Key, owner_id: str) -> None:
        self._catalog = catalog
        self.key = key
        self.owner_id = owner_id

    async def release(self) -> None:
        """Give the reservation up, even while being cancelled."""
        if self._catalog is None:
            return
        release = self._catalog.client.release_reservation(self.key, self.owner_id)
        try:
            _, cancelled = await settle(asyncio.ensure_future(release))
        except Exception:
            return  # it expires on its own after three heartbeats
        if cancelled:
            raise asyncio.CancelledError


class RunCatalog:
    """One run's view of the catalog, through its `AsyncCatalogClient`."""

    def __init__(
        self, client: AsyncCatalogClient, *, run_id: str, notes: list[str] | None = None
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.notes = notes if notes is not None else []
        """The run report's notes."""
        if client.read_only:
            self.note(
                f"the cache at {self.where} is read-only: hits were served, misses executed, "
                f"and nothing was written to it."
            )
        self.heartbeat_s = client.config.reservation_heartbeat_s
        self._warned: set[str] = set()
        self._owners = itertools.count()

    @property
    def where(self) -> str:
        return str(getattr(self.client.client, "url", type(self.client.client).__name__))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def warn(self, kind: str, message: str, category: type[Warning] = CatalogWarning) -> None:
        """Warn once per run for each `kind`."""
        if kind not in self._warned:
            self._warned.add(kind)
            try:
                warnings.warn(message, category, stacklevel=3)
            except Warning:
                pass  # warnings turned into errors: the catalog still never fails a run

    async def lookup(self, key: Key, max_age: float | None) -> DownloadResult:
        result = await self.client.lookup(key, max_age)
        if result.status is CacheStatus.LOOKUP_FAILURE:
            because = _because(result.error)
            self.warn(
                "lookup",
                f"the cache at {self.where} could not be read {because}; tasks execute without it.",
            )
        elif result.reason is not None and result.reason.signature_refused:
            self.warn(
                "signature",
                f"the cache at {self.where} holds entries that are unsigned or not signed "
                f"with FLYTELITE_CACHE_SECRET; they were refused, never loaded, and the "
                f"tasks executed instead.",
            )
        return result

    async def write(
        self,
        task: str,
        key: Key,
        outputs: Any,
        *,
        overwrite: bool,
        max_age: float | None,
        duration: float | None = None,
    ) -> Written:
        """Write the outputs, finishing even if cancelled.

        Entries are created once: when another writer committed a valid entry
        first, that entry stands and `Written.committed` holds its outputs, so
        that every caller of a key sees one value.
        """
        request = UploadRequest(key, outputs, self.run_id, overwrite, max_age, duration)
        upload = self.client.upload(request)
        if upload.status is ResponseStatus.READY:  # written on this thread already
            response, cancelled = upload.response(), False
        else:
            response, cancelled = await settle(asyncio.ensure_future(_wait(upload)))
        result = response.results[0]
        if result.status is CacheStatus.PUT_FAILURE:
            where, because = self.where, _because(result.error)
            self.warn(
                "put",
                f"outputs of {task!r} could not be written to the cache at {where} "
                f"{because}; results are returned but not cached.",
            )
            return Written(CacheStatus.PUT_FAILURE, cancelled)
        if result.status is CacheStatus.MISS:  # a read-only cache: not written, as asked
            return Written(CacheStatus.MISS, cancelled)
        if result.status is CacheStatus.HIT and not cancelled:
            found, cancelled = await settle(asyncio.ensure_future(self.lookup(key, None)))
            if found.hit:
                return Written(CacheStatus.POPULATED, cancelled, found)
        return Written(CacheStatus.POPULATED, cancelled)

    async def take_turn(
        self,
        key: Key,
        *,
        max_age: float | None,
        fresh_after: float | None,
        slot: asyncio.Semaphore | None = None,
    ) -> tuple[Lease | DownloadResult, bool]:
        """Wait until this call holds the key's reservation, or another holder's entry appears.

        Returns a `Lease` to execute under, or the hit; and whether another
        holder was seen (so that a lease after waiting means that holder failed).
        With `fresh_after` (overrides), only entries written after it count.

        With `slot` (the run's thread slots), the call holds a slot whenever it
        asks for or holds the reservation, and never while it waits for another
        holder: a process holds only leases it is about to execute, and the
        calls it cannot execute yet leave their keys to other processes. When a
        `Lease` is returned the slot is held, and the caller releases it.
        """
        if self.client.read_only:  # a lease is a write: plain execution instead
            self.note(
                "serialize=True was not honoured: the cache is read-only, so no reservations "
                "were taken and concurrent identical calls may each execute."
            )
            if slot is not None:
                await slot.acquire()  # held with a returned lease, as below
            return Lease(None, key, ""), False
        owner = f"{self.run_id}/{next(self._owners)}"
        poll = min(_FIRST_POLL_S, self.heartbeat_s / 4)
        waited = False
        while True:
            if slot is not None:
                await slot.acquire()
            try:
                turn = await self._try_turn(key, owner, max_age, fresh_after)
            except BaseException:
                if slot is not None:
                    slot.release()
                raise
            if turn is not None:
                if slot is not None and not isinstance(turn, Lease):
                    slot.release()
                return turn, waited
            if slot is not None:
                slot.release()
            waited = True
            await asyncio.sleep(poll)
            poll = min(poll * 1.5, self.heartbeat_s / 2)
            found = await self.lookup(key, max_age)
            if _usable(found, fresh_after):
                return found, waited

    async def _try_turn(
        self, key: Key, owner: str, max_age: float | None, fresh_after: float | None
    ) -> Lease | DownloadResult | None:
        """One request for the reservation: a lease, the entry, or `None` (another holder)."""
        try:
            reservation = await self.client.get_or_extend_reservation(key, owner)
        except Exception as exc:
            self.warn(
                "reserve",
                f"reservations at {self.where} failed ({exc}); "
                f"serialized tasks may execute more than once.",
            )
            return Lease(None, key, owner)
        if reservation.status is ReservationStatus.ACQUIRED:
            lease = Lease(self, key, owner)
            # Re-check under the reservation: the holder before us may just have finished.
            try:
                found = await self.lookup(key, max_age)
            except BaseException:
                await lease.release()  # the client would otherwise keep it alive
                raise
            if _usable(found, fresh_after):
                await lease.release()
                return found
            if not self.client.holds_reservation(key, owner):
                await lease.release()  # lapsed or taken over while this call waited
                return None
            return lease
        if reservation.status is ReservationStatus.FAILURE:
            self.warn(
                "reserve",
                f"reservations at {self.where} could not be settled; "
                f"serialized tasks may execute more than once.",
            )
            return Lease(None, key, owner)
        return None


async def _wait(upload: UploadFuture) -> UploadResponse:
    return await upload


def _because(error: BaseException | None) -> str:
    return f"({type(error).__name__}: {error})"


def _usable(found: DownloadResult, fresh_after: float | None) -> bool:
    if not found.hit or found.entry is None:
        return False
    return fresh_after is None or found.entry.created_at >= fresh_after
