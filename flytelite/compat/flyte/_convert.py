"""Values at a task's boundary, as Flyte 2's type engine hands them over.

Flyte 2 turns every input and output into a literal by its annotation and back.
flytelite passes the Python objects themselves, except where that round trip
changes what the task body sees:

- a `dict` given for a pydantic model or a dataclass parameter becomes that
  model (missing fields take their defaults), also inside `list[...]`,
  `dict[str, ...]` and `Optional[...]`;
- a `datetime` comes back in UTC and time-zone aware (a naive one is read as
  UTC, as protobuf timestamps are);
- an output annotated `Annotated[frame, HashFunction(fn)]` keeps `fn(frame)` as its
  cache key: a task it is passed to is keyed by that hash (`frame_key`);
- a `flyte.io.DataFrame` given or returned for a pandas, polars or pyarrow
  annotation is read as that type (`_flyte_as`);
- an input or output of a type with a `_flyte_input` / `_flyte_output` class
  method is what that method returns (`flyte.io.DataFrame`: a raw frame given
  is wrapped, a frame returned is written out as parquet), also inside tuples.

`converter(annotation)` is worked out once per task; a parameter whose type
needs none of this costs nothing per call.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["Convert", "boundary", "frame_key", "frame_parameters", "is_frame"]

Convert = Callable[[Any], Any]
_FRAME_MODULES = ("pandas", "polars", "pyarrow")
_given: dict[int, tuple[Any, str]] = {}
_given_lock = threading.Lock()


def is_frame(annotation: Any) -> bool:
    """Whether `annotation` is a pandas, polars or pyarrow type (a frame, a table, ...)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    module = getattr(annotation, "__module__", "") or ""
    return isinstance(annotation, type) and module.split(".")[0] in _FRAME_MODULES


def _remember(value: Any, digest: str) -> None:
    key = id(value)

    def forget(_: Any) -> None:
        with _given_lock:
            _given.pop(key, None)

    def strong() -> Any:
        return value  # no weak references to it: keep it alive

    try:
        ref: Callable[[], Any] = weakref.ref(value, forget)
    except TypeError:
        ref = strong
    with _given_lock:
        _given[key] = (ref, digest)


def frame_key(value: Any) -> Any:
    """What keys a frame input: the hash an `Annotated[..., HashFunction]` output gave it,
    else its content (a polars frame by its Arrow table)."""
    found = _given.get(id(value))
    if found is not None and found[0]() is value:
        return ("flyte-hash", found[1])
    to_arrow = getattr(value, "to_arrow", None)
    if type(value).__module__.startswith("polars") and callable(to_arrow):
        return ("polars", to_arrow())
    return value


def _hashed_by(methods: list[Any]) -> Convert:
    def convert(value: Any) -> Any:
        for method in methods:
            method.update(value)
            digest = method.result()
            if digest is not None:
                _remember(value, str(digest))
        return value

    return convert


def _utc(value: Any) -> Any:
    if not isinstance(value, datetime.datetime):
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _is_pydantic(cls: Any) -> bool:
    return isinstance(cls, type) and callable(getattr(cls, "model_validate", None))


def _model(cls: type[Any]) -> Convert:
    def convert(value: Any) -> Any:
        return cls.model_validate(value) if isinstance(value, dict) else value

    return convert


def _dataclass(cls: type[Any]) -> Convert:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        hints = {}
    fields = {f.name: converter(hints.get(f.name)) for f in dataclasses.fields(cls) if f.init}

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        given = {}
        for name, item in value.items():
            field = fields.get(name)
            given[name] = field(item) if field is not None else item
        return cls(**given)

    return convert


def _each(item: Convert, kind: type[Any]) -> Convert:
    if kind is dict:
        return lambda value: (
            {k: item(v) for k, v in value.items()} if isinstance(value, dict) else value
        )
    return lambda value: [item(v) for v in value] if isinstance(value, list) else value


def _items(items: list[Convert | None]) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, tuple) or len(value) != len(items):
            return value
        out = tuple(v if c is None else c(v) for c, v in zip(items, value))
        return type(value)(*out) if hasattr(value, "_fields") else out

    return convert


def converter(annotation: Any, output: bool = False) -> Convert | None:
    """What Flyte 2's round trip does to a value of type `annotation`, as an input or an
    output, or `None` if nothing."""
    if annotation is None:
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        hashers = [m for m in args[1:] if callable(getattr(m, "update", None))]
        if output and hashers:
            return _hashed_by(hashers)
        return converter(args[0], output)
    if annotation is datetime.datetime:
        return _utc
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        found = [c for c in (converter(m, output) for m in members) if c is not None]
        if len(found) != 1:
            return None  # several candidates: Flyte's choice depends on the literal; keep it
        only = found[0]
        return lambda value: None if value is None else only(value)
    if origin in (list, dict):
        item = converter(args[-1], output) if args else None
        return None if item is None else _each(item, origin)
    if origin is tuple and args and args[-1] is not Ellipsis:
        items = [converter(a, output) for a in args]
        return None if all(c is None for c in items) else _items(items)
    if is_frame(annotation):
        return lambda value: value._flyte_as(annotation) if hasattr(value, "_flyte_as") else value
    own = getattr(annotation, "_flyte_output" if output else "_flyte_input", None)
    if callable(own):
        return typing.cast(Convert, own)
    if output:
        return None
    if _is_pydantic(annotation):
        return _model(annotation)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass(annotation)
    return None


def frame_parameters(func: Callable[..., Any]) -> list[str]:
    """The parameters of `func` annotated with a frame type."""
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        return []
    return [name for name, hint in hints.items() if name != "return" and is_frame(hint)]


def boundary(func: Callable[..., Any]) -> tuple[dict[str, Convert], Convert | None]:
    """The converters of `func`'s parameters (by name, only those that need one) and of its
    return value."""
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        return {}, None  # annotations that do not resolve here: values pass as they are
    inputs = {}
    for name, annotation in hints.items():
        if name == "return":
            continue
        found = converter(annotation)
        if found is not None:
            inputs[name] = found
    return inputs, converter(hints.get("return"), output=True)
