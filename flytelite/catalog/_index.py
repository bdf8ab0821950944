"""The miss index: why did this call execute again?

Beside the entries, each task has one small object, `index/<task>.json`, with
the components of its newest keys: version, signature, one hash per input,
the parts of the code fingerprint, when and by which run. A miss is explained by
comparing its key with the closest record: which input changed, or which part of
the code (`helper 'pkg.util.bump' changed`), or the version, or the signature. The
index is written off the hot path (batched by the async client), kept bounded
(the newest records per task), and purely advisory: a lost, damaged or racing
index makes reasons vaguer ("no entry for this task yet"), never a failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ._key import Key
from ._reasons import MissKind, MissReason
from ._store import Store, safe_name

__all__ = [
    "IndexRecord",
    "MissIndex",
    "code_changes",
    "explain",
    "explain_against",
    "record_for",
]

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
    code: Mapping[str, str] | None = None
    """The code fingerprint's parts (part name → digest), when recorded."""

    @classmethod
    def from_json(cls, raw: dict[str, Any], codes: dict[str, Any] | None = None) -> IndexRecord:
        code = (codes or {}).get(str(raw["version"]))
        return cls(
            task=str(raw["task"]),
            key=str(raw["key"]),
            version=str(raw["version"]),
            auto=bool(raw.get("auto", False)),
            signature=tuple(raw["signature"]),
            inputs={str(k): str(v) for k, v in raw["inputs"].items()},
            created_at=float(raw["created_at"]),
            producer=str(raw.get("producer", "")),
            code={str(k): str(v) for k, v in code.items()} if isinstance(code, dict) else None,
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
        code=key.code_parts or None,  # shared, never changed: the fingerprint's own parts
    )


def _names(signature: Iterable[str]) -> list[str]:
    return [token.split(":", 1)[-1] for token in signature]


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def compare(current: IndexRecord, earlier: IndexRecord) -> MissReason:
    """Why `current` is not `earlier`: version, signature, or inputs."""
    if current.version != earlier.version:
        changed = code_changes(current.code, earlier.code)
        versions = {"before": earlier.version, "now": current.version}
        if current.auto and earlier.auto:
            if changed:
                return MissReason(MissKind.CODE_CHANGED, changed, **versions)
            return MissReason(
                MissKind.CODE_CHANGED,
                f"the task's code changed (auto version {earlier.version!r} → {current.version!r})",
                **versions,
            )
        text = f"cache_version changed ({earlier.version!r} → {current.version!r})"
        if changed and current.code and earlier.code:
            text = f"{text}: {changed}"
        return MissReason(MissKind.VERSION_CHANGED, text, **versions)
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
        return MissReason(
            MissKind.SIGNATURE_CHANGED,
            f"the task's signature changed ({detail})",
            added=tuple(added),
            removed=tuple(removed),
        )
    inputs = [n for n in current.inputs if current.inputs[n] != earlier.inputs.get(n)]
    if not inputs:
        return MissReason(
            MissKind.REMOVED,
            f"the entry written by run {earlier.producer} was removed since "
            f"(cache cleared or pruned)",
            run=earlier.producer,
        )
    noun = "input" if len(inputs) == 1 else "inputs"
    return MissReason(
        MissKind.INPUTS_CHANGED, f"{noun} {_quoted(inputs)} changed", names=tuple(inputs)
    )


_PART_NOUNS = {
    "helper": "helper",
    "method": "method",
    "class": "class",
    "constant": "constant",
    "closure": "closure value",
    "task": "task",
    "hash": "hash method of",
    "dependency": "dependency",
}
_SHOWN = 3


def _part(name: str) -> str:
    """`helper 'pkg.util.bump'` for the part named `helper pkg.util.bump`."""
    kind, _, what = name.partition(" ")
    if kind == "code":
        return "the task's own code"
    if kind == "hash":  # "hash method x"
        return f"the hash method of {what.partition(' ')[2]!r}"
    return f"{_PART_NOUNS.get(kind, kind)} {what!r}"


def code_changes(now: Mapping[str, str] | None, before: Mapping[str, str] | None) -> str:
    """What differs between two code fingerprints, for people: `helper 'pkg.util.bump'
    changed`, `constant 'FACTOR' changed; helper 'clean' added`. Empty when unknown."""
    if not now or not before:
        return ""
    changed = [p for p in now if p in before and now[p] != before[p]]
    added = [p for p in now if p not in before]
    removed = [p for p in before if p not in now]
    phrases: list[str] = []
    for parts, verb in ((changed, "changed"), (added, "added"), (removed, "no longer used")):
        if not parts:
            continue
        names = [_part(p) for p in sorted(parts, key=_code_first)[:_SHOWN]]
        more = len(parts) - len(names)
        text = ", ".join(names) + (f" and {more} more" if more else "")
        if verb == "changed":
            if len(parts) == 1 and parts[0].startswith("dependency "):
                text += f" ({before[parts[0]]} → {now[parts[0]]})"
            phrases.append(f"{text} changed")
        else:
            phrases.append(f"{text} {verb}")
    return "; ".join(phrases)


def _code_first(part: str) -> tuple[int, str]:
    return (0 if part == "code" else 1, part)


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


def explain(
    current: IndexRecord, records: list[IndexRecord], *, this_run: frozenset[str] = frozenset()
) -> MissReason:
    """The miss reason for a key with components `current`, given the task's records.

    Records written by `this_run` (the producers of the run asking) do not count as
    earlier entries: a map over new items is "no entry for these inputs yet" for each,
    not "input changed" against a sibling written a moment before.
    """
    return explain_against(current, records, this_run=this_run)[0]


def explain_against(
    current: IndexRecord, records: list[IndexRecord], *, this_run: frozenset[str] = frozenset()
) -> tuple[MissReason, IndexRecord | None]:
    """The miss reason, and the earlier record it was found against."""
    earlier = [r for r in records if r.producer not in this_run] if this_run else records
    closest = nearest(current, [r for r in earlier if r.key != current.key] or earlier)
    if closest is None:
        if len(earlier) < len(records):
            return MissReason(MissKind.NEW_INPUTS, "no entry for these inputs yet"), None
        return MissReason(MissKind.FIRST, "no entry for this task yet"), None
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
            codes = raw.get("codes")
            return [IndexRecord.from_json(r, codes) for r in raw["records"]]
        except (ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError):
            return []  # not an index flytelite wrote: it only loses reasons

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
            # Records of one version share their code parts: stored once per version.
            codes = {r.version: r.code for r in newest if r.code}
            rows = []
            for r in newest:
                row = asdict(r)
                del row["code"]
                rows.append(row)
            body = json.dumps(
                {"format": 1, "records": rows, "codes": codes}, separators=(",", ":")
            ).encode()
            self.store.write(self.path(task), [body], exclusive=False)
