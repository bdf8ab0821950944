"""The catalog: entry format, damaged stores, expiry, failures, and path safety."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import flytelite as fl
from flytelite.catalog import Entry, FsspecCatalog, Key

HIT, POPULATED, MISS = fl.CacheStatus.HIT, fl.CacheStatus.POPULATED, fl.CacheStatus.MISS


def entry_files(root: Path) -> list[Path]:
    """The entry objects under a cache root (not its miss index)."""
    return sorted(p for p in (root / "v1").rglob("*") if p.is_file())


def test_put_then_get_round_trips_with_metadata(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path / "c"))
    key = Key("env.task", "1", {"x": 1, "y": [1, 2]})
    assert catalog.get(key) is None
    before = time.time()
    assert catalog.put(key, {"answer": 42}, producer="run-1") is POPULATED
    entry = catalog.get(key)
    assert isinstance(entry, Entry)
    assert entry.outputs == {"answer": 42}
    assert entry.task == "env.task" and entry.cache_version == "1"
    assert entry.producer == "run-1" and entry.key == key.digest
    assert before - 1 <= entry.created_at <= time.time()
    assert entry.created_at != int(entry.created_at)  # sub-second precision
    assert isinstance(catalog, fl.catalog.CatalogClient)


def test_an_entry_keeps_how_long_its_body_took(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path / "c"))
    timed, untimed = Key("env.task", "1", {"x": 1}), Key("env.task", "1", {"x": 2})
    catalog.put(timed, "out", producer="run-1", duration=1.25)
    catalog.put(untimed, "out", producer="run-1")
    got, plain = catalog.get(timed), catalog.get(untimed)
    assert got is not None and got.duration == 1.25 and got.outputs == "out"
    assert plain is not None and plain.duration is None
    catalog.update(timed, "new", duration=0.5)
    again = catalog.get(timed)
    assert again is not None and again.duration == 0.5 and again.outputs == "new"


def test_keys_depend_on_every_component() -> None:
    base = Key("env.t", "1", {"x": 1}, signature=("POSITIONAL_OR_KEYWORD:x",))
    same = Key("env.t", "1", {"x": 1}, signature=("POSITIONAL_OR_KEYWORD:x",))
    assert base == same and base.digest == same.digest
    others = [
        Key("env.u", "1", {"x": 1}, signature=("POSITIONAL_OR_KEYWORD:x",)),
        Key("env.t", "2", {"x": 1}, signature=("POSITIONAL_OR_KEYWORD:x",)),
        Key("env.t", "1", {"x": 2}, signature=("POSITIONAL_OR_KEYWORD:x",)),
        Key("env.t", "1", {"y": 1}, signature=("POSITIONAL_OR_KEYWORD:x",)),
        Key("env.t", "1", {"x": 1}, signature=("KEYWORD_ONLY:x",)),
    ]
    assert len({k.digest for k in others} | {base.digest}) == len(others) + 1


def test_first_valid_writer_wins_and_override_replaces(tmp_path: Path) -> None:
    catalog = FsspecCatalog(str(tmp_path))
    key = Key("env.task", "1", {})
    assert catalog.put(key, "first") is POPULATED
    assert catalog.put(key, "second") is HIT  # the valid entry stands
    entry = catalog.get(key)
    assert entry is not None and entry.outputs == "first"
    assert catalog.update(key, "third") is POPULATED
    entry = catalog.get(key)
    assert entry is not None and entry.outputs == "third"


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_payload(data: bytes) -> bytes:
    i = len(data) - 33  # the payload's last byte, before the seal
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


def _flip_header(data: bytes) -> bytes:
    i = data.index(b"env.task") + 2  # inside the task's name, in the sealed header
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": _truncate,
    "payload byte flipped": _flip_payload,
    "header byte flipped": _flip_header,
    "empty": lambda data: b"",
    "foreign file": lambda data: b"PK\x03\x04 not a flytelite entry at all" * 10,
    "only the magic": lambda data: data[:8],
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_entry_is_a_miss_and_the_next_write_replaces_it(
    tmp_path: Path, damage: str
) -> None:
    catalog = FsspecCatalog(str(tmp_path))
    key = Key("env.task", "1", {"x": 1})
    catalog.put(key, ["good"])
    (path,) = entry_files(tmp_path)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    assert catalog.get(key) is None
    catalog.put(key, ["fresh"])
    entry = catalog.get(key)
    assert entry is not None and entry.outputs == ["fresh"]


def format_1(entry: Entry, payload: bytes, producer: str = "old-run") -> bytes:
    """The entry's bytes as format 1 wrote them: a JSON header, sealed with blake3."""
    import json
    import struct

    import blake3

    header = json.dumps(
        {
            "format": 1,
            "key": entry.key,
            "task": entry.task,
            "cache_version": entry.cache_version,
            "created_at": entry.created_at,
            "producer": producer,
            "payload_size": len(payload),
            "payload_blake3": blake3.blake3(payload).hexdigest(),
            "seal": "plain",
        }
    ).encode()
    prefix = b"FLTLENT\x01" + struct.pack("<I", len(header)) + header
    return prefix + blake3.blake3(prefix).digest() + payload


