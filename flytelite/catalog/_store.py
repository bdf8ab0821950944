"""Object stores under a catalog: a local folder, or any fsspec URL.

A store reads and writes whole objects by relative path. Writes are atomic: a
reader sees the old object, the new one, or none, never a part. `exclusive`
writes create only if absent (the first writer wins).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlparse

import blake3

from .._errors import MissingExtraError, StoreError

__all__ = [
    "FsspecStore",
    "LocalStore",
    "ObjectInfo",
    "Store",
    "local_root",
    "open_store",
    "safe_name",
    "temp_beside",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
)
_JOIN_BYTES = 1 << 16
"""Parts of an object up to this size in all are joined and written with one call."""


def safe_name(name: str) -> str:
    """A single path component for `name`: no separators, no `..`, no collisions.

    Names that needed changes get a short digest of the original appended, so
    `a/b` and `a_b` stay apart.
    """
    cleaned = _UNSAFE.sub("_", name).strip(".")[:100]
    if cleaned == name and name:
        return name
    return f"{cleaned or 'x'}-{blake3.blake3(name.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class ObjectInfo:
    path: str
    size: int
    mtime: float


class Store(Protocol):
    """Whole-object storage, addressed by `/`-separated relative paths.

    Transport failures raise `OSError` (`StoreError` wraps a file system's own
    exceptions), which the catalog client retries and counts towards its
    circuit breaker.
    """

    url: str

    def read(self, path: str) -> bytes | None:
        """The object's bytes, or `None` if there is none."""

    def write(self, path: str, parts: Sequence[bytes | memoryview], *, exclusive: bool) -> bool:
        """Write the object atomically; with `exclusive`, only if absent (else `False`)."""

    def read_head(self, path: str, size: int) -> bytes | None:
        """The first `size` bytes of the object, or `None` if there is none."""

    def delete(self, path: str) -> None:
        """Remove the object; a missing object is not an error."""

    def names(self, folder: str) -> list[str]:
        """The names directly inside `folder`, fresh (never from a listing cache)."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`."""

    def info(self, path: str) -> ObjectInfo | None:
        """The object's size and modification time, or `None` if there is none."""

    def put_file(self, path: str, local: str) -> None:
        """Write the object from a local file (atomically; replaces any object there)."""

    def get_file(self, path: str, local: str) -> bool:
        """Copy the object to a local file; `False` if there is none."""


@contextlib.contextmanager
def temp_beside(target: str) -> Iterator[str]:
    """A temporary path in `target`'s folder (to write, then move into place); removed
    afterwards if it is still there. Names end in `.tmp`: listings skip them."""
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


