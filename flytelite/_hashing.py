"""Canonical, type-tagged hashing of task inputs with blake3.

The encoding is a byte stream fed to one blake3 hasher. Its contract: two values
may share a stream only when every operation a task could apply to them agrees.
So every value writes its exact class (a one-byte tag for the built-in types,
`class_identity` otherwise) and everything that defines it, with lengths wherever
a value has variable size, so that the stream is prefix-free. Anything that the
encoder cannot encode soundly raises `_Unhashable`, reported to the user as
`UnhashableInputError` before the task runs; nothing is hashed by a lossy proxy.
The stream depends on nothing that varies between processes: not `hash()`, not
`id()`, not `repr()` of arbitrary objects, and never pickle bytes.

Dispatch is on the exact type. The built-in types have fixed encoders
(`_DISPATCH`); every other class is classified once by the rules in
`_CLASSIFIERS` and the result memoised (`_RULES`). numpy, pandas and pyarrow
values are encoded by `_hash_numpy`, `_hash_pandas` and `_hash_arrow`, imported
only when such a value is seen.

Large buffers (bytes, numpy arrays) are hashed in place with blake3's
multithreaded mode and enter the stream as their digest; they are never copied.
This module imports nothing of flytelite but its errors.
"""

from __future__ import annotations

import datetime as _dt
import struct
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import blake3

from ._errors import UnhashableInputError

__all__ = [
    "HashMethod",
    "canonical_module",
    "class_identity",
    "hash_inputs",
    "hash_value",
]

# Above this size a buffer is hashed on its own with every core, then enters the
# stream as a digest. Below it, threads cost more than they save.
_BIG_BUFFER = 1 << 20
# Every digest starts with this, so that no key of this encoding can equal a key
# of the earlier, unsound one (whose streams began with a letter).
_DOMAIN = b"\x00flytelite-inputs-2\x00"
_MEMO_SIZE = 4096
_pack_len = struct.Struct("<Q").pack
_pack_float = struct.Struct("<d").pack
_pack_date = struct.Struct("<HBB").pack
_pack_clock = struct.Struct("<BBBIB").pack
_pack_timedelta = struct.Struct("<iII").pack

Update = Callable[[Any], object]
Encoder = Callable[[Any, Update], None]


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


# -- naming classes ----------------------------------------------------------------------


def canonical_module(name: str) -> str:
    """The name under which module `name` is keyed.

    A script's module is called `"__main__"` when it runs (`python x.py`,
    `python -m pkg.x`), and `"__mp_main__"` in a multiprocessing child, but has
    its own name when imported (`flytelite run x.py` loads it as `x`, see
    `flytelite.cli.load_file`). Both main names map to the name the module was
    run as (`__main__.__spec__.name`) or, for a file run directly, to the file's
    stem, so that the script and its import agree. Without a file (a REPL, a
    notebook, `python -c`) the name stays as it is. Every other name is itself.
    """
    if name != "__main__" and name != "__mp_main__":
        return name
    main = sys.modules.get(name)
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if isinstance(spec_name, str) and spec_name and spec_name not in ("__main__", "__mp_main__"):
        return spec_name
    file = getattr(main, "__file__", None)
    if isinstance(file, str) and file:
        stem = file.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0]
        if stem:
            return stem
    return name


_IDENTITIES: dict[int, tuple[type, str]] = {}


def class_identity(t: type) -> str:
    """A class's name in keys: `"module:qualname"`, the module by `canonical_module`.

    The module is part of it, so that two `Config` classes of two modules differ.
    Memoised per class (the memo holds the class, so an id is never reused).
    """
    entry = _IDENTITIES.get(id(t))
    if entry is not None and entry[0] is t:
        return entry[1]
    module = getattr(t, "__module__", None)
    module = canonical_module(module) if isinstance(module, str) else "?"
    identity = f"{module}:{getattr(t, '__qualname__', t.__name__)}"
    if len(_IDENTITIES) >= _MEMO_SIZE:
        _IDENTITIES.clear()
    _IDENTITIES[id(t)] = (t, identity)
    return identity


def _type_name(t: type) -> str:
    """How error messages name a class: its qualified name."""
    return t.__qualname__


def _identity_bytes(t: type) -> bytes:
    data = class_identity(t).encode("utf-8", "surrogatepass")
    return _pack_len(len(data)) + data


# -- primitives --------------------------------------------------------------------------


def _str(up: Update, tag: bytes, s: str) -> None:
    data = str.encode(s, "utf-8", "surrogatepass")
    up(tag + _pack_len(len(data)))
    up(data)


def _buffer(up: Update, tag: bytes, buf: Any, nbytes: int) -> None:
    """A contiguous buffer: inline when small, as its digest when big."""
    if nbytes >= _BIG_BUFFER:
        digest = blake3.blake3(buf, max_threads=blake3.blake3.AUTO).digest()
        up(tag + b"H" + _pack_len(nbytes) + digest)
    else:
        up(tag + b"=" + _pack_len(nbytes))
        up(buf)


