"""Workflows in notebooks: cells run by a real IPython shell (in a subprocess of its own).

Re-running a cell that defines a task keeps its cache; editing a helper in another
cell changes the task's auto cache version; a `Run` or `Report` displayed as a cell's
value has an HTML form.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CELLS = [
    """
    import flytelite as fl

    env = fl.TaskEnvironment("notebook")

    def clean(text):
        return text.strip().lower()
    """,
    """
    @env.task(cache=True)
    def words(text: str) -> int:
        return len(clean(text).split())
    """,
    "run = fl.run(words, ' Hello World ', progress=False)",
    # the same cell again: the same task, the same version, a hit
    """
    @env.task(cache=True)
    def words(text: str) -> int:
        return len(clean(text).split())
    """,
    "run = fl.run(words, ' Hello World ', progress=False)",
    # the helper edited in its own cell: the task's version follows
    """
    def clean(text):
        return text.strip().lower().replace("world", "wide world")
    """,
    "run = fl.run(words, ' Hello World ', progress=False)",
    "run",
    "run.report",
]

DRIVER = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.display_formatter.active_types = ["text/plain", "text/html"]
shown = []
shell.display_pub.publish = lambda data, **kw: shown.append(data)
out = []
for cell in json.loads(sys.argv[1]):
    result = shell.run_cell(cell, store_history=True)
    error = result.error_before_exec or result.error_in_exec
    if error:
        raise SystemExit(f"cell failed: {cell!r}: {error!r}")
    run = shell.user_ns.get("run")
    value = result.result
    html = shell.display_formatter.format(value)[0].get("text/html") if value is not None else None
    row = run.report[0] if run is not None else None
    out.append({
        "outputs": run.outputs if run is not None else None,
        "cache": row.cache.value if row is not None else None,
        "reason": row.miss_reason.summary if row is not None and row.miss_reason else None,
        "html": html,
    })
print(json.dumps(out))
"""


def test_cells_rerun_edit_helpers_and_display_runs(tmp_path: Path, cache_dir: Path) -> None:
    cells = [textwrap.dedent(c).strip() for c in CELLS]
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(cells)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FLYTELITE_CACHE_URL": str(cache_dir),
            "IPYTHONDIR": str(tmp_path / "ipython"),
        },
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    first, again, edited = out[2], out[4], out[6]
    assert (first["outputs"], first["cache"]) == (2, "POPULATED")
    assert (again["outputs"], again["cache"]) == (2, "HIT")
    assert (edited["outputs"], edited["cache"], edited["reason"]) == (
        3,
        "POPULATED",
        "helper 'clean' changed",
    )
    for shown in (out[7]["html"], out[8]["html"]):
        assert shown is not None and shown.startswith('<div class="fl-report">')
        assert "notebook.words" in shown and "<svg" in shown and "<script" not in shown
    assert "outputs <code>3</code>" in out[7]["html"]
