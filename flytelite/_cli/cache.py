"""The `flytelite cache` commands: `ls`, `info`, `clear`, `prune`, `gc`, `why`.

Every command names a task the same way: by its identity `env.function` (as the
report shows it, `données.f` included), or by its function name `f` when that is
unique in the cache. Names are matched against the identities recorded in the
entries, never against the folder names the store keeps them under (which are
sanitised: `donn_es.f-66271118`).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Iterable

from flytelite.catalog import FsspecCatalog, StoredEntry, gc, last_used, parse_size, prune

from .stores import check_folder, open_catalog
from .usage import UsageError

__all__ = ["COMMANDS", "parse_age", "parse_size_arg"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_HEADERS_TRIED = 3  # entries per folder read for its task's identity


def parse_age(text: str) -> float:
    """Seconds in an age like `90s`, `30m`, `12h`, `7d`, `2w` (a bare number is seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 90s, 30m, 12h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_size_arg(text: str) -> int:
    """Bytes in a size like `500MB`, `10GB`, `2GiB` (for argparse)."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


class _Cache:
    """The entries of one cache, grouped by the identity of their task."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.catalog: FsspecCatalog = open_catalog(args.cache_url, args.storage_options)
        check_folder(self.catalog.url)
        try:
            entries = list(self.catalog.entries())
        except OSError as exc:
            raise UsageError(f"the cache at {self.catalog.url} cannot be listed: {exc}") from None
        folders: dict[str, list[StoredEntry]] = {}
        for e in entries:
            folders.setdefault(e.task, []).append(e)
        self.by_task: dict[str, list[StoredEntry]] = {}
        for folder, group in folders.items():
            self.by_task.setdefault(self._identity(folder, group), []).extend(group)

    def _identity(self, folder: str, group: list[StoredEntry]) -> str:
        for entry in group[:_HEADERS_TRIED]:
            header = self.catalog.header(entry) or {}
            if isinstance(header.get("task"), str):
                return str(header["task"])
        return folder  # no readable header: the folder's name is all there is

    @property
    def entries(self) -> list[StoredEntry]:
        return [e for group in self.by_task.values() for e in group]

    def last_used(self) -> dict[str, float]:
        return last_used(self.catalog, self.entries)

    def blob_size(self) -> tuple[int, int]:
        """How many blobs the cache holds, and their size."""
        sizes = [size for _, size, _ in self.catalog.blobs.listing()]
        return len(sizes), sum(sizes)

    def resolve(self, name: str, known: Iterable[str], what: str = "entries") -> str:
        """The identity that `name` names: an identity, or a function name unique among `known`."""
        known = sorted(set(known))
        if name in known:
            return name
        named = [t for t in known if t.rsplit(".", 1)[-1] == name]
        if len(named) == 1:
            return named[0]
        if named:
            raise UsageError(f"{name!r} is ambiguous: name one of {', '.join(named)}")
        tasks = ", ".join(known) or "none"
        raise UsageError(f"no {what} of task {name!r} in {self.catalog.url}; tasks: {tasks}")

    def select(self, name: str | None) -> list[StoredEntry]:
        """Every entry, or the entries of the task `name` names."""
        if name is None:
            return self.entries
        return self.by_task[self.resolve(name, self.by_task)]


def _cmd_ls(args: argparse.Namespace) -> int:
    cache = _Cache(args)
    entries = cache.select(args.task)
    now = time.time()
    rows: list[tuple[str, ...]]
    if not entries:
        print(f"no entries in {cache.catalog.url}")
        return 0
    used = cache.last_used()
    if args.task is None:
        rows = [("task", "entries", "size", "newest", "last used")]
        for task, group in sorted(cache.by_task.items()):
            newest = max(e.mtime for e in group)
            rows.append(
                (
                    task,
                    str(len(group)),
                    _size(sum(e.size for e in group)),
                    _age(now - newest),
                    _age(now - max(used[e.path] for e in group)),
                )
            )
        print(_table(rows))
        return 0
    rows = [("key", "size", "age", "last used", "blobs", "cache version", "producer")]
    for e in sorted(entries, key=lambda e: -e.mtime):
        header = cache.catalog.header(e) or {}
        refs = header.get("refs") or ()
        rows.append(
            (
                e.key[:16],
                _size(e.size),
                _age(now - float(header.get("created_at", e.mtime))),
                _age(now - used[e.path]),
                _size(sum(r.size for r in refs)) if refs else "-",
                str(header.get("cache_version", "?")),
                str(header.get("producer", "?")),
            )
        )
    print(_table(rows))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    cache = _Cache(args)
    entries = cache.entries
    now = time.time()
    print(f"cache:    {cache.catalog.url}")
    print(f"entries:  {len(entries)} in {len(cache.by_task)} tasks")
    blobs, blob_bytes = cache.blob_size()
    entry_bytes = sum(e.size for e in entries)
    print(f"size:     {_size(entry_bytes + blob_bytes)}")
    print(f"blobs:    {blobs} ({_size(blob_bytes)})")
    if entries:
        used = cache.last_used()
        print(f"oldest:   {_age(now - min(e.mtime for e in entries))} ago")
        print(f"newest:   {_age(now - max(e.mtime for e in entries))} ago")
        print(f"last use: {_age(now - max(used.values()))} ago")
    return 0


def _cmd_clear(args: argparse.Namespace) -> int:
    cache = _Cache(args)
    return _remove(cache, cache.select(args.task), "")


def _cmd_prune(args: argparse.Namespace) -> int:
    if args.task and args.task_option and args.task != args.task_option:
        raise UsageError(f"two tasks named: {args.task!r} and --task {args.task_option!r}")
    if args.older_than is None and args.max_size is None:
        raise UsageError("say what to prune: --max-size SIZE, --older-than AGE, or both")
    cache = _Cache(args)
    task = args.task or args.task_option
    plan = prune(
        cache.catalog,
        max_size=args.max_size,
        older_than=args.older_than,
        candidates=cache.select(task) if task else None,
        entries=cache.entries,
        dry_run=args.dry_run,
    )
    verb = "would remove" if args.dry_run else "removed"
    which = f" unused for {_age(args.older_than)}" if args.older_than is not None else ""
    if args.dry_run:
        now = time.time()
        for e in plan.entries:
            unused = _age(now - plan.last_used[e.path])
            print(f"{e.task}/{e.key[:16]}  {_size(e.size)}  last used {unused} ago")
    later = f", {len(plan.deferred)} more blobs within the hour" if plan.deferred else ""
    print(
        f"{verb} {len(plan.entries)} entries{which} and {len(plan.blobs)} blobs{later} "
        f"({_size(plan.freed)}) from {cache.catalog.url}; "
        f"{_size(plan.size_after)} {'would remain' if args.dry_run else 'remain'}"
    )
    return 0


def _cmd_gc(args: argparse.Namespace) -> int:
    catalog: FsspecCatalog = open_catalog(args.cache_url, args.storage_options)
    check_folder(catalog.url)
    found = gc(catalog, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {len(found.temp_files)} temporary files, {len(found.leases)} expired leases "
        f"and {len(found.blobs)} unreferenced blobs ({_size(found.freed)}) from {catalog.url}"
        + (f"; {len(found.restored)} restored copies of them" if found.restored else "")
    )
    return 0


def _remove(cache: _Cache, entries: list[StoredEntry], which: str) -> int:
    for e in entries:
        cache.catalog.remove(e)
    print(
        f"removed {len(entries)} entries{which} ({_size(sum(e.size for e in entries))}) "
        f"from {cache.catalog.url}"
    )
    return 0


def _cmd_why(args: argparse.Namespace) -> int:
    cache = _Cache(args)
    catalog = cache.catalog
    task = cache.resolve(args.task, [*catalog.indexed_tasks(), *cache.by_task], "recorded entries")
    history = catalog.why(task)[: args.limit]
    now = time.time()
    print(f"why {task} executed, newest first ({len(history)} entries):")
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


COMMANDS = {
    "ls": _cmd_ls,
    "info": _cmd_info,
    "clear": _cmd_clear,
    "prune": _cmd_prune,
    "gc": _cmd_gc,
    "why": _cmd_why,
}
"""The handler of each `flytelite cache` subcommand."""
