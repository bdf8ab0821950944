"""Keeping held reservations alive, from a thread of their own.

A lease expires three heartbeats after its last extension. If extensions were
sent from the run's event loop, a busy loop (hundreds of calls starting, a body
holding it) would let live leases lapse and another process would execute the
same key. So the catalog client hands every acquired reservation to a keeper:
one daemon thread per client that extends all of them once per heartbeat,
straight through the blocking catalog client, whatever the loop is doing.

The expiry margin also follows the keeper's measured pace: when extending
every held lease takes longer than a heartbeat (many leases, a slow store),
each extension is written with an expiry of three *rounds*, not three
heartbeats, so a lease the keeper is still tending never looks expired.
A holder that is really gone (killed, its machine lost) stops extending and is
taken over within three heartbeats, as before.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .._errors import StoreUnavailableError
from ._breaker import Breaker
from ._key import Key
from ._reservation import ReservationStatus

if TYPE_CHECKING:
    from ._catalog import CatalogClient

__all__ = ["MIN_HEARTBEAT_S", "LeaseKeeper"]

MIN_HEARTBEAT_S = 0.5
"""Heartbeats below this are raised to it: under a loaded interpreter (bodies
holding the GIL, hundreds of calls in flight) a thread can wait a good part of
a second for its turn, and a lease must outlast that."""


class LeaseKeeper:
    """Extends the reservations one client holds until they are dropped."""

    def __init__(self, client: CatalogClient, heartbeat_s: float, breaker: Breaker) -> None:
        self.client = client
        self.heartbeat_s = max(heartbeat_s, MIN_HEARTBEAT_S)
        self.breaker = breaker
        self._held: dict[tuple[str, str], Key] = {}
        self._lock = threading.Lock()  # held while one lease is extended
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._per_lease = 0.0  # seconds one store request of a lease takes, smoothed
        self._last_round = 0.0
        self.rounds = 0

    def hold(self, key: Key, owner_id: str) -> None:
        """Keep `owner_id`'s reservation of `key` alive (called as soon as it is acquired)."""
        with self._lock:
            self._held[(key.digest + key.identifier, owner_id)] = key
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._keep, name="flytelite-leases", daemon=True
                )
                self._thread.start()

    def drop(self, key: Key, owner_id: str) -> None:
        """Stop extending it; returns once no extension of it is in progress."""
        with self._lock:
            self._held.pop((key.digest + key.identifier, owner_id), None)

    def observe(self, seconds: float) -> None:
        """Record how long one reservation request took (acquisitions report here too)."""
        self._per_lease += 0.2 * (seconds - self._per_lease) if self._per_lease else seconds

    def pace(self, extra: int = 0) -> float:
        """The heartbeat to write into leases: how often the keeper can really extend them.

        Leases expire three of these after an extension: three heartbeats when
        the keeper keeps up, three of its rounds (twice the predicted time of a
        round, or the last round's time, if longer) when it does not.
        """
        predicted = 2 * self._per_lease * (len(self._held) + extra)
        return max(self.heartbeat_s, predicted, self._last_round)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def stop(self) -> threading.Thread | None:
        """Stop the thread (held leases lapse on their own); returns it to join."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        return thread

    def _keep(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(max(0.0, started + self.heartbeat_s - time.monotonic())):
            started = time.monotonic()
            with self._lock:
                leases = list(self._held.items())
            for (slot, owner_id), key in leases:
                if self._stop.is_set():
                    return
                self._extend(slot, owner_id, key)
            self.rounds += 1
            self._last_round = time.monotonic() - started

    def _extend(self, slot: str, owner_id: str, key: Key) -> None:
        with self._lock:
            if (slot, owner_id) not in self._held:
                return  # released meanwhile
            try:
                self.breaker.check()
                asked = time.monotonic()
                lease = self.client.get_or_extend_reservation(key, owner_id, self.pace())
                self.observe(time.monotonic() - asked)
            except StoreUnavailableError:
                return  # the store is resting
            except OSError as exc:
                self.breaker.failed(exc)
                return  # missed: the lease may lapse; entries are still created once
            except Exception:
                return
            self.breaker.succeeded()
            if lease.status is not ReservationStatus.ACQUIRED or lease.owner_id != owner_id:
                del self._held[(slot, owner_id)]  # taken over: nothing left to keep
