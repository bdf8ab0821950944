"""Canonical, type-tagged hashing of task inputs with blake3.

The encoding is a byte stream fed to one blake3 hasher. Every value writes a
type tag, then its content, with lengths wherever a value has variable size, so
that two different values can never produce the same stream. It depends on
nothing that varies between processes: not `hash()`, not `id()`, not `repr()`
of arbitrary objects, and never pickle bytes. Classes are named by their
`__qualname__` only, so a script run as `__main__` and the same file imported
as a module hash alike.

Large buffers (bytes, numpy arrays) are hashed in place with blake3's
multithreaded mode and enter the stream as their digest; they are never copied.
This module imports nothing of flytelite but its errors.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import inspect
import struct
import sys
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

import blake3

from ._errors import UnhashableInputError

__all__ = ["HashMethod", "function_fingerprint", "hash_inputs", "hash_value"]

# Above this size a buffer is hashed on its own with every core, then enters the
# stream as a digest. Below it, threads cost more than they save.
_BIG_BUFFER = 1 << 20
_pack_len = struct.Struct("<Q").pack
_pack_float = struct.Struct("<d").pack
_NAN = b"f" + _pack_float(float("nan"))

Update = Callable[[Any], object]


class HashMethod:
    """Hash a parameter with `fn(value)` instead of its value.

    Use it in an annotation: `Annotated[MyModel, fl.HashMethod(lambda m: m.version)]`.
    `fn` returns any value flytelite can hash (str, bytes, numbers, tuples, ...).
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any], /) -> None:
        if not callable(fn):
            raise TypeError(f"HashMethod expects a callable, got {fn!r}")
        self.fn = fn

    def __repr__(self) -> str:
        return f"HashMethod({getattr(self.fn, '__qualname__', self.fn)!r})"


class _Unhashable(Exception):
    """Internal: a value the encoding rejects; `path` grows while unwinding."""

    def __init__(self, type_name: str, detail: str = "") -> None:
        super().__init__(type_name)
        self.type_name = type_name
        self.detail = detail
        self.path: list[str] = []


def _type_name(t: type) -> str:
    return t.__qualname__


def _str(up: Update, tag: bytes, s: str) -> None:
    data = s.encode("utf-8", "surrogatepass")
    up(tag + _pack_len(len(data)))
    up(data)


def _buffer(up: Update, tag: bytes, buf: Any, nbytes: int) -> None:
    if nbytes >= _BIG_BUFFER:
        digest = blake3.blake3(buf, max_threads=blake3.blake3.AUTO).digest()
        up(tag + b"H" + _pack_len(nbytes) + digest)
    else:
        up(tag + _pack_len(nbytes))
        up(buf)


def _enc_none(v: Any, up: Update) -> None:
    up(b"N")


def _enc_bool(v: bool, up: Update) -> None:
    up(b"T" if v else b"F")


def _enc_int(v: int, up: Update) -> None:
    # Hex, not repr: repr of a huge int raises past sys.get_int_max_str_digits(),
    # a limit that varies by process; hex has no limit.
    _str(up, b"i", hex(v))


def _enc_float(v: float, up: Update) -> None:
    up(_NAN if v != v else b"f" + _pack_float(v))


def _enc_complex(v: complex, up: Update) -> None:
    up(b"c")
    _enc_float(v.real, up)
    _enc_float(v.imag, up)


def _enc_str(v: str, up: Update) -> None:
    _str(up, b"s", v)


def _enc_bytes(v: bytes, up: Update) -> None:
    _buffer(up, b"b", v, len(v))


def _enc_bytearray(v: bytearray, up: Update) -> None:
    _buffer(up, b"y", v, len(v))


def _enc_memoryview(v: memoryview, up: Update) -> None:
    if not v.c_contiguous:
        raise _Unhashable("memoryview", "a non-contiguous memoryview has no single buffer")
    _str(up, b"m", f"{v.format}|{v.shape}")
    _buffer(up, b"", v.cast("B") if v.ndim != 1 or v.format != "B" else v, v.nbytes)


