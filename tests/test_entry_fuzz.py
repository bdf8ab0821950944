"""No bytes crash the store's parsers: entries, listings, the miss index, reservations.

Whatever object sits at an entry's path (random bytes, a mutated entry, a header
nested deep enough to recurse, fields of the wrong type or lengths that disagree,
with a valid seal, in either entry format) is a miss, never an exception and never
unpickled, and the next write replaces it.
"""

from __future__ import annotations

import json
import math
import pickle
import struct
from pathlib import Path
from typing import Any

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flytelite as fl
from flytelite.catalog import FsspecCatalog, Key
from flytelite.catalog._entry import (
    MAGIC,
    MAGIC_V1,
    EntryProblem,
    decode_entry,
    encode_entry,
    read_header,
)

KEY = "0" * 64
PAYLOAD = b"\x80\x05K*."  # pickle of 42


def valid_entry() -> bytes:
    return b"".join(
        encode_entry(key=KEY, task="env.t", cache_version="1", producer="r", payload=PAYLOAD)
    )


def framed(header: bytes, payload: bytes = PAYLOAD, magic: bytes = MAGIC_V1) -> bytes:
    """An object framed and sealed as flytelite would, around any header bytes: by
    default as format 1 (a JSON header, its seal before the payload); with `MAGIC`, as
    format 2 (the seal last, over everything before it)."""
    prefix = magic + struct.pack("<I", len(header)) + header
    if magic == MAGIC:
        return prefix + payload + blake3.blake3(prefix + payload).digest()
    return prefix + blake3.blake3(prefix).digest() + payload


def binary_header(
    *,
    created_at: float = 1.5,
    payload_size: int = len(PAYLOAD),
    duration: float = float("nan"),
    flags: int = 0,
    strings: tuple[bytes, ...] = (KEY.encode(), b"env.t", b"1", b"r"),
    refs: bytes = b"",
    lengths: tuple[int, ...] | None = None,
) -> bytes:
    """A format 2 header from its fields; `lengths` may disagree with the strings."""
    if lengths is None:
        lengths = (*map(len, strings), len(refs))
    fixed = struct.pack("<dQdBHHHHI", created_at, payload_size, duration, flags, *lengths)
    return fixed + b"".join(strings) + refs


def good_header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "format": 1,
        "key": KEY,
        "task": "env.t",
        "cache_version": "1",
        "created_at": 1.5,
        "producer": "r",
        "payload_size": len(PAYLOAD),
        "payload_blake3": blake3.blake3(PAYLOAD).hexdigest(),
        "seal": "plain",
    }
    header.update(changes)
    return header


def parse(data: bytes, secret: bytes | None = None) -> Any:
    """Every parser of stored entry bytes: each may only raise `EntryProblem`."""
    outcomes: list[Any] = []
    for call in (
        lambda: decode_entry(data, key=KEY, secret=secret),
        lambda: read_header(data[:4096]),
    ):
        try:
            outcomes.append(call())
        except EntryProblem as problem:
            outcomes.append(problem)
    return outcomes


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(st.binary(max_size=512))
def test_random_bytes_are_a_problem_not_an_exception(data: bytes) -> None:
    for outcome in parse(data):
        assert isinstance(outcome, EntryProblem)


@given(st.binary(max_size=200), st.sampled_from([MAGIC, MAGIC_V1]))
def test_random_bytes_after_the_magic_are_a_problem_not_an_exception(
    data: bytes, magic: bytes
) -> None:
    for outcome in parse(magic + data):
        assert isinstance(outcome, EntryProblem)


def test_the_binary_header_round_trips() -> None:
    decoded, header = parse(framed(binary_header(), magic=MAGIC))
    assert bytes(decoded.payload) == PAYLOAD and decoded.task == "env.t"
    assert decoded.created_at == 1.5 and decoded.duration is None
    assert header["key"] == KEY and header["producer"] == "r" and header["format"] == 2


@given(
    created_at=st.floats(),
    payload_size=st.integers(0, 2**64 - 1),
    duration=st.floats(),
    flags=st.integers(0, 255),
    strings=st.tuples(*[st.binary(max_size=70)] * 4),
    refs=st.binary(max_size=40) | json_values.map(lambda v: json.dumps(v).encode()),
    lengths=st.none() | st.tuples(*[st.integers(0, 0xFFFF)] * 4, st.integers(0, 2**32 - 1)),
)
def test_sealed_binary_headers_of_any_fields_are_a_problem_or_the_entry(
    created_at: float,
    payload_size: int,
    duration: float,
    flags: int,
    strings: tuple[bytes, ...],
    refs: bytes,
    lengths: tuple[int, ...] | None,
) -> None:
    header = binary_header(
        created_at=created_at,
        payload_size=payload_size,
        duration=duration,
        flags=flags,
        strings=strings,
        refs=refs,
        lengths=lengths,
    )
    decoded, listed = parse(framed(header, magic=MAGIC))
    if isinstance(decoded, EntryProblem):
        return
    # It decoded: then every field was one the format allows, and says what it held.
    assert bytes(decoded.payload) == PAYLOAD
    assert strings[0] == KEY.encode() and flags == 0 and payload_size == len(PAYLOAD)
    assert decoded.created_at == created_at and math.isfinite(created_at)
    assert (decoded.task, decoded.cache_version, decoded.producer) == tuple(
        x.decode() for x in strings[1:]
    )
    assert decoded.duration is None if math.isnan(duration) else decoded.duration == duration
    assert listed["refs"] == decoded.refs


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=400), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=0, max_value=400),
)
def test_mutated_entries_never_decode_to_something_else(
    flips: list[tuple[int, int]], cut: int
) -> None:
    original = valid_entry()
    data = bytearray(original)
    for position, value in flips:
        data[position % len(data)] = value
    for mutated in (bytes(data), bytes(data[: len(data) - cut % len(data)])):
        decoded, _ = parse(mutated)
        if not isinstance(decoded, EntryProblem):
            assert bytes(decoded.payload) == PAYLOAD  # only a no-op mutation decodes
            assert mutated == original


