"""A connector task: each call runs as a job on a web service, polled until done.

The example starts its own small job service on 127.0.0.1 (a word-count
service whose jobs take a moment), then counts the words of six texts with a
connector task: at most two jobs at once (a quota), status checks by a shared
background poller, results cached. Run it twice: the second run is served from
the cache and creates no job.

    python examples/connector_http.py
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import flytelite as fl
from flytelite.connectors import (
    AsyncConnector,
    ConnectorConfig,
    ConnectorContext,
    Phase,
    PhaseInfo,
    RateLimit,
)

# -- the connector: what a user writes -----------------------------------------------------


class WordCountService(AsyncConnector):
    """Counts words as jobs on the service at `url`, two jobs at a time."""

    config = ConnectorConfig(
        resource_quotas={"default": 2},
        read_rate_limit=RateLimit(qps=20, burst=10),
        poll_interval_s=0.1,
    )

    url = "http://127.0.0.1:8080"  # a real connector would read it from its settings

    async def create(self, ctx: ConnectorContext) -> tuple[str, dict[str, Any]]:
        # The execution name makes creates idempotent: a retry finds the same job.
        job = await self._request("POST", "/jobs", {"name": ctx.execution_name, **ctx.inputs})
        return job["id"], job

    async def get(self, meta: str) -> dict[str, Any]:
        return await self._request("GET", f"/jobs/{meta}")

    def status(self, resource: dict[str, Any]) -> PhaseInfo:
        if resource["state"] == "done":
            return PhaseInfo(Phase.SUCCEEDED, outputs=resource["words"])
        return PhaseInfo(Phase.RUNNING)

    async def delete(self, meta: str) -> None:
        try:
            await self._request("DELETE", f"/jobs/{meta}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404: gone already, which is fine
                raise

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        def send() -> Any:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(self.url + path, data=data, method=method)
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
            return json.loads(payload) if payload else None

        return await asyncio.to_thread(send)  # urllib blocks: keep it off the event loop


# -- the workflow ------------------------------------------------------------------------------

env = fl.TaskEnvironment("connector_http")
TEXTS = [
    "hello world",
    "a b c",
    "single",
    "the quick brown fox",
    "lazy dog",
    "one two three four five",
]


service = WordCountService()


@env.task(connector=service, cache=True, cache_version="1", retries=2)
async def count_words(text: str, seconds: float) -> int:
    """Runs as a job on the service; the body is only a signature."""


@env.task
async def count_all(texts: list[str]) -> list[int]:
    return list(await asyncio.gather(*(count_words(t, 0.3) for t in texts)))


# -- a small job service, so that the example runs on its own ---------------------------------


class JobService(ThreadingHTTPServer):
    """Word-count jobs that finish `seconds` after they are created."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.intervals: list[tuple[float, float]] = []

    def most_at_once(self) -> int:
        events = sorted([(s, 1) for s, _ in self.intervals] + [(e, -1) for _, e in self.intervals])
        most = running = 0
        for _, step in events:
            running += step
            most = max(most, running)
        return most


class _Handler(BaseHTTPRequestHandler):
    server: JobService

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        spec = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            job = self.server.jobs.get(spec["name"])
            if job is None:  # idempotent on the name
                now = time.monotonic()
                job = {"id": spec["name"], "text": spec["text"], "ends": now + spec["seconds"]}
                self.server.jobs[spec["name"]] = job
                self.server.intervals.append((now, job["ends"]))
        self._reply(201, self._view(job))

    def do_GET(self) -> None:
        job = self.server.jobs.get(self.path.rsplit("/", 1)[-1])
        self._reply(404, {}) if job is None else self._reply(200, self._view(job))

    def do_DELETE(self) -> None:
        with self.server.lock:
            job = self.server.jobs.pop(self.path.rsplit("/", 1)[-1], None)
        self._reply(404 if job is None else 204, None)

    @staticmethod
    def _view(job: dict[str, Any]) -> dict[str, Any]:
        if time.monotonic() < job["ends"]:
            return {"id": job["id"], "state": "running"}
        return {"id": job["id"], "state": "done", "words": len(job["text"].split())}

    def _reply(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    jobs = JobService()
    threading.Thread(target=jobs.serve_forever, daemon=True).start()
    try:
        host, port = jobs.server_address[:2]
        service.url = f"http://{host}:{port}"
        run = fl.run(count_all, TEXTS)
        print(f"word counts: {run.outputs}")
        print(f"jobs created: {len(jobs.intervals)}, most at once: {jobs.most_at_once()} (quota 2)")
        print(run.report)
    finally:
        jobs.shutdown()
        jobs.server_close()


if __name__ == "__main__":
    main()
