"""Properties of the input encoding, over generated values of every supported kind.

(a) Soundness: two values share a digest exactly when they have the same exact
    type and the same state, as told by `state` below: a reference written
    without the encoder (exact types, containers structure by structure, floats
    by their bits so that NaNs compare).
(b) Stability: digests do not depend on the process or its hash seed.
(c) No copies: hashing a big buffer or array, contiguous or not, allocates far
    less than its size.

The examples per test are bounded by the `flytelite` hypothesis profile
(`tests/conftest.py`); `HYPOTHESIS_PROFILE=thorough` runs more.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import tracemalloc
import uuid
import zoneinfo
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flytelite._hashing import hash_value

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


# -- classes the strategies build (module level, so that pickle finds them) ------------------


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.Flag):
    R = 1
    W = 2


@dataclasses.dataclass
class Point:
    x: Any
    y: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Frozen:
    a: Any


class Pair(NamedTuple):
    left: Any
    right: Any


class Name(str):
    """A str subclass with a `__dict__`."""


class Size(int):
    """An int subclass."""


class Slotted(list):  # type: ignore[type-arg]
    __slots__ = ("unit",)


class Model(pydantic.BaseModel):
    name: str
    value: Any = None
    hidden: int = pydantic.Field(0, exclude=True)


class Wrapper(pydantic.BaseModel):
    inner: Model | None = None


# -- the reference: what a value is, told without the encoder ---------------------------------


def _float(x: float) -> bytes:
    return struct.pack("<d", x)


def _tz(tz: Any) -> Any:
    if tz is None:
        return None
    if type(tz) is dt.timezone:
        return ("timezone", repr(tz))
    if type(tz) is zoneinfo.ZoneInfo:
        return ("zoneinfo", tz.key)
    raise AssertionError(f"no reference state for {tz!r}")


def _instance(v: Any, skip: type) -> Any:
    """Slots and `__dict__` added by the classes between `type(v)` and `skip`."""
    slots = []
    for cls in type(v).__mro__:
        if cls in skip.__mro__:
            continue
        declared = cls.__dict__.get("__slots__", ())
        for name in (declared,) if isinstance(declared, str) else declared:
            if name not in ("__dict__", "__weakref__"):
                slots.append((name, state(getattr(v, name)) if hasattr(v, name) else "<unset>"))
    attrs = tuple(sorted((k, state(x)) for k, x in getattr(v, "__dict__", {}).items()))
    return (tuple(sorted(slots)), attrs)


def state(v: Any) -> Any:
    """A hashable description of `v`: equal exactly when a task could not tell them apart."""
    t = type(v)
    if v is None or t in (bool, int, str, bytes):
        return (t, v)
    if t is float:
        return (t, _float(v))
    if t is complex:
        return (t, _float(v.real), _float(v.imag))
    if t is bytearray:
        return (t, bytes(v))
    if t in (list, tuple):
        return (t, tuple(state(x) for x in v))
    if t is dict or t is collections.OrderedDict:
        return (t, tuple((state(k), state(x)) for k, x in v.items()))
    if t is collections.defaultdict:
        return (t, v.default_factory, tuple((state(k), state(x)) for k, x in v.items()))
    if t is collections.Counter:
        return (t, tuple((state(k), state(x)) for k, x in v.items()))
    if t in (set, frozenset):
        # A multiset of states: two NaN objects with the same bits are two members.
        return (t, frozenset(collections.Counter(state(x) for x in v).items()))
    if t is range:
        return (t, v.start, v.stop, v.step)
    if t is dt.datetime:
        fields = (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
        return (t, fields, v.fold, _tz(v.tzinfo))
    if t is dt.date:
        return (t, v.year, v.month, v.day)
    if t is dt.time:
        return (t, v.hour, v.minute, v.second, v.microsecond, v.fold, _tz(v.tzinfo))
    if t is dt.timedelta:
        return (t, v.days, v.seconds, v.microseconds)
    if t in (dt.timezone, zoneinfo.ZoneInfo):
        return (t, _tz(v))
    if t is decimal.Decimal:
        return (t, v.as_tuple())
    if t is uuid.UUID:
        return (t, v.int, v.is_safe)
    if isinstance(v, pathlib.PurePath):
        return (t, str(v))
    if isinstance(v, enum.Enum):
        return (t, v.name)
    if isinstance(v, type):
        return ("class", v)
    if t is type(len):
        return ("builtin", v)
    if dataclasses.is_dataclass(v):
        return (t, _instance(v, object))
    if isinstance(v, pydantic.BaseModel):
        return (t, _instance(v, object))
    if t is Pair:
        return (t, tuple(state(x) for x in v))
    if t in (Name, Size, Slotted):
        base = t.__mro__[1]
        return (t, state(base(v)), _instance(v, base))
    if isinstance(v, np.ndarray):
        return (t, *_array(v))
    if isinstance(v, np.generic):
        return (t, v.dtype.str, type(v.dtype), v.tobytes())
    if isinstance(v, (pd.Series, pd.DataFrame)):
        return _pandas(v)
    if isinstance(v, pa.Table):
        columns = [[chunk.to_pylist() for chunk in column.chunks] for column in v.columns]
        return (t, v.schema.to_string(show_schema_metadata=True), state(columns))
    raise AssertionError(f"no reference state for {t}")


def _array(v: np.ndarray) -> tuple[Any, ...]:
    kind = (v.dtype.str, type(v.dtype), v.dtype.type, v.shape)
    if v.dtype.hasobject:
        return (*kind, tuple(state(x) for x in v.ravel().tolist()))
    return (*kind, v.tobytes())


def _pandas(v: Any) -> Any:
    def column(s: pd.Series) -> Any:
        dtype = s.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            extra: Any = (
                state(list(dtype.categories)),
                dtype.ordered,
                s.cat.codes.to_numpy().tobytes(),
            )
        elif isinstance(dtype, np.dtype):
            extra = _array(s.to_numpy())
        else:
            extra = state([None if x is pd.NA else x for x in s.tolist()])
        return (type(dtype), str(dtype), extra)

    index = (type(v.index), state(list(v.index)), state(list(v.index.names)))
    meta = (state(dict(v.attrs)), v.flags.allows_duplicate_labels)
    if isinstance(v, pd.Series):
        return (type(v), meta, index, state(v.name), column(v))
    columns = (type(v.columns), state(list(v.columns)))
    return (type(v), meta, index, columns, tuple(column(v.iloc[:, i]) for i in range(v.shape[1])))


# -- strategies -----------------------------------------------------------------------------

NAN_BITS = st.integers(0, (1 << 52) - 1).map(
    lambda m: struct.unpack("<d", struct.pack("<Q", (0x7FF << 52) | m | 1))[0]
)
floats = st.floats() | st.sampled_from([0.0, -0.0, math.nan, -math.nan, math.inf]) | NAN_BITS
ints = st.integers() | st.integers(-2, 2) | st.just(10**400)
texts = st.text(max_size=8)
zones = st.sampled_from(["UTC", "Europe/London", "America/New_York"]).map(zoneinfo.ZoneInfo)
tzinfos = (
    st.none()
    | st.just(dt.timezone.utc)
    | zones
    | st.builds(
        dt.timezone,
        st.timedeltas(dt.timedelta(hours=-23), dt.timedelta(hours=23)).map(
            lambda d: dt.timedelta(minutes=d // dt.timedelta(minutes=1))
        ),
    )
)

hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    st.complex_numbers(max_magnitude=1e6),
    texts,
    st.binary(max_size=8),
    st.datetimes(timezones=tzinfos),
    st.dates(),
    st.times(timezones=tzinfos),
    st.timedeltas(),
    st.decimals(allow_nan=False, places=3)
    | st.sampled_from(["-0", "1.10", "NaN"]).map(decimal.Decimal),
    st.uuids(),
    st.builds(pathlib.PurePosixPath, texts) | st.builds(pathlib.PureWindowsPath, texts),
    st.sampled_from([*Color, *Level, Perm.R, Perm.R | Perm.W]),
    st.sampled_from([int, float, str, Point, Color, len, abs, math.sqrt]),
    st.builds(Name, texts),
    st.builds(Size, st.integers(-3, 3)),
    st.builds(lambda x: np.float32(x), st.floats(width=32)),
    st.builds(lambda x: np.int64(x), st.integers(-(2**63), 2**63 - 1)),
    st.sampled_from([np.datetime64("2024-01-01"), np.datetime64("2024-01-01", "ns")]),
)
hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=4,
)


def _strided(a: np.ndarray) -> np.ndarray:
    return a[::2] if a.ndim == 1 else a.T


arrays = hnp.arrays(
    dtype=hnp.integer_dtypes()
    | hnp.floating_dtypes()
    | hnp.boolean_dtypes()
    | st.just(np.dtype([("a", "<i2"), ("b", "<f4")])),
    shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
)
numpy_values = arrays | arrays.map(_strided) | arrays.map(np.asfortranarray)


def _slotted(items: list[Any], unit: Any) -> Slotted:
    s = Slotted(items)
    if unit is not None:
        s.unit = unit
    return s


def _named(text: str, note: Any) -> Name:
    n = Name(text)
    if note is not None:
        n.note = note  # type: ignore[attr-defined]
    return n


frames = st.builds(
    lambda ints, floats, labels, ordered: pd.DataFrame(
        {
            "i": ints,
            "f": floats,
            "c": pd.Categorical(labels, categories=["x", "y", "z"], ordered=ordered),
            "n": pd.array([None if i % 3 == 0 else i for i in ints], dtype="Int64"),
            "s": pd.array([str(i) for i in ints], dtype="str"),
        }
    ),
    st.lists(st.integers(-5, 5), min_size=2, max_size=2),
    st.lists(floats, min_size=2, max_size=2),
    st.lists(st.sampled_from("xyz"), min_size=2, max_size=2),
    st.booleans(),
)
series = st.builds(
    lambda values, name: pd.Series(values, name=name),
    st.lists(st.integers(-3, 3) | floats, max_size=3),
    st.none() | texts,
)
tables = st.builds(
    lambda a, b: pa.table({"a": pa.array(a, pa.int64()), "b": pa.array(b, pa.string())}),
    st.lists(st.none() | st.integers(-3, 3), min_size=2, max_size=2),
    st.lists(st.none() | st.sampled_from(["p", "q"]), min_size=2, max_size=2),
)


def _extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(hashables, inner, max_size=3),
        st.dictionaries(texts, inner, max_size=3).map(collections.OrderedDict),
        st.builds(
            collections.defaultdict,
            st.sampled_from([list, set]),
            st.dictionaries(texts, inner, max_size=2),
        ),
        st.sets(hashables, max_size=3),
        st.frozensets(hashables, max_size=3),
        st.builds(Point, inner, inner),
        st.builds(Frozen, inner),
        st.builds(Pair, inner, inner),
        st.builds(_slotted, st.lists(inner, max_size=2), st.none() | inner),
        st.builds(_named, texts, st.none() | inner),
        st.builds(Model, name=texts, value=inner, hidden=st.integers(0, 2)),
        st.builds(Wrapper, inner=st.none() | st.builds(Model, name=texts)),
    )


values = st.recursive(
    st.one_of(
        hashable_scalars,
        st.builds(bytearray, st.binary(max_size=4)),
        st.builds(range, st.integers(-3, 3), st.integers(-3, 3), st.integers(1, 3)),
        st.builds(collections.Counter, st.text("ab", max_size=4)),
        numpy_values,
        frames,
        series,
        tables,
    ),
    _extend,
    max_leaves=6,
)


# -- (a) soundness ------------------------------------------------------------------------------


def _check_pairs(batch: list[Any]) -> None:
    digests = [hash_value(v) for v in batch]
    states = [state(v) for v in batch]
    for i in range(len(batch)):
        for j in range(i + 1, len(batch)):
            same_state = states[i] == states[j]
            assert (digests[i] == digests[j]) == same_state, (batch[i], batch[j])


@given(st.lists(values, min_size=2, max_size=6))
def test_equal_digests_mean_equal_type_and_state(batch: list[Any]) -> None:
    _check_pairs(batch)


@given(st.lists(hashable_scalars, min_size=2, max_size=12))
def test_scalars_that_python_calls_equal_still_differ_by_type_and_bits(batch: list[Any]) -> None:
    # Small scalars (0, 0.0, -0.0, False, "", b"", NaNs) collide often; nothing but
    # an identical type and state may share a digest.
    _check_pairs(batch)


@given(values)
def test_a_value_and_its_copy_share_a_digest(value: Any) -> None:
    twin = copy.deepcopy(value)  # not pickle: it turns a big-endian array native
    assert state(twin) == state(value)
    assert hash_value(twin) == hash_value(value)


@given(st.dictionaries(texts, ints, min_size=2, max_size=4))
def test_dict_order_is_part_of_the_digest(d: dict[str, int]) -> None:
    reordered = dict(reversed(d.items()))
    assert hash_value(reordered) != hash_value(d)
    assert hash_value(set(d)) == hash_value(set(reversed(list(d))))


@given(numpy_values)
def test_an_array_hashes_like_its_c_contiguous_copy(a: np.ndarray) -> None:
    assert hash_value(a) == hash_value(np.ascontiguousarray(a))


# -- (b) stability across processes and hash seeds ------------------------------------------------

WORKER = """
import json, pickle, sys
from flytelite._hashing import hash_value
values = pickle.load(sys.stdin.buffer)
print(json.dumps([hash_value(v).hex() for v in values]))
"""


@settings(max_examples=3)
@given(st.data())
def test_digests_are_the_same_in_other_processes_and_hash_seeds(data: st.DataObject) -> None:
    batch = data.draw(st.lists(values, min_size=10, max_size=10))
    shipped = pickle.dumps(batch)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env={**env, "PYTHONHASHSEED": seed},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in ("1", "987654")
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(shipped, timeout=120)
        assert proc.returncode == 0, err.decode()
        results.append(json.loads(out))
    here = [hash_value(v).hex() for v in pickle.loads(shipped)]
    assert results[0] == results[1] == here


# -- (c) big inputs are not copied ----------------------------------------------------------------

SIZE = 64 << 20


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: bytes(SIZE), id="bytes"),
        pytest.param(lambda: bytearray(SIZE), id="bytearray"),
        pytest.param(lambda: memoryview(bytes(SIZE)), id="memoryview"),
        pytest.param(lambda: np.zeros(SIZE // 8), id="array"),
        pytest.param(lambda: np.zeros((2048, SIZE // 8 // 2048 * 2))[:, ::2], id="strided-view"),
        pytest.param(lambda: np.asfortranarray(np.zeros((2048, SIZE // 8 // 2048))), id="fortran"),
        pytest.param(lambda: np.zeros((SIZE // 8 * 2,))[::2], id="1d-strided"),
        pytest.param(lambda: memoryview(np.zeros((SIZE // 8 * 2,)))[::2], id="strided-memoryview"),
    ],
)
def test_hashing_a_64_mib_input_does_not_copy_it(make: Any) -> None:
    value = make()
    size = value.nbytes if hasattr(value, "nbytes") else len(value)
    assert size >= SIZE
    hash_value(value)  # the first call classifies and imports; measure the second
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        hash_value(value)
        peak = tracemalloc.get_traced_memory()[1] - before
        # Control: tracemalloc does see a full copy.
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        copy = np.array(value)
        copy_peak = tracemalloc.get_traced_memory()[1] - before
        del copy
    finally:
        tracemalloc.stop()
    assert copy_peak >= SIZE
    assert peak < SIZE // 16  # at most a few chunks of about 1 MiB
