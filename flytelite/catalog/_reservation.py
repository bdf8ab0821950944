"""Reservations: at most one live holder per key, across threads, processes and machines.

A reservation is a lease with a generation number. Each generation is its own
object, `reservations/<task>/<key>/<generation>`, created only if absent (a
hard link locally, a conditional PUT on object stores), so exactly one caller
can create any generation. The holder of the highest generation owns the key
until its lease expires (`expires_at` = last heartbeat + 3 heartbeats, each
lengthened by the request's own latency) or is released (marked expired). To
take over an expired lease a caller creates the *next* generation; a stale
holder finds out at its next heartbeat. Nothing is ever deleted and re-created
in place, which is what makes a naive lock file
unsound (two callers can both delete a stale file and both create a new one);
superseded generations are deleted only once a newer one exists.

Leases are an optimisation, not the guarantee: entries are committed
create-if-absent, so even a holder that lost its lease unknowingly cannot
replace a valid entry.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass

from ._key import Key
from ._store import Store, safe_name

__all__ = ["Reservation", "ReservationStatus", "Reservations"]

LEASE_HEARTBEATS = 3
_ATTEMPTS = 8


class ReservationStatus(str, enum.Enum):
    """The outcome of a reservation request; the names follow Flyte's catalog."""

    ACQUIRED = "ACQUIRED"
    """The caller holds the reservation (newly, or extended)."""
    EXISTS = "EXISTS"
    """Another owner holds a live reservation."""
    RELEASED = "RELEASED"
    """The reservation was given up."""
    FAILURE = "FAILURE"
    """The store could not settle the request."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Reservation:
    """The state of a key's reservation as seen by one request."""

    status: ReservationStatus
    owner_id: str
    expires_at: float
    heartbeat_s: float
    generation: int = 0


class Reservations:
    """Generation-numbered leases kept in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def folder(key: Key) -> str:
        return f"reservations/{safe_name(key.identifier)}/{key.digest}"

    def _read(self, folder: str, generation: int) -> Reservation | None:
        data = self.store.read(f"{folder}/{generation:012d}")
        if data is None:
            return None
        try:
            raw = json.loads(data)
            return Reservation(
                ReservationStatus.EXISTS,
                str(raw["owner"]),
                float(raw["expires_at"]),
                float(raw["heartbeat_s"]),
                generation,
            )
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            # Not a lease flytelite wrote: treat it as long expired.
            return Reservation(ReservationStatus.EXISTS, "", 0.0, 0.0, generation)

    def _write(self, folder: str, lease: Reservation, *, exclusive: bool) -> bool:
        body = json.dumps(
            {
                "owner": lease.owner_id,
                "expires_at": lease.expires_at,
                "heartbeat_s": lease.heartbeat_s,
            }
        ).encode()
        return self.store.write(f"{folder}/{lease.generation:012d}", [body], exclusive=exclusive)

    def _generations(self, folder: str) -> list[int]:
        return sorted(int(n) for n in self.store.names(folder) if n.isdigit())

    def get_or_extend(self, key: Key, owner_id: str, heartbeat_s: float) -> Reservation:
        """Acquire the key's reservation, extend it if `owner_id` holds it, or report the holder.

        A lease written here lasts `LEASE_HEARTBEATS` heartbeats, each lengthened by
        the time this request has taken so far: a store slow enough that listing
        and reading take seconds is as slow to carry the write and its reply, and
        a lease must not expire before its holder even hears that it has it.
        """
        folder = self.folder(key)
        began = time.time()
        for _ in range(_ATTEMPTS):
            generations = self._generations(folder)
            current = self._read(folder, generations[-1]) if generations else None
            if generations and current is None:
                continue  # released between listing and reading: look again
            now = time.time()
            expires_at = now + LEASE_HEARTBEATS * (heartbeat_s + (now - began))
            generation = 1
            if current is not None:
                if current.expires_at > now and current.owner_id == owner_id:
                    extended = Reservation(
                        ReservationStatus.ACQUIRED,
                        owner_id,
                        expires_at,
                        heartbeat_s,
                        current.generation,
                    )
                    self._write(folder, extended, exclusive=False)
                    if time.time() >= current.expires_at:
                        # Written after the lease it extends ran out: another caller
                        # may have read it expired and made the next generation.
                        return Reservation(ReservationStatus.EXISTS, "", 0.0, heartbeat_s)
                    return extended
                if current.expires_at > now:
                    return current
                # Expired or released, even if it was this owner's: a lease that
                # lapsed is taken over like any other, by the next generation.
                generation = current.generation + 1
            mine = Reservation(
                ReservationStatus.ACQUIRED, owner_id, expires_at, heartbeat_s, generation
            )
            if self._write(folder, mine, exclusive=True):
                for old in generations:  # superseded leases: tidy up, best effort
                    self.store.delete(f"{folder}/{old:012d}")
                return mine
        return Reservation(ReservationStatus.FAILURE, "", 0.0, heartbeat_s)

    def release(self, key: Key, owner_id: str) -> Reservation:
        """Give up `owner_id`'s reservation; a reservation held by another owner is left alone.

        The generation is marked expired, not deleted: the next caller creates
        the next generation, so two callers can never both create the same one
        (as they could if the folder were emptied and generation 1 made again).
        """
        folder = self.folder(key)
        generations = self._generations(folder)
        if generations:
            current = self._read(folder, generations[-1])
            if current is not None and current.owner_id == owner_id:
                released = Reservation(
                    ReservationStatus.RELEASED, owner_id, 0.0, 0.0, current.generation
                )
                self._write(folder, released, exclusive=False)
        return Reservation(ReservationStatus.RELEASED, owner_id, time.time(), 0.0)
