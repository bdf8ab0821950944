"""The Flyte 2 SDK's own example programs on the Flyte 2 surface, and the APIs they need.

The programs in tests/flyte_programs/sdk/ are copies of examples of
flyteorg/flyte-sdk (Apache-2.0; each names its source). Their runs under
flytelite must give what Flyte 2's local runner gives: the exact values are
asserted here, and where it is cheap the real `flyte` package (of the test
extra) runs the same program in a subprocess and must agree.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import pandas as pd
import pytest
from programs import load_file
from pydantic import BaseModel

from flytelite import compat
from flytelite.compat.flyte.io import HashFunction

SDK = Path(__file__).resolve().parent / "flyte_programs" / "sdk"


@pytest.fixture
def flyte(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """The surface, installed for this test only; runs keep their files under tmp_path."""
    monkeypatch.setenv("FLYTELITE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FLYTELITE_PROGRESS", "0")
    monkeypatch.chdir(tmp_path)
    with compat.installed() as surface:
        yield surface


def load(program: str) -> ModuleType:
    """A fresh copy of a program of tests/flyte_programs/sdk/."""
    return load_file(SDK / f"{program}.py")


def outputs(flyte: ModuleType, task: Any, *args: Any, **kwargs: Any) -> Any:
    return flyte.with_runcontext(mode="local").run(task, *args, **kwargs).outputs()


REAL_FLYTE = """
import importlib.util, json, pathlib, sys, tempfile
import flyte
from flyte._persistence._db import LocalDB
folder = pathlib.Path(tempfile.mkdtemp())
LocalDB._get_cache_dir = staticmethod(lambda: folder / "cache")
flyte.init()
spec = importlib.util.spec_from_file_location("program", sys.argv[1])
module = sys.modules["program"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
results = []
for task, kwargs in json.loads(sys.argv[2]):
    run = flyte.with_runcontext(mode="local", raw_data_path=str(folder / "raw")).run(
        getattr(module, task), **kwargs
    )
    results.append(repr(tuple(run.outputs())))
print("RESULTS " + json.dumps(results))
"""


def real_flyte(program: str, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """`repr` of each call's outputs under Flyte 2's local runner, in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-c", REAL_FLYTE, str(SDK / f"{program}.py"), json.dumps(calls)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, done.stderr[-3000:]
    results: list[str] = json.loads(lines[-1][len("RESULTS ") :])
    return results


# -- dict inputs become their model (types/dict_to_model_inputs.py) -------------------------

DICT_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("regen_in_batch", {"query_info": {"query": "select 1", "name": "full", "tags": {"t": "ml"}}}),
    ("regen_in_batch", {"query_info": {"query": "select 2"}}),
    ("regen_in_batch_dc", {"query_info": {"query": "select 4"}}),
    ("summarize_batch", {"report": {"name": "nightly", "tags": ["t1"], "meta": {"k": "v"}}}),
    ("summarize_batch", {"report": {"name": "nightly"}}),
]
DICT_EXPECTED = [
    "(\"query='select 1' name='full' tags={'t': 'ml'} option=dal_oms ratio=0.9 concurrency=4\",)",
    "(\"query='select 2' name='default' tags=None option=dal_oms ratio=0.9 concurrency=4\",)",
    "(\"query='select 4' name='default' tags=None\",)",
    "(\"name='nightly' status='ok' tags=['t1'] meta={'k': 'v'} "
    'summary=BatchSummary(total=0, notes=[])",)',
    "(\"name='nightly' status='ok' tags=[] meta={} summary=BatchSummary(total=0, notes=[])\",)",
]


def test_dict_arguments_become_the_parameters_model_or_dataclass(flyte: ModuleType) -> None:
    program = load("dict_to_model_inputs")
    got = [repr(tuple(outputs(flyte, getattr(program, t), **kw))) for t, kw in DICT_CALLS]
    assert got == DICT_EXPECTED


def test_dict_arguments_give_what_flyte_2_gives() -> None:
    assert real_flyte("dict_to_model_inputs", DICT_CALLS) == DICT_EXPECTED


class Point(BaseModel):
    x: int
    y: int = 0


@dataclass
class Box:
    corner: Point
    label: str = "box"


def test_a_dict_for_a_model_inside_a_list_and_an_optional(flyte: ModuleType) -> None:
    env = flyte.TaskEnvironment(name="dict_inputs_nested")

    @env.task
    async def area(points: list[Point], box: Box | None = None) -> str:
        return f"{[(p.x, p.y) for p in points]} {box}"

    got = outputs(flyte, area, points=[{"x": 1}, Point(x=2, y=3)], box={"corner": {"x": 4}})
    assert got == ("[(1, 0), (2, 3)] Box(corner=Point(x=4, y=0), label='box')",)


# -- datetimes in UTC (types/simple_types.py) --------------------------------------------------


