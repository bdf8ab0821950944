"""The run report: one row per task call, and a summary table per task."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ._cache import CacheStatus

if TYPE_CHECKING:
    from .catalog import MissReason

__all__ = ["Report", "ReportRow", "RunObserver"]

_MAX_REASONS = 8
_MISSED = (CacheStatus.MISS, CacheStatus.POPULATED)
_FAILURE_COLUMNS = (
    (CacheStatus.LOOKUP_FAILURE, "lookup failures"),
    (CacheStatus.PUT_FAILURE, "put failures"),
)


@dataclass(eq=False)
class ReportRow:
    """What happened to one task call.

    Attributes:
        task: The task's identity, `"env.function"`.
        cache: The catalog status of the call's outputs.
        spec_cache: For dynamic workflows, the status of the compiled spec; else `None`.
        attempts: How many times the body ran (0 for a cache hit).
        duration: Seconds from the call to its result.
        status: `"running"`, `"succeeded"`, `"failed"` or `"cancelled"`.
        key: The cache key's digest, for cached calls.
        miss_reason: Why a cached call executed, where known.
        node: The node id, for calls made by a dynamic workflow's DAG.
        exception: The exception the call failed with.
    """

    task: str
    cache: CacheStatus = CacheStatus.SKIPPED
    spec_cache: CacheStatus | None = None
    attempts: int = 0
    duration: float = 0.0
    status: str = "running"
    key: str | None = None
    miss_reason: MissReason | None = None
    node: str | None = None
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def error(self) -> str | None:
        """`"ExceptionType: message"` of a failed call."""
        exc = self.exception
        return None if exc is None else f"{type(exc).__name__}: {exc}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task": self.task,
            "status": self.status,
            "cache": self.cache.value,
            "spec_cache": self.spec_cache.value if self.spec_cache else None,
            "attempts": self.attempts,
            "duration": self.duration,
            "key": self.key,
            "error": self.error,
        }
        if self.miss_reason is not None:
            out["miss_reason"] = self.miss_reason
        if self.node is not None:
            out["node"] = self.node
        return out


class RunObserver(Protocol):
    """Told about every call of a run as it happens (the live progress view is one).

    Called on the run's event loop; must return quickly and never raise.
    """

    def call_started(self, row: ReportRow) -> None: ...

    def call_retried(self, row: ReportRow) -> None: ...

    def call_finished(self, row: ReportRow) -> None: ...


class Report(list[ReportRow]):
    """The rows of a run, in the order the calls started; `str()` is a summary table.

    Attributes:
        notes: What the run wants its reader to know beside the rows (a read-only
            cache, a `serialize` that could not be honoured), once each.
    """

    def __init__(self, rows: Iterable[ReportRow] = ()) -> None:
        super().__init__(rows)
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        """Add a note, unless it is there already."""
        if text not in self.notes:
            self.notes.append(text)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One plain dict per call, for tools (JSON-ready)."""
        return [row.to_dict() for row in self]

    def by_task(self, task: str) -> list[ReportRow]:
        """The rows of one task; `task` is an identity or a bare function name."""
        return [r for r in self if r.task == task or r.task.rsplit(".", 1)[-1] == task]

    def counts(self) -> Counter[CacheStatus]:
        """How many calls ended in each cache status."""
        return Counter(row.cache for row in self)

    def __str__(self) -> str:
        groups: dict[str, list[ReportRow]] = {}
        for row in self:
            groups.setdefault(row.task, []).append(row)
        # Calls the store could not serve or keep get their own columns, when there are any.
        statuses = {row.cache for row in self}
        failures = [(status, name) for status, name in _FAILURE_COLUMNS if status in statuses]
        names = [name for _, name in failures]
        header = ("task", "calls", "hits", "misses", *names, "failed", "total s", "p95 s")
        lines = [header]
        for task, rows in groups.items():
            durations = sorted(r.duration for r in rows)
            p95 = durations[max(0, math.ceil(0.95 * len(durations)) - 1)]
            lines.append(
                (
                    task,
                    str(len(rows)),
                    str(sum(r.cache is CacheStatus.HIT for r in rows)),
                    str(sum(r.cache in _MISSED and r.attempts > 0 for r in rows)),
                    *(str(sum(r.cache is status for r in rows)) for status, _ in failures),
                    str(sum(r.status == "failed" for r in rows)),
                    f"{sum(durations):.3f}",
                    f"{p95:.3f}",
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = []
        for n, line in enumerate(lines):
            cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:])]
            out.append("  ".join(cells).rstrip())
            if n == 0:
                out.append("  ".join("-" * w for w in widths))
        reasons = self.miss_reasons()
        if reasons:
            out.append("")
            out.append("misses by reason:")
            shown = reasons.most_common(_MAX_REASONS)
            out.extend(f"  {count:>6}  {reason}" for reason, count in shown)
            rest = sum(reasons.values()) - sum(count for _, count in shown)
            if rest:
                out.append(f"  {rest:>6}  (other reasons)")
        if self.notes:
            out.append("")
            out.extend(f"note: {text}" for text in self.notes)
        return "\n".join(out)

    def miss_reasons(self) -> Counter[str]:
        """How many cached calls executed, by reason (`MissReason.summary`: without
        the ages and error messages that differ from call to call)."""
        return Counter(
            row.miss_reason.summary
            for row in self
            if row.miss_reason is not None and row.attempts > 0
        )

    def __repr__(self) -> str:
        return f"<Report {len(self)} calls>"
