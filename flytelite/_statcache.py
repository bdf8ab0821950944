"""Content digests of files, remembered by their `stat`: an unchanged file is never re-read.

`fl.File` and `fl.Dir` inputs are keyed by their bytes (blake3). Reading a 1 GB
file on every call would cost a second; so each digest is remembered under the
file's identity and state as `os.stat` reports them — device, inode, size,
`mtime_ns` and `ctime_ns` — and reused while all of them are unchanged. An edit
changes the size or the mtime; `touch` changes the mtime (the file is re-read,
and its key is unchanged); an edit that restores the old mtime (`touch -d`)
still changes the ctime, which no user-level call can set back.

Two cautions make the memo sound:

- A file is remembered only when its mtime is a little in the past
  (`_SETTLED_NS`). A write within the file system's timestamp granularity
  after the digest was taken would otherwise leave the same stat behind (git's
  "racy clean" problem); a file that young is simply hashed again next time.
- The memo is machine-local state, kept in a SQLite database (stdlib, safe for
  several processes) in the cache's local folder: `<cache folder>/local/` for a
  local cache, the per-user cache folder's `local/` for a remote one (see
  `local_dir`). Losing it costs re-reads, never a wrong key.

Remote files (any fsspec URL) are streamed through blake3 too: object-store
checksums (S3's ETag is an MD5, or an MD5 of parts) are not blake3 and not
always a content hash, so they are used only as the memo's key — the digest
of a remote object is remembered under (URL, size, ETag or mtime).
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import blake3

__all__ = ["StatCache", "digest_file", "digest_stream", "local_dir", "stat_cache"]

_CHUNK = 8 << 20
_BIG = 1 << 20
_SETTLED_NS = 2_000_000_000
"""A file younger than this (by mtime) is hashed but not remembered."""


def digest_stream(f: BinaryIO) -> tuple[str, int]:
    """blake3 (hex) and size of everything left in `f`, read in chunks."""
    h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    size = 0
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return h.hexdigest(), size
        h.update(chunk)
        size += len(chunk)


def _digest_path(path: str) -> tuple[str, int]:
    size = os.path.getsize(path)
    if size >= _BIG:
        # blake3 maps the file and hashes it with every core.
        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
        h.update_mmap(path)
        return h.hexdigest(), size
    with open(path, "rb") as f:
        return blake3.blake3(f.read()).hexdigest(), size


def platform_cache_folder() -> Path:
    """The per-user cache folder of this platform (not `FLYTELITE_CACHE_URL`)."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "flytelite"


def local_dir(local_root: str | None) -> Path:
    """The machine-local folder of a cache: the stat memo and restored file outputs.

    `local_root` is the cache's own folder when it is local (and writable), else
    `None`: then the per-user cache folder's `local/` is used.
    """
    if local_root is not None:
        return Path(local_root) / "local"
    return platform_cache_folder() / "local"


class StatCache:
    """File digests by stat, in one SQLite database; `writable=False` only reads it."""

    def __init__(self, folder: Path, *, writable: bool = True) -> None:
        self.folder = folder
        self.writable = writable
        self._local = threading.local()
        self._broken = False

    def __getstate__(self) -> dict[str, Any]:
        # Sent to process and Dask workers with the catalog: connections stay here.
        return {"folder": self.folder, "writable": self.writable}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"], writable=state["writable"])  # type: ignore[misc]

    def _db(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is not None or self._broken:
            return db
        import sqlite3  # lazily: only runs with files need it

        try:
            path = self.folder / "stat-cache.sqlite"
            if self.writable:
                self.folder.mkdir(parents=True, exist_ok=True)
            elif not path.exists():
                return None
            mode = "rwc" if self.writable else "ro"
            db = sqlite3.connect(
                f"file:{path}?mode={mode}", uri=True, timeout=5, check_same_thread=False
            )
            if self.writable:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=OFF")  # advisory: a lost row is a re-read
                db.execute(
                    "CREATE TABLE IF NOT EXISTS digests "
                    "(ident TEXT PRIMARY KEY, digest TEXT NOT NULL, size INTEGER NOT NULL)"
                )
        except Exception:
            self._broken = True  # an unusable memo only costs re-reads
            return None
        self._local.db = db
        return db

    def get(self, ident: str) -> tuple[str, int] | None:
        db = self._db()
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT digest, size FROM digests WHERE ident = ?", (ident,)
            ).fetchone()
        except Exception:
            return None
        return None if row is None else (str(row[0]), int(row[1]))

    def put(self, ident: str, digest: str, size: int) -> None:
        if not self.writable:
            return
        db = self._db()
        if db is None:
            return
        try:
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO digests (ident, digest, size) VALUES (?, ?, ?)",
                    (ident, digest, size),
                )
        except Exception:  # noqa: S110 (advisory: a lost row is a re-read)
            pass

    def file(self, path: str) -> tuple[str, int]:
        """The blake3 (hex) and size of the local file at `path`, from the memo when unchanged.

        Raises:
            OSError: the file cannot be read.
        """
        st = os.stat(path)
        ident = _ident(st)
        found = self.get(ident)
        if found is not None:
            return found
        digest, size = _digest_path(path)
        after = os.stat(path)
        settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS
        if settled and (after.st_mtime_ns, after.st_size) == (st.st_mtime_ns, st.st_size):
            self.put(ident, digest, size)
        return digest, size


def _ident(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def remember(memo: StatCache, path: str, digest: str, size: int) -> None:
    """Remember the digest of a file just written by flytelite itself (a restored
    copy), without waiting for it to settle: its bytes are known."""
    memo.put(_ident(os.stat(path)), digest, size)


_current: contextvars.ContextVar[StatCache | None] = contextvars.ContextVar(
    "flytelite_stat_cache", default=None
)
_default: dict[str, StatCache] = {}


def stat_cache() -> StatCache:
    """The stat memo of the running cache (set by `fl.run`), else the default cache's."""
    found = _current.get()
    if found is not None:
        return found
    url = os.environ.get("FLYTELITE_CACHE_URL") or str(platform_cache_folder())
    memo = _default.get(url)
    if memo is None:
        from .catalog._store import local_root  # lazily: hashing outside a run is rare

        root = local_root(url)
        folder = local_dir(str(Path(root).expanduser().absolute()) if root else None)
        memo = _default[url] = StatCache(folder)
    return memo


def use_stat_cache(cache: StatCache) -> contextvars.Token[StatCache | None]:
    """Make `cache` the memo of the current context (a run)."""
    return _current.set(cache)


def reset_stat_cache(token: contextvars.Token[StatCache | None]) -> None:
    _current.reset(token)


def digest_file(path: str) -> tuple[str, int]:
    """blake3 (hex) and size of a local file, through the current stat memo."""
    return stat_cache().file(path)
