"""pandas objects in the canonical encoding.

A `DataFrame` is its exact class, `flags.allows_duplicate_labels`, `attrs`, its
index, its columns, and every column's array; a `Series` is the same with a
name and one array; an `Index` is its class, names and values (a `RangeIndex`
by start, stop and step, a `MultiIndex` by levels, codes and names, a
`DatetimeIndex` and a `TimedeltaIndex` with their `freq`).

Each column array is hashed by its kind, fully: numpy-backed columns by their
buffer (items for object columns); `Categorical` by codes, categories and
`ordered`; nullable (masked) arrays by their data and mask buffers; datetimes by
their datetime64 buffer (which carries the unit) and time zone; periods by
their ordinals and `freq`; intervals by left, right and `closed`; sparse arrays
by values, index, fill value and length; strings by storage and `na_value`,
then their items or their Arrow data; Arrow-backed arrays by their Arrow data
(`_hash_arrow`); any other ExtensionArray by its classes, `str(dtype)` and its
items. pandas' own per-cell hash (`hash_pandas_object`, 64 bits, not
collision-resistant) is never used. Imported only when a pandas value is seen.
"""

from __future__ import annotations

import sys
from typing import Any

from ._hash_rules import refuse
from ._hashing import (
    Encoder,
    Update,
    _at,
    _enc_sequence,
    _encode,
    _identity_bytes,
    _pack_len,
    _str,
    _Unhashable,
    class_identity,
)

__all__ = ["classify"]

_pd: Any = sys.modules["pandas"]


def classify(t: type) -> Encoder | None:
    """The encoder of pandas class `t`, or a refusal."""
    pd = _pd
    own = t.__module__.split(".", 1)[0] == "pandas"
    extension_array = pd.api.extensions.ExtensionArray
    if issubclass(t, extension_array):
        return _rule_array(t) if own else _rule_other_array(t)
    if not own:
        return refuse(
            t,
            f"a subclass of a pandas class defined outside pandas ({class_identity(t)}) may "
            "hold state that flytelite cannot see",
        )
    if t is pd.DataFrame:
        return _enc_frame
    if t is pd.Series:
        return _enc_series
    if issubclass(t, pd.Index):
        return _rule_index(t)
    scalars: list[tuple[type, Encoder]] = [
        (pd.Timestamp, _enc_timestamp),
        (pd.Timedelta, _enc_timedelta),
        (pd.Period, _enc_period),
        (pd.Interval, _enc_interval),
        (type(pd.NaT), _rule_singleton(b"%N", t)),
        (type(pd.NA), _rule_singleton(b"%A", t)),
    ]
    for cls, enc in scalars:
        if t is cls:
            return enc
    if issubclass(t, pd.offsets.BaseOffset):
        return _rule_offset(t)
    return refuse(t)


def _rule_singleton(tag: bytes, t: type) -> Encoder:
    ident = tag + _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        up(ident)

    return enc


def _enc_meta(v: Any, up: Update) -> None:
    up(b"T" if v.flags.allows_duplicate_labels else b"F")
    try:
        _encode(v.attrs, up)
    except _Unhashable as exc:
        raise _at(exc, ".attrs") from None


def _enc_frame(v: Any, up: Update) -> None:
    up(b"%F")
    _enc_meta(v, up)
    _enc_index(v.index, up, ".index")
    _enc_index(v.columns, up, ".columns")
    if hasattr(v, "_iter_column_arrays"):
        arrays = list(v._iter_column_arrays())
    else:  # a pandas without it: the same arrays, one Series at a time
        arrays = [v.iloc[:, i].array for i in range(v.shape[1])]
    up(_pack_len(len(arrays)))
    for label, values in zip(v.columns, arrays):
        _enc_values(values, up, f"[{label!r}]")


def _enc_series(v: Any, up: Update) -> None:
    up(b"%V")
    _enc_meta(v, up)
    try:
        _encode(v.name, up)
    except _Unhashable as exc:
        raise _at(exc, ".name") from None
    _enc_index(v.index, up, ".index")
    _enc_values(v.array, up, "")


def _enc_index(v: Any, up: Update, where: str) -> None:
    try:
        _encode(v, up)
    except _Unhashable as exc:
        raise _at(exc, where) from None


def _enc_values(values: Any, up: Update, where: str) -> None:
    """A column's array: a plain ndarray for numpy-backed columns, else its ExtensionArray."""
    if type(values) is _pd.arrays.NumpyExtensionArray:
        values = values.to_numpy()
    try:
        _encode(values, up)
    except _Unhashable as exc:
        if where:
            raise _at(exc, where) from None
        raise


def _rule_index(t: type) -> Encoder:
    pd = _pd
    ident = b"%I" + _identity_bytes(t)

    def names(v: Any, up: Update) -> None:
        up(ident)
        try:
            _encode(list(v.names), up)
        except _Unhashable as exc:
            raise _at(exc, ".names") from None

    if issubclass(t, pd.RangeIndex):

        def enc_range(v: Any, up: Update) -> None:
            names(v, up)
            _encode((v.start, v.stop, v.step), up)

        return enc_range
    if issubclass(t, pd.MultiIndex):

        def enc_multi(v: Any, up: Update) -> None:
            names(v, up)
            _encode(list(v.levels), up)
            _encode(list(v.codes), up)
            _encode(v.sortorder, up)

        return enc_multi
    with_freq = issubclass(t, (pd.DatetimeIndex, pd.TimedeltaIndex))

    def enc(v: Any, up: Update) -> None:
        names(v, up)
        _enc_values(v.array, up, "")
        if with_freq:
            _encode(v.freq, up)

    return enc


