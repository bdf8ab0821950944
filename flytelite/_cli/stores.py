"""Opening the cache a command names, with a one-line error when it cannot be used."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from flytelite.catalog import FsspecCatalog, default_cache_url

from .usage import UsageError

__all__ = ["check_folder", "open_catalog"]


def local_path(url: str) -> Path | None:
    """The folder of a local cache URL (a path or `file://`), or `None` for other stores."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(url).expanduser()
    return None


def open_catalog(url: str | None, storage_options: dict[str, Any] | None) -> FsspecCatalog:
    """The catalog at `url` (default: `FLYTELITE_CACHE_URL`, else the per-user folder).

    Raises:
        UsageError: fsspec does not know the URL's protocol, its file system needs a
            package that is not installed, or the options do not fit it.
    """
    url = url or default_cache_url()
    try:
        return FsspecCatalog(url, storage_options)
    except (ImportError, ValueError, TypeError) as exc:
        message = str(exc).rstrip(".")
        if url not in message:
            message = f"cannot open the cache at {url!r}: {type(exc).__name__}: {message}"
        raise UsageError(message) from None


def check_folder(url: str) -> None:
    """For a local cache: refuse a location that exists but cannot be a folder of entries
    (a file, a path under a file, a folder that cannot be read), rather than find it empty.
    A folder that does not exist yet is an empty cache."""
    path = local_path(url)
    if path is None:
        return
    path = path.absolute()
    try:
        existing = next(p for p in (path, *path.parents) if p.exists())
        if existing == path and path.is_dir():
            os.listdir(path)
    except OSError as exc:
        raise UsageError(f"the cache at {url} cannot be read: {exc.strerror or exc}") from None
    if not existing.is_dir():
        where = "is" if existing == path else f"is under {existing}, which is"
        raise UsageError(f"the cache at {url} {where} a file, not a folder")
