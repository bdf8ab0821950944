"""Real processes sharing one cache folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    import flytelite as fl

    env = fl.TaskEnvironment("shared_cache")

    @env.task(cache=True, cache_version="1")
    async def square(x: int) -> int:
        with open(os.environ["MARKS"], "a") as f:
            f.write(f"{os.getpid()} {x}\\n")
        await asyncio.sleep(0.05)
        return x * x

    @env.task
    async def root(n: int) -> list[int]:
        return list(await asyncio.gather(*(square(i) for i in range(n))))

    if __name__ == "__main__":
        run = fl.run(root, int(sys.argv[1]))
        statuses = [r.cache.value for r in run.report.by_task("square")]
        print(json.dumps({"outputs": run.outputs, "statuses": statuses}))
    """
)


def run_script(script: Path, n: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(n)], env=env, stdout=subprocess.PIPE, text=True
    )


def test_a_second_process_hits_what_the_first_wrote(tmp_path: Path, cache_dir: Path) -> None:
    script = tmp_path / "workflow.py"
    script.write_text(SCRIPT)
    marks = tmp_path / "marks.txt"
    env = {**os.environ, "FLYTELITE_CACHE_URL": str(cache_dir), "MARKS": str(marks)}

    first = run_script(script, 6, env)
    out1 = json.loads(first.communicate(timeout=60)[0])
    second = run_script(script, 8, env)
    out2 = json.loads(second.communicate(timeout=60)[0])

    assert out1["outputs"] == [i * i for i in range(6)]
    assert out2["outputs"] == [i * i for i in range(8)]
    assert out1["statuses"] == ["POPULATED"] * 6
    assert out2["statuses"] == ["HIT"] * 6 + ["POPULATED"] * 2
    executed = [line.split()[1] for line in marks.read_text().splitlines()]
    assert sorted(executed, key=int) == [str(i) for i in range(8)]


def test_concurrent_processes_on_one_cache_agree(tmp_path: Path, cache_dir: Path) -> None:
    script = tmp_path / "workflow.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "FLYTELITE_CACHE_URL": str(cache_dir),
        "MARKS": str(tmp_path / "marks.txt"),
    }
    procs = [run_script(script, 20, env) for _ in range(3)]
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(o["outputs"] == [i * i for i in range(20)] for o in outs)
    # Whoever wrote first, every entry is valid and a later process hits all of them.
    final = json.loads(run_script(script, 20, env).communicate(timeout=60)[0])
    assert final["statuses"] == ["HIT"] * 20
    assert not list(cache_dir.rglob("*.tmp"))
