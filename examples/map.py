"""`fl.map`: one task over many inputs, with bounded concurrency.

    python examples/map.py

Results come back in input order. With `return_exceptions=True` (the default)
a failed item yields its exception instead of stopping the map.
"""

import asyncio

import flytelite as fl

env = fl.TaskEnvironment("map_example")


@env.task(cache=True, cache_version="1")
async def fetch(page: int, size: int) -> str:
    await asyncio.sleep(0.2)
    if page == 7:
        raise ValueError(f"page {page} is missing")
    return f"page {page} ({size} rows)"


@env.task
def summarize(pages: int) -> list[str]:
    """From sync code: `fl.map(...)` is a plain generator."""
    lines = []
    for result in fl.map(fetch, range(pages), [10] * pages, concurrency=4):
        lines.append(f"failed: {result}" if isinstance(result, Exception) else result)
    return lines


@env.task
async def main(pages: int) -> list[str]:
    """From async code: `async for ... in fl.map.aio(...)`."""
    first = [r async for r in fl.map.aio(fetch, range(3), [10] * 3, concurrency=2)]
    return first + await summarize.aio(pages)


if __name__ == "__main__":
    run = fl.run(main, pages=10)
    for line in run.outputs:
        print(line)
    print(run.report)