def _enc_sequence(tag: bytes, v: Any, up: Update) -> None:
    up(tag + _pack_len(len(v)))
    for i, item in enumerate(v):
        try:
            _encode(item, up)
        except _Unhashable as exc:
            exc.path.append(f"[{i}]")
            raise


def _enc_list(v: list[Any], up: Update) -> None:
    _enc_sequence(b"l", v, up)


def _enc_tuple(v: tuple[Any, ...], up: Update) -> None:
    _enc_sequence(b"t", v, up)


def _digest_of(v: Any) -> bytes:
    h = blake3.blake3()
    _encode(v, h.update)
    return h.digest()


def _enc_dict(v: Mapping[Any, Any], up: Update, tag: bytes = b"d") -> None:
    up(tag + _pack_len(len(v)))
    if all(type(k) is str for k in v):
        # The common case: string keys have a canonical order of their own.
        for k in sorted(v):
            _enc_str(k, up)
            try:
                _encode(v[k], up)
            except _Unhashable as exc:
                exc.path.append(f"[{k!r}]")
                raise
        return
    # Keys of mixed or other types: order by the digest of each (key, value) pair.
    pairs = []
    for k, item in v.items():
        h = blake3.blake3()
        try:
            _encode(k, h.update)
            _encode(item, h.update)
        except _Unhashable as exc:
            exc.path.append(f"[{k!r}]")
            raise
        pairs.append(h.digest())
    up(b"".join(sorted(pairs)))


def _enc_set(v: set[Any] | frozenset[Any], up: Update) -> None:
    up((b"S" if type(v) is set else b"Z") + _pack_len(len(v)))
    try:
        if all(type(x) is str for x in v):
            for x in sorted(v):
                _enc_str(x, up)
        else:
            up(b"".join(sorted(_digest_of(x) for x in v)))
    except _Unhashable as exc:
        exc.path.append("{...}")
        raise


def _enc_range(v: range, up: Update) -> None:
    up(b"r")
    for n in (v.start, v.stop, v.step):
        _enc_int(n, up)


def _enc_datetime(v: _dt.datetime, up: Update) -> None:
    _str(up, b"D", v.isoformat())


def _enc_date(v: _dt.date, up: Update) -> None:
    _str(up, b"a", v.isoformat())


def _enc_time(v: _dt.time, up: Update) -> None:
    _str(up, b"h", v.isoformat())


def _enc_timedelta(v: _dt.timedelta, up: Update) -> None:
    up(b"j")
    for n in (v.days, v.seconds, v.microseconds):
        _enc_int(n, up)


def _enc_decimal(v: Any, up: Update) -> None:
    _str(up, b"x", str(v))


def _enc_uuid(v: Any, up: Update) -> None:
    up(b"u" + v.bytes)


_DISPATCH: dict[type, Callable[[Any, Update], None]] = {
    type(None): _enc_none,
    bool: _enc_bool,
    int: _enc_int,
    float: _enc_float,
    complex: _enc_complex,
    str: _enc_str,
    bytes: _enc_bytes,
    bytearray: _enc_bytearray,
    memoryview: _enc_memoryview,
    list: _enc_list,
    tuple: _enc_tuple,
    dict: _enc_dict,
    set: _enc_set,
    frozenset: _enc_set,
    range: _enc_range,
    _dt.datetime: _enc_datetime,
    _dt.date: _enc_date,
    _dt.time: _enc_time,
    _dt.timedelta: _enc_timedelta,
}


_LAZY: dict[tuple[str, str], Callable[[Any, Update], None]] = {
    ("decimal", "Decimal"): _enc_decimal,
    ("uuid", "UUID"): _enc_uuid,
}