def _arrays() -> dict[str, Any]:
    pd = _pd
    return {
        "categorical": pd.Categorical,
        "string": sys.modules["pandas.core.arrays.string_"].BaseStringArray,
        "masked": sys.modules["pandas.core.arrays.masked"].BaseMaskedArray,
        "datetime": pd.arrays.DatetimeArray,
        "timedelta": pd.arrays.TimedeltaArray,
        "period": pd.arrays.PeriodArray,
        "interval": pd.arrays.IntervalArray,
        "sparse": pd.arrays.SparseArray,
        "arrow": pd.arrays.ArrowExtensionArray,
        "numpy": pd.arrays.NumpyExtensionArray,
    }


def _rule_array(t: type) -> Encoder:
    """pandas' own ExtensionArrays, by kind."""
    kinds = _arrays()
    kind = next((name for name, cls in kinds.items() if issubclass(t, cls)), None)
    ident = b"%X" + _identity_bytes(t)
    if kind is None:
        return _rule_other_array(t)

    def enc(v: Any, up: Update) -> None:
        up(ident)
        _ENCODERS[kind](v, up)

    return enc


def _enc_categorical(v: Any, up: Update) -> None:
    up(b"T" if v.ordered else b"F")
    _encode(v.codes, up)
    _enc_index(v.categories, up, ".categories")


def _enc_string(v: Any, up: Update) -> None:
    dtype = v.dtype
    _str(up, b"s", dtype.storage)
    _encode(dtype.na_value, up)
    if hasattr(v, "_pa_array"):
        from ._hash_arrow import enc_chunked_array

        enc_chunked_array(v._pa_array, up)
    else:
        _encode(v._ndarray, up)


def _enc_masked(v: Any, up: Update) -> None:
    _str(up, b"s", class_identity(type(v.dtype)))
    _encode(v._data, up)
    _encode(v._mask, up)


def _enc_datetimelike(v: Any, up: Update) -> None:
    # The datetime64 / timedelta64 buffer's dtype carries the unit.
    _encode(v._ndarray, up)
    _encode(getattr(v.dtype, "tz", None), up)
    if getattr(type(v), "freq", None) is not None:  # pandas 2: arrays carry a freq
        _encode(v.freq, up)


def _enc_period_array(v: Any, up: Update) -> None:
    _encode(v.dtype.freq, up)
    _encode(v.asi8, up)


def _enc_interval_array(v: Any, up: Update) -> None:
    _str(up, b"s", v.closed)
    _enc_index(v.left, up, ".left")
    _enc_index(v.right, up, ".right")


def _enc_sparse(v: Any, up: Update) -> None:
    index = v.sp_index
    _encode(v.dtype.subtype, up)
    _encode(v.fill_value, up)
    _str(up, b"s", v.kind)
    _encode(len(v), up)
    _encode(v.sp_values, up)
    _encode(index.to_int_index().indices, up)


def _enc_arrow_array(v: Any, up: Update) -> None:
    from ._hash_arrow import enc_chunked_array

    enc_chunked_array(v._pa_array, up)


def _enc_numpy_array(v: Any, up: Update) -> None:
    _encode(v.to_numpy(), up)


_ENCODERS: dict[str, Encoder] = {
    "categorical": _enc_categorical,
    "string": _enc_string,
    "masked": _enc_masked,
    "datetime": _enc_datetimelike,
    "timedelta": _enc_datetimelike,
    "period": _enc_period_array,
    "interval": _enc_interval_array,
    "sparse": _enc_sparse,
    "arrow": _enc_arrow_array,
    "numpy": _enc_numpy_array,
}


def _rule_other_array(t: type) -> Encoder:
    """An ExtensionArray flytelite does not know: its classes, `str(dtype)` and items."""
    ident = b"%E" + _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        up(ident + _identity_bytes(type(v.dtype)))
        _str(up, b"s", str(v.dtype))
        _enc_sequence(b"l", list(v), up)

    return enc


def _enc_timestamp(v: Any, up: Update) -> None:
    # `asm8` is the datetime64 value (UTC when aware) in the Timestamp's own unit.
    up(b"%T" + (b"1" if v.fold else b"0"))
    _encode(v.asm8, up)
    _encode(v.tzinfo, up)


def _enc_timedelta(v: Any, up: Update) -> None:
    up(b"%D")
    _encode(v.asm8, up)


def _enc_period(v: Any, up: Update) -> None:
    up(b"%P")
    _encode(v.ordinal, up)
    _encode(v.freq, up)


def _enc_interval(v: Any, up: Update) -> None:
    up(b"%v")
    _encode((v.left, v.right, v.closed), up)


def _rule_offset(t: type) -> Encoder:
    """A date offset (`freq`): its class, `n`, `normalize` and its parameters."""
    ident = b"%O" + _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        up(ident)
        _encode((v.n, v.normalize), up)
        try:
            _encode(dict(v.kwds), up)
        except _Unhashable as exc:
            raise _at(exc, ".kwds") from None

    return enc
