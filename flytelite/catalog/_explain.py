"""Explaining misses: what a client can tell beyond `get`, and one run's use of it.

A `CatalogClient` answers `get` with an entry or `None`. One that also
implements `ExplainingClient` (as `FsspecCatalog` does, and any user's client
may) can say *why* a lookup missed: what is wrong with an object at the key
(`inspect`), and how this key differs from the task's earlier keys (the miss
index). `MissExplainer` is one run's view of that: it checks the capability
once, reads each task's index at most once, and collects the keys the run
writes so that later misses compare with them.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from ._entry import Entry, EntryProblem
from ._index import KEEP, IndexRecord, explain, record_for
from ._key import Key
from ._reasons import MissKind, MissReason, unreadable

__all__ = ["ExplainingClient", "MissExplainer"]


@runtime_checkable
class ExplainingClient(Protocol):
    """The optional capability of a `CatalogClient` to explain its misses.

    Implement all three methods and `AsyncCatalogClient` gives your client's
    misses the same reasons as the built-in `FsspecCatalog`'s.
    """

    def inspect(self, key: Key) -> Entry | EntryProblem | None:
        """The checked entry at `key` (outputs not loaded), what is wrong with the
        object there, or `None` if there is none."""

    def index_records(self, task: str) -> list[IndexRecord]:
        """The components of the task's newest written keys, oldest first."""

    def add_index_records(self, records: list[IndexRecord]) -> None:
        """Remember written keys' components (the index is advisory: may drop some)."""


class MissExplainer:
    """One run's miss explanations over one client; thread-safe."""

    def __init__(self, client: object, *, index: bool = True) -> None:
        self.client: ExplainingClient | None = (
            client if isinstance(client, ExplainingClient) else None
        )
        self.indexed = index and self.client is not None
        self._lock = threading.Lock()
        self._pending: list[IndexRecord] = []
        # Per task, the newest records of earlier runs only (as many as the index keeps),
        # so that explaining a miss costs the same in a run's first call and its 100,000th.
        self._earlier: dict[str, list[IndexRecord]] = {}
        self._wrote: set[str] = set()  # tasks this run has written
        self._producers: frozenset[str] = frozenset()  # runs that wrote through this client

    def after_get(self, key: Key) -> MissReason | None:
        """Why `get` found nothing usable (at most one more small read)."""
        if self.client is None:
            return None
        try:
            found = self.client.inspect(key)
        except Exception:
            found = None
        if isinstance(found, EntryProblem):
            return unreadable(found.reason)
        if isinstance(found, Entry):  # checked, yet `get` refused it: it does not load here
            return unreadable("its outputs cannot be loaded")
        return self.against_index(key)

    def against_index(self, key: Key) -> MissReason | None:
        """How `key` differs from the task's earlier keys (written by earlier runs)."""
        if not self.indexed:
            return None
        assert self.client is not None
        task = key.identifier
        loaded = self._earlier.get(task)
        if loaded is None:
            try:
                records = self.client.index_records(task)
            except Exception:
                records = []
            with self._lock:
                loaded = self._earlier.setdefault(task, records[-KEEP:])
        producers = self._producers
        earlier = [r for r in loaded if r.producer not in producers] if producers else loaded
        if not earlier:  # no record to compare with: no need to build this key's
            if task in self._wrote or len(earlier) < len(loaded):
                return MissReason(MissKind.NEW_INPUTS, "no entry for these inputs yet")
            return MissReason(MissKind.FIRST, "no entry for this task yet")
        return explain(record_for(key, ""), earlier)

    def written(self, key: Key, producer: str) -> None:
        """Record a key this run wrote (called on worker threads)."""
        if not self.indexed:
            return
        record = record_for(key, producer)
        with self._lock:
            if producer not in self._producers:
                self._producers = self._producers | {producer}
            self._pending.append(record)
            self._wrote.add(key.identifier)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def take_pending(self) -> list[IndexRecord]:
        """The records written since the last call, to add to the store's index."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending
