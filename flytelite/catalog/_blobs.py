"""Content-addressed blobs: large outputs, and the files of `fl.File` / `fl.Dir` outputs.

A blob is an object `blobs/<blake3 hex>` in the cache's store, named by the
digest of its bytes, so identical data written by any number of entries is
stored once. An entry refers to its blobs in its (sealed) header; a `Dir` is a
manifest blob (relative paths, digests, executable bits) whose files are blobs.

Writers put every blob before the entry that refers to it, so a reader that
sees the entry can find its blobs. Readers verify each blob's bytes against
its name; a missing or damaged blob makes the entry a miss (`BlobProblem`
becomes an `EntryProblem`), never an exception and never a wrong value.

Garbage collection (`unreferenced`) must never remove a blob that a concurrent
writer is about to refer to: between writing (or finding) a blob and
committing its entry, a writer holds no lock. The rule that makes this safe is
a grace period on the blob's modification time: collection only considers
blobs whose mtime is older than `GRACE_S`, and a writer that reuses an
existing blob older than `GRACE_S / 2` refreshes its mtime first (a local
`utime`; on object stores, which have no settable mtime, it uploads the blob
again). So every blob a writer is about to refer to was written or refreshed
less than `GRACE_S / 2` ago, and a collector leaves it alone unless the
writer takes more than `GRACE_S / 2` (half an hour) from that point to its
commit, which a writer checks and repairs: after committing, one that took
that long makes sure its blobs are still there (`ensure`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from .._files import Dir, File, dir_manifest, manifest_bytes
from .._statcache import StatCache, remember
from ._store import LocalStore, Store, temp_beside

__all__ = ["GRACE_S", "BlobProblem", "BlobRef", "Blobs", "Source"]

FOLDER = "blobs"
GRACE_S = 3600.0
_CHUNK = 8 << 20
_KINDS = ("pickle", "buffer", "file", "dir")


class BlobProblem(Exception):
    """A blob an entry refers to is missing or damaged: the entry is a miss."""


@dataclass(frozen=True)
class BlobRef:
    """One blob an entry refers to: what it holds, its digest, size, and a file's name."""

    kind: str
    digest: str
    size: int
    name: str = ""

    def to_json(self) -> list[Any]:
        return [self.kind, self.digest, self.size, self.name]

    @classmethod
    def from_json(cls, raw: Any) -> BlobRef | None:
        """The ref in a header, or `None` when it is not one flytelite writes."""
        if not isinstance(raw, list) or len(raw) != 4:
            return None
        kind, digest, size, name = raw
        if (
            kind not in _KINDS
            or type(digest) is not str
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
            or type(size) is not int
            or size < 0
            or type(name) is not str
            or "/" in name
            or name in ("..", ".")
        ):
            return None
        return cls(kind, digest, size, name)


@dataclass(frozen=True)
class Source:
    """Something to store as a blob when an entry is written: bytes, a File or a Dir."""

    kind: str
    value: Any


def _digest(data: bytes | memoryview) -> str:
    threads = blake3.blake3.AUTO if len(data) >= (1 << 20) else 1
    return blake3.blake3(data, max_threads=threads).hexdigest()


def _path(digest: str) -> str:
    return f"{FOLDER}/{digest}"


class Blobs:
    """The blobs of one store, with a machine-local folder for restored files.

    Args:
        store: Where the blobs live.
        local: The machine-local folder (`restored/` copies of file outputs).
        memo: The stat memo: file digests, and the restored copies' digests.
        writable: Whether a damaged blob may be removed when it is found, so that
            the next writer of its bytes stores them again (writers skip blobs
            that are present).
    """

    def __init__(
        self, store: Store, local: Path, memo: StatCache, *, writable: bool = True
    ) -> None:
        self.store = store
        self.local = local
        self.memo = memo
        self.writable = writable

    def _damaged(self, digest: str) -> BlobProblem:
        if self.writable:
            self.store.delete(_path(digest))
        return BlobProblem(f"blob {digest[:12]} damaged")

    # -- writing ----------------------------------------------------------------------------

    def put(self, sources: list[Source]) -> list[BlobRef]:
        """Store every source as blobs (before the entry that refers to them)."""
        refs = []
        for source in sources:
            if source.kind in ("pickle", "buffer"):
                data = source.value
                refs.append(BlobRef(source.kind, self._put_bytes(data), len(data)))
            elif source.kind == "file":
                f: File = source.value
                digest, size = self._put_file(f.path)
                refs.append(BlobRef("file", digest, size, f.name))
            else:
                d: Dir = source.value
                files = dir_manifest(d)
                root = d.path
                for rel, digest, size, _ in files:
                    self._put_file(os.path.join(root, rel), (digest, size))
                manifest = manifest_bytes(files)
                refs.append(BlobRef("dir", self._put_bytes(manifest), len(manifest), d.name))
        return refs

    def _put_bytes(self, data: bytes | memoryview) -> str:
        digest = _digest(data)
        self._put(digest, len(data), lambda p: self.store.write(p, [data], exclusive=False))
        return digest

    def _put_file(self, local: str, known: tuple[str, int] | None = None) -> tuple[str, int]:
        digest, size = known or self.memo.file(local)
        self._put(digest, size, lambda p: self.store.put_file(p, local))
        return digest, size

    def _put(self, digest: str, size: int, write: Any) -> None:
        """Write blob `digest` unless a copy of it is there, fresh enough to survive a GC."""
        path = _path(digest)
        info = self.store.info(path)
        if info is not None and info.size == size:
            if time.time() - info.mtime < GRACE_S / 2:
                return
            if isinstance(self.store, LocalStore):
                self.store.touch(path)
                return
        write(path)  # same name, same bytes: replacing a copy is harmless

    def ensure(self, refs: tuple[BlobRef, ...], sources: list[Source]) -> None:
        """After a slow commit: write again any blob a collector removed meanwhile."""
        if any(self.store.info(_path(r.digest)) is None for r in refs):
            self.put(sources)

    # -- reading ----------------------------------------------------------------------------

    def read(self, ref: BlobRef) -> bytes:
        """The verified bytes of a blob.

        Raises:
            BlobProblem: the blob is missing or damaged.
        """
        data = self.store.read(_path(ref.digest))
        if data is None:
            raise BlobProblem(f"blob {ref.digest[:12]} missing")
        if len(data) != ref.size or _digest(data) != ref.digest:
            raise self._damaged(ref.digest)
        return data

    def restore_file(self, ref: BlobRef) -> File:
        """A local copy of a file blob, verified (reused while it is unchanged)."""
        target = self.local / "restored" / ref.digest / (ref.name or "file")
        self._restore(ref.digest, ref.size, str(target))
        return File(str(target))

    def restore_dir(self, ref: BlobRef) -> Dir:
        """A local copy of a Dir: its manifest's files, each verified."""
        try:
            raw = json.loads(self.read(ref))
            files = [(str(r), str(d), int(n), bool(x)) for r, d, n, x in raw["files"]]
        except BlobProblem:
            raise
        except Exception:
            raise BlobProblem(f"manifest {ref.digest[:12]} unreadable") from None
        root = self.local / "restored" / ref.digest / (ref.name or "dir")
        expected = set()
        for rel, digest, size, executable in files:
            parts = rel.split("/")
            if not rel or any(p in ("", ".", "..") for p in parts):
                raise BlobProblem(f"manifest {ref.digest[:12]} names a path outside its folder")
            target = root.joinpath(*parts)
            expected.add(str(target))
            self._restore(digest, size, str(target), executable)
        root.mkdir(parents=True, exist_ok=True)
        for folder, _, names in os.walk(root):  # files added to the copy since: not the Dir's
            for name in names:
                path = os.path.join(folder, name)
                if path not in expected:
                    os.unlink(path)
        return Dir(str(root))

    def _restore(self, digest: str, size: int, target: str, executable: bool = False) -> None:
        """Make `target` a verified copy of blob `digest` (with the executable bit asked)."""
        try:
            if self.memo.file(target) == (digest, size):  # restored before, unchanged: a stat
                self._remember(target, digest, size, executable)
                return
        except OSError:
            pass
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with temp_beside(target) as tmp:
            if not self.store.get_file(_path(digest), tmp):
                raise BlobProblem(f"blob {digest[:12]} missing")
            if _file_digest(tmp) != (digest, size):
                raise self._damaged(digest)
            os.replace(tmp, target)
        self._remember(target, digest, size, executable, fresh=True)

    def _remember(
        self, target: str, digest: str, size: int, executable: bool, *, fresh: bool = False
    ) -> None:
        """Set the executable bit if it differs, and remember our copy's digest at once
        (we know what we wrote; a chmod changes the ctime the memo is keyed by)."""
        mode = os.stat(target).st_mode
        if bool(mode & 0o100) != executable:
            os.chmod(target, mode | 0o111 if executable else mode & ~0o111)
        elif not fresh:
            return
        remember(self.memo, target, digest, size)

    # -- maintenance ------------------------------------------------------------------------

    def listing(self) -> Iterator[tuple[str, int, float]]:
        """(digest, size, mtime) of every blob in the store."""
        for info in self.store.list(FOLDER):
            name = info.path.rsplit("/", 1)[-1]
            if len(name) == 64:
                yield name, info.size, info.mtime

    def members(self, ref: BlobRef) -> list[str]:
        """The file blobs a Dir's manifest refers to (`[]` if it cannot be read)."""
        try:
            raw = json.loads(self.read(ref))
            return [str(f[1]) for f in raw["files"]]
        except Exception:
            return []

    def delete(self, digest: str) -> None:
        self.store.delete(_path(digest))


def _file_digest(path: str) -> tuple[str, int]:
    h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    size = os.path.getsize(path)
    if size:
        h.update_mmap(path)
    return h.hexdigest(), size