class LocalStore:
    """A folder on a local file system, written with plain `os` calls."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)
        self._prefix = str(self.root) + os.sep
        self._made: set[str] = set()
        self._token = secrets.token_hex(4)
        self._serial = itertools.count()

    def _path(self, path: str) -> str:
        # Plain strings: pathlib costs more than the read of a small entry.
        return self._prefix + (path if os.sep == "/" else path.replace("/", os.sep))

    def read(self, path: str) -> bytes | None:
        try:
            with open(self._path(path), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, path: str, parts: Sequence[bytes | memoryview], *, exclusive: bool) -> bool:
        target = self._path(path)
        folder, name = os.path.split(target)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        try:
            tmp, fd = self._create_temp(folder, name)
        except FileNotFoundError:
            self._made.discard(folder)  # the folder was removed under us (cache clear)
            raise
        try:
            if len(parts) > 1 and sum(len(part) for part in parts) <= _JOIN_BYTES:
                parts = (b"".join(parts),)  # one write: a small entry's syscalls cost more
            try:
                for part in parts:
                    view = memoryview(part)
                    while view:  # a short write: go on from where it stopped
                        view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            if not exclusive:
                os.replace(tmp, target)
                return True
            try:
                os.link(tmp, target)  # create-if-absent: EEXIST means another writer won
            except FileExistsError:
                return False
            return True
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def _create_temp(self, folder: str, name: str) -> tuple[str, int]:
        """A new temporary file beside `name` (created exclusively) and its descriptor.

        Names are this store's random token and a counter, so a write costs no
        random bytes; a clash (a forked child shares both) only takes a new token.
        """
        while True:
            tmp = os.path.join(folder, f".{name}.{self._token}{next(self._serial):x}.tmp")
            try:
                return tmp, os.open(tmp, _CREATE_FLAGS, 0o666)
            except FileExistsError:
                self._token = secrets.token_hex(4)

    def info(self, path: str) -> ObjectInfo | None:
        try:
            st = os.stat(self._path(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(path, st.st_size, st.st_mtime)

    def put_file(self, path: str, local: str) -> None:
        target = self._path(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with temp_beside(target) as tmp:
            shutil.copyfile(local, tmp)  # the kernel's copy (copy_file_range, sendfile)
            os.replace(tmp, target)

    def get_file(self, path: str, local: str) -> bool:
        try:
            shutil.copyfile(self._path(path), local)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def touch(self, path: str) -> None:
        """Set the object's modification time to now."""
        try:
            os.utime(self._path(path))
        except FileNotFoundError:
            pass

    def read_small(self, path: str, limit: int) -> bytes | int | None:
        """The object's bytes if it is smaller than `limit`, else its size (an `int`);
        `None` if there is none. One open, one `fstat`, one read: a small entry costs
        less than `read` (no buffered file object, no second read to find its end)."""
        try:
            fd = os.open(self._path(path), _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            size = os.fstat(fd).st_size
            if size >= limit:
                return size
            data = os.read(fd, size)
            while len(data) < size:  # a short read: only at the end, or interrupted
                more = os.read(fd, size - len(data))
                if not more:
                    break  # shorter than its size said: truncated meanwhile
                data += more
            return data
        finally:
            os.close(fd)

    def size(self, path: str) -> int | None:
        """The object's size in bytes, or `None` if there is none."""
        try:
            return os.stat(self._path(path)).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_head(self, path: str, size: int) -> bytes | None:
        try:
            with open(self._path(path), "rb") as f:
                return f.read(size)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def delete(self, path: str) -> None:
        try:
            os.unlink(self._path(path))
        except FileNotFoundError:
            pass

    def names(self, folder: str) -> list[str]:
        try:
            return [n for n in os.listdir(self._path(folder)) if not n.endswith(".tmp")]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # `os.scandir` and plain strings: a cache of 100k entries lists in a fraction
        # of the time that `os.walk` with `pathlib` takes.
        pending = [(self._path(prefix) if prefix else str(self.root), prefix)]
        while pending:
            folder, relative = pending.pop()
            try:
                found = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for item in found:
                name = f"{relative}/{item.name}" if relative else item.name
                try:
                    if item.is_dir(follow_symlinks=False):
                        pending.append((item.path, name))
                    elif not item.name.endswith(".tmp"):
                        st = item.stat()
                        yield ObjectInfo(name, st.st_size, st.st_mtime)
                except FileNotFoundError:
                    continue


_F = TypeVar("_F", bound=Callable[..., Any])


def _transport(method: _F) -> _F:
    """Raise the file system's own non-`OSError` exceptions as `StoreError`."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except OSError:
            raise
        except Exception as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


# Defaults for some file systems, used unless the storage options say otherwise.
# botocore retries a refused connection for about 10 s; s3fs retries it (and
# throttling) itself, and the catalog client retries and then stops contacting
# a dead store, so one botocore attempt per request is enough.
_S3_CONFIG = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 10}


def _with_defaults(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    if protocol in ("s3", "s3a"):
        config = dict(options.get("config_kwargs") or {})
        for name, value in _S3_CONFIG.items():
            config.setdefault(name, value)
        return {**options, "config_kwargs": config}
    return options


class FsspecStore:
    """Any fsspec file system (`memory://`, `s3://`, `gs://`, ...)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        import fsspec

        protocol = url.split("://", 1)[0].lower()
        options = _with_defaults(protocol, dict(storage_options or {}))
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as exc:
            raise _unusable_url(url, exc) from exc
        self.root = root.rstrip("/")
        self.url = url
        # s3fs asks for an object's size (a HEAD) before reading it in parallel
        # ranges; for entries, mostly small, one GET is faster.
        self._read_kwargs: dict[str, Any] = {}
        cat_file = getattr(self.fs, "_cat_file", None)
        if cat_file is not None and "max_concurrency" in inspect.signature(cat_file).parameters:
            self._read_kwargs["max_concurrency"] = 1

    def _path(self, path: str) -> str:
        return f"{self.root}/{path}"

    @_transport
    def read(self, path: str) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(self._path(path), **self._read_kwargs)
        except FileNotFoundError:
            return None
        return data

    @_transport
    def write(self, path: str, parts: Sequence[bytes | memoryview], *, exclusive: bool) -> bool:
        full = self._path(path)
        data = b"".join(parts)
        if not data:
            # An empty exclusive write may truncate an existing object on some stores.
            raise ValueError("refusing to write an empty object")
        if not exclusive:
            self.fs.pipe_file(full, data)
            return True
        try:
            # Object stores turn this into a conditional PUT (`If-None-Match: *`);
            # other file systems check for the object first.
            self.fs.pipe_file(full, data, mode="create")
        except FileExistsError:
            return False
        except OSError as exc:
            if _is_precondition_failure(exc):
                return False
            raise
        return True

    @_transport
    def read_head(self, path: str, size: int) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(self._path(path), start=0, end=size)
        except FileNotFoundError:
            return None
        return data

    @_transport
    def delete(self, path: str) -> None:
        try:
            self.fs.rm_file(self._path(path))
        except FileNotFoundError:
            pass

    @_transport
    def names(self, folder: str) -> list[str]:
        full = self._path(folder)
        self.fs.invalidate_cache(full)
        try:
            found = self.fs.ls(full, detail=False)
        except FileNotFoundError:
            return []
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in found]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._path(prefix) if prefix else self.root
        try:
            found = _transport(self.fs.find)(base, detail=True)
        except FileNotFoundError:
            return
        cut = len(self.root) + 1
        for full, info in found.items():
            yield ObjectInfo(full[cut:], int(info.get("size") or 0), _mtime(info))

    @_transport
    def info(self, path: str) -> ObjectInfo | None:
        try:
            info = self.fs.info(self._path(path))
        except FileNotFoundError:
            return None
        return ObjectInfo(path, int(info.get("size") or 0), _mtime(info))

    @_transport
    def put_file(self, path: str, local: str) -> None:
        self.fs.put_file(local, self._path(path))  # one PUT, or a multipart upload

    @_transport
    def get_file(self, path: str, local: str) -> bool:
        try:
            self.fs.get_file(self._path(path), local)
        except FileNotFoundError:
            return False
        return True


