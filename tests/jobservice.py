"""A real job service for connector tests and benchmarks, and a connector for it.

`JobService` is a threaded HTTP server on 127.0.0.1 (an ephemeral port) with a
small JSON API:

    POST   /jobs        {"name", "duration", "result", "fail", "fail_times"}
                        -> 201 and the job; an existing, not deleted job of
                        that name -> 200 and that job (creates are idempotent)
    GET    /jobs/<id>   -> 200 and the job ({"id", "name", "state", ...}), 404
    DELETE /jobs/<id>   -> 204, or 404 if unknown or deleted already

A job is RUNNING for `duration` seconds, then SUCCEEDED with `result`, or
FAILED when `fail` is "retryable" or "permanent" (only for the first
`fail_times` jobs of a name, when given). Knobs make it misbehave: the next
`fail_creates_after_commit` creates commit their job and then answer 500; the
next `fail_gets` gets and `fail_deletes` deletes answer 500. It records every
request and each job's active interval, for `max_active` and rate checks.

`JobConnector` runs a task's calls on the service through a minimal async HTTP
client (asyncio streams, one connection per request): the task's inputs are
the job's spec.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flytelite.connectors import AsyncConnector, ConnectorConfig, ConnectorContext, Phase, PhaseInfo

__all__ = ["HTTPError", "Job", "JobConnector", "JobService", "http_request"]


@dataclass
class Job:
    id: str
    name: str
    duration: float
    result: Any
    fail: str | None
    created: float
    deleted: float | None = None

    @property
    def finishes(self) -> float:
        return self.created + self.duration

    def state(self, now: float) -> str:
        if self.deleted is not None:
            return "DELETED"
        if now < self.finishes:
            return "RUNNING"
        return "FAILED" if self.fail else "SUCCEEDED"

    def active_until(self) -> float:
        """When the job stopped using the service: it finished or was deleted."""
        return self.finishes if self.deleted is None else min(self.finishes, self.deleted)

    def to_json(self, now: float) -> dict[str, Any]:
        state = self.state(now)
        out: dict[str, Any] = {"id": self.id, "name": self.name, "state": state}
        if state == "SUCCEEDED":
            out["result"] = self.result
        if state == "FAILED":
            out["failure"] = self.fail
            out["message"] = f"job {self.id} failed ({self.fail})"
        return out


@dataclass
class Request:
    method: str
    path: str
    at: float
    status: int = 0


@dataclass
class JobService:
    """The service's state, its knobs, and the server that answers for it."""

    fail_creates_after_commit: int = 0
    fail_gets: int = 0
    fail_deletes: int = 0
    jobs: dict[str, Job] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._by_name: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- serving --------------------------------------------------------------------------

    def start(self) -> JobService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self._answer(*service._post(self.path, self._body()))

            def do_GET(self) -> None:
                self._answer(*service._get(self.path))

            def do_DELETE(self) -> None:
                self._answer(*service._delete(self.path))

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"null")

            def _answer(self, status: int, body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> JobService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the service first"
        return f"http://127.0.0.1:{self._server.server_port}"

    # -- the API --------------------------------------------------------------------------

    def _record(self, method: str, path: str) -> Request:
        request = Request(method, path, time.monotonic())
        self.requests.append(request)
        return request

    def _post(self, path: str, spec: Any) -> tuple[int, Any]:
        with self._lock:
            request = self._record("POST", path)
            job, status = self._commit(spec, request.at)
            if self.fail_creates_after_commit > 0:
                self.fail_creates_after_commit -= 1
                request.status = 500
                return 500, {"error": "the job was committed, then the service failed"}
            request.status = status
            return status, job.to_json(request.at)

    def _commit(self, spec: Any, now: float) -> tuple[Job, int]:
        """The job named in `spec`: the existing one (200), or a new one (201)."""
        current = self._by_name.get(spec["name"])
        if current is not None and self.jobs[current].deleted is None:
            return self.jobs[current], 200
        generation = sum(job.name == spec["name"] for job in self.jobs.values()) + 1
        fail = spec.get("fail")
        fail_times = spec.get("fail_times")
        if fail_times is not None and generation > fail_times:
            fail = None
        job = Job(
            id=f"j{next(self._ids)}",
            name=spec["name"],
            duration=float(spec.get("duration", 0.0)),
            result=spec.get("result"),
            fail=fail,
            created=now,
        )
        self.jobs[job.id] = job
        self._by_name[job.name] = job.id
        return job, 201

    def _job(self, path: str) -> Job | None:
        job = self.jobs.get(path.rsplit("/", 1)[-1])
        return None if job is None or job.deleted is not None else job

    def _get(self, path: str) -> tuple[int, Any]:
        with self._lock:
            request = self._record("GET", path)
            if self.fail_gets > 0:
                self.fail_gets -= 1
                request.status = 500
                return 500, {"error": "status store unavailable"}
            job = self._job(path)
            request.status = 404 if job is None else 200
            return (
                (404, {"error": "no such job"}) if job is None else (200, job.to_json(request.at))
            )

    def _delete(self, path: str) -> tuple[int, Any]:
        with self._lock:
            request = self._record("DELETE", path)
            if self.fail_deletes > 0:
                self.fail_deletes -= 1
                request.status = 500
                return 500, {"error": "delete failed"}
            job = self._job(path)
            if job is None:
                request.status = 404
                return 404, {"error": "no such job"}
            job.deleted = request.at
            request.status = 204
            return 204, None

    # -- observations ---------------------------------------------------------------------

    def count(self, method: str) -> int:
        with self._lock:
            return sum(r.method == method for r in self.requests)

    def times(self, method: str) -> list[float]:
        with self._lock:
            return sorted(r.at for r in self.requests if r.method == method)

    def active(self) -> int:
        """Jobs running now (created, not finished, not deleted)."""
        now = time.monotonic()
        with self._lock:
            return sum(job.created <= now < job.active_until() for job in self.jobs.values())

    def max_active(self) -> int:
        """The most jobs that were running at the same time."""
        with self._lock:
            events = sorted(
                [(job.created, 1) for job in self.jobs.values()]
                + [(job.active_until(), -1) for job in self.jobs.values()],
                key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
            )
        most = running = 0
        for _, step in events:
            running += step
            most = max(most, running)
        return most


# -- a client and a connector ----------------------------------------------------------------


class HTTPError(Exception):
    """The service answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


async def http_request(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One HTTP/1.1 request on its own connection; returns the status and the JSON body."""
    host, port = url.removeprefix("http://").split(":")
    data = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode() + data)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    header, _, payload = raw.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    return status, json.loads(payload) if payload else None


