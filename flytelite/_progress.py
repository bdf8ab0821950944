"""Live progress of a run, on stderr.

On a terminal with `rich` installed (`flytelite[rich]`): a live table, a few
refreshes a second, of the busiest tasks (running, done, cached, failed,
retried) and an overall bar. Anywhere else (CI, logs, pipes): a short plain
line every few seconds while a run is long, no escape codes. Either way a run
that met cache warnings ends with one line summarising them. stdout is never
touched. `fl.run(..., progress=False)` or `FLYTELITE_PROGRESS=0` turns it off.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any

from ._cache import CacheStatus
from ._report import Report, ReportRow

__all__ = ["Progress", "make_progress"]

MAX_ROWS = 20
PLAIN_EVERY_S = 5.0
_OFF = ("0", "false", "no", "off")


@dataclass
class _Tally:
    calls: int = 0
    running: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    retried: int = 0
    last: float = 0.0


class Progress:
    """Counts calls per task as the engine reports them; subclasses show the counts."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tasks: dict[str, _Tally] = {}
        self.total = _Tally()
        self.reasons: Counter[str] = Counter()
        self.started = time.monotonic()

    def _tallies(self, row: ReportRow) -> tuple[_Tally, _Tally]:
        tally = self.tasks.get(row.task)
        if tally is None:
            tally = self.tasks[row.task] = _Tally()
        tally.last = time.monotonic()
        return tally, self.total

    def call_started(self, row: ReportRow) -> None:
        for t in self._tallies(row):
            t.calls += 1
            t.running += 1

    def call_retried(self, row: ReportRow) -> None:
        for t in self._tallies(row):
            t.retried += 1

    def call_finished(self, row: ReportRow) -> None:
        hit = row.cache is CacheStatus.HIT
        failed = row.status == "failed"
        if row.miss_reason is not None and row.attempts > 0:
            self.reasons[row.miss_reason.summary] += 1
        for t in self._tallies(row):
            t.running -= 1
            t.done += 1
            t.cached += hit
            t.failed += failed

    def start(self) -> None:
        """Begin showing progress."""

    def tick(self) -> None:
        """Called every second or so while the run is going."""

    def stop(self, report: Report) -> None:
        """Stop showing progress, then summarise the run's cache warnings."""
        line = warnings_summary(report)
        if line:
            print(f"flytelite: {line}", file=self.stream)


def warnings_summary(report: Report) -> str:
    """One line counting the calls the catalog could not serve or keep, or ``""``."""
    counts = report.counts()
    parts = []
    if counts[CacheStatus.LOOKUP_FAILURE]:
        parts.append(f"{counts[CacheStatus.LOOKUP_FAILURE]} lookups failed")
    if counts[CacheStatus.PUT_FAILURE]:
        parts.append(f"{counts[CacheStatus.PUT_FAILURE]} outputs not written")
    refused = sum(1 for r in report if r.miss_reason and r.miss_reason.signature_refused)
    if refused:
        parts.append(f"{refused} entries refused (signature)")
    return "cache warnings: " + ", ".join(parts) if parts else ""


class PlainProgress(Progress):
    """Short log lines, only for runs that last: no escape codes, nothing for quick runs."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._next = self.started + PLAIN_EVERY_S
        self._printed = False

    def _line(self) -> str:
        t = self.total
        elapsed = time.monotonic() - self.started
        return (
            f"flytelite: {elapsed:.0f}s  {t.done}/{t.calls} calls done, {t.running} running, "
            f"{t.cached} cached, {t.failed} failed, {t.retried} retried"
        )

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + PLAIN_EVERY_S
            self._printed = True
            print(self._line(), file=self.stream, flush=True)

    def stop(self, report: Report) -> None:
        if self._printed:
            print(self._line().replace("  ", " finished after ", 1), file=self.stream)
        super().stop(report)


class RichProgress(Progress):
    """A rich Live view: the busiest tasks and an overall bar."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=stream)
        self._live = Live(
            console=self._console,
            refresh_per_second=4,
            transient=False,
            get_renderable=self._render,
        )

    def _render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("task", "running", "done", "cached", "failed", "retried"):
            table.add_column(column, justify="left" if column == "task" else "right")
        busiest = sorted(self.tasks.items(), key=lambda kv: (-kv[1].running, -kv[1].last))
        for name, t in busiest[:MAX_ROWS]:
            table.add_row(
                name,
                str(t.running),
                str(t.done),
                str(t.cached),
                str(t.failed),
                str(t.retried),
            )
        if len(busiest) > MAX_ROWS:
            table.add_row(f"... {len(busiest) - MAX_ROWS} more tasks", "", "", "", "", "")
        t = self.total
        bar = ProgressBar(total=max(t.calls, 1), completed=t.done, width=40)
        elapsed = time.monotonic() - self.started
        summary = f" {t.done}/{t.calls} calls  {t.cached} cached  {t.failed} failed  {elapsed:.1f}s"
        parts: list[Any] = [table, _grid(bar, summary)]
        if self.reasons:
            top = ", ".join(f"{reason} ({n})" for reason, n in self.reasons.most_common(3))
            parts.append(f" misses by reason: {top}")
        return Group(*parts)

    def start(self) -> None:
        self._live.start()

    def stop(self, report: Report) -> None:
        self._live.stop()
        super().stop(report)


def _grid(bar: Any, summary: str) -> Any:
    from rich.table import Table

    grid = Table.grid()
    grid.add_row(bar, summary)
    return grid


def make_progress(enabled: bool | None, stream: IO[str] | None = None) -> Progress | None:
    """The progress view for a run, or `None` when it is turned off.

    `enabled=None` follows `FLYTELITE_PROGRESS` (on unless it is `0`/`false`).
    """
    if enabled is False:
        return None
    if enabled is None and os.environ.get("FLYTELITE_PROGRESS", "").lower() in _OFF:
        return None
    stream = stream or sys.stderr
    if _is_terminal(stream):
        try:
            return RichProgress(stream)
        except ImportError:
            pass
    return PlainProgress(stream)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
