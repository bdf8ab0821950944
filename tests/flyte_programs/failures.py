"""A Flyte 2 program whose children fail, and a parent that recovers by error code."""

import flyte
import flyte.errors

env = flyte.TaskEnvironment(name="failures")

attempts: list[str] = []


@env.task
async def divide(a: int, b: int) -> float:
    return a / b


@env.task
def lookup(key: str) -> int:
    return {"a": 1}[key]


@env.task(retries=3)
async def hopeless(x: int) -> int:
    attempts.append(f"hopeless {x}")
    raise flyte.errors.NonRecoverableError(f"input {x} can never work")


@env.task(retries=flyte.RetryStrategy(count=2))
async def flaky(x: int) -> int:
    attempts.append(f"flaky {x}")
    if sum(a.startswith("flaky") for a in attempts) < 2:
        raise ConnectionError("connection reset")
    return x * 10


@env.task
async def quota(x: int) -> int:
    raise flyte.errors.CustomError("QuotaExceeded", f"over quota by {x}")


def describe(error: Exception) -> str:
    code = getattr(error, "code", None)
    return f"{type(error).__name__} code={code} message={error}"


@env.task
async def recover(x: int) -> list[str]:
    seen = []
    for call in (divide(x, 0), lookup.aio("missing"), hopeless(x), quota(x)):
        try:
            await call
        except flyte.errors.RuntimeUserError as e:
            seen.append(describe(e))
    seen.append(f"flaky gave {await flaky(x)}")
    results = [r async for r in flyte.map.aio(divide, [x, x, x], [2, 0, 4])]
    seen.append(repr([describe(r) if isinstance(r, Exception) else r for r in results]))
    seen.append(f"{len(attempts)} attempts")
    return seen


@env.task
async def explode(x: int) -> float:
    return await divide(x, 0)


if __name__ == "__main__":
    flyte.init()
    print(flyte.run(recover, 3).outputs())
