"""The process executor: task bodies in a pool of worker processes on this machine.

Each worker is a fresh Python interpreter (not a fork of this one, which may
hold threads and locks) that runs `flytelite/executors/_worker.py` and takes one
call at a time over a pair of pipes. A thread per worker reads its replies, so a
reply, or the worker's death, reaches the waiting call on its own event loop. The
pool is shared by every run in the process, whatever its event loop or thread.

Unlike `concurrent.futures.ProcessPoolExecutor`, one dead worker does not break
the pool, and one call can be stopped: a call that outlives its `timeout`, or
is cancelled, kills its worker (with the processes it started), and the pool
starts a fresh one for the next call. A worker that dies fails its call with
`WorkerLostError`, which the engine's `retries` run again.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import weakref
from collections import deque
from typing import Any

from flytelite import ExecutorError, TaskTimeoutError, WorkerLostError

from . import _worker
from ._shipping import decode_reply, dumps_call
from ._worker import Reply

__all__ = ["ProcessExecutor"]

_WHERE = "a process worker"
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 2.0
_LIVENESS_POLL_S = 1.0
_POSIX = os.name == "posix"
# Windows cannot hand a child extra pipe descriptors: the worker talks over its
# stdin/stdout there (and what a body prints goes to stderr).
_STDIO = not _POSIX
# The worker runs `_worker.py` as a script, so that it starts without importing flytelite.
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__flytelite_worker__')"


def _cpu_count() -> int:
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+: honours affinity
    if count is not None:
        n: int | None = count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    return max(1, n or 1)


class ProcessExecutor:
    """Runs task bodies in worker processes on this machine, one call per worker at a time.

    Workers start on first use and are reused; `shutdown()` stops them (it runs
    at interpreter exit; a later call starts new ones). Used through
    `executor="process"`, which shares one pool sized to the cores among all
    runs of the process.

    Args:
        max_workers: How many bodies may run at once. Default: the number of
            cores this process may use.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"ProcessExecutor(max_workers={max_workers!r}): must be >= 1.")
        self.max_workers = max_workers or _cpu_count()
        self._slots = _Slots(self.max_workers)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._exit_hook = False
        _forget_workers_in_forked_children(self)

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers})"

    async def run(
        self,
        func: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        task: str,
        timeout: float | None,
    ) -> Any:
        """Run `func(*args, **kwargs)` in a worker process and return its result.

        Raises:
            TaskTimeoutError: past `timeout` seconds; the worker was killed.
            WorkerLostError: the worker died before the body returned.
            SerializationError: the function, inputs or output cannot be pickled.
        """
        payload = dumps_call(func, args, kwargs, task=task, where=_WHERE)
        await self._slots.acquire()
        try:
            worker = await self._take_worker(task)
            try:
                reply = await worker.call(payload, task=task, timeout=timeout)
            finally:
                self._give_back(worker)
        finally:
            self._slots.release()
        return decode_reply(reply, task=task, where=_WHERE)

    def shutdown(self) -> None:
        """Stop every worker: idle ones exit, busy ones are killed (their calls fail)."""
        with self._lock:
            idle, busy = self._idle, self._workers.difference(self._idle)
            self._idle, self._workers = [], set()
        for worker in busy:  # their calls close them when they see the worker gone
            worker.kill()
        for worker in idle:
            worker.close_requests()
        for worker in idle:
            worker.stop(_STOP_TIMEOUT_S)

    async def _take_worker(self, task: str) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.usable:
                    return worker
                self._workers.discard(worker)
                worker.close_requests()
        worker = await _Worker.start(task)
        with self._lock:
            self._workers.add(worker)
            if not self._exit_hook:
                self._exit_hook = True
                atexit.register(self.shutdown)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if worker.usable and worker in self._workers:  # not shut down meanwhile
                self._idle.append(worker)
                return
            self._workers.discard(worker)
        worker.close_requests()
        worker.kill()

    def _forget_workers(self) -> None:
        """In a forked child: the workers are the parent's; start afresh with none."""
        self._lock = threading.Lock()
        self._slots = _Slots(self.max_workers)
        for worker in self._workers:
            worker.forget()
        self._idle, self._workers = [], set()


