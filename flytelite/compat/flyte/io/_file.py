"""`flyte.io.File`: a file by path (local or any fsspec URL), cached by its content.

Locally nothing is uploaded: `File.from_local(p)` refers to `p` itself, as in
Flyte 2's local runs, and `File.new_remote()` is a fresh path in the run's
raw-data folder. As a cached task's input a `File` is keyed by its bytes (or
by the `hash` it was given), never by its path, so the same content at another
path hits and edited content misses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ._storage import content_digest, filesystem, is_local, new_path

__all__ = ["File"]

T = TypeVar("T")


class _Ready(bytes):
    """Bytes that can also be awaited: `fh.read()` in sync code, `await fh.read()` in async."""

    def __await__(self) -> Generator[Any, None, bytes]:
        yield from ()
        return bytes(self)


class _ReadyText(str):
    """Text that can also be awaited."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, str]:
        yield from ()
        return str(self)


class _ReadyInt(int):
    """A count that can also be awaited."""

    def __await__(self) -> Generator[Any, None, int]:
        yield from ()
        return int(self)


class _ReadyNone:
    def __await__(self) -> Generator[Any, None, None]:
        yield from ()
        return None


class FileHandle:
    """An open file that works both ways: `await fh.read()` / `await fh.write(b)` in async
    code (as Flyte 2's handles), and as a plain file object for libraries (`df.to_csv(fh)`)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> Any:
        data = self._raw.read(size)
        return _ReadyText(data) if isinstance(data, str) else _Ready(data)

    def write(self, data: Any) -> _ReadyInt:
        return _ReadyInt(self._raw.write(data) or 0)

    def close(self) -> _ReadyNone:
        self._raw.close()
        return _ReadyNone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._raw)

    def __enter__(self) -> FileHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


def _open(path: str, mode: str, **kwargs: Any) -> Any:
    fs, inner = filesystem(path)
    if any(c in mode for c in "wax"):
        parent = os.path.dirname(inner)
        if parent:
            fs.makedirs(parent, exist_ok=True)
    return fs.open(inner, mode, **kwargs)


def _fsspec_options(kwargs: dict[str, Any], block_size: int | None, compression: Any) -> None:
    if block_size is not None:
        kwargs["block_size"] = block_size
    if compression is not None:
        kwargs["compression"] = compression


@dataclass
class File(Generic[T]):
    """A file at `path` (local, or any fsspec URL).

    Attributes:
        path: Where the file is.
        name: Its name (default: the last part of `path`).
        format: A format label (e.g. `"csv"`).
        hash: A cache key given for it; else its content is hashed.
    """

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None

    def __post_init__(self) -> None:
        self.path = str(self.path)
        if self.name is None:
            self.name = Path(self.path).name

    def __flytelite_hash__(self) -> tuple[str, str]:
        """The cache key of this file: the `hash` it was given, else its content."""
        if self.hash is not None:
            return ("hash", self.hash)
        return ("blake3", content_digest(self.path))

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def new_remote(cls, file_name: str | None = None, hash_method: Any = None) -> File[T]:
        """A new file to write to, in the run's raw-data folder."""
        key = hash_method if isinstance(hash_method, str) else None
        return cls(path=new_path(file_name), hash=key)

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
            parent = os.path.dirname(inner)
            if parent:
                fs.makedirs(parent, exist_ok=True)
            fs.put_file(path, inner)
            path = remote_destination
        key = hash_method if isinstance(hash_method, str) else None
        return cls(path=path, name=local.name, hash=key)

    @classmethod
    async def from_local(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        hash_method: Any = None,
        **kwargs: Any,
    ) -> File[T]:
        """The async form of `from_local_sync`."""
        return cls.from_local_sync(local_path, remote_destination, hash_method, **kwargs)

    # -- reading and writing ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def open(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[FileHandle]:
        """Open the file: `async with f.open("rb") as fh: data = await fh.read()`."""
        _fsspec_options(kwargs, block_size, compression)
        raw = _open(self.path, mode, **kwargs)
        try:
            yield FileHandle(raw)
        finally:
            raw.close()

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
        _fsspec_options(kwargs, block_size, compression)
        raw = _open(self.path, mode, **kwargs)
        try:
            yield raw
        finally:
            raw.close()

    def exists_sync(self) -> bool:
        """Whether the file exists."""
        fs, inner = filesystem(self.path)
        return bool(fs.exists(inner))

    async def exists(self) -> bool:
        """Whether the file exists."""
        return self.exists_sync()

    def download_sync(self, local_path: str | Path | None = None) -> str:
        """A local path with the file's content: the file itself when it is local and no
        `local_path` is asked for, else a copy at `local_path` (or a new temporary path)."""
        if local_path is None and is_local(self.path):
            fs, inner = filesystem(self.path)
            return str(inner)
        target = Path(local_path) if local_path is not None else Path(new_path(self.name))
        if target.is_dir():
            target = target / (self.name or "file")
        target.parent.mkdir(parents=True, exist_ok=True)
        fs, inner = filesystem(self.path)
        if is_local(self.path):
            shutil.copyfile(inner, target)
        else:
            fs.get_file(inner, str(target))
        return str(target)

    async def download(self, local_path: str | Path | None = None) -> str:
        """The async form of `download_sync`."""
        return self.download_sync(local_path)
