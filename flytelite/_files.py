"""`fl.File` and `fl.Dir`: files and folders that tasks take and return, keyed by content.

As an input, a File is keyed by blake3 of its bytes, never by its path or
mtime; a Dir by its manifest: the sorted relative paths of its files, each
file's digest, and whether it is executable. Other mode bits (group and other
permissions, which umasks and checkouts vary) and empty folders are not part of
a Dir, as in git; symbolic links to files are read through, links to folders
are not followed. Unchanged local files are not re-read (`_statcache`).

As an output, a File or Dir is stored into the cache (content-addressed blobs,
`catalog._blobs`), so that a hit restores it after the original was deleted,
or on another machine; the restored object's `.path` is a local copy.

A `pathlib.Path` stays a plain value: its key is the path's text. Use a Path
for a location the task treats as a name, a File for data the task reads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import blake3

from ._statcache import digest_file, digest_stream, local_dir

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Dir", "File", "dir_manifest", "hooks", "manifest_bytes"]


def _is_url(text: str) -> bool:
    head, sep, _ = text.partition("://")
    return bool(sep) and len(head) > 1 and head.replace("+", "").replace("-", "").isalnum()


def _fs(url: str, options: dict[str, Any] | None) -> tuple[Any, str]:
    import fsspec  # lazily: only remote files need it

    fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    return fs, path


def _remote_digest(fs: Any, path: str, info: dict[str, Any]) -> tuple[str, int]:
    """blake3 of a remote object: streamed, remembered under (URL, size, ETag or mtime)."""
    from ._statcache import stat_cache

    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
    memo = stat_cache()
    ident = f"url:{fs.protocol}:{path}:{info.get('size')}:{version}" if version else None
    if ident is not None:
        found = memo.get(ident)
        if found is not None:
            return found
    with fs.open(path, "rb") as f:
        digest, size = digest_stream(f)
    if ident is not None:
        memo.put(ident, digest, size)
    return digest, size


class _Hooks(threading.local):
    """Set while a cache entry is pickled or loaded on this thread (`catalog._entry`):
    File and Dir objects then become, and come back from, references to blobs."""

    collect: Callable[[Any], int] | None = None
    loaded: list[Any] | None = None


hooks = _Hooks()


def _from_cache(index: int) -> Any:
    """The restored File or Dir `index` of the entry being loaded."""
    loaded = hooks.loaded
    if loaded is None or not 0 <= index < len(loaded):
        import pickle

        raise pickle.UnpicklingError("a blob reference outside a flytelite cache entry")
    return loaded[index]


class _Located:
    """What File and Dir share: where they are, and equality by that place."""

    def __init__(
        self,
        path_or_url: str | os.PathLike[str],
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self._source = os.fspath(path_or_url)
        self._options = storage_options

    @classmethod
    def from_local(cls, path: str | os.PathLike[str]) -> Self:
        """The File (Dir) of an existing local file (folder), by its absolute path.

        Raises:
            FileNotFoundError: (File) there is no file at `path`.
            NotADirectoryError: (Dir) there is no folder at `path`.
        """
        resolved = Path(path).expanduser().absolute()
        cls._check_local(resolved)
        return cls(resolved)

    @staticmethod
    def _check_local(path: Path) -> None:
        raise NotImplementedError

    @property
    def source(self) -> str:
        """The path or URL it was made from."""
        return self._source

    @property
    def remote(self) -> bool:
        """Whether it is at a URL (other than `file://`)."""
        return _is_url(self._source) and not self._source.startswith("file://")

    @property
    def name(self) -> str:
        """Its name, without folders."""
        return self._source.rstrip("/").rsplit("/", 1)[-1].rsplit(os.sep, 1)[-1]

    @property
    def path(self) -> str:
        raise NotImplementedError

    def __fspath__(self) -> str:
        return self.path

    def __reduce__(self) -> tuple[Any, ...]:
        collect = hooks.collect
        if collect is not None:  # pickled into a cache entry: stored as blobs
            return (_from_cache, (collect(self),))
        return (type(self), (self._source,), {"_options": self._options})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._source == self._source

    def __hash__(self) -> int:
        return hash((type(self), self._source))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._source!r})"


class File(_Located):
    """A file, local or at any fsspec URL, that a task takes or returns.

    Args:
        path_or_url: A local path or a URL (`s3://bucket/data.csv`).
        storage_options: fsspec options for a URL's file system (credentials,
            `endpoint_url`, ...). Not part of the key.
    """

    @staticmethod
    def _check_local(path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"fl.File.from_local: no file at {str(path)!r}")

    @property
    def path(self) -> str:
        """A local path of the file; a remote file is downloaded (once) on first use."""
        if not self.remote:
            return self._source.removeprefix("file://")
        digest = self.digest()
        target = local_dir(None) / "downloads" / digest / self.name
        if not target.exists():
            fs, path = _fs(self._source, self._options)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
            fs.get_file(path, str(tmp))
            os.replace(tmp, target)
        return str(target)

    def open(self, mode: str = "rb") -> IO[Any]:
        """Open the file (remote files are streamed, not downloaded)."""
        if self.remote:
            fs, path = _fs(self._source, self._options)
            opened: IO[Any] = fs.open(path, mode)
            return opened
        return open(self.path, mode)

    def read_bytes(self) -> bytes:
        """The file's contents."""
        with self.open("rb") as f:
            data: bytes = f.read()
        return data

    def digest(self) -> str:
        """blake3 (hex) of the file's bytes: what keys it as an input.

        Raises:
            OSError: the file cannot be read.
        """
        if self.remote:
            fs, path = _fs(self._source, self._options)
            return _remote_digest(fs, path, fs.info(path))[0]
        return digest_file(self.path)[0]

    def __flytelite_hash__(self) -> tuple[str, str]:
        return ("blake3", self.digest())


