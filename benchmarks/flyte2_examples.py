"""The Flyte 2 SDK's own example programs, unchanged, under Flyte 2's local runner and flytelite.

    python benchmarks/flyte2_examples.py --examples /path/to/flyte-sdk/examples
    python benchmarks/flyte2_examples.py --examples DIR --all       # every example with a run
    python benchmarks/flyte2_examples.py --examples DIR basics/hello.py types/enum_types.py

`DIR` is the `examples/` folder of a local copy of flyteorg/flyte-sdk (nothing
is downloaded). Each example runs as its own script (`__main__`), in a fresh
interpreter, with a timeout, twice: once with the real `flyte` package, once
after `flytelite.compat.install()`. In both, every run the script starts is
made local (`with_runcontext(mode="local")`, whatever mode it asks for), and
`flyte.init_from_config(...)` and the other connection calls set up nothing,
so a script written for a cluster runs on this machine. What is compared is
what each run of the script gave (its outputs, or the error it raised) and how
the script ended; paths and object addresses are blanked out. Prints a Markdown
table (example, Flyte 2's outcome and time, flytelite's, the verdict) and totals.
Times are the script's wall time after imports. Like every benchmark here it
reports and never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The examples Flyte 2's local runner runs on a machine without a cluster, GPUs or API keys:
# the categories of issue 20 first, then the rest of what runs locally.
CASES = [
    "basics/types/blob_types.py",
    "basics/types/dataclass_blob_types.py",
    "basics/types/dataclass_types.py",
    "basics/types/dict_to_model_inputs.py",
    "basics/types/enum_types.py",
    "basics/types/int_collection.py",
    "basics/types/map_types.py",
    "basics/types/namedtuple_types.py",
    "basics/types/namedtuple_types_complex.py",
    "basics/types/optional_int_collection.py",
    "basics/types/optional_simple_types.py",
    "basics/types/pydantic_custom_type_in_nested.py",
    "basics/types/pydantic_nested_types.py",
    "basics/types/pydantic_union_types.py",
    "basics/types/simple_type_defaults.py",
    "basics/types/simple_types.py",
    "basics/types/tuple_types.py",
    "basics/types/tuple_types_complex.py",
    "basics/types/typeddict_optional_fields.py",
    "basics/types/typeddict_types.py",
    "basics/types/typeddict_types_complex.py",
    "basics/types/union_types.py",
    "basics/all_types.py",
    "basics/dataclass_examples.py",
    "checkpoint/generic_data_checkpoint.py",
    "checkpoint/generic_data_checkpoint_async.py",
    "advanced/resource_tuner.py",
    "advanced/hash_polars_dataframe.py",
]

# Examples whose outputs differ for a reason docs/flyte2-compat.md gives (`deliberate`), or
# that print random numbers under both runners (`random`: the outcomes cannot be compared).
NOTES = {
    "advanced/hash_flyte_dataframe.py": "random",
    "advanced/hash_pandas_dataframe.py": "random",
    "higher_order_patterns/run_all_examples.py": "random",
    "caching/serialized_caching.py": "deliberate: Cache(serialize=True) executes once",
    "basics/hello_v2.py": "deliberate: action names a1, a2, ...",
    "basics/all_types.py": "deliberate: dicts keep their order",
    "basics/types/map_types.py": "deliberate: dicts keep their order",
    "basics/types/pydantic_nested_types.py": "deliberate: dicts keep their order",
    "basics/types/typeddict_types_complex.py": "deliberate: dicts keep their order",
    "basics/types/dict_to_model_inputs.py": "deliberate: no flyte.types._type_engine",
    "advanced/multi_run.py": "deliberate: no flyte.remote",
    "plugins/sleep_example.py": "deliberate: no flyte.extras",
}

WORKER = r"""
import json, os, re, runpy, sys, tempfile, time, pathlib, traceback
runner, path = sys.argv[1], sys.argv[2]
folder = pathlib.Path(tempfile.mkdtemp(prefix="flyte2-example-"))
if runner == "flytelite":
    os.environ["FLYTELITE_CACHE_URL"] = str(folder / "cache")
    os.environ["FLYTELITE_RUNS_DIR"] = str(folder / "runs")
    import flytelite.compat
    flytelite.compat.install()
    import flyte
