"""flytelite beside its peers: the same workloads, on this machine, in one run.

Prints one Markdown table and, for a full run, writes it to benchmarks/RESULTS.md
with the machine's description and how each peer was set up:

    scripts/bench peers               # the full run (about 10 minutes on 2 cores)
    scripts/bench peers --quick       # a smoke run: small N, one repeat, nothing written
    scripts/bench peers --peers flyte,joblib --profile

Every system runs in its own interpreter (`benchmarks/_peers/run_<system>.py`), so
that one's imports and heap cannot slow another's, and prefect can live in its own
virtualenv (`--prefect-python`, default /tmp/prefect-venv/bin/python; `--setup`
creates it and installs the other peers here). Workloads:

1. uncached async tasks gathered from one parent: per task;
2. cache hits on a warm local store: per task;
3. miss + populate on an empty store: per task;
4. a 200 MB numpy array input (hash + hit), and a 200 MB bytes output (hit);
5. a map of 200 x 0.5 s sleeps with concurrency 50: wall time;
6. `import` of the package in a fresh interpreter: median of 10;
7. RSS per in-flight call, with N calls all in flight at once;
8. (flytelite) per-task cost at 1k, 10k and 100k tasks;
9. a 1,000-node dynamic workflow: first run and re-run.

Slow peers run a smaller N; figures are per task (or per node), so N cancels out.
Like every benchmark here, it reports timings and never asserts on them; each
worker asserts correctness (results right, hits really hits, misses really run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _results import RESULTS, write_section  # benchmarks/_results.py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKERS = HERE / "_peers"
PREFECT_VENV = Path("/tmp/prefect-venv")
WORKER_TIMEOUT_S = 900

# -- targets (issues 7 and 19) -----------------------------------------------------------
T_UNCACHED_US, T_UNCACHED_FLOOR, T_UNCACHED_FLYTE = 12.0, 1.5, 40.0
T_HIT_US, T_HIT_FLYTE, T_HIT_JOBLIB, T_HIT_FLOOR = 80.0, 6.0, 2.0, 2.0
T_HIT_DISKCACHE = 1.0  # at least as fast as diskcache's memoize hit, still verifying content
T_MISS_US, T_MISS_FLOOR = 250.0, 1.5
T_ARRAY_S = 0.15
T_MAP_S = 2.5
T_IMPORT_MS = 50.0
T_MEMORY_KB = 5.0
T_SCALING = 1.5
MAP_IDEAL_S = 200 / 50 * 0.5


@dataclass
class System:
    """One system under test, and how its worker is run."""

    name: str
    module: str  # what `import` loads
    title: str  # column header
    n: int  # tasks per run, full
    quick_n: int
    repeats: int
    workloads: tuple[str, ...]
    memory_n: int = 0  # calls in flight for workload 7 (0: not measured)
    python: str = sys.executable
    setup: str = ""
    missing: str = ""  # why it did not run
    versions: dict[str, str] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)

    def get(self, workload: str, figure: str) -> Any:
        found = self.results.get(workload) or {}
        return found.get(figure)

    def error(self, workload: str) -> str | None:
        found = self.results.get(workload) or {}
        return found.get("error")


SETUP = {
    "flytelite": (
        "`fl.run(parent, n, cache_url=<fresh temp folder>, progress=False)`; the parent "
        "`asyncio.gather`s its children; cached tasks `@env.task(cache=True, "
        'cache_version="1")`; the map is `fl.map.aio(nap, range(200), concurrency=50)`; '
        "workload 9 is `@env.dynamic` over cached tasks, with "
        '`cache=fl.Cache(behavior="override", version="1")` for 9a/9b so that the DAG '
        "runs on every call (its spec is still looked up and stored) and `cache=True` for 9c."
    ),
    "flyte": (
        '`flyte.init()`, then `flyte.with_runcontext(mode="local", raw_data_path=<temp>)'
        ".run(...)`, the run metadata in a temp folder; async tasks gathered from a "
        'parent task; cached tasks `cache="auto"` (its local runner reads the cache only '
        "for auto); the sqlite cache (`~/.flyte/local-cache/cache.db`, no public setting "
        "moves it) is pointed at a fresh temp folder per workload by patching "
        "`LocalDB._get_cache_dir`, as in benchmarks/overhead.py. The map is "
        "`flyte.map.aio(nap, ..., concurrency=50)`, which local mode runs one item after "
        "another: timed on a few items and scaled to 200; the cell also gives the same "
        "200 naps with `asyncio.gather` and a `Semaphore(50)`. Workload 9: a parent task "
        "that gathers the DAG level by level (Flyte 2 has no compiled dynamic spec)."
    ),
    "joblib": (
        "`joblib.Memory(location=<fresh temp folder>, verbose=0)` (no compression, no "
        "mmap) and `memory.cache(f)(x)` in a plain loop; joblib has no async tasks: "
        "workload 1 is `Parallel(n_jobs=1)(delayed(f)(i) for i in range(n))`, a "
        "sequential loop (the fastest setting for trivial bodies, not concurrent); the "
        'map is `Parallel(n_jobs=50, backend="threading")`. No workflows (9) and no '
        "in-flight calls (7)."
    ),
    "diskcache": (
        "`diskcache.Cache(<fresh temp folder>)` (SQLite for keys and small values, "
        "defaults otherwise: values pickled, not checksummed) and "
        "`cache.memoize()(f)(x)` in a plain loop; a key-value store, not a workflow "
        "runner: only the cache workloads (2, 3, 4)."
    ),
    "redun": (
        "lazy `@task`s evaluated by `Scheduler(config=Config(...)).run(expr)`, a new "
        "scheduler per run; uncached runs record to an in-memory sqlite database "
        "(`sqlite:///:memory:`, the fastest), cached ones to a sqlite file in a fresh temp "
        "folder (a warm store outlives the scheduler; redun's default is "
        "`.redun/redun.db`); local thread executor, `max_workers` 20 (50 for the map); "
        "redun caches by default, uncached tasks say `cache=False`. The fan-out returns "
        "`total([add_one(i) for i in range(n)])`; workload 9 returns the whole DAG as one "
        "expression. Tasks are sync: no in-flight measurement (7)."
    ),
    "prefect": (
        "its own virtualenv (prefect 3.8.8 with `fastapi>=0.139,<0.150`: fastapi 0.165 "
        "breaks prefect's server, `Body(min_items=...)`); ephemeral mode (no "
        "`PREFECT_API_URL`: prefect starts a temporary local server on 127.0.0.1 with "
        "sqlite, once per process); `PREFECT_HOME` and `PREFECT_LOCAL_STORAGE_PATH` in "
        "temp folders, logging at WARNING and not sent to the API, telemetry off. Async "
        "`@task`s gathered in an async `@flow`; cached tasks `cache_policy=INPUTS + "
        "TASK_SOURCE, persist_result=True` (pickled results in local files; the default "
        "policy also keys on the flow run, so it never hits across runs); an empty store "
        "is an emptied storage folder. The map is `nap.map(range(200))` under "
        "`ThreadPoolTaskRunner(max_workers=50)`. Workload 9: a flow that gathers the "
        "DAG level by level."
    ),
}


def systems(prefect_python: str) -> list[System]:
    everything = ("uncached", "hit", "miss", "big", "map")
    return [
        System(
            "flytelite",
            "flytelite",
            "flytelite",
            10_000,
            1_000,
            3,
            ("memory", *everything, "scaling", "dynamic"),
            memory_n=10_000,
        ),
        System(
            "flyte",
            "flyte",
            "flyte (Flyte 2, local)",
            1_000,
            100,
            3,
            ("memory", *everything, "dynamic"),
            memory_n=1_000,
        ),
        System("joblib", "joblib", "joblib.Memory", 2_000, 200, 3, everything),
        System("diskcache", "diskcache", "diskcache", 10_000, 1_000, 3, ("hit", "miss", "big")),
        System("redun", "redun", "redun", 100, 30, 2, (*everything, "dynamic")),
        System(
            "prefect",
            "prefect",
            "prefect 3 (ephemeral)",
            100,
            20,
            1,
            ("memory", *everything, "dynamic"),
            memory_n=200,
            python=prefect_python,
        ),
    ]


# -- running workers ------------------------------------------------------------------


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout is the table alone."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def available(system: System) -> str:
    """Why `system` cannot run here, or ""."""
    if not Path(system.python).exists():
        return f"not installed (no {system.python}: see `--setup`)"
    mod = system.module
    probe = subprocess.run(
        [system.python, "-c", f"import importlib.util as u; print(bool(u.find_spec({mod!r})))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.stdout.strip() != "True":
        return "not installed (see `--setup`)"
    return ""


def kill_group(pid: int, sig: int) -> None:
    """Signal the session that `run_worker` started for one worker, if any of it is left."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def run_worker(
    system: System,
    workloads: list[str],
    n: int,
    repeats: int,
    quick: bool,
    root: Path,
    log: Path,
) -> dict[str, Any]:
    """Run `workloads` in a fresh interpreter; return its JSON (partial if it died)."""
    out = Path(tempfile.mkstemp(suffix=".json", dir=root)[1])
    command = [
        system.python,
        str(WORKERS / f"run_{system.name}.py"),
        "--workloads",
        ",".join(workloads),
        "--n",
        str(n),
        "--repeats",
        str(repeats),
        "--tmp",
        str(root),
        "--out",
        str(out),
    ]
    if quick:
        command.append("--quick")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTELITE_")}
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        # A session of its own: a peer's helpers (prefect's server) end with it.
        proc = subprocess.Popen(
            command,
            cwd=WORKERS,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        assert proc.stdout is not None
        timer = threading.Timer(WORKER_TIMEOUT_S, kill_group, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            for line in proc.stdout:
                sink.write(line)
                if line.startswith("[bench]"):
                    print(line.rstrip(), file=sys.stderr, flush=True)
            proc.wait()
        finally:
            timer.cancel()
        if proc.returncode == -signal.SIGKILL:
            sink.write(f"killed after {WORKER_TIMEOUT_S} s\n")
        kill_group(proc.pid, signal.SIGTERM)  # what the worker left behind (prefect's server)
    try:
        data: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        data = {"versions": {}, "workloads": {}}
    for name in workloads:
        data["workloads"].setdefault(
            name, {"error": f"worker exited with {proc.returncode}; see {log}"}
        )
    return data


def import_ms(python: str, module: str, repeats: int, root: Path) -> float:
    """Median ms of `import module` alone, each in a fresh interpreter, bytecode cached
    (in a temporary PYTHONPYCACHEPREFIX, written by a first untimed import)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="pycache-", dir=root)
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"

    def once() -> float:
        done = subprocess.run(
            [python, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
        )
        return float(done.stdout.strip().splitlines()[-1]) * 1e3

    once()
    return statistics.median(once() for _ in range(repeats))


# -- the machine ----------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": platform.platform(),
        "Python": f"{platform.python_version()} ({sys.executable})",
    }


# -- formatting -----------------------------------------------------------------------


def f_us(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f} µs" if v >= 100 else f"{v:.1f} µs"


def f_s(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f} s" if v >= 100 else f"{v:.2f} s" if v >= 1 else f"{v:.3f} s"


def f_ms(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f} ms"


def f_kb(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} KB"


def times(v: float) -> str:
    return f"{v:,.0f}x" if v >= 100 else f"{v:.1f}x" if v >= 10 else f"{v:.2f}x"


def yes(ok: bool | None) -> str:
    return "—" if ok is None else "yes" if ok else "**no**"


def ratio(peer: float | None, ours: float | None) -> float | None:
    if peer is None or ours is None or ours <= 0:
        return None
    return peer / ours


def peer_cell(
    system: System, workload: str, value: float | None, ours: float | None, fmt: Any, note: str = ""
) -> str:
    if system.missing:
        return system.missing.split(" (")[0]
    error = system.error(workload)
    if error:
        return f"failed ({error.split(':')[0]})"
    if workload not in system.workloads or value is None:
        return "n/a"
    r = ratio(value, ours)
    text = fmt(value) + (f" {note}" if note else "")
    return text if r is None else f"{text} · {times(r)}"


# -- the table ------------------------------------------------------------------------


def table(
    all_systems: list[System], imports: dict[str, float | None], import_runs: int
) -> tuple[str, list[str]]:
    fl = all_systems[0]
    peers = all_systems[1:]
    by_name = {s.name: s for s in all_systems}
    flyte, joblib, diskcache = by_name["flyte"], by_name["joblib"], by_name["diskcache"]
    notes: list[str] = []

    def g(system: System, w: str, f: str) -> Any:
        return None if system.missing else system.get(w, f)

    rows: list[list[str]] = []

    def add_row(
        name: str,
        ours: str,
        floor: str,
        target: str,
        met: str,
        cells: list[str],
    ) -> None:
        rows.append([name, ours, floor, target, met, *cells])

    def cells(workload: str, figure: str, ours: float | None, fmt: Any) -> list[str]:
        return [peer_cell(p, workload, g(p, workload, figure), ours, fmt) for p in peers]

    # 1. uncached
    us, floor = g(fl, "uncached", "us"), g(fl, "uncached", "floor_us")
    r_flyte = ratio(g(flyte, "uncached", "us"), us)
    add_row(
        "1. uncached async tasks gathered from one parent, per task",
        f_us(us),
        f"{f_us(floor)} (plain asyncio)",
        f"≤ {T_UNCACHED_US:g} µs · ≤ {T_UNCACHED_FLOOR:g}x floor · ≥ {T_UNCACHED_FLYTE:g}x "
        "faster than flyte",
        " · ".join(
            [
                yes(None if us is None else us <= T_UNCACHED_US),
                yes(None if us is None or not floor else us / floor <= T_UNCACHED_FLOOR),
                yes(None if r_flyte is None else r_flyte >= T_UNCACHED_FLYTE),
            ]
        ),
        cells("uncached", "us", us, f_us),
    )
    if us is not None and floor:
        notes.append(
            f"Row 1: flytelite is {times(us / floor)} the plain-asyncio floor, "
            f"{us - floor:+.1f} µs per task against it."
        )

    # 2. hit
    us, floor = g(fl, "hit", "us"), g(fl, "hit", "floor_us")
    r_flyte, r_joblib = ratio(g(flyte, "hit", "us"), us), ratio(g(joblib, "hit", "us"), us)
    r_diskcache = ratio(g(diskcache, "hit", "us"), us)
    add_row(
        "2. cache hit on a warm local store, per task",
        f_us(us),
        f"{f_us(floor)} (open/read/pickle.loads of its entry files)",
        f"≤ {T_HIT_US:g} µs · ≥ {T_HIT_FLYTE:g}x flyte · ≥ {T_HIT_JOBLIB:g}x joblib · "
        f"≥ {T_HIT_DISKCACHE:g}x diskcache · ≤ {T_HIT_FLOOR:g}x floor",
        " · ".join(
            [
                yes(None if us is None else us <= T_HIT_US),
                yes(None if r_flyte is None else r_flyte >= T_HIT_FLYTE),
                yes(None if r_joblib is None else r_joblib >= T_HIT_JOBLIB),
                yes(None if r_diskcache is None else r_diskcache >= T_HIT_DISKCACHE),
                yes(None if us is None or not floor else us / floor <= T_HIT_FLOOR),
            ]
        ),
        cells("hit", "us", us, f_us),
    )
    if us is not None and floor:
        notes.append(
            f"Row 2: flytelite is {times(us / floor)} the read floor, "
            f"{us - floor:+.1f} µs per hit against it (a hit also runs the call: the "
            f"uncached call of row 1 is {f_us(g(fl, 'uncached', 'us'))})."
        )

    # 3. miss
    us, floor = g(fl, "miss", "us"), g(fl, "miss", "floor_us")
    add_row(
        "3. miss + populate on an empty store, per task",
        f_us(us),
        f"{f_us(floor)} (write + rename of the same entries, no fsync)",
        f"≤ {T_MISS_US:g} µs · ≤ {T_MISS_FLOOR:g}x floor",
        " · ".join(
            [
                yes(None if us is None else us <= T_MISS_US),
                yes(None if us is None or not floor else us / floor <= T_MISS_FLOOR),
            ]
        ),
        cells("miss", "us", us, f_us),
    )

    # 4. big values
    s, floor = g(fl, "big", "array_s"), g(fl, "big", "blake3_s")
    flyte_cells = cells("big", "array_s", s, f_s)
    if not flyte.missing and g(flyte, "big", "array_hit") is False:
        flyte_cells[0] = peer_cell(
            flyte, "big", g(flyte, "big", "array_s"), s, f_s, "(a miss: the input is pickled)"
        )
    add_row(
        "4a. 200 MB numpy array input: hash + hit",
        f_s(s),
        f"{f_s(floor)} (one blake3 pass)",
        f"≤ {T_ARRAY_S:g} s",
        yes(None if s is None else s <= T_ARRAY_S),
        flyte_cells,
    )
    s, floor = g(fl, "big", "bytes_s"), g(fl, "big", "read_s")
    add_row(
        "4b. 200 MB bytes output: hit",
        f_s(s),
        f"{f_s(floor)} (read of the entry and of its blob, pickle.loads)",
        "—",
        "—",
        cells("big", "bytes_s", s, f_s),
    )

    # 5. map
    s = g(fl, "map", "s")
    map_cells = cells("map", "s", s, f_s)
    gather_s = g(flyte, "map", "gather_s")
    if gather_s is not None and not flyte.error("map"):
        items = g(flyte, "map", "items")
        map_cells[0] = (
            peer_cell(
                flyte, "map", g(flyte, "map", "s"), s, f_s, f"(`flyte.map`, from {items} items)"
            )
            + f"; gather + semaphore: {f_s(gather_s)} · {times(gather_s / s) if s else '—'}"
        )
    add_row(
        "5. map of 200 x 0.5 s sleeps, concurrency 50: wall",
        f_s(s),
        f"{f_s(MAP_IDEAL_S)} (200 / 50 x 0.5 s)",
        f"≤ {T_MAP_S:g} s",
        yes(None if s is None else s <= T_MAP_S),
        map_cells,
    )

    # 6. import
    ms = imports.get("flytelite")
    import_cells = []
    for p in peers:
        if p.missing:
            import_cells.append(p.missing.split(" (")[0])
            continue
        v = imports.get(p.name)
        r = ratio(v, ms)
        import_cells.append(f"{f_ms(v)} · {times(r)}" if r is not None else f_ms(v))
    add_row(
        f"6. `import` in a fresh interpreter (median of {import_runs})",
        f_ms(ms),
        f"{f_ms(imports.get('asyncio'))} (`import asyncio`)",
        f"≤ {T_IMPORT_MS:g} ms",
        yes(None if ms is None else ms <= T_IMPORT_MS),
        import_cells,
    )

    # 7. memory
    kb, floor = g(fl, "memory", "kb"), g(fl, "memory_floor", "kb")
    add_row(
        "7. RSS per in-flight call, N calls awaiting one event",
        f_kb(kb),
        f"{f_kb(floor)} (plain asyncio)",
        f"≤ {T_MEMORY_KB:g} KB",
        yes(None if kb is None else kb <= T_MEMORY_KB),
        cells("memory", "kb", kb, f_kb),
    )

    notes.append(
        "Row 7, N in flight: "
        + ", ".join(f"{s.name} {s.memory_n:,}" for s in all_systems if s.memory_n and not s.missing)
        + " (the floor: flytelite's N)."
    )

    # 8. scaling
    sizes, us_list = g(fl, "scaling", "sizes"), g(fl, "scaling", "us")
    floor_list = g(fl, "scaling", "floor_us")
    if sizes and us_list:

        def row(values: list[float]) -> str:
            parts = [f"{size // 1000}k: {f_us(v)}" for size, v in zip(sizes, values)]
            return " · ".join(parts) + f" ({times(values[-1] / values[0])})"

        scale = us_list[-1] / us_list[0]
        nogc = g(fl, "scaling", "floor_nogc_us") or []
        notes.append(
            "Row 8: flytelite / floor at each size: "
            + ", ".join(times(a / b) for a, b in zip(us_list, floor_list))
            + "; the plain-asyncio floor with the cyclic GC off: "
            + " · ".join(f"{size // 1000}k: {f_us(v)}" for size, v in zip(sizes, nogc))
            + "."
        )
        add_row(
            "8. scaling: per task, uncached, net of an empty run",
            row(us_list),
            row(floor_list),
            f"{sizes[-1] // 1000}k ≤ {T_SCALING:g}x {sizes[0] // 1000}k",
            yes(scale <= T_SCALING),
            ["not run"] * len(peers),
        )
    else:
        add_row("8. scaling", "failed", "—", "—", "—", ["not run"] * len(peers))

    # 9. dynamic
    nodes = g(fl, "dynamic", "nodes")

    def per_node(system: System, figure: str) -> float | None:
        seconds, count = g(system, "dynamic", figure), g(system, "dynamic", "nodes")
        return None if seconds is None or not count else seconds / count * 1e6

    for label, figure in (
        ("9a. 1,000-node dynamic workflow, first run (empty store)", "first_s"),
        ("9b. re-run: spec hit + every node a hit", "rerun_s"),
    ):
        ours = per_node(fl, figure)
        total = g(fl, "dynamic", figure)
        add_row(
            label + ", per node",
            f"{f_us(ours)} ({f_s(total)} for {nodes or 0:,})",
            "—",
            "—",
            "—",
            [peer_cell(p, "dynamic", per_node(p, figure), ours, f_us) for p in peers],
        )
    notes.append(
        "Row 9, nodes: "
        + ", ".join(
            f"{s.name} {g(s, 'dynamic', 'nodes'):,}"
            for s in all_systems
            if g(s, "dynamic", "nodes")
        )
        + "."
    )
    add_row(
        "9c. re-run with `cache=True`: the workflow's own outputs hit",
        f_s(g(fl, "dynamic", "outputs_hit_s")),
        "—",
        "—",
        "—",
        [p.missing.split(" (")[0] if p.missing else "n/a" for p in peers],
    )

    header = ["workload", "flytelite", "floor", "target", "met?"]
    for p in peers:
        header.append(p.title if p.missing else f"{p.title} (N={p.n:,})")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---:", "---:", "---", ":---:"] + ["---:"] * len(peers)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines), notes


# -- setup ----------------------------------------------------------------------------


def setup(prefect_python: str) -> None:
    """Install the peers: joblib, diskcache and redun here, prefect in a virtualenv of its own
    (it would bring aiosqlite here, which changes flyte's local cache)."""
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "flyte>=2.0", "joblib>=1.3", "redun>=0.20", "diskcache>=5.6"], check=True)
    venv = Path(prefect_python).parent.parent
    if not Path(prefect_python).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            prefect_python,
            "-m",
            "pip",
            "install",
            "-q",
            "prefect==3.8.8",
            "fastapi>=0.139,<0.150",
            "numpy",
        ],
        check=True,
    )