def _encode(v: Any, up: Update) -> None:
    enc = _DISPATCH.get(type(v))
    if enc is not None:
        enc(v, up)
    else:
        _encode_other(v, up)


def _enc_named_fields(tag: bytes, t: type, items: list[tuple[str, Any]], up: Update) -> None:
    _str(up, tag, _type_name(t))
    up(_pack_len(len(items)))
    for name, item in items:
        _enc_str(name, up)
        try:
            _encode(item, up)
        except _Unhashable as exc:
            exc.path.append(f".{name}")
            raise


def _is_pydantic_model(t: type) -> bool:
    return any(
        base.__name__ == "BaseModel" and base.__module__.startswith("pydantic")
        for base in t.__mro__[1:]
    )


def _encode_other(v: Any, up: Update) -> None:
    t = type(v)
    # Decimal and UUID values imply their modules are loaded: register them on first
    # sight rather than importing decimal and uuid with flytelite.
    lazy = _LAZY.get((t.__module__, t.__qualname__))
    if lazy is not None:
        _DISPATCH[t] = lazy
        lazy(v, up)
        return
    custom = getattr(t, "__flytelite_hash__", None)
    if custom is not None:
        _str(up, b"U", _type_name(t))
        _encode(v.__flytelite_hash__(), up)
        return
    module = t.__module__
    if module == "numpy" or module.startswith("numpy."):
        _enc_numpy(v, up)
        return
    # pandas names its public classes' module "pandas"; its scalars (Timestamp,
    # Timedelta) are datetime subclasses and fall through to the generic rules.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(v, (pd.DataFrame, pd.Series, pd.Index)):
        _enc_pandas(v, up)
        return
    if isinstance(v, enum.Enum):
        _str(up, b"e", _type_name(t))
        _encode(v.value, up)
        return
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        fields = [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v)]
        _enc_named_fields(b"C", t, fields, up)
        return
    if isinstance(v, tuple) and hasattr(t, "_fields"):
        _enc_named_fields(b"n", t, list(zip(t._fields, v)), up)
        return
    if isinstance(v, PurePath):
        _str(up, b"p", v.as_posix())
        return
    if _is_pydantic_model(t):
        _enc_named_fields(b"P", t, sorted(v.model_dump().items()), up)
        return
    # Subclasses of the built-in types hash as their base type, tagged with their name.
    for base, enc in _DISPATCH.items():
        if base is not type(None) and isinstance(v, base):
            _str(up, b"X", _type_name(t))
            enc(v, up)
            return
    raise _Unhashable(_type_name(t))


def _enc_numpy(v: Any, up: Update) -> None:
    np = sys.modules["numpy"]
    ma = sys.modules.get("numpy.ma")
    if ma is not None and isinstance(v, ma.MaskedArray):
        # Its data alone would ignore the mask: hash both, as plain arrays.
        _str(up, b"X", _type_name(type(v)))
        _enc_numpy(ma.getdata(v), up)
        _enc_numpy(ma.getmaskarray(v), up)
        return
    if isinstance(v, np.ndarray):
        _str(up, b"A", f"{v.dtype.str}|{v.dtype.descr}|{v.shape}")
        if v.dtype.hasobject:
            _enc_sequence(b"l", v.ravel().tolist(), up)
            return
        if not v.flags.c_contiguous:
            v = np.ascontiguousarray(v)  # a strided view has no single buffer to hash
        _buffer(up, b"", v.reshape(-1).view(np.uint8), v.nbytes)
        return
    if isinstance(v, np.generic):
        _str(up, b"g", v.dtype.str)
        if v.dtype.hasobject:
            _encode(v.item(), up)
        else:
            up(v.tobytes())
        return
    raise _Unhashable(_type_name(type(v)))


