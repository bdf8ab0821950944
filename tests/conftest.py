from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Every test gets its own cache folder and no other FLYTELITE_* settings."""
    for name in list(os.environ):
        if name.startswith("FLYTELITE_"):
            monkeypatch.delenv(name)
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLYTELITE_CACHE_URL", str(cache))
    yield cache


@pytest.fixture
def cache_dir(clean_environ: Path) -> Path:
    """The test's cache folder (also in `FLYTELITE_CACHE_URL`)."""
    return clean_environ


class _SerializedMotoServer:
    """moto's `ThreadedMotoServer`, answering one request at a time.

    moto checks `If-None-Match` and then stores the object in two steps, so two
    concurrent conditional PUTs can both pass; S3 itself decides them
    atomically. Serializing requests restores S3's behaviour, which the
    exactly-once tests rely on.
    """

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        class Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                import threading

                from moto.server import DomainDispatcherApplication, create_backend_app
                from werkzeug.serving import WSGIRequestHandler, make_server

                class Quiet(WSGIRequestHandler):
                    def log(self, *args: Any) -> None:
                        pass

                app = DomainDispatcherApplication(create_backend_app)
                lock = threading.Lock()

                def serialized(environ: Any, start_response: Any) -> Any:
                    with lock:
                        return list(app(environ, start_response))

                self._server = make_server(
                    self._ip_address, self._port, serialized, True, request_handler=Quiet
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        self.server = Server(ip_address="127.0.0.1", port=0, verbose=False)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto) on 127.0.0.1 for the whole session."""
    holder = _SerializedMotoServer()
    holder.server.start()
    host, port = holder.server.get_host_and_port()
    yield f"http://{host}:{port}"
    holder.server.stop()


@pytest.fixture
def s3_cache(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh bucket on the moto server: `url`, `storage_options`, `env` for subprocesses."""
    import uuid

    import boto3

    creds = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
    bucket = f"flytelite-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    return {
        "url": f"s3://{bucket}/cache",
        "storage_options": options,
        "env": {**creds, "S3_ENDPOINT": s3_endpoint},
    }
