"""Cache policy (`fl.Cache`) and the statuses a cached call can end in (`fl.CacheStatus`)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from ._errors import TaskDefinitionError

__all__ = ["Cache", "CacheBehavior", "CacheStatus"]

CacheBehavior = Literal["auto", "override", "disable"]
_BEHAVIORS = ("auto", "override", "disable")


class CacheStatus(str, enum.Enum):
    """What the catalog did for one call; the names follow Flyte's catalog statuses."""

    DISABLED = "DISABLED"
    """The task is not cached."""
    MISS = "MISS"
    """No usable entry; the call executed (and is not yet written)."""
    HIT = "HIT"
    """The outputs came from the catalog (or from an identical call of the same run)."""
    POPULATED = "POPULATED"
    """The call executed and its outputs were written to the catalog."""
    LOOKUP_FAILURE = "LOOKUP_FAILURE"
    """The store could not be read; the call executed anyway."""
    PUT_FAILURE = "PUT_FAILURE"
    """The call executed but its outputs could not be written."""
    SKIPPED = "SKIPPED"
    """The call never reached the catalog (it failed before, or was cancelled)."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Cache:
    """How a task uses the cache catalog.

    Args:
        behavior: `"auto"` looks up the catalog and writes misses; `"override"`
            always executes and overwrites the entry; `"disable"` bypasses the catalog.
        version: The cache version. Not given: the fingerprint of the code the
            task reaches (its body and the helpers, classes, constants and closure
            values of your project that it uses), so editing any of them
            invalidates the task's entries.
        ignored_inputs: Parameter names left out of the cache key.
        max_age: Entries older than this are misses, and are replaced.
        serialize: Concurrent identical calls execute once, across threads,
            processes and machines sharing the cache.
        dependencies: Installed distributions (`"pandas"`) whose versions are part
            of the task's version: upgrading one invalidates its entries. Code of
            installed distributions is otherwise outside the derived version.
    """

    behavior: CacheBehavior = "auto"
    version: str | None = None
    ignored_inputs: tuple[str, ...] = ()
    max_age: timedelta | None = None
    serialize: bool = False
    dependencies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.behavior not in _BEHAVIORS:
            raise TaskDefinitionError(
                f"Cache(behavior={self.behavior!r}) is not a cache behavior; "
                f"use one of {', '.join(map(repr, _BEHAVIORS))}."
            )
        if self.version is not None and not isinstance(self.version, str):
            raise TaskDefinitionError(
                f'Cache(version={self.version!r}) must be a str, e.g. version="1".'
            )
        ignored: Any = self.ignored_inputs
        if isinstance(ignored, str):
            ignored = (ignored,)
        if not isinstance(ignored, Iterable) or not all(isinstance(n, str) for n in ignored):
            raise TaskDefinitionError(
                f"Cache(ignored_inputs={self.ignored_inputs!r}) must be parameter names, "
                f'e.g. ignored_inputs=("verbose",).'
            )
        object.__setattr__(self, "ignored_inputs", tuple(ignored))
        dependencies: Any = self.dependencies
        if isinstance(dependencies, str):
            dependencies = (dependencies,)
        if not isinstance(dependencies, Iterable) or not all(
            isinstance(d, str) and d.strip() for d in dependencies
        ):
            raise TaskDefinitionError(
                f"Cache(dependencies={self.dependencies!r}) must be distribution names, "
                f'e.g. dependencies=("pandas", "numpy").'
            )
        object.__setattr__(self, "dependencies", tuple(dependencies))
        if self.max_age is not None and not isinstance(self.max_age, timedelta):
            raise TaskDefinitionError(
                f"Cache(max_age={self.max_age!r}) must be a datetime.timedelta, "
                f"e.g. max_age=timedelta(hours=1)."
            )

    @property
    def enabled(self) -> bool:
        """Whether the policy uses the catalog at all (any behavior but `"disable"`)."""
        return self.behavior != "disable"
