"""Run Flyte 2 programs unchanged on flytelite.

```python
import flytelite.compat

flytelite.compat.install()      # from now on `import flyte` is flytelite's surface
import my_flyte_program         # unchanged: `import flyte`, `@env.task`, `flyte.run(...)`
```

or from a shell: `flytelite run --flyte FILE TASK --param value`, or
`python -m flytelite.compat FILE [args]` to run a script's `__main__` block.

The surface is the package `flytelite.compat.flyte`. Its tasks are ordinary
flytelite tasks: `flytelite.run` runs and caches them, concurrently. See
docs/flyte2-compat.md for what is supported, what is accepted and ignored,
and what raises.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from ._install import install, is_installed, uninstall

__all__ = ["UnsupportedFeatureError", "install", "installed", "is_installed", "uninstall"]


@contextlib.contextmanager
def installed() -> Iterator[ModuleType]:
    """`install()` for the duration of a `with` block (yields the surface, `flyte`); the
    state before the block is restored after it."""
    was = is_installed()
    install()
    try:
        yield sys.modules["flyte"]
    finally:
        if not was:
            uninstall()


def __getattr__(name: str) -> Any:
    if name == "UnsupportedFeatureError":
        from .flyte._notice import UnsupportedFeatureError

        return UnsupportedFeatureError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
