"""Values at a task's boundary, as Flyte 2's type engine hands them over.

Flyte 2 turns every input and output into a literal by its annotation and back.
flytelite passes the Python objects themselves, except where that round trip
changes what the task body sees:

- a `dict` given for a pydantic model or a dataclass parameter becomes that
  model (missing fields take their defaults), also inside `list[...]`,
  `dict[str, ...]` and `Optional[...]`;
- a `datetime` comes back in UTC and time-zone aware (a naive one is read as
  UTC, as protobuf timestamps are).

`converter(annotation)` is worked out once per task; a parameter whose type
needs none of this costs nothing per call.
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["Convert", "boundary"]

Convert = Callable[[Any], Any]


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


def converter(annotation: Any) -> Convert | None:
    """What Flyte 2's round trip does to a value of type `annotation`, or `None` if nothing."""
    if annotation is None:
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return converter(typing.get_args(annotation)[0])
    if annotation is datetime.datetime:
        return _utc
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        found = [c for c in map(converter, members) if c is not None]
        if len(found) != 1:
            return None  # several candidates: Flyte's choice depends on the literal; keep it
        only = found[0]
        return lambda value: None if value is None else only(value)
    if origin in (list, dict):
        args = typing.get_args(annotation)
        item = converter(args[-1]) if args else None
        return None if item is None else _each(item, origin)
    if _is_pydantic(annotation):
        return _model(annotation)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass(annotation)
    return None


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
    returns = hints.get("return")
    # Outputs: only the time zone (a model returned is already a model).
    out = _utc if returns is datetime.datetime else None
    return inputs, out
