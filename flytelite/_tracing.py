"""OpenTelemetry spans for runs and task calls, when the application traces.

A run is traced when the application uses OpenTelemetry (`opentelemetry.trace` has
been imported: flytelite never imports it itself), has set a tracer provider (not
the API's default proxy), and `FLYTELITE_TRACING` is not `0` (or `false`, `no`,
`off`). That is decided once, as the run starts; a run that is not traced costs
the engine one `is None` test per call.

The run is a span; every task call is a child span of the call whose body made it
(the call's span is the current span while its body runs, so the application's own
spans inside a body nest under it too). Calls made by a body that ran in a process
or Dask worker come back as report rows; their spans are recorded here, from the
rows' start times and durations, under the span of the call that shipped the body,
so a worker needs no tracing set up of its own. The body itself is shipped with
that call's span context (W3C trace context, `TracedBody`), so that spans the
application makes in the worker nest under the call too.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._cache import CacheStatus

if TYPE_CHECKING:
    from ._engine import Engine
    from ._report import ReportRow
    from ._task import Task

__all__ = ["RunTracer", "TracedBody", "run_tracer"]

KEY_PREFIX = 16
"""How many hex digits of a cache key a span shows."""

_INLINE = ("thread", "event-loop")
_OFF = ("0", "false", "no", "off")  # as for FLYTELITE_PROGRESS


def run_tracer(engine: Engine) -> RunTracer | None:
    """The tracer of a run that starts now, or `None` when the run is not traced."""
    if os.environ.get("FLYTELITE_TRACING", "").strip().lower() in _OFF:
        return None
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    from . import __version__

    return RunTracer(trace, provider.get_tracer("flytelite", __version__), engine)


def executor_label(engine: Engine, task: Task[..., Any]) -> str:
    """Where a call's body runs: "thread", "event-loop", "process", "dask", ..."""
    spec = task.executor
    if spec is None and not task.is_async:
        spec = engine.executor
    if task.custom_execution or (spec is None and task.is_async):
        return "event-loop"
    if spec is None or isinstance(spec, str):
        return spec or "thread"
    name = type(spec).__name__
    return name.removesuffix("Executor").lower() or name


class RunTracer:
    """The spans of one run."""

    def __init__(self, trace: Any, tracer: Any, engine: Engine) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        self._trace = trace
        self._context = context
        self._tracer = tracer
        self._engine = engine
        self._error = StatusCode.ERROR
        self._status = Status
        self._shipped: dict[int, str] = {}  # id(row) -> executor, for calls shipped away

    @contextlib.contextmanager
    def run_span(self, root: str) -> Iterator[None]:
        """The run's span, current while the run's calls are made."""
        span = self._tracer.start_span(
            f"flytelite.run {root}",
            attributes={"flytelite.task": root, "flytelite.run_id": self._engine.run_id},
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, Exception):
                span.set_status(self._status(self._error, f"{type(exc).__name__}: {exc}"))
            else:
                span.set_attribute("flytelite.status", "cancelled")
            raise
        finally:
            self._context.detach(token)
            span.end()

    def start(self, row: ReportRow, task: Task[..., Any]) -> CallSpan | None:
        """A call's span, current until `end`; never raises."""
        try:
            executor = executor_label(self._engine, task)
            attributes = {"flytelite.task": row.task, "flytelite.executor": executor}
            if row.node is not None:
                attributes["flytelite.node"] = row.node
            span = self._tracer.start_span(row.task, attributes=attributes)
            token = self._context.attach(self._trace.set_span_in_context(span))
        except Exception:
            return None
        if executor not in _INLINE:
            self._shipped[id(row)] = executor
        return CallSpan(self, span, token)

    def finish(self, span: Any, row: ReportRow, end_time: int | None = None) -> None:
        """Give `span` the outcome of the call and end it."""
        try:
            attributes: dict[str, Any] = {
                "flytelite.cache.status": row.cache.value,
                "flytelite.attempts": row.attempts,
                "flytelite.status": row.status,
            }
            if row.key is not None:
                attributes["flytelite.cache.key"] = row.key[:KEY_PREFIX]
            if row.miss_reason is not None and row.cache is not CacheStatus.HIT:
                attributes["flytelite.miss_reason"] = row.miss_reason.summary
            if row.spec_cache is not None:
                attributes["flytelite.spec_cache.status"] = row.spec_cache.value
            span.set_attributes(attributes)
            exc = row.exception
            if exc is not None and row.status == "failed":
                span.record_exception(exc)
                span.set_status(self._status(self._error, row.error))
        finally:
            span.end(end_time=end_time)

    def ship(self, func: Any) -> TracedBody:
        """`func` with the current span context, to be run in a worker."""
        from opentelemetry.propagate import inject

        carrier: dict[str, str] = {}
        inject(carrier)
        return TracedBody(func, carrier)

    def replay(self, rows: list[ReportRow], shipping: ReportRow | None) -> None:
        """Record the spans of calls made in a worker (rows whose calls have finished),
        under the span of the call that shipped the body (the current span)."""
        executor = self._shipped.get(id(shipping), "worker")
        current = self._trace.get_current_span()
        spans: dict[int, Any] = {}
        for row in rows:
            parent = spans.get(id(row.parent), current)
            attributes = {"flytelite.task": row.task, "flytelite.executor": executor}
            if row.node is not None:
                attributes["flytelite.node"] = row.node
            try:
                span = self._tracer.start_span(
                    row.task,
                    context=self._trace.set_span_in_context(parent),
                    start_time=int(row.started * 1e9),
                    attributes=attributes,
                )
                spans[id(row)] = span
                self.finish(span, row, end_time=int((row.started + row.duration) * 1e9))
            except Exception:  # noqa: S112 (tracing never fails a run)
                continue


class CallSpan:
    """The span of one call in progress."""

    __slots__ = ("_span", "_token", "_tracer")

    def __init__(self, tracer: RunTracer, span: Any, token: Any) -> None:
        self._tracer = tracer
        self._span = span
        self._token = token

    def end(self, row: ReportRow) -> None:
        tracer = self._tracer
        tracer._shipped.pop(id(row), None)
        try:
            tracer._context.detach(self._token)
            tracer.finish(self._span, row)
        except Exception:  # noqa: S110 (tracing never fails a run)
            pass


class TracedBody:
    """A body shipped to a worker with the span context of the call that shipped it:
    while it runs there, that context is the current one (where opentelemetry can be
    imported), so the spans the application makes in the worker nest under the call."""

    def __init__(self, func: Any, carrier: dict[str, str]) -> None:
        self.func = func
        self.carrier = carrier
        self.__name__ = getattr(func, "__name__", "body")
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(self.func):
            return self._run_async(*args, **kwargs)
        with self._context():
            return self.func(*args, **kwargs)

    async def _run_async(self, *args: Any, **kwargs: Any) -> Any:
        with self._context():
            return await self.func(*args, **kwargs)

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        try:
            from opentelemetry import context
            from opentelemetry.propagate import extract
        except ImportError:  # the worker has no opentelemetry: the body runs as it is
            yield
            return
        token = context.attach(extract(self.carrier))
        try:
            yield
        finally:
            context.detach(token)