# -- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, one repeat")
    parser.add_argument(
        "--peers", default="flyte,joblib,diskcache,redun,prefect", help="which peers"
    )
    parser.add_argument("--imports", type=int, default=10, help="fresh interpreters to time")
    parser.add_argument(
        "--prefect-python",
        default=os.environ.get("FLYTELITE_BENCH_PREFECT_PYTHON", str(PREFECT_VENV / "bin/python")),
        help="the interpreter that has prefect",
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile hits and misses")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md even if --quick")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--setup", action="store_true", help="install the peers, then exit")
    args = parser.parse_args(argv)
    if args.setup:
        setup(args.prefect_python)
        return
    if args.quick:
        args.imports = min(args.imports, 3)
    chosen = {"flytelite", *args.peers.split(",")}
    all_systems = systems(args.prefect_python)
    for system in all_systems:
        system.setup = SETUP[system.name]
        if system.name not in chosen:
            system.missing = "not run (--peers)"
        else:
            system.missing = available(system)

    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="flytelite-peers-"))
    log = root / "workers.log"
    clock = time.perf_counter()
    imports: dict[str, float | None] = {}
    profile: dict[str, Any] = {}
    try:
        for system in all_systems:
            if system.missing:
                progress(f"{system.name}: {system.missing}")
                continue
            n = system.quick_n if args.quick else system.n
            system.n = n
            repeats = 1 if args.quick else system.repeats
            todo = list(system.workloads)
            if system.memory_n:  # first, in a fresh process: nothing freed yet to reuse
                memory_n = min(system.memory_n, n) if args.quick else system.memory_n
                system.memory_n = memory_n
                progress(f"{system.name}: memory ({memory_n:,} in flight)")
                data = run_worker(system, ["memory"], memory_n, repeats, args.quick, root, log)
                system.results.update(data["workloads"])
                todo.remove("memory")
                if system.name == "flytelite":
                    data = run_worker(
                        system, ["memory_floor"], memory_n, repeats, args.quick, root, log
                    )
                    system.results.update(data["workloads"])
            progress(f"{system.name}: {', '.join(todo)} (N={n:,})")
            data = run_worker(system, todo, n, repeats, args.quick, root, log)
            system.results.update(data["workloads"])
            system.versions = data["versions"]
        progress("6. import times")
        imports["asyncio"] = import_ms(sys.executable, "asyncio", args.imports, root)
        for system in all_systems:
            if not system.missing:
                try:
                    imports[system.name] = import_ms(
                        system.python, system.module, args.imports, root
                    )
                except subprocess.CalledProcessError:
                    imports[system.name] = None
        if args.profile:
            progress("profile: flytelite hits and misses")
            fl = all_systems[0]
            data = run_worker(fl, ["profile"], fl.n, 1, args.quick, root, log)
            profile = data["workloads"]["profile"]
    finally:
        elapsed = time.perf_counter() - clock
        load_end = os.getloadavg()
        keep_log = any("error" in (r or {}) for s in all_systems for r in s.results.values())
        if keep_log:
            kept = Path(tempfile.gettempdir()) / "flytelite-peers-workers.log"
            shutil.copy(log, kept)
            progress(f"a workload failed: its output is in {kept}")
        shutil.rmtree(root, ignore_errors=True)

    text, notes = table(all_systems, imports, args.imports)
    errors = [
        f"- {s.name} {w}: {r['error']}"
        for s in all_systems
        for w, r in s.results.items()
        if r and "error" in r
    ]
    load = (
        f"load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end; "
        f"the suite took {elapsed / 60:.1f} min"
    )
    print(f"flytelite and its peers: {machine()['cores']} cores, {load}")
    print()
    print(text)
    print()
    for note in notes:
        print(note)
    for line in errors:
        print(line)
    if profile:
        for name in ("hit", "miss"):
            print(f"\ncProfile of a flytelite run of N={all_systems[0].n:,} cached calls, {name}:")
            print(profile.get(name, profile.get("error", "")))
    if (args.quick and not args.write) or args.no_write:
        return
    write_section(
        "peers", results_md(all_systems, text, notes, errors, started, load, imports, args)
    )
    progress(f"wrote {RESULTS.relative_to(REPO)}")


