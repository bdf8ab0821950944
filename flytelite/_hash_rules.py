"""Encoding rules for classes that are not built in.

Each rule takes a class and returns its encoder, or None to let the next rule
try; `CLASSIFIERS` lists them in order, and `flytelite._hashing` memoises the
outcome per class. What they share: a value enters the stream with its exact
class (`class_identity`) and its whole state, or is refused.

- `__flytelite_hash__`: the class and what the method returns.
- A class as a value: its identity; a built-in function: its module and name; a
  Python function: its identity and code fingerprint (`_fingerprint`). A task (which
  has `__flytelite_hash__`): its identity and cache version.
- numpy, pandas and pyarrow values: `_hash_numpy`, `_hash_pandas`, `_hash_arrow`.
- Enums: the class and the value. `Decimal`, `UUID`, `pathlib` paths,
  `OrderedDict`, `defaultdict`, `zoneinfo.ZoneInfo`, pytz and dateutil time zones
  by their own rules.
- A subclass of a supported class: the class, the base value and the state its
  Python-level classes add (`state_layout`); a class that adds C-level state is refused.
- Dataclasses and pydantic models: the class and the whole instance state.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import sys
import types
from collections.abc import Callable
from typing import Any, NamedTuple

from ._hashing import (
    Encoder,
    Update,
    _at,
    _enc_bytearray,
    _enc_bytes,
    _enc_complex,
    _enc_date,
    _enc_datetime,
    _enc_float,
    _enc_int,
    _enc_items,
    _enc_list,
    _enc_members,
    _enc_str,
    _enc_time,
    _enc_timedelta,
    _enc_tuple,
    _encode,
    _identity_bytes,
    _pack_len,
    _str,
    _type_name,
    _Unhashable,
    canonical_module,
)

__all__ = ["CLASSIFIERS", "Layout", "enc_state", "refuse", "state_layout"]


# -- the state of an instance ------------------------------------------------------------


class Layout(NamedTuple):
    """How to read what the classes between a class and its `base` add to an instance."""

    slots: tuple[tuple[str, Any], ...]  # (name, member descriptor), sorted by name
    dict_get: Any  # the `__dict__` descriptor, or None when that part has no dict


def _mangle(cls: type, name: str) -> str:
    if name.startswith("__") and not name.endswith("__"):
        stripped = cls.__name__.lstrip("_")
        if stripped:
            return f"_{stripped}{name}"
    return name


def state_layout(t: type, base: type) -> Layout | None:
    """`t`'s state past `base`, or None when it is more than Python-level state.

    Accepted when the classes between `t` and `base` only add a `__dict__`, a
    `__weakref__` and `__slots__`: the instance layout of `t` must be the one a
    plain Python subclass of `base` with the same slots would have. A class that
    adds C-level fields (a Cython class such as pandas' `_Timedelta`, a C
    extension type) has a larger layout, and its state cannot be read.
    """
    own = {id(c) for c in base.__mro__}
    slots: list[tuple[str, Any]] = []
    for cls in t.__mro__:
        if id(cls) in own:
            continue
        declared = cls.__dict__.get("__slots__", ())
        for name in (declared,) if isinstance(declared, str) else declared:
            if name in ("__dict__", "__weakref__"):
                continue
            descriptor = cls.__dict__.get(_mangle(cls, name))
            if type(descriptor) is not types.MemberDescriptorType:
                return None
            slots.append((name, descriptor))
    adds_dict = t.__dictoffset__ != 0 and base.__dictoffset__ == 0
    adds_weakref = t.__weakrefoffset__ != 0 and base.__weakrefoffset__ == 0
    probe_slots = [f"s{i}" for i in range(len(slots))]
    probe_slots += ["__dict__"] * adds_dict + ["__weakref__"] * adds_weakref
    try:
        probe = type("_FlyteliteLayoutProbe", (base,), {"__slots__": tuple(probe_slots)})
    except TypeError:
        # A variable-size base (int, tuple, bytes) takes no `__slots__`, not even
        # `__dict__`: its subclasses get a dict, and nothing else, by default.
        if probe_slots != ["__dict__"]:
            return None
        probe = type("_FlyteliteLayoutProbe", (base,), {})
    if (probe.__basicsize__, probe.__itemsize__) != (t.__basicsize__, t.__itemsize__):
        return None
    dict_get = None
    if adds_dict:
        for cls in t.__mro__:
            descriptor = cls.__dict__.get("__dict__")
            if type(descriptor) is types.GetSetDescriptorType:
                dict_get = descriptor
                break
        else:
            return None
    slots.sort(key=lambda item: item[0])
    return Layout(tuple(slots), dict_get)


def enc_state(v: Any, layout: Layout, up: Update) -> None:
    """Every slot (set or not) and every `__dict__` entry, each sorted by name."""
    up(b"o" + _pack_len(len(layout.slots)))
    for name, descriptor in layout.slots:
        _enc_str(name, up)
        try:
            item = descriptor.__get__(v)
        except AttributeError:
            up(b"-")
            continue
        up(b"+")
        try:
            _encode(item, up)
        except _Unhashable as exc:
            raise _at(exc, f".{name}") from None
    if layout.dict_get is None:
        up(b"n")
        return
    state = layout.dict_get.__get__(v)
    if not all(type(k) is str for k in state):
        raise _Unhashable(_type_name(type(v)), "its `__dict__` has keys that are not strings")
    up(b"{" + _pack_len(len(state)))
    for name in sorted(state):
        _enc_str(name, up)
        try:
            _encode(state[name], up)
        except _Unhashable as exc:
            raise _at(exc, f".{name}") from None


# -- rules for classes that are not built in ---------------------------------------------------


def refuse(t: type, detail: str = "") -> Encoder:
    """An encoder that refuses every value of class `t`, saying why in `detail`."""
    name = _type_name(t)

    def enc(v: Any, up: Update) -> None:
        raise _Unhashable(name, detail)

    return enc


def _rule_custom(t: type) -> Encoder:
    ident = b"U" + _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        up(ident)
        try:
            state = v.__flytelite_hash__()
        except OSError as exc:  # an `fl.File` whose file cannot be read
            raise _Unhashable(_type_name(t), str(exc)) from None
        _encode(state, up)

    return enc


def _rule_class(t: type) -> Encoder:
    """A class passed as a value: its identity."""

    def enc(v: Any, up: Update) -> None:
        up(b"K" + _identity_bytes(v))

    return enc


def _importable(v: Any) -> str | None:
    """`module:qualname` of a function that its module gives back by that name, else None."""
    module, qualname = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{canonical_module(module)}:{qualname}" if found is v else None


def _enc_builtin_function(v: Any, up: Update) -> None:
    # `len`, `math.sqrt`; a method bound to an object (`[].append`) has state: refused.
    owner = getattr(v, "__self__", None)
    name = None if owner is not None and not isinstance(owner, types.ModuleType) else _importable(v)
    if name is None:
        raise _Unhashable(
            "builtin_function_or_method",
            f"{getattr(v, '__qualname__', '?')} is not a module-level built-in function "
            "that can be imported by name",
        )
    _str(up, b"Q", name)


def _enc_factory(v: Any, up: Update) -> None:
    """A defaultdict's `default_factory`: None, a class, or a function named by identity."""
    if v is None:
        up(b"N")
    elif isinstance(v, type):
        up(b"K" + _identity_bytes(v))
    elif isinstance(v, types.BuiltinFunctionType):
        _enc_builtin_function(v, up)
    else:
        name = _importable(v) if isinstance(v, types.FunctionType) else None
        if name is None:
            raise _Unhashable(
                _type_name(type(v)),
                "a defaultdict's default_factory must be a class or an importable function",
            )
        _str(up, b"q", name)


