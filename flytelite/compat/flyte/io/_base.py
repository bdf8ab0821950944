"""What `File` and `Dir` share: a path (local or any fsspec URL), a name, a cache key, and the
async forms of their sync methods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._storage import filesystem, is_local, new_path

__all__ = ["Stored"]


class Stored:
    """A file or folder at `self.path`; subclasses are dataclasses with `path` and `name`."""

    path: str
    name: str | None
    hash: str | None

    def _named(self) -> None:
        self.path = str(self.path)
        if self.name is None:
            self.name = Path(self.path.rstrip("/")).name

    def _digest(self) -> tuple[str, str]:
        raise NotImplementedError

    def __flytelite_hash__(self) -> tuple[str, str]:
        """The cache key: the `hash` it was given, else its content."""
        if self.hash is not None:
            return ("hash", self.hash)
        return self._digest()

    def exists_sync(self) -> bool:
        """Whether it exists."""
        raise NotImplementedError

    async def exists(self) -> bool:
        """Whether it exists."""
        return self.exists_sync()

    def _copy(self, fs: Any, inner: str, target: Path) -> Path:
        raise NotImplementedError

    def download_sync(self, local_path: str | Path | None = None) -> str:
        """A local path with its content: the thing itself when it is local and no
        `local_path` is asked for, else a copy at `local_path` (or a new temporary path)."""
        fs, inner = filesystem(self.path)
        if local_path is None and is_local(self.path):
            return str(inner)
        target = Path(local_path) if local_path is not None else Path(new_path(self.name))
        return str(self._copy(fs, inner, target))

    async def download(self, local_path: str | Path | None = None) -> str:
        """The async form of `download_sync`."""
        return self.download_sync(local_path)
