"""The hashing contract: canonical, type-tagged blake3 keys for task inputs.

Unit tests of the encoding use `flytelite._hashing.hash_value` and
`flytelite._fingerprint`; everything a user sees goes through `fl.run`.
"""

import dataclasses
import datetime as dt
import enum
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import threading
import tracemalloc
import types
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import blake3
import numpy as np
import pandas as pd
import pytest

import flytelite as fl
from flytelite import _fingerprint, _hash_numpy, _hashing
from flytelite._hashing import hash_value
from flytelite.catalog import Key

HIT = fl.CacheStatus.HIT
POPULATED = fl.CacheStatus.POPULATED
REPO = Path(__file__).resolve().parent.parent


def statuses(run: fl.Run) -> list[fl.CacheStatus]:
    return [row.cache for row in run.report]


def unhashable(value: Any, parameter: str = "cfg") -> fl.UnhashableInputError:
    """The error `Key` raises for `value` as input `parameter` of task `unit.task`."""
    with pytest.raises(fl.UnhashableInputError) as info:
        Key("unit.task", "1", {parameter: value})
    return info.value


# -- values used across tests -------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


class Shade(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclasses.dataclass(frozen=True)
class OtherPoint:
    x: float
    y: float


@dataclasses.dataclass
class Holder:
    name: str
    inner: list[Any]


class Pair(NamedTuple):
    left: Any
    right: Any


class Opaque:
    """A plain class with no hashing support."""

    def __init__(self, value: int = 0) -> None:
        self.value = value


class Versioned:
    """Hashes by its version only; `noise` would be unhashable on its own."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.noise = object()

    def __flytelite_hash__(self) -> Any:
        return ("versioned", self.version)


# -- determinism across processes and hash seeds --------------------------------------------

DETERMINISM_SCRIPT = r"""
import dataclasses
import datetime
import decimal
import enum
import pathlib
import uuid
from typing import NamedTuple

import zoneinfo

import numpy as np
import pandas as pd
import pyarrow as pa

from flytelite._fingerprint import fingerprint
from flytelite._hashing import hash_value
from flytelite.catalog import Key


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float
    tags: frozenset


class Pair(NamedTuple):
    left: object
    right: object


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]

NO_SOURCE = "def pick(x):\n    return x in {'alpha', 'beta', 'gamma', 'delta', 'epsilon'}\n"


def build(reverse):
    def order(items):
        items = list(items)
        return items[::-1] if reverse else items

    return {
        "words": set(order(WORDS)),
        "frozen": frozenset(order([("a", 1), ("b", (2, 3)), ("c", None), ("d", 4.5)])),
        "by_name": dict(zip(WORDS, range(9))),
        "mixed_keys": dict([
            (3, "three"), ("x", [1, 2]), ((1, "t"), None), (2.5, b"b"),
            (frozenset(order("klm")), True), (Color.BLUE, {"nested": set(order("qrs"))}),
        ]),
        "nested": [Point(1.0, -2.5, frozenset(order(["p", "q", "r"]))), Pair(Color.RED, 7)],
        "when": datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.timezone.utc),
        "london": datetime.datetime(2024, 1, 5, tzinfo=zoneinfo.ZoneInfo("Europe/London")),
        "day": datetime.date(2024, 1, 1),
        "clock": datetime.time(1, 2, 3, 4),
        "span": datetime.timedelta(days=1, microseconds=5),
        "money": decimal.Decimal("3.14159"),
        "uid": uuid.UUID(int=12345),
        "path": pathlib.PurePosixPath("/data/x.csv"),
        "numbers": [1, 1.0, True, None, float("nan"), complex(1, -1), 10**1000, -7],
        "raw": [b"\x00\x01", bytearray(b"xy"), memoryview(b"mv")],
        "range": range(0, 10, 3),
        "array": np.arange(12, dtype=np.int32).reshape(3, 4),
        "strided": np.arange(20.0)[::3],
        "scalar": np.float32(1.5),
        "frame": pd.DataFrame({"name": ["a", "b"], "value": [1.5, 2.5], "mixed": [1, "1"]}),
        "kinds": pd.DataFrame({
            "cat": pd.Categorical(["x", "y"], categories=["y", "x"]),
            "nullable": pd.array([1, None], dtype="Int64"),
            "when": pd.date_range("2024", periods=2, tz="Europe/London"),
            "arrow": pd.array([1.5, None], dtype="float64[pyarrow]"),
        }),
        "arrow": pa.table({"a": [1, 2], "b": ["x", None]}),
    }


def main():
    sig = ("POSITIONAL_OR_KEYWORD:cfg", "POSITIONAL_OR_KEYWORD:n")
    ns = {}
    exec(compile(NO_SOURCE, "<flytelite-no-source>", "exec", dont_inherit=True), ns)
    return {
        "set_order": list(set(WORDS)),
        "value": hash_value(build(False)).hex(),
        "reordered": hash_value(build(True)).hex(),
        "key": Key("det.task", "v1", {"cfg": build(False), "n": 3}, signature=sig).digest,
        "key_reordered": Key("det.task", "v1", {"n": 3, "cfg": build(True)}, signature=sig).digest,
        "dict_reordered": hash_value(dict(reversed(build(False).items()))).hex(),
        "fingerprint": fingerprint(ns["pick"]).version,
    }
