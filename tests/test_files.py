"""`fl.File` / `fl.Dir`: keyed by content, stored into the cache, restored on a hit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import flytelite as fl
from flytelite.catalog import FsspecCatalog

env = fl.TaskEnvironment("files")
calls: list[str] = []


@env.task(cache=True, cache_version="1")
def count_lines(f: fl.File) -> int:
    calls.append(f.source)
    return f.read_bytes().count(b"\n")


@env.task(cache=True, cache_version="1")
def list_dir(d: fl.Dir) -> list[str]:
    calls.append(d.source)
    return [f"{rel}:{len(d.file(rel).read_bytes())}" for rel in d.files()]


@env.task(cache=True, cache_version="1")
def write_report(folder: str, text: str) -> fl.File:
    calls.append(text)
    path = Path(folder, "report.txt")
    path.write_text(text)
    return fl.File(path)


@env.task(cache=True, cache_version="1")
def write_tree(folder: str, n: int) -> fl.Dir:
    calls.append(f"tree {n}")
    root = Path(folder, "tree")
    for i in range(n):
        (root / f"sub{i % 2}").mkdir(parents=True, exist_ok=True)
        (root / f"sub{i % 2}" / f"part{i}.txt").write_text(f"part {i}\n" * (i + 1))
    script = root / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    return fl.Dir(root)


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


def statuses(run: fl.Run) -> list[fl.CacheStatus]:
    return [row.cache for row in run.report]


def test_a_file_input_is_keyed_by_its_content_not_its_path_or_mtime(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(b"a\nb\n")
    assert statuses(fl.run(count_lines, fl.File(data))) == [fl.CacheStatus.POPULATED]

    data.write_bytes(b"a\nb\nc\n")  # edited: a miss
    edited = fl.run(count_lines, fl.File(data))
    assert statuses(edited) == [fl.CacheStatus.POPULATED] and edited.outputs == 3
    assert "input 'f' changed" in str(edited.report[0].miss_reason)

    data.write_bytes(b"a\nb\n")  # restored: the first entry again
    restored = fl.run(count_lines, fl.File(data))
    assert statuses(restored) == [fl.CacheStatus.HIT] and restored.outputs == 2

    later = os.stat(data).st_mtime + 100
    os.utime(data, (later, later))  # merely touched: still a hit
    assert statuses(fl.run(count_lines, fl.File(data))) == [fl.CacheStatus.HIT]

    copy = tmp_path / "elsewhere" / "other-name.csv"
    copy.parent.mkdir()
    shutil.copy(data, copy)  # the same bytes at another path: the same key
    assert statuses(fl.run(count_lines, fl.File(copy))) == [fl.CacheStatus.HIT]
    assert len(calls) == 2


def test_a_path_is_a_plain_value_keyed_by_its_text(tmp_path: Path) -> None:
    @env.task(cache=True, cache_version="1")
    def size_of(p: Path) -> int:
        return p.stat().st_size

    data = tmp_path / "data.bin"
    data.write_bytes(b"12345")
    assert fl.run(size_of, data).outputs == 5
    data.write_bytes(b"1234567")
    stale = fl.run(size_of, data)  # the text did not change: a hit, with the old size
    assert statuses(stale) == [fl.CacheStatus.HIT] and stale.outputs == 5


def test_an_unreadable_file_input_is_refused_before_the_task_runs(tmp_path: Path) -> None:
    with pytest.raises(fl.UnhashableInputError) as info:
        fl.run(count_lines, fl.File(tmp_path / "missing.csv"))
    assert info.value.task == "files.count_lines" and info.value.parameter == "f"
    assert "missing.csv" in str(info.value)
    assert calls == []


def test_from_local_checks_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fl.File.from_local(tmp_path / "nope")
    with pytest.raises(NotADirectoryError):
        fl.Dir.from_local(tmp_path / "nope")
    (tmp_path / "x").write_text("x")
    assert fl.File.from_local(tmp_path / "x").path == str(tmp_path / "x")
    assert fl.Dir.from_local(tmp_path).files() == ["x"]


def test_a_file_output_is_served_from_the_cache_after_the_original_is_deleted(
    tmp_path: Path,
) -> None:
    first = fl.run(write_report, str(tmp_path), "quarterly numbers")
    original = Path(first.outputs.path)
    assert original == tmp_path / "report.txt"
    original.unlink()

    again = fl.run(write_report, str(tmp_path), "quarterly numbers")
    assert statuses(again) == [fl.CacheStatus.HIT] and calls == ["quarterly numbers"]
    restored = again.outputs
    assert isinstance(restored, fl.File)
    assert restored.read_bytes() == b"quarterly numbers" and restored.name == "report.txt"
    assert Path(restored.path).is_file() and not original.exists()

    Path(restored.path).write_text("scribbled over")  # the copy is the user's to change
    third = fl.run(write_report, str(tmp_path), "quarterly numbers")
    assert third.outputs.read_bytes() == b"quarterly numbers"  # restored afresh


def test_a_dir_input_misses_when_a_file_is_added_or_changed(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_text("1")
    (root / "two.txt").write_text("22")
    first = fl.run(list_dir, fl.Dir(root))
    assert first.outputs == ["a/one.txt:1", "two.txt:2"]
    assert statuses(fl.run(list_dir, fl.Dir(root))) == [fl.CacheStatus.HIT]

    (root / "three.txt").write_text("333")  # added
    added = fl.run(list_dir, fl.Dir(root))
    assert statuses(added) == [fl.CacheStatus.POPULATED]
    assert added.outputs == ["a/one.txt:1", "three.txt:3", "two.txt:2"]

    (root / "a" / "one.txt").write_text("9")  # changed, same size
    assert statuses(fl.run(list_dir, fl.Dir(root))) == [fl.CacheStatus.POPULATED]

    (root / "two.txt").chmod(0o755)  # made executable: part of a Dir's key
    assert statuses(fl.run(list_dir, fl.Dir(root))) == [fl.CacheStatus.POPULATED]
    (root / "empty").mkdir()  # an empty folder is not
    assert statuses(fl.run(list_dir, fl.Dir(root))) == [fl.CacheStatus.HIT]
    assert len(calls) == 4


def test_a_dir_output_is_restored_with_its_files_and_executable_bits(tmp_path: Path) -> None:
    first = fl.run(write_tree, str(tmp_path), 3)
    shutil.rmtree(first.outputs.path)
    again = fl.run(write_tree, str(tmp_path), 3)
    assert statuses(again) == [fl.CacheStatus.HIT] and calls == ["tree 3"]
    tree = again.outputs
    assert tree.files() == ["run.sh", "sub0/part0.txt", "sub0/part2.txt", "sub1/part1.txt"]
    assert tree.file("sub0/part2.txt").read_bytes() == b"part 2\n" * 3
    assert os.access(tree.file("run.sh").path, os.X_OK)
    assert not os.access(tree.file("sub1/part1.txt").path, os.X_OK)

    Path(tree.path, "stray.txt").write_text("added to the copy")  # not part of the output
    Path(tree.path, "run.sh").chmod(0o644)
    third = fl.run(write_tree, str(tmp_path), 3).outputs
    assert third.files() == tree.files() and os.access(third.file("run.sh").path, os.X_OK)


def test_two_entries_with_the_same_20_mb_output_store_it_once(cache_dir: Path) -> None:
    big = os.urandom(20 << 20)

    @env.task(cache=True, cache_version="1")
    def produce(tag: str) -> bytes:
        return big

    @env.task(cache=True, cache_version="1")
    def produce_again(tag: str, other: int) -> bytes:
        return big

    fl.run(produce, "a")
    fl.run(produce_again, "b", 2)
    blobs = list((cache_dir / "blobs").iterdir())
    assert len(blobs) == 1 and blobs[0].stat().st_size > 20 << 20
    entries = [p for p in (cache_dir / "v1").rglob("*") if p.is_file()]
    assert len(entries) == 2 and all(p.stat().st_size < 4096 for p in entries)
    assert fl.run(produce_again, "b", 2).outputs == big  # read back, verified


def test_the_same_file_returned_by_two_tasks_is_one_blob(tmp_path: Path, cache_dir: Path) -> None:
    @env.task(cache=True, cache_version="1")
    def other_report(folder: str, text: str) -> fl.File:
        path = Path(folder, "copy.txt")
        path.write_text(text)
        return fl.File(path)

    fl.run(write_report, str(tmp_path), "same bytes")
    fl.run(other_report, str(tmp_path), "same bytes")
    assert len(list((cache_dir / "blobs").iterdir())) == 1


def test_a_missing_or_damaged_blob_makes_the_entry_a_miss(cache_dir: Path) -> None:
    big = os.urandom(2 << 20)

    @env.task(cache=True, cache_version="1")
    def produce(n: int) -> bytes:
        calls.append("produce")
        return big

    fl.run(produce, 1)
    (blob,) = (cache_dir / "blobs").iterdir()
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF
    blob.write_bytes(bytes(data))
    damaged = fl.run(produce, 1)
    assert statuses(damaged) == [fl.CacheStatus.POPULATED] and damaged.outputs == big
    assert "damaged" in str(damaged.report[0].miss_reason)
    assert statuses(fl.run(produce, 1)) == [fl.CacheStatus.HIT]  # that write repaired it
    (blob,) = (cache_dir / "blobs").iterdir()

    blob.unlink()
    missing = fl.run(produce, 1)
    assert statuses(missing) == [fl.CacheStatus.POPULATED]
    assert "missing" in str(missing.report[0].miss_reason)
    assert statuses(fl.run(produce, 1)) == [fl.CacheStatus.HIT]
    assert calls == ["produce"] * 3


def test_large_numpy_outputs_go_to_blobs_and_round_trip(cache_dir: Path) -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(1 << 19, dtype=np.float64)  # 4 MiB, pickled out of band

    @env.task(cache=True, cache_version="1")
    def with_meta(label: str) -> tuple[str, object]:
        return label, array

    fl.run(with_meta, "first")
    fl.run(with_meta, "second")  # another entry, another small pickle: the array once
    assert len(list((cache_dir / "blobs").iterdir())) == 1
    label, back = fl.run(with_meta, "second").outputs
    assert label == "second" and np.array_equal(back, array)


def test_restored_copies_live_in_the_local_folder_of_the_cache(
    tmp_path: Path, cache_dir: Path
) -> None:
    fl.run(write_report, str(tmp_path), "text")
    (tmp_path / "report.txt").unlink()
    restored = fl.run(write_report, str(tmp_path), "text").outputs
    assert Path(restored.path).is_relative_to(FsspecCatalog(str(cache_dir)).local_dir)
    assert Path(restored.path).is_relative_to(cache_dir / "local")
