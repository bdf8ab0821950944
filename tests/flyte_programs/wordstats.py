"""A Flyte 2 program: word statistics over documents.

Caching (`cache="auto"` and `flyte.Cache`), `asyncio.gather`, `flyte.map` over
a task and over a `functools.partial` of a sync task, a group, dataclasses and
a task with two outputs. Deployment settings are set as a cluster would need.
"""

import asyncio
import functools
from dataclasses import dataclass

import flyte

env = flyte.TaskEnvironment(
    name="wordstats",
    image=flyte.Image.from_debian_base(python_version=(3, 11)).with_pip_packages("regex"),
    resources=flyte.Resources(cpu=1, memory="500Mi"),
    env_vars={"LANG": "C.UTF-8"},
)
heavy = env.clone_with("wordstats-heavy", resources=flyte.Resources(cpu=2, memory="1Gi"))


@dataclass
class Stats:
    words: int
    longest: str


@dataclass
class Summary:
    stats: list[Stats]
    weighted: list[int]
    sentences: int
    characters: int
    longest: str


@env.task(cache="auto")
async def tokenize(text: str) -> list[str]:
    words = (w.strip(".,;:!?").lower() for w in text.split())
    return [w for w in words if w]


@heavy.task(cache=flyte.Cache(behavior="auto", version_override="v1"))
async def stats(words: list[str]) -> Stats:
    longest = max(words, key=lambda w: (len(w), w)) if words else ""
    return Stats(words=len(words), longest=longest)


@env.task
def scale(n: int, factor: int) -> int:
    return n * factor


@env.task
def weighted(counts: list[int], factor: int) -> list[int]:
    return list(flyte.map(functools.partial(scale, factor=factor), counts))


@env.task
async def shape(text: str) -> tuple[int, int]:
    sentences = [s for s in text.split(".") if s.strip()]
    return len(sentences), len(text)


@env.task
async def main(docs: list[str], factor: int = 2) -> Summary:
    with flyte.group("tokenize"):
        tokens = await asyncio.gather(*(tokenize(d) for d in docs))
    summary = [s async for s in flyte.map.aio(stats, tokens, concurrency=2)]
    totals = await weighted.aio([s.words for s in summary], factor)
    sentences, characters = await shape(" ".join(docs))
    longest = max((s.longest for s in summary), key=lambda w: (len(w), w))
    return Summary(summary, totals, sentences, characters, longest)


if __name__ == "__main__":
    flyte.init()
    run = flyte.with_runcontext(mode="local").run(
        main, docs=["The quick brown fox.", "Jumps over the lazy dog!"], factor=3
    )
    print(run.outputs()[0])
