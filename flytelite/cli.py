"""The `flytelite` command line.

    flytelite run FILE TASK [--param value ...] [--cache-url URL] [--storage-options JSON]
                  [--report-json FILE] [--report-html FILE]
                  [--no-progress] [--traceback short|full] [--flyte]
    flytelite run FILE TASK --help      the task's parameters, their types and defaults
    flytelite spec FILE TASK [--param value ...] [--mermaid]
    flytelite cache ls [TASK] | info | clear [TASK] | why TASK | gc [--dry-run]
    flytelite cache prune [--max-size SIZE] [--older-than AGE] [--task TASK] [--dry-run]

Outputs go to stdout (as JSON where they can be); the report, progress, warnings
(one line each) and errors go to stderr, so `flytelite run ... | jq` works.

Every option is checked before any task runs: the cache URL (its protocol must be
known to fsspec and its package installed), `--report-json` and `--report-html`
(their folder must exist), and each `--param value`, parsed and checked against
the parameter's annotation (see `flytelite._cli.params`). A task is named by its
function name, or by its identity `env.function` where that is ambiguous;
`flytelite cache` commands take the same names.

A failing task prints its own traceback, with the frames of flytelite, asyncio,
anyio and importlib hidden (`--traceback full` shows them), then one summary line.
Ctrl-C stops a run cleanly: what finished stays cached, and a partial report is
printed; a second Ctrl-C exits at once.

Exit status: 0 on success, 1 when a task failed, 2 for a usage error (one line, no
traceback) or a file that fails to import, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flytelite as fl

from ._cli.cache import COMMANDS, parse_age, parse_size_arg
from ._cli.interrupt import EXIT_INTERRUPTED, run_interruptibly
from ._cli.loading import ImportFailed, find_task, load_file
from ._cli.params import parse_task_args
from ._cli.stores import open_catalog
from ._cli.task_help import task_help
from ._cli.tracebacks import print_exception
from ._cli.usage import UsageError
from ._cli.warn import one_line_warnings

__all__ = ["main"]

_TASK_HELP = "task_help"


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


def _check_report_path(option: str, path: str | None) -> None:
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: that is a folder; name a file in it")
    if not target.absolute().parent.is_dir():
        raise UsageError(f"{option} {path}: no folder {str(target.parent)!r}; create it first")


def _write_report(args: argparse.Namespace, report: fl.Report) -> None:
    if args.report_json is not None:
        Path(args.report_json).write_text(json.dumps(report.to_dicts(), indent=2) + "\n")
    if args.report_html is not None:
        report.save_html(args.report_html)


def _cmd_run(args: argparse.Namespace) -> int:
    catalog = open_catalog(args.cache_url, args.storage_options)
    _check_report_path("--report-json", args.report_json)
    _check_report_path("--report-html", args.report_html)
    if args.flyte:
        from flytelite import compat

        compat.install()
    module = load_file(args.file)
    task = find_task(module, args.task, args.file)
    if getattr(args, _TASK_HELP, False):
        print(task_help(task, args.file), end="")
        return 0
    kwargs = parse_task_args(task, args.task_args)

    async def start() -> fl.Run:
        context = fl.with_runcontext(
            cache_url=catalog.url,
            storage_options=args.storage_options,
            progress=False if args.no_progress else None,
        )
        return await context.run.aio(task, **kwargs)  # every keyword is the task's

    try:
        run = run_interruptibly(start)
    except fl.TaskFailedError as exc:
        cause = exc.__cause__
        if cause is not None:
            print_exception(cause, full=args.traceback == "full")
        print(f"error: {exc}", file=sys.stderr)
        report = exc.report
        if isinstance(report, fl.Report):
            print(f"\n{report}", file=sys.stderr)
            _write_report(args, report)
        return 1
    except fl.RunCancelled as exc:  # Ctrl-C: what finished, and the partial report
        print(f"\n{exc.report}\n", file=sys.stderr)
        _write_report(args, exc.report)
        print(f"flytelite: interrupted: {_finished(exc.report)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:  # Ctrl-C before the run began
        print("flytelite: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print_outputs(run.outputs)
    print(f"\n{run.report}", file=sys.stderr)
    _write_report(args, run.report)
    return 0


def _finished(report: fl.Report) -> str:
    statuses = [row.status for row in report]
    parts = [f"{statuses.count('succeeded')} of {len(report)} calls finished"]
    for status in ("failed", "cancelled"):
        if status in statuses:
            parts.append(f"{statuses.count(status)} {status}")
    return ", ".join(parts) + "; the outputs of finished cached calls are kept in the cache"


def _cmd_spec(args: argparse.Namespace) -> int:
    module = load_file(args.file)
    task = find_task(module, args.task, args.file)
    if not isinstance(task, fl.DynamicTask):
        raise UsageError(f"{task.name!r} is not a dynamic workflow (@env.dynamic); it has no spec")
    if getattr(args, _TASK_HELP, False):
        print(task_help(task, args.file, "spec"), end="")
        return 0
    kwargs = parse_task_args(task, args.task_args)
    try:
        spec = task.compile(**kwargs)
    except fl.PromiseUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(spec.to_mermaid() if args.mermaid else spec)
    return 0


class _HelpAction(argparse.Action):
    """`--help`: after FILE TASK, the task's help; before them, the command's."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=_TASK_HELP, nargs=0, default=False, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, "task", None) is None:
            parser.print_help()
            parser.exit()
        setattr(namespace, _TASK_HELP, True)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('give a JSON object, e.g. \'{"endpoint_url": "..."}\'')
    return value


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
        add_help=False,
        help="run a task of a Python file",
        description="Run TASK of FILE with --param value options parsed from its signature "
        "and checked against its annotations (int, float, bool, str, enums, Literal; lists, "
        "dicts and dataclasses as JSON). `flytelite run FILE TASK --help` lists the "
        "task's parameters.",
    )
    run.add_argument("-h", "--help", action=_HelpAction, help="show this help, or the task's")
    run.add_argument("file", help="the Python file that defines the task")
    run.add_argument(
        "--report-json",
        metavar="FILE",
        default=None,
        help="also write the report as JSON: a list of one object per call",
    )
    run.add_argument(
        "--report-html",
        metavar="FILE",
        default=None,
        help="also write the report as one self-contained HTML page (timeline, per-task "
        "table, misses by reason); it loads nothing from the network",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    run.add_argument(
        "--traceback",
        choices=("short", "full"),
        default="short",
        help="a failing task's traceback: its own frames only (short, the default), or "
        "with flytelite's, asyncio's and anyio's (full)",
    )
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
        add_help=False,
        help="print the compiled spec of a dynamic workflow",
        description="Compile dynamic workflow TASK of FILE with --param value options, "
        "without running it, and print its spec.",
    )
    spec.add_argument("-h", "--help", action=_HelpAction, help="show this help, or the task's")
    spec.add_argument("file", help="the Python file that defines the workflow")
    spec.add_argument("task", help="the workflow's function name, or env.function")
    spec.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    spec.add_argument("--traceback", choices=("short", "full"), default="short", help="as for run")
    spec.set_defaults(handler=_cmd_spec)

    cache = sub.add_parser("cache", help="inspect and tidy a cache").add_subparsers(
        dest="cache_command", required=True
    )
    url_help = "the cache (default: FLYTELITE_CACHE_URL, else the per-user cache folder)"
    task_help = "a task: env.function as the report names it, or its function name if unique"
    ls = cache.add_parser("ls", help="entries per task, or one task's entries")
    ls.add_argument("task", nargs="?", help=task_help)
    info = cache.add_parser("info", help="size and counts of the cache")
    clear = cache.add_parser("clear", help="remove every entry, or one task's")
    clear.add_argument("task", nargs="?", help=task_help)
    prune = cache.add_parser(
        "prune", help="remove least recently used entries: unused for AGE, or until under SIZE"
    )
    prune.add_argument("task", nargs="?", help=task_help)
    prune.add_argument("--task", dest="task_option", metavar="TASK", help=task_help)
    prune.add_argument(
        "--older-than",
        type=parse_age,
        default=None,
        metavar="AGE",
        help="only entries unused for this long, e.g. 90s, 30m, 12h, 7d, 2w",
    )
    prune.add_argument(
        "--max-size",
        type=parse_size_arg,
        default=None,
        metavar="SIZE",
        help="evict least recently used entries until the cache is under SIZE, e.g. 10GB",
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    gc = cache.add_parser(
        "gc", help="remove temp files and leases of killed processes, and unreferenced blobs"
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    why = cache.add_parser("why", help="why a task's calls executed: their miss reasons")
    why.add_argument("task", help=task_help)
    why.add_argument("--limit", type=int, default=20, help="how many entries (default 20)")
    for name, command in (
        ("ls", ls),
        ("info", info),
        ("clear", clear),
        ("prune", prune),
        ("gc", gc),
        ("why", why),
    ):
        command.set_defaults(handler=COMMANDS[name])
    for command in (run, ls, info, clear, prune, gc, why):
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
        with one_line_warnings():
            status: int = args.handler(args)
    except (UsageError, fl.InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportFailed as exc:
        assert exc.__cause__ is not None
        print_exception(exc.__cause__, full=getattr(args, "traceback", "short") == "full")
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flytelite: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
