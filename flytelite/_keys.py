"""The cache key of a task call, built one way for call outputs and dynamic specs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._task import Task
from .catalog import Key

__all__ = ["cache_key"]


def cache_key(task: Task[..., Any], inputs: Mapping[str, Any], *, spec: bool = False) -> Key:
    """The key of a cached call of `task` with its bound `inputs`, ignored inputs left out.

    With `spec`, the key of a dynamic workflow's compiled spec (identity `<task>#spec`):
    it carries no code fingerprint, so a miss of a spec is not explained by which part of
    the task's code changed.
    """
    policy = task.cache
    assert policy is not None
    keyed = inputs
    if policy.ignored_inputs:
        keyed = {k: v for k, v in inputs.items() if k not in policy.ignored_inputs}
    return Key(
        f"{task.name}#spec" if spec else task.name,
        task.cache_version,
        keyed,
        signature=task.signature_token,
        hash_methods=task.hash_methods,
        auto_version=not spec and policy.version is None,
        code_parts=None if spec else task.fingerprint.parts,
    )
