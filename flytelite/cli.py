"""The `flytelite` command line.

    flytelite run FILE TASK [--param value ...] [--cache-url URL]
    flytelite spec FILE TASK [--param value ...] [--mermaid]
    flytelite cache ls [TASK] | info | clear [TASK] | prune --older-than AGE [TASK] | why TASK

Outputs go to stdout (as JSON where they can be); the report, progress and
errors go to stderr, so `flytelite run ... | jq` works. Exit status: 0 on
success, 1 when a task failed, 2 for a usage error (no traceback).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import re
import sys
import time
import traceback
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import flytelite as fl
from flytelite.catalog import FsspecCatalog, StoredEntry, default_cache_url

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
        prog=f"flytelite run FILE {task.func.__name__}",
        add_help=False,
        exit_on_error=False,
        allow_abbrev=False,
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
    if args.flyte:
        from flytelite import compat

        compat.install()
    module = load_file(args.file)
    task = find_task(module, args.task, args.file)
    kwargs = parse_task_args(task, args.task_args)
    try:
        run = fl.run(
            task,
            cache_url=args.cache_url,
            storage_options=args.storage_options,
            progress=False if args.no_progress else None,
            **kwargs,
        )
    except fl.TaskFailedError as exc:
        cause = exc.__cause__
        if cause is not None:
            traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        report = exc.report
        if isinstance(report, fl.Report):
            print(f"\n{report}", file=sys.stderr)
            _write_report(args.report_json, report)
        return 1
    _print_outputs(run.outputs)
    print(f"\n{run.report}", file=sys.stderr)
    _write_report(args.report_json, run.report)
    return 0


def _write_report(path: str | None, report: fl.Report) -> None:
    if path is not None:
        Path(path).write_text(json.dumps(report.to_dicts(), indent=2) + "\n")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds in an age like `90s`, `30m`, `12h`, `7d`, `2w` (a bare number is seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 90s, 30m, 12h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.1f}{unit}"
    return f"{seconds:.0f}s"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _catalog(args: argparse.Namespace) -> FsspecCatalog:
    return FsspecCatalog(args.cache_url or default_cache_url(), args.storage_options)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('give a JSON object, e.g. \'{"endpoint_url": "..."}\'')
    return value


def _select(catalog: FsspecCatalog, task: str | None) -> list[StoredEntry]:
    """Entries of every task, or of one task named `env.function` or `function`."""
    entries = list(catalog.entries())
    if task is None:
        return entries
    folders = {e.task for e in entries}
    exact = [f for f in folders if f == task]
    named = exact or sorted(f for f in folders if f.rsplit(".", 1)[-1] == task)
    if not named:
        known = ", ".join(sorted(folders)) or "none"
        raise UsageError(f"no entries of task {task!r} in {catalog.url}; tasks: {known}")
    if len(named) > 1:
        raise UsageError(f"{task!r} is ambiguous: name one of {', '.join(named)}")
    return [e for e in entries if e.task == named[0]]


def _cmd_cache_ls(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    entries = _select(catalog, args.task)
    now = time.time()
    rows: list[tuple[str, ...]]
    if not entries:
        print(f"no entries in {catalog.url}")
        return 0
    if args.task is None:
        groups: dict[str, list[StoredEntry]] = {}
        for e in entries:
            groups.setdefault(e.task, []).append(e)
        rows = [("task", "entries", "size", "newest")]
        for task, group in sorted(groups.items()):
            newest = max(e.mtime for e in group)
            rows.append(
                (task, str(len(group)), _size(sum(e.size for e in group)), _age(now - newest))
            )
        print(_table(rows))
        return 0
    rows = [("key", "size", "age", "cache version", "producer")]
    for e in sorted(entries, key=lambda e: -e.mtime):
        header = catalog.header(e) or {}
        rows.append(
            (
                e.key[:16],
                _size(e.size),
                _age(now - float(header.get("created_at", e.mtime))),
                str(header.get("cache_version", "?")),
                str(header.get("producer", "?")),
            )
        )
    print(_table(rows))
    return 0


def _cmd_cache_info(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    entries = list(catalog.entries())
    now = time.time()
    print(f"cache:    {catalog.url}")
    print(f"entries:  {len(entries)} in {len({e.task for e in entries})} tasks")
    print(f"size:     {_size(sum(e.size for e in entries))}")
    if entries:
        print(f"oldest:   {_age(now - min(e.mtime for e in entries))} ago")
        print(f"newest:   {_age(now - max(e.mtime for e in entries))} ago")
    return 0


def _cmd_cache_clear(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    entries = _select(catalog, args.task)
    for e in entries:
        catalog.remove(e)
    print(
        f"removed {len(entries)} entries ({_size(sum(e.size for e in entries))}) from {catalog.url}"
    )
    return 0


def _cmd_cache_prune(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    cutoff = time.time() - args.older_than
    old = [e for e in _select(catalog, args.task) if e.mtime < cutoff]
    for e in old:
        catalog.remove(e)
    print(
        f"removed {len(old)} entries older than {_age(args.older_than)} "
        f"({_size(sum(e.size for e in old))}) from {catalog.url}"
    )
    return 0


def _cmd_cache_why(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    tasks = catalog.indexed_tasks()
    named = [t for t in tasks if t == args.task] or [
        t for t in tasks if t.rsplit(".", 1)[-1] == args.task
    ]
    if not named:
        known = ", ".join(tasks) or "none"
        raise UsageError(
            f"no recorded entries of task {args.task!r} in {catalog.url}; tasks: {known}"
        )
    if len(named) > 1:
        raise UsageError(f"{args.task!r} is ambiguous: name one of {', '.join(named)}")
    history = catalog.why(named[0])[: args.limit]
    now = time.time()
    print(f"why {named[0]} executed, newest first ({len(history)} entries):")
    rows: list[tuple[str, ...]] = [("age", "key", "run", "compared with run", "reason")]
    for record, reason, earlier in history:
        rows.append(
            (
                _age(now - record.created_at),
                record.key[:12],
                record.producer,
                earlier.producer if earlier is not None else "-",
                reason,
            )
        )
    print(_table(rows))
    return 0


def _cmd_spec(args: argparse.Namespace) -> int:
    module = load_file(args.file)
    task = find_task(module, args.task, args.file)
    if not isinstance(task, fl.DynamicTask):
        raise UsageError(f"{task.name!r} is not a dynamic workflow (@env.dynamic); it has no spec")
    kwargs = parse_task_args(task, args.task_args)
    try:
        spec = task.compile(**kwargs)
    except fl.PromiseUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(spec.to_mermaid() if args.mermaid else spec)
    return 0


def _parser() -> argparse.ArgumentParser:
    # No abbreviations: `--n 3` is a task's parameter, not short for `--no-progress`.
    parser = argparse.ArgumentParser(
        prog="flytelite", description="Run and inspect flytelite workflows.", allow_abbrev=False
    )
    parser.add_argument("--version", action="version", version=f"flytelite {fl.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        allow_abbrev=False,
        help="run a task of a Python file",
        description="Run TASK of FILE with --param value options parsed from its signature "
        "(int, float, bool, str; lists and dicts as JSON).",
    )
    run.add_argument("file", help="the Python file that defines the task")
    run.add_argument(
        "--report-json",
        metavar="FILE",
        default=None,
        help="also write the report as JSON: a list of one object per call",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    run.add_argument(
        "--flyte",
        action="store_true",
        help="run a Flyte 2 program unchanged: `import flyte` resolves to flytelite",
    )
    run.add_argument("task", help="the task's function name, or env.function")
    run.add_argument(
        "--cache-url",
        default=None,
        help="the cache (default: FLYTELITE_CACHE_URL, else the per-user cache folder)",
    )
    run.set_defaults(handler=_cmd_run)

    spec = sub.add_parser(
        "spec",
        allow_abbrev=False,
        help="print the compiled spec of a dynamic workflow",
        description="Compile dynamic workflow TASK of FILE with --param value options, "
        "without running it, and print its spec.",
    )
    spec.add_argument("file", help="the Python file that defines the workflow")
    spec.add_argument("task", help="the workflow's function name, or env.function")
    spec.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    spec.set_defaults(handler=_cmd_spec)

    cache = sub.add_parser("cache", help="inspect and tidy a cache").add_subparsers(
        dest="cache_command", required=True
    )
    url_help = "the cache (default: FLYTELITE_CACHE_URL, else the per-user cache folder)"
    task_help = "a task: its function name, or env.function"
    ls = cache.add_parser("ls", help="entries per task, or one task's entries")
    ls.add_argument("task", nargs="?", help=task_help)
    ls.set_defaults(handler=_cmd_cache_ls)
    info = cache.add_parser("info", help="size and counts of the cache")
    info.set_defaults(handler=_cmd_cache_info)
    clear = cache.add_parser("clear", help="remove every entry, or one task's")
    clear.add_argument("task", nargs="?", help=task_help)
    clear.set_defaults(handler=_cmd_cache_clear)
    prune = cache.add_parser("prune", help="remove entries older than an age")
    prune.add_argument("task", nargs="?", help=task_help)
    prune.add_argument(
        "--older-than",
        type=parse_age,
        required=True,
        metavar="AGE",
        help="e.g. 90s, 30m, 12h, 7d, 2w",
    )
    prune.set_defaults(handler=_cmd_cache_prune)
    why = cache.add_parser("why", help="why a task's calls executed: their miss reasons")
    why.add_argument("task", help=task_help)
    why.add_argument("--limit", type=int, default=20, help="how many entries (default 20)")
    why.set_defaults(handler=_cmd_cache_why)
    for command in (run, ls, info, clear, prune, why):
        if command is not run:
            command.add_argument("--cache-url", default=None, help=url_help)
        command.add_argument(
            "--storage-options",
            type=_json_object,
            default=None,
            metavar="JSON",
            help="fsspec options for the cache's file system, e.g. credentials or endpoint_url",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point; returns the exit status."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command not in ("run", "spec") and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.task_args = rest
    try:
        status: int = args.handler(args)
    except (UsageError, fl.InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
