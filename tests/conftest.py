from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flytelite.testing import LocalS3

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


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    """A real S3-compatible server (moto) on 127.0.0.1 for the whole session."""
    with LocalS3() as server:
        yield server


@pytest.fixture
def s3_cache(local_s3: LocalS3, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh bucket on the local S3 server: `url`, `storage_options`, `env` for subprocesses."""
    for name, value in LocalS3.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    url, options = local_s3.bucket()
    return {
        "url": url,
        "storage_options": options,
        "env": {**LocalS3.CREDENTIALS, "S3_ENDPOINT": local_s3.endpoint_url},
    }
