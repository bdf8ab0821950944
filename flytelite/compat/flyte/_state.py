"""What the surface knows about a run: its actions (task calls and traces), groups, `flyte.ctx()`.

flytelite's engine runs the calls; this module keeps Flyte 2's view of them on
the side. Every call of a surface task becomes an action (`a0` is the root)
that knows its parent, its `flyte.group`, its HTML report, the traces it
recorded and the engine's report row. The current action lives in a
contextvar, which follows a call into its body: asyncio tasks and worker
threads copy the context they start in.

State is per run, keyed by the run's runner, so a run started with
`flytelite.run` (or `flytelite run --flyte`) has it as well as one started
with `flyte.run`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from flytelite import ReportRow

from ...lowlevel import CallHandle, current_runner, expect_call, get_task
from ._checkpoint import Checkpoint
from ._report import Report

__all__ = [
    "NULL_TASK_CONTEXT",
    "Action",
    "ActionID",
    "GroupData",
    "RawDataPath",
    "RunSettings",
    "RunState",
    "TaskContext",
    "current_action",
    "current_group",
    "ctx",
    "custom_context",
    "get_custom_context",
    "group",
    "in_trace",
    "run_settings",
    "state_of",
]


@dataclass(frozen=True)
class ActionID:
    """The id of a task call in a run: `name` is e.g. `"a3"`, `run_name` the run's name."""

    name: str
    run_name: str | None = None
    project: str | None = None
    domain: str | None = None
    org: str | None = None

    def __post_init__(self) -> None:
        if self.run_name is None:
            object.__setattr__(self, "run_name", self.name)

    def __repr__(self) -> str:
        # As Flyte 2 prints it: the name, then the fields that are set.
        given = [("run_name", self.run_name), ("project", self.project)]
        given += [("domain", self.domain), ("org", self.org)]
        shown = [repr(self.name)] + [f"{k}={v!r}" for k, v in given if v is not None]
        return f"ActionID({', '.join(shown)})"


@dataclass(frozen=True)
class RawDataPath:
    """Where a run writes new files and folders (`File.new_remote()`, ...)."""

    path: str

    def get_random_remote_path(self, file_name: str | None = None) -> str:
        """A fresh path under this folder, ending in `file_name` when given."""
        folder = Path(self.path) / secrets.token_hex(8)
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / (file_name or secrets.token_hex(8)))


@dataclass(frozen=True)
class GroupData:
    """The `flyte.group` a call was made in."""

    name: str


@dataclass
class TaskContext:
    """What `flyte.ctx()` returns inside a task: the call's action, paths and context."""

    action: ActionID
    version: str
    raw_data_path: RawDataPath
    output_path: str
    run_base_dir: str
    report: Report
    group_data: GroupData | None = None
    checkpoint_paths: Any = None
    code_bundle: Any = None
    input_path: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    mode: Literal["local", "remote", "hybrid"] = "local"
    interactive_mode: bool = False
    custom_context: dict[str, str] = field(default_factory=dict)
    disable_run_cache: bool = False
    run_start_time: datetime | None = None
    task_action: ActionID | None = None
    owner: Action | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return True

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The call's checkpoint: what its last attempt saved is what a retry loads."""
        return self.owner.checkpoint() if self.owner is not None else None


class _NullTaskContext:
    """`flyte.ctx()` outside a task: falsy, and every field is `None`."""

    def __bool__(self) -> bool:
        return False

    def __getattr__(self, name: str) -> None:
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def __repr__(self) -> str:
        return "NULL_TASK_CONTEXT"


NULL_TASK_CONTEXT: Any = _NullTaskContext()


@dataclass(frozen=True, eq=False)
class RunSettings:
    """The options of `flyte.with_runcontext(...)` that change what a run does.

    `states` receives the run's state when it is created, for `flyte.run` to
    read once the run is over.
    """

    name: str | None = None
    raw_data_path: str | None = None
    run_base_dir: str | None = None
    custom_context: dict[str, str] = field(default_factory=dict)
    cache_mode: Literal["overwrite", "disable"] | None = None
    run_start_time: datetime | None = None
    states: list[RunState] = field(default_factory=list)
    root_call: CallHandle = field(default_factory=CallHandle)


run_settings: ContextVar[RunSettings | None] = ContextVar("flyte_run_settings", default=None)
_action: ContextVar[Action | None] = ContextVar("flyte_action", default=None)
_group: ContextVar[str | None] = ContextVar("flyte_group", default=None)
_in_trace: ContextVar[bool] = ContextVar("flyte_in_trace", default=False)
_custom: ContextVar[dict[str, str] | None] = ContextVar("flyte_custom_context", default=None)


