"""The on-store format of one cache entry.

One entry is one object (format 2)::

    magic (8 bytes) | header length (u32 LE) | header | payload | seal (32 bytes)

The header is binary, little-endian: a fixed part, then four UTF-8 strings and the
refs::

    created_at f64 | payload size u64 | duration f64 (NaN: not recorded) | flags u8 |
    the lengths of: key u16, task u16, cache version u16, producer u16, refs u32 |
    key | task | cache version | producer | refs (JSON)

`created_at` is seconds since the epoch, the producer is the run that wrote the
entry, the duration how long its body took, and the refs (absent when empty) the
content-addressed blobs the entry refers to (`_blobs`): its pickle when that is
large, large buffers pickled out of band (numpy arrays), and the files of
`fl.File` / `fl.Dir` outputs. Each blob is checked against its digest when read.
The header is parsed with one `struct` call and slices: a hit costs no JSON.

The seal covers every byte before it, so one hash vouches for header and payload
(which stays under 1 MiB: larger pickles are blobs). Unsigned, the seal is
blake3; with a secret, HMAC-SHA256, and flag bit 0 says so: a reader that holds
the secret refuses unsigned or wrongly signed entries, so a writable shared store
cannot make it unpickle anything. A reader checks everything before it unpickles:
a torn, corrupt, foreign or refused object is reported as a problem, never loaded.

Format 1 (magic `FLTLENT\\x01`: a JSON header with the payload's blake3, a seal over
magic, length and header, then the payload) is still read, so a cache written
before format 2 keeps its entries; it is never written.
"""

from __future__ import annotations

import json
import math
import pickle
import struct
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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

MAGIC = b"FLTLENT\x02"
"""The magic of format 2 (a binary header): what flytelite writes."""
MAGIC_V1 = b"FLTLENT\x01"
"""The magic of format 1 (a JSON header): read, never written."""
FORMAT_VERSION = 2
_LEN = struct.Struct("<I")
_PREFIX = len(MAGIC) + _LEN.size
_FIXED = struct.Struct("<dQdBHHHHI")
_SIGNED = 1  # flag bit 0: the seal is an HMAC-SHA256
_SEAL = 32
_MAX_HEADER = 1 << 20
_MAX_STRING = 0xFFFF
_BIG_PAYLOAD = 1 << 20
BLOB_THRESHOLD = 1 << 20
"""Pickles and out-of-band buffers this large (bytes) are stored as blobs."""
HEAD_BYTES = 4096
"""Enough bytes to hold the header of any entry flytelite writes."""


@dataclass(slots=True)
class Entry:
    """One cache entry: the outputs of a call and where they came from (read-only by
    convention: a catalog may hand one entry to several callers)."""

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


def _digest(payload: bytes | memoryview) -> bytes:
    threads = blake3.blake3.AUTO if len(payload) >= _BIG_PAYLOAD else 1
    return blake3.blake3(payload, max_threads=threads).digest()


def _seal(parts: tuple[bytes | memoryview, ...], secret: bytes | None) -> bytes:
    """blake3 of the parts one after another, or their HMAC-SHA256 with `secret`."""
    if secret is None:
        h = blake3.blake3()
        for part in parts:
            h.update(part)
        return h.digest()
    import hmac  # lazily: only signed caches need it

    mac = hmac.new(secret, None, "sha256")
    for part in parts:
        mac.update(part)
    return mac.digest()


@dataclass(frozen=True)
class Pickled:
    """Outputs pickled for an entry, and what goes into blobs besides the pickle."""

    payload: bytes
    sources: list[Source] = field(default_factory=list)


def dump_outputs(outputs: Any) -> Pickled:
    """Pickle `outputs` (cloudpickle, protocol 5): File and Dir objects and buffers of
    at least `BLOB_THRESHOLD` bytes become blob sources, and so does a large pickle."""
    if _plain(outputs):  # what cloudpickle would write, without its pickler's set-up
        plain = pickle.dumps(outputs, protocol=5)
        if len(plain) < BLOB_THRESHOLD:  # else (long text) pickled again below, as a blob
            return Pickled(plain)
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


_SCALARS = frozenset({int, float, str, bool, type(None), complex})
_FLAT = frozenset({list, tuple, dict})
_FLAT_MAX = 64


def _plain(outputs: Any) -> bool:
    """Whether `outputs` is a builtin scalar, or a small list, tuple or dict of them:
    values the standard pickler writes as cloudpickle does (no buffers, no code)."""
    kind = type(outputs)
    if kind in _SCALARS:
        return True
    if kind not in _FLAT or len(outputs) > _FLAT_MAX:
        return False
    items = (*outputs.keys(), *outputs.values()) if kind is dict else outputs
    return all(type(item) in _SCALARS for item in items)


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
    """The entry's bytes, as parts to write one after another (the payload is not copied).

    Raises:
        ValueError: a key, task name, cache version or producer longer than 65,535
            bytes (UTF-8).
    """
    strings = [key.encode(), task.encode(), cache_version.encode(), producer.encode()]
    for name, value in zip(("key", "task name", "cache version", "producer"), strings):
        if len(value) > _MAX_STRING:
            raise ValueError(
                f"the {name} of an entry is {len(value):,} bytes long; the most an entry "
                f"holds is {_MAX_STRING:,}."
            )
    refs_json = b""
    if refs:
        refs_json = json.dumps([r.to_json() for r in refs], separators=(",", ":")).encode()
    timed = duration is not None and math.isfinite(duration) and duration >= 0
    fixed = _FIXED.pack(
        time.time(),
        len(payload),
        float(duration) if timed and duration is not None else math.nan,
        0 if secret is None else _SIGNED,
        *map(len, strings),
        len(refs_json),
    )
    header = b"".join([fixed, *strings, refs_json])
    prefix = MAGIC + _LEN.pack(len(header)) + header
    return [prefix, payload, _seal((prefix, payload), secret)]


