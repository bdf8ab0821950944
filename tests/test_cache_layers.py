"""A local cache in front of a shared one, on a real S3 server: CI fills, laptops read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import flytelite as fl
from flytelite.catalog import FsspecCatalog

env = fl.TaskEnvironment("layers")
executed: list[str] = []
BIG = os.urandom(3 << 20)


@env.task(cache=True, cache_version="1")
def features(n: int) -> bytes:
    executed.append(f"features {n}")
    return BIG[n:]


@env.task(cache=True, cache_version="1")
def model(folder: str, n: int) -> fl.File:
    executed.append(f"model {n}")
    path = Path(folder, f"model-{n}.bin")
    path.write_bytes(b"weights" * 1000 + bytes([n]))
    return fl.File(path)


@env.task(cache=fl.Cache(version="1", serialize=True))
def once(n: int) -> int:
    executed.append(f"once {n}")
    return n


@pytest.fixture(autouse=True)
def _fresh() -> None:
    executed.clear()


def objects(url: str, options: dict[str, Any]) -> dict[str, int]:
    return {o.path: o.size for o in FsspecCatalog(url, options).store.list()}


def test_laptops_read_what_ci_wrote_and_never_write_the_shared_cache(
    s3_cache: dict[str, Any], tmp_path: Path
) -> None:
    url, options = s3_cache["url"], s3_cache["storage_options"]
    ci = fl.with_runcontext(cache_url=url, storage_options=options, progress=False).run
    ci(features, 1)
    (tmp_path / "ci").mkdir()
    ci(model, str(tmp_path / "ci"), 7)
    assert executed == ["features 1", "model 7"]
    shared_before = objects(url, options)
    assert any(p.startswith("blobs/") for p in shared_before)

    laptop_cache = tmp_path / "laptop"
    laptop = fl.with_runcontext(
        cache_url=str(laptop_cache), shared_cache_url=url, storage_options=options
    ).run
    executed.clear()
    hit = laptop(features, 1)
    assert hit.report[0].cache is fl.CacheStatus.HIT and hit.outputs == BIG[1:]
    restored = laptop(model, str(tmp_path / "ci"), 7)
    assert restored.report[0].cache is fl.CacheStatus.HIT
    assert restored.outputs.read_bytes().endswith(b"weights\x07")
    assert Path(restored.outputs.path).is_relative_to(laptop_cache / "local")
    assert executed == []

    new = laptop(features, 2)  # a miss: executed, written to the laptop's cache only
    assert new.report[0].cache is fl.CacheStatus.POPULATED
    assert laptop(once, 4).outputs == 4  # serialize: its lease is local too
    assert objects(url, options) == shared_before
    local = {p.relative_to(laptop_cache).as_posix() for p in laptop_cache.rglob("*") if p.is_file()}
    assert sum(p.startswith("v1/layers.features/") for p in local) == 2  # copied + written
    assert sum(p.startswith("blobs/") for p in local) == 3  # two pickles, one file

    executed.clear()
    offline = fl.run(features, 1, cache_url=str(laptop_cache))  # no shared layer now
    assert offline.report[0].cache is fl.CacheStatus.HIT and executed == []


def test_a_writable_shared_layer_gets_the_writes_too(
    s3_cache: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3_cache["url"], s3_cache["storage_options"]
    monkeypatch.setenv("FLYTELITE_CACHE_URL", str(tmp_path / "runner"))
    monkeypatch.setenv("FLYTELITE_CACHE_SHARED_URL", url)
    monkeypatch.setenv("FLYTELITE_CACHE_SHARED_MODE", "read-write")
    run = fl.run(features, 3, storage_options=options)
    assert run.report[0].cache is fl.CacheStatus.POPULATED
    assert fl.run(once, 5, storage_options=options).outputs == 5
    shared = objects(url, options)
    assert any(p.startswith("v1/layers.features/") for p in shared)
    assert any(p.startswith("reservations/") for p in shared)  # leases where all writers see them

    monkeypatch.delenv("FLYTELITE_CACHE_SHARED_MODE")
    executed.clear()
    other = fl.run(features, 3, cache_url=str(tmp_path / "other"), storage_options=options)
    assert other.report[0].cache is fl.CacheStatus.HIT and executed == []


def test_a_read_only_run_with_layers_writes_neither(
    s3_cache: dict[str, Any], tmp_path: Path
) -> None:
    url, options = s3_cache["url"], s3_cache["storage_options"]
    fl.run(features, 4, cache_url=url, storage_options=options)
    shared_before = objects(url, options)
    local = tmp_path / "laptop"
    run = fl.with_runcontext(
        cache_url=str(local), shared_cache_url=url, storage_options=options, cache_mode="read-only"
    ).run
    assert run(features, 4).report[0].cache is fl.CacheStatus.HIT
    assert run(features, 5).report[0].cache is fl.CacheStatus.MISS
    assert objects(url, options) == shared_before
    assert not local.exists()


@env.task(cache=True, cache_version="1")
def checksum(f: fl.File) -> int:
    executed.append(f.name)
    return sum(f.read_bytes())


def test_a_file_on_s3_is_keyed_by_its_content(s3_cache: dict[str, Any], tmp_path: Path) -> None:
    import fsspec

    url, options = s3_cache["url"], s3_cache["storage_options"]
    bucket = url.split("/")[2]
    fs = fsspec.filesystem("s3", **options)
    fs.pipe_file(f"{bucket}/in/a.bin", b"\x01\x02\x03")
    fs.pipe_file(f"{bucket}/in/same.bin", b"\x01\x02\x03")
    remote = fl.File(f"s3://{bucket}/in/a.bin", storage_options=options)
    assert fl.run(checksum, remote).outputs == 6
    again = fl.run(checksum, fl.File(f"s3://{bucket}/in/same.bin", storage_options=options))
    assert again.report[0].cache is fl.CacheStatus.HIT  # same bytes, another object
    fs.pipe_file(f"{bucket}/in/a.bin", b"\x05")
    changed = fl.run(checksum, remote)
    assert changed.report[0].cache is fl.CacheStatus.POPULATED and changed.outputs == 5
    assert executed == ["a.bin", "a.bin"]
    assert Path(remote.path).read_bytes() == b"\x05"  # downloaded on demand


def test_a_damaged_local_copy_is_replaced_from_the_shared_cache(
    s3_cache: dict[str, Any], tmp_path: Path
) -> None:
    url, options = s3_cache["url"], s3_cache["storage_options"]
    fl.run(features, 6, cache_url=url, storage_options=options)
    local = tmp_path / "laptop"
    laptop = fl.with_runcontext(cache_url=str(local), shared_cache_url=url, storage_options=options)
    assert laptop.run(features, 6).report[0].cache is fl.CacheStatus.HIT
    (entry,) = (local / "v1" / "layers.features").iterdir()
    entry.write_bytes(entry.read_bytes()[:-5])  # torn
    executed.clear()
    again = laptop.run(features, 6)
    assert again.report[0].cache is fl.CacheStatus.HIT and executed == []
    assert fl.run(features, 6, cache_url=str(local)).report[0].cache is fl.CacheStatus.HIT


def test_last_use_and_pruning_on_s3(
    s3_cache: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from flytelite.cli import main

    url, options = s3_cache["url"], s3_cache["storage_options"]
    run = fl.with_runcontext(cache_url=url, storage_options=options).run
    for n in (10, 11, 12):
        run(features, n)
    assert not any(p.startswith("usage/") for p in objects(url, options))
    assert run(features, 10).report[0].cache is fl.CacheStatus.HIT  # the most recently used
    assert sum(p.startswith("usage/") for p in objects(url, options)) == 1  # one batch

    cli = ["--cache-url", url, "--storage-options", json.dumps(options)]
    blob = max(size for p, size in objects(url, options).items() if p.startswith("blobs/"))
    assert main(["cache", "prune", "--max-size", str(blob + 10_000), *cli]) == 0
    assert capsys.readouterr().out.startswith("removed 2 entries")
    executed.clear()
    for n in (10, 11, 12):
        run(features, n)
    assert executed == ["features 11", "features 12"]