def _rule_enum(t: type) -> Encoder:
    ident = b"e" + _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        up(ident)
        try:
            _encode(v._value_, up)
        except _Unhashable as exc:
            raise _at(exc, ".value") from None

    return enc


def _rule_state(t: type, layout: Layout) -> Encoder:
    """Dataclasses and pydantic models: the exact class and the whole instance state."""
    ident = b"O" + _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        up(ident)
        enc_state(v, layout, up)

    return enc


def _rule_namedtuple(t: type, layout: Layout) -> Encoder:
    ident = b"n" + _identity_bytes(t)
    fields = tuple(getattr(t, "_fields", ()))

    def enc(v: Any, up: Update) -> None:
        items = tuple.__getitem__(v, slice(None))
        up(ident + _pack_len(len(items)))
        for i, item in enumerate(items):
            try:
                _encode(item, up)
            except _Unhashable as exc:
                raise _at(exc, f".{fields[i]}" if i < len(fields) else f"[{i}]") from None
        enc_state(v, layout, up)

    return enc


def _rule_subclass(t: type, base_enc: Encoder, layout: Layout) -> Encoder:
    """A subclass of a supported class: its exact class, the base value and its own state."""
    ident = b"X" + _identity_bytes(t)

    def enc(v: Any, up: Update) -> None:
        up(ident)
        base_enc(v, up)
        enc_state(v, layout, up)

    return enc


