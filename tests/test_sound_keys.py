"""Keys are sound: values that a task can tell apart never share a cache entry.

Each test runs a cached task on value A (twice: the second run must hit), then on
value B that an earlier encoding hashed like A; B must execute and return its own
result. The task returns what it observes of its input, so a wrong hit would hand
B the observation of A.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import itertools
import json
import math
import os
import pathlib
import subprocess
import sys
import types
import uuid
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pydantic
import pydantic.v1
import pytest

import flytelite as fl
from flytelite._hashing import canonical_module, class_identity

HIT = fl.CacheStatus.HIT
POPULATED = fl.CacheStatus.POPULATED
REPO = Path(__file__).resolve().parent.parent
LONDON = zoneinfo.ZoneInfo("Europe/London")
# A nullable int whose pandas per-cell hash (`hash_pandas_object`, 64 bits, an
# invertible mix) equals that of `pd.NA`: found by inverting the mix.
COLLIDES_WITH_NA = 4904004565857947459
_ENVS = itertools.count()


def statuses(run: fl.Run) -> list[fl.CacheStatus]:
    return [row.cache for row in run.report]


def assert_told_apart(a: Any, b: Any, observe: Callable[[Any], object]) -> None:
    """A cached task sees A, then B: B executes and gets its own observation."""
    seen_a, seen_b = repr(observe(a)), repr(observe(b))
    assert seen_a != seen_b, "the test needs values that a task can tell apart"
    env = fl.TaskEnvironment(f"sound_keys_{next(_ENVS)}")  # a task of its own each time
    calls: list[str] = []

    @env.task(cache=True, cache_version="1")
    def look(x: Any) -> str:
        calls.append(repr(observe(x)))
        return repr(observe(x))

    first, again, second = fl.run(look, a), fl.run(look, a), fl.run(look, b)
    assert [statuses(r) for r in (first, again, second)] == [[POPULATED], [HIT], [POPULATED]]
    assert (first.outputs, second.outputs) == (seen_a, seen_b)
    assert calls == [seen_a, seen_b]


def refused_before_running(value: Any) -> fl.UnhashableInputError:
    env = fl.TaskEnvironment("sound_refused")
    ran: list[Any] = []

    @env.task(cache=True, cache_version="1")
    def use(x: Any) -> int:
        ran.append(x)
        return 1

    with pytest.raises(fl.UnhashableInputError) as info:
        fl.run(use, value)
    assert ran == []
    assert (info.value.task, info.value.parameter) == (use.name, "x")
    message = str(info.value)
    for fix in ("__flytelite_hash__", "HashMethod", "ignored_inputs"):
        assert fix in message
    assert repr(info.value.type_name) in message
    return info.value


# -- pandas -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(
            pd.Categorical(["a", "b"], categories=["a", "b"]),
            pd.Categorical(["a", "b"], categories=["b", "a"]),
            id="category-order",
        ),
        pytest.param(
            pd.Categorical(["a", "b"]),
            pd.Categorical(["a", "b"], ordered=True),
            id="ordered",
        ),
        pytest.param(
            pd.Categorical(["a"], categories=["a", "b"]),
            pd.Categorical(["a"], categories=["a", "c"]),
            id="unused-categories",
        ),
    ],
)
def test_pandas_categoricals_keep_categories_and_order(a: Any, b: Any) -> None:
    def observe(x: Any) -> object:
        x = x["c"] if isinstance(x, pd.DataFrame) else x
        return (list(x.dtype.categories), x.dtype.ordered, list(x))

    for wrap in (pd.Series, lambda c: pd.DataFrame({"c": c}), pd.CategoricalIndex):
        assert_told_apart(wrap(a), wrap(b), observe)


def test_pandas_columns_are_hashed_by_their_buffers_not_a_64_bit_cell_hash() -> None:
    na = pd.DataFrame({"n": pd.array([pd.NA], dtype="Int64")})
    crafted = pd.DataFrame({"n": pd.array([COLLIDES_WITH_NA], dtype="Int64")})
    # The two really collide under pandas' own hash, which keys used to be built from.
    cells = [pd.util.hash_pandas_object(f["n"], index=False).tolist() for f in (na, crafted)]
    assert cells[0] == cells[1]
    assert_told_apart(na, crafted, lambda x: x["n"].tolist())
    assert_told_apart(na["n"], crafted["n"], lambda x: x.tolist())
    # That hash also merged 0.0 with -0.0 (and every NaN).
    zero, negative = pd.Series([0.0]), pd.Series([-0.0])
    assert_told_apart(zero, negative, lambda x: np.signbit(x.to_numpy()).tolist())


def test_pandas_hashing_does_not_use_hash_pandas_object(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("hash_pandas_object was called")

    monkeypatch.setattr(pd.util, "hash_pandas_object", forbidden)
    frame = pd.DataFrame(
        {
            "i": [1, 2],
            "f": [0.5, None],
            "s": ["x", None],
            "o": [1, "1"],
            "n": pd.array([1, None], dtype="Int64"),
            "c": pd.Categorical(["u", "v"]),
            "t": pd.date_range("2024", periods=2, tz=LONDON),
            "p": pd.period_range("2024-01", periods=2, freq="M"),
            "v": pd.arrays.IntervalArray.from_breaks([0, 1, 2]),
            "sp": pd.arrays.SparseArray([0, 1]),
            "a": pd.array([1.5, None], dtype="float64[pyarrow]"),
        }
    )
    assert_told_apart(frame, frame.iloc[::-1], lambda x: x.to_dict("list"))


@pytest.mark.parametrize(
    ("a", "b", "observe"),
    [
        pytest.param(
            pd.Series(["a"], dtype=pd.StringDtype("python", na_value=np.nan)),
            pd.Series(["a"], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
            lambda x: x.dtype.storage,
            id="string-storage",
        ),
        pytest.param(
            pd.Series(["a", None], dtype=pd.StringDtype("python", na_value=pd.NA)),
            pd.Series(["a", None], dtype=pd.StringDtype("python", na_value=np.nan)),
            lambda x: repr(x.dtype.na_value),
            id="string-na-value",
        ),
        pytest.param(
            pd.Series(pd.date_range("2024-01-05", periods=2, tz="UTC")),
            pd.Series(pd.date_range("2024-01-05", periods=2, tz=LONDON)),
            lambda x: str(x.dt.tz),
            id="datetime-tz",
        ),
        pytest.param(
            pd.Series(pd.date_range("2024", periods=2, unit="s")),
            pd.Series(pd.date_range("2024", periods=2, unit="ns")),
            lambda x: str(x.dtype),
            id="datetime-unit",
        ),
        pytest.param(
            pd.period_range("2024-01", periods=2, freq="M"),
            pd.period_range("2024-01", periods=2, freq="Q"),
            lambda x: x.freqstr,
            id="period-freq",
        ),
        pytest.param(
            pd.arrays.IntervalArray.from_breaks([0, 1, 2]),
            pd.arrays.IntervalArray.from_breaks([0, 1, 2], closed="left"),
            lambda x: x.closed,
            id="interval-closed",
        ),
        pytest.param(
            pd.arrays.SparseArray([0, 0, 1]),
            pd.arrays.SparseArray([0, 0, 1], fill_value=1),
            lambda x: x.fill_value,
            id="sparse-fill",
        ),
        pytest.param(
            pd.date_range("2024", periods=3, freq="D"),
            pd.DatetimeIndex(list(pd.date_range("2024", periods=3, freq="D"))),
            lambda x: str(x.freq),
            id="index-freq",
        ),
        pytest.param(
            pd.DataFrame({"a": [1]}),
            pd.DataFrame({"a": [1]}).set_flags(allows_duplicate_labels=False),
            lambda x: x.flags.allows_duplicate_labels,
            id="flags",
        ),
        pytest.param(
            pd.RangeIndex(0, 4, 2), pd.Index([0, 2]), lambda x: type(x).__name__, id="range"
        ),
        pytest.param(
            pd.Timestamp("2024-01-01").as_unit("s"),
            pd.Timestamp("2024-01-01").as_unit("ns"),
            lambda x: x.unit,
            id="timestamp-unit",
        ),
        pytest.param(
            pd.Timestamp("2024-01-05", tz="UTC"),
            pd.Timestamp("2024-01-05", tz=LONDON),
            lambda x: (x + pd.Timedelta(days=180)).isoformat(),
            id="timestamp-tz",
        ),
        pytest.param(pd.NaT, None, lambda x: repr(x), id="nat-none"),
        pytest.param(pd.NA, None, lambda x: repr(x), id="na-none"),
        pytest.param(
            pd.Interval(0, 1), pd.Interval(0, 1, closed="left"), lambda x: x.closed, id="interval"
        ),
        pytest.param(
            pd.Period("2024-01", "M"), pd.Period("2024-01", "D"), lambda x: x.freqstr, id="period"
        ),
    ],
)
def test_pandas_values_keep_everything_that_defines_them(
    a: Any, b: Any, observe: Callable[[Any], object]
) -> None:
    assert_told_apart(a, b, observe)


def test_pandas_attrs_are_part_of_the_key() -> None:
    plain, tagged = pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1]})
    tagged.attrs["unit"] = "m"
    assert_told_apart(plain, tagged, lambda x: x.attrs)
    assert_told_apart(plain["a"], tagged["a"], lambda x: x.attrs)


# -- subclasses -------------------------------------------------------------------------------


def test_pandas_timedelta_keeps_its_nanoseconds() -> None:
    assert_told_apart(pd.Timedelta(1000, "ns"), pd.Timedelta(1001, "ns"), lambda x: x.value)
    assert_told_apart(pd.Timedelta(1, "us"), dt.timedelta(microseconds=1), lambda x: type(x))


class Tagged(str):
    """A str subclass with state of its own."""


class Quantity(float):
    __slots__ = ("unit",)


@dataclasses.dataclass
class Point:
    x: int


def test_subclasses_of_builtins_keep_their_class_and_state() -> None:
    metres, seconds = Tagged("1"), Tagged("1")
    metres.unit, seconds.unit = "m", "s"  # type: ignore[attr-defined]
    assert_told_apart(metres, seconds, lambda x: x.unit)
    assert_told_apart(Tagged("1"), "1", lambda x: type(x).__name__)

    unset, kg = Quantity(2.0), Quantity(2.0)
    kg.unit = "kg"
    assert_told_apart(unset, kg, lambda x: getattr(x, "unit", None))

    class Counts(collections.Counter[str]):
        pass

    assert_told_apart(collections.Counter("ab"), Counts("ab"), lambda x: type(x).__name__)


def test_subclasses_with_state_flytelite_cannot_read_are_refused() -> None:
    class MyTimedelta(pd.Timedelta):
        pass

    value = MyTimedelta(1)
    assert type(value) is MyTimedelta
    assert "C-level state" in str(refused_before_running(value))

    class MyFrame(pd.DataFrame):
        pass

    assert refused_before_running(MyFrame({"a": [1]})).type_name.endswith(".MyFrame")


def test_dataclasses_keep_their_whole_state() -> None:
    plain, cached = Point(1), Point(1)
    cached.note = "extra"  # type: ignore[attr-defined]
    assert_told_apart(plain, cached, lambda x: vars(x))


class Pair(NamedTuple):
    left: int
    right: int


class TaggedPair(Pair):
    pass


def test_namedtuples_keep_their_class_and_state() -> None:
    assert_told_apart(Pair(1, 2), (1, 2), lambda x: type(x).__name__)
    a, b = TaggedPair(1, 2), TaggedPair(1, 2)
    b.tag = "t"  # type: ignore[attr-defined]
    assert_told_apart(a, b, lambda x: vars(x))


def test_classes_of_two_modules_with_one_name_are_told_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = "import dataclasses\n@dataclasses.dataclass\nclass Config:\n    size: int\n"
    configs = []
    for name in ("flytelite_test_models_a", "flytelite_test_models_b"):
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)
        exec(compile(source, name, "exec"), module.__dict__)
        configs.append(module.Config(1))
    assert type(configs[0]).__qualname__ == type(configs[1]).__qualname__
    assert_told_apart(configs[0], configs[1], lambda x: type(x).__module__)


# -- numpy ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_numpy_array_classes_and_dtypes_are_part_of_the_key() -> None:
    grid = np.array([[1, 2], [3, 4]])
    assert_told_apart(grid, np.asmatrix(grid), lambda x: repr(x * x))
    record = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    assert_told_apart(record, record.view(np.recarray), lambda x: type(x).__name__)
    # '<i8' both, but another scalar type.
    assert_told_apart(
        np.array([1], dtype=np.int64),
        np.array([1], dtype=np.longlong),
        lambda x: type(x[0]).__name__,
    )
    masked = np.ma.array([1, 2], mask=[False, True], fill_value=5)
    assert_told_apart(
        masked, np.ma.array([1, 2], mask=[False, True]), lambda x: x.filled().tolist()
    )
    soft, hard = np.ma.array([1, 2], mask=[0, 1]), np.ma.array([1, 2], mask=[0, 1], hard_mask=True)
    assert_told_apart(soft, hard, lambda x: x.hardmask)


def test_numpy_memmap_is_keyed_by_content(tmp_path: Path) -> None:
    data = np.arange(10, dtype=np.int32)
    maps = []
    for name in ("a.bin", "b.bin"):
        m = np.memmap(tmp_path / name, dtype=np.int32, mode="w+", shape=(10,))
        m[:] = data
        m.flush()
        maps.append(m)
    env = fl.TaskEnvironment("sound_memmap")

    @env.task(cache=True, cache_version="1")
    def total(x: np.ndarray) -> int:
        return int(x.sum())

    runs = [fl.run(total, maps[0]), fl.run(total, maps[1]), fl.run(total, data)]
    assert [statuses(r) for r in runs] == [[POPULATED], [HIT], [POPULATED]]


# -- the standard library ---------------------------------------------------------------------


def test_pure_paths_keep_their_flavour() -> None:
    assert_told_apart(
        pathlib.PurePosixPath("a/b"), pathlib.PureWindowsPath("a/b"), lambda x: str(x)
    )


def test_aware_datetimes_keep_their_time_zone() -> None:
    # In winter London is at +00:00, like UTC: isoformat() cannot tell them apart.
    winter_utc = dt.datetime(2024, 1, 5, tzinfo=dt.timezone.utc)
    winter_london = dt.datetime(2024, 1, 5, tzinfo=LONDON)
    assert winter_utc.isoformat() == winter_london.isoformat()
    in_summer = dt.timedelta(days=180)
    assert_told_apart(winter_utc, winter_london, lambda x: (x + in_summer).isoformat())
    named = dt.datetime(2024, 1, 5, tzinfo=dt.timezone(dt.timedelta(0), "GMT"))
    assert_told_apart(winter_utc, named, lambda x: x.tzname())
    # The repeated hour at the end of summer time: `fold` picks one; isoformat lost it.
    first, second = (dt.datetime(2024, 10, 27, 1, 30, tzinfo=LONDON, fold=f) for f in (0, 1))
    assert_told_apart(first, second, lambda x: x.utcoffset())
    clock = dt.time(1, 30, tzinfo=dt.timezone.utc)
    assert_told_apart(clock, clock.replace(fold=1), lambda x: x.fold)


def test_time_zones_without_a_stable_identity_are_refused() -> None:
    files = (Path(folder) / "UTC" for folder in zoneinfo.TZPATH)
    tz_file = next((path for path in files if path.is_file()), None)
    if tz_file is None:
        pytest.skip("no time zone database on this machine")
    with tz_file.open("rb") as f:
        keyless = zoneinfo.ZoneInfo.from_file(f)  # the same rules as UTC, without a key
    err = refused_before_running(dt.datetime(2024, 1, 1, tzinfo=keyless))
    assert err.path == ".tzinfo"
    assert "zoneinfo.ZoneInfo" in str(err)

    class Local(dt.tzinfo):
        def utcoffset(self, d: Any) -> dt.timedelta:
            return dt.timedelta(hours=1)

    err = refused_before_running({"when": dt.datetime(2024, 1, 1, tzinfo=Local())})
    assert err.type_name.endswith("<locals>.Local")
    assert err.path == "['when'].tzinfo"


def test_pytz_and_dateutil_time_zones() -> None:
    pytz = pytest.importorskip("pytz")
    tz = pytest.importorskip("dateutil.tz")
    summer = dt.datetime(2024, 7, 1)
    assert_told_apart(
        pytz.timezone("Europe/London").localize(summer),
        pytz.timezone("Europe/Dublin").localize(summer),
        lambda x: str(x.tzinfo),
    )
    assert_told_apart(
        dt.datetime(2024, 1, 1, tzinfo=tz.tzoffset("A", 3600)),
        dt.datetime(2024, 1, 1, tzinfo=tz.tzoffset("B", 3600)),
        lambda x: x.tzname(),
    )
    refused_before_running(dt.datetime(2024, 1, 1, tzinfo=tz.tzlocal()))


def test_dicts_are_ordered_sets_are_not() -> None:
    assert_told_apart({"a": 1, "b": 2}, {"b": 2, "a": 1}, lambda x: list(x))
    od = collections.OrderedDict(a=1, b=2)
    assert_told_apart(od, collections.OrderedDict(b=2, a=1), lambda x: list(x))
    assert_told_apart(od, {"a": 1, "b": 2}, lambda x: type(x).__name__)

    env = fl.TaskEnvironment("sound_sets")

    @env.task(cache=True, cache_version="1")
    def size(x: Any) -> int:
        return len(x)

    words = ["kiwi", "apple", "pear", 3, (1, "t")]
    first, again = fl.run(size, set(words)), fl.run(size, set(reversed(words)))
    assert statuses(again) == [HIT] and first.outputs == again.outputs == 5


def test_defaultdict_keeps_its_default_factory() -> None:
    lists = collections.defaultdict(list, a=[1])
    sets = collections.defaultdict(set, a=[1])
    assert_told_apart(lists, sets, lambda x: type(x["missing"]).__name__)
    assert_told_apart(lists, {"a": [1]}, lambda x: type(x).__name__)
    err = refused_before_running(collections.defaultdict(lambda: 0))
    assert err.path == ".default_factory"


def test_floats_keep_their_sign_and_nan_payload() -> None:
    assert_told_apart(0.0, -0.0, lambda x: math.copysign(1, x))
    assert_told_apart(math.nan, -math.nan, lambda x: math.copysign(1, x))
    assert_told_apart(complex(0.0, 1), complex(-0.0, 1), lambda x: math.copysign(1, x.real))


def test_other_standard_values() -> None:
    assert_told_apart(
        uuid.UUID(int=1, is_safe=uuid.SafeUUID.safe), uuid.UUID(int=1), lambda x: x.is_safe
    )
    assert_told_apart(memoryview(b"ab"), memoryview(bytearray(b"ab")), lambda x: x.readonly)
    assert_told_apart(int, float, lambda x: x.__name__)
    assert_told_apart(len, abs, lambda x: x.__name__)
    assert_told_apart(math.sqrt, math.floor, lambda x: x.__name__)
    err = refused_before_running([].append)
    assert err.type_name == "builtin_function_or_method"
    assert_told_apart(lambda: 1, lambda: 2, lambda f: f())  # functions: by their code


# -- pydantic ---------------------------------------------------------------------------------


class Inner(pydantic.BaseModel):
    x: int


class OtherInner(pydantic.BaseModel):
    x: int


class Outer(pydantic.BaseModel):
    inner: Inner | OtherInner


class WithSecret(pydantic.BaseModel):
    name: str
    secret: str = pydantic.Field("", exclude=True)


class Old(pydantic.v1.BaseModel):
    x: int


def test_pydantic_models_keep_nested_classes_and_excluded_fields() -> None:
    one, other = Outer(inner=Inner(x=1)), Outer(inner=OtherInner(x=1))
    assert one.model_dump() == other.model_dump()
    assert_told_apart(one, other, lambda m: type(m.inner).__name__)
    a, b = WithSecret(name="n", secret="a"), WithSecret(name="n", secret="b")
    assert a.model_dump() == b.model_dump()
    assert_told_apart(a, b, lambda m: m.secret)
    # Which fields were set explicitly is observable too (`model_fields_set`).
    assert_told_apart(
        WithSecret(name="n"), WithSecret(name="n", secret=""), lambda m: m.model_fields_set
    )


def test_pydantic_v1_models_are_hashed_before_the_run() -> None:
    assert_told_apart(Old(x=1), Old(x=2), lambda m: m.x)


# -- pyarrow ----------------------------------------------------------------------------------


def test_pyarrow_values_are_keyed_by_content() -> None:
    table = pa.table({"a": [1, 2], "b": ["x", None]})
    assert_told_apart(table, pa.table({"a": [1, 2], "b": ["x", "y"]}), lambda t: t.to_pydict())
    assert_told_apart(
        table, table.replace_schema_metadata({"source": "s3"}), lambda t: t.schema.metadata
    )
    assert_told_apart(
        pa.chunked_array([[1, 2], [3]]),
        pa.chunked_array([[1], [2, 3]]),
        lambda c: [len(chunk) for chunk in c.chunks],
    )
    assert_told_apart(pa.array([1, 2]), pa.array([1, 2], pa.int32()), lambda a: str(a.type))
    batch = pa.record_batch({"a": [1]})
    assert_told_apart(batch, pa.Table.from_batches([batch]), lambda v: type(v).__name__)

    env = fl.TaskEnvironment("sound_arrow")

    @env.task(cache=True, cache_version="1")
    def rows(t: Any) -> int:
        return t.num_rows

    sliced = pa.table({"a": [0, 1, 2], "b": ["w", "x", None]}).slice(1)
    fresh = pa.table({"a": [1, 2], "b": ["x", None]})
    assert fl.run(rows, sliced).outputs == 2
    assert statuses(fl.run(rows, sliced)) == [HIT]
    assert fl.run(rows, fresh).outputs == 2


# -- naming classes -------------------------------------------------------------------------------


def test_class_identity_names_module_and_qualname() -> None:
    assert class_identity(int) == "builtins:int"
    assert class_identity(Point).endswith("test_sound_keys:Point")
    assert class_identity(collections.OrderedDict) == "collections:OrderedDict"
    assert canonical_module("os.path") == "os.path"


CLI_SCRIPT = """
import dataclasses
import json
import sys