def test_datetimes_reach_the_task_in_utc_as_in_flyte_2(flyte: ModuleType) -> None:
    program = load("simple_types")
    naive = datetime(2025, 3, 1, 12, 30)
    args = {"str": "World", "int": 42, "float": 3.14, "bool": True, "duration": timedelta(hours=1)}
    (text,) = outputs(flyte, program.main, start_time=naive, **args)
    # Flyte 2 reads a naive datetime as UTC and hands the task an aware one.
    assert text.endswith("Time: 2025-03-01 12:30:00+00:00, Duration: 1:00:00")

    env = flyte.TaskEnvironment(name="utc_outputs")
    paris = timezone(timedelta(hours=1))

    @env.task
    async def later(t: datetime) -> datetime:
        return t.replace(tzinfo=None) + timedelta(minutes=1)

    @env.task
    async def chain(t: datetime) -> list[datetime]:
        return [t, await later(t)]

    (got,) = outputs(flyte, chain, datetime(2025, 3, 1, 13, 0, tzinfo=paris))
    assert got == [
        datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc),
        datetime(2025, 3, 1, 12, 1, tzinfo=timezone.utc),
    ]


# -- flyte.ctx().checkpoint (checkpoint/generic_data_checkpoint*.py) --------------------------


@pytest.mark.parametrize("program", ["generic_data_checkpoint", "generic_data_checkpoint_async"])
def test_checkpoints_carry_progress_across_retries(flyte: ModuleType, program: str) -> None:
    module = load(program)
    # Fails at iterations 3, 6 and 9 and resumes each time from what the attempt saved.
    assert outputs(flyte, module.use_checkpoint, n_iterations=10) == (9,)


def test_checkpoints_give_what_flyte_2_gives() -> None:
    calls: list[tuple[str, dict[str, Any]]] = [("use_checkpoint", {"n_iterations": 10})]
    assert real_flyte("generic_data_checkpoint", calls) == ["(9,)"]


def test_a_checkpoint_restores_a_folder_and_nothing_on_the_first_attempt(
    flyte: ModuleType, tmp_path: Path
) -> None:
    env = flyte.TaskEnvironment(name="checkpoint_folder")
    seen: list[Any] = []

    @env.task(retries=1)
    async def resume() -> str:
        checkpoint = flyte.ctx().checkpoint
        restored = await checkpoint.load()
        seen.append(restored)
        if restored is None:
            state = tmp_path / "state"
            (state / "sub").mkdir(parents=True, exist_ok=True)
            (state / "sub" / "step.txt").write_text("7")
            await checkpoint.save(state)
            raise RuntimeError("first attempt")
        return (restored / "sub" / "step.txt").read_text()

    assert outputs(flyte, resume) == ("7",)
    assert seen[0] is None and len(seen) == 2


# -- flyte.types and flyte._image ------------------------------------------------------------


def test_programs_registering_type_transformers_run(flyte: ModuleType) -> None:
    module = load("pydantic_custom_type_in_nested")
    (text,) = outputs(flyte, module.main)
    assert text.splitlines()[:2] == [
        "Label: origin, Coord: (0.0, 0.0)",
        "Coords (2): [(1.0, 2.0), (3.0, 4.0)]",
    ]
    from flyte.types import TypeEngine

    assert isinstance(TypeEngine.get_transformer(module.Coordinate), module.CoordinateTransformer)
    with pytest.raises(ValueError, match="already registered"):
        TypeEngine.register(module.CoordinateTransformer())
    with pytest.raises(compat.UnsupportedFeatureError, match="no literals"):
        TypeEngine.to_literal_type(module.Coordinate)


def test_flyte_pickle_and_private_image_layers_are_accepted(flyte: ModuleType) -> None:
    from flyte._image import DIST_FOLDER, PythonWheels
    from flyte.types import FlytePickle

    layer = PythonWheels(wheel_dir=DIST_FOLDER, package_name="flyte")
    image = flyte.Image.from_debian_base().clone(addl_layer=layer, name="x")
    assert layer == PythonWheels(wheel_dir=DIST_FOLDER, package_name="flyte")
    assert image.steps[-1][0] == "clone"
    assert FlytePickle[dict].python_type() is dict
    assert FlytePickle.python_type() is type(None)


# -- flyte.io: File handles, hash_method, DataFrame outputs ------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # its model's class-based Config
def test_file_handles_read_lines_and_iterate(flyte: ModuleType) -> None:
    module = load("dataclass_examples")
    batch = module.BatchRequest([module.InferenceRequest(1.0, 2.0), module.InferenceRequest(0, 0)])
    assert outputs(flyte, module.dc_wf, batch=batch) == (None,)
    results = outputs(flyte, module.predict_batch, batch=batch)[0]
    assert outputs(flyte, module.avg_from_file, results=results) == ((9.0 + 1.0) / 2,)

    from flyte.io import File

    async def lines(f: File) -> list[bytes]:
        async with f.open("rb") as fh:
            return [line async for line in fh]

    path = Path("lines.txt")
    path.write_bytes(b"a\nb\n")
    assert asyncio.run(lines(File(path=str(path)))) == [b"a\n", b"b\n"]


