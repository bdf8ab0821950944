"""Paths for `flyte.io`: fsspec file systems, new paths in the run's folder, content digests."""

from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import blake3
import fsspec

from .._state import current_state, default_runs_dir

__all__ = ["content_digest", "filesystem", "is_local", "new_path", "tree_digest"]

_CHUNK = 1 << 20
_MAX_REMEMBERED = 4096
_digests: OrderedDict[tuple[str, int, int], str] = OrderedDict()
_lock = threading.Lock()


def filesystem(path: str) -> tuple[Any, str]:
    """The fsspec file system of `path` and the path within it."""
    fs, inner = fsspec.core.url_to_fs(path)
    return fs, inner


def is_local(path: str) -> bool:
    """Whether `path` is on this machine's file system."""
    fs, _ = filesystem(path)
    protocol = fs.protocol
    return "file" in (protocol if isinstance(protocol, (tuple, list)) else (protocol,))


def new_path(name: str | None = None, *, folder: bool = False) -> str:
    """A fresh path in the run's raw-data folder (outside a run: in the default runs folder)."""
    state = current_state()
    base = Path(state.raw_dir) if state is not None else default_runs_dir() / "raw"
    parent = base / secrets.token_hex(8)
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / (name or secrets.token_hex(8))
    if folder:
        path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _stream_digest(fs: Any, inner: str) -> str:
    h = blake3.blake3()
    with fs.open(inner, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def content_digest(path: str) -> str:
    """blake3 of a file's bytes. Local files are remembered by (path, size, mtime)."""
    if is_local(path):
        local = os.path.abspath(fsspec.core.strip_protocol(path))
        st = os.stat(local)
        key = (local, st.st_size, st.st_mtime_ns)
        with _lock:
            found = _digests.get(key)
            if found is not None:
                _digests.move_to_end(key)
                return found
        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
        if st.st_size:
            h.update_mmap(local)
        digest = h.hexdigest()
        with _lock:
            _digests[key] = digest
            while len(_digests) > _MAX_REMEMBERED:
                _digests.popitem(last=False)
        return digest
    fs, inner = filesystem(path)
    return _stream_digest(fs, inner)


def tree_digest(path: str) -> str:
    """blake3 over a folder's files: their relative paths and content digests, sorted."""
    fs, inner = filesystem(path)
    root = inner.rstrip("/")
    h = blake3.blake3()
    for found in sorted(fs.find(root)):
        relative = found[len(root) :].lstrip("/")
        h.update(relative.encode() + b"\0")
        full = found if is_local(path) else fs.unstrip_protocol(found)
        h.update(content_digest(full).encode() + b"\n")
    return h.hexdigest()
