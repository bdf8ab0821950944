"""Task parameters from command-line text, checked against their annotations.

`--n 3` for `n: int` gives `3`; `--tags '["a", "b"]'` for `tags: list[str]` gives
that list, and `--tags '["a", 1]'` is a usage error that names the parameter and
the type it expects. Scalars (`str`, `int`, `float`, `bool`, `Path`, dates,
`Decimal`, `UUID`), enums (by name or value) and `Literal` values are written as
they are; lists, tuples, sets, dicts, dataclasses, `TypedDict`s, `NamedTuple`s
and pydantic models as JSON. `Optional[X]` takes `null` for `None`. An unannotated
parameter takes JSON if the text is JSON, else the text. A type that cannot be
written as text (a numpy array, a DataFrame) is a usage error that says so, never
the raw string passed on.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import typing
from collections.abc import Sequence
from typing import Any

import flytelite as fl

from .typeinfo import (
    EMPTY,
    MAPPINGS,
    SEQUENCES,
    UNIONS,
    VARIADIC,
    field_types,
    is_model,
    is_named_tuple,
    is_untyped,
    strip,
    text_type,
    type_name,
    unbuildable,
)
from .usage import UsageError

__all__ = [
    "Mismatch",
    "cannot_build",
    "flags",
    "from_json",
    "from_text",
    "param_types",
    "parse_task_args",
]

_TRUE = ("1", "true", "yes", "y", "on")
_FALSE = ("0", "false", "no", "n", "off")


class Mismatch(ValueError):
    """A value that does not fit the annotation; the message says where and why."""


# -- values -----------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: Any) -> str:
    names = {dict: "a JSON object", list: "a JSON list", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _mismatch(where: str, value: Any, expected: str) -> Mismatch:
    place = f"{where} is " if where else "got "
    return Mismatch(f"{place}{_short(value)} ({_kind(value)}), not {expected}")


def from_text(text: str, annotation: Any, home: str = "") -> Any:
    """The value of `text` for a parameter annotated `annotation`.

    Raises:
        Mismatch: the text is not a value of that type.
    """
    annotation = strip(annotation)
    origin = typing.get_origin(annotation)
    if is_untyped(annotation) or isinstance(annotation, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    if annotation is str:
        return text
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise Mismatch("expected true or false")
    if annotation in (int, float):
        try:
            return annotation(text)
        except ValueError:
            raise Mismatch(f"expected {annotation.__name__}") from None
    if annotation is None or annotation is type(None):
        if text == "null":
            return None
        raise Mismatch("expected null")
    if origin in UNIONS:
        members = typing.get_args(annotation)
        if text == "null" and type(None) in members:
            return None
        for member in members:
            if member is not type(None):
                try:
                    return from_text(text, member, home)
                except Mismatch:
                    continue
        raise Mismatch(f"expected {type_name(annotation, home)}")
    if origin is typing.Literal:
        for choice in typing.get_args(annotation):
            if text == (choice if isinstance(choice, str) else json.dumps(choice)):
                return choice
        raise Mismatch(f"expected one of {', '.join(map(repr, typing.get_args(annotation)))}")
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        for member in annotation:
            if text in (member.name, str(member.value)):
                return member
        names = ", ".join(m.name for m in annotation)
        raise Mismatch(f"expected {type_name(annotation, home)}: one of {names}")
    parse = text_type(annotation)
    if parse is not None:
        try:
            return parse(text)
        except (ValueError, ArithmeticError):
            raise Mismatch(f"expected {type_name(annotation, home)}") from None
    expected = type_name(annotation, home)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Mismatch(f"expected {expected} as JSON: {exc}") from None
    try:
        return from_json(value, annotation, "", home)
    except Mismatch as exc:
        raise Mismatch(f"expected {expected}: {exc}") from None


def from_json(value: Any, annotation: Any, where: str, home: str = "") -> Any:
    """`value` (parsed JSON) as a value of `annotation`; `where` locates it in the whole."""
    annotation = strip(annotation)
    origin = typing.get_origin(annotation) or annotation
    args = typing.get_args(annotation)
    expected = type_name(annotation, home)
    if is_untyped(annotation) or isinstance(annotation, str):
        return value
    if annotation is None or annotation is type(None):
        if value is None:
            return None
        raise _mismatch(where, value, "null")
    if annotation is bool or annotation is str:
        if type(value) is annotation:
            return value
        raise _mismatch(where, value, expected)
    if annotation in (int, float):
        ok = (int,) if annotation is int else (int, float)
        if isinstance(value, ok) and not isinstance(value, bool):
            return annotation(value)
        raise _mismatch(where, value, expected)
    if origin in UNIONS:
        if value is None and type(None) in args:
            return None
        for member in args:
            try:
                return from_json(value, member, where, home)
            except Mismatch:
                continue
        raise _mismatch(where, value, expected)
    if origin is typing.Literal:
        for choice in args:
            if type(choice) is type(value) and choice == value:
                return choice
        raise _mismatch(where, value, f"one of {', '.join(map(repr, args))}")
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        for member in annotation:
            if value == member.value or value == member.name:
                return member
        raise _mismatch(where, value, f"one of {', '.join(m.name for m in annotation)}")
    parse = text_type(annotation)
    if parse is not None:
        if not isinstance(value, str):
            raise _mismatch(where, value, f"{expected} (a string)")
        try:
            return parse(value)
        except (ValueError, ArithmeticError):
            raise _mismatch(where, value, expected) from None
    if origin in SEQUENCES and not is_named_tuple(annotation):
        return _sequence(value, SEQUENCES[origin], args, where, home)
    if origin in MAPPINGS:
        if not isinstance(value, dict):
            raise _mismatch(where, value, "a JSON object")
        key_type, value_type = args or (Any, Any)
        out = {}
        for k, v in value.items():
            try:
                key = from_text(k, key_type, home)
            except Mismatch:
                raise _mismatch(f"{where} key", k, type_name(key_type, home)) from None
            out[key] = from_json(v, value_type, f"{where}[{k!r}]", home)
        return out
    if is_model(annotation):
        try:
            return annotation.model_validate(value)
        except Exception as exc:  # pydantic's ValidationError: its first lines say enough
            lines = str(exc).splitlines()
            raise Mismatch(f"{where + ': ' if where else ''}{'; '.join(lines[1:3])}") from None
    if isinstance(annotation, type) and (
        dataclasses.is_dataclass(annotation)
        or typing.is_typeddict(annotation)
        or is_named_tuple(annotation)
    ):
        return _record(value, annotation, where, home)
    raise _mismatch(where, value, expected)  # unbuildable: refused before parsing


def _sequence(value: Any, kind: type, args: tuple[Any, ...], where: str, home: str) -> Any:
    if not isinstance(value, list):
        raise _mismatch(where, value, "a JSON list")
    if kind is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            noun = "item" if len(value) == 1 else "items"
            raise Mismatch(f"{where or 'the list'} has {len(value)} {noun}, not {len(args)}")
        return tuple(
            from_json(v, a, f"{where}[{i}]", home) for i, (v, a) in enumerate(zip(value, args))
        )
    item = args[0] if args else Any
    items = [from_json(v, item, f"{where}[{i}]", home) for i, v in enumerate(value)]
    try:
        return kind(items)
    except TypeError as exc:  # unhashable items of a set
        raise Mismatch(f"{where or 'the value'}: {exc}") from None


def _record(value: Any, cls: type, where: str, home: str) -> Any:
    """A dataclass, TypedDict or NamedTuple from a JSON object."""
    if not isinstance(value, dict):
        raise _mismatch(where, value, "a JSON object")
    hints = field_types(cls)
    fields: list[str]
    if dataclasses.is_dataclass(cls):
        init = [f for f in dataclasses.fields(cls) if f.init]
        fields = [f.name for f in init]
        required = {
            f.name
            for f in init
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
    elif typing.is_typeddict(cls):
        fields = list(hints)
        required = set(getattr(cls, "__required_keys__", hints))
    else:
        fields = list(getattr(cls, "field_types", ()))
        required = set(fields) - set(getattr(cls, "_field_defaults", {}))
    unknown = [k for k in value if k not in fields]
    if unknown:
        raise Mismatch(
            f"{where + ': ' if where else ''}no field {unknown[0]!r} "
            f"(its fields: {', '.join(fields) or 'none'})"
        )
    missing = [name for name in fields if name in required and name not in value]
    if missing:
        raise Mismatch(f"{where + ': ' if where else ''}missing field {missing[0]!r}")
    kwargs = {k: from_json(v, hints.get(k, Any), f"{where}.{k}", home) for k, v in value.items()}
    return kwargs if typing.is_typeddict(cls) else cls(**kwargs)


# -- a task's parameters ----------------------------------------------------------------


def param_types(task: fl.Task[..., Any]) -> dict[str, Any]:
    """The task's parameter annotations, resolved where they can be (else as written)."""
    try:
        hints = typing.get_type_hints(task.func, include_extras=True)
    except Exception:  # a forward reference to a local class, say: resolve one by one
        hints = {}
        names = getattr(task.func, "__globals__", {})
        for name, param in task.signature.parameters.items():
            try:
                hints[name] = (
                    eval(param.annotation, names)  # noqa: S307 (the user's own annotation)
                    if isinstance(param.annotation, str)
                    else param.annotation
                )
            except Exception:
                hints[name] = param.annotation
    return {
        p.name: hints.get(p.name, p.annotation)
        for p in task.signature.parameters.values()
        if p.kind not in VARIADIC
    }