# Base encoders: read a (possibly subclassed) value through its base class only, so
# that a subclass overriding `__iter__`, `items` or `__str__` cannot hide its data.
_BASES: dict[type, Encoder] = {
    int: lambda v, up: _enc_int(int.__index__(v), up),
    float: lambda v, up: _enc_float(float.__float__(v), up),
    complex: lambda v, up: _enc_complex(
        complex(complex.real.__get__(v), complex.imag.__get__(v)), up
    ),
    str: _enc_str,
    bytes: lambda v, up: _enc_bytes(bytes.__getitem__(v, slice(None)), up),
    bytearray: lambda v, up: _enc_bytearray(bytearray.__getitem__(v, slice(None)), up),
    list: lambda v, up: _enc_list(list.__getitem__(v, slice(None)), up),
    tuple: lambda v, up: _enc_tuple(tuple.__getitem__(v, slice(None)), up),
    dict: lambda v, up: _enc_items(b"d", dict.__len__(v), dict.items(v), up),
    set: lambda v, up: _enc_members(b"S", set.__iter__(v), up),
    frozenset: lambda v, up: _enc_members(b"Z", frozenset.__iter__(v), up),
    _dt.datetime: _enc_datetime,
    _dt.date: _enc_date,
    _dt.time: _enc_time,
    _dt.timedelta: _enc_timedelta,
}

_BASE_IDS = {id(t): enc for t, enc in _BASES.items()}


def _stdlib_bases() -> dict[int, tuple[type, Callable[[type], Encoder]]]:
    """The standard library's supported classes among those imported, by id.

    Each maps to a factory of the encoder for that exact class; a value of one of
    these implies its module is loaded, so none is imported here.
    """
    found: dict[int, tuple[type, Callable[[type], Encoder]]] = {}

    def add(module: str, names: tuple[str, ...], factory: Callable[[type], Encoder]) -> None:
        mod = sys.modules.get(module)
        for name in names:
            cls = getattr(mod, name, None)
            if isinstance(cls, type):
                found[id(cls)] = (cls, factory)

    add("decimal", ("Decimal",), lambda t: _rule_decimal)
    add("uuid", ("UUID",), lambda t: _rule_uuid)
    paths = ("PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath")
    add("pathlib", paths, _rule_path)
    add("collections", ("OrderedDict",), lambda t: _rule_ordered_dict)
    add("collections", ("defaultdict",), lambda t: _rule_defaultdict)
    add("zoneinfo", ("ZoneInfo",), lambda t: _rule_zoneinfo)
    return found