import flytelite as fl

env = fl.TaskEnvironment("cli_keys")


@dataclasses.dataclass(frozen=True)
class Config:
    size: int


@env.task(cache=True, cache_version="1")
def describe(cfg: Config = Config(3)) -> str:
    return f"{type(cfg).__module__}:{cfg.size}"


if __name__ == "__main__":
    run = fl.run(describe)
    print(json.dumps([run.report[0].key, run.report[0].cache.value, run.outputs]))
"""


def test_a_script_run_directly_and_loaded_by_the_cli_shares_keys(tmp_path: Path) -> None:
    script = tmp_path / "shared_keys.py"
    script.write_text(CLI_SCRIPT)
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FLYTELITE_CACHE_URL": str(tmp_path / "c")}

    def run(*argv: str) -> str:
        proc = subprocess.run(
            [sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    key, status, output = json.loads(run(str(script)))
    assert (status, output) == ("POPULATED", "__main__:3")
    run("-m", "flytelite.cli", "run", str(script), "describe", "--report-json", str(report))
    (row,) = json.loads(report.read_text())
    assert (row["key"], row["cache"]) == (key, "HIT")
    # `python -m shared_keys` names the module by its spec: the same key again.
    key_m, status_m, _ = json.loads(run("-m", "shared_keys"))
    assert (key_m, status_m) == (key, "HIT")