def _at(exc: _Unhashable, step: str) -> _Unhashable:
    exc.path.append(step)
    return exc


def _enc_none(v: Any, up: Update) -> None:
    up(b"N")


def _enc_bool(v: bool, up: Update) -> None:
    up(b"T" if v else b"F")


def _int_bytes(v: int) -> bytes:
    # Hex, not repr: repr of a huge int raises past sys.get_int_max_str_digits(),
    # a limit that varies by process; hex has no limit.
    data = hex(v).encode()
    return b"i" + _pack_len(len(data)) + data


def _str_bytes(v: str) -> bytes:
    data = str.encode(v, "utf-8", "surrogatepass")
    return b"s" + _pack_len(len(data)) + data


def _float_bytes(v: float) -> bytes:
    # The raw IEEE-754 bits: -0.0 and the sign and payload of a NaN are observable.
    return b"f" + _pack_float(v)


def _enc_int(v: int, up: Update) -> None:
    up(_int_bytes(v))


def _enc_float(v: float, up: Update) -> None:
    up(_float_bytes(v))


def _enc_complex(v: complex, up: Update) -> None:
    up(b"c" + _pack_float(v.real) + _pack_float(v.imag))


def _enc_str(v: str, up: Update) -> None:
    up(_str_bytes(v))


def _enc_bytes(v: bytes, up: Update) -> None:
    _buffer(up, b"b", v, len(v))


def _enc_bytearray(v: bytearray, up: Update) -> None:
    _buffer(up, b"y", v, len(v))


def _enc_memoryview(v: memoryview, up: Update) -> None:
    try:
        header = f"{v.format}|{v.shape}|{int(v.readonly)}"
        contiguous = v.c_contiguous
    except ValueError:
        raise _Unhashable("memoryview", "the memoryview is released") from None
    _str(up, b"m", header)
    if contiguous:
        _buffer(up, b"", v if v.ndim == 1 and v.format == "B" else v.cast("B"), v.nbytes)
        return
    np = sys.modules.get("numpy")
    if np is None:
        raise _Unhashable("memoryview", "a non-contiguous memoryview needs numpy to be hashed")
    from . import _hash_numpy

    _hash_numpy.c_order_contents(np.asarray(v), up)


def _enc_sequence(tag: bytes, v: Any, up: Update) -> None:
    up(tag + _pack_len(len(v)))
    for i, item in enumerate(v):
        try:
            _encode(item, up)
        except _Unhashable as exc:
            raise _at(exc, f"[{i}]") from None


def _enc_list(v: list[Any], up: Update) -> None:
    _enc_sequence(b"l", v, up)


def _enc_tuple(v: tuple[Any, ...], up: Update) -> None:
    _enc_sequence(b"t", v, up)


def _enc_items(tag: bytes, n: int, items: Iterable[tuple[Any, Any]], up: Update) -> None:
    """Key-value pairs in their order: a task can observe a dict's order (`list(d)`)."""
    up(tag + _pack_len(n))
    for k, item in items:
        try:
            _encode(k, up)
            _encode(item, up)
        except _Unhashable as exc:
            raise _at(exc, f"[{k!r}]") from None


def _enc_dict(v: dict[Any, Any], up: Update) -> None:
    _enc_items(b"d", len(v), v.items(), up)


def _digest_of(v: Any) -> bytes:
    h = blake3.blake3()
    _encode(v, h.update)
    return h.digest()


def _enc_members(tag: bytes, v: Iterable[Any], up: Update) -> None:
    """Set members in a canonical order: a set's iteration order is not part of it."""
    members = list(v)
    up(tag + _pack_len(len(members)))
    try:
        if all(type(x) is str for x in members):
            up(b"s")
            for x in sorted(members):
                _enc_str(x, up)
        else:
            up(b"h" + b"".join(sorted(_digest_of(x) for x in members)))
    except _Unhashable as exc:
        raise _at(exc, "{...}") from None


def _enc_set(v: set[Any], up: Update) -> None:
    _enc_members(b"S", v, up)


def _enc_frozenset(v: frozenset[Any], up: Update) -> None:
    _enc_members(b"Z", v, up)


def _enc_range(v: range, up: Update) -> None:
    up(b"r")
    for n in (v.start, v.stop, v.step):
        _enc_int(n, up)


def _enc_ellipsis(v: Any, up: Update) -> None:
    up(b"E")


# -- dates and times -----------------------------------------------------------------------
# Fields are read through the base classes' descriptors, so that these encoders are
# also right for subclasses that override an attribute.


def _getters(cls: type, *names: str) -> tuple[Callable[[Any], Any], ...]:
    """The unbound readers of `cls`'s attributes `names` (its own descriptors)."""
    return tuple(vars(cls)[name].__get__ for name in names)


