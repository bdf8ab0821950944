"""A cache that manages itself: last use, LRU pruning, gc, a size bound, read-only mode."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

import flytelite as fl
from flytelite.catalog import CatalogConfig, FsspecCatalog
from flytelite.cli import main

env = fl.TaskEnvironment("lifecycle")
executed: list[int] = []


@env.task(cache=True, cache_version="1")
def payload(i: int) -> bytes:
    executed.append(i)
    return bytes([i % 256]) * 10_000  # ~10 kB entries


@env.task(cache=fl.Cache(version="1", serialize=True))
def serialized(i: int) -> int:
    executed.append(i)
    return i


@env.task(cache=True, cache_version="1")
def write_file(folder: str, name: str, text: str) -> fl.File:
    path = Path(folder, name)
    path.write_text(text)
    return fl.File(path)


@env.task
async def many(ids: list[int]) -> int:
    return len(await asyncio.gather(*(payload.aio(i) for i in ids)))


@pytest.fixture(autouse=True)
def _fresh() -> None:
    executed.clear()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    out: str = capsys.readouterr().out
    return out


def entry_files(cache_dir: Path) -> list[Path]:
    return [p for p in (cache_dir / "v1").rglob("*") if p.is_file()]


def age_everything(cache_dir: Path, seconds: float) -> None:
    """Make every entry look written `seconds` ago (as if the run had been long ago)."""
    when = time.time() - seconds
    for path in entry_files(cache_dir):
        os.utime(path, (when, when))


def test_hits_are_recorded_in_one_batch_not_one_write_each(cache_dir: Path) -> None:
    fl.run(many, list(range(20)))
    before = set((cache_dir / "usage").glob("*")) if (cache_dir / "usage").exists() else set()
    assert before == set()  # writes are uses already: nothing recorded for them
    again = fl.run(many, list(range(20)))
    assert [r.cache for r in again.report[1:]] == [fl.CacheStatus.HIT] * 20
    batches = list((cache_dir / "usage").glob("*.json"))
    assert len(batches) == 1
    used = json.loads(batches[0].read_bytes())["used"]
    assert len(used) == 20 and all(t > time.time() - 60 for t in used.values())


def test_prune_by_size_keeps_the_most_recently_used_entries(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fl.run(many, list(range(10)))
    age_everything(cache_dir, 3600)
    fl.run(many, [7, 2, 5])  # used now: the three most recently used
    size = sum(p.stat().st_size for p in entry_files(cache_dir))
    per_entry = size // 10

    out = cli(capsys, "cache", "prune", "--max-size", str(per_entry * 3 + 500), "--dry-run")
    assert "would remove 7 entries" in out and len(entry_files(cache_dir)) == 10
    out = cli(capsys, "cache", "prune", "--max-size", str(per_entry * 3 + 500))
    assert out.startswith("removed 7 entries")
    executed.clear()
    fl.run(many, list(range(10)))
    kept = sorted(set(range(10)) - set(executed))
    assert kept == [2, 5, 7]


def test_older_than_means_unused_for_and_combines_with_a_task(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fl.run(many, [1, 2, 3])
    fl.run(serialized, 9)
    age_everything(cache_dir, 10 * 86400)
    fl.run(payload, 1)  # written ten days ago, used now
    out = cli(capsys, "cache", "prune", "--older-than", "7d", "--task", "payload")
    assert out.startswith("removed 2 entries unused for 7.0d")
    executed.clear()
    fl.run(many, [1, 2, 3])
    fl.run(serialized, 9)
    assert sorted(executed) == [2, 3]  # 1 was used; 9 is another task's


def test_ls_and_info_show_sizes_and_last_use(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fl.run(many, [1, 2])
    age_everything(cache_dir, 2 * 86400)
    fl.run(payload, 1)
    out = cli(capsys, "cache", "ls")
    header, _, row = out.splitlines()[:3]
    assert header.split() == ["task", "entries", "size", "newest", "last", "used"]
    assert row.split()[:2] == ["lifecycle.payload", "2"] and "KiB" in row
    assert row.split()[-1].endswith("s")  # last used seconds ago, not two days
    out = cli(capsys, "cache", "ls", "payload")
    ages = sorted(line.split()[4] for line in out.splitlines()[2:])
    assert ages[0].endswith("s") and ages[1] == "2.0d"
    out = cli(capsys, "cache", "info")
    assert "blobs:    0 (0 B)" in out and "last use:" in out


def test_gc_removes_leftovers_and_old_unreferenced_blobs_only(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = os.urandom(2 << 20)

    @env.task(cache=True, cache_version="1")
    def large(n: int) -> bytes:
        return big[n:]

    fl.run(large, 0)
    fl.run(large, 1)
    fl.run(serialized, 3)  # leaves a released lease
    blobs = sorted((cache_dir / "blobs").iterdir())
    assert len(blobs) == 2
    day_ago = time.time() - 86400
    for blob in blobs:
        os.utime(blob, (day_ago, day_ago))
    main(["cache", "clear", "large"])
    fl.run(large, 0)  # written again: its blob is referenced and refreshed
    stale_tmp = cache_dir / "v1" / ".x.abc.tmp"
    stale_tmp.write_bytes(b"torn")
    os.utime(stale_tmp, (day_ago, day_ago))
    fresh_tmp = cache_dir / "v1" / ".y.abc.tmp"
    fresh_tmp.write_bytes(b"being written")
    leases = [p for p in (cache_dir / "reservations").rglob("*") if p.is_file()]
    assert leases
    for lease in leases:  # released long ago
        lease.write_text(json.dumps({"owner": "x", "expires_at": day_ago, "heartbeat_s": 1}))
    capsys.readouterr()

    out = cli(capsys, "cache", "gc", "--dry-run")
    assert "would remove 1 temporary files, 1 expired leases and 1 unreferenced blobs" in out
    out = cli(capsys, "cache", "gc")
    assert out.startswith("removed 1 temporary files, 1 expired leases and 1 unreferenced blobs")
    assert not stale_tmp.exists() and fresh_tmp.exists()
    assert len(list((cache_dir / "blobs").iterdir())) == 1
    assert fl.run(large, 0).report[0].cache is fl.CacheStatus.HIT


def test_a_fresh_unreferenced_blob_survives_gc(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    @env.task(cache=True, cache_version="1")
    def large(n: int) -> bytes:
        return bytes([n]) * (2 << 20)

    fl.run(large, 5)
    main(["cache", "clear"])  # the entry is gone, its blob is fresh: a writer may reuse it
    out = cli(capsys, "cache", "gc")
    assert "0 unreferenced blobs" in out and len(list((cache_dir / "blobs").iterdir())) == 1


@pytest.mark.parametrize("how", ["config", "environment"])
def test_max_size_prunes_at_the_end_of_a_run(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    fl.run(many, list(range(5)))
    age_everything(cache_dir, 3600)
    per_entry = entry_files(cache_dir)[0].stat().st_size
    bound = per_entry * 6 + 500
    if how == "environment":
        monkeypatch.setenv("FLYTELITE_CACHE_MAX_SIZE", str(bound))
        run = fl.run(many, list(range(5, 10)))
    else:
        config = CatalogConfig(max_size=bound)
        run = fl.with_runcontext(catalog_config=config).run(many, list(range(5, 10)))
    assert [r.cache for r in run.report[1:]] == [fl.CacheStatus.POPULATED] * 5
    assert len(entry_files(cache_dir)) == 6  # the five just written, and one older one
    executed.clear()
    fl.run(many, list(range(5, 10)))
    assert executed == []


def test_sizes_are_checked() -> None:
    assert CatalogConfig(max_size="10GB").max_size == 10 * 10**9
    assert CatalogConfig(max_size="2GiB").max_size == 2 * 1024**3
    with pytest.raises(ValueError, match="not a size"):
        CatalogConfig(max_size="lots")
    with pytest.raises(SystemExit):
        main(["cache", "prune", "--max-size", "huge"])


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("how", ["environment", "option"])
def test_read_only_mode_leaves_the_cache_byte_for_byte_unchanged(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    @env.task(cache=True, cache_version="1")
    def count(f: fl.File) -> int:
        return len(f.read_bytes())

    data = tmp_path / "data.txt"
    data.write_text("12345")
    fl.run(many, [1, 2])
    fl.run(serialized, 1)
    fl.run(write_file, str(tmp_path), "out.txt", "contents")
    (tmp_path / "out.txt").unlink()
    before = snapshot(cache_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*")}

    executed.clear()
    if how == "environment":
        monkeypatch.setenv("FLYTELITE_CACHE_MODE", "read-only")
        runs = [
            fl.run(many, [1, 2, 3]),
            fl.run(serialized, 2),
            fl.run(write_file, str(tmp_path), "out.txt", "contents"),
            fl.run(count, fl.File(data)),
        ]
    else:
        ro = fl.with_runcontext(cache_mode="read-only").run
        runs = [
            ro(many, [1, 2, 3]),
            ro(serialized, 2),
            ro(write_file, str(tmp_path), "out.txt", "contents"),
            ro(count, fl.File(data)),
        ]
    assert [r.cache for r in runs[0].report[1:]] == [
        fl.CacheStatus.HIT,
        fl.CacheStatus.HIT,
        fl.CacheStatus.MISS,
    ]
    assert runs[1].report[0].cache is fl.CacheStatus.MISS and runs[1].outputs == 2
    assert runs[2].report[0].cache is fl.CacheStatus.HIT
    assert runs[2].outputs.read_bytes() == b"contents"  # restored outside the cache
    assert not Path(runs[2].outputs.path).is_relative_to(cache_dir)
    assert Path(runs[2].outputs.path).is_relative_to(tmp_path / "user-cache")
    assert runs[3].outputs == 5
    assert executed == [3, 2]
    assert "read-only" in str(runs[0].report)
    assert any("serialize=True was not honoured" in n for n in runs[1].report.notes)
    assert snapshot(cache_dir) == before
    assert {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*")} == mtimes


def test_an_unknown_cache_mode_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="not a cache mode"):
        fl.with_runcontext(cache_mode="sometimes").run(payload, 1)
    assert executed == []


def test_a_read_only_catalog_writes_nothing(cache_dir: Path) -> None:
    fl.run(payload, 1)
    catalog = FsspecCatalog(str(cache_dir), read_only=True)
    before = snapshot(cache_dir)
    catalog.record_use({"v1/x/y": time.time()})
    catalog.add_index_records([])
    assert snapshot(cache_dir) == before


def test_gc_removes_restored_copies_of_blobs_that_are_gone(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fl.run(write_file, str(tmp_path), "export.txt", "exported")
    (tmp_path / "export.txt").unlink()
    restored = Path(fl.run(write_file, str(tmp_path), "export.txt", "exported").outputs.path)
    main(["cache", "clear"])
    (blob,) = (cache_dir / "blobs").iterdir()
    day_ago = time.time() - 86400
    os.utime(blob, (day_ago, day_ago))
    capsys.readouterr()
    out = cli(capsys, "cache", "gc")
    assert "1 unreferenced blobs" in out and "1 restored copies" in out
    assert not restored.exists()
