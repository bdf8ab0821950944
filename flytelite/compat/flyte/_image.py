"""`flyte._image`: a private Flyte 2 module some examples import for image layers.

Images mean nothing locally (tasks run in this process), so this module gives
what those programs name: `Image` (the recorded one of `flyte.Image`),
`DIST_FOLDER`, and any layer class (`PythonWheels`, `PipPackages`, ...) as a
recorded object that keeps its arguments and does nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ._options import Image, Recorded

__all__ = ["DIST_FOLDER", "Image"]

DIST_FOLDER = Path(tempfile.gettempdir()) / "flytelite-dist"
"""Where Flyte 2 looks for the wheels it builds into an image: nothing is built locally."""

_layers: dict[str, type[Recorded]] = {}


def __getattr__(name: str) -> Any:
    # A layer class (`PythonWheels(wheel_dir=..., package_name=...)`): recorded only.
    if not name[:1].isupper():
        raise AttributeError(f"module 'flyte._image' has no attribute {name!r}")
    layer = _layers.get(name)
    if layer is None:
        layer = _layers[name] = type(name, (Recorded,), {"__module__": __name__})
    return layer