_CLOCK = ("hour", "minute", "second", "microsecond", "tzinfo", "fold")
_YEAR, _MONTH, _DAY = _getters(_dt.date, "year", "month", "day")
_HOUR, _MINUTE, _SECOND, _MICRO, _TZ, _FOLD = _getters(_dt.datetime, *_CLOCK)
_T_HOUR, _T_MINUTE, _T_SECOND, _T_MICRO, _T_TZ, _T_FOLD = _getters(_dt.time, *_CLOCK)
_DAYS, _SECONDS, _MICROSECONDS = _getters(_dt.timedelta, "days", "seconds", "microseconds")


def _enc_tz(tz: Any, up: Update) -> None:
    try:
        _encode(tz, up)
    except _Unhashable as exc:
        raise _at(exc, ".tzinfo") from None


def _enc_date(v: _dt.date, up: Update) -> None:
    up(b"a" + _pack_date(_YEAR(v), _MONTH(v), _DAY(v)))


def _enc_datetime(v: _dt.datetime, up: Update) -> None:
    clock = _pack_clock(_HOUR(v), _MINUTE(v), _SECOND(v), _MICRO(v), _FOLD(v))
    up(b"D" + _pack_date(_YEAR(v), _MONTH(v), _DAY(v)) + clock)
    _enc_tz(_TZ(v), up)


def _enc_time(v: _dt.time, up: Update) -> None:
    up(b"h" + _pack_clock(_T_HOUR(v), _T_MINUTE(v), _T_SECOND(v), _T_MICRO(v), _T_FOLD(v)))
    _enc_tz(_T_TZ(v), up)


def _enc_timedelta(v: _dt.timedelta, up: Update) -> None:
    up(b"j" + _pack_timedelta(_DAYS(v), _SECONDS(v), _MICROSECONDS(v)))


def _enc_timezone(v: _dt.timezone, up: Update) -> None:
    # (offset,) or (offset, name): what the timezone was built from.
    up(b"z")
    _enc_tuple(v.__getinitargs__(), up)  # type: ignore[attr-defined]


_DISPATCH: dict[int, Encoder] = {
    id(t): enc
    for t, enc in [
        (type(None), _enc_none),
        (bool, _enc_bool),
        (int, _enc_int),
        (float, _enc_float),
        (complex, _enc_complex),
        (str, _enc_str),
        (bytes, _enc_bytes),
        (bytearray, _enc_bytearray),
        (memoryview, _enc_memoryview),
        (list, _enc_list),
        (tuple, _enc_tuple),
        (dict, _enc_dict),
        (set, _enc_set),
        (frozenset, _enc_frozenset),
        (range, _enc_range),
        (type(...), _enc_ellipsis),
        (_dt.datetime, _enc_datetime),
        (_dt.date, _enc_date),
        (_dt.time, _enc_time),
        (_dt.timedelta, _enc_timedelta),
        (_dt.timezone, _enc_timezone),
    ]
}


def _encode(v: Any, up: Update) -> None:
    enc = _DISPATCH.get(id(type(v)))
    if enc is not None:
        enc(v, up)
    else:
        _encode_other(v, up)


# -- every other class --------------------------------------------------------------------

_RULES: dict[int, tuple[type, Encoder]] = {}


def _rule_for(t: type) -> Encoder:
    """The encoder of class `t`: chosen once by the first rule that takes it, then memoised."""
    entry = _RULES.get(id(t))
    if entry is not None and entry[0] is t:
        return entry[1]
    from ._hash_rules import CLASSIFIERS, refuse

    for classify in CLASSIFIERS:
        rule = classify(t)
        if rule is not None:
            break
    else:
        rule = refuse(t)
    if len(_RULES) >= _MEMO_SIZE:
        _RULES.clear()
    _RULES[id(t)] = (t, rule)  # holding `t` keeps its id from being reused
    return rule


def _encode_other(v: Any, up: Update) -> None:
    _rule_for(type(v))(v, up)


# -- public entry points ---------------------------------------------------------------------


_SCALARS: dict[type, Callable[[Any], bytes]] = {
    int: _int_bytes,
    str: _str_bytes,
    float: _float_bytes,
}
"""Encoders of the commonest inputs as one `bytes`: hashed in one call (the same
encoding `_encode` streams)."""


def _digest(v: Any, method: HashMethod | None) -> bytes:
    if method is None:
        scalar = _SCALARS.get(type(v))
        if scalar is not None:
            return blake3.blake3(_DOMAIN + scalar(v)).digest()
    h = blake3.blake3(_DOMAIN)
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
        where = "".join(reversed(exc.path))
        raise TypeError(
            f"cannot hash a value of type {exc.type_name!r}"
            + (f" at {where}" if where else "")
            + (f": {exc.detail}" if exc.detail else "")
        ) from None


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
            detail = exc.detail and f"flytelite cannot hash a value of type {exc.type_name!r}: "
            raise UnhashableInputError(
                task=task,
                parameter=name,
                type_name=exc.type_name,
                path="".join(reversed(exc.path)),
                detail=detail + exc.detail if detail else "",
            ) from None
        except RecursionError:
            raise UnhashableInputError(
                task=task,
                parameter=name,
                type_name=type(value).__qualname__,
                detail="the value is nested too deeply or contains itself",
            ) from None
    return out