"""


def test_hashes_are_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    # Run as a script, its classes live in `__main__`; keys name the module as the
    # file's stem, as they do for the same file imported (below, by that name).
    script = tmp_path / "flytelite_test_determinism.py"
    script.write_text(DETERMINISM_SCRIPT + "\nimport json\nprint(json.dumps(main()))\n")
    settings = [{"PYTHONHASHSEED": "0"}, {"PYTHONHASHSEED": "4242", "PYTHONINTMAXSTRDIGITS": "640"}]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in settings
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))

    ns: dict[str, Any] = {"__name__": "flytelite_test_determinism"}
    exec(compile(DETERMINISM_SCRIPT, "<determinism>", "exec", dont_inherit=True), ns)
    here = ns["main"]()

    # The two seeds really iterate sets differently, so the test means something.
    assert results[0]["set_order"] != results[1]["set_order"]
    for result in [*results, here]:
        result.pop("set_order")
        assert result["value"] == result["reordered"]
        assert result["key"] == result["key_reordered"]
        # A dict's order is part of its value (a task can see `list(d)`).
        assert result["value"] != result["dict_reordered"]
    assert results[0] == results[1] == here


# -- structural equality --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_a", "make_b"),
    [
        pytest.param(lambda: {"a": 1, "b": 2}, lambda: dict([("a", 1), ("b", 2)]), id="dict"),
        pytest.param(
            lambda: {1: "x", "1": [1], (2, "t"): None, 2.5: b"z"},
            lambda: dict(zip([1, "1", (2, "t"), 2.5], ["x", [1], None, b"z"])),
            id="dict-mixed-keys",
        ),
        pytest.param(
            lambda: set(["kiwi", "apple", "pear", "fig"]),
            lambda: {"fig", "pear", "apple", "kiwi"},
            id="set-of-str",
        ),
        pytest.param(lambda: {3, 1, 2.5, "x"}, lambda: {"x", 2.5, 1, 3}, id="set-mixed"),
        pytest.param(
            lambda: frozenset([("a", 1), ("b", (2, 3)), ("c", None)]),
            lambda: frozenset([("c", None), ("b", (2, 3)), ("a", 1)]),
            id="frozenset-of-tuples",
        ),
        pytest.param(lambda: [1, "a", None], lambda: [1, "a", None], id="list"),
        pytest.param(lambda: Point(1.0, 2.0), lambda: Point(1.0, 2.0), id="dataclass"),
        pytest.param(lambda: Pair("a", [1]), lambda: Pair("a", [1]), id="namedtuple"),
        pytest.param(lambda: Color.BLUE, lambda: Color(2), id="enum"),
        pytest.param(
            lambda: dt.datetime(2024, 1, 2, 3, 4, 5, 6),
            lambda: dt.datetime.fromisoformat("2024-01-02T03:04:05.000006"),
            id="datetime",
        ),
        pytest.param(lambda: dt.date(2024, 1, 2), lambda: dt.date.fromordinal(738887), id="date"),
        pytest.param(
            lambda: dt.time(3, 4, 5), lambda: dt.time.fromisoformat("03:04:05"), id="time"
        ),
        pytest.param(
            lambda: dt.timedelta(days=1), lambda: dt.timedelta(seconds=86400), id="timedelta"
        ),
        pytest.param(lambda: Decimal("1.25"), lambda: Decimal("1.25"), id="decimal"),
        pytest.param(lambda: uuid.UUID(int=7), lambda: uuid.UUID(str(uuid.UUID(int=7))), id="uuid"),
        pytest.param(lambda: Path("data") / "x.csv", lambda: Path("data/x.csv"), id="path"),
        pytest.param(lambda: b"abc", lambda: bytes([97, 98, 99]), id="bytes"),
        pytest.param(lambda: bytearray(b"abc"), lambda: bytearray(b"ab") + b"c", id="bytearray"),
        pytest.param(
            lambda: memoryview(b"abc"),
            lambda: memoryview(bytearray(b"abc")).toreadonly(),
            id="memoryview",
        ),
        pytest.param(lambda: 10**5000, lambda: 10**5000, id="huge-int"),
        pytest.param(lambda: float("nan"), lambda: math.nan, id="nan"),
        pytest.param(
            lambda: [math.nan, {"k": math.nan}],
            lambda: [np.nan, {"k": float("nan")}],
            id="nan-nested",
        ),
        pytest.param(lambda: range(0, 10, 2), lambda: range(0, 10, 2), id="range"),
        pytest.param(lambda: Versioned("v1"), lambda: Versioned("v1"), id="custom-hash"),
        pytest.param(
            lambda: [Versioned("v1"), {"m": Versioned("v2")}],
            lambda: [Versioned("v1"), {"m": Versioned("v2")}],
            id="custom-hash-nested",
        ),
    ],
)
def test_equal_values_hash_equal(make_a: Callable[[], Any], make_b: Callable[[], Any]) -> None:
    a, b = make_a(), make_b()
    assert hash_value(a) == hash_value(b)
    assert len(hash_value(a)) == 32


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(1, 1.0, id="int-float"),
        pytest.param(1, True, id="int-bool"),
        pytest.param(1.0, True, id="float-bool"),
        pytest.param(1, "1", id="int-str"),
        pytest.param(0, False, id="zero-false"),
        pytest.param(0, None, id="zero-none"),
        pytest.param(None, "None", id="none-str"),
        pytest.param("", b"", id="empty-str-bytes"),
        pytest.param(b"a", "a", id="bytes-str"),
        pytest.param(b"a", bytearray(b"a"), id="bytes-bytearray"),
        pytest.param(1, -1, id="int-sign"),
        pytest.param(10**5000, 10**5000 + 1, id="huge-int"),
        pytest.param(1.5, Decimal("1.5"), id="float-decimal"),
        pytest.param(math.nan, math.inf, id="nan-inf"),
        pytest.param(math.nan, 0.0, id="nan-zero"),
        pytest.param(1 + 0j, 1.0, id="complex-float"),
        pytest.param(["ab"], ["a", "b"], id="no-concatenation"),
        pytest.param(("a", "bc"), ("ab", "c"), id="no-concatenation-tuple"),
        pytest.param({"a": "bc"}, {"ab": "c"}, id="no-concatenation-dict"),
        pytest.param([[1], 2], [1, [2]], id="nesting"),
        pytest.param([[]], [], id="empty-nesting"),
        pytest.param([1, 2], (1, 2), id="list-tuple"),
        pytest.param([], (), id="empty-list-tuple"),
        pytest.param({}, [], id="dict-list"),
        pytest.param({"a": 1}, [("a", 1)], id="dict-items"),
        pytest.param({"a": 1, "b": 2}, {"a": 2, "b": 1}, id="dict-values-swapped"),
        pytest.param({"a": 1, "b": 2}, {"b": 2, "a": 1}, id="dict-order"),
        pytest.param({"o": {"y": 1, "z": 2}}, {"o": {"z": 2, "y": 1}}, id="nested-dict-order"),
        pytest.param({1: "a"}, {"1": "a"}, id="dict-key-type"),
        pytest.param({1: "a"}, {True: "a"}, id="dict-key-bool"),
        pytest.param({"a", "b"}, frozenset({"a", "b"}), id="set-frozenset"),
        pytest.param({1, 2}, {1, 3}, id="set-content"),
        pytest.param({"a", "b"}, ["a", "b"], id="set-list"),
        pytest.param(Point(1.0, 2.0), Point(1.0, 3.0), id="dataclass-field"),
        pytest.param(Point(1.0, 2.0), OtherPoint(1.0, 2.0), id="dataclass-class"),
        pytest.param(Pair(1, 2), (1, 2), id="namedtuple-tuple"),
        pytest.param(Pair(1, 2), Pair(2, 1), id="namedtuple-order"),
        pytest.param(Color.RED, "red", id="enum-value"),
        pytest.param(Color.RED, Shade.RED, id="enum-class"),
        pytest.param(Color.RED, Color.BLUE, id="enum-member"),
        pytest.param(Level.LOW, 1, id="intenum-int"),
        pytest.param(dt.datetime(2024, 1, 1), dt.date(2024, 1, 1), id="datetime-date"),
        pytest.param(
            dt.datetime(2024, 1, 1),
            dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
            id="naive-aware",
        ),
        pytest.param(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 0, 0, 1), id="datetime"),
        pytest.param(dt.time(1), dt.time(2), id="time"),
        pytest.param(dt.timedelta(1), dt.timedelta(1, microseconds=1), id="timedelta"),
        pytest.param(dt.timedelta(1), 86400, id="timedelta-int"),
        pytest.param(Decimal("1.5"), Decimal("1.6"), id="decimal"),
        pytest.param(uuid.UUID(int=1), str(uuid.UUID(int=1)), id="uuid-str"),
        pytest.param(Path("a/b"), "a/b", id="path-str"),
        pytest.param(Path("a/b"), Path("a/c"), id="path"),
        pytest.param(memoryview(b"abc"), b"abc", id="memoryview-bytes"),
        pytest.param(memoryview(b"abc"), memoryview(b"abd"), id="memoryview"),
        pytest.param(memoryview(b"abc"), memoryview(bytearray(b"abc")), id="memoryview-readonly"),
        pytest.param(0.0, -0.0, id="signed-zero"),
        pytest.param(math.nan, -math.nan, id="nan-sign"),
        pytest.param(complex(0.0, 1), complex(-0.0, 1), id="complex-signed-zero"),
        pytest.param(range(3), [0, 1, 2], id="range-list"),
        pytest.param(Versioned("v1"), Versioned("v2"), id="custom-hash"),
        pytest.param(Versioned("v1"), ("versioned", "v1"), id="custom-hash-vs-its-value"),
        pytest.param(np.int64(1), 1, id="np-int-int"),
        pytest.param(np.float64(1.5), np.float32(1.5), id="np-scalar-dtype"),
        pytest.param(np.int64(1), np.int64(2), id="np-scalar-value"),
        pytest.param(np.array([1, 2]), [1, 2], id="array-list"),
    ],
)
def test_different_values_hash_differently(a: Any, b: Any) -> None:
    assert hash_value(a) != hash_value(b)


def test_floats_hash_by_their_bits() -> None:
    # A NaN's sign and payload are observable (`math.copysign`, `struct.pack`): they
    # are part of the value, and the same bits always hash alike.
    payload = struct.unpack("<d", bytes.fromhex("010000000000f87f"))[0]
    assert math.isnan(payload)
    first = hash_value([float("nan"), complex(math.nan, 1)])
    assert first == hash_value([math.nan, complex(float("nan"), 1)])
    assert hash_value(payload) != hash_value(math.nan)
    assert hash_value(payload) == hash_value(struct.unpack("<d", struct.pack("<d", payload))[0])
    assert hash_value(np.array([np.nan, 1.0])) == hash_value(np.array([np.nan, 1.0]))
    assert hash_value(np.array([np.nan])) != hash_value(np.array([-np.nan]))
    assert hash_value(np.float64("nan")) == hash_value(np.float64("nan"))


def test_custom_hash_method_ignores_the_rest_of_the_object() -> None:
    a, b = Versioned("v1"), Versioned("v1")
    assert a.noise is not b.noise
    assert hash_value({"model": a}) == hash_value({"model": b})
    with pytest.raises(TypeError):
        hash_value(a.noise)


def test_subclasses_of_builtins_hash_with_their_class_and_state() -> None:
    class Name(str):
        pass

    class Other(str):
        pass

    assert hash_value(Name("x")) == hash_value(Name("x"))
    assert hash_value(Name("x")) != hash_value(Name("y"))
    assert hash_value(Name("x")) != hash_value("x")
    assert hash_value(Name("x")) != hash_value(Other("x"))
    tagged = Name("x")
    tagged.note = "n"  # type: ignore[attr-defined]
    assert hash_value(tagged) != hash_value(Name("x"))


# -- numpy ------------------------------------------------------------------------------------


def test_numpy_arrays_hash_dtype_shape_and_content() -> None:
    base = np.arange(6, dtype=np.int64)
    assert hash_value(base) == hash_value(np.array([0, 1, 2, 3, 4, 5], dtype=np.int64))

    changed = base.copy()
    changed[3] = 99
    assert hash_value(changed) != hash_value(base)

    # Same values, other dtype.
    assert hash_value(base) != hash_value(base.astype(np.int32))
    assert hash_value(base) != hash_value(base.astype(np.float64))
    # Same shape and bytes, other dtype.
    assert hash_value(base) != hash_value(base.view(np.float64))
    assert hash_value(np.zeros(3, np.int64)) != hash_value(np.zeros(3, np.float64))
    assert hash_value(np.zeros(4, np.uint32)) != hash_value(np.zeros(4, np.int32))
    assert hash_value(base.astype("<i8")) != hash_value(base.astype(">i8").view("<i8"))
    # Same bytes, other dtype and shape.
    assert np.zeros(4, np.int32).tobytes() == np.zeros(2, np.int64).tobytes()
    assert hash_value(np.zeros(4, np.int32)) != hash_value(np.zeros(2, np.int64))
    # Same data, other shape.
    shapes = [(6,), (2, 3), (3, 2), (1, 6), (6, 1)]
    digests = {hash_value(base.reshape(shape)) for shape in shapes}
    assert len(digests) == len(shapes)
    # Empty arrays of different shapes.
    assert hash_value(np.zeros((0, 3))) != hash_value(np.zeros((3, 0)))


def test_numpy_non_contiguous_views_hash_like_their_contiguous_copy() -> None:
    grid = np.arange(24, dtype=np.float64).reshape(4, 6)
    views = [grid[::2], grid[:, 1], grid[:, ::3], grid.T, grid[::-1], np.asfortranarray(grid)]
    for view in views:
        assert not view.flags.c_contiguous
        assert hash_value(view) == hash_value(np.ascontiguousarray(view))
    assert hash_value(grid.T) != hash_value(grid)
    assert hash_value(grid[::2]) != hash_value(grid[1::2])


def test_numpy_scalars_and_special_arrays() -> None:
    assert hash_value(np.float64(1.5)) == hash_value(np.float64(1.5))
    assert hash_value(np.datetime64("2024-01-01")) != hash_value(np.datetime64("2024-01-02"))
    assert hash_value(np.str_("ab")) != hash_value(np.str_("ba"))
    assert hash_value(np.bool_(True)) != hash_value(np.bool_(False))

    record = np.dtype([("a", "<i4"), ("b", "<f8")])
    assert hash_value(np.zeros(2, record)) == hash_value(np.zeros(2, record))
    assert hash_value(np.ones(2, record)) != hash_value(np.zeros(2, record))

    objects = np.array([1, "a"], dtype=object)
    assert hash_value(objects) == hash_value(np.array([1, "a"], dtype=object))
    assert hash_value(objects) != hash_value(np.array(["1", "a"], dtype=object))
    err = unhashable({"arr": np.array([1, Opaque()], dtype=object)})
    assert err.type_name == "Opaque"
    assert err.path == "['arr'][1]"


def test_numpy_masked_arrays_hash_their_mask() -> None:
    data = [1.0, 2.0, 3.0]
    a = np.ma.array(data, mask=[False, True, False])
    assert hash_value(a) == hash_value(np.ma.array(data, mask=[False, True, False]))
    assert hash_value(a) != hash_value(np.ma.array(data, mask=[False, False, False]))
    assert hash_value(np.ma.array(data)) != hash_value(np.array(data))


def test_numpy_big_arrays_use_the_multithreaded_path(monkeypatch: pytest.MonkeyPatch) -> None:
    real = blake3.blake3
    threads: list[Any] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(kwargs.get("max_threads"))
        return real(*args, **kwargs)

    recording.AUTO = real.AUTO  # type: ignore[attr-defined]
    fake = types.SimpleNamespace(blake3=recording)
    monkeypatch.setattr(_hashing, "blake3", fake)
    monkeypatch.setattr(_hash_numpy, "blake3", fake)

    big = np.arange(300_000, dtype=np.float64)  # 2.4 MB
    assert big.nbytes > 1 << 20
    digest = hash_value(big)
    assert real.AUTO in threads

    threads.clear()
    small = np.arange(60_000, dtype=np.float64)  # 480 kB
    hash_value(small)
    assert real.AUTO not in threads

    twin = np.array(big.tolist())  # equal content, separately allocated
    assert hash_value(twin) == digest
    for index in (0, 150_000, -1):
        other = big.copy()
        other[index] += 0.5
        assert hash_value(other) != digest
    assert hash_value(big.reshape(1000, 300)) != digest
    assert hash_value(big.astype(np.float32)) != hash_value(big.astype(np.float32)[::-1])


def test_numpy_big_views_and_buffers() -> None:
    grid = np.arange(600_000, dtype=np.float64).reshape(1000, 600)
    view = grid[:, ::2]
    assert view.nbytes > 1 << 20 and not view.flags.c_contiguous
    assert hash_value(view) == hash_value(np.ascontiguousarray(view))
    assert hash_value(view) != hash_value(grid[:, 1::2])

    blob = bytes(range(256)) * 8192  # 2 MiB
    assert hash_value(blob) == hash_value(bytes(bytearray(blob)))
    assert hash_value(blob) != hash_value(blob[:-1] + b"\x00")
    assert hash_value(blob) != hash_value(bytearray(blob))
    assert hash_value(memoryview(blob)) == hash_value(memoryview(bytearray(blob)).toreadonly())

    # Sizes at the threshold still tell shapes apart.
    edge = np.zeros((1 << 20) // 8, dtype=np.float64)
    assert hash_value(edge) != hash_value(edge[:-1])
    assert hash_value(edge) == hash_value(np.zeros_like(edge))


def test_hashing_a_200_mb_array_does_not_copy_it() -> None:
    big = np.arange(25_000_000, dtype=np.float64)  # 200 MB
    assert big.nbytes == 200_000_000
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        Key("cost.task", "1", {"data": big})
        contiguous_peak = tracemalloc.get_traced_memory()[1] - before

        # A strided view is streamed in chunks of about 1 MiB, not copied whole.
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        hash_value(big[::4])
        strided_peak = tracemalloc.get_traced_memory()[1] - before

        # Control: tracemalloc does see a copy of the view.
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        copy = np.ascontiguousarray(big[::4])
        copy_peak = tracemalloc.get_traced_memory()[1] - before
        del copy
    finally:
        tracemalloc.stop()
    assert contiguous_peak < 10_000_000
    assert strided_peak < 10_000_000
    assert copy_peak > 40_000_000


# -- pandas -------------------------------------------------------------------------------------


def frame() -> pd.DataFrame:
    return pd.DataFrame({"name": ["a", "b", "c"], "value": [1.5, 2.5, 3.5], "n": [1, 2, 3]})


def test_pandas_dataframe_hashes_content_columns_and_dtypes() -> None:
    digest = hash_value(frame())
    rebuilt = pd.DataFrame.from_records(
        [("a", 1.5, 1), ("b", 2.5, 2), ("c", 3.5, 3)], columns=["name", "value", "n"]
    )
    assert hash_value(rebuilt) == digest

    changed = frame()
    changed.loc[1, "value"] = 9.0
    assert hash_value(changed) != digest
    assert hash_value(frame().rename(columns={"n": "count"})) != digest
    assert hash_value(frame()[["value", "name", "n"]]) != digest
    assert hash_value(frame().astype({"n": "float64"})) != digest
    assert hash_value(frame().set_index(pd.Index([10, 11, 12]))) != digest
    assert hash_value(frame().iloc[:2]) != digest

    # Column labels keep their type: 1 and "1" differ.
    assert hash_value(pd.DataFrame({1: [1.0]})) != hash_value(pd.DataFrame({"1": [1.0]}))
    # Cells of object columns keep their type too.
    mixed = pd.DataFrame({"m": [1, "x"]})
    assert mixed["m"].dtype == object
    assert hash_value(mixed) == hash_value(pd.DataFrame({"m": [1, "x"]}))
    assert hash_value(mixed) != hash_value(pd.DataFrame({"m": ["1", "x"]}))


def test_pandas_series_and_index() -> None:
    series = pd.Series([1.0, 2.0, 3.0], name="s")
    assert hash_value(series) == hash_value(pd.Series([1.0, 2.0, 3.0], name="s"))
    assert hash_value(series) != hash_value(pd.Series([1.0, 2.0, 4.0], name="s"))
    assert hash_value(series) != hash_value(series.rename("t"))
    assert hash_value(series.rename(None)) != hash_value(series.rename("None"))
    assert hash_value(series) != hash_value(series.astype("float32"))
    assert hash_value(series) != hash_value(pd.Series([1.0, 2.0, 3.0], name="s", index=[3, 4, 5]))
    assert hash_value(series) != hash_value(series.to_frame())
    assert hash_value(series) != hash_value(series.to_numpy())

    index = pd.Index([1, 2, 3], name="i")
    assert hash_value(index) == hash_value(pd.Index([1, 2, 3], name="i"))
    assert hash_value(index) != hash_value(pd.Index([1, 2, 4], name="i"))
    assert hash_value(index) != hash_value(index.rename("j"))
    assert hash_value(index) != hash_value(index.astype("float64"))
    assert hash_value(pd.Index(["a", "b"])) != hash_value(pd.Index(["b", "a"]))

    categorical = pd.Series(["x", "y", "x"], dtype="category")
    assert hash_value(categorical) == hash_value(pd.Series(["x", "y", "x"], dtype="category"))
    assert hash_value(categorical) != hash_value(categorical.astype(str))


def test_pandas_cells_that_cannot_be_hashed_are_rejected() -> None:
    err = unhashable(pd.DataFrame({"a": [1, 2], "b": [Opaque(), Opaque()]}))
    assert err.type_name == "Opaque"
    assert err.parameter == "cfg"


# -- unhashable inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        pytest.param(lambda tmp: object(), "object", id="object"),
        pytest.param(lambda tmp: open(tmp / "f.txt", "w"), "TextIOWrapper", id="open-file"),  # noqa: SIM115
        pytest.param(lambda tmp: Opaque(), "Opaque", id="plain-class"),
        pytest.param(lambda tmp: threading.Lock(), "lock", id="lock"),
        pytest.param(lambda tmp: (i for i in range(3)), "generator", id="generator"),
        pytest.param(lambda tmp: [].append, "builtin_function_or_method", id="bound-method"),
    ],
)
def test_unhashable_root_input_fails_before_the_body_runs(
    make: Callable[[Path], Any], type_name: str, tmp_path: Path
) -> None:
    env = fl.TaskEnvironment(f"hashing_unhashable_{type_name}")
    ran: list[Any] = []

    @env.task(cache=True)
    def consume(n: int, thing: Any) -> int:
        ran.append(thing)
        return n

    value = make(tmp_path)
    try:
        with pytest.raises(fl.UnhashableInputError) as info:
            fl.run(consume, 1, value)
    finally:
        if hasattr(value, "close"):
            value.close()
    assert ran == []
    err = info.value
    assert isinstance(err, fl.InputError) and isinstance(err, TypeError)
    assert err.task == consume.name
    assert err.parameter == "thing"
    assert err.type_name == type_name
    assert err.path == ""
    message = str(err)
    for part in (consume.name, "'thing'", repr(type_name), "__flytelite_hash__", "HashMethod"):
        assert part in message
    assert "ignored_inputs=('thing',)" in message


def test_unhashable_error_reports_the_path_inside_a_nested_value() -> None:
    env = fl.TaskEnvironment("hashing_unhashable_path")
    ran: list[Any] = []

    @env.task(cache=True)
    def train(cfg: dict[str, Any], steps: int) -> int:
        ran.append(cfg)
        return steps

    with pytest.raises(fl.UnhashableInputError) as info:
        fl.run(train, {"lr": 0.1, "opts": [1, 2, object()]}, steps=3)
    assert ran == []
    err = info.value
    assert (err.task, err.parameter, err.type_name) == (train.name, "cfg", "object")
    assert err.path == "['opts'][2]"
    message = str(err)
    assert "cfg['opts'][2]" in message
    for part in ("__flytelite_hash__", "HashMethod", "ignored_inputs", train.name):
        assert part in message


@pytest.mark.parametrize(
    ("value", "path"),
    [
        pytest.param([0, (1, Opaque())], "[1][1]", id="list-tuple"),
        pytest.param({"a": {"b": [Opaque()]}}, "['a']['b'][0]", id="dicts"),
        pytest.param({1: Opaque()}, "[1]", id="int-key"),
        pytest.param(Holder("h", [1, Opaque()]), ".inner[1]", id="dataclass"),
        pytest.param(Pair(1, Opaque()), ".right", id="namedtuple"),
        pytest.param([{Opaque()}], "[0]{...}", id="set"),
        pytest.param({"k": np.array([0, Opaque()], dtype=object)}, "['k'][1]", id="object-array"),
    ],
)
def test_unhashable_error_paths(value: Any, path: str) -> None:
    err = unhashable(value)
    assert err.type_name == "Opaque"
    assert err.path == path
    assert repr(f"cfg{path}") in str(err)


def test_self_referencing_value_is_unhashable_not_a_crash() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    err = unhashable(loop)
    assert err.parameter == "cfg"
    assert err.type_name == "list"


def test_hash_value_rejects_unsupported_values_with_type_error() -> None:
    with pytest.raises(TypeError, match="Opaque"):
        hash_value([1, Opaque()])


def test_unhashable_inputs_are_fine_for_uncached_tasks_and_ignored_inputs() -> None:
    env = fl.TaskEnvironment("hashing_unhashable_allowed")
    calls: list[int] = []

    @env.task
    def plain(n: int, thing: Any) -> int:
        return n

    @env.task(cache=fl.Cache(ignored_inputs=("logger",)))
    def cached(n: int, logger: Any) -> int:
        calls.append(n)
        return n * 2

    assert fl.run(plain, 1, object()).outputs == 1
    first = fl.run(cached, 2, object())
    second = fl.run(cached, 2, lambda: None)
    assert (first.outputs, second.outputs) == (4, 4)
    assert statuses(first) == [POPULATED]
    assert statuses(second) == [HIT]
    assert calls == [2]


def test_inside_a_run_the_parent_sees_unhashable_input_error() -> None:
    env = fl.TaskEnvironment("hashing_unhashable_nested")
    ran: list[Any] = []

    @env.task(cache=True)
    async def child(cfg: Any) -> str:
        ran.append(cfg)
        return "ran"

    @env.task
    async def catching_parent() -> tuple[str, str, str, str]:
        try:
            await child({"deep": [Opaque()]})
        except fl.UnhashableInputError as exc:
            return (exc.task, exc.parameter, exc.type_name, exc.path)
        return ("", "", "", "")

    @env.task
    def sync_parent() -> str:
        return child([object()])  # type: ignore[return-value]

    run = fl.run(catching_parent)
    assert run.outputs == (child.name, "cfg", "Opaque", "['deep'][0]")

    with pytest.raises(fl.TaskFailedError) as info:
        fl.run(sync_parent)
    assert isinstance(info.value.__cause__, fl.UnhashableInputError)
    assert info.value.__cause__.path == "[0]"
    assert info.value.root == sync_parent.name
    assert ran == []


# -- custom hashing through the public API ----------------------------------------------------


def test_hash_method_annotation_gives_a_cache_hit_for_equal_fn_values() -> None:
    env = fl.TaskEnvironment("hashing_hash_method")
    calls: list[str] = []

    def by_version(model: Opaque) -> int:
        return model.value

    @env.task(cache=True)
    def predict(model: Annotated[Opaque, fl.HashMethod(by_version)], x: int) -> int:
        calls.append(f"{model.value}:{x}")
        return model.value + x

    assert isinstance(predict.hash_methods["model"], fl.HashMethod)
    a, b = Opaque(1), Opaque(1)
    first = fl.run(predict, a, 10)
    second = fl.run(predict, b, 10)
    third = fl.run(predict, Opaque(2), 10)
    fourth = fl.run(predict, b, 11)
    assert [statuses(r) for r in (first, second, third, fourth)] == [
        [POPULATED],
        [HIT],
        [POPULATED],
        [POPULATED],
    ]
    assert second.outputs == 11
    assert calls == ["1:10", "2:10", "1:11"]


def test_flytelite_hash_method_gives_a_cache_hit() -> None:
    env = fl.TaskEnvironment("hashing_dunder")
    calls: list[str] = []

    @env.task(cache=True)
    def use(model: Versioned) -> str:
        calls.append(model.version)
        return model.version

    runs = [fl.run(use, Versioned(v)) for v in ("v1", "v1", "v2")]
    assert [statuses(r) for r in runs] == [[POPULATED], [HIT], [POPULATED]]
    assert calls == ["v1", "v2"]


def test_hash_method_needs_a_callable() -> None:
    with pytest.raises(TypeError):
        fl.HashMethod("not callable")  # type: ignore[arg-type]
    method = fl.HashMethod(len)
    assert hash_value([1, 2], method=method) == hash_value("ab", method=method)
    assert hash_value([1, 2], method=method) != hash_value("abc", method=method)


# -- annotations are optional ------------------------------------------------------------------

FUTURE_MODULE = """
from __future__ import annotations