def flags(name: str) -> list[str]:
    """The options of parameter `name`: `--max_items` and `--max-items`."""
    return [f"--{name}", *([f"--{name.replace('_', '-')}"] if "_" in name else [])]


def cannot_build(task: fl.Task[..., Any], name: str, annotation: Any) -> UsageError:
    home = task.func.__module__
    return UsageError(
        f"--{name} takes a {type_name(unbuildable(annotation), home)}, which the command line "
        f"cannot build from text; call task {task.name!r} from Python with fl.run(...)"
    )


def parse_task_args(task: fl.Task[..., Any], argv: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments for `task` from `--param value` options, checked against its
    annotations before anything runs."""
    hints = param_types(task)
    home = task.func.__module__
    parser = argparse.ArgumentParser(
        prog=f"flytelite run FILE {task.func.__name__}",
        add_help=False,
        exit_on_error=False,
        allow_abbrev=False,
    )
    for name in hints:
        parser.add_argument(*flags(name), dest=name, default=argparse.SUPPRESS, metavar="VALUE")
    try:
        raw, unknown = parser.parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise UsageError(str(exc)) from None
    if unknown:
        raise UsageError(
            f"task {task.name!r} has no parameter for {' '.join(unknown)}; "
            f"its signature is {task.signature_text}"
        )
    values = {}
    for name, annotation in hints.items():
        given = name in vars(raw)
        required = task.signature.parameters[name].default is EMPTY
        if (given or required) and unbuildable(annotation) is not None:
            raise cannot_build(task, name, annotation)
        if not given:
            if required:
                raise UsageError(f"task {task.name!r} needs --{name}")
            continue
        text = getattr(raw, name)
        try:
            values[name] = from_text(text, annotation, home)
        except Mismatch as exc:
            raise UsageError(f"--{name} {text!r}: {exc}") from None
    return values
