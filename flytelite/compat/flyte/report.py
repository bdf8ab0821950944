"""`flyte.report`: HTML reports of task calls, written to the run's folder.

A task call's report collects HTML fragments in tabs. `flush()` writes it to
`{run folder}/{action}/report.html`; a task declared with `report=True` is also
written when its call ends. The run's JSON report lists the files.
"""

from __future__ import annotations

from ._report import MAIN_TAB, Report, Tab
from ._state import current_action
from ._syncify import Dual

__all__ = ["Report", "Tab", "current_report", "flush", "get_tab", "log", "replace"]

_detached = Report(name="outside-a-task")


def current_report() -> Report:
    """The report of the task call running here (outside a task: a report nobody writes)."""
    action = current_action()
    return _detached if action is None else action.report


def get_tab(name: str, /, create_if_missing: bool = True) -> Tab:
    """A tab of the current call's report, created if missing."""
    return current_report().get_tab(name, create_if_missing=create_if_missing)


def _flush() -> None:
    action = current_action()
    if action is not None:
        action.write_report()


def _log(content: str, do_flush: bool = False) -> None:
    get_tab(MAIN_TAB).log(content)
    if do_flush:
        _flush()


def _replace(content: str, do_flush: bool = False) -> None:
    get_tab(MAIN_TAB).replace(content)
    if do_flush:
        _flush()


flush = Dual.plain(_flush, name="flush", doc="Write the current call's report to its file.")
log = Dual.plain(_log, name="log", doc="Append HTML to the main tab of the current report.")
replace = Dual.plain(_replace, name="replace", doc="Replace the main tab of the current report.")