else:
    import flyte
    from flyte._persistence._db import LocalDB
    LocalDB._get_cache_dir = staticmethod(lambda: folder / "cache")
    flyte.init()

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")
_PATH = re.compile(r"(?:file://)?(?:/[^/\s'\",)\]}>]+){2,}")
_HEX = re.compile(r"\b[0-9a-f]{16,}\b")  # random and content-derived file names
_TEMP = re.compile(r"(?<=_)[a-z0-9_]{8}(?=')|(?<=tmp)[a-z0-9_]{8}")  # tempfile names
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?")

def blank(text):
    # Paths, addresses and clock readings differ from run to run; a time zone does not.
    text = _PATH.sub("<path>", _ADDRESS.sub("", text))
    return _TEMP.sub("<tmp>", _HEX.sub("<hex>", _TIME.sub("<time>", text)))

outcomes = []

def canon(value):
    # Flyte 2 hands dicts back from a protobuf map, in its own key order: compare by content.
    if type(value) is dict:
        return {k: canon(value[k]) for k in sorted(value, key=repr)}
    if type(value) in (list, tuple):
        return type(value)(canon(v) for v in value)
    return value

def finished(run):
    try:
        outputs = run.outputs()
        shown = repr(canon(tuple(outputs)))
    except Exception as e:
        shown = f"outputs() raised {type(e).__name__}"
    outcomes.append(blank(shown))
    return run

def failed(e):
    code = getattr(e, "code", None)
    outcomes.append(blank(f"raised {type(e).__name__} code={code}: {e}"[:300]))

class Local:
    # A run context made local, recording what each run gives.
    def __init__(self, ctx):
        self.ctx = ctx
    def run(self, task, *args, **kwargs):
        try:
            return finished(self.ctx.run(task, *args, **kwargs))
        except Exception as e:
            failed(e)
            raise
    async def _aio(self, task, *args, **kwargs):
        try:
            return finished(await self.ctx.run.aio(task, *args, **kwargs))
        except Exception as e:
            failed(e)
            raise

original = flyte.with_runcontext

def with_runcontext(*args, **options):
    options.pop("mode", None)
    if args:
        args = args[1:]
    options.setdefault("raw_data_path", str(folder / "raw"))
    ctx = original("local", *args, **options)
    if runner == "flyte":
        ctx._metadata_path = str(folder / "metadata")
    return _Runner(Local(ctx))

class _RunMethod:
    def __init__(self, local):
        self.local = local
    def __call__(self, task, *args, **kwargs):
        return self.local.run(task, *args, **kwargs)
    def aio(self, task, *args, **kwargs):
        return self.local._aio(task, *args, **kwargs)

class _Runner:
    def __init__(self, local):
        self.run = _RunMethod(local)

class _Dual:
    def __init__(self, sync, aio=None):
        self.sync, self._aio = sync, aio
    def __call__(self, *args, **kwargs):
        return self.sync(*args, **kwargs)
    def aio(self, *args, **kwargs):
        if self._aio is not None:
            return self._aio(*args, **kwargs)
        async def done():
            return self.sync(*args, **kwargs)
        return done()

def nothing(*args, **kwargs):
    return None

flyte.with_runcontext = with_runcontext
flyte.run = _Dual(lambda task, *a, **k: with_runcontext().run(task, *a, **k),
                  lambda task, *a, **k: with_runcontext().run.aio(task, *a, **k))
for name in ("init", "init_from_config", "init_from_api_key", "init_in_cluster",
             "init_passthrough"):
    setattr(flyte, name, _Dual(nothing))

os.chdir(os.path.dirname(os.path.abspath(path)))
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
sys.argv = [path]
ended = "ok"
start = time.perf_counter()
try:
    runpy.run_path(path, run_name="__main__")
except SystemExit as e:
    ended = "ok" if e.code in (None, 0) else f"exit {e.code}"
except BaseException as e:
    ended = blank(f"{type(e).__name__}: {e}".splitlines()[0][:200])
    traceback.print_exc()
seconds = time.perf_counter() - start
sys.stdout.flush()
print("\nRESULT " + json.dumps({"runs": outcomes, "ended": ended, "seconds": seconds}),
      flush=True)
"""


def progress(message: str) -> None:
    print(f"[examples] {message}", file=sys.stderr, flush=True)


def run_example(runner: str, path: Path, timeout: float) -> dict[str, Any]:
    """One runner's outcome of one example, from a fresh interpreter."""
    env = {
        **os.environ,
        "FLYTELITE_PROGRESS": "0",
        "PYTHONWARNINGS": "ignore",
        "PYTHONHASHSEED": "0",
    }
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, runner, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"runs": [], "ended": f"timed out after {timeout:g} s", "seconds": timeout}
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return {"runs": [], "ended": f"crashed: {tail[0][:120]}", "seconds": None}
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["stderr"] = done.stderr[-4000:]
    result["wall"] = time.perf_counter() - start
    return result


