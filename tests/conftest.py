from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


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
