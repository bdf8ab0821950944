"""The run report: one row per task call, and a summary table per task."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ._cache import CacheStatus

if TYPE_CHECKING:
    import os

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
        started: When the call started (seconds since the epoch, `time.time()`).
        parent: The row of the task call whose body made this call (`None` for the root).
        edges: For a dynamic workflow's call, its DAG as `(upstream node, node)` pairs.
        populated_in: For a hit, the seconds the body took in the call that wrote the
            entry (where the entry records it): what the hit saved, less its own time.
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
    started: float = 0.0
    parent: ReportRow | None = field(default=None, repr=False)
    edges: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    populated_in: float | None = field(default=None, repr=False)

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
            "started": self.started,
            "key": self.key,
            "error": self.error,
        }
        if self.miss_reason is not None:
            out["miss_reason"] = self.miss_reason
        if self.node is not None:
            out["node"] = self.node
        if self.edges is not None:
            out["edges"] = [list(edge) for edge in self.edges]
        if self.populated_in is not None:
            out["populated_in"] = self.populated_in
        return out


class RunObserver(Protocol):
    """Told about every call of a run as it happens (the live progress view is one).

    Called on the run's event loop; must return quickly and never raise.
    """

    def call_started(self, row: ReportRow) -> None: ...

    def call_retried(self, row: ReportRow) -> None: ...

    def call_finished(self, row: ReportRow) -> None: ...


@dataclass
class TaskFigures:
    """The calls of one task in a report, added up."""

    task: str
    rows: list[ReportRow]
    calls: int
    hits: int
    misses: int  # cached calls that executed
    failed: int
    total: float
    p95: float
    statuses: Counter[CacheStatus]


def task_figures(rows: Iterable[ReportRow]) -> list[TaskFigures]:
    """Per task, in the order tasks were first called: the table's figures (of a
    `Report`, with the calls it counted without keeping their rows)."""
    groups: dict[str, list[ReportRow]] = {}
    folded = rows.folded if isinstance(rows, Report) else {}
    for task in folded:
        groups[task] = []
    for row in rows:
        groups.setdefault(row.task, []).append(row)
    out = []
    for task, group in groups.items():
        durations = sorted(r.duration for r in group)
        statuses = Counter(r.cache for r in group)
        extra = folded.get(task)
        hits = statuses[CacheStatus.HIT]
        misses = sum(r.cache in _MISSED and r.attempts > 0 for r in group)
        calls = len(group)
        if extra is not None:
            durations = sorted(durations + list(extra.durations))
            statuses += extra.statuses
            hits, misses, calls = hits + extra.hits, misses + extra.misses, calls + extra.calls
        out.append(
            TaskFigures(
                task,
                group,
                calls=calls,
                hits=hits,
                misses=misses,
                failed=sum(r.status == "failed" for r in group),  # failed rows are all kept
                total=sum(durations),
                p95=durations[max(0, math.ceil(0.95 * len(durations)) - 1)],
                statuses=statuses,
            )
        )
    return out


class Folded:
    """The calls of one task a report counted without keeping their rows."""

    __slots__ = ("calls", "durations", "hits", "misses", "reasons", "statuses")

    def __init__(self) -> None:
        self.calls = 0
        self.hits = 0
        self.misses = 0
        self.durations = array("d")  # 8 bytes a call: p95 stays exact
        self.statuses: Counter[CacheStatus] = Counter()
        self.reasons: Counter[str] = Counter()

    def add(self, row: ReportRow) -> None:
        self.calls += 1
        self.durations.append(row.duration)
        self.statuses[row.cache] += 1
        if row.cache is CacheStatus.HIT:
            self.hits += 1
        elif row.cache in _MISSED and row.attempts > 0:
            self.misses += 1
        if row.miss_reason is not None and row.attempts > 0:
            self.reasons[row.miss_reason.summary] += 1


ROW_LIMIT = 100_000
"""How many calls of a run keep their report rows, unless `FLYTELITE_REPORT_ROWS` says."""


def row_limit() -> int | None:
    """The run's row limit: `FLYTELITE_REPORT_ROWS` (`0`: none), else `ROW_LIMIT`."""
    import os

    text = os.environ.get("FLYTELITE_REPORT_ROWS", "").strip()
    if not text:
        return ROW_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise ValueError(
            f"FLYTELITE_REPORT_ROWS={text!r}: give a whole number of calls (0: keep every row)."
        ) from None
    if limit < 0:
        raise ValueError(f"FLYTELITE_REPORT_ROWS={text!r}: give a number >= 0 (0: keep every row).")
    return limit or None