class Header(NamedTuple):
    """An entry's header, parsed and checked for framing and types (not for its seal)."""

    key: str
    task: str
    cache_version: str
    producer: str
    created_at: float
    payload_size: int
    payload_digest: bytes | None
    """The payload's blake3 (format 1 only; format 2's seal covers the payload)."""
    signed: bool
    refs: tuple[BlobRef, ...]
    duration: float | None
    format: int = FORMAT_VERSION

    def as_dict(self) -> dict[str, Any]:
        """The header's fields by name, as listings show them."""
        fields: dict[str, Any] = {
            "format": self.format,
            "key": self.key,
            "task": self.task,
            "cache_version": self.cache_version,
            "created_at": self.created_at,
            "producer": self.producer,
            "payload_size": self.payload_size,
            "seal": "hmac-sha256" if self.signed else "plain",
            "refs": self.refs,
        }
        if self.duration is not None:
            fields["duration"] = self.duration
        if self.payload_digest is not None:
            fields["payload_blake3"] = self.payload_digest.hex()
        return fields


def _split(data: bytes | memoryview) -> tuple[bytes, Header, int]:
    """Check magic and header framing; return the sealed prefix, the header, and its end."""
    magic = bytes(data[: len(MAGIC)])
    if len(data) < _PREFIX or (magic != MAGIC and magic != MAGIC_V1):
        if MAGIC.startswith(magic) or MAGIC_V1.startswith(magic):
            raise EntryProblem("truncated")
        raise EntryProblem("foreign format")
    (header_len,) = _LEN.unpack_from(data, len(MAGIC))
    if header_len > _MAX_HEADER:
        raise EntryProblem("corrupt")
    end = _PREFIX + header_len
    if len(data) < end:
        raise EntryProblem("truncated")
    prefix = bytes(data[:end])
    if magic == MAGIC:
        return prefix, _parse(prefix), end
    if len(data) < end + _SEAL:
        raise EntryProblem("truncated")
    return prefix, _parse_v1(prefix), end


def _parse(prefix: bytes) -> Header:
    """The binary header (format 2) at the end of `prefix`."""
    if len(prefix) < _PREFIX + _FIXED.size:
        raise EntryProblem("corrupt")
    (
        created_at,
        payload_size,
        duration,
        flags,
        n_key,
        n_task,
        n_version,
        n_producer,
        n_refs,
    ) = _FIXED.unpack_from(prefix, _PREFIX)
    at = _PREFIX + _FIXED.size
    if at + n_key + n_task + n_version + n_producer + n_refs != len(prefix):
        raise EntryProblem("corrupt")
    if (
        flags > _SIGNED
        or not math.isfinite(created_at)
        or payload_size >= 1 << 63
        or not (math.isnan(duration) or (math.isfinite(duration) and duration >= 0))
    ):
        raise EntryProblem("corrupt")
    try:
        key = prefix[at : at + n_key].decode()
        at += n_key
        task = prefix[at : at + n_task].decode()
        at += n_task
        cache_version = prefix[at : at + n_version].decode()
        at += n_version
        producer = prefix[at : at + n_producer].decode()
        at += n_producer
        refs = _refs(json.loads(prefix[at:])) if n_refs else ()
    except (ValueError, RecursionError):  # not UTF-8 or not JSON, or nested deep enough
        raise EntryProblem("corrupt") from None
    return Header(
        key,
        task,
        cache_version,
        producer,
        created_at,
        payload_size,
        None,
        bool(flags & _SIGNED),
        refs,
        None if math.isnan(duration) else duration,
    )


def _refs(raw: Any) -> tuple[BlobRef, ...]:
    if not isinstance(raw, list):
        raise EntryProblem("corrupt")
    parsed = tuple(BlobRef.from_json(r) for r in raw)
    if any(r is None for r in parsed):
        raise EntryProblem("corrupt")
    return parsed  # type: ignore[return-value]


