"""The miss index: why did this call execute again?

Beside the entries, each task has one small object, `index/<task>.json`, with
the components of its newest keys: version, signature, one hash per input,
when and by which run. A miss is explained by comparing its key with the
closest record: which input changed, or the version, or the signature. The
index is written off the hot path (batched by the async client), kept bounded
(the newest records per task), and purely advisory: a lost, damaged or racing
index makes reasons vaguer ("no entry for this task yet"), never a failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ._key import Key
from ._store import Store, safe_name

__all__ = ["IndexRecord", "MissIndex", "explain", "explain_against", "record_for"]

KEEP = 64
_HASH_CHARS = 16


@dataclass(frozen=True)
class IndexRecord:
    """The components of one written key."""

    task: str
    key: str
    version: str
    auto: bool
    signature: tuple[str, ...]
    inputs: dict[str, str]
    created_at: float
    producer: str

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IndexRecord:
        return cls(
            task=str(raw["task"]),
            key=str(raw["key"]),
            version=str(raw["version"]),
            auto=bool(raw.get("auto", False)),
            signature=tuple(raw["signature"]),
            inputs={str(k): str(v) for k, v in raw["inputs"].items()},
            created_at=float(raw["created_at"]),
            producer=str(raw.get("producer", "")),
        )


def record_for(key: Key, producer: str) -> IndexRecord:
    return IndexRecord(
        task=key.identifier,
        key=key.digest,
        version=key.cache_version,
        auto=key.auto_version,
        signature=key.signature,
        inputs={
            name: digest[: _HASH_CHARS // 2].hex() for name, digest in key.input_hashes.items()
        },
        created_at=time.time(),
        producer=producer,
    )


def _names(signature: Iterable[str]) -> list[str]:
    return [token.split(":", 1)[-1] for token in signature]


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def compare(current: IndexRecord, earlier: IndexRecord) -> str:
    """Why `current` is not `earlier`: version, signature, or inputs."""
    if current.version != earlier.version:
        if current.auto and earlier.auto:
            return (
                f"the task's source changed (auto version {earlier.version!r} → "
                f"{current.version!r})"
            )
        return f"cache_version changed ({earlier.version!r} → {current.version!r})"
    if current.signature != earlier.signature:
        now, before = _names(current.signature), _names(earlier.signature)
        added = [n for n in now if n not in before]
        removed = [n for n in before if n not in now]
        parts = []
        if added:
            parts.append(f"added {_quoted(added)}")
        if removed:
            parts.append(f"removed {_quoted(removed)}")
        detail = "; ".join(parts) or "parameters reordered or changed kind"
        return f"the task's signature changed ({detail})"
    changed = [n for n in current.inputs if current.inputs[n] != earlier.inputs.get(n)]
    if not changed:
        return (
            f"the entry written by run {earlier.producer} was removed since "
            f"(cache cleared or pruned)"
        )
    noun = "input" if len(changed) == 1 else "inputs"
    return f"{noun} {_quoted(changed)} changed"


def nearest(current: IndexRecord, records: list[IndexRecord]) -> IndexRecord | None:
    """The earlier record `current` is best compared with.

    Same version and signature first, with the fewest differing inputs (newest
    on ties); else the newest record of the same version; else the newest.
    """
    if not records:
        return None
    same = [r for r in records if r.version == current.version]
    best: IndexRecord | None = None
    fewest = len(current.inputs) + 1
    for r in reversed(same):
        if r.signature != current.signature:
            continue
        differ = sum(current.inputs[n] != r.inputs.get(n) for n in current.inputs)
        if differ < fewest:
            best, fewest = r, differ
            if differ <= 1:  # another key differs in one input at least: none is closer
                break
    if best is not None:
        return best
    return (same or records)[-1]


def explain(current: IndexRecord, records: list[IndexRecord]) -> str:
    """The miss reason for a key with components `current`, given the task's records."""
    return explain_against(current, records)[0]


def explain_against(
    current: IndexRecord, records: list[IndexRecord]
) -> tuple[str, IndexRecord | None]:
    """The miss reason, and the earlier record it was found against."""
    closest = nearest(current, [r for r in records if r.key != current.key] or records)
    if closest is None:
        return "no entry for this task yet", None
    return compare(current, closest), closest


class MissIndex:
    """The per-task records in a store."""

    def __init__(self, store: Store, keep: int = KEEP) -> None:
        self.store = store
        self.keep = keep

    @staticmethod
    def path(task: str) -> str:
        return f"index/{safe_name(task)}.json"

    def read(self, task: str) -> list[IndexRecord]:
        """The task's records, oldest first; `[]` when missing or unreadable."""
        return [r for r in self._load(self.path(task)) if r.task == task]

    def read_file(self, name: str) -> list[IndexRecord]:
        """The records of one index object, by its name in the `index/` folder."""
        return self._load(f"index/{name}")

    def _load(self, path: str) -> list[IndexRecord]:
        try:
            data = self.store.read(path)
            if data is None:
                return []
            raw = json.loads(data)
            return [IndexRecord.from_json(r) for r in raw["records"]]
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            return []

    def add(self, records: list[IndexRecord]) -> None:
        """Merge records into their tasks' indexes, keeping the newest `keep` per task."""
        by_task: dict[str, list[IndexRecord]] = {}
        for record in records:
            by_task.setdefault(record.task, []).append(record)
        for task, new in by_task.items():
            merged = {r.key: r for r in self.read(task)}
            for r in new:
                merged.pop(r.key, None)
                merged[r.key] = r
            newest = sorted(merged.values(), key=lambda r: r.created_at)[-self.keep :]
            body = json.dumps(
                {"format": 1, "records": [asdict(r) for r in newest]}, separators=(",", ":")
            ).encode()
            self.store.write(self.path(task), [body], exclusive=False)
