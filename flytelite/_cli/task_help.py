"""`flytelite run FILE TASK --help`: the task's parameters, their types and defaults, and
its docstring."""

from __future__ import annotations

import argparse
import datetime
import enum
import inspect
import pathlib
import typing
from typing import Any

import flytelite as fl

from .params import flags, param_types
from .typeinfo import UNIONS, is_untyped, strip, type_name, unbuildable

__all__ = ["task_help"]


def _metavar(annotation: Any) -> str:
    annotation = strip(annotation)
    origin = typing.get_origin(annotation)
    if origin in UNIONS:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _metavar(members[0]) if len(members) == 1 else "VALUE"
    if origin is typing.Literal:
        return "{" + ",".join(str(a) for a in typing.get_args(annotation)) + "}"
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "{" + ",".join(m.name for m in annotation) + "}"
        if issubclass(annotation, bool):
            return "BOOL"
        simple = {int: "INT", float: "NUMBER", str: "TEXT", pathlib.PurePath: "PATH"}
        for base, name in simple.items():
            if issubclass(annotation, base):
                return name
        if issubclass(annotation, (datetime.date, datetime.time)):
            return "ISO"
    return "VALUE" if is_untyped(annotation) else "JSON"


def _describe(annotation: Any, default: Any, home: str) -> str:
    what = type_name(annotation, home)
    if unbuildable(annotation) is not None:
        what += ", which the command line cannot build: call the task from Python"
    elif _metavar(annotation) == "JSON":
        what += ", as JSON"
    elif is_untyped(annotation):
        what = "JSON, or else text"
    if "None" in what.split(" | "):
        what += " (null for None)"
    if default is inspect.Parameter.empty:
        text = f"{what}; required"
    else:
        shown = default.name if isinstance(default, enum.Enum) else repr(default)
        text = f"{what}; default: {shown}"
    return text.replace("%", "%%")  # argparse formats help strings with %


def task_help(task: fl.Task[..., Any], file: str, command: str = "run") -> str:
    """The help text of `task`, as `flytelite run FILE TASK --help` prints it."""
    doc = inspect.getdoc(task.func) or ""
    cached = "cached" if task.cache is not None else "not cached"
    parser = argparse.ArgumentParser(
        prog=f"flytelite {command} {file} {task.func.__name__}",
        description=f"{doc}\n\ntask {task.name}, {cached}".strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,
        epilog=f"The command's own options: flytelite {command} --help",
    )
    group = parser.add_argument_group("parameters")
    home = task.func.__module__
    for name, annotation in param_types(task).items():
        default = task.signature.parameters[name].default
        group.add_argument(
            *flags(name),
            metavar=_metavar(annotation),
            required=default is inspect.Parameter.empty,
            help=_describe(annotation, default, home),
        )
    return parser.format_help()
