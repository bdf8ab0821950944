from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from flytelite.testing import LocalS3

pytest_plugins = ["pytester"]

# Property tests: bounded so that the suite stays quick on two cores, with no
# example database and hypothesis' other files (a cache of constants) in the temp
# folder, so that nothing is written into the repository; no deadline (the first
# example of a run pays for imports). `HYPOTHESIS_PROFILE=thorough` runs more.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "flytelite-hypothesis")
settings.register_profile(
    "flytelite",
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", parent=settings.get_profile("flytelite"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "flytelite"))


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Every test gets its own cache folder and no other FLYTELITE_* settings."""
    for name in list(os.environ):
        if name.startswith("FLYTELITE_"):
            monkeypatch.delenv(name)
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLYTELITE_CACHE_URL", str(cache))
    # The per-user cache folder (machine-local state of remote and read-only caches).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
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
