"""OpenTelemetry: a run is a span, every task call a child span of the call that made it.

The application's tracer provider is an SDK `TracerProvider` with an in-memory
exporter; it is installed for one test at a time by patching
`opentelemetry.trace.get_tracer_provider` (the global provider can be set only
once per process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opentelemetry.sdk.trace as sdk_trace
import opentelemetry.trace as trace
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flytelite as fl

ROOT = Path(__file__).resolve().parent.parent
env = fl.TaskEnvironment("traced")


class Spans:
    def __init__(self, provider: Any, exporter: InMemorySpanExporter) -> None:
        self.provider = provider
        self.exporter = exporter

    def get(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    yield Spans(provider, exporter)
    provider.shutdown()


def by_name(found: list[Any], name: str) -> list[Any]:
    return [s for s in found if s.name == name]


def parent_of(span: Any) -> int | None:
    return None if span.parent is None else span.parent.span_id


@env.task(cache=True, cache_version="1")
async def leaf(x: int) -> int:
    return x * 2


@env.task
def sync_middle(x: int) -> int:
    return leaf(x) + 1  # a sync body in a worker thread calls a task


attempts: list[int] = []


@env.task(retries=1)
async def flaky(x: int) -> int:
    attempts.append(x)
    raise ValueError(f"flaky {x}")


@env.task
async def root(n: int) -> int:
    import asyncio

    values = await asyncio.gather(*(leaf.aio(i) for i in range(n)))
    middle = await sync_middle.aio(100)
    try:
        await flaky.aio(5)
    except ValueError:
        pass
    tracer = trace.get_tracer("the.app")
    with tracer.start_as_current_span("inside the body"):
        pass
    return sum(values) + middle


def test_a_run_is_a_span_and_every_call_a_child_of_its_caller(spans: Spans) -> None:
    attempts.clear()
    app = spans.provider.get_tracer("the.app")
    with app.start_as_current_span("the application"):
        run = fl.run(root, 3, progress=False)
    assert run.outputs == 0 + 2 + 4 + 201
    found = spans.get()
    # one span per call, the run's, the application's two: all ended
    assert len(found) == len(run.report) + 3
    (outer,) = by_name(found, "the application")
    (run_span,) = by_name(found, "flytelite.run traced.root")
    (root_span,) = by_name(found, "traced.root")
    assert parent_of(run_span) == outer.context.span_id
    assert run_span.attributes["flytelite.run_id"] == run.run_id
    assert parent_of(root_span) == run_span.context.span_id
    assert root_span.attributes["flytelite.executor"] == "event-loop"
    assert root_span.attributes["flytelite.cache.status"] == "DISABLED"
    assert {s.context.trace_id for s in found} == {outer.context.trace_id}

    leaves = by_name(found, "traced.leaf")
    assert len(leaves) == 4
    (middle,) = by_name(found, "traced.sync_middle")
    assert middle.attributes["flytelite.executor"] == "thread"
    assert parent_of(middle) == root_span.context.span_id
    under_root = [s for s in leaves if parent_of(s) == root_span.context.span_id]
    under_middle = [s for s in leaves if parent_of(s) == middle.context.span_id]
    assert len(under_root) == 3 and len(under_middle) == 1  # the thread's call nests
    rows = {r.key[:16]: r for r in run.report.by_task("leaf") if r.key}
    for span in leaves:
        attrs = span.attributes
        assert attrs["flytelite.task"] == "traced.leaf"
        assert attrs["flytelite.cache.status"] == "POPULATED"
        assert attrs["flytelite.attempts"] == 1
        assert attrs["flytelite.cache.key"] in rows
        reason = rows[attrs["flytelite.cache.key"]].miss_reason
        assert reason is not None and attrs["flytelite.miss_reason"] == reason.summary

    (failed,) = by_name(found, "traced.flaky")
    assert failed.attributes["flytelite.attempts"] == 2 and attempts == [5, 5]
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert "ValueError: flaky 5" in (failed.status.description or "")
    events = [e for e in failed.events if e.name == "exception"]
    assert events and events[0].attributes["exception.type"] == "ValueError"

    (inside,) = by_name(found, "inside the body")  # the app's own span nests under the call
    assert parent_of(inside) == root_span.context.span_id

    spans.clear()
    again = fl.run(root, 3, progress=False)
    hits = by_name(spans.get(), "traced.leaf")
    assert [s.attributes["flytelite.cache.status"] for s in hits] == ["HIT"] * 4
    assert all("flytelite.miss_reason" not in s.attributes for s in hits)
    assert again.report.counts()[fl.CacheStatus.HIT] == 4


@env.task(cache=True, cache_version="1")
async def fails(x: int) -> int:
    raise KeyError(x)


def test_a_failing_run_records_the_exception_on_the_call_and_the_run(spans: Spans) -> None:
    with pytest.raises(fl.TaskFailedError):
        fl.run(fails, 1, progress=False)
    found = spans.get()
    (run_span,) = by_name(found, "flytelite.run traced.fails")
    (call,) = by_name(found, "traced.fails")
    assert run_span.status.status_code is trace.StatusCode.ERROR
    assert call.status.status_code is trace.StatusCode.ERROR
    assert call.attributes["flytelite.cache.status"] == "MISS"
    assert [e.attributes["exception.type"] for e in call.events] == ["KeyError"]


def test_flytelite_tracing_0_turns_it_off(spans: Spans, monkeypatch: pytest.MonkeyPatch) -> None:
    for off in ("0", "off", "False"):
        monkeypatch.setenv("FLYTELITE_TRACING", off)
        assert fl.run(leaf, 21, progress=False).outputs == 42
        assert spans.get() == []
    monkeypatch.setenv("FLYTELITE_TRACING", "1")
    fl.run(leaf, 21, progress=False)
    assert [s.name for s in spans.get()] == ["traced.leaf", "flytelite.run traced.leaf"]


def test_no_provider_set_means_no_tracing_and_no_import(tmp_path: Path) -> None:
    """Without a provider the API's proxy is in place: no spans. And flytelite itself
    never imports opentelemetry."""
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import flytelite as fl

            env = fl.TaskEnvironment("plain")

            @env.task
            async def one() -> int:
                return 1

            assert fl.run(one, progress=False).outputs == 1
            assert "opentelemetry" not in sys.modules, "flytelite imported opentelemetry"
            import opentelemetry.trace as trace
            assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
            from flytelite._tracing import run_tracer
            assert run_tracer(object()) is None
            print("ok")
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


shipped_env = fl.TaskEnvironment("traced_shipped")


@shipped_env.task(cache=True, cache_version="1")
def child(x: int) -> int:
    return x + 1


@shipped_env.task
def grandparent(x: int) -> int:
    return child(x) * 10  # a call made by a call inside the worker


def _shipped_spans(executor: Any, spans: Spans) -> None:
    @shipped_env.task(executor=executor)
    def body(n: int) -> list[int]:
        return [child(0), grandparent(1), *fl.map(child, range(2, n))]

    run = fl.run(body, 4, progress=False)
    assert run.outputs == [1, 20, 3, 4]
    found = spans.get()
    assert len(found) == len(run.report) + 1
    (shipped,) = by_name(found, "traced_shipped.body")
    kind = "process" if executor == "process" else "dask"
    assert shipped.attributes["flytelite.executor"] == kind
    (gp,) = by_name(found, "traced_shipped.grandparent")
    children = by_name(found, "traced_shipped.child")
    assert len(children) == 4
    assert parent_of(gp) == shipped.context.span_id
    assert sorted(parent_of(s) == gp.context.span_id for s in children) == [
        False,
        False,
        False,
        True,
    ]
    for span in [gp, *children]:
        assert span.context.trace_id == shipped.context.trace_id
        assert span.attributes["flytelite.executor"] == kind
        assert shipped.start_time <= span.start_time <= span.end_time <= shipped.end_time
    assert {s.attributes["flytelite.cache.status"] for s in children} == {"POPULATED"}
    # the report knows the same tree
    rows = {id(r): r for r in run.report}
    gp_row = run.report.by_task("grandparent")[0]
    assert gp_row.parent is run.report.by_task("body")[0]
    assert sum(r.parent is gp_row for r in run.report.by_task("child")) == 1
    assert all(r.parent is None or id(r.parent) in rows for r in run.report)


def test_spans_of_calls_in_a_process_worker_are_parented(spans: Spans) -> None:
    _shipped_spans("process", spans)


def test_spans_of_calls_in_a_dask_worker_are_parented(spans: Spans) -> None:
    executor = fl.DaskExecutor(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None
    )
    try:
        _shipped_spans(executor, spans)
    finally:
        executor.close()


@env.task(cache=True, cache_version="1")
def square(x: int) -> int:
    return x * x


@env.task(cache=True, cache_version="1")
def add(xs: list[int]) -> int:
    return sum(xs)


@env.dynamic(cache=True, cache_version="1")
def squares(n: int) -> int:
    return add([square(i) for i in range(n)])


def test_dynamic_workflow_nodes_are_children_of_the_workflow(spans: Spans) -> None:
    run = fl.run(squares, 3, progress=False)
    assert run.outputs == 5
    found = spans.get()
    (workflow,) = by_name(found, "traced.squares")
    nodes = [s for s in found if "flytelite.node" in s.attributes]
    assert sorted(s.attributes["flytelite.node"] for s in nodes) == ["n0", "n1", "n2", "n3"]
    assert {parent_of(s) for s in nodes} == {workflow.context.span_id}
    assert workflow.attributes["flytelite.spec_cache.status"] == "POPULATED"
    assert run.report[0].edges == (("n0", "n3"), ("n1", "n3"), ("n2", "n3"))


@shipped_env.task(executor="process")
def where_am_i() -> tuple[int, int, int]:
    span = trace.get_current_span().get_span_context()
    return os.getpid(), span.trace_id, span.span_id


@shipped_env.task(executor="process")
async def where_am_i_async() -> tuple[int, int, int]:
    span = trace.get_current_span().get_span_context()
    return os.getpid(), span.trace_id, span.span_id


def test_a_shipped_body_runs_in_the_context_of_its_calls_span(spans: Spans) -> None:
    """The application's own spans in a worker would nest under the shipped call."""
    for task in (where_am_i, where_am_i_async):
        spans.clear()
        pid, trace_id, span_id = fl.run(task, progress=False).outputs
        assert pid != os.getpid()
        (call,) = by_name(spans.get(), task.name)
        assert (trace_id, span_id) == (call.context.trace_id, call.context.span_id)
