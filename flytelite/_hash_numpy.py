"""numpy arrays, scalars and dtypes in the canonical encoding.

An array enters the stream as its exact class, its dtype (everything that
defines it: `dtype.str`, the dtype class, the scalar type, fields with offsets
and titles, `descr`, subarray shape, metadata), its shape, and its contents in C
order. The contents are never copied whole: a C-contiguous array is hashed in
place (with every core when big), any other layout is streamed in chunks of
about 1 MiB so that its digest equals the digest of its C-contiguous copy.
Object arrays (and numpy's `StringDType`, whose buffer holds pointers) are
encoded item by item. Imported only when a numpy value is seen.
"""

from __future__ import annotations

import struct
import sys
from typing import Any

import blake3

from ._hash_rules import enc_state, refuse, state_layout
from ._hashing import (
    _BIG_BUFFER,
    Encoder,
    Update,
    _at,
    _enc_sequence,
    _encode,
    _identity_bytes,
    _pack_len,
    _Unhashable,
    class_identity,
)

__all__ = ["c_order_contents", "classify"]

_CHUNK = 1 << 20
_pack_dim = struct.Struct("<q").pack
_DTYPES: dict[int, tuple[Any, bytes]] = {}
_np: Any = sys.modules["numpy"]


def classify(t: type) -> Encoder | None:
    """The encoder of numpy class `t` (or of a subclass of `ndarray` or `generic`)."""
    np = _np
    own = t.__module__.split(".", 1)[0] == "numpy"
    if issubclass(t, np.ndarray):
        ma = sys.modules.get("numpy.ma")
        if ma is not None and issubclass(t, ma.MaskedArray):
            if not own:
                return refuse(t, "a MaskedArray subclass from outside numpy has unknown state")
            return _rule_masked(t)
        if own:
            # numpy's own subclasses (matrix, recarray, memmap, chararray) hold no state
            # of their own beyond the data; a memmap is keyed by content, not file name.
            return _rule_array(t, None)
        layout = state_layout(t, np.ndarray)
        if layout is None:
            return refuse(t, "it subclasses numpy.ndarray with C-level state")
        return _rule_array(t, layout)
    if issubclass(t, np.generic):
        return _rule_scalar(t) if own else refuse(t, "a numpy scalar subclass from outside numpy")
    if issubclass(t, np.dtype):
        return _enc_dtype_value
    if t is np.busdaycalendar:
        return _enc_busdaycalendar
    return None


def _rule_array(t: type, layout: Any) -> Encoder:
    ident = _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        _header(ident, v, up)
        c_order_contents(v.view(_np.ndarray), up)
        if layout is not None:
            enc_state(v, layout, up)

    return enc


def _header(ident: bytes, v: Any, up: Update) -> None:
    shape = v.shape
    up(
        b"#A"
        + ident
        + _dtype_tag(v.dtype)
        + _pack_len(len(shape))
        + b"".join(_pack_dim(n) for n in shape)
    )


def _dtype_tag(dtype: Any) -> bytes:
    entry = _DTYPES.get(id(dtype))
    if entry is not None and entry[0] is dtype:
        return entry[1]
    parts: list[bytes] = []
    _encode(_dtype_spec(dtype), parts.append)
    tag = b"".join(parts)
    tag = _pack_len(len(tag)) + tag
    if dtype.metadata is None:  # metadata is a mutable dict's view: never memoised
        if len(_DTYPES) >= 1024:
            _DTYPES.clear()
        _DTYPES[id(dtype)] = (dtype, tag)
    return tag


