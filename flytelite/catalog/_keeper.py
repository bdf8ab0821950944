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

import heapq
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
        # (slot, owner) -> (key, when its lease expires, wall-clock time)
        self._held: dict[tuple[str, str], tuple[Key, float]] = {}
        self._busy: set[tuple[str, str]] = set()  # being extended right now
        # (expires_at, slot) of held leases, soonest first; an entry whose expiry is no
        # longer the lease's (extended, dropped) is stale and skipped when reached.
        self._due: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()  # guards _held and _busy; never held across I/O
        self._idle = threading.Condition(self._lock)  # an extension finished
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._per_lease = 0.0  # seconds one reservation request takes, smoothed
        self._slowest = 0.0  # the slowest recent one (decays with each new observation)
        self._last_round = 0.0
        self.rounds = 0

    def hold(self, key: Key, owner_id: str, expires_at: float) -> None:
        """Keep `owner_id`'s reservation of `key` alive (called as soon as it is acquired)."""
        with self._lock:
            held = (key.digest + key.identifier, owner_id)
            self._held[held] = (key, expires_at)
            heapq.heappush(self._due, (expires_at, held))
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._keep, name="flytelite-leases", daemon=True
                )
                self._thread.start()

    def drop(self, key: Key, owner_id: str) -> None:
        """Stop extending it; returns once no extension of it is in progress."""
        held = (key.digest + key.identifier, owner_id)
        with self._idle:
            self._held.pop(held, None)
            while held in self._busy:
                self._idle.wait()

    def observe(self, seconds: float) -> None:
        """Record how long one reservation request took (acquisitions report here too)."""
        self._per_lease += 0.2 * (seconds - self._per_lease) if self._per_lease else seconds
        self._slowest = max(seconds, 0.9 * self._slowest)

    def pace(self, extra: int = 0) -> float:
        """The heartbeat to write into leases: how often the keeper can really extend them.

        Leases expire three of these after an extension: three heartbeats when
        the keeper keeps up, three of its rounds (twice the predicted time of a
        round at the slowest recent request, or the last round's time, if longer)
        when it does not.
        """
        per_lease = max(self._per_lease, self._slowest)
        predicted = 2 * per_lease * (len(self._held) + extra)
        return max(self.heartbeat_s, predicted, self._last_round)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def holds(self, key: Key, owner_id: str) -> bool:
        """Whether `owner_id` holds the reservation of `key` with time to spare: its
        lease outlasts a heartbeat and two of the slowest recent requests (the
        time the keeper may take to extend it), so a body started now cannot
        overlap another holder's. A lease the keeper found taken over, or could
        not extend in time, is not held."""
        with self._lock:
            found = self._held.get((key.digest + key.identifier, owner_id))
        margin = self.heartbeat_s + 2 * self._slowest
        return found is not None and found[1] > time.time() + margin

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
            extended: set[tuple[str, str]] = set()
            # Each round extends every lease once, the one closest to expiring
            # first (chosen afresh each time: leases acquired meanwhile join the
            # round by their expiry, so a short first lease is not left behind).
            while (held := self._most_urgent(extended)) is not None:
                if self._stop.is_set():
                    return
                extended.add(held)
                self._extend(held)
            self.rounds += 1
            self._last_round = time.monotonic() - started

    def _most_urgent(self, skip: set[tuple[str, str]]) -> tuple[str, str] | None:
        """The held lease closest to expiring, or `None` once that is one this round
        has extended already (the rest wait for the next round)."""
        due = self._due
        with self._lock:
            while due:
                expires, held = due[0]
                current = self._held.get(held)
                if current is None or current[1] != expires:
                    heapq.heappop(due)  # stale: extended or dropped since
                    continue
                if held in skip:
                    return None
                heapq.heappop(due)
                return held
        return None

    def _extend(self, held: tuple[str, str]) -> None:
        with self._lock:
            if held not in self._held:
                return  # released meanwhile
            key, expired_at = self._held[held]
            self._busy.add(held)
        lease = None
        try:
            self.breaker.check()
            asked = time.monotonic()
            lease = self.client.get_or_extend_reservation(key, held[1], self.pace())
            self.observe(time.monotonic() - asked)
            self.breaker.succeeded()
        except StoreUnavailableError:
            pass  # the store is resting
        except OSError as exc:
            self.breaker.failed(exc)  # missed: the lease may lapse; entries are still created once
        except Exception:  # noqa: S110 (a client's own failure: try again next round)
            pass
        finally:
            with self._idle:
                self._busy.discard(held)
                if lease is not None and held in self._held:
                    extended = (
                        lease.status is ReservationStatus.ACQUIRED and lease.owner_id == held[1]
                    )
                    # An extension answered after the lease it extends ran out may
                    # have crossed another process's takeover (which read the old,
                    # expired lease): this holder can no longer be sure it is alone.
                    if extended and time.time() < expired_at:
                        self._held[held] = (key, lease.expires_at)
                    else:
                        del self._held[held]  # taken over, or not sure: nothing to keep
                if held in self._held:  # due again at its (new or unchanged) expiry
                    heapq.heappush(self._due, (self._held[held][1], held))
                self._idle.notify_all()
