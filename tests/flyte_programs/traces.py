"""A Flyte 2 program with traced steps, durable time, context, reports and logs."""

import flyte
import flyte.durable
import flyte.report

env = flyte.TaskEnvironment(name="traces")

calls: list[str] = []
stamps: list[float] = []
blips = {"left": 1}


@flyte.trace
async def fetch(url: str) -> str:
    calls.append(url)
    return f"<{url}>"


@flyte.trace
def measure(page: str) -> int:
    calls.append(f"measure {page}")
    return len(page)


@env.task(retries=2, report=True)
async def crawl(urls: list[str]) -> dict[str, object]:
    pages = [await fetch(u) for u in urls]
    sizes = [measure(p) for p in pages]
    started = await flyte.durable.time.aio()
    stamps.append(started)
    flyte.report.log(f"<p>{len(pages)} pages</p>")
    flyte.logger.info("crawled %d pages", len(pages))
    if blips["left"]:
        blips["left"] -= 1
        raise ConnectionError("network blip")
    return {"sizes": sizes, "calls": len(calls), "same_start": stamps[0] == started}


@env.task
async def whoami(tag: str) -> dict[str, object]:
    c = flyte.ctx()
    return {
        "tag": tag,
        "mode": c.mode,
        "group": c.group_data.name if c.group_data else None,
        "team": flyte.get_custom_context().get("team"),
        "same_run": c.action.run_name == c.task_action.run_name,
    }


@env.task
async def context_root() -> list[object]:
    with flyte.custom_context(team="data"), flyte.group("inner"):
        inside = await whoami("inside")
    outside = await whoami("outside")
    return [inside, outside, bool(flyte.ctx()), flyte.ctx().action.name]
