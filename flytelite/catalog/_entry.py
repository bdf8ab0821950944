"""The on-store format of one cache entry.

One entry is one object::

    magic (8 bytes) | header length (u32 LE) | header (JSON) | seal (32 bytes) | payload

The header holds the format version, the key, the task, the cache version,
`created_at` (seconds since the epoch, sub-second), the producing run, and the
payload's size and blake3 digest. The seal covers magic, length and header;
since the header carries the payload's digest, the seal vouches for the whole
object. Unsigned, the seal is blake3 of those bytes. With a secret, it is their
HMAC-SHA256, and the header says so: a reader that holds the secret refuses
unsigned or wrongly signed entries, so a writable shared store cannot make it
unpickle anything. A reader checks everything before it unpickles: a torn,
corrupt, foreign or refused object is reported as a problem, never loaded.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import blake3

__all__ = ["Entry", "EntryProblem", "decode_entry", "encode_entry", "read_header"]

MAGIC = b"FLTLENT\x01"
FORMAT_VERSION = 1
_LEN = struct.Struct("<I")
_PREFIX = len(MAGIC) + _LEN.size
_SEAL = 32
_MAX_HEADER = 1 << 20
_BIG_PAYLOAD = 1 << 20
HEAD_BYTES = 4096
"""Enough bytes to hold the header of any entry flytelite writes."""


@dataclass(frozen=True)
class Entry:
    """One cache entry: the outputs of a call and where they came from."""

    key: str
    task: str
    cache_version: str
    created_at: float
    producer: str
    payload: bytes | memoryview = field(repr=False)
    outputs: Any = field(default=None, repr=False)

    @property
    def age(self) -> float:
        """Seconds since the entry was written."""
        return time.time() - self.created_at


class EntryProblem(Exception):
    """Why stored bytes are not a usable entry: a miss, never an error.

    `reason` is one of `"truncated"`, `"corrupt"`, `"foreign format"`,
    `"foreign key"`, `"signature refused"`, or `"unloadable (...)"`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _digest(payload: bytes | memoryview) -> str:
    threads = blake3.blake3.AUTO if len(payload) >= _BIG_PAYLOAD else 1
    return blake3.blake3(payload, max_threads=threads).hexdigest()


def _seal(prefix: bytes, secret: bytes | None) -> bytes:
    if secret is None:
        return blake3.blake3(prefix).digest()
    import hmac  # lazily: only signed caches need it

    return hmac.new(secret, prefix, "sha256").digest()


def dump_outputs(outputs: Any) -> bytes:
    import cloudpickle  # lazily: it costs import time, and only cached calls need it

    data: bytes = cloudpickle.dumps(outputs, protocol=5)
    return data


def encode_entry(
    *,
    key: str,
    task: str,
    cache_version: str,
    producer: str,
    payload: bytes,
    secret: bytes | None = None,
) -> list[bytes]:
    """The entry's bytes, as parts to write one after another (the payload is not copied)."""
    header = json.dumps(
        {
            "format": FORMAT_VERSION,
            "key": key,
            "task": task,
            "cache_version": cache_version,
            "created_at": time.time(),
            "producer": producer,
            "payload_size": len(payload),
            "payload_blake3": _digest(payload),
            "seal": "plain" if secret is None else "hmac-sha256",
        },
        separators=(",", ":"),
    ).encode()
    prefix = MAGIC + _LEN.pack(len(header)) + header
    return [prefix + _seal(prefix, secret), payload]


def _split(data: bytes | memoryview) -> tuple[bytes, dict[str, Any], int]:
    """Check magic and header framing; return the sealed prefix, the header, and its end."""
    if len(data) < _PREFIX or bytes(data[: len(MAGIC)]) != MAGIC:
        if MAGIC.startswith(bytes(data[: len(MAGIC)])):
            raise EntryProblem("truncated")
        raise EntryProblem("foreign format")
    (header_len,) = _LEN.unpack_from(data, len(MAGIC))
    if header_len > _MAX_HEADER:
        raise EntryProblem("corrupt")
    end = _PREFIX + header_len
    if len(data) < end + _SEAL:
        raise EntryProblem("truncated")
    prefix = bytes(data[:end])
    try:
        header = json.loads(prefix[_PREFIX:])
    except (ValueError, RecursionError):  # not JSON, or nested deep enough to recurse
        raise EntryProblem("corrupt") from None
    if not isinstance(header, dict):
        raise EntryProblem("corrupt")
    if header.get("format") != FORMAT_VERSION or type(header.get("format")) is not int:
        raise EntryProblem("foreign format")
    for name, kind in _FIELDS.items():
        value = header.get(name)
        if type(value) not in kind:  # exact types: `True` is no size, `{}` no time
            raise EntryProblem("corrupt")
    if (
        not math.isfinite(header["created_at"])
        or header["payload_size"] < 0
        or header["seal"] not in _SEALS
    ):
        raise EntryProblem("corrupt")
    return prefix, header, end


_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "task": (str,),
    "cache_version": (str,),
    "created_at": (float, int),
    "producer": (str,),
    "payload_size": (int,),
    "payload_blake3": (str,),
    "seal": (str,),
}
"""The header's fields and their JSON types: anything else is a corrupt entry."""
_SEALS = ("plain", "hmac-sha256")


def read_header(head: bytes) -> dict[str, Any]:
    """The header of an entry from its first bytes, unchecked (for listings only).

    Raises:
        EntryProblem: the bytes do not start like an entry.
    """
    return _split(head)[1]


def decode_entry(data: bytes, *, key: str, secret: bytes | None = None) -> Entry:
    """Check stored bytes and return the entry, with its outputs not yet loaded.

    Raises:
        EntryProblem: the bytes are truncated, corrupt, foreign, another key's,
            or (with `secret`) not signed with it.
    """
    prefix, header, end = _split(data)
    seal = data[end : end + _SEAL]
    signed = header["seal"] == "hmac-sha256"
    if secret is not None:
        import hmac

        if not signed or not hmac.compare_digest(seal, _seal(prefix, secret)):
            raise EntryProblem("signature refused")
    elif signed:
        raise EntryProblem("signature refused")  # signed by a writer whose secret we lack
    elif seal != _seal(prefix, None):
        raise EntryProblem("corrupt")
    if header["key"] != key:
        raise EntryProblem("foreign key")
    payload = memoryview(data)[end + _SEAL :]  # no copy: payloads may be large
    if len(payload) != header["payload_size"]:
        raise EntryProblem("truncated")
    if _digest(payload) != header["payload_blake3"]:
        raise EntryProblem("corrupt")
    return Entry(
        key=key,
        task=header["task"],
        cache_version=header["cache_version"],
        created_at=float(header["created_at"]),
        producer=header["producer"],
        payload=payload,
    )


def load_outputs(entry: Entry) -> Entry:
    """The entry with its outputs unpickled.

    Raises:
        EntryProblem: the payload cannot be loaded here (e.g. a class is gone).
    """
    import pickle

    try:
        outputs = pickle.loads(entry.payload)  # noqa: S301 (checked and sealed above)
    except Exception as exc:  # a checked payload that no longer loads: a miss
        raise EntryProblem(f"unloadable ({type(exc).__name__}: {exc})") from None
    return Entry(
        entry.key,
        entry.task,
        entry.cache_version,
        entry.created_at,
        entry.producer,
        entry.payload,
        outputs,
    )
