"""The `flytelite cache` commands: `ls`, `info`, `clear`, `prune`, `why`.

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

from flytelite.catalog import FsspecCatalog, StoredEntry

from .stores import check_folder, open_catalog
from .usage import UsageError

__all__ = ["COMMANDS", "parse_age"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_HEADERS_TRIED = 3  # entries per folder read for its task's identity


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
    if args.task is None:
        rows = [("task", "entries", "size", "newest")]
        for task, group in sorted(cache.by_task.items()):
            newest = max(e.mtime for e in group)
            rows.append(
                (task, str(len(group)), _size(sum(e.size for e in group)), _age(now - newest))
            )
        print(_table(rows))
        return 0
    rows = [("key", "size", "age", "cache version", "producer")]
    for e in sorted(entries, key=lambda e: -e.mtime):
        header = cache.catalog.header(e) or {}
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


def _cmd_info(args: argparse.Namespace) -> int:
    cache = _Cache(args)
    entries = cache.entries
    now = time.time()
    print(f"cache:    {cache.catalog.url}")
    print(f"entries:  {len(entries)} in {len(cache.by_task)} tasks")
    print(f"size:     {_size(sum(e.size for e in entries))}")
    if entries:
        print(f"oldest:   {_age(now - min(e.mtime for e in entries))} ago")
        print(f"newest:   {_age(now - max(e.mtime for e in entries))} ago")
    return 0


def _cmd_clear(args: argparse.Namespace) -> int:
    cache = _Cache(args)
    return _remove(cache, cache.select(args.task), "")


def _cmd_prune(args: argparse.Namespace) -> int:
    cache = _Cache(args)
    cutoff = time.time() - args.older_than
    old = [e for e in cache.select(args.task) if e.mtime < cutoff]
    return _remove(cache, old, f" older than {_age(args.older_than)}")


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
    "why": _cmd_why,
}
"""The handler of each `flytelite cache` subcommand."""
