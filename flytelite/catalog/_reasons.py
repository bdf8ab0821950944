"""Why a cached call executed: a kind for programs, a sentence for people.

A `MissReason` is a `str` (the sentence shown in reports, progress and
`flytelite cache why`) that also carries its `kind` and structured `detail`, so
that code never has to parse the sentence:

    >>> reason = MissReason(MissKind.INPUTS_CHANGED, "input 'x' changed", names=("x",))
    >>> reason == "input 'x' changed", reason.kind is MissKind.INPUTS_CHANGED
    (True, True)

`summary` is the sentence without what varies from call to call (ages, error
messages), for counting reasons across a run.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["MissKind", "MissReason", "unreadable"]


class MissKind(str, enum.Enum):
    """What kind of miss a `MissReason` describes."""

    FIRST = "first"
    """No entry of this task was written before."""
    NEW_INPUTS = "new inputs"
    """Entries of this task exist (some from this run), none for these inputs."""
    INPUTS_CHANGED = "inputs changed"
    """The closest earlier entry differs in these inputs (`detail["names"]`)."""
    CODE_CHANGED = "code changed"
    """The auto version changed: the task's code or code it reaches."""
    VERSION_CHANGED = "version changed"
    """An explicit `cache_version` changed (`detail["before"]`, `detail["now"]`)."""
    SIGNATURE_CHANGED = "signature changed"
    """Parameters were added, removed, reordered or changed kind."""
    REMOVED = "removed"
    """The entry for these inputs was written, then cleared or pruned."""
    UNREADABLE = "unreadable"
    """An object is there but is not a usable entry (`detail["problem"]`)."""
    EXPIRED = "expired"
    """The entry is older than `max_age` (`detail["age"]`, `detail["max_age"]`)."""
    LOOKUP_FAILURE = "lookup failure"
    """The store could not be read (`detail["error_type"]`, `detail["error"]`)."""
    OVERRIDE = "override"
    """`behavior="override"`: the cache was not consulted."""
    HOLDER_FAILED = "holder failed"
    """Another process held the reservation and failed; this call executed."""
    UNKNOWN = "unknown"
    """The store keeps nothing that could tell (no miss index)."""

    def __str__(self) -> str:
        return self.value


class MissReason(str):
    """The reason for a miss: `str(reason)` for people, `.kind` and `.detail` for code."""

    kind: MissKind
    detail: dict[str, Any]

    def __new__(cls, kind: MissKind, text: str, **detail: Any) -> MissReason:
        reason = super().__new__(cls, text)
        reason.kind = kind
        reason.detail = detail
        return reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.kind.value, str(self), self.detail))

    @property
    def summary(self) -> str:
        """The sentence without what varies per call, for counting."""
        if self.kind is MissKind.EXPIRED:
            return "entry expired"
        if self.kind is MissKind.LOOKUP_FAILURE:
            return f"lookup failure of the store ({self.detail.get('error_type', 'error')})"
        if self.kind is MissKind.REMOVED:
            return "the entry was removed since (cache cleared or pruned)"
        return str(self)

    @property
    def signature_refused(self) -> bool:
        """An entry was there but not signed with this reader's `FLYTELITE_CACHE_SECRET`."""
        return self.kind is MissKind.UNREADABLE and self.detail.get("problem") == (
            "signature refused"
        )

    def __repr__(self) -> str:
        return f"MissReason({self.kind.name}, {str(self)!r})"


def _rebuild(kind: str, text: str, detail: dict[str, Any]) -> MissReason:
    return MissReason(MissKind(kind), text, **detail)


def unreadable(problem: str) -> MissReason:
    return MissReason(MissKind.UNREADABLE, f"entry unreadable: {problem}", problem=problem)
