"""`flyte.io.File`: a file by path (local or any fsspec URL), cached by its content.

Locally nothing is uploaded: `File.from_local(p)` refers to `p` itself, as in
Flyte 2's local runs, and `File.new_remote()` is a fresh path in the run's
raw-data folder. As a cached task's input a `File` is keyed by its bytes (or
by the `hash` it was given), never by its path, so the same content at another
path hits and edited content misses. A `hash_method` (a `flyte.io.HashFunction`)
sees the bytes written through `open("wb")` or read by `from_local`, and its
result becomes the file's `hash`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from ._base import Stored
from ._storage import content_digest, filesystem, is_local, new_path

__all__ = ["File"]

T = TypeVar("T")


class _Ready:
    """A value that can also be awaited: `fh.read()` in sync code, `await fh.read()` in async."""

    def __await__(self) -> Generator[Any, None, Any]:
        yield from ()
        return self._plain()

    def _plain(self) -> Any:
        return self


class _ReadyBytes(_Ready, bytes):
    def _plain(self) -> bytes:
        return bytes(self)


class _ReadyText(_Ready, str):
    def _plain(self) -> str:
        return str(self)


class _ReadyInt(_Ready, int):
    def _plain(self) -> int:
        return int(self)


class _ReadyList(_Ready, list):  # type: ignore[type-arg]
    def _plain(self) -> list[Any]:
        return list(self)


class _ReadyNone(_Ready):
    def _plain(self) -> None:
        return None


def _ready(data: Any) -> Any:
    return _ReadyText(data) if isinstance(data, str) else _ReadyBytes(data)


class FileHandle:
    """An open file that works both ways: `await fh.read()`, `await fh.readline()`,
    `async for line in fh` in async code (as Flyte 2's handles), and as a plain file object
    for libraries (`df.to_csv(fh)`)."""

    def __init__(self, raw: Any, hashing: Any = None) -> None:
        self._raw = raw
        self._hashing = hashing

    def read(self, size: int = -1) -> Any:
        return _ready(self._raw.read(size))

    def readline(self, size: int = -1) -> Any:
        return _ready(self._raw.readline(size))

    def readlines(self, hint: int = -1) -> _ReadyList:
        return _ReadyList(self._raw.readlines(hint))

    def write(self, data: Any) -> _ReadyInt:
        if self._hashing is not None:
            self._hashing.update(data)
        return _ReadyInt(self._raw.write(data) or 0)

    def close(self) -> _ReadyNone:
        self._raw.close()
        return _ReadyNone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._raw)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[Any]:
        for line in self._raw:
            yield line

    def __enter__(self) -> FileHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


def _makedirs_for(fs: Any, inner: str) -> None:
    parent = os.path.dirname(inner)
    if parent:
        fs.makedirs(parent, exist_ok=True)


def _split_hash(hash_method: Any) -> tuple[str | None, Any]:
    """`(hash, hash_method)`: a string is the cache key itself, anything else hashes the data."""
    return (hash_method, None) if isinstance(hash_method, str) else (None, hash_method)


@dataclass
class File(Stored, Generic[T]):
    """A file at `path` (local, or any fsspec URL).

    Attributes:
        path: Where the file is.
        name: Its name (default: the last part of `path`).
        format: A format label (e.g. `"csv"`).
        hash: A cache key given for it; else its content is hashed.
        hash_method: A `HashFunction` that computes `hash` from the bytes written.
    """

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None
    hash_method: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self._named()

    def _digest(self) -> tuple[str, str]:
        return ("blake3", content_digest(self.path))

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def new_remote(cls, file_name: str | None = None, hash_method: Any = None) -> File[T]:
        """A new file to write to, in the run's raw-data folder."""
        key, method = _split_hash(hash_method)
        return cls(path=new_path(file_name), hash=key, hash_method=method)

    @classmethod
    def named_remote(cls, name: str) -> File[T]:
        """A file in the run's raw-data folder whose path follows from `name`."""
        return cls(path=new_path(name))

    @classmethod
    def from_existing_remote(cls, remote_path: str, file_cache_key: str | None = None) -> File[T]:
        """A reference to an existing file; `file_cache_key` replaces its content as cache key."""
        return cls(path=remote_path, hash=file_cache_key)

    @classmethod
    def from_local_sync(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        hash_method: Any = None,
        **kwargs: Any,
    ) -> File[T]:
        """The local file at `local_path` (copied to `remote_destination` when given)."""
        local = Path(local_path)
        if not local.exists():
            raise ValueError(f"File not found: {local_path}")
        path = str(local.absolute())
        if remote_destination is not None:
            fs, inner = filesystem(remote_destination)
            _makedirs_for(fs, inner)
            fs.put_file(path, inner)
            path = remote_destination
        key, method = _split_hash(hash_method)
        if method is not None:
            method.update(local.read_bytes())
            key = method.result()
        return cls(path=path, name=local.name, hash=key, hash_method=method)

    @classmethod
    async def from_local(cls, local_path: str | Path, *args: Any, **kwargs: Any) -> File[T]:
        """The async form of `from_local_sync`."""
        return cls.from_local_sync(local_path, *args, **kwargs)

    # -- reading and writing ---------------------------------------------------------------

    @contextlib.contextmanager
    def open_sync(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Open the file as a plain file object: `with f.open_sync("rb") as fh: ...`."""
        if block_size is not None:
            kwargs["block_size"] = block_size
        if compression is not None:
            kwargs["compression"] = compression
        fs, inner = filesystem(self.path)
        writing = any(c in mode for c in "wax")
        if writing:
            _makedirs_for(fs, inner)
        raw = fs.open(inner, mode, **kwargs)
        try:
            yield raw
        finally:
            raw.close()
        if writing and self.hash_method is not None:
            self.hash = self.hash_method.result()

    @contextlib.asynccontextmanager
    async def open(self, mode: str = "rb", *args: Any, **kwargs: Any) -> AsyncIterator[FileHandle]:
        """Open the file: `async with f.open("rb") as fh: data = await fh.read()` (the options
        of `open_sync`)."""
        with self.open_sync(mode, *args, **kwargs) as raw:
            writing = any(c in mode for c in "wax")
            yield FileHandle(raw, self.hash_method if writing else None)

    def exists_sync(self) -> bool:
        """Whether the file exists."""
        fs, inner = filesystem(self.path)
        return bool(fs.exists(inner))

    def _copy(self, fs: Any, inner: str, target: Path) -> Path:
        if target.is_dir():
            target = target / (self.name or "file")
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_local(self.path):
            shutil.copyfile(inner, target)
        else:
            fs.get_file(inner, str(target))
        return target