def _mtime(info: dict[str, Any]) -> float:
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0.0
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return float(mtime)


# fsspec's file-system packages that a flytelite extra installs.
_EXTRAS = {"s3fs": "s3"}


def _unusable_url(url: str, exc: ImportError | ValueError) -> Exception:
    """A clear error for a URL whose protocol fsspec does not know, or whose file system
    needs a package that is not installed; any other error is returned unchanged."""
    import fsspec.core
    from fsspec.registry import get_filesystem_class, known_implementations

    for part in url.split("::"):
        protocol = fsspec.core.split_protocol(part)[0] or "file"
        try:
            get_filesystem_class(protocol)
        except ValueError:
            return ValueError(
                f"the cache URL {url!r} has protocol {protocol!r}, which fsspec does not know; "
                "use a local folder or a URL such as s3://bucket/prefix."
            )
        except ImportError as missing:
            package = known_implementations[protocol]["class"].split(".", 1)[0]
            if package == "fsspec":  # one of fsspec's own file systems: its error names the need
                return MissingExtraError(
                    f"the cache URL {url!r} cannot be opened: {missing}.", extra=protocol
                )
            extra = _EXTRAS.get(package)
            install = f"pip install 'flytelite[{extra}]'" if extra else f"pip install {package}"
            return MissingExtraError(
                f"the cache URL {url!r} needs {package}, which is not installed: {install}.",
                extra=extra or package,
            )
    return exc


def _is_precondition_failure(exc: OSError) -> bool:
    """A failed conditional create that the file system did not map to `FileExistsError`."""
    text = str(exc)
    return "PreconditionFailed" in text or "If-None-Match" in text or "412" in text


def local_root(url: str) -> str | None:
    """The folder of a local cache URL (a path or `file://`), or `None` for other stores."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return url
    return None


def open_store(url: str, storage_options: dict[str, Any] | None = None) -> Store:
    """The store for `url`: local paths and `file://` URLs use plain `os` calls."""
    root = local_root(url)
    if root is not None:
        return LocalStore(root)
    return FsspecStore(url, storage_options)
