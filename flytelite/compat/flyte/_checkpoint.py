"""`flyte.Checkpoint`: state a task call saves, for its next attempt to resume from.

`flyte.ctx().checkpoint` inside a task gives the call's checkpoint. `save`
writes bytes, a file, or a folder (as a gzip tar) to the call's checkpoint
object; when the call fails and is retried, the next attempt's `load()`
restores what the last attempt saved, as Flyte 2's local runner does, and
returns its path (`path / "payload"` for bytes or a file, `path` for a
folder), or `None` on the first attempt. Paths are local or any fsspec URL.
"""

from __future__ import annotations

import pathlib
import shutil
import tarfile
import tempfile
import weakref
from collections.abc import Callable
from typing import Any

import fsspec

__all__ = ["BaseCheckpoint", "Checkpoint", "latest_checkpoint"]

_PAYLOAD = "payload"


def latest_checkpoint(
    root: pathlib.Path,
    glob_pattern: str = "**/last.ckpt",
    *,
    key: Callable[[pathlib.Path], Any] | None = None,
) -> pathlib.Path | None:
    """The file under `root` matching `glob_pattern` with the largest `key` (default: the
    newest), or `None`."""
    root = pathlib.Path(root)
    pattern = glob_pattern[3:] if glob_pattern.startswith("**/") else glob_pattern
    matches = list(root.rglob(pattern) if glob_pattern.startswith("**/") else root.glob(pattern))
    if not matches:
        return None
    return max(matches, key=key or (lambda p: p.stat().st_mtime))


class BaseCheckpoint:
    """What a checkpoint offers: `path`, `prev_exists()`, `load`/`save` and their `_sync` forms."""


class Checkpoint(BaseCheckpoint):
    """A call's checkpoint: saved to `checkpoint_dest`, loaded from `checkpoint_src`.

    Args:
        checkpoint_dest: Where `save` writes (a path or fsspec URL of one object).
        checkpoint_src: What the previous attempt saved, if there was one.
    """

    def __init__(self, checkpoint_dest: str, checkpoint_src: str | None = None) -> None:
        self._dest = checkpoint_dest
        self._src = checkpoint_src.strip().strip('"') or None if checkpoint_src else None
        self._workspace = tempfile.mkdtemp(prefix="flytelite-checkpoint-")
        weakref.finalize(self, shutil.rmtree, self._workspace, ignore_errors=True)
        self._loaded: tuple[pathlib.Path | None] | None = None

    @property
    def remote_destination(self) -> str:
        """Where `save` writes."""
        return self._dest

    @property
    def remote_source(self) -> str | None:
        """What the previous attempt saved, if any."""
        return self._src

    @property
    def path(self) -> pathlib.Path:
        """The local folder a loaded checkpoint is restored into."""
        return pathlib.Path(self._workspace)

    def prev_exists(self) -> bool:
        """Whether there is a previous attempt to load from."""
        return self._src is not None

    def load_sync(self) -> pathlib.Path | None:
        """Restore the previous attempt's checkpoint into `path`; its path, or `None`."""
        if self._loaded is None:
            self._loaded = (self._restore(),)
        return self._loaded[0]

    async def load(self) -> pathlib.Path | None:
        """The async form of `load_sync`."""
        return self.load_sync()

    def save_sync(self, data: pathlib.Path | str | bytes) -> None:
        """Save bytes, a file, or a folder (as a gzip tar of its entries) as this call's
        checkpoint."""
        fs, inner = fsspec.core.url_to_fs(self._dest)
        parent = inner.rsplit("/", 1)[0] if "/" in inner else ""
        if parent:
            fs.makedirs(parent, exist_ok=True)
        if isinstance(data, bytes):
            with fs.open(inner, "wb") as out:
                out.write(data)
            return
        source = pathlib.Path(data)
        if not source.exists():
            raise FileNotFoundError(f"Checkpoint source path does not exist: {source}")
        if not source.is_dir():
            fs.put_file(str(source), inner)
            return
        with tempfile.TemporaryDirectory() as scratch:
            archive = pathlib.Path(scratch) / "checkpoint.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                for child in sorted(source.iterdir()):
                    tar.add(child, arcname=child.name)
            fs.put_file(str(archive), inner)

    async def save(self, data: pathlib.Path | str | bytes) -> None:
        """The async form of `save_sync`."""
        self.save_sync(data)

    def _restore(self) -> pathlib.Path | None:
        if self._src is None:
            return None
        fs, inner = fsspec.core.url_to_fs(self._src)
        if not fs.isfile(inner):
            return None  # the previous attempt saved nothing
        workspace = self.path
        for child in workspace.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        download = workspace / f".{_PAYLOAD}.download"
        fs.get_file(inner, str(download))
        if download.stat().st_size == 0:
            download.unlink()
            return None
        if tarfile.is_tarfile(download):
            with tarfile.open(download, "r:*") as tar:
                if hasattr(tarfile, "data_filter"):  # Python 3.10.12+: refuse paths out of it
                    tar.extractall(workspace, filter="data")
                else:  # pragma: no cover
                    tar.extractall(workspace)  # noqa: S202
            download.unlink()
            return workspace
        return download.rename(workspace / _PAYLOAD)
