"""A run worth looking at: cached fan-out, a dynamic workflow, retries, a re-run.

    python examples/report.py [report.html]

Runs a small pipeline twice, the second time with one more input and one changed
setting, and writes the second run's HTML report (`run.report.save_html`): most
calls are cache hits, the new and changed ones execute, and the timeline shows
which is which.
"""

import asyncio
import random
import sys
import time

import flytelite as fl

env = fl.TaskEnvironment("report_example")


@env.task(cache=True, cache_version="1")
async def download(shard: int) -> list[float]:
    await asyncio.sleep(0.05 + 0.02 * (shard % 5))
    rng = random.Random(shard)
    return [rng.random() for _ in range(100)]


@env.task(cache=True, cache_version="1")
def clean(values: list[float], cutoff: float) -> list[float]:
    time.sleep(0.03)
    return [v for v in values if v < cutoff]


flaky_seen: set[int] = set()


@env.task(cache=True, cache_version="1", retries=2)
async def score(values: list[float]) -> float:
    await asyncio.sleep(0.04)
    if len(values) % 7 == 0 and len(values) not in flaky_seen:
        flaky_seen.add(len(values))
        raise ConnectionError("the scoring service hung up")  # retried
    return sum(values) / max(1, len(values))


@env.task(cache=True, cache_version="1")
def combine(scores: list[float]) -> float:
    time.sleep(0.02)
    return sum(scores) / len(scores)


@env.dynamic(cache=True, cache_version="1")
def features(n: int) -> float:
    """A DAG compiled from plain Python: each shard's two features, then a join."""
    parts = [clean(shard_values(i), 0.5 + 0.05 * i) for i in range(n)]
    return combine([mean(p) for p in parts])


@env.task(cache=True, cache_version="1")
def shard_values(i: int) -> list[float]:
    time.sleep(0.02)
    return [i * 0.1 + j * 0.01 for j in range(20)]


@env.task(cache=True, cache_version="1")
def mean(values: list[float]) -> float:
    return sum(values) / max(1, len(values))


@env.task
async def pipeline(shards: int, cutoff: float) -> dict[str, float]:
    raw = await asyncio.gather(*(download.aio(s) for s in range(shards)))
    cleaned = [r async for r in fl.map.aio(clean, raw, [cutoff] * shards, concurrency=4)]
    scores = await asyncio.gather(*(score.aio(c) for c in cleaned))
    return {"score": await combine.aio(list(scores)), "features": await features.aio(shards // 3)}


if __name__ == "__main__":
    fl.run(pipeline, shards=10, cutoff=0.8)
    run = fl.run(pipeline, shards=12, cutoff=0.8)  # two new shards: the rest is cached
    print(run.outputs)
    print(run.report)
    path = sys.argv[1] if len(sys.argv) > 1 else "report.html"
    run.report.save_html(path)
    print(f"report: {path}")
