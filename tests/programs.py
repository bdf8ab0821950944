"""Loading the Flyte 2 programs of tests/flyte_programs/ for the surface's tests."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

_loaded = itertools.count()


def load_file(path: Path) -> ModuleType:
    """A fresh copy of the program at `path` (its module state starts anew), registered in
    `sys.modules` under a new name (dataclasses and pickling look it up there)."""
    name = f"flyte_program_{path.stem}_{next(_loaded)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