def results_md(
    all_systems: list[System],
    text: str,
    notes: list[str],
    errors: list[str],
    started: datetime,
    load: str,
    imports: dict[str, float | None],
    args: argparse.Namespace,
) -> str:
    fl = all_systems[0]
    versions: dict[str, str] = {}
    for s in all_systems:
        versions.update(s.versions)
    out = [
        "# flytelite and its peers",
        "",
        f"Written by `scripts/bench peers` (benchmarks/peers.py) on "
        f"{started.strftime('%Y-%m-%d %H:%M UTC')}; {load}. Figures are per task (per "
        "node in row 9) unless a time is given; a peer's cell ends in its ratio to "
        "flytelite (the peer's figure / flytelite's: above 1x, flytelite is faster or "
        "lighter). Peers run a smaller N where they are slow (in their header); per-task "
        "figures make N cancel out.",
        "",
        "## Machine",
        "",
    ]
    out += [f"- {k}: {v}" for k, v in machine().items()]
    out.append("- versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    out += ["", "## Results", "", text, ""]
    out += notes
    if errors:
        out += ["", "Failures:", *errors]
    out += [
        "",
        "## How it was measured",
        "",
        "- Each system runs in its own fresh interpreter, one after another (never two at "
        "once), each after an untimed warm-up of every kind of run it times; timed runs "
        "start from a collected heap. Rows 1-4 and 9: the best of "
        + ", ".join(f"{s.repeats} ({s.name})" for s in all_systems)
        + f" timed runs; row 5: the best of 2 (1 for prefect); row 6: the median of "
        f"{args.imports} fresh interpreters with bytecode cached.",
        f"- Per-task figures are the wall time of a whole run (the root call of the "
        f"framework, from call to result) divided by N: flytelite N = {fl.n:,}; the "
        "peers' N is in their header. Every cache workload uses its own fresh temp "
        "folder (an empty store for misses, one populated by an untimed run for hits).",
        "- Floors: row 1, the same coroutines gathered by `asyncio.run` without flytelite; "
        "row 2, a plain loop of open/read/`pickle.loads` over flytelite's own entry files "
        "of that run (`v1/<task>/<key>`: the payload between the header and the seal), no checks; "
        "row 4a, one multithreaded blake3 pass over the array; row 4b, a read of the entry "
        "file and of the blob that holds its pickle (over 1 MiB), and `pickle.loads`; "
        "row 7, the same awaiting coroutines under plain asyncio.",
        "- Row 7: a parent gathers N calls of a task that awaits one `asyncio.Event`; once "
        "every body has started, RSS (from /proc/self/statm) is read and the event set; "
        "(RSS then - RSS in the parent just before the gather) / N. Measured first, in a "
        f"process of its own. N: flytelite {fl.memory_n:,}, flyte "
        f"{all_systems[1].memory_n:,}, prefect {all_systems[4].memory_n:,}.",
        "- Row 8: (wall(N) - wall of the same run with N = 0) / N, so that fixed start-up "
        "costs do not flatter the small N; the ratio in parentheses is largest / smallest.",
        "- Row 9: `nodes // 2` leaves `square(i)`, a pairwise tree of `add(a, b)` over "
        "them, and one `finish(total)`: 1,000 cached calls (fewer for slow peers: see "
        "the node count in their results) whose result is checked. 9a starts from an "
        "empty store; 9b runs it again on the warm store. flytelite's row 9 runs the "
        "compiled DAG; Flyte 2 and prefect gather it level by level from a parent; redun "
        "evaluates one lazy expression.",
        "- Correctness is asserted, timings never: sums and sizes are checked; a hit "
        "run must execute no body (flytelite: every report row HIT; peers: a counter in "
        "the bodies) and a miss run must execute every body.",
        "",
        "## How each system was set up",
        "",
    ]
    for s in all_systems:
        status = f" ({s.missing})" if s.missing else ""
        n = f"N = {s.n:,}" if not s.missing else ""
        out.append(f"- **{s.name}**{status}: {n}{'; ' if n else ''}{s.setup}")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
