"""What a code fingerprint costs: once per task and process, and nothing per call.

Prints one Markdown table for this machine:

    scripts/bench fingerprint            # this repository's tasks, and two large packages
    scripts/bench fingerprint --quick    # one repeat

Rows:
- every task defined in this repository's examples and test programs, each
  fingerprinted in a fresh process state (the first cached call's cost);
- a task that reaches most of a large real package: the package's source is copied
  out of site-packages into a temporary folder and imported from there, so that
  the fingerprint follows it as it would follow a user's own project
  (`rich`, about 80 modules; `distributed`, about 200);
- revalidation at the start of a run (identity checks of what was read), and the
  per-call cost of reading a task's version, which is what the hot path pays.

Like every benchmark here it reports timings and asserts only correctness.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import flytelite as fl
from flytelite import _fingerprint
from flytelite._context import runs_started

REPO = Path(__file__).resolve().parent.parent


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def repo_tasks() -> list[fl.Task[..., Any]]:
    """The tasks of this repository's example and test programs."""
    tasks: list[fl.Task[..., Any]] = []
    files = sorted((REPO / "examples").glob("*.py")) + sorted(
        (REPO / "tests" / "flyte_programs").glob("*.py")
    )
    for file in files:
        if file.parent.name == "flyte_programs":
            continue  # Flyte 2 programs need the compatibility surface; covered by their tests
        name = f"bench_fp_{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(file.parent))
        spec.loader.exec_module(module)
        tasks.extend(v for v in vars(module).values() if isinstance(v, fl.Task))
    return tasks


def fresh(task: fl.Task[..., Any]) -> _fingerprint.Fingerprint:
    return _fingerprint.fingerprint(task.func, name=task.name)


def package_task(package: str, workdir: Path) -> tuple[fl.Task[..., Any], int]:
    """A task that reaches most of `package`, imported from a copy outside site-packages."""
    original = importlib.import_module(package)
    source = Path(original.__file__).parent  # type: ignore[arg-type]
    copy = workdir / package
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[name]
    sys.path.insert(0, str(workdir))
    modules = 0
    for file in sorted(copy.rglob("*.py")):
        dotted = ".".join(file.relative_to(workdir).with_suffix("").parts)
        dotted = dotted.removesuffix(".__init__")
        try:
            importlib.import_module(dotted)
            modules += 1
        except Exception:
            continue
    imported = sys.modules[package]
    assert str(workdir) in (imported.__file__ or ""), imported.__file__
    # The task references every public function and class of every module.
    names = {}
    for dotted, module in list(sys.modules.items()):
        if dotted == package or dotted.startswith(f"{package}."):
            for attr, value in vars(module).items():
                if attr.startswith("_") or not isinstance(value, (type, types.FunctionType)):
                    continue
                if getattr(value, "__module__", "") == dotted:
                    names[f"{dotted.replace('.', '_')}_{attr}"] = value
    env = fl.TaskEnvironment(f"bench_fp_{package}")
    namespace: dict[str, Any] = {"env": env, "REFERENCED": None, **names}
    body = "\n".join(f"    _ = {n}" for n in names) or "    pass"
    exec(
        f"@env.task(cache=True)\ndef reach_all(x: int) -> int:\n{body}\n    return x\n",
        namespace,
    )
    return namespace["reach_all"], modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5
    rows: list[tuple[str, str, str, str]] = []

    tasks = repo_tasks()
    costs, parts = [], 0
    for task in tasks:
        seconds, fp = timed(lambda t=task: fresh(t), repeats)
        costs.append(seconds)
        parts += len(fp.parts)
    rows.append(
        (
            f"this repository: {len(tasks)} tasks (examples)",
            f"{parts} parts",
            f"{statistics.median(costs) * 1e3:.2f} ms median, {max(costs) * 1e3:.2f} ms max",
            f"{sum(costs) * 1e3:.1f} ms in all",
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        for package in ("rich", "distributed"):
            if importlib.util.find_spec(package) is None:
                rows.append((f"{package}: not installed", "", "", ""))
                continue
            workdir = Path(tmp) / package
            workdir.mkdir()
            task, modules = package_task(package, workdir)
            cold, fp = timed(lambda t=task: fresh(t), 1)
            warm, again = timed(lambda t=task: fresh(t), repeats)
            assert again.version == fp.version
            kinds = {"helper", "method", "class"}
            followed = sum(1 for p in fp.parts if p.split(" ", 1)[0] in kinds)
            rows.append(
                (
                    f"{package}, copied into a project ({modules} modules)",
                    f"{len(fp.parts)} parts ({followed} functions, methods and classes)",
                    f"{cold * 1e3:.0f} ms",
                    "the first task that reaches it, once per process",
                )
            )
            rows.append(
                (
                    f"{package}: another task reaching the same code",
                    "",
                    f"{warm * 1e3:.0f} ms",
                    "bytecode is decoded once per process",
                )
            )
            task.fingerprint  # noqa: B018 (memoise it for the rows below)
            runs_started[0] += 1
            revalidate, _ = timed(
                lambda t=task: (runs_started.__setitem__(0, runs_started[0] + 1), t.fingerprint),
                repeats,
            )
            rows.append(
                (
                    f"{package}: revalidation at a run's start",
                    f"{len(fp.reads)} globals checked",
                    f"{revalidate * 1e3:.2f} ms",
                    "once per task and run",
                )
            )
            n = 200_000
            started = time.perf_counter()
            for _ in range(n):
                task.cache_version  # noqa: B018
            per_call = (time.perf_counter() - started) / n
            rows.append(
                (
                    f"{package}: reading the version, per call",
                    "",
                    f"{per_call * 1e9:.0f} ns",
                    "what the hot path pays",
                )
            )

    print(
        f"Code fingerprints on {sys.platform}, Python {sys.version.split()[0]} (best of {repeats})"
    )
    print()
    print("| workload | size | cost | when |")
    print("|---|---|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
