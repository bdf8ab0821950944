"""`flyte.init`, `flyte.run`, `flyte.with_runcontext(...).run`: runs on flytelite.

A run is a `flytelite.run` of the task: concurrent, cached in flytelite's
catalog, with flytelite's report. It returns Flyte 2's run handle: `.outputs()`
(a tuple, as Flyte 2's local runner gives), `.name`, `.url` (a `file://` URL of
the run's JSON report) and `.wait()`. A task failure raises what Flyte 2 raises:
a `flyte.errors.RuntimeUserError` whose `.code` names the exception, chained to
it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import flytelite as lite_run
from flytelite import Report, Task, TaskFailedError

from ...lowlevel import expect_call, reset_call
from ._notice import UnsupportedFeatureError, ignored, notice
from ._state import RunSettings, RunState, default_runs_dir, run_settings
from ._syncify import Dual
from ._task import TaskTemplate, crossing

__all__ = [
    "ActionOutputs",
    "Run",
    "current_domain",
    "current_project",
    "init",
    "init_from_api_key",
    "init_from_config",
    "init_in_cluster",
    "init_passthrough",
    "is_control_plane_available",
    "run",
    "with_runcontext",
]


class ActionOutputs(tuple[Any, ...]):
    """A run's outputs: a tuple (one item per output), also by name as `.o0`, `.o1`, ..."""

    _fields: list[str]

    def __new__(cls, data: Sequence[Any], fields: list[str] | None = None) -> ActionOutputs:
        self = super().__new__(cls, data)
        self._fields = fields or [f"o{i}" for i in range(len(self))]
        for name, value in zip(self._fields, self):
            setattr(self, name, value)
        return self

    @property
    def named_outputs(self) -> dict[str, Any]:
        """The outputs by name: `{"o0": ..., "o1": ...}`."""
        return dict(zip(self._fields, self))

    def __repr__(self) -> str:
        shown = ", ".join(
            f'{n}="{v}"' if isinstance(v, str) else f"{n}={v}" for n, v in zip(self._fields, self)
        )
        return f"ActionOutputs({shown})"


def _outputs(self: Run) -> ActionOutputs:
    return self._outputs


def _wait(self: Run, quiet: bool = False, wait_for: str = "terminal") -> None:
    return None


class Run:
    """A finished run, as Flyte 2's run handle presents it.

    Attributes:
        name: The run's name (`with_runcontext(name=...)`, else flytelite's run id).
        url: A `file://` URL of the run's JSON report: every call with its action,
            parent, group, cache status, attempts, duration and error.
        report: flytelite's report of the run.
        lite: The `flytelite.Run` (absent when the run failed).
        actions: The run's actions (task calls and traces) as dicts.
    """

    outputs = Dual.plain(_outputs, name="outputs", doc="The outputs, as a tuple (`ActionOutputs`).")
    wait = Dual.plain(_wait, name="wait", doc="Wait for the run to end: it already has.")

    def __init__(
        self,
        *,
        name: str,
        url: str,
        outputs: Any,
        report: Report,
        lite: lite_run.Run | None,
        actions: list[dict[str, Any]],
        phase: str = "SUCCEEDED",
    ) -> None:
        self.name = name
        self.url = url
        self._outputs = ActionOutputs(outputs if isinstance(outputs, tuple) else (outputs,))
        self.report = report
        self.lite = lite
        self.actions = actions
        self.phase = phase

    def done(self) -> bool:
        """Whether the run has ended (always)."""
        return True

    def abort(self, reason: str = "") -> None:
        """Abort the run: it has already ended."""

    def show_logs(self, *args: Any, **kwargs: Any) -> None:
        """Logs went to this process's stderr as the run went."""

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, phase={self.phase!r}, url={self.url!r})"


def _json(value: Any) -> Any:
    return repr(value)


def _write_report(
    settings: RunSettings,
    state: RunState | None,
    name: str,
    root: str,
    report: Report,
    status: str,
    error: str | None,
) -> tuple[str, list[dict[str, Any]]]:
    """Write the run's JSON report; return its URL and the actions."""
    base = Path(state.base_dir if state else settings.run_base_dir or default_runs_dir() / name)
    base.mkdir(parents=True, exist_ok=True)
    by_row = state.by_row() if state else {}
    calls = []
    for row in report:
        call = row.to_dict()
        action = by_row.get(id(row))
        if action is not None:
            call.update(action.to_dict())
        calls.append(call)
    actions = []
    if state is not None:
        for action in state.actions:
            entry = action.to_dict()
            engine_row = action.row if action.kind == "task" else None
            if engine_row is not None:  # the engine's word on the call, the root's included
                entry.update(
                    status=engine_row.status, duration=engine_row.duration, error=engine_row.error
                )
            else:
                entry.update(status=action.status, duration=action.duration, error=action.error)
            actions.append(entry)
    document = {
        "run": name,
        "root": root,
        "status": status,
        "error": error,
        "calls": calls,
        "actions": actions,
        "summary": str(report),
    }
    path = base / "report.json"
    path.write_text(json.dumps(document, indent=2, default=_json), encoding="utf-8")
    return path.resolve().as_uri(), actions