class Report(list[ReportRow]):
    """The rows of a run, in the order the calls started; `str()` is a summary table.

    A very large run keeps the rows of its first `row_limit` calls (100,000 by
    default; `FLYTELITE_REPORT_ROWS` sets it, `0` for no limit). Every later call
    is still counted exactly in the per-task figures (`str()`, `counts()`,
    `miss_reasons()`, `calls`, the HTML report's table), and a later call that
    failed keeps its row in full, added when it fails; the others' rows are not
    kept, so that a million-call run does not hold a million rows.

    Attributes:
        run_id: The run's id (`None` for a report not made by `fl.run`).
        cache_url: The cache the run used.
        row_limit: How many calls keep their rows (`None`: all).
        folded: Per task, the calls counted beyond `row_limit` without their rows.
        notes: What the run wants its reader to know beside the rows (a read-only
            cache, a `serialize` that could not be honoured), once each.
    """

    run_id: str | None = None
    cache_url: str | None = None
    row_limit: int | None = None

    def __init__(self, rows: Iterable[ReportRow] = (), *, row_limit: int | None = None) -> None:
        super().__init__(rows)
        self.row_limit = row_limit
        self.folded: dict[str, Folded] = {}
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        """Add a note, unless it is there already."""
        if text not in self.notes:
            self.notes.append(text)

    @property
    def calls(self) -> int:
        """How many task calls the run made (kept rows and counted ones)."""
        return len(self) + sum(f.calls for f in self.folded.values())

    def _keep(self, row: ReportRow) -> bool:
        """(The engine's) A call started: keep its row if under `row_limit`; whether it was kept."""
        if self.row_limit is None or len(self) < self.row_limit:
            self.append(row)
            return True
        return False

    def _fold(self, row: ReportRow) -> None:
        """(The engine's) A call whose row was not kept finished: count it; a failed
        call keeps its row after all."""
        if row.status == "failed":
            self.append(row)
            return
        folded = self.folded.get(row.task)
        if folded is None:
            folded = self.folded[row.task] = Folded()
        folded.add(row)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One plain dict per call, for tools (JSON-ready); `"parent"` is the index of
        the row of the call that made it (absent for the root)."""
        index = {id(row): i for i, row in enumerate(self)}
        out = []
        for row in self:
            item = row.to_dict()
            parent = None if row.parent is None else index.get(id(row.parent))
            if parent is not None:
                item["parent"] = parent
            out.append(item)
        return out

    def to_html(self) -> str:
        """The report as one self-contained HTML page: a summary, a timeline of the calls
        coloured by cache status, calls in flight over time, a per-task table, misses by
        reason and, for dynamic workflows, the DAG. It loads nothing from the network."""
        from ._report_html import render

        return render(self)

    def save_html(self, path: str | os.PathLike[str]) -> None:
        """Write `to_html()` to `path` (UTF-8)."""
        from pathlib import Path

        Path(path).write_text(self.to_html(), encoding="utf-8")

    def _repr_html_(self) -> str:
        """A compact version for notebooks: summary, per-task table, misses by reason and
        a small timeline."""
        from ._report_html import render_compact

        return render_compact(self)

    def by_task(self, task: str) -> list[ReportRow]:
        """The rows of one task; `task` is an identity or a bare function name."""
        return [r for r in self if r.task == task or r.task.rsplit(".", 1)[-1] == task]

    def counts(self) -> Counter[CacheStatus]:
        """How many calls ended in each cache status."""
        counts = Counter(row.cache for row in self)
        for folded in self.folded.values():
            counts += folded.statuses
        return counts

    def __str__(self) -> str:
        # Calls the store could not serve or keep get their own columns, when there are any.
        statuses = {row.cache for row in self}
        failures = [(status, name) for status, name in _FAILURE_COLUMNS if status in statuses]
        names = [name for _, name in failures]
        header = ("task", "calls", "hits", "misses", *names, "failed", "total s", "p95 s")
        lines = [header]
        for f in task_figures(self):
            lines.append(
                (
                    f.task,
                    str(f.calls),
                    str(f.hits),
                    str(f.misses),
                    *(str(f.statuses[status]) for status, _ in failures),
                    str(f.failed),
                    f"{f.total:.3f}",
                    f"{f.p95:.3f}",
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
        reasons = Counter(
            row.miss_reason.summary
            for row in self
            if row.miss_reason is not None and row.attempts > 0
        )
        for folded in self.folded.values():
            reasons += folded.reasons
        return reasons

    def __repr__(self) -> str:
        calls = self.calls
        if calls == len(self):
            return f"<Report {calls} calls>"
        return f"<Report {calls} calls, {len(self)} rows kept>"