class Action:
    """One task call (or trace) of a run, as Flyte 2 sees it."""

    def __init__(
        self,
        state: RunState,
        name: str,
        task: str,
        *,
        parent: Action | None,
        group: str | None,
        kind: Literal["task", "trace"] = "task",
        version: str = "",
        report_html: bool = False,
    ) -> None:
        self.state = state
        self.name = name
        self.task = task
        self.parent = parent
        self.group = group
        self.kind = kind
        self.version = version
        self.report_html = report_html
        self.report = Report(name=name)
        self.report_path: str | None = None
        self.status = "running"
        self.error: str | None = None
        self.duration = 0.0
        self.started = time.time()
        self._call: CallHandle | None = None
        self._memo: dict[tuple[str, bytes, int], tuple[bool, Any]] = {}
        self._seen: dict[tuple[str, bytes], int] = {}
        self._memo_attempt = 0
        self._checkpoint: tuple[int, Checkpoint] | None = None
        self._lock = threading.Lock()

    def expect_row(self) -> None:
        """The engine gives this action the row of the task call made next here."""
        self._call = CallHandle()
        expect_call(self._call)

    @property
    def row(self) -> ReportRow | None:
        """The engine's report row of this call, once it exists."""
        row = self._call.row if self._call is not None else None
        return row if row is not None and row.task == self.task else None

    @property
    def attempt(self) -> int:
        """The attempt of this call that is running (1 when unknown)."""
        row = self.row
        return max(1, row.attempts) if row is not None else 1

    def trace_slot(self, name: str, digest: bytes) -> tuple[tuple[str, bytes, int], bool, Any]:
        """The memo slot of a trace call: its key, and its recorded outcome if any.

        A trace is identified by its function, its inputs and how many identical
        calls came before it in this attempt, so that a retried attempt replays the
        traces its failed predecessor completed, in order.
        """
        with self._lock:
            attempt = self.attempt
            if attempt != self._memo_attempt:
                self._memo_attempt = attempt
                self._seen.clear()
            n = self._seen.get((name, digest), 0)
            self._seen[(name, digest)] = n + 1
            key = (name, digest, n)
            found = self._memo.get(key)
        if found is None:
            return key, False, None
        return key, True, found

    def remember(self, key: tuple[str, bytes, int], ok: bool, value: Any) -> None:
        """Record a trace's outcome for replay."""
        with self._lock:
            self._memo[key] = (ok, value)

    def checkpoint(self) -> Checkpoint:
        """This call's checkpoint for the attempt running. A retry's checkpoint loads what the
        attempt before it saved (staged from `checkpoint` to `prev_checkpoint`, as in Flyte 2)."""
        with self._lock:
            attempt = self.attempt
            if self._checkpoint is not None and self._checkpoint[0] == attempt:
                return self._checkpoint[1]
            folder = Path(self.state.base_dir) / self.name
            dest, prev = folder / "checkpoint", folder / "prev_checkpoint"
            if self._checkpoint is None:  # a first look: nothing of another run's is loaded
                prev.unlink(missing_ok=True)
                dest.unlink(missing_ok=True)
            elif dest.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(dest, prev)
            self._checkpoint = (attempt, Checkpoint(str(dest), str(prev)))
            return self._checkpoint[1]

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Mark the call done."""
        self.status = status
        self.duration = time.time() - self.started
        if error is not None:
            self.error = f"{type(error).__name__}: {error}"
        if self.report_html and self.report.has_content():
            self.write_report()

    def write_report(self) -> str:
        """Write this call's HTML report to the run's folder; return its path."""
        folder = Path(self.state.base_dir) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "report.html"
        path.write_text(self.report.get_final_report(), encoding="utf-8")
        self.report_path = str(path)
        return self.report_path

    def context(self) -> TaskContext:
        """The `flyte.ctx()` of this call."""
        state = self.state
        task_action = self
        while task_action.kind == "trace" and task_action.parent is not None:
            task_action = task_action.parent
        return TaskContext(
            action=ActionID(self.name, state.run_name),
            version=self.version,
            raw_data_path=RawDataPath(state.raw_dir),
            output_path=str(Path(state.base_dir) / self.name),
            run_base_dir=state.base_dir,
            report=self.report,
            group_data=GroupData(self.group) if self.group else None,
            custom_context={**state.custom_context, **(_custom.get() or {})},
            disable_run_cache=state.cache_mode == "disable",
            run_start_time=state.start_time,
            task_action=ActionID(task_action.name, state.run_name),
            owner=task_action,
        )

    def to_dict(self) -> dict[str, Any]:
        """This action for the run's JSON report."""
        out: dict[str, Any] = {
            "action": self.name,
            "kind": self.kind,
            "task": self.task,
            "parent": self.parent.name if self.parent is not None else None,
            "group": self.group,
        }
        if self.report_path is not None:
            out["report"] = self.report_path
        return out