import dataclasses

import flytelite as fl


def make(env_name, calls):
    @dataclasses.dataclass(frozen=True)
    class LocalConfig:
        size: int
        label: str

    class LocalOpaque:
        pass

    env = fl.TaskEnvironment(env_name)

    @env.task(cache=True)
    def describe(cfg: LocalConfig, factor: LocalConfig) -> LocalConfig:
        calls.append(cfg)
        return f"{cfg!r}*{factor!r}"

    return LocalConfig, LocalOpaque, describe
"""


def _load_future_module(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    name = f"flytelite_test_future_{how}"
    if how == "exec":
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)  # dataclasses looks its module up
        exec(compile(FUTURE_MODULE, f"<{name}>", "exec", dont_inherit=True), module.__dict__)
        return module
    path = tmp_path / f"{name}.py"
    path.write_text(FUTURE_MODULE)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("how", ["exec", "module-file"])
def test_unresolvable_string_annotations_let_the_runtime_value_decide(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load_future_module(how, tmp_path, monkeypatch)
    calls: list[Any] = []
    local_config, local_opaque, describe = module.make(f"hashing_future_{how}", calls)

    assert describe.signature.parameters["cfg"].annotation == "LocalConfig"
    with pytest.raises(NameError):
        typing.get_type_hints(describe.func)

    first = fl.run(describe, local_config(2, "a"), 3)
    again = fl.run(describe, local_config(2, "a"), 3)
    other = fl.run(describe, local_config(3, "a"), 3)
    not_a_config = fl.run(describe, {"size": 2}, [3])  # the annotation is not enforced
    assert [statuses(r) for r in (first, again, other, not_a_config)] == [
        [POPULATED],
        [HIT],
        [POPULATED],
        [POPULATED],
    ]
    assert again.outputs == first.outputs
    assert len(calls) == 3

    with pytest.raises(fl.UnhashableInputError) as info:
        fl.run(describe, local_opaque(), 3)
    assert info.value.parameter == "cfg"
    assert info.value.type_name == "make.<locals>.LocalOpaque"
    assert len(calls) == 3


HASH_METHOD_MODULE = """
from __future__ import annotations

