"""`flyte.storage`: the object-store settings a program gives `flyte.init(storage=...)`.

Runs stay on this machine and files are read where they are (any fsspec URL
works with the credentials fsspec finds), so these settings are recorded and
have no local effect: `S3.auto()`, `S3.for_sandbox()`, `GCS.auto()`,
`ABFS.auto()` and their constructors accept what Flyte 2's accept.
"""

from __future__ import annotations

from typing import Any

from ._options import Recorded

__all__ = ["ABFS", "GCS", "S3", "Storage"]


class Storage(Recorded):
    """Object-store settings (recorded only)."""

    @classmethod
    def auto(cls, *args: Any, **kwargs: Any) -> Any:
        """Settings from the environment (recorded only)."""
        return cls(*args, **kwargs)


class S3(Storage):
    """Amazon S3 (or S3-compatible) settings (recorded only)."""

    @classmethod
    def for_sandbox(cls) -> S3:
        """The settings of a local Flyte sandbox (recorded only)."""
        return cls(endpoint="http://localhost:4566")


class GCS(Storage):
    """Google Cloud Storage settings (recorded only)."""


class ABFS(Storage):
    """Azure Blob File System settings (recorded only)."""