_RUN_OPTIONS = frozenset(
    [
        "name",
        "service_account",
        "version",
        "copy_style",
        "dry_run",
        "copy_bundle_to",
        "interactive_mode",
        "raw_data_path",
        "run_base_dir",
        "run_start_time",
        "overwrite_cache",
        "project",
        "domain",
        "env_vars",
        "labels",
        "annotations",
        "interruptible",
        "log_level",
        "log_format",
        "user_log_level",
        "reset_root_logger",
        "disable_run_cache",
        "queue",
        "max_action_concurrency",
        "notifications",
        "custom_context",
        "cache_lookup_scope",
        "preserve_original_types",
        "debug",
        "tracked",
        "tracked_strict",
    ]
)
"""The options of Flyte 2's `with_runcontext` (a misspelt one is an error, as there)."""


class _Runner:
    """The run context of `flyte.with_runcontext(...)`: `.run(task, *args, **kwargs)`."""

    def __init__(self, mode: str | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - _RUN_OPTIONS)
        if unknown:
            raise TypeError(f"with_runcontext() got unexpected keyword arguments: {unknown}")
        if mode not in (None, "local"):
            notice(
                f"mode:{mode}",
                f"with_runcontext(mode={mode!r}): flytelite has no cluster; the run is local.",
            )
        if options.pop("dry_run", False):
            raise UnsupportedFeatureError(
                "with_runcontext(dry_run=True)",
                "a dry run builds a code bundle for a cluster without running anything.",
            )
        self.name: str | None = options.pop("name", None)
        self.raw_data_path: str | None = options.pop("raw_data_path", None)
        self.run_base_dir: str | None = options.pop("run_base_dir", None)
        self.custom_context: dict[str, str] = dict(options.pop("custom_context", None) or {})
        self.run_start_time: datetime | None = options.pop("run_start_time", None)
        overwrite = options.pop("overwrite_cache", False)
        disable = options.pop("disable_run_cache", False)
        self.cache_mode: Any = "disable" if disable else "overwrite" if overwrite else None
        self._levels(options.pop("log_level", None), options.pop("user_log_level", None))
        if options.pop("env_vars", None):
            ignored("with_runcontext", "env_vars", "is not applied to this process")
        for option, value in options.items():
            if value not in (None, False, "console", "global", "loaded_modules", ()):
                notice(
                    f"runcontext:{option}", f"with_runcontext({option}=...) has no local effect."
                )

    @staticmethod
    def _levels(level: int | None, user_level: int | None) -> None:
        from ._logging import logger, system_logger

        if level is not None:
            system_logger.setLevel(level)
        if user_level is not None:
            logger.setLevel(user_level)

    def _settings(self) -> RunSettings:
        return RunSettings(
            name=self.name,
            raw_data_path=self.raw_data_path,
            run_base_dir=self.run_base_dir,
            custom_context=self.custom_context,
            cache_mode=self.cache_mode,
            run_start_time=self.run_start_time,
        )

    def _run(self, task: Any, *args: Any, **kwargs: Any) -> Run:
        call_args, call_kwargs = _arguments(task, args, kwargs)
        with self._running(task) as settings:
            # Every keyword is the task's, even one named like a run option.
            lite = lite_run.with_runcontext().run(task, *call_args, **call_kwargs)
        return _finished(settings, task, lite)

    async def _run_aio(self, task: Any, *args: Any, **kwargs: Any) -> Run:
        call_args, call_kwargs = _arguments(task, args, kwargs)
        with self._running(task) as settings:
            lite = await lite_run.with_runcontext().run.aio(task, *call_args, **call_kwargs)
        return _finished(settings, task, lite)

    @contextlib.contextmanager
    def _running(self, task: Any) -> Iterator[RunSettings]:
        """The run's settings in context, its root call's row expected, failures converted."""
        settings = self._settings()
        token = run_settings.set(settings)
        root = expect_call(settings.root_call)
        try:
            yield settings
        except TaskFailedError as exc:
            error = _failed(settings, task, exc)
            raise error from error.__cause__
        finally:
            reset_call(root)
            run_settings.reset(token)

    run = Dual(
        _run,
        _run_aio,
        name="run",
        doc="Run `task(*args, **kwargs)` locally on flytelite; return the finished `Run`.",
    )