def _rule_decimal(v: Any, up: Update) -> None:
    # Its string keeps the sign of a zero, the exponent, and NaN payloads.
    _str(up, b"x", sys.modules["decimal"].Decimal.__str__(v))


def _rule_uuid(v: Any, up: Update) -> None:
    cls = sys.modules["uuid"].UUID
    up(b"u" + cls.__dict__["int"].__get__(v).to_bytes(16, "big"))
    _encode(cls.__dict__["is_safe"].__get__(v), up)


def _rule_path(t: type) -> Encoder:
    ident = b"p" + _identity_bytes(t)
    to_str: Callable[[Any], str] = t.__str__  # type: ignore[assignment]

    def enc(v: Any, up: Update) -> None:
        up(ident)
        _enc_str(to_str(v), up)

    return enc


def _rule_ordered_dict(v: Any, up: Update) -> None:
    cls = sys.modules["collections"].OrderedDict
    _enc_items(b"k", cls.__len__(v), cls.items(v), up)
    # An OrderedDict has a `__dict__` of its own (`od.note = 1` works).
    state = object.__getattribute__(v, "__dict__")
    if not all(type(k) is str for k in state):
        raise _Unhashable(_type_name(type(v)), "its `__dict__` has keys that are not strings")
    _enc_items(b"{", len(state), sorted(state.items()), up)


def _rule_defaultdict(v: Any, up: Update) -> None:
    cls = sys.modules["collections"].defaultdict
    up(b"g")
    try:
        _enc_factory(cls.default_factory.__get__(v), up)
    except _Unhashable as exc:
        raise _at(exc, ".default_factory") from None
    _enc_items(b"d", dict.__len__(v), dict.items(v), up)


def _rule_zoneinfo(v: Any, up: Update) -> None:
    key = v.key
    if not isinstance(key, str):
        raise _Unhashable(
            _type_name(type(v)),
            "a ZoneInfo without a key (read from a file) has no stable identity: "
            "use zoneinfo.ZoneInfo(key) or datetime.timezone",
        )
    _str(up, b"w", key)


def _enc_tz_duck(v: Any, up: Update) -> None:
    """pytz and dateutil time zones, recognised by their class names; never imported."""
    t: Any = type(v)
    root = t.__module__.split(".", 1)[0]
    names = {c.__name__ for c in t.__mro__ if c.__module__.split(".", 1)[0] == root}
    state = getattr(v, "__dict__", {})
    fields: tuple[Any, ...] | None = None
    if root == "pytz":
        if "DstTzInfo" in names:
            fields = ("dst", t.zone, state["_utcoffset"], state["_dst"], state["_tzname"])
        elif "StaticTzInfo" in names:
            fields = ("static", t.zone, t._utcoffset, t._tzname)
        elif t.__name__ == "UTC":
            fields = ("utc",)
        elif t.__name__ == "_FixedOffset":
            fields = ("fixed", state["_minutes"])
    elif root == "dateutil":
        if t.__name__ == "tzutc":
            fields = ("utc",)
        elif t.__name__ == "tzoffset":
            fields = ("offset", state["_name"], state["_offset"])
    if fields is None:
        raise _Unhashable(_type_name(t), _TZ_DETAIL)
    _str(up, b"W", root)
    _enc_tuple(fields, up)


_TZ_DETAIL = (
    "this time zone has no stable identity that flytelite can hash: "
    "use zoneinfo.ZoneInfo(key) or datetime.timezone"
)


def _pydantic_base(t: type) -> bool:
    return any(
        base.__name__ == "BaseModel" and base.__module__.startswith("pydantic")
        for base in t.__mro__[1:]
    )


def _classify_custom(t: type) -> Encoder | None:
    return _rule_custom(t) if getattr(t, "__flytelite_hash__", None) is not None else None


