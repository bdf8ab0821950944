"""What the async catalog client takes and gives: requests, results, responses, futures."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from .._cache import CacheStatus
from ._entry import Entry
from ._key import Key
from ._reasons import MissReason

__all__ = [
    "DownloadFuture",
    "DownloadRequest",
    "DownloadResponse",
    "DownloadResult",
    "ResponseStatus",
    "UploadFuture",
    "UploadRequest",
    "UploadResponse",
    "UploadResult",
]


class ResponseStatus(str, enum.Enum):
    """Whether every request of a future has completed."""

    NOT_READY = "NOT_READY"
    READY = "READY"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DownloadRequest:
    """Look up `key`; entries older than `max_age` seconds are misses."""

    key: Key
    max_age: float | None = None


@dataclass(frozen=True)
class UploadRequest:
    """Write `outputs` under `key`: create-if-absent, or replace with `overwrite`."""

    key: Key
    outputs: Any
    producer: str = ""
    overwrite: bool = False
    max_age: float | None = None
    duration: float | None = None
    """Seconds the body took (kept in entries written by an `FsspecCatalog`)."""


@dataclass(slots=True)
class DownloadResult:
    """The outcome of one lookup.

    `status` is `HIT`, `MISS` or `LOOKUP_FAILURE` (then `error` says why);
    `reason` explains a miss where it is known. Read-only by convention (one
    result may answer several identical lookups).
    """

    key: Key
    status: CacheStatus
    entry: Entry | None = None
    error: BaseException | None = None
    reason: MissReason | None = None

    @property
    def hit(self) -> bool:
        """Whether the entry was found and loaded."""
        return self.status is CacheStatus.HIT

    @property
    def outputs(self) -> Any:
        """The entry's outputs (`None` on a miss)."""
        return None if self.entry is None else self.entry.outputs


@dataclass(frozen=True)
class UploadResult:
    """The outcome of one write: `POPULATED`, `HIT` (a valid entry stood), or `PUT_FAILURE`."""

    key: Key
    status: CacheStatus
    error: BaseException | None = None


@dataclass(frozen=True)
class DownloadResponse:
    """The results of one `download(...)`, in request order."""

    results: list[DownloadResult]

    @property
    def cached_count(self) -> int:
        """How many of the requests were hits."""
        return sum(r.hit for r in self.results)


@dataclass(frozen=True)
class UploadResponse:
    """The results of one `upload(...)`, in request order."""

    results: list[UploadResult]

    @property
    def failed_count(self) -> int:
        """How many of the writes failed."""
        return sum(r.status is CacheStatus.PUT_FAILURE for r in self.results)


class _Future:
    def __init__(self, futures: list[asyncio.Future[Any]]) -> None:
        self._futures = futures

    @property
    def status(self) -> ResponseStatus:
        """`READY` once every request has completed."""
        done = all(f.done() for f in self._futures)
        return ResponseStatus.READY if done else ResponseStatus.NOT_READY

    async def _gather(self) -> list[Any]:
        # Shielded: the work is shared with identical requests of other callers.
        return [f.result() if f.done() else await asyncio.shield(f) for f in self._futures]


class DownloadFuture(_Future):
    """The pending result of `download(...)`: check `.status`, or await it."""

    def __await__(self) -> Generator[Any, None, DownloadResponse]:
        results = yield from self._gather().__await__()
        return DownloadResponse(results)

    def response(self) -> DownloadResponse:
        """The response of a `READY` future."""
        if self.status is not ResponseStatus.READY:
            raise RuntimeError("the download is not ready yet; await the future instead.")
        return DownloadResponse([f.result() for f in self._futures])


class UploadFuture(_Future):
    """The pending result of `upload(...)`: check `.status`, or await it."""

    def __await__(self) -> Generator[Any, None, UploadResponse]:
        results = yield from self._gather().__await__()
        return UploadResponse(results)

    def response(self) -> UploadResponse:
        """The response of a `READY` future."""
        if self.status is not ResponseStatus.READY:
            raise RuntimeError("the upload is not ready yet; await the future instead.")
        return UploadResponse([f.result() for f in self._futures])
