"""`flyte.Cache` and its translation to `flytelite.Cache`.

Flyte 2 spells caching `cache="auto" | "override" | "disable"` or
`flyte.Cache(behavior=..., version_override=..., serialize=..., ignored_inputs=...,
salt=..., policies=..., max_age=...)`. Behaviors mean what they mean in
flytelite (and in Flyte 2's local runner): `"override"` executes without
looking up and overwrites the entry. Without `version_override`, the version is
derived from the function's source; a `salt` or custom `policies` are folded
into it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from flytelite import Cache as LiteCache

from ...lowlevel import fingerprint

__all__ = [
    "Cache",
    "CacheBehavior",
    "CachePolicy",
    "CacheRequest",
    "FunctionBodyPolicy",
    "VersionParameters",
    "to_lite_cache",
]

CacheBehavior = Literal["auto", "override", "disable"]
_BEHAVIORS = ("auto", "override", "disable")
_ALIASES: dict[str, CacheBehavior] = {
    "enable": "auto",
    "enabled": "auto",
    "on": "auto",
    "true": "auto",
    "yes": "auto",
    "off": "disable",
    "false": "disable",
    "no": "disable",
    "none": "disable",
}


@dataclass
class VersionParameters:
    """What a `CachePolicy` may derive a version from."""

    func: Callable[..., Any] | None
    image: Any = None
    code_bundle: Any = None


@runtime_checkable
class CachePolicy(Protocol):
    """A custom cache-version strategy: `get_version(salt, params) -> str`."""

    def get_version(self, salt: str, params: VersionParameters) -> str: ...


class FunctionBodyPolicy:
    """The default policy: the version follows the function's source."""

    def get_version(self, salt: str, params: VersionParameters) -> str:
        body = fingerprint(params.func).version if params.func is not None else ""
        return hashlib.sha256(f"{salt}{body}".encode()).hexdigest()


@dataclass
class Cache:
    """How a task uses the cache (Flyte 2's spelling).

    Args:
        behavior: `"auto"` looks up and writes misses; `"override"` always
            executes and overwrites; `"disable"` bypasses the cache.
        version_override: An explicit cache version.
        serialize: Concurrent identical calls execute once (across threads,
            processes and machines sharing the cache) and the others take the result.
        ignored_inputs: Parameter names left out of the cache key.
        salt: Mixed into a derived version (a new salt starts a new cache).
        policies: Custom version policies; the default follows the source.
        max_age: Older entries are misses (`timedelta` or seconds; 0: never expire).
    """

    behavior: CacheBehavior
    version_override: str | None = None
    serialize: bool = False
    ignored_inputs: tuple[str, ...] | str = field(default_factory=tuple)
    salt: str = ""
    policies: list[CachePolicy] | CachePolicy | None = None
    max_age: timedelta | int | None = None

    def __post_init__(self) -> None:
        behavior: Any = self.behavior
        if isinstance(behavior, str) and behavior not in _BEHAVIORS:
            behavior = _ALIASES.get(behavior.lower(), behavior)
        if behavior not in _BEHAVIORS:
            raise ValueError(
                f"Invalid cache behavior: {self.behavior!r}. Must be one of {list(_BEHAVIORS)} "
                f"(aliases accepted: {sorted(_ALIASES)})."
            )
        self.behavior = behavior
        if isinstance(self.max_age, bool) or (
            self.max_age is not None and not isinstance(self.max_age, (int, timedelta))
        ):
            raise TypeError("max_age must be an int (seconds), timedelta, or None")
        if isinstance(self.max_age, int):
            self.max_age = timedelta(seconds=self.max_age)
        if self.max_age is not None and self.max_age < timedelta(0):
            raise ValueError("max_age must be nonnegative")
        if isinstance(self.policies, CachePolicy):
            self.policies = [self.policies]

    def is_enabled(self) -> bool:
        """Whether the cache is used at all."""
        return self.behavior != "disable"

    def get_ignored_inputs(self) -> tuple[str, ...]:
        """The ignored input names, as a tuple."""
        ignored = self.ignored_inputs
        return (ignored,) if isinstance(ignored, str) else tuple(ignored)


CacheRequest = CacheBehavior | Cache


def _as_cache(request: Any, where: str) -> Cache:
    if isinstance(request, Cache):
        return request
    if isinstance(request, str):
        return Cache(behavior=request)  # type: ignore[arg-type]
    raise TypeError(
        f'{where}: cache={request!r} is not a cache setting; use "auto", "override", '
        f'"disable" or flyte.Cache(...).'
    )


def to_lite_cache(
    request: Any, func: Callable[..., Any], image: Any, where: str
) -> LiteCache | None:
    """The `flytelite.Cache` for a Flyte cache request on `func`, or `None` when disabled."""
    cache = _as_cache(request, where)
    if not cache.is_enabled():
        return None
    version = cache.version_override
    policies = cache.policies
    if version is None and (cache.salt or policies):
        # flytelite derives the version from the source on its own; a salt or custom
        # policies change it, so they decide it here.
        chosen = policies if isinstance(policies, list) and policies else [FunctionBodyPolicy()]
        params = VersionParameters(func=func, image=image)
        joined = "".join(policy.get_version(cache.salt, params) for policy in chosen)
        version = hashlib.sha256(joined.encode()).hexdigest()[:16]
    max_age = cache.max_age if isinstance(cache.max_age, timedelta) else None
    return LiteCache(
        behavior=cache.behavior,
        version=version,
        ignored_inputs=cache.get_ignored_inputs(),
        max_age=max_age or None,
        serialize=cache.serialize,
    )