def verdict(theirs: dict[str, Any], ours: dict[str, Any], case: str = "") -> str:
    """`same`, `differs` or `fails` (flytelite), given Flyte 2's outcome; `not local` when
    Flyte 2's local runner itself does not run the example to its end; a note of `NOTES`
    when flytelite's outcome is not the same for the reason it gives."""
    if theirs["ended"] != "ok":
        return "not local"
    if ours["runs"] == theirs["runs"] and ours["ended"] == "ok":
        return "same"
    return NOTES.get(case) or ("fails" if ours["ended"] != "ok" else "differs")


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1e3:,.0f} ms" if value < 10 else f"{value:,.1f} s"


def _shown(result: dict[str, Any]) -> str:
    runs = len(result["runs"])
    ended = result["ended"] if result["ended"] == "ok" else result["ended"][:70]
    return f"{runs} run{'s' if runs != 1 else ''}, {ended}".replace("|", "\\|")


def discover(examples: Path) -> list[str]:
    """Every example script whose `__main__` block starts a run."""
    found = []
    for path in sorted(examples.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "__main__" in text and ("flyte.run(" in text or ".run(" in text) and "flyte" in text:
            found.append(str(path.relative_to(examples)))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, required=True, help="flyte-sdk's examples/")
    parser.add_argument("--all", action="store_true", help="every example whose main runs")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per script")
    parser.add_argument("--jobs", type=int, default=2, help="scripts run at the same time")
    parser.add_argument("--json", type=Path, help="also write every outcome to this file")
    parser.add_argument(
        "--reuse", type=Path, help="take Flyte 2's outcomes from a --json file of an earlier run"
    )
    parser.add_argument("--verbose", action="store_true", help="show differing outcomes")
    parser.add_argument("cases", nargs="*", help="examples to run (default: the case list)")
    args = parser.parse_args(argv)
    examples: Path = args.examples.resolve()
    cases = args.cases or (discover(examples) if args.all else CASES)
    load = os.getloadavg()[0]

    earlier = {c: t for c, t, _ in json.loads(args.reuse.read_text())} if args.reuse else {}

    def both(case: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        path = examples / case
        theirs = earlier.get(case) or run_example("flyte", path, args.timeout)
        ours = run_example("flytelite", path, args.timeout)
        progress(f"{case}: {verdict(theirs, ours, case)}")
        return case, theirs, ours

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(both, cases))
    counts: Counter[str] = Counter()
    totals = {"flyte": 0.0, "flytelite": 0.0}
    print(
        f"Flyte 2 SDK examples: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load:.1f} at start, {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| example | Flyte 2 local runner | time | flytelite | time | verdict |")
    print("|---|---|---:|---|---:|---|")
    for case, theirs, ours in results:
        found = verdict(theirs, ours, case)
        counts[found.split(":")[0]] += 1
        if found != "not local":
            totals["flyte"] += theirs["seconds"] or 0.0
            totals["flytelite"] += ours["seconds"] or 0.0
        print(
            f"| {case} | {_shown(theirs)} | {seconds(theirs['seconds'])} | {_shown(ours)} | "
            f"{seconds(ours['seconds'])} | {found} |"
        )
    local = len(results) - counts["not local"]
    print()
    print(
        f"{len(results)} examples tried; Flyte 2's local runner runs {local}. Of those, "
        f"flytelite: {counts['same']} same, {counts['differs']} differ, {counts['fails']} fail, "
        f"{counts['deliberate']} differ deliberately, {counts['random']} print random values. "
        f"Total time of those {local}: Flyte 2 {seconds(totals['flyte'])}, "
        f"flytelite {seconds(totals['flytelite'])}."
    )
    if args.verbose:
        for case, theirs, ours in results:
            if verdict(theirs, ours, case) in ("differs", "fails"):
                print(f"\n### {case}\nflyte:     {theirs['runs']} {theirs['ended']}")
                print(f"flytelite: {ours['runs']} {ours['ended']}")
                print("flytelite stderr tail:\n" + ours.get("stderr", "")[-1500:])
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
