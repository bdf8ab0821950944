"""The on-store format of one cache entry.

One entry is one object::

    magic (8 bytes) | header length (u32 LE) | header (JSON) | seal (32 bytes) | payload

The header holds the format version, the key, the task, the cache version,
`created_at` (seconds since the epoch, sub-second), the producing run, the
payload's size and blake3 digest, and (optionally) `refs`: the content-addressed
blobs the entry refers to (`_blobs`) — its pickle when that is large, large
buffers pickled out of band (numpy arrays), and the files of `fl.File` /
`fl.Dir` outputs. The seal vouches for the refs, and each blob is checked
against its digest when read. The seal covers magic, length and header;
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
import pickle
import struct
import time
from dataclasses import dataclass, field, replace
from typing import Any

import blake3

from .._files import Dir, File, hooks
from ._blobs import BlobProblem, BlobRef, Blobs, Source

__all__ = [
    "Entry",
    "EntryProblem",
    "Pickled",
    "decode_entry",
    "encode_entry",
    "read_header",
]

MAGIC = b"FLTLENT\x01"
FORMAT_VERSION = 1
_LEN = struct.Struct("<I")
_PREFIX = len(MAGIC) + _LEN.size
_SEAL = 32
_MAX_HEADER = 1 << 20
_BIG_PAYLOAD = 1 << 20
BLOB_THRESHOLD = 1 << 20
"""Pickles and out-of-band buffers this large (bytes) are stored as blobs."""
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
    refs: tuple[BlobRef, ...] = field(default=(), repr=False)
    """The blobs the entry refers to (large pickles and buffers, file outputs)."""
    blobs: Blobs | None = field(default=None, repr=False, compare=False)
    """Where its blobs are read from (set by the catalog that found the entry)."""
    duration: float | None = None
    """Seconds the body that produced the outputs took, where the writer said."""

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


@dataclass(frozen=True)
class Pickled:
    """Outputs pickled for an entry, and what goes into blobs besides the pickle."""

    payload: bytes
    sources: list[Source] = field(default_factory=list)


def dump_outputs(outputs: Any) -> Pickled:
    """Pickle `outputs` (cloudpickle, protocol 5): File and Dir objects and buffers of
    at least `BLOB_THRESHOLD` bytes become blob sources, and so does a large pickle."""
    import cloudpickle  # lazily: it costs import time, and only cached calls need it

    sources: list[Source] = []
    buffers: list[Source] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < BLOB_THRESHOLD:
            return True  # in the pickle
        buffers.append(Source("buffer", raw))
        return False

    def collect(obj: File | Dir) -> int:
        sources.append(Source("file" if isinstance(obj, File) else "dir", obj))
        return len(sources) - 1

    hooks.collect = collect
    try:
        data: bytes = cloudpickle.dumps(outputs, protocol=5, buffer_callback=out_of_band)
    finally:
        hooks.collect = None
    sources.extend(buffers)  # after the files: refs keep that order
    if len(data) >= BLOB_THRESHOLD:
        return Pickled(b"", [*sources, Source("pickle", data)])
    return Pickled(data, sources)


def encode_entry(
    *,
    key: str,
    task: str,
    cache_version: str,
    producer: str,
    payload: bytes,
    secret: bytes | None = None,
    refs: tuple[BlobRef, ...] = (),
    duration: float | None = None,
) -> list[bytes]:
    """The entry's bytes, as parts to write one after another (the payload is not copied)."""
    fields: dict[str, Any] = {"refs": [r.to_json() for r in refs]} if refs else {}
    if duration is not None and math.isfinite(duration) and duration >= 0:
        fields["duration"] = float(duration)
    header = json.dumps(
        {
            **fields,
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
    refs = header.get("refs", [])
    if not isinstance(refs, list):
        raise EntryProblem("corrupt")
    parsed = tuple(BlobRef.from_json(r) for r in refs)
    if any(r is None for r in parsed):
        raise EntryProblem("corrupt")
    header["refs"] = parsed
    duration = header.get("duration")  # optional: how long the body took
    if duration is not None and (
        type(duration) not in (float, int) or not math.isfinite(duration) or duration < 0
    ):
        raise EntryProblem("corrupt")
    return prefix, header, end


def header_length(head: bytes) -> int | None:
    """How many bytes an entry's header takes, from its first 12 bytes (`None`: not an entry)."""
    if len(head) < _PREFIX or head[: len(MAGIC)] != MAGIC:
        return None
    return int(_PREFIX + _LEN.unpack_from(head, len(MAGIC))[0])


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


def decode_entry(
    data: bytes, *, key: str, secret: bytes | None = None, blobs: Blobs | None = None
) -> Entry:
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
        refs=header["refs"],
        blobs=blobs,
        duration=None if header.get("duration") is None else float(header["duration"]),
    )


def load_outputs(entry: Entry) -> Entry:
    """The entry with its outputs unpickled (and its blobs read, files restored).

    Raises:
        EntryProblem: the payload cannot be loaded here (e.g. a class is gone), or
            a blob it refers to is missing or damaged.
    """
    payload: bytes | memoryview = entry.payload
    buffers: list[bytes] = []
    loaded: list[Any] = []
    if entry.refs:
        blobs = entry.blobs
        if blobs is None:
            raise EntryProblem("unloadable (its blobs are not available here)")
        try:
            for ref in entry.refs:
                if ref.kind == "pickle":
                    payload = blobs.read(ref)
                elif ref.kind == "buffer":
                    buffers.append(blobs.read(ref))
                elif ref.kind == "file":
                    loaded.append(blobs.restore_file(ref))
                else:
                    loaded.append(blobs.restore_dir(ref))
        except BlobProblem as problem:
            raise EntryProblem(str(problem)) from None
        except OSError as exc:
            raise EntryProblem(f"blob unreadable ({type(exc).__name__}: {exc})") from None
    hooks.loaded = loaded
    try:
        outputs = pickle.loads(payload, buffers=buffers)  # noqa: S301 (checked and sealed above)
    except Exception as exc:  # a checked payload that no longer loads: a miss
        raise EntryProblem(f"unloadable ({type(exc).__name__}: {exc})") from None
    finally:
        hooks.loaded = None
    return replace(entry, outputs=outputs)