class RunState:
    """The surface's state of one run."""

    def __init__(self, runner: Any, settings: RunSettings | None) -> None:
        settings = settings or RunSettings()
        self.runner = weakref.ref(runner)
        self.run_name = settings.name or str(getattr(runner, "run_id", None) or _new_name())
        self.base_dir = settings.run_base_dir or str(default_runs_dir() / self.run_name)
        self.raw_dir = settings.raw_data_path or str(Path(self.base_dir) / "raw")
        self.custom_context = dict(settings.custom_context)
        self.cache_mode = settings.cache_mode
        self.start_time = settings.run_start_time or datetime.now(timezone.utc)
        self.actions: list[Action] = []
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.root = Action(self, "a0", "", parent=None, group=None)
        self.root._call = settings.root_call  # filled as the run's root call started
        row = settings.root_call.row
        if row is not None:
            self.root.task = row.task
            options = getattr(get_task(row.task), "flyte_options", None)
            self.root.report_html = bool(getattr(options, "report", False))
        self.actions.append(self.root)

    def new_action(self, task: str, **options: Any) -> Action:
        """A new action of this run, named `a1`, `a2`, ... in order of calls (`options`: those
        of `Action`: `parent`, `group`, `kind`, ...)."""
        with self._lock:
            action = Action(self, f"a{next(self._counter)}", task, **options)
            self.actions.append(action)
        return action

    def by_row(self) -> dict[int, Action]:
        """Actions by the id of their engine report row."""
        out = {}
        for action in self.actions:
            row = action.row if action.kind == "task" else None
            if row is not None:
                out[id(row)] = action
        return out


_states: weakref.WeakKeyDictionary[Any, RunState] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _new_name() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"


def default_runs_dir() -> Path:
    """Where runs keep their reports and new files unless told: `FLYTELITE_RUNS_DIR`, else
    `flytelite-runs` in the temporary folder."""
    configured = os.environ.get("FLYTELITE_RUNS_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "flytelite-runs"


def state_of(runner: Any) -> RunState:
    """The surface's state of the run `runner` belongs to, created on first use."""
    state = _states.get(runner)
    if state is None:
        with _states_lock:
            state = _states.get(runner)
            if state is None:
                settings = run_settings.get()
                state = RunState(runner, settings)
                _states[runner] = state
                if settings is not None:
                    settings.states.append(state)
    return state


def current_state() -> RunState | None:
    """The state of the run this code runs in, if any."""
    runner = current_runner.get()
    return None if runner is None else state_of(runner)


def current_action() -> Action | None:
    """The action whose body is running here: a task call or a trace; `None` outside runs."""
    runner = current_runner.get()
    if runner is None:
        return None
    action = _action.get()
    if action is not None and action.state.runner() is runner:
        return action
    return state_of(runner).root


def enter_action(action: Action) -> Any:
    """Make `action` the current one; returns a token for `leave_action`."""
    return _action.set(action)


def leave_action(token: Any) -> None:
    """Undo `enter_action`."""
    _action.reset(token)


def current_group() -> str | None:
    """The name of the innermost `flyte.group` here."""
    return _group.get()


def in_trace() -> bool:
    """Whether a `@flyte.trace` function is running here."""
    return _in_trace.get()


@contextlib.contextmanager
def trace_scope() -> Iterator[None]:
    """While inside: `in_trace()` is true."""
    token = _in_trace.set(True)
    try:
        yield
    finally:
        _in_trace.reset(token)


@contextlib.contextmanager
def group(name: str) -> Iterator[None]:
    """Group the task calls made inside (`with flyte.group("prep"): ...`).

    Calls made in the block carry the group's name in `flyte.ctx().group_data`
    and in the run's report.

    Args:
        name: The group's name.
    """
    token = _group.set(name)
    try:
        yield
    finally:
        _group.reset(token)


@contextlib.contextmanager
def custom_context(**context: str) -> Iterator[None]:
    """Add key-value context for the calls made inside (read with `get_custom_context()`)."""
    token = _custom.set({**(_custom.get() or {}), **context})
    try:
        yield
    finally:
        _custom.reset(token)


def get_custom_context() -> dict[str, str]:
    """The custom context here: the run's (`with_runcontext(custom_context=...)`) and the
    blocks of `flyte.custom_context(...)` around this code."""
    state = current_state()
    base = state.custom_context if state is not None else {}
    return {**base, **(_custom.get() or {})}


def ctx() -> Any:
    """The current task's context (`flyte.ctx()`): a `TaskContext` inside a task call, else a
    falsy context whose fields are all `None`."""
    action = current_action()
    if action is None:
        return NULL_TASK_CONTEXT
    return action.context()