@given(json_values)
def test_sealed_headers_of_any_json_are_a_problem_not_an_exception(value: Any) -> None:
    for outcome in parse(framed(json.dumps(value).encode())):
        assert isinstance(outcome, EntryProblem)


@given(st.sampled_from(sorted(good_header())), json_values)
def test_sealed_headers_with_fields_of_any_type_are_a_problem_or_the_entry(
    field: str, value: Any
) -> None:
    decoded, _ = parse(framed(json.dumps(good_header(**{field: value})).encode()))
    if isinstance(decoded, EntryProblem):
        return
    # It decoded: then the field had a type the format allows, and says what it held.
    assert bytes(decoded.payload) == PAYLOAD
    if field in ("task", "cache_version", "producer"):
        assert type(value) is str and getattr(decoded, field) == value
    elif field == "created_at":
        assert type(value) in (int, float) and decoded.created_at == value
        assert isinstance(decoded.created_at, float)
    else:  # the key, size, digest, seal and format must be exactly right
        assert value == good_header()[field]


@pytest.mark.parametrize(
    "header",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        json.dumps(good_header(created_at="yesterday")).encode(),
        json.dumps(good_header(created_at=float("nan"))).encode(),
        json.dumps(good_header(created_at={"t": 1})).encode(),
        json.dumps(good_header(payload_size=True)).encode(),
        json.dumps(good_header(payload_size=-1)).encode(),
        json.dumps(good_header(task=["env", "t"])).encode(),
        json.dumps(good_header(seal=None)).encode(),
        json.dumps(good_header(format=True)).encode(),
        b"\xff\xfe not utf-8",
    ],
    ids=[
        "deep-list",
        "deep-dict",
        "time-text",
        "time-nan",
        "time-dict",
        "size-bool",
        "size-negative",
        "task-list",
        "seal-null",
        "format-bool",
        "not-utf8",
    ],
)
def test_crafted_entries_are_misses_and_the_next_write_replaces_them(
    header: bytes, cache_dir: Path
) -> None:
    env = fl.TaskEnvironment("crafted")
    executed: list[int] = []

    @env.task(cache=True, cache_version="1")
    def double(x: int) -> int:
        executed.append(x)
        return 2 * x

    fl.run(double, 21)
    catalog = FsspecCatalog(str(cache_dir))
    (stored,) = catalog.entries()
    catalog.store.write(stored.path, [framed(header)], exclusive=False)
    assert catalog.header(stored) is None  # listings skip it too

    run = fl.run(double, 21)
    row = run.report[0]
    assert run.outputs == 42 and row.cache is fl.CacheStatus.POPULATED
    assert row.miss_reason is not None and row.miss_reason.startswith("entry unreadable")
    assert fl.run(double, 21).report[0].cache is fl.CacheStatus.HIT  # replaced
    assert executed == [21, 21]


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_index_and_reservation_objects_of_any_bytes_are_ignored(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        catalog = FsspecCatalog(root)
        key = Key("env.t", "1", {"x": 1})
        (Path(root) / "index").mkdir()
        (Path(root) / "index" / "env.t.json").write_bytes(data)
        assert isinstance(catalog.index_records("env.t"), list)
        folder = Path(root) / catalog.reservations.folder(key)
        folder.mkdir(parents=True)
        (folder / f"{1:012d}").write_bytes(data)
        # Not a lease flytelite wrote: treated as long expired, so it is taken over.
        taken = catalog.get_or_extend_reservation(key, "me", 1.0)
        assert taken.status is fl.catalog.ReservationStatus.ACQUIRED


def test_deeply_nested_index_and_reservation_objects_are_ignored(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    catalog = FsspecCatalog(str(tmp_path))
    key = Key("env.t", "1", {"x": 1})
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "env.t.json").write_bytes(deep)
    assert catalog.index_records("env.t") == []
    folder = tmp_path / catalog.reservations.folder(key)
    folder.mkdir(parents=True)
    (folder / f"{1:012d}").write_bytes(deep)
    assert catalog.get_or_extend_reservation(key, "me", 1.0).status.value == "ACQUIRED"


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.complex_numbers()
flat = scalars | st.lists(scalars, max_size=70) | st.tuples(scalars, scalars)
flat = flat | st.dictionaries(st.text(max_size=5) | st.integers(), scalars, max_size=70)


class Number(int):
    """Not a builtin: pickled by cloudpickle, whatever its value."""


@given(flat)
def test_outputs_pickled_without_cloudpickle_load_back_the_same(value: Any) -> None:
    from flytelite.catalog._entry import dump_outputs

    pickled = dump_outputs(value)
    assert not pickled.sources
    loaded = pickle.loads(pickled.payload)
    assert repr(loaded) == repr(value) and type(loaded) is type(value)  # NaN, -0.0 too
    wrapped = dump_outputs([Number(7), value])
    again = pickle.loads(wrapped.payload)
    assert type(again[0]) is Number and again[0] == 7