def _dtype_spec(dtype: Any) -> tuple[Any, ...]:
    """Everything that defines a dtype, as plain values."""
    cls = type(dtype)
    if cls.__module__.split(".", 1)[0] != "numpy" and dtype.isbuiltin != 2:
        raise _Unhashable(cls.__qualname__, "a dtype from outside numpy with unknown layout")
    spec: list[Any] = [class_identity(cls), dtype.str, class_identity(dtype.type), dtype.itemsize]
    if dtype.names is not None:
        fields = []
        for name in dtype.names:
            field = dtype.fields[name]
            fields.append((name, _dtype_spec(field[0]), field[1], field[2:]))
        spec += ["fields", fields, dtype.isalignedstruct, _descr(dtype)]
    if dtype.subdtype is not None:
        spec += ["subarray", _dtype_spec(dtype.subdtype[0]), dtype.subdtype[1]]
    if dtype.kind == "T":
        spec += ["string", getattr(dtype, "na_object", _NoNA), dtype.coerce]
    if dtype.metadata is not None:
        spec += ["metadata", dict(dtype.metadata)]
    return tuple(spec)


def _descr(dtype: Any) -> Any:
    try:
        return dtype.descr
    except (TypeError, ValueError):  # overlapping fields have none; their offsets say it all
        return None


class _NoNA:
    """Stands for a StringDType without `na_object` (a class: hashed by identity)."""


def c_order_contents(a: Any, up: Update) -> None:
    """An exact ndarray's items in C order: its bytes, or its items for object dtypes."""
    dtype = a.dtype
    if dtype.hasobject:
        if dtype.names is not None:
            # Field by field: each field's view is a strided array of its own.
            up(b"#f")
            for name in dtype.names:
                try:
                    c_order_contents(a[name], up)
                except _Unhashable as exc:
                    raise _at(exc, f"[{name!r}]") from None
            return
        _enc_sequence(b"l", a.reshape(-1).tolist(), up)
        return
    nbytes = a.nbytes
    if a.flags.c_contiguous:
        buf = a.reshape(-1).view(_np.uint8) if nbytes else b""
        if nbytes >= _BIG_BUFFER:
            digest = blake3.blake3(buf, max_threads=blake3.blake3.AUTO).digest()
            up(b"H" + _pack_len(nbytes) + digest)
        else:
            up(b"=" + _pack_len(nbytes))
            up(buf)
        return
    if nbytes < _BIG_BUFFER:
        up(b"=" + _pack_len(nbytes))
        up(_np.ascontiguousarray(a).reshape(-1).view(_np.uint8))
        return
    h = blake3.blake3(max_threads=blake3.blake3.AUTO)
    _stream(a, h.update)
    up(b"H" + _pack_len(nbytes) + h.digest())


def _stream(a: Any, update: Update) -> None:
    """Feed `a`'s bytes in C order, about `_CHUNK` at a time, copying no more than that."""
    if a.flags.c_contiguous:
        if a.nbytes:
            update(a.reshape(-1).view(_np.uint8))
        return
    n = a.shape[0]
    row = a.nbytes // n
    if row > _CHUNK and a.ndim > 1:
        for i in range(n):
            _stream(a[i], update)
        return
    step = max(1, _CHUNK // row)
    for i in range(0, n, step):
        update(_np.ascontiguousarray(a[i : i + step]).reshape(-1).view(_np.uint8))


def _rule_masked(t: type) -> Encoder:
    ident = _identity_bytes(t)
    ma = sys.modules["numpy.ma"]

    def enc(v: Any, up: Update) -> None:
        # The data, the mask (`nomask` and an all-False mask are told apart, as numpy
        # does), the fill value as set (None: numpy's default) and the hard-mask flag.
        up(b"#M" + ident)
        _encode(ma.getdata(v), up)
        _encode(ma.getmask(v), up)
        _encode(v._fill_value, up)
        up(b"T" if v.hardmask else b"F")

    return enc


def _rule_scalar(t: type) -> Encoder:
    ident = _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        dtype = v.dtype
        up(b"#g" + ident + _dtype_tag(dtype))
        if dtype.hasobject:
            _encode(v.item(), up)
        else:
            data = v.tobytes()
            up(_pack_len(len(data)) + data)

    return enc


def _enc_dtype_value(v: Any, up: Update) -> None:
    up(b"#d" + _dtype_tag(v))


def _enc_busdaycalendar(v: Any, up: Update) -> None:
    up(b"#b")
    _encode(v.weekmask, up)
    _encode(v.holidays, up)