def test_entries_of_format_1_are_still_hits(cache_dir: Path) -> None:
    """A cache written before the binary header keeps its entries: they are read, listed
    and served, and a damaged one is still a miss."""
    env = fl.TaskEnvironment("format_one")
    executed: list[int] = []

    @env.task(cache=True, cache_version="1")
    def double(x: int) -> list[int]:
        executed.append(x)
        return [2 * x]

    fl.run(double, 21)
    catalog = FsspecCatalog(str(cache_dir))
    (stored,) = catalog.entries()
    data = catalog.store.read(stored.path)
    assert data is not None and data.startswith(b"FLTLENT\x02")
    key = Key(double.name, double.cache_version, {"x": 21}, signature=double.signature_token)
    entry = catalog.get(key)
    assert entry is not None
    payload = bytes(entry.payload)
    catalog.store.write(stored.path, [format_1(entry, payload)], exclusive=False)

    run = fl.run(double, 21)
    assert run.outputs == [42] and run.report[0].cache is HIT and executed == [21]
    header = catalog.header(stored)
    assert header is not None and header["producer"] == "old-run" and header["format"] == 1

    damaged = format_1(entry, payload)[:-1] + b"!"
    catalog.store.write(stored.path, [damaged], exclusive=False)
    run = fl.run(double, 21)
    assert run.report[0].cache is POPULATED and executed == [21, 21]
    assert str(run.report[0].miss_reason).startswith("entry unreadable")