def test_file_hash_method_keys_the_file_by_what_was_written(flyte: ModuleType) -> None:
    from flyte.io import File, HashFunction

    env = flyte.TaskEnvironment(name="file_hash_method")
    calls: list[str] = []

    @env.task
    async def write(text: str) -> File:
        f = File.new_remote("out.txt", hash_method=HashFunction.from_fn(lambda b: b[:4].hex()))
        async with f.open("wb") as fh:
            await fh.write(text.encode())
        return f

    @env.task(cache="auto")
    async def size(f: File) -> int:
        calls.append(f.path)
        return len(Path(f.path).read_bytes())

    first = outputs(flyte, write, "same prefix, one")[0]
    assert first.hash == b"same".hex()
    assert "hash_method=" in repr(File(path="x"))
    second = outputs(flyte, write, "same prefix, other")[0]
    assert outputs(flyte, size, first) == (16,)
    assert outputs(flyte, size, second) == (16,)  # the same hash: a cache hit
    assert len(calls) == 1


def test_dataframe_outputs_are_written_as_parquet(flyte: ModuleType) -> None:
    module = load("tuple_types_complex")
    train, test, name = outputs(flyte, module.create_dataframe_tuple)
    assert (name, train.format, test.format) == ("classification_v1", "parquet", "parquet")
    stored = pd.read_parquet(train.uri)
    assert stored.equals(asyncio.run(train.open(pd.DataFrame).all()))
    assert repr(train) == f"DataFrame(uri={train.uri!r}, format='parquet', hash=None)"
    rows = len(stored) + len(pd.read_parquet(test.uri))
    assert outputs(flyte, module.process_dataframe_tuple, (train, test, name)) == (rows,)


def stable_part(df: pd.DataFrame) -> str:
    return str(int(df["value"].sum()))


HashedFrame = Annotated[pd.DataFrame, HashFunction.from_fn(stable_part)]


def test_a_hash_function_output_keys_the_next_task(flyte: ModuleType) -> None:
    env = flyte.TaskEnvironment(name="hashed_frames")
    executed: list[int] = []

    @env.task
    async def produce(run: int) -> HashedFrame:
        return pd.DataFrame({"value": [1, 2, 3], "run": [run] * 3})  # differs in every run

    @env.task(cache=flyte.Cache(behavior="auto", version_override="v1"))
    async def consume(df: pd.DataFrame) -> int:
        executed.append(int(df["run"][0]))
        return int(df["value"].sum())

    @env.task
    async def driver(run: int) -> int:
        return await consume(await produce(run))

    assert outputs(flyte, driver, 1) == (6,)
    assert outputs(flyte, driver, 2) == (6,)  # same hash, other content: a hit
    assert executed == [1]
    assert outputs(flyte, consume, pd.DataFrame({"value": [6], "run": [3]})) == (6,)
    assert executed == [1, 3]  # a frame without a hash is keyed by its content


# -- retries with a backoff, and ActionID ------------------------------------------------------


def test_retry_backoff_is_honoured(flyte: ModuleType) -> None:
    env = flyte.TaskEnvironment(name="retry_backoff")
    attempts: list[float] = []
    wait = flyte.Backoff(base=timedelta(seconds=0.2), factor=2.0, cap=timedelta(seconds=0.3))

    @env.task(retries=flyte.RetryStrategy(count=2, backoff=wait))
    async def flaky() -> int:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return len(attempts)

    assert outputs(flyte, flaky) == (3,)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.3  # base, then base * 2 capped at 0.3
    assert wait.compute_delay(5) == timedelta(seconds=0.3)
    with pytest.raises(ValueError, match="cap is required"):
        flyte.Backoff(base=timedelta(seconds=1), factor=2.0)
    with pytest.raises(ValueError, match=r"factor must be >= 1\.0"):
        flyte.Backoff(base=timedelta(seconds=1), factor=0.5)


def test_the_action_prints_like_flyte_2s_action_id(flyte: ModuleType) -> None:
    env = flyte.TaskEnvironment(name="action_repr")

    @env.task
    async def child() -> str:
        return repr(flyte.ctx().action)

    @env.task
    async def parent() -> str:
        return await child()

    run = flyte.with_runcontext(mode="local", name="r1").run(parent)
    assert run.outputs() == ("ActionID('a1', run_name='r1')",)


def test_frames_cross_a_boundary_as_the_annotation_asks(flyte: ModuleType) -> None:
    program = load_file(SDK.parent / "frames.py")
    frame = pd.DataFrame({"a": [1, 2]})
    flyte.init(storage=flyte.storage.S3.auto(region="us-east-2"))  # recorded only
    (got,) = outputs(flyte, program.to_pandas, flyte.io.DataFrame.from_df(frame))
    assert isinstance(got, pd.DataFrame) and got.equals(frame)
    assert outputs(flyte, program.wrapped, frame) == ("DataFrame",)
    assert outputs(flyte, program.as_pandas, flyte.io.DataFrame.from_df(frame)) == ("DataFrame",)
    assert flyte.storage.S3.for_sandbox() == flyte.storage.S3.for_sandbox()