from typing import Annotated

import flytelite as fl


def make(env_name):
    class LocalModel:
        def __init__(self, version, weights):
            self.version = version
            self.weights = weights  # an unhashable object

    env = fl.TaskEnvironment(env_name)

    @env.task(cache=True)
    def score(model: Annotated[LocalModel, fl.HashMethod(lambda m: m.version)]) -> str:
        return model.version

    return LocalModel, score
"""


def test_hash_method_on_an_unresolvable_local_class_still_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "flytelite_test_future_hash_method"
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(HASH_METHOD_MODULE, f"<{name}>", "exec", dont_inherit=True), module.__dict__)
    local_model, score = module.make("hashing_future_hash_method")
    with pytest.raises(NameError):
        typing.get_type_hints(score.func)
    first = fl.run(score, local_model("v1", object()))
    again = fl.run(score, local_model("v1", object()))
    other = fl.run(score, local_model("v2", object()))
    assert [statuses(r) for r in (first, again, other)] == [[POPULATED], [HIT], [POPULATED]]


# -- cache version from the source ---------------------------------------------------------------


def _base() -> Callable[..., Any]:
    def f(x: int, y: int = 2) -> int:
        z = x * y
        return z + 1

    return f


def _reformatted() -> Callable[..., Any]:
    # fmt: off
    def f(x: int,   y: int=2) -> int:
        # a comment that changes nothing
        z = (x *
             y)   # trailing comment
        return z+1
    # fmt: on
    return f


def _with_docstring() -> Callable[..., Any]:
    def f(x: int, y: int = 2) -> int:
        """A docstring changes nothing either."""
        z = x * y
        return z + 1

    return f


def _decorated() -> Callable[..., Any]:
    @staticmethod
    def f(x: int, y: int = 2) -> int:
        z = x * y
        return z + 1

    return f.__func__


def _edited_body() -> Callable[..., Any]:
    def f(x: int, y: int = 2) -> int:
        z = x * y
        return z + 2

    return f


def _edited_default() -> Callable[..., Any]:
    def f(x: int, y: int = 3) -> int:
        z = x * y
        return z + 1

    return f


def _edited_operator() -> Callable[..., Any]:
    def f(x: int, y: int = 2) -> int:
        z = x + y
        return z + 1

    return f


def function_fingerprint(func: Callable[..., Any]) -> str:
    return _fingerprint.fingerprint(func).version


def test_function_fingerprint_follows_the_code_not_its_formatting() -> None:
    base = function_fingerprint(_base())
    assert base == function_fingerprint(_base())
    assert isinstance(base, str) and base
    for same in (_reformatted, _with_docstring, _decorated):
        assert function_fingerprint(same()) == base, same.__name__
    for edited in (_edited_body, _edited_default, _edited_operator):
        assert function_fingerprint(edited()) != base, edited.__name__


def test_function_fingerprint_without_source_uses_the_code() -> None:
    def compiled(body: str) -> Callable[..., Any]:
        ns: dict[str, Any] = {}
        source = f"def f(x):\n    {body}\n"
        exec(compile(source, "<flytelite-test-no-source>", "exec", dont_inherit=True), ns)
        func: Callable[..., Any] = ns["f"]
        return func

    a = function_fingerprint(compiled("return x in {'a', 'b', 'c'}"))
    assert a == function_fingerprint(compiled("return x in {'c', 'b', 'a'}"))
    assert a != function_fingerprint(compiled("return x in {'a', 'b', 'd'}"))
    assert a != function_fingerprint(compiled("return x not in {'a', 'b', 'c'}"))


def test_derived_cache_version_misses_after_an_edit_and_hits_after_a_rerun() -> None:
    env = fl.TaskEnvironment("hashing_source_version")

    @env.task(cache=True)
    def step(x: int) -> int:
        x = x * 1
        return x + 1

    first = fl.run(step, 1)

    # The same function defined again (a notebook cell run twice): same identity, hit.
    @env.task(cache=True)
    def step(x: int) -> int:
        x = x * 1
        return x + 1

    same = fl.run(step, 1)

    # Formatting and comments do not matter either.
    # fmt: off
    @env.task(cache=True)
    def step(x:int)->int:
        x = x*1  # the same code
        return x+1
    # fmt: on

    reformatted = fl.run(step, 1)

    # An edited body misses.
    @env.task(cache=True)
    def step(x: int) -> int:
        x = x * 1
        return x + 100

    edited = fl.run(step, 1)

    assert [statuses(r) for r in (first, same, reformatted, edited)] == [
        [POPULATED],
        [HIT],
        [HIT],
        [POPULATED],
    ]
    assert [r.outputs for r in (first, same, reformatted, edited)] == [2, 2, 2, 101]


def test_explicit_cache_version_survives_body_edits() -> None:
    env = fl.TaskEnvironment("hashing_explicit_version")

    @env.task(cache=True, cache_version="1")
    def step(x: int) -> int:
        return x + 1

    first = fl.run(step, 1)

    @env.task(cache=True, cache_version="1")
    def step(x: int) -> int:
        return x + 100

    kept = fl.run(step, 1)

    @env.task(cache=True, cache_version="2")
    def step(x: int) -> int:
        return x + 100

    bumped = fl.run(step, 1)
    assert [statuses(r) for r in (first, kept, bumped)] == [[POPULATED], [HIT], [POPULATED]]
    assert [r.outputs for r in (first, kept, bumped)] == [2, 2, 101]


# -- what else is in the key -----------------------------------------------------------------------


def test_ignored_inputs_do_not_take_part_in_the_key() -> None:
    env = fl.TaskEnvironment("hashing_ignored")
    calls: list[tuple[int, bool]] = []

    @env.task(cache=fl.Cache(ignored_inputs=("verbose",)))
    def work(n: int, verbose: bool = False) -> int:
        calls.append((n, verbose))
        return n * 3

    runs = [
        fl.run(work, 1),
        fl.run(work, 1, verbose=True),
        fl.run(work, 1, True),
        fl.run(work, 2, verbose=True),
    ]
    assert [statuses(r) for r in runs] == [[POPULATED], [HIT], [HIT], [POPULATED]]
    assert calls == [(1, False), (2, True)]


def test_the_signature_is_part_of_the_key() -> None:
    env = fl.TaskEnvironment("hashing_signature")
    calls: list[str] = []

    @env.task(cache=fl.Cache(version="1"))
    def step(x: int) -> int:
        calls.append("one-param")
        return x

    first = fl.run(step, 1)

    # Same explicit version and same call, one more parameter (left out of the
    # inputs, so only the signature differs): a miss.
    @env.task(cache=fl.Cache(version="1", ignored_inputs=("extra",)))
    def step(x: int, extra: int = 0) -> int:
        calls.append("two-params")
        return x

    second = fl.run(step, 1)
    again = fl.run(step, 1)

    # The same with `extra` in the key.
    @env.task(cache=fl.Cache(version="1"))
    def step(x: int, extra: int = 0) -> int:
        calls.append("two-params-keyed")
        return x

    third = fl.run(step, 1)

    assert [statuses(r) for r in (first, second, again, third)] == [
        [POPULATED],
        [POPULATED],
        [HIT],
        [POPULATED],
    ]
    keys = [r.report[0].key for r in (first, second, again, third)]
    assert keys[1] == keys[2]
    assert len(set(keys)) == 3
    assert calls == ["one-param", "two-params", "two-params-keyed"]


def test_key_covers_identity_version_signature_and_inputs() -> None:
    sig = ("POSITIONAL_OR_KEYWORD:x", "POSITIONAL_OR_KEYWORD:y")
    base = Key("env.f", "1", {"x": 1, "y": [1, 2]}, signature=sig)
    assert base == Key("env.f", "1", {"y": [1, 2], "x": 1}, signature=sig)
    assert base.digest == Key("env.f", "1", {"y": [1, 2], "x": 1}, signature=sig).digest
    assert len(base.digest) == 64
    variants = [
        Key("env.g", "1", {"x": 1, "y": [1, 2]}, signature=sig),
        Key("other.f", "1", {"x": 1, "y": [1, 2]}, signature=sig),
        Key("env.f", "2", {"x": 1, "y": [1, 2]}, signature=sig),
        Key("env.f", "1", {"x": 1, "y": [1, 2]}, signature=(*sig, "KEYWORD_ONLY:z")),
        Key("env.f", "1", {"x": 1, "y": [1, 2]}, signature=("KEYWORD_ONLY:x", sig[1])),
        Key("env.f", "1", {"x": 1, "y": (1, 2)}, signature=sig),
        Key("env.f", "1", {"x": 1.0, "y": [1, 2]}, signature=sig),
        Key("env.f", "1", {"y": 1, "x": [1, 2]}, signature=sig),
        Key("env.f", "1", {"x": 1}, signature=sig),
        Key("env.f", "1", {"x": 1, "y": [1, 2], "z": None}, signature=sig),
    ]
    digests = {base.digest} | {key.digest for key in variants}
    assert len(digests) == len(variants) + 1


def test_key_with_hash_methods() -> None:
    methods = {"model": fl.HashMethod(lambda m: m.value)}
    a = Key("env.f", "1", {"model": Opaque(5)}, hash_methods=methods)
    b = Key("env.f", "1", {"model": Opaque(5)}, hash_methods=methods)
    c = Key("env.f", "1", {"model": Opaque(6)}, hash_methods=methods)
    assert a == b
    assert a != c
    with pytest.raises(fl.UnhashableInputError):
        Key("env.f", "1", {"model": Opaque(5)})