class _Worker:
    """One worker process, its two pipes, and the thread that reads its replies."""

    def __init__(self) -> None:
        command = [sys.executable, "-c", _BOOT, _worker.__file__]
        # Its own process group (POSIX): a timeout kills what the body started, too.
        if _STDIO:
            self.proc = subprocess.Popen(
                [*command, "stdio"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=_POSIX,
            )
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self._requests = os.dup(self.proc.stdin.fileno())
            self._replies = os.dup(self.proc.stdout.fileno())
            self.proc.stdin.close()
            self.proc.stdout.close()
        else:
            theirs_in, self._requests = os.pipe()
            self._replies, theirs_out = os.pipe()
            try:
                self.proc = subprocess.Popen(
                    [*command, str(theirs_in), str(theirs_out)],
                    pass_fds=(theirs_in, theirs_out),
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except BaseException:
                os.close(self._requests)
                os.close(self._replies)
                raise
            finally:
                os.close(theirs_in)
                os.close(theirs_out)
        self.pid = self.proc.pid
        self.alive = True  # until the reader thread has seen the process end
        self._killed = False
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[bytes | None] | None = None
        # Each pipe end is closed once, by one owner, and marked closed first, so
        # that a forked child never closes a descriptor number reused meanwhile.
        self._requests_open = self._replies_open = True
        threading.Thread(
            target=self._read_replies, name=f"flytelite-process-{self.pid}", daemon=True
        ).start()

    @property
    def usable(self) -> bool:
        """Whether the worker may take another call."""
        return self.alive and not self._killed

    @classmethod
    async def start(cls, task: str) -> _Worker:
        """A new worker, once it has said it is ready."""
        try:
            worker = cls()
        except OSError as exc:
            raise ExecutorError(
                f"task {task!r}: could not start a process worker with {sys.executable}: "
                f"{type(exc).__name__}: {exc}",
                task=task,
            ) from exc
        ready = worker._expect()
        try:
            _worker.write_message(worker._requests, pickle.dumps(sys.path))
        except OSError:
            pass  # it died at once: the reader reports it
        try:
            done, _ = await asyncio.wait({ready}, timeout=_START_TIMEOUT_S)
        except asyncio.CancelledError:
            worker.kill()
            worker.close_requests()
            raise
        if done and ready.result() == _worker.READY:
            return worker
        worker.kill()
        worker.close_requests()
        how = "did not start in time" if not done else worker.death()
        raise WorkerLostError(
            f"task {task!r}: could not start a process worker: it {how}. "
            f"Its error output, if any, is on stderr above.",
            task=task,
        )

    async def call(self, payload: bytes, *, task: str, timeout: float | None) -> Reply:
        """Send one call and wait for its reply; kill the worker on timeout or cancellation."""
        reply = self._expect()
        try:
            _worker.write_message(self._requests, payload)
        except OSError:
            pass  # it died: the reader reports it
        try:
            done, _ = await asyncio.wait({reply}, timeout=timeout)
        except asyncio.CancelledError:
            self.kill()
            raise
        if not done:
            assert timeout is not None
            self.kill()
            await asyncio.wait({reply})  # the worker is gone (reaped) once this resolves
            raise TaskTimeoutError(
                f"task {task!r} timed out after {timeout:g} s; its process worker "
                f"(pid {self.pid}) was killed.",
                task=task,
                timeout=timeout,
            )
        data = reply.result()
        if data is None:
            raise WorkerLostError(
                f"task {task!r}: its process worker (pid {self.pid}) {self.death()} before "
                f"the body returned (out of memory, or killed?). With retries the call runs "
                f"again in a new worker.",
                task=task,
            )
        decoded: Reply = pickle.loads(data)  # noqa: S301 (our own worker's reply)
        return decoded

    def death(self) -> str:
        """How the process ended, for error messages."""
        code = self.proc.returncode
        if code is None:
            return "stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"was killed by {name}"
        return f"exited with code {code}"

    def kill(self) -> None:
        """Kill the worker and what it started (its process group), if it still runs."""
        self._killed = True
        if self.proc.poll() is not None:
            return
        if _POSIX:
            try:
                os.killpg(self.pid, signal.SIGKILL)
                return
            except OSError:
                pass  # the body left the process group: kill the worker alone
        try:
            self.proc.kill()
        except OSError:
            pass  # already gone

    def close_requests(self) -> None:
        """Close the request pipe: an idle worker exits on its own. Only by the pool,
        when no call uses this worker."""
        with self._lock:
            if self._requests_open:
                self._requests_open = False
                os.close(self._requests)

    def forget(self) -> None:
        """In a forked child (one thread, locks as the fork found them): close our
        copies of the parent's pipes to this worker."""
        pipes = ((self._requests, self._requests_open), (self._replies, self._replies_open))
        for fd, is_open in pipes:
            if is_open:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._requests_open = self._replies_open = self.alive = False

    def stop(self, timeout: float) -> None:
        """Wait up to `timeout` s for an idle worker to exit (after `close_requests`),
        then kill it."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()

    # -- the reader thread ------------------------------------------------------------

    def _expect(self) -> asyncio.Future[bytes | None]:
        """A future for the next message: its bytes, or `None` if the worker dies first."""
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self.alive:
                self._waiter = future
                return future
        future.set_result(None)
        return future

    def _read_replies(self) -> None:
        try:
            # Until EOF: the worker exited, or broke the channel, which comes to the same.
            with contextlib.suppress(Exception):
                self._read_until_closed()
        finally:
            self.kill()
            self.proc.wait()
            with self._lock:
                self.alive = self._replies_open = False
                os.close(self._replies)
            self._deliver(None)

    def _read_until_closed(self) -> None:
        poller = select.poll() if _POSIX else None
        if poller is not None:
            poller.register(self._replies, select.POLLIN)
        while True:
            if poller is not None:
                self._wait_readable(poller)
            self._deliver(_worker.read_message(self._replies))

    def _wait_readable(self, poller: select.poll) -> None:
        """Block until a reply arrives; raise `EOFError` once the worker has exited, even
        if a process it forked keeps the pipe open."""
        timeout_ms = int(_LIVENESS_POLL_S * 1000)
        while not poller.poll(timeout_ms):
            if self.proc.poll() is not None:
                if not poller.poll(0):
                    raise EOFError
                return

    def _deliver(self, data: bytes | None) -> None:
        with self._lock:
            future, self._waiter = self._waiter, None
        if future is None:
            return
        try:
            future.get_loop().call_soon_threadsafe(_set_result, future, data)
        except RuntimeError:
            pass  # its event loop is closed: nobody waits any more


_EXECUTORS: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()


_fork_hook = False


def _forget_workers_in_forked_children(executor: ProcessExecutor) -> None:
    """A process forked from this one must not talk to our workers: its calls would
    mix with ours on their pipes, and nobody would read its replies."""
    global _fork_hook
    if not _fork_hook and hasattr(os, "register_at_fork"):
        _fork_hook = True
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _EXECUTORS.add(executor)


def _after_fork_in_child() -> None:
    for executor in list(_EXECUTORS):
        executor._forget_workers()


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class _Slots:
    """A counting semaphore that coroutines on any event loop, in any thread, can wait on."""

    def __init__(self, n: int) -> None:
        self._lock = threading.Lock()
        self._free = n
        self._waiters: deque[_Waiter] = deque()

    async def acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            waiter = _Waiter(asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:  # the slot came with the cancellation: pass it on
                self.release()
            raise

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                try:
                    waiter.future.get_loop().call_soon_threadsafe(_set_result, waiter.future, None)
                except RuntimeError:  # its event loop is closed
                    continue
                waiter.granted = True
                return
            self._free += 1


class _Waiter:
    __slots__ = ("future", "granted")

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future
        self.granted = False
