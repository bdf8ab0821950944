"""The worker side of the process and Dask executors: run one shipped call.

A call crosses to a worker as cloudpickle bytes of `(func, args, kwargs)`. The
reply is a tuple of plain values, so that the caller can always read it, even
when the body's exception cannot be rebuilt on its side:

    ("ok", output bytes)
    ("raised", exception type name, message, traceback text, exception bytes or None)
    ("unloadable", message, traceback text)   the call could not be unpickled here
    ("unsendable", message)                   the output could not be pickled

The process executor starts this file as a script, not as
`flytelite.executors._worker`, so that a worker starts without importing
flytelite; it imports only the standard library and cloudpickle. Dask workers
import it as `flytelite.executors._worker` and run `run_call`.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import struct
import sys
import traceback
from typing import Any

__all__ = ["Reply", "read_message", "run_call", "serve", "write_message"]

Reply = tuple[Any, ...]

_HEADER = struct.Struct("!Q")
_CHUNK = 1 << 20
READY = b"ready"
"""A process worker's first message: it can take calls."""


def run_call(payload: bytes) -> Reply:
    """Unpickle and run one call; an async body runs to completion with `asyncio.run`."""
    import cloudpickle

    try:
        func, args, kwargs = cloudpickle.loads(payload)
    except BaseException as exc:
        return ("unloadable", f"{type(exc).__name__}: {_message(exc)}", traceback.format_exc())
    try:
        result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
    except BaseException as exc:
        text = traceback.format_exc()
        try:
            raised: bytes | None = cloudpickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            raised = None
        return ("raised", type(exc).__name__, _message(exc), text, raised)
    try:
        return ("ok", cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:
        return ("unsendable", f"{type(exc).__name__}: {_message(exc)}")


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<the message could not be read>"


async def _awaited(aw: Any) -> Any:
    return await aw


# -- the process worker's channel: length-prefixed messages on two pipes ---------------


def write_message(fd: int, data: bytes) -> None:
    """Write one message (a length, then the bytes) to `fd`."""
    if len(data) < _CHUNK:
        data = _HEADER.pack(len(data)) + data
    else:
        _write_all(fd, _HEADER.pack(len(data)))
    _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_message(fd: int) -> bytes:
    """Read one message from `fd`; `EOFError` when the other end is closed."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, _CHUNK))
        if not chunk:
            raise EOFError("the other end of the channel was closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def serve(request_fd: int, reply_fd: int) -> None:
    """A process worker: read the parent's `sys.path`, say ready, then run calls one by one.

    Returns when the parent closes the request channel (or is gone).
    """
    import signal

    # Ctrl-C is for the parent, which cancels its calls and stops the workers. (On
    # POSIX a worker has a session of its own, and the terminal's signals miss it.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.name == "posix":  # not inherited by programs a body starts
        os.set_inheritable(request_fd, False)
        os.set_inheritable(reply_fd, False)
    try:
        sys.path[:] = pickle.loads(read_message(request_fd))  # noqa: S301 (from our parent)
        write_message(reply_fd, READY)
        while True:
            payload = read_message(request_fd)
            reply = pickle.dumps(run_call(payload), protocol=pickle.HIGHEST_PROTOCOL)
            del payload  # the inputs and outputs are not kept alive between calls
            _flush()  # what the body printed shows before its call returns
            write_message(reply_fd, reply)
            del reply
    except (EOFError, OSError):
        return


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: S112 (a body may have closed or replaced it)
            continue


def main() -> None:
    """Entry point of a process worker: `python -c BOOT <this file> <request fd> <reply fd>`.

    With `stdio` instead of the two descriptors (Windows, which cannot pass
    them), requests come on stdin and replies go on the original stdout, and
    what the body prints goes to stderr.
    """
    if sys.argv[2] == "stdio":
        request_fd, reply_fd = 0, os.dup(1)
        os.dup2(2, 1)
        if sys.platform == "win32":
            import msvcrt

            msvcrt.setmode(request_fd, os.O_BINARY)
            msvcrt.setmode(reply_fd, os.O_BINARY)
    else:
        request_fd, reply_fd = int(sys.argv[2]), int(sys.argv[3])
    serve(request_fd, reply_fd)


if __name__ == "__flytelite_worker__":
    main()
