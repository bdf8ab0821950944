"""pyarrow arrays and tables in the canonical encoding, by content.

An Arrow value is hashed as its Arrow IPC stream: the schema (types, field
names, nullability, field and schema metadata, extension types' names and
serialised parameters) and every record batch's buffers, written by pyarrow
itself, with slicing offsets resolved. That is a faithful serialisation (it
reads back as the same data), so equal streams mean equal values. Two equal
arrays can still hash differently in harmless ways: bytes under nulls, the
unused part of a sliced string buffer. Chunk boundaries are part of the value
(a task can see `num_chunks`), so each column's chunk lengths are hashed too.

The stream goes straight into a blake3 hasher: pyarrow hands its buffers over
without copying them. Imported only when a pyarrow value is seen.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import blake3

from ._hashing import Encoder, Update, _encode, _identity_bytes, _pack_len

__all__ = ["classify", "enc_chunked_array"]

# Record batches are cut at this many rows, so that no buffer handed to the hasher
# is bigger than a batch's share of a column.
_BATCH_ROWS = 1 << 16
_pa: Any = sys.modules["pyarrow"]


def classify(t: type) -> Encoder | None:
    """The encoder of a pyarrow `Array`, `ChunkedArray`, `RecordBatch` or `Table`."""
    pa = _pa
    ident = _identity_bytes(t)
    if issubclass(t, pa.Array):
        return lambda v, up: _enc(ident, pa.table({"": v}), up)
    if t is pa.ChunkedArray:
        return lambda v, up: _enc(ident, pa.table({"": v}), up)
    if t is pa.RecordBatch:
        return lambda v, up: _enc(ident, pa.Table.from_batches([v]), up)
    if t is pa.Table:
        return lambda v, up: _enc(ident, v, up)
    return None


def enc_chunked_array(v: Any, up: Update) -> None:
    """A `ChunkedArray` inside another value (a pandas Arrow-backed column)."""
    _enc(b"", _pa.table({"": v}), up)


class _Sink:
    """A write-only file whose bytes go to a blake3 hasher."""

    closed = False

    def __init__(self) -> None:
        self.hasher = blake3.blake3()
        self.size = 0

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.hasher.update(data)
        self.size += n
        return n

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _enc(ident: bytes, table: Any, up: Update) -> None:
    ipc = importlib.import_module("pyarrow.ipc")
    layout = [[len(chunk) for chunk in column.chunks] for column in table.columns]
    sink = _Sink()
    options = ipc.IpcWriteOptions(compression=None)
    with ipc.new_stream(_pa.PythonFile(sink, mode="w"), table.schema, options=options) as w:
        for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
            w.write_batch(batch)
    up(b"&R" + ident + _pack_len(table.num_rows))
    _encode(layout, up)
    up(_pack_len(sink.size) + sink.hasher.digest())
