"""When each entry was last used: the records that least-recently-used pruning reads.

Object stores have no access times, and a hit must not pay for a write; so a
run keeps the entries it hit in memory and writes them, batched with the miss
index (every half second at most, and when the run ends), as one small new
object `usage/<time>-<random>.json` per batch. Objects are only ever added,
never rewritten, so concurrent runs never lose each other's records; `prune`
and `gc` compact them into one. An entry's last use is the later of its own
write and its newest record. Like the miss index the records are advisory: a
lost batch makes pruning see an entry as a little older, nothing more.
"""

from __future__ import annotations

import json
import secrets
import time

from ._store import Store

__all__ = ["UsageLog"]

FOLDER = "usage"


class UsageLog:
    """The last-use records of one store, by entry path."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, used: dict[str, float]) -> None:
        """Write one batch: entry path → when it was used."""
        if not used:
            return
        name = f"{FOLDER}/{time.time_ns():020d}-{secrets.token_hex(4)}.json"
        body = json.dumps({"format": 1, "used": used}, separators=(",", ":")).encode()
        self.store.write(name, [body], exclusive=True)

    def read(self) -> tuple[dict[str, float], list[str]]:
        """Every entry's newest recorded use, and the objects they were read from."""
        merged: dict[str, float] = {}
        names = sorted(n for n in self.store.names(FOLDER) if n.endswith(".json"))
        read = []
        for name in names:
            path = f"{FOLDER}/{name}"
            try:
                data = self.store.read(path)
                raw = json.loads(data) if data is not None else None
                used = raw["used"] if isinstance(raw, dict) else None
                if not isinstance(used, dict):
                    continue
                for entry, when in used.items():
                    if isinstance(when, (int, float)) and merged.get(entry, 0.0) < when:
                        merged[str(entry)] = float(when)
            except (ValueError, KeyError, TypeError, RecursionError):
                pass  # not a batch flytelite wrote: it only loses records
            read.append(path)
        return merged, read

    def compact(self, keep: dict[str, float], read: list[str]) -> None:
        """Replace the objects `read` by one holding `keep` (entries that still exist).

        Batches written since `read` was listed are left alone: nothing is lost."""
        if keep:
            self.add(keep)
        for path in read:
            self.store.delete(path)
