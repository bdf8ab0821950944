"""A parallel pipeline of cached chunks.

    python examples/quickstart.py

The first run processes every chunk (about a second: the chunks run
concurrently). Run it again: every chunk is a cache hit and it finishes at once.
"""

import asyncio

import flytelite as fl

env = fl.TaskEnvironment("quickstart")


@env.task(cache=True, cache_version="1")
async def process_chunk(chunk_id: int, data: str) -> str:
    await asyncio.sleep(1)  # stands for real work: a download, a model call, ...
    return f"chunk {chunk_id}: {data.upper()}"


@env.task
def word_count(text: str) -> int:  # a plain sync function works unchanged
    return len(text.split())


@env.task
async def pipeline(chunks: list[str]) -> dict[str, int]:
    processed = await asyncio.gather(*(process_chunk(i, c) for i, c in enumerate(chunks)))
    counts = await asyncio.gather(*(word_count.aio(p) for p in processed))
    return dict(zip(processed, counts))


if __name__ == "__main__":
    run = fl.run(pipeline, chunks=["alpha beta", "gamma", "delta epsilon zeta", "eta"])
    for text, words in run.outputs.items():
        print(f"{words} words  {text}")
    print()
    print(run.report)