class JobConnector(AsyncConnector):
    """Runs each call as a job of the `JobService` at `url`; the inputs are the job's spec.

    `sent` records when each request was made (by method), as the client sees it.
    """

    def __init__(self, url: str, config: ConnectorConfig | None = None) -> None:
        self.url = url
        if config is not None:
            self.config = config
        self.sent: dict[str, list[float]] = {"POST": [], "GET": [], "DELETE": []}

    async def _request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.sent[method].append(time.monotonic())
        return await http_request(self.url, method, path, body)

    async def create(self, ctx: ConnectorContext) -> tuple[str, dict[str, Any]]:
        status, job = await self._request(
            "POST", "/jobs", {"name": ctx.execution_name, **ctx.inputs}
        )
        if status not in (200, 201):
            raise HTTPError(status, job)
        return job["id"], job

    async def get(self, meta: str) -> dict[str, Any]:
        status, job = await self._request("GET", f"/jobs/{meta}")
        if status != 200:
            raise HTTPError(status, job)
        return dict(job)

    def status(self, resource: dict[str, Any]) -> PhaseInfo:
        state = resource["state"]
        if state == "SUCCEEDED":
            return PhaseInfo(Phase.SUCCEEDED, outputs=resource["result"])
        if state == "FAILED":
            phase = (
                Phase.PERMANENT_FAILURE
                if resource["failure"] == "permanent"
                else Phase.RETRYABLE_FAILURE
            )
            return PhaseInfo(phase, message=resource["message"])
        return PhaseInfo(Phase.RUNNING)

    async def delete(self, meta: str) -> None:
        status, body = await self._request("DELETE", f"/jobs/{meta}")
        if status not in (204, 404):  # 404: deleted already
            raise HTTPError(status, body)