def _arguments(
    task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional where possible, so that a task parameter never meets `flytelite.run`'s own
    keyword options (`cache_url`, `executor`, ...)."""
    if not isinstance(task, Task):
        raise TypeError(f"flyte.run expects a task, got {task!r}; decorate it with @env.task.")
    inputs = task.bind(args, kwargs)
    if isinstance(task, TaskTemplate):
        inputs = task.convert_inputs(inputs)
    return task.call_args(inputs)


def _state(settings: RunSettings) -> RunState | None:
    return settings.states[-1] if settings.states else None


def _finished(settings: RunSettings, task: Any, lite: lite_run.Run) -> Run:
    state = _state(settings)
    if state is not None:
        state.root.finish("succeeded")
    name = state.run_name if state else settings.name or lite.run_id
    url, actions = _write_report(settings, state, name, task.name, lite.report, "SUCCEEDED", None)
    outputs = task.convert_output(lite.outputs) if isinstance(task, TaskTemplate) else lite.outputs
    return Run(name=name, url=url, outputs=outputs, report=lite.report, lite=lite, actions=actions)


def _origin(report: Report, cause: BaseException | None, exc: TaskFailedError) -> str:
    """`"task: Type: message"` of the exception a failure started with (a child's, where the
    error crossed from child to parent)."""
    error: BaseException | None = cause
    while error is not None and getattr(error, "_flytelite_crossed", False):
        error = error.__cause__
    if error is None:
        return str(exc)
    row = next((r for r in reversed(report) if r.exception is error), None)
    where = row.task if row is not None else exc.task
    return f"{where}: {type(error).__name__}: {error}"


def _failed(settings: RunSettings, task: Any, exc: TaskFailedError) -> BaseException:
    """What `flyte.run` raises when a task failed: Flyte 2's error for the failure."""
    state = _state(settings)
    if state is not None:
        state.root.finish("failed")
    name = state.run_name if state else settings.name or exc.run_id
    report = exc.report if isinstance(exc.report, Report) else Report()
    cause = exc.__cause__
    _write_report(settings, state, name, task.name, report, "FAILED", _origin(report, cause, exc))
    if not isinstance(cause, Exception):
        return exc
    error = crossing(cause)
    if error is cause and not getattr(cause, "_flytelite_crossed", False):
        error = exc  # a misuse of the API (wrong arguments, ...): flytelite's own error
    return error


def _init(*args: Any, **kwargs: Any) -> None:
    if args or any(v is not None for k, v in kwargs.items() if k not in ("log_level",)):
        notice("init", "flyte.init(...): runs stay on this machine; the settings are not used.")


def _remote_init(name: str) -> Dual[..., None]:
    def sync(*args: Any, **kwargs: Any) -> None:
        notice("init", f"flyte.{name}(...): flytelite runs locally; no connection is made.")

    return Dual.plain(
        sync,
        name=name,
        doc=f"Accepted for Flyte 2 programs: `{name}` connects "
        f"to a cluster, and flytelite runs locally.",
    )


init = Dual.plain(_init, name="init", doc="Accepted: runs are local; nothing to set up.")
init_from_config = _remote_init("init_from_config")
init_from_api_key = _remote_init("init_from_api_key")
init_in_cluster = _remote_init("init_in_cluster")
init_passthrough = _remote_init("init_passthrough")


def current_project() -> str | None:
    """The configured project: none locally."""
    return None


def current_domain() -> str | None:
    """The configured domain: none locally."""
    return None


def is_control_plane_available() -> bool:
    """Whether a Flyte control plane is connected: never."""
    return False


def with_runcontext(mode: str | None = None, **options: Any) -> _Runner:
    """Options for a run, then `.run(task, *args, **kwargs)` (or `await ....run.aio(...)`).

    Honoured: `name`, `raw_data_path`, `run_base_dir` (where the run's report and
    reports go), `custom_context`, `run_start_time`, `overwrite_cache` (cached
    calls execute and overwrite), `disable_run_cache` (the run bypasses the
    cache), `log_level`, `user_log_level`. `mode` is always local. Other options
    are accepted and say once that they have no local effect; `dry_run=True` raises.
    """
    return _Runner(mode, **options)


def _run(task: Any, *args: Any, **kwargs: Any) -> Run:
    return _Runner()._run(task, *args, **kwargs)


async def _run_aio(task: Any, *args: Any, **kwargs: Any) -> Run:
    return await _Runner()._run_aio(task, *args, **kwargs)


run = Dual(
    _run,
    _run_aio,
    name="run",
    doc="Run `task(*args, **kwargs)` locally on flytelite and return the finished `Run`.",
)