def _classify_class(t: type) -> Encoder | None:
    if issubclass(t, type):
        return _rule_class(t)
    if t is types.BuiltinFunctionType:
        return _enc_builtin_function
    if t is types.FunctionType:
        return _enc_function
    return None


def _enc_function(v: Any, up: Update) -> None:
    """A Python function or lambda passed as a value: its identity and its code
    fingerprint, which follows its code, defaults, closure values and what of your
    project it reaches, as a task's derived version does. (The fingerprint is the one
    part of the encoding that lives outside the hashing modules; it loads on use.)"""
    from ._fingerprint import fingerprint

    name = f"{canonical_module(getattr(v, '__module__', None) or '?')}:{v.__qualname__}"
    _str(up, b"L", name)
    _str(up, b"", fingerprint(v).version)


def _classify_libraries(t: type) -> Encoder | None:
    """numpy, pandas and pyarrow values: their modules are imported if such a value exists."""
    root = t.__module__.split(".", 1)[0]
    if root == "numpy" or (
        "numpy" in sys.modules and _subclass_of(t, "numpy", "ndarray", "generic")
    ):
        from . import _hash_numpy

        return _hash_numpy.classify(t)
    if root == "pandas" or (
        "pandas" in sys.modules
        and _subclass_of(
            t, "pandas", "DataFrame", "Series", "Index", "api.extensions.ExtensionArray"
        )
    ):
        from . import _hash_pandas

        return _hash_pandas.classify(t)
    if root == "pyarrow":
        from . import _hash_arrow

        return _hash_arrow.classify(t)
    return None


def _subclass_of(t: type, module: str, *names: str) -> bool:
    mod: Any = sys.modules[module]
    for name in names:
        cls = mod
        for part in name.split("."):
            cls = getattr(cls, part, None)
        if isinstance(cls, type) and issubclass(t, cls):
            return True
    return False


def _classify_stdlib(t: type) -> Encoder | None:
    if issubclass(t, enum.Enum):
        return _rule_enum(t)
    bases = _stdlib_bases()
    entry = bases.get(id(t))
    if entry is not None:
        return entry[1](t)
    if issubclass(t, _dt.tzinfo) and t.__module__.split(".", 1)[0] in ("pytz", "dateutil"):
        return _enc_tz_duck
    if issubclass(t, _dt.tzinfo) and not any(id(c) in bases for c in t.__mro__):
        return refuse(t, _TZ_DETAIL)
    return None


def _classify_model(t: type) -> Encoder | None:
    """Dataclasses and pydantic models (v1 and v2): exact class and whole state."""
    if not (dataclasses.is_dataclass(t) or _pydantic_base(t)):
        return None
    layout = state_layout(t, object)
    if layout is None:
        return refuse(t, "its instances have C-level state that flytelite cannot read")
    return _rule_state(t, layout)


def _classify_subclass(t: type) -> Encoder | None:
    """A subclass of a supported class whose extra state is all Python-level."""
    stdlib = _stdlib_bases()
    for base in t.__mro__[1:]:
        if id(base) in _BASE_IDS:
            base_enc = _BASE_IDS[id(base)]
        elif id(base) in stdlib:
            base_enc = stdlib[id(base)][1](base)
        else:
            continue
        layout = state_layout(t, base)
        if layout is None:
            return refuse(
                t,
                f"it subclasses {base.__qualname__} with C-level state that flytelite cannot read",
            )
        if issubclass(t, tuple) and hasattr(t, "_fields"):
            return _rule_namedtuple(t, layout)
        return _rule_subclass(t, base_enc, layout)
    return None


# The rules tried, in order, for a class that is not built in; the first that returns
# an encoder decides, and a class that none takes is refused. A rule for another kind
# of value (functions, say) is one more entry.
CLASSIFIERS: list[Callable[[type], Encoder | None]] = [
    _classify_custom,
    _classify_class,
    _classify_libraries,
    _classify_stdlib,
    _classify_subclass,
    _classify_model,
]
