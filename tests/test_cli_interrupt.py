"""Ctrl-C during `flytelite run`: a real process, a real SIGINT.

The workflow signals through a file when its quick calls have finished and its
slow call is sleeping; only then does the test send SIGINT, so nothing here
depends on timing.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FLOW = textwrap.dedent(
    """
    import asyncio
    import time
    from pathlib import Path

    import flytelite as fl

    env = fl.TaskEnvironment("interrupt")
    HERE = Path(__file__).parent


    @env.task(cache=True, cache_version="1")
    async def quick(i: int) -> int:
        return i * 10


    @env.task(cache=fl.Cache(version="1", serialize=True))
    async def slow(seconds: float) -> int:
        (HERE / "sleeping").touch()
        await asyncio.sleep(seconds)
        return -1


    @env.task(cache=True, cache_version="1")
    def slow_sync(seconds: float) -> int:
        (HERE / "sleeping").touch()
        time.sleep(seconds)  # a thread: the first Ctrl-C waits for it
        return -1


    @env.task
    async def pipeline(seconds: float, sync: bool = False) -> list[int]:
        done = list(await asyncio.gather(*(quick(i) for i in range(3))))
        done.append(await (slow_sync.aio(seconds) if sync else slow(seconds)))
        return done
    """
)


class Cli:
    """A running `flytelite run`, with its stderr read line by line as it comes."""

    def __init__(self, *args: str, cache: Path, started: list[Cli]) -> None:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "FLYTELITE_CACHE_URL": str(cache), "PYTHONPATH": path}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flytelite", "run", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        started.append(self)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"exited before printing {text!r}: {self.stderr}"
            self.stderr.append(line)
            if line == text:
                return

    def finish(self, timeout: float = 30) -> tuple[int, str, list[str]]:
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        code = self.process.wait(timeout=timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.stderr.append(line)
        self.close()
        return code, out, self.stderr

    def close(self) -> None:
        """Stop the process if it still runs, and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)  # it reads to the end of stderr, then stops
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def wait_for_file(path: Path, cli: Cli, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert cli.process.poll() is None, f"exited early: {cli.finish()}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def live_leases(cache: Path) -> list[Path]:
    """The reservation objects of the cache that are held: not expired, not released."""
    leases = [p for p in (cache / "reservations").rglob("*") if p.is_file()]
    return [p for p in leases if json.loads(p.read_text())["expires_at"] > time.time()]


STOPPING = (
    "flytelite: interrupted; stopping the run and keeping what finished "
    "(Ctrl-C again to exit at once)"
)


@pytest.fixture
def started() -> Iterator[list[Cli]]:
    """The processes a test starts: stopped and closed at its end, whatever happened."""
    clis: list[Cli] = []
    yield clis
    for cli in clis:
        cli.close()


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.py"
    path.write_text(FLOW)
    return path


def test_ctrl_c_keeps_what_finished_releases_reservations_and_exits_130(
    flow: Path, tmp_path: Path, cache_dir: Path, started: list[Cli]
) -> None:
    report = tmp_path / "report.json"
    args = [str(flow), "pipeline", "--seconds", "60", "--no-progress", "--report-json", str(report)]
    cli = Cli(*args, cache=cache_dir, started=started)
    wait_for_file(tmp_path / "sleeping", cli)
    assert len(live_leases(cache_dir)) == 1  # `slow` holds its reservation while it sleeps
    cli.process.send_signal(signal.SIGINT)
    code, out, stderr = cli.finish()
    assert (code, out) == (130, "")
    assert "Traceback" not in "\n".join(stderr)
    assert stderr[0] == STOPPING
    assert stderr[-1] == (
        "flytelite: interrupted: 3 of 5 calls finished, 2 cancelled; "
        "the outputs of finished cached calls are kept in the cache"
    )
    table = {line.split()[0]: line.split()[1:3] for line in stderr if line.startswith("interrupt.")}
    assert table == {
        "interrupt.pipeline": ["1", "0"],
        "interrupt.quick": ["3", "0"],
        "interrupt.slow": ["1", "0"],
    }
    rows = json.loads(report.read_text())  # the partial report, as asked
    assert sorted((r["task"], r["status"]) for r in rows) == [
        ("interrupt.pipeline", "cancelled"),
        ("interrupt.quick", "succeeded"),
        ("interrupt.quick", "succeeded"),
        ("interrupt.quick", "succeeded"),
        ("interrupt.slow", "cancelled"),
    ]
    assert live_leases(cache_dir) == []  # released, not left to expire

    again = Cli(
        str(flow),
        "pipeline",
        "--seconds",
        "0",
        "--report-json",
        str(report),
        cache=cache_dir,
        started=started,
    )
    code, out, stderr = again.finish()
    assert code == 0, stderr
    assert json.loads(out) == [0, 10, 20, -1]
    # The outputs of the bodies that finished before Ctrl-C were kept:
    quick = [r["cache"] for r in json.loads(report.read_text()) if r["task"] == "interrupt.quick"]
    assert quick == ["HIT", "HIT", "HIT"]


def test_a_second_ctrl_c_exits_at_once(
    flow: Path, tmp_path: Path, cache_dir: Path, started: list[Cli]
) -> None:
    cli = Cli(
        str(flow),
        "pipeline",
        "--seconds",
        "60",
        "--sync",
        "true",
        "--no-progress",
        cache=cache_dir,
        started=started,
    )
    wait_for_file(tmp_path / "sleeping", cli)
    cli.process.send_signal(signal.SIGINT)
    cli.wait_for_line(STOPPING)  # the run is stopping, and waits for the sleeping thread
    cli.process.send_signal(signal.SIGINT)
    code, out, stderr = cli.finish(timeout=10)  # not the 60 s the thread sleeps
    assert (code, out) == (130, "")
    assert stderr[-1] == "flytelite: interrupted again: exiting now"
    assert "Traceback" not in "\n".join(stderr)
