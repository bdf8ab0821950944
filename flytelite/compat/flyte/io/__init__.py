"""`flyte.io`: `File`, `Dir` and `DataFrame`, backed by local paths or any fsspec URL.

Each is keyed by its content when it is an input of a cached task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._dataframe import PARQUET, DataFrame
from ._dir import Dir
from ._file import File

__all__ = ["PARQUET", "DataFrame", "Dir", "EmptyDir", "File", "HashFunction"]


class HashFunction:
    """A hash computed by your function over the data written (accepted; locally a
    `File` or `Dir` is keyed by its content, or by the `hash` string given)."""

    def __init__(self, fn: Callable[[Any], str]) -> None:
        self._fn = fn
        self._value: str | None = None

    @classmethod
    def from_fn(cls, fn: Callable[[Any], str]) -> HashFunction:
        """A `HashFunction` of `fn`."""
        return cls(fn)

    def update(self, data: Any) -> None:
        """Hash `data` (the last call wins, as in Flyte 2)."""
        self._value = self._fn(data)

    def result(self) -> str | None:
        """The hash computed last."""
        return self._value


EmptyDir: Dir[Any] = Dir(path="", name="")
"""A placeholder for "no folder"."""
