"""Cache keys: what identifies one cached call."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import blake3

from .._hashing import HashMethod, hash_inputs, hash_value

__all__ = ["Key"]

_KEY_DOMAIN = b"flytelite-key-1"


@functools.lru_cache(maxsize=4096)
def _prefix(identifier: str, cache_version: str, signature: tuple[str, ...]) -> bytes:
    """The part of every key of one task version that does not depend on inputs."""
    return _KEY_DOMAIN + hash_value((identifier, cache_version, signature))


@functools.lru_cache(maxsize=4096)
def _named(name: str) -> bytes:
    """An input's name as it enters a key: its length (u32 LE), then UTF-8."""
    encoded = name.encode()
    return len(encoded).to_bytes(4, "little") + encoded


class Key:
    """The identity of one cached call.

    A key is the blake3 digest of a canonical encoding of the task identifier,
    its cache version, its signature, and the hash of each input. Inputs are
    hashed when the key is built, so an unhashable input fails here, before the
    task executes.

    Args:
        identifier: The task's fully qualified name, `"env.function"`.
        cache_version: The task's cache version.
        inputs: The bound inputs that take part in the key.
        signature: The task's parameter list (names and kinds): adding,
            removing or renaming a parameter changes every key of the task.
        hash_methods: Per-parameter `HashMethod` overrides.
        auto_version: The version was derived from the task's code (this
            only changes how a miss is explained, never the key).
        code_parts: The parts of the task's code fingerprint (part name → digest),
            recorded so that a miss can name the part that changed; never in the key
            (the version already covers them).
    """

    __slots__ = (
        "auto_version",
        "cache_version",
        "code_parts",
        "digest",
        "identifier",
        "input_hashes",
        "signature",
    )

    def __init__(
        self,
        identifier: str,
        cache_version: str,
        inputs: Mapping[str, Any],
        *,
        signature: tuple[str, ...] = (),
        hash_methods: Mapping[str, HashMethod] | None = None,
        auto_version: bool = False,
        code_parts: Mapping[str, str] | None = None,
    ) -> None:
        self.identifier = identifier
        self.auto_version = auto_version
        self.code_parts = code_parts
        self.cache_version = cache_version
        self.signature = signature
        hashes = self.input_hashes = hash_inputs(identifier, inputs, hash_methods)
        h = blake3.blake3(_prefix(identifier, cache_version, signature))
        for name in sorted(hashes) if len(hashes) > 1 else hashes:
            h.update(_named(name) + hashes[name])
        self.digest: str = h.hexdigest()

    def __repr__(self) -> str:
        return f"Key({self.identifier!r}, {self.cache_version!r}, {self.digest[:12]}…)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)
