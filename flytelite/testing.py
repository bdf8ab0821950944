"""Helpers for testing your workflows: isolated caches, status checks, a pytest plugin.

Installed with flytelite, the pytest plugin gives every test two fixtures:

- `flytelite_cache`: a cache URL of the test's own (a fresh folder);
- `flytelite_run`: `flytelite_run(task, *args, **kwargs) -> Run`, running with that cache.

```python
def test_second_run_hits(flytelite_run):
    flytelite_run(pipeline, chunks=["a"])
    run = flytelite_run(pipeline, chunks=["a"])
    assert_statuses(run, "process_chunk", fl.CacheStatus.HIT)
```

Outside pytest, `MemoryCatalog` and `memory_cache_url()` give an in-memory cache
that lives as long as the process, and `run_isolated` runs a task with one.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from ._cache import CacheStatus
from ._errors import MissingExtraError
from ._run import Run, run
from .catalog import FsspecCatalog

__all__ = [
    "LocalS3",
    "MemoryCatalog",
    "assert_statuses",
    "memory_cache_url",
    "run_isolated",
    "statuses",
]


def memory_cache_url() -> str:
    """A fresh cache URL in this process's memory (fsspec `memory://`), isolated from others."""
    return f"memory://flytelite-{uuid.uuid4().hex}"


class MemoryCatalog(FsspecCatalog):
    """A catalog held in memory: the real entry format and checks, no files.

    Pass its `url` as `cache_url=` to share it between runs of one process.
    """

    def __init__(self, *, secret: str | bytes | None = None) -> None:
        super().__init__(memory_cache_url(), secret=secret)

    def clear(self) -> None:
        """Remove every entry."""
        for entry in list(self.entries()):
            self.remove(entry)


def run_isolated(task: Any, /, *args: Any, cache_url: str | None = None, **kwargs: Any) -> Run:
    """`fl.run` with a fresh in-memory cache (or `cache_url`) and no progress output."""
    kwargs.setdefault("progress", False)
    return run(task, *args, cache_url=cache_url or memory_cache_url(), **kwargs)


def statuses(result: Run, task: str) -> list[CacheStatus]:
    """The cache statuses of a task's calls, in call order; `task` is `env.function`
    or the function's name."""
    return [row.cache for row in result.report.by_task(task)]


def assert_statuses(result: Run, task: str, *expected: CacheStatus) -> None:
    """Assert the cache statuses of a task's calls, in call order.

    Raises:
        AssertionError: naming the task, the expected and the actual statuses,
            and the miss reasons of calls that executed.
    """
    actual = statuses(result, task)
    if actual != list(expected):
        reasons = [row.miss_reason for row in result.report.by_task(task) if row.miss_reason]
        raise AssertionError(
            f"task {task!r}: expected statuses {[s.value for s in expected]}, "
            f"got {[s.value for s in actual]}" + (f"; miss reasons: {reasons}" if reasons else "")
        )


class LocalS3:
    """A real S3-compatible server on 127.0.0.1 (moto), for testing shared caches.

    Needs `moto[server]` and `boto3` (both in `flytelite[test]`). Requests are
    answered one at a time: moto checks a conditional PUT (`If-None-Match`)
    and stores the object in two steps, which S3 itself does atomically.
    `requests` counts what the server was asked, by kind (`"GET"`, `"HEAD"`,
    `"PUT"`, `"DELETE"`, `"LIST"`, ...), from every process that used it.

    ```python
    with LocalS3() as s3:
        url, options = s3.bucket()
        fl.run(task, cache_url=url, storage_options=options)
    ```
    """

    CREDENTIALS: ClassVar[dict[str, str]] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise MissingExtraError(
                "LocalS3 needs moto's server: pip install 'flytelite[test]'", extra="test"
            ) from exc

        class _Serialized(ThreadedMotoServer):
            def _server_entry(self) -> None:
                import threading

                from moto.moto_server.werkzeug_app import (
                    DomainDispatcherApplication,
                    create_backend_app,
                )
                from werkzeug.serving import WSGIRequestHandler, make_server

                class Quiet(WSGIRequestHandler):
                    def log(self, *args: Any) -> None:
                        pass

                app = DomainDispatcherApplication(create_backend_app)
                lock = threading.Lock()

                def serialized(environ: Any, start_response: Any) -> Any:
                    with lock:
                        counts[_request_kind(environ)] += 1
                        return list(app(environ, start_response))

                self._server = make_server(
                    self._ip_address, self._port, serialized, True, request_handler=Quiet
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        counts: Counter[str] = Counter()
        self.requests = counts
        self._server = _Serialized(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> LocalS3:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec options that reach this server with its test credentials."""
        return {"endpoint_url": self.endpoint_url, "key": "testing", "secret": "testing"}

    def bucket(self, name: str | None = None) -> tuple[str, dict[str, Any]]:
        """Create a bucket; return a cache URL in it and the storage options to use."""
        import boto3

        name = name or f"flytelite-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto's test credentials)
        )
        client.create_bucket(Bucket=name)
        return f"s3://{name}/cache", self.storage_options


def _request_kind(environ: dict[str, Any]) -> str:
    """`"LIST"` for a listing (a GET of a bucket), else the HTTP method."""
    method = str(environ.get("REQUEST_METHOD", "?"))
    bucket_only = "/" not in str(environ.get("PATH_INFO", "")).strip("/")
    if method == "GET" and (bucket_only or "list-type" in str(environ.get("QUERY_STRING", ""))):
        return "LIST"
    return method


try:  # the pytest plugin: only where pytest is installed (it loads this module)
    import pytest
except ImportError:  # pragma: no cover - flytelite.testing works without pytest
    pass
else:

    @pytest.fixture
    def flytelite_cache(tmp_path: Path) -> Iterator[str]:
        """A cache URL of this test's own: a fresh folder under `tmp_path`."""
        yield str(tmp_path / "flytelite-cache")

    @pytest.fixture
    def flytelite_run(flytelite_cache: str) -> Callable[..., Run]:
        """`flytelite_run(task, *args, **kwargs) -> Run` with the test's own cache."""

        def run_with_cache(task: Any, /, *args: Any, **kwargs: Any) -> Run:
            kwargs.setdefault("cache_url", flytelite_cache)
            kwargs.setdefault("progress", False)
            return run(task, *args, **kwargs)

        return run_with_cache
