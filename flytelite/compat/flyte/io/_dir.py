"""`flyte.io.Dir`: a folder by path (local or any fsspec URL), cached by its content.

As a cached task's input a `Dir` is keyed by its files' relative paths and
bytes (or by the `hash` it was given), never by where it is.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ._base import Stored
from ._file import File
from ._storage import filesystem, is_local, new_path, tree_digest

__all__ = ["Dir"]

T = TypeVar("T")


@dataclass
class Dir(Stored, Generic[T]):
    """A folder at `path` (local, or any fsspec URL).

    Attributes:
        path: Where the folder is.
        name: Its name (default: the last part of `path`).
        format: A format label.
        hash: A cache key given for it; else its content is hashed.
    """

    path: str
    name: str | None = None
    format: str = ""
    hash: str | None = None

    def __post_init__(self) -> None:
        self._named()

    def _digest(self) -> tuple[str, str]:
        return ("blake3-tree", tree_digest(self.path))

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def new_remote(cls, dir_name: str | None = None, hash: str | None = None) -> Dir[T]:
        """A new, empty folder in the run's raw-data folder."""
        return cls(path=new_path(dir_name, folder=True), hash=hash)

    @classmethod
    def from_existing_remote(cls, remote_path: str, dir_cache_key: str | None = None) -> Dir[T]:
        """A reference to an existing folder; `dir_cache_key` replaces its content as cache key."""
        return cls(path=remote_path, hash=dir_cache_key)

    @classmethod
    def from_local_sync(
        cls,
        local_path: str | Path,
        remote_path: str | None = None,
        dir_cache_key: str | None = None,
        **kwargs: Any,
    ) -> Dir[T]:
        """The local folder at `local_path` (copied to `remote_path` when given)."""
        local = Path(local_path)
        if not local.is_dir():
            raise ValueError(f"Directory not found: {local_path}")
        path = str(local.absolute())
        if remote_path is not None:
            fs, inner = filesystem(remote_path)
            fs.put(path.rstrip("/") + "/", inner, recursive=True)
            path = remote_path
        return cls(path=path, name=local.name, hash=dir_cache_key)

    @classmethod
    async def from_local(cls, local_path: str | Path, *args: Any, **kwargs: Any) -> Dir[T]:
        """The async form of `from_local_sync`."""
        return cls.from_local_sync(local_path, *args, **kwargs)

    # -- contents --------------------------------------------------------------------------

    def _file(self, fs: Any, found: str) -> File[T]:
        path = found if is_local(self.path) else fs.unstrip_protocol(found)
        return File(path=path)

    def walk_sync(
        self, recursive: bool = True, file_pattern: str = "*", max_depth: int | None = None
    ) -> Iterator[File[T]]:
        """Its files, in sorted order: every file below it, or only the top level."""
        fs, inner = filesystem(self.path)
        root = inner.rstrip("/")
        depth = 1 if not recursive else max_depth
        for found in sorted(fs.find(root, maxdepth=depth)):
            if file_pattern == "*" or Path(found).match(file_pattern):
                yield self._file(fs, found)

    async def walk(
        self, recursive: bool = True, max_depth: int | None = None
    ) -> AsyncIterator[File[T]]:
        """The async form of `walk_sync`."""
        for file in self.walk_sync(recursive=recursive, max_depth=max_depth):
            yield file

    def list_files_sync(self) -> list[File[T]]:
        """Its top-level files."""
        return list(self.walk_sync(recursive=False))

    async def list_files(self) -> list[File[T]]:
        """The async form of `list_files_sync`."""
        return self.list_files_sync()

    def get_file_sync(self, file_name: str) -> File[T] | None:
        """The file called `file_name` directly in it, or `None`."""
        fs, inner = filesystem(self.path)
        candidate = f"{inner.rstrip('/')}/{file_name}"
        return self._file(fs, candidate) if fs.isfile(candidate) else None

    async def get_file(self, file_name: str) -> File[T] | None:
        """The async form of `get_file_sync`."""
        return self.get_file_sync(file_name)

    def exists_sync(self) -> bool:
        """Whether the folder exists."""
        fs, inner = filesystem(self.path)
        return bool(fs.isdir(inner))

    def _copy(self, fs: Any, inner: str, target: Path) -> Path:
        if is_local(self.path):
            shutil.copytree(inner, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            fs.get(inner.rstrip("/") + "/", str(target), recursive=True)
        return target
