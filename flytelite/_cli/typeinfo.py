"""Annotations as the command line sees them: how a type is named in a message, and
whether a value of it can be built from text at all."""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import decimal
import enum
import inspect
import pathlib
import sys
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

__all__ = [
    "EMPTY",
    "MAPPINGS",
    "SEQUENCES",
    "UNIONS",
    "VARIADIC",
    "field_types",
    "is_model",
    "is_named_tuple",
    "is_untyped",
    "strip",
    "text_type",
    "type_name",
    "unbuildable",
]

EMPTY = inspect.Parameter.empty
VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
UNIONS: tuple[Any, ...] = (typing.Union, types.UnionType)

# Types written as plain text on the command line (and as JSON strings inside JSON).
_FROM_TEXT: dict[type, Callable[[str], Any]] = {
    pathlib.PurePath: pathlib.Path,
    datetime.datetime: datetime.datetime.fromisoformat,
    datetime.date: datetime.date.fromisoformat,
    datetime.time: datetime.time.fromisoformat,
    decimal.Decimal: decimal.Decimal,
    uuid.UUID: uuid.UUID,
    bytes: str.encode,
}
SEQUENCES: dict[Any, type] = {
    list: list,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    collections.abc.Iterable: list,
    collections.abc.Collection: list,
    tuple: tuple,
    set: set,
    collections.abc.Set: set,
    collections.abc.MutableSet: set,
    frozenset: frozenset,
}
MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def strip(annotation: Any) -> Any:
    """`Annotated[T, ...]` is `T`; `NewType`s are their base."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif hasattr(annotation, "__supertype__"):
            annotation = annotation.__supertype__
        else:
            return annotation


def is_untyped(annotation: Any) -> bool:
    return annotation in (EMPTY, Any, object)


def text_type(annotation: Any) -> Callable[[str], Any] | None:
    if not isinstance(annotation, type):
        return None
    for base, parse in _FROM_TEXT.items():
        if issubclass(annotation, base):
            return annotation if base in (pathlib.PurePath, decimal.Decimal) else parse
    return None


def is_model(annotation: Any) -> bool:
    """A pydantic model (duck-typed: flytelite does not need pydantic)."""
    return isinstance(annotation, type) and callable(getattr(annotation, "model_validate", None))


def is_named_tuple(annotation: Any) -> bool:
    return (
        isinstance(annotation, type)
        and issubclass(annotation, tuple)
        and hasattr(annotation, "field_types")
    )


def type_name(annotation: Any, home: str = "") -> str:
    """How the command line names a type: `list[str]`, `int | None`, `Color`.

    Classes of the builtins and of module `home` (the task's) go by their bare names,
    others by module: `numpy.ndarray`, `pathlib.Path`.
    """
    annotation = strip(annotation)
    if is_untyped(annotation):
        return "any"
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in UNIONS:
        return " | ".join(type_name(a, home) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a, home) for a in args)
        return f"{type_name(origin, home)}[{inner}]" if args else type_name(origin, home)
    if isinstance(annotation, type):
        module = annotation.__module__
        if module in ("builtins", home):
            return annotation.__qualname__
        top = module.split(".", 1)[0]
        if getattr(sys.modules.get(top), annotation.__qualname__, None) is annotation:
            module = top  # pandas.DataFrame, not pandas.core.frame.DataFrame
        return f"{module}.{annotation.__qualname__}"
    if isinstance(annotation, str):
        return annotation
    return repr(annotation).replace("typing.", "")


def field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception:  # unresolvable annotations: the fields take any value
        return {}


def unbuildable(annotation: Any, _seen: frozenset[int] = frozenset()) -> Any | None:
    """The first type inside `annotation` that cannot be built from text, or `None`."""
    annotation = strip(annotation)
    if id(annotation) in _seen:
        return None  # a recursive type (a tree of itself): checked further up
    _seen = _seen | {id(annotation)}
    if is_untyped(annotation) or annotation in (str, int, float, bool, None, type(None)):
        return None
    if isinstance(annotation, str):
        return None  # an annotation that did not resolve: the value decides, as in a run
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return None
    if origin in UNIONS:
        members = [unbuildable(a, _seen) for a in typing.get_args(annotation)]
        return members[0] if all(m is not None for m in members) else None
    if origin is not None and (origin in SEQUENCES or origin in MAPPINGS):
        for arg in typing.get_args(annotation):
            found = None if arg is Ellipsis else unbuildable(arg, _seen)
            if found is not None:
                return found
        return None
    if annotation in SEQUENCES or annotation in MAPPINGS or text_type(annotation):
        return None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return None
    if is_model(annotation):
        return None
    if isinstance(annotation, type) and (
        dataclasses.is_dataclass(annotation)
        or typing.is_typeddict(annotation)
        or is_named_tuple(annotation)
    ):
        for hint in field_types(annotation).values():
            found = unbuildable(hint, _seen)
            if found is not None:
                return found
        return None
    return annotation
