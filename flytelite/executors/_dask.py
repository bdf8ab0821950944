"""`fl.DaskExecutor`: task bodies on a Dask cluster, orchestration and caching in the run.

Part of the `flytelite[dask]` extra; dask is imported on first use. The run
talks to the scheduler with the asynchronous Dask client from its own event
loop: one client per loop, opened on the loop's first call and closed when the
loop shuts down (at the end of `fl.run`). A `LocalCluster` the executor starts
runs on Dask's own thread, so it outlives runs and is shared by them until
`close()`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from types import TracebackType
from typing import Any

from flytelite import (
    ExecutorError,
    MissingExtraError,
    RunContextError,
    TaskDefinitionError,
    TaskTimeoutError,
    WorkerLostError,
)

from ._shipping import decode_reply, dumps_call

__all__ = ["DaskExecutor"]

_WHERE = "a Dask worker"
_EXTRA = "pip install 'flytelite[dask]'"
_SCATTER_BYTES = 1 << 20


def _distributed() -> Any:
    """The `distributed` package, or an error that names the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError(
            f"fl.DaskExecutor needs dask.distributed, which is not installed ({exc}); "
            f"install it with `{_EXTRA}`.",
            extra="dask",
        ) from exc
    return distributed


class DaskExecutor:
    """Runs task bodies on a Dask cluster.

    Bodies and their inputs are sent with cloudpickle; cache lookups and writes
    stay in the run, so a cache hit never reaches the cluster. Workers need
    flytelite and the packages your bodies import.

    ```python
    with fl.DaskExecutor(n_workers=4) as dask:         # a LocalCluster on this machine
        fl.run(pipeline, data, executor=dask)
    fl.DaskExecutor("tcp://scheduler:8786")             # a running cluster
    ```

    Args:
        address: The address of a running scheduler, e.g. `"tcp://10.0.0.5:8786"`.
        client: A `distributed.Client` to use instead: as it is, in the event
            loop it was created on (an asynchronous client); elsewhere through a
            client of our own connected to its scheduler.
        **cluster_kw: Given neither, a `distributed.LocalCluster(**cluster_kw)`
            starts on first use (e.g. `n_workers=4, threads_per_worker=1`);
            `close()` shuts it down.

    A `timeout` counts from submission, and cancels the Dask future when it
    passes (a running body cannot be interrupted on its worker; its result is
    dropped). A worker that dies fails the attempt once Dask gives up on the
    task (`distributed.scheduler.allowed-failures`); `retries` re-run it.
    """

    def __init__(self, address: str | None = None, client: Any = None, **cluster_kw: Any) -> None:
        if address is not None and client is not None:
            raise TaskDefinitionError(
                "fl.DaskExecutor(address=..., client=...): give one of them, not both."
            )
        if cluster_kw and (address is not None or client is not None):
            raise TaskDefinitionError(
                f"fl.DaskExecutor: {', '.join(sorted(cluster_kw))} configure the LocalCluster "
                f"it starts without an address or client; they cannot apply to an existing "
                f"cluster."
            )
        if importlib.util.find_spec("distributed") is None:
            _distributed()  # raises, naming the extra
        self.address = address
        self.client = client
        self._cluster_kw = cluster_kw
        self._cluster: Any = None
        self._closed = False
        self._lock = threading.Lock()  # held briefly, also by event loop threads
        self._starting = threading.Lock()  # held while a LocalCluster starts
        # Per event loop: its client (once connected) and the task that keeps it open.
        self._loops: dict[asyncio.AbstractEventLoop, tuple[asyncio.Future[Any], asyncio.Task[None]]]
        self._loops = {}
        self._cancels: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        if self.address is not None:
            return f"DaskExecutor({self.address!r})"
        if self.client is not None:
            return f"DaskExecutor(client={self.client!r})"
        options = ", ".join(f"{k}={v!r}" for k, v in self._cluster_kw.items())
        return f"DaskExecutor({options})"

    @property
    def cluster(self) -> Any:
        """The `LocalCluster` this executor started, or `None` (not started, or not ours)."""
        return self._cluster

    # -- running a body ----------------------------------------------------------------

    async def run(
        self,
        func: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        task: str,
        timeout: float | None,
    ) -> Any:
        """Run `func(*args, **kwargs)` on a Dask worker and return its result.

        Raises:
            TaskTimeoutError: past `timeout` seconds; the Dask future was cancelled.
            WorkerLostError: the workers running it died, or Dask cancelled it.
            SerializationError: the function, inputs or output cannot be pickled.
        """
        from ._worker import run_call

        payload: Any = dumps_call(func, args, kwargs, task=task, where=_WHERE)
        client = await self._client(task)
        if len(payload) > _SCATTER_BYTES:  # not inside the task graph (Dask warns, and slows)
            payload = await client.scatter(payload, hash=False)
        future = client.submit(run_call, payload, key=f"{task}-{os.urandom(16).hex()}", pure=False)
        del payload  # a scattered payload is released with the task
        result = asyncio.ensure_future(_result(future))
        result.add_done_callback(_retrieve)  # also when we stopped waiting for it
        try:
            done, _ = await asyncio.wait({result}, timeout=timeout)
        except asyncio.CancelledError:
            result.cancel()
            self._cancel_later(client, future)
            raise
        if not done:
            assert timeout is not None
            result.cancel()
            await client.cancel([future], reason=f"flytelite: task {task!r} timed out")
            raise TaskTimeoutError(
                f"task {task!r} timed out after {timeout:g} s; its Dask future "
                f"({future.key}) was cancelled.",
                task=task,
                timeout=timeout,
            )
        killed = _distributed().KilledWorker
        try:
            reply = result.result()
        except killed as exc:
            raise WorkerLostError(
                f"task {task!r}: the Dask workers that ran it died ({exc}). With retries the "
                f"call is submitted again.",
                task=task,
            ) from exc
        except _DaskCancelled as exc:
            raise WorkerLostError(
                f"task {task!r}: Dask cancelled its future ({exc.reason or 'no reason given'}); "
                f"the scheduler may have restarted or lost its workers.",
                task=task,
            ) from exc.__cause__
        finally:
            future.release()
        return decode_reply(reply, task=task, where=_WHERE)

    def _cancel_later(self, client: Any, future: Any) -> None:
        """Cancel `future` on the cluster without waiting (our caller is being cancelled)."""
        try:
            cancel = asyncio.ensure_future(client.cancel([future], reason="flytelite: cancelled"))
        except Exception:
            return
        self._cancels.add(cancel)
        cancel.add_done_callback(self._cancels.discard)

    # -- one asynchronous client per event loop ----------------------------------------

    async def _client(self, task: str) -> Any:
        client = self.client
        if client is not None and client.asynchronous:
            return client  # an asynchronous client of this very loop
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise RunContextError(
                    f"task {task!r}: this fl.DaskExecutor was closed; create a new one."
                )
            entry = self._loops.get(loop)
            if entry is None:
                ready: asyncio.Future[Any] = loop.create_future()
                ready.add_done_callback(_retrieve)
                keeper = loop.create_task(self._keep_client(loop, ready, task))
                entry = self._loops[loop] = (ready, keeper)
        return await asyncio.shield(entry[0])

    async def _keep_client(
        self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[Any], task: str
    ) -> None:
        """Connect this loop's client, keep it until the loop shuts down, then close it."""
        client = None
        try:
            address, security = await asyncio.to_thread(self._scheduler, task)
            try:
                client = await _distributed().Client(
                    address, asynchronous=True, security=security, set_as_default=False
                )
            except OSError as exc:
                raise ExecutorError(
                    f"task {task!r}: cannot connect to the Dask scheduler at {address}: {exc}. "
                    f"Is it running and reachable from here?",
                    task=task,
                ) from exc
            ready.set_result(client)
            await loop.create_future()  # until cancelled: the loop is shutting down
        except asyncio.CancelledError:
            ready.cancel()
            raise
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
        finally:
            with self._lock:
                if self._loops.get(loop, (None,))[0] is ready:
                    del self._loops[loop]
            if client is not None:
                await client.close()

    def _scheduler(self, task: str) -> tuple[str, Any]:
        """The scheduler's address and security; starts the LocalCluster (blocking)."""
        if self.address is not None:
            return self.address, None
        if self.client is not None:
            return self.client.scheduler.address, self.client.security
        with self._starting:
            with self._lock:
                cluster, closed = self._cluster, self._closed
            if cluster is None:
                if closed:
                    raise RunContextError(
                        f"task {task!r}: this fl.DaskExecutor was closed; create a new one."
                    )
                try:
                    cluster = _distributed().LocalCluster(**self._cluster_kw)
                except Exception as exc:
                    raise ExecutorError(
                        f"task {task!r}: {self!r} could not start a Dask LocalCluster: "
                        f"{type(exc).__name__}: {exc}",
                        task=task,
                    ) from exc
                with self._lock:
                    self._cluster = cluster
            return cluster.scheduler_address, None

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Shut down the LocalCluster this executor started, if any. A client or
        cluster it was given is left alone."""
        with self._starting, self._lock:  # after a cluster that is starting has started
            self._closed = True
            cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()

    async def aclose(self) -> None:
        """`close()` for async code: closes this event loop's client first."""
        with self._lock:
            entry = self._loops.get(asyncio.get_running_loop())
        if entry is not None:
            keeper = entry[1]
            keeper.cancel()  # it closes the client on its way out
            await asyncio.wait({keeper})
        await asyncio.to_thread(self.close)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> DaskExecutor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _DaskCancelled(Exception):
    """Internal: Dask cancelled a future (its error is a `CancelledError`, which asyncio
    would take for a cancellation of our own task)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _result(future: Any) -> Any:
    try:
        return await future
    except asyncio.CancelledError as exc:
        if future.cancelled():
            raise _DaskCancelled(str(exc)) from exc
        raise


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # no "exception was never retrieved" if nobody waited
