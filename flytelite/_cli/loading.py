"""Importing the user's file, and finding a task in it."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import flytelite as fl

from .usage import UsageError

__all__ = ["ImportFailed", "find_task", "load_file"]


class ImportFailed(Exception):
    """The user's file raised while it was imported; `__cause__` is what it raised."""

    def __init__(self, path: str, error: BaseException) -> None:
        super().__init__(f"{path} could not be imported: {type(error).__name__}: {error}")
        self.path = path


def load_file(path: str) -> types.ModuleType:
    """Import a Python file as a module (its `if __name__ == "__main__"` block does not run).

    Raises:
        UsageError: there is no such file.
        ImportFailed: importing it raised (a `SyntaxError`, an `ImportError`, ...).
    """
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
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ImportFailed(path, exc) from exc
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
