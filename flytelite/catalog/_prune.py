"""Keeping a cache in bounds: least-recently-used pruning and garbage collection.

`prune` removes entries — those unused for longer than an age, or the least
recently used until the cache is under a size, or both (the age, and a task,
narrow which entries may go; the size says how many of them do) — and then the
blobs that no remaining entry refers to. `gc` removes what killed processes
leave behind (temporary files, long-expired leases) and every unreferenced
blob. Both obey the blob grace period (`_blobs.GRACE_S`): a blob written or
refreshed recently may be about to be referred to by an entry being written,
and is left for a later prune or gc. For the size bound such a blob counts as
freed once no entry refers to it (`PrunePlan.deferred`): evicting more entries
would free nothing sooner.

An entry's last use is the later of its write and its newest last-use record
(`_usage`). Sizes count entries and blobs, each blob once however many entries
refer to it.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._blobs import GRACE_S
from ._store import LocalStore

if TYPE_CHECKING:
    from ._catalog import FsspecCatalog, StoredEntry

__all__ = ["GcResult", "PrunePlan", "gc", "last_used", "parse_size", "plan_prune", "prune"]

TEMP_AGE_S = 3600.0
"""Temporary files older than this belong to writers that died."""
LEASE_AGE_S = 3600.0
"""Leases expired for longer than this are removed by `gc` (no caller still settles them)."""

_READERS = 32
"""Header reads in flight at once when a prune or gc needs every entry's blob references."""
_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(value: int | str) -> int:
    """Bytes in a size: an int, or text like `500MB`, `10GB`, `2GiB`, `1.5T`.

    Raises:
        ValueError: not a size.
    """
    if isinstance(value, bool):
        raise ValueError("give a size in bytes or text such as '10GB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)(i?)[bB]?\s*", str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. 500MB, 10GB, 2GiB")
    number, unit, binary = match.groups()
    scale = _SIZE_UNITS[unit.lower()]
    if binary and unit:
        scale = 1024 ** ("kmgt".index(unit.lower()) + 1)
    return int(float(number) * scale)


def last_used(catalog: FsspecCatalog, entries: Iterable[StoredEntry]) -> dict[str, float]:
    """When each entry was last used (its write, or its newest last-use record)."""
    used, _ = catalog.usage.read()
    return {e.path: max(e.mtime, used.get(e.path, 0.0)) for e in entries}


@dataclass
class PrunePlan:
    """What a prune removes (or, with `dry_run`, would remove)."""

    entries: list[StoredEntry] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    """Blobs no entry refers to any more, too recent to remove yet (a later prune or gc
    removes them); counted as freed."""
    freed: int = 0
    size_before: int = 0
    size_after: int = 0
    last_used: dict[str, float] = field(default_factory=dict)


def _references(catalog: FsspecCatalog, entries: list[StoredEntry]) -> dict[str, set[str]]:
    """Entry path → the blobs it refers to (a Dir's manifest and its files)."""
    from concurrent.futures import ThreadPoolExecutor

    refs: dict[str, set[str]] = {}
    members: dict[str, list[str]] = {}
    # One small read per entry. On an object store they go in parallel (the difference
    # between minutes and seconds); on a local disk threads only contend for the GIL.
    if isinstance(catalog.store, LocalStore):
        headers = [catalog.header(e) for e in entries]
    else:
        with ThreadPoolExecutor(_READERS) as pool:
            headers = list(pool.map(catalog.header, entries))
    for e, header in zip(entries, headers):
        if not header or not header.get("refs"):
            continue
        found = set()
        for ref in header["refs"]:
            found.add(ref.digest)
            if ref.kind == "dir":
                if ref.digest not in members:
                    members[ref.digest] = catalog.blobs.members(ref)
                found.update(members[ref.digest])
        refs[e.path] = found
    return refs


def plan_prune(
    catalog: FsspecCatalog,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    candidates: Iterable[StoredEntry] | None = None,
    entries: list[StoredEntry] | None = None,
    now: float | None = None,
) -> PrunePlan:
    """Which entries and blobs a prune removes; nothing is removed."""
    now = time.time() if now is None else now
    entries = list(catalog.entries()) if entries is None else entries
    last = last_used(catalog, entries)
    blobs = {d: (size, mtime) for d, size, mtime in catalog.blobs.listing()}
    refs = _references(catalog, entries) if blobs else {}
    count = Counter(d for found in refs.values() for d in found)
    total = sum(e.size for e in entries) + sum(size for size, _ in blobs.values())
    plan = PrunePlan(size_before=total, last_used=last)

    def release(digest: str) -> int:
        """A blob no entry refers to is removed now, or once its grace period is over."""
        if digest not in blobs or count[digest] > 0:
            return 0
        size, mtime = blobs[digest]
        (plan.blobs if now - mtime > GRACE_S else plan.deferred).append(digest)
        return size

    released = 0
    if max_size is not None:  # blobs nobody refers to go before any entry
        released = sum(release(digest) for digest in blobs)
    pool = list(entries if candidates is None else candidates)
    if older_than is not None:
        pool = [e for e in pool if now - last[e.path] > older_than]
    pool.sort(key=lambda e: last[e.path])
    for e in pool:
        if max_size is not None and total - released <= max_size:
            break
        plan.entries.append(e)
        total -= e.size
        for digest in refs.get(e.path, ()):
            count[digest] -= 1
            released += release(digest)
    total -= released
    plan.size_after = total
    plan.freed = plan.size_before - total
    return plan


def prune(
    catalog: FsspecCatalog,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    candidates: Iterable[StoredEntry] | None = None,
    entries: list[StoredEntry] | None = None,
    dry_run: bool = False,
) -> PrunePlan:
    """Remove least recently used entries (see `plan_prune`), then their unreferenced blobs."""
    plan = plan_prune(
        catalog, max_size=max_size, older_than=older_than, candidates=candidates, entries=entries
    )
    if dry_run or catalog.read_only:
        return plan
    for e in plan.entries:
        catalog.remove(e)
    for digest in plan.blobs:
        catalog.blobs.delete(digest)
    gone = {e.path for e in plan.entries}
    _compact_usage(catalog, {p for p in plan.last_used if p not in gone})
    return plan


def _compact_usage(catalog: FsspecCatalog, existing: set[str]) -> None:
    """One object of records instead of many, for entries that still exist."""
    used, read = catalog.usage.read()
    if len(read) > 1 or not used.keys() <= existing:
        catalog.usage.compact({p: t for p, t in used.items() if p in existing}, read)


@dataclass
class GcResult:
    """What `gc` removed (or would remove)."""

    temp_files: list[str] = field(default_factory=list)
    leases: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    """Local copies of file outputs whose blobs are gone (in the cache's local folder)."""
    freed: int = 0


def gc(catalog: FsspecCatalog, *, dry_run: bool = False, now: float | None = None) -> GcResult:
    """Remove temporary files and leases left by killed processes, and unreferenced blobs."""
    now = time.time() if now is None else now
    result = GcResult()
    store = catalog.store
    if isinstance(store, LocalStore):
        for path in store.root.rglob("*.tmp"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if now - st.st_mtime > TEMP_AGE_S:
                result.temp_files.append(str(path))
                result.freed += st.st_size
                if not dry_run:
                    path.unlink(missing_ok=True)
    folders: dict[str, list[str]] = {}
    for info in store.list("reservations"):
        folder, _, generation = info.path.rpartition("/")
        if generation.isdigit():
            folders.setdefault(folder, []).append(info.path)
    for folder, paths in folders.items():
        newest = store.read(max(paths))
        try:
            expires = float(json.loads(newest or b"{}").get("expires_at", 0.0))
        except (ValueError, TypeError, AttributeError):
            expires = 0.0
        if now - expires > LEASE_AGE_S:
            result.leases.append(folder)
            if not dry_run:
                for lease in paths:
                    store.delete(lease)
    blobs = {d: (size, mtime) for d, size, mtime in catalog.blobs.listing()}
    entries = list(catalog.entries())
    if blobs:
        referenced = set().union(*_references(catalog, entries).values())
        for digest, (size, mtime) in blobs.items():
            if digest not in referenced and now - mtime > GRACE_S:
                result.blobs.append(digest)
                result.freed += size
                if not dry_run:
                    catalog.blobs.delete(digest)
    _restored_copies(catalog, set(blobs) - set(result.blobs), result, dry_run)
    if not dry_run:
        _compact_usage(catalog, {e.path for e in entries})
    return result


def _restored_copies(
    catalog: FsspecCatalog, blobs: set[str], result: GcResult, dry_run: bool
) -> None:
    """Remove the restored copies (`local/restored/<digest>/`) of blobs no longer stored."""
    import shutil

    folder = catalog.local_dir / "restored"
    if not folder.is_dir():
        return
    for copy in folder.iterdir():
        if copy.name in blobs or len(copy.name) != 64:
            continue
        result.restored.append(str(copy))
        if not dry_run:
            shutil.rmtree(copy, ignore_errors=True)