def manifest_bytes(files: list[tuple[str, str, int, bool]]) -> bytes:
    """The canonical manifest of a Dir: `[relative path, blake3, size, executable]`, sorted."""
    import json  # lazily: `import flytelite` stays lean

    return json.dumps(
        {"format": 1, "files": [list(f) for f in sorted(files)]}, separators=(",", ":")
    ).encode()


def _walk(root: str) -> Iterator[tuple[str, str]]:
    """(relative posix path, full path) of every file under a local folder."""
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            full = os.path.join(folder, name)
            if os.path.isfile(full):
                yield os.path.relpath(full, root).replace(os.sep, "/"), full


def dir_manifest(d: Dir) -> list[tuple[str, str, int, bool]]:
    """`(relative path, blake3, size, executable)` of every file of a Dir, sorted."""
    out: list[tuple[str, str, int, bool]] = []
    if d.remote:
        fs, root = _fs(d.source, d._options)
        root = root.rstrip("/")
        for full, info in sorted(fs.find(root, detail=True).items()):
            if info.get("type", "file") != "file":
                continue
            rel = full[len(root) + 1 :]
            digest, size = _remote_digest(fs, full, info)
            out.append((rel, digest, size, False))
        return out
    for rel, full in _walk(d.path):
        digest, size = digest_file(full)
        out.append((rel, digest, size, os.access(full, os.X_OK)))
    return sorted(out)


class Dir(_Located):
    """A folder, local or at any fsspec URL, that a task takes or returns.

    Args:
        path_or_url: A local path or a URL (`s3://bucket/images/`).
        storage_options: fsspec options for a URL's file system. Not part of the key.
    """

    @staticmethod
    def _check_local(path: Path) -> None:
        if not path.is_dir():
            raise NotADirectoryError(f"fl.Dir.from_local: no folder at {str(path)!r}")

    @property
    def path(self) -> str:
        """A local path of the folder; a remote folder is downloaded (once) on first use."""
        if not self.remote:
            return self._source.removeprefix("file://")
        target = local_dir(None) / "downloads" / self.digest() / self.name
        if not target.exists():
            fs, root = _fs(self._source, self._options)
            tmp = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
            tmp.mkdir(parents=True, exist_ok=True)
            for rel in self.files():
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(f"{root.rstrip('/')}/{rel}", str(dest))
            os.replace(tmp, target)
        return str(target)

    def files(self) -> list[str]:
        """The relative (`/`-separated) paths of the folder's files, sorted."""
        if self.remote:
            fs, root = _fs(self._source, self._options)
            root = root.rstrip("/")
            return sorted(
                full[len(root) + 1 :]
                for full, info in fs.find(root, detail=True).items()
                if info.get("type", "file") == "file"
            )
        return sorted(rel for rel, _ in _walk(self.path))

    def file(self, relative: str) -> File:
        """The File at `relative` inside the folder."""
        sep = "/" if self.remote else os.sep
        path = self._source.rstrip("/" + os.sep) + sep + relative.replace("/", sep)
        return File(path, storage_options=self._options)

    def digest(self) -> str:
        """blake3 (hex) of the folder's manifest: what keys it as an input."""
        return blake3.blake3(manifest_bytes(dir_manifest(self))).hexdigest()

    def __flytelite_hash__(self) -> tuple[str, str]:
        return ("blake3-dir", self.digest())
