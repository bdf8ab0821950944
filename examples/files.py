"""Files in, files out: inputs keyed by content, outputs restored from the cache.

    python examples/files.py        # run it twice: the second run executes nothing

`clean` takes a CSV as an `fl.File` (keyed by its bytes, not its path or mtime)
and returns a new `fl.File`, which is stored into the cache: the second run
gets it back from the cache even though this script deletes it after each run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import flytelite as fl

env = fl.TaskEnvironment("files_example")


@env.task(cache=True, cache_version="1")
def clean(raw: fl.File, out_folder: str) -> fl.File:
    rows = [line.strip().lower() for line in raw.read_bytes().decode().splitlines()]
    out = Path(out_folder, "clean.csv")
    out.write_text("\n".join(r for r in rows if r) + "\n")
    return fl.File(out)


@env.task(cache=True, cache_version="1")
def count(table: fl.File) -> int:
    return len(table.read_bytes().decode().splitlines()) - 1  # without the header


@env.task
async def pipeline(raw: fl.File, out_folder: str) -> int:
    cleaned = await clean.aio(raw, out_folder)
    return await count.aio(cleaned)


if __name__ == "__main__":
    folder = Path(tempfile.gettempdir(), "flytelite-files-example")
    folder.mkdir(exist_ok=True)
    raw = folder / "raw.csv"
    raw.write_text("Region,Amount\nNorth,3\n\nSouth,4\n")
    run = fl.run(pipeline, fl.File(raw), str(folder), progress=False)
    print(run.outputs)
    print(run.report)
    (folder / "clean.csv").unlink(missing_ok=True)  # the next run restores it from the cache
