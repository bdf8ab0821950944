"""The `flytelite` command line.

    flytelite run FILE TASK [--param value ...] [--cache-url URL]

Outputs go to stdout (as JSON where they can be); the report, progress and
errors go to stderr, so `flytelite run ... | jq` works. Exit status: 0 on
success, 1 when a task failed, 2 for a usage error (no traceback).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
import traceback
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import flytelite as fl

__all__ = ["main"]


class UsageError(Exception):
    """A mistake on the command line: reported in one line, exit status 2."""


def load_file(path: str) -> types.ModuleType:
    """Import a Python file as a module (its `if __name__ == "__main__"` block does not run)."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    name = file.stem if file.stem.isidentifier() else "flytelite_user_module"
    if name in sys.modules:
        name = f"flytelite_user_{name}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.resolve().parent))
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def find_task(module: types.ModuleType, name: str, path: str) -> fl.Task[..., Any]:
    """A task of `module` by function name, or by identity `env.function`."""
    tasks = {id(v): v for v in vars(module).values() if isinstance(v, fl.Task)}.values()
    matches = [t for t in tasks if name in (t.name, t.func.__name__)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(sorted(t.name for t in matches))
        raise UsageError(f"{name!r} is ambiguous in {path}: name one of {names}")
    known = ", ".join(sorted(t.func.__name__ for t in tasks)) or "none"
    raise UsageError(f"no task {name!r} in {path}; its tasks: {known}")


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _parse_json(text: str) -> Any:
    return json.loads(text)


def _parse_any(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _converter(annotation: Any) -> Callable[[str], Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _converter(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _converter(args[0]) if len(args) == 1 else _parse_any
    simple: dict[Any, Callable[[str], Any]] = {int: int, float: float, bool: _parse_bool, str: str}
    if annotation in simple:
        return simple[annotation]
    if annotation in (list, dict, tuple, set) or origin in (list, dict, tuple, set):
        target = origin or annotation
        return lambda text: (
            target(_parse_json(text)) if target in (tuple, set) else _parse_json(text)
        )
    return _parse_any


def parse_task_args(task: fl.Task[..., Any], argv: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments for `task` from `--param value` options."""
    try:
        hints = typing.get_type_hints(task.func, include_extras=True)
    except Exception:
        hints = {}
    parser = argparse.ArgumentParser(
        prog=f"flytelite run FILE {task.func.__name__}", add_help=False, exit_on_error=False
    )
    params = task.signature.parameters.values()
    for p in params:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        flags = [f"--{p.name}"]
        if "_" in p.name:
            flags.append(f"--{p.name.replace('_', '-')}")
        parser.add_argument(*flags, dest=p.name, default=argparse.SUPPRESS, metavar="VALUE")
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
    for p in params:
        if p.name not in vars(raw):
            if p.default is inspect.Parameter.empty and p.kind not in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                raise UsageError(f"task {task.name!r} needs --{p.name}")
            continue
        text = getattr(raw, p.name)
        try:
            values[p.name] = _converter(hints.get(p.name, p.annotation))(text)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--{p.name} {text!r}: {exc}") from None
    return values


def _print_outputs(outputs: Any) -> None:
    try:
        text = json.dumps(outputs, indent=2, default=_json_default)
    except (TypeError, ValueError):
        text = repr(outputs)
    print(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError


def _cmd_run(args: argparse.Namespace) -> int:
    module = load_file(args.file)
    task = find_task(module, args.task, args.file)
    kwargs = parse_task_args(task, args.task_args)
    try:
        run = fl.run(task, cache_url=args.cache_url, **kwargs)
    except fl.TaskFailedError as exc:
        cause = exc.__cause__
        if cause is not None:
            traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        report = exc.report
        if report:
            print(f"\n{report}", file=sys.stderr)
        return 1
    _print_outputs(run.outputs)
    print(f"\n{run.report}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flytelite", description="Run and inspect flytelite workflows."
    )
    parser.add_argument("--version", action="version", version=f"flytelite {fl.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run a task of a Python file",
        description="Run TASK of FILE with --param value options parsed from its signature "
        "(int, float, bool, str; lists and dicts as JSON).",
    )
    run.add_argument("file", help="the Python file that defines the task")
    run.add_argument("task", help="the task's function name, or env.function")
    run.add_argument(
        "--cache-url",
        default=None,
        help="the cache (default: FLYTELITE_CACHE_URL, else the per-user cache folder)",
    )
    run.set_defaults(handler=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point; returns the exit status."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    args.task_args = rest
    try:
        status: int = args.handler(args)
    except (UsageError, fl.InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