def test_a_damaged_entry_is_never_unpickled(tmp_path: Path) -> None:
    """Bytes that would run code when unpickled are refused by the checksum."""
    import pickle

    catalog = FsspecCatalog(str(tmp_path))
    key = Key("env.task", "1", {})
    catalog.put(key, "x" * 40)
    (path,) = entry_files(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {marker}",))

    evil = pickle.dumps(Evil())
    data = path.read_bytes()
    payload_size = len(data) - data.index(b"\x80\x05")  # the pickled payload starts here
    path.write_bytes(data[: len(data) - payload_size] + evil.ljust(payload_size, b"."))
    assert catalog.get(key) is None
    assert not marker.exists()


def test_a_damaged_store_reexecutes_through_run(cache_dir: Path) -> None:
    env = fl.TaskEnvironment("damaged_store")
    executed: list[int] = []

    @env.task(cache=True, cache_version="1")
    def work(x: int) -> int:
        executed.append(x)
        return x * 2

    @env.task
    async def root() -> list[int]:
        return [await work.aio(i) for i in range(4)]

    assert fl.run(root).outputs == [0, 2, 4, 6]
    files = entry_files(cache_dir)
    assert len(files) == 4
    for damage, path in zip(["truncated", "payload byte flipped", "empty"], files):
        path.write_bytes(DAMAGE[damage](path.read_bytes()))
    run = fl.run(root)
    assert run.outputs == [0, 2, 4, 6]
    assert len(executed) == 4 + 3
    assert sorted(r.cache for r in run.report.by_task("work")) == sorted([HIT] + [POPULATED] * 3)
    assert all(r.cache is HIT for r in fl.run(root).report.by_task("work"))


def test_max_age_turns_old_entries_into_misses() -> None:
    env = fl.TaskEnvironment("expiring")
    executed: list[int] = []

    @env.task(cache=fl.Cache(version="1", max_age=timedelta(seconds=0.3)))
    def work() -> int:
        executed.append(1)
        return len(executed)

    assert fl.run(work).outputs == 1
    assert fl.run(work).outputs == 1
    time.sleep(0.4)
    run = fl.run(work)
    assert run.outputs == 2
    assert run.report[0].cache is POPULATED
    assert run.report[0].miss_reason is not None and "expired" in run.report[0].miss_reason
    assert fl.run(work).outputs == 2  # the expired entry was replaced


def test_task_names_cannot_escape_the_cache_root(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    catalog = FsspecCatalog(str(root))
    for name in ["../../escape", "/etc/passwd", "..", "a/../../b", "env.\x00nul", "C:\\x"]:
        key = Key(name, "1", {})
        catalog.put(key, name)
        entry = catalog.get(key)
        assert entry is not None and entry.outputs == name
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents]
    assert all(root in p.parents for p in (root / "index").rglob("*"))
    assert outside == []
    assert len(entry_files(root)) == 6


def test_environment_names_with_separators_are_sanitised(cache_dir: Path) -> None:
    env = fl.TaskEnvironment("../../../outside")

    @env.task(cache=True)
    def work() -> str:
        return "ok"

    assert fl.run(work).outputs == "ok"
    assert fl.run(work).report[0].cache is HIT
    assert all(cache_dir in p.parents for p in entry_files(cache_dir))
    assert len(entry_files(cache_dir)) == 1


def test_an_unwritable_store_returns_results_with_put_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = fl.TaskEnvironment("unwritable")

    @env.task(cache=True)
    def work(x: int) -> int:
        return x + 1

    @env.task
    async def root() -> list[int]:
        return [await work.aio(1), await work.aio(2)]

    with pytest.warns(fl.CatalogWarning, match="could not be written") as warned:
        run = fl.run(root, cache_url=str(blocker / "cache"))
    assert run.outputs == [2, 3]
    assert [r.cache for r in run.report.by_task("work")] == [fl.CacheStatus.PUT_FAILURE] * 2
    assert len(warned) == 1  # warned once per run


class FailingFileSystem(MemoryFileSystem):
    """A store whose reads fail, as an unreachable server's would."""

    protocol = "failingtest"
    store: dict[str, Any] = {}
    pseudo_dirs = [""]

    def cat_file(self, path: str, start: Any = None, end: Any = None, **kwargs: Any) -> bytes:
        raise ConnectionError("store unreachable")


@pytest.fixture
def failing_fs() -> Iterator[str]:
    fsspec.register_implementation("failingtest", FailingFileSystem, clobber=True)
    yield "failingtest://cache"
    FailingFileSystem.store.clear()


def test_an_unreadable_store_runs_the_task_with_lookup_failure(failing_fs: str) -> None:
    env = fl.TaskEnvironment("unreadable")
    executed: list[int] = []

    @env.task(cache=True)
    def work(x: int) -> int:
        executed.append(x)
        return x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fl.run(work, 5, cache_url=failing_fs)
    assert run.outputs == 5 and executed == [5]
    assert run.report[0].cache is fl.CacheStatus.LOOKUP_FAILURE
    # Its reads failed until the run stopped contacting it, so the write was not tried.
    read, written = (str(w.message) for w in caught if issubclass(w.category, fl.CatalogWarning))
    assert "could not be read" in read and "store unreachable" in read
    assert "not contacted for 5 s at a time" in written


def test_any_fsspec_url_works_as_a_cache() -> None:
    env = fl.TaskEnvironment("memory_cache")
    executed: list[int] = []

    @env.task(cache=True)
    async def work(x: int) -> int:
        executed.append(x)
        return x

    url = f"memory://flytelite-test-{time.time_ns()}"
    assert fl.run(work, 1, cache_url=url).report[0].cache is POPULATED
    assert fl.run(work, 1, cache_url=url).report[0].cache is HIT
    assert executed == [1]


def test_a_cache_url_fsspec_cannot_open_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = fl.TaskEnvironment("bad_url")
    executed: list[int] = []

    @env.task(cache=True)
    def work(x: int) -> int:
        executed.append(x)
        return x

    with pytest.raises(ValueError, match=r"^the cache URL 'foo://x' has protocol 'foo', which"):
        fl.run(work, 1, cache_url="foo://x")
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # not installed, wherever the tests run
    with pytest.raises(fl.MissingExtraError) as missing:
        fl.run(work, 1, cache_url="gcs://bucket/cache")
    assert str(missing.value) == (
        "the cache URL 'gcs://bucket/cache' needs gcsfs, which is not installed: pip install gcsfs."
    )
    assert missing.value.extra == "gcsfs" and isinstance(missing.value, ImportError)
    assert executed == []  # nothing ran


def test_cache_url_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = fl.TaskEnvironment("where")

    @env.task(cache=True)
    def work() -> int:
        return 1

    monkeypatch.setenv("FLYTELITE_CACHE_URL", str(tmp_path / "from-env"))
    assert fl.run(work).cache_url == str(tmp_path / "from-env")
    assert entry_files(tmp_path / "from-env")
    explicit = fl.run(work, cache_url=f"file://{tmp_path / 'explicit'}")
    assert explicit.report[0].cache is POPULATED
    assert entry_files(tmp_path / "explicit")
    monkeypatch.delenv("FLYTELITE_CACHE_URL")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fl.catalog.default_cache_url() == str(tmp_path / "xdg" / "flytelite")


def test_unpicklable_outputs_are_a_put_failure_not_a_task_failure() -> None:
    env = fl.TaskEnvironment("unpicklable")

    @env.task(cache=True)
    def work() -> object:
        import threading

        return threading.Lock()

    with pytest.warns(fl.CatalogWarning, match="could not be written"):
        run = fl.run(work)
    assert run.report[0].cache is fl.CacheStatus.PUT_FAILURE
    assert run.report[0].status == "succeeded"


def test_an_entry_that_no_longer_loads_is_replaced(tmp_path: Path) -> None:
    """A checked entry whose outputs cannot be unpickled here (a class is gone) is a miss,
    and the next write replaces it instead of keeping it forever."""
    import pickle

    catalog = FsspecCatalog(str(tmp_path))
    key = Key("env.task", "1", {})
    payload = pickle.dumps(1)
    gone = payload.replace(b"K\x01", b"cno_such_module\nGone\n")  # a reference to nothing
    catalog.put_pickled(key, gone)
    assert catalog.get(key) is None
    assert catalog.put(key, "fresh") is POPULATED
    entry = catalog.get(key)
    assert entry is not None and entry.outputs == "fresh"