def _parse_v1(prefix: bytes) -> Header:
    """The JSON header (format 1) at the end of `prefix`."""
    try:
        header = json.loads(prefix[_PREFIX:])
    except (ValueError, RecursionError):  # not JSON, or nested deep enough to recurse
        raise EntryProblem("corrupt") from None
    if not isinstance(header, dict):
        raise EntryProblem("corrupt")
    if header.get("format") != 1 or type(header.get("format")) is not int:
        raise EntryProblem("foreign format")
    for name, kind in _FIELDS_V1.items():
        value = header.get(name)
        if type(value) not in kind:  # exact types: `True` is no size, `{}` no time
            raise EntryProblem("corrupt")
    if (
        not math.isfinite(header["created_at"])
        or header["payload_size"] < 0
        or header["seal"] not in _SEALS_V1
    ):
        raise EntryProblem("corrupt")
    duration = header.get("duration")  # optional: how long the body took
    if duration is not None and (
        type(duration) not in (float, int) or not math.isfinite(duration) or duration < 0
    ):
        raise EntryProblem("corrupt")
    try:
        digest = bytes.fromhex(header["payload_blake3"])
    except ValueError:
        raise EntryProblem("corrupt") from None
    return Header(
        header["key"],
        header["task"],
        header["cache_version"],
        header["producer"],
        float(header["created_at"]),
        header["payload_size"],
        digest,
        header["seal"] == "hmac-sha256",
        _refs(header.get("refs", [])),
        None if duration is None else float(duration),
        1,
    )


_FIELDS_V1: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "task": (str,),
    "cache_version": (str,),
    "created_at": (float, int),
    "producer": (str,),
    "payload_size": (int,),
    "payload_blake3": (str,),
    "seal": (str,),
}
"""A format 1 header's fields and their JSON types: anything else is a corrupt entry."""
_SEALS_V1 = ("plain", "hmac-sha256")


def header_length(head: bytes) -> int | None:
    """How many bytes an entry's header takes, from its first 12 bytes (`None`: not an entry)."""
    if len(head) < _PREFIX or head[: len(MAGIC)] not in (MAGIC, MAGIC_V1):
        return None
    return int(_PREFIX + _LEN.unpack_from(head, len(MAGIC))[0])


def read_header(head: bytes) -> dict[str, Any]:
    """The header of an entry from its first bytes, unchecked (for listings only).

    Raises:
        EntryProblem: the bytes do not start like an entry.
    """
    return _split(head)[1].as_dict()


def decode_entry(
    data: bytes, *, key: str, secret: bytes | None = None, blobs: Blobs | None = None
) -> Entry:
    """Check stored bytes and return the entry, with its outputs not yet loaded.

    Raises:
        EntryProblem: the bytes are truncated, corrupt, foreign, another key's,
            or (with `secret`) not signed with it.
    """
    header, payload = _checked(data, key, secret)
    return Entry(
        key=key,
        task=header.task,
        cache_version=header.cache_version,
        created_at=header.created_at,
        producer=header.producer,
        payload=payload,
        refs=header.refs,
        blobs=blobs,
        duration=header.duration,
    )


def _checked(
    data: bytes | memoryview, key: str, secret: bytes | None
) -> tuple[Header, bytes | memoryview]:
    """The header and payload of stored bytes, once framing, seal and key are checked."""
    prefix, header, end = _split(data)
    if header.format == 1:
        return _checked_v1(data, prefix, header, end, key, secret)
    stop = end + header.payload_size
    if len(data) != stop + _SEAL:
        raise EntryProblem("truncated" if len(data) < stop + _SEAL else "corrupt")
    view = memoryview(data)
    _verify(header, view[stop:], (view[:stop],), secret)
    if header.key != key:
        raise EntryProblem("foreign key")
    # Small payloads are sliced (a copy costs less than a view); large ones are viewed.
    payload = data[end:stop] if header.payload_size < _BIG_PAYLOAD else view[end:stop]
    return header, payload


def _verify(
    header: Header,
    seal: bytes | memoryview,
    parts: tuple[bytes | memoryview, ...],
    secret: bytes | None,
) -> None:
    """Check the seal over `parts`: signed with `secret` if given, else plain blake3."""
    if secret is not None:
        import hmac

        if not header.signed or not hmac.compare_digest(seal, _seal(parts, secret)):
            raise EntryProblem("signature refused")
    elif header.signed:
        raise EntryProblem("signature refused")  # signed by a writer whose secret we lack
    elif seal != _seal(parts, None):
        raise EntryProblem("corrupt")


def _checked_v1(
    data: bytes | memoryview,
    prefix: bytes,
    header: Header,
    end: int,
    key: str,
    secret: bytes | None,
) -> tuple[Header, bytes | memoryview]:
    """Format 1: a seal over magic, length and header, then the payload with its digest
    in the header."""
    _verify(header, data[end : end + _SEAL], (prefix,), secret)
    if header.key != key:
        raise EntryProblem("foreign key")
    payload = memoryview(data)[end + _SEAL :]
    if len(payload) != header.payload_size:
        raise EntryProblem("truncated")
    if _digest(payload) != header.payload_digest:
        raise EntryProblem("corrupt")
    return header, payload


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
    return Entry(
        key=entry.key,
        task=entry.task,
        cache_version=entry.cache_version,
        created_at=entry.created_at,
        producer=entry.producer,
        payload=entry.payload,
        outputs=outputs,
        refs=entry.refs,
        blobs=entry.blobs,
        duration=entry.duration,
    )