def _enc_pandas(v: Any, up: Update) -> None:
    """A DataFrame, Series or Index: labels, dtypes and cells, each type-tagged."""
    pd = sys.modules["pandas"]
    _str(up, b"F", _type_name(type(v)))
    if isinstance(v, pd.Index):
        _enc_pandas_column(v, up)
        return
    _enc_pandas_column(v.index, up)
    if isinstance(v, pd.Series):
        _encode(v.name, up)
        _enc_pandas_column(v, up)
        return
    _enc_pandas_column(v.columns, up)
    for i in range(v.shape[1]):
        _enc_pandas_column(v.iloc[:, i], up)


def _enc_pandas_column(v: Any, up: Update) -> None:
    """One Series or Index: names, dtype and values (not a Series' index)."""
    pd = sys.modules["pandas"]
    if isinstance(v, pd.Index):
        _encode(list(v.names), up)
    _enc_str(str(v.dtype), up)
    if v.dtype == object:
        # pandas would hash these cells by str(): 1 and "1" would agree, and an
        # arbitrary object would hash by its address. Encode them like a list.
        _enc_sequence(b"l", v.tolist(), up)
        return
    try:
        rows = pd.util.hash_pandas_object(v, index=False).to_numpy()
    except TypeError as exc:
        raise _Unhashable(_type_name(type(v)), f"pandas cannot hash its cells ({exc})") from None
    _enc_numpy(rows, up)


def _digest(v: Any, method: HashMethod | None) -> bytes:
    h = blake3.blake3()
    if method is None:
        _encode(v, h.update)
    else:
        h.update(b"M")
        _encode(method.fn(v), h.update)
    return h.digest()


def hash_value(value: Any, *, method: HashMethod | None = None) -> bytes:
    """The 32-byte digest of a value's canonical encoding.

    Raises:
        TypeError: the value (or something inside it) cannot be hashed.
    """
    try:
        return _digest(value, method)
    except _Unhashable as exc:
        raise TypeError(f"cannot hash a value of type {exc.type_name!r}") from None


def hash_inputs(
    task: str,
    inputs: Mapping[str, Any],
    methods: Mapping[str, HashMethod] | None = None,
) -> dict[str, bytes]:
    """One digest per input, in the order given.

    Raises:
        UnhashableInputError: naming `task`, the parameter, the type, and where
            inside the value the problem sits.
    """
    out = {}
    for name, value in inputs.items():
        method = methods.get(name) if methods else None
        try:
            out[name] = _digest(value, method)
        except _Unhashable as exc:
            raise UnhashableInputError(
                task=task,
                parameter=name,
                type_name=exc.type_name,
                path="".join(reversed(exc.path)),
                detail=exc.detail,
            ) from None
        except RecursionError:
            raise UnhashableInputError(
                task=task,
                parameter=name,
                type_name=type(value).__qualname__,
                detail="the value is nested too deeply or contains itself",
            ) from None
    return out


def function_fingerprint(func: Callable[..., Any]) -> str:
    """A version string derived from a function's code.

    Built from the syntax tree of its source without decorators or docstring, so
    editing the body changes it while comments and formatting do not. Functions
    without source (built in a REPL, generated) fall back to their bytecode.
    """
    import ast  # lazily: only tasks without an explicit cache version need it
    import textwrap

    h = blake3.blake3(b"flytelite-fingerprint-1")
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
        node = tree.body[0]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.decorator_list = []
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        h.update(ast.dump(node, annotate_fields=False).encode())
    except (OSError, TypeError, SyntaxError, IndexError):
        code = getattr(func, "__code__", None)
        if code is None:
            h.update(_type_name(type(func)).encode())
        else:
            _update_code(h, code)
    return h.hexdigest()[:16]


def _update_code(h: blake3.blake3, code: Any) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if inspect.iscode(const):
            _update_code(h, const)
        elif isinstance(const, frozenset):  # `x in {"a", "b"}`: its repr order varies by seed
            h.update(repr(sorted(map(repr, const))).encode())
        else:
            h.update(repr(const).encode())
