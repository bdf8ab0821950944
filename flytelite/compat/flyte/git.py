"""`flyte.git`: configuration from a git checkout; locally there is nothing to configure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["config_from_root"]


def config_from_root(path: str | Path | None = None) -> Any:
    """Flyte 2 reads `config.yaml` at the repository root; runs here need no configuration,
    so this returns `None`, which `flyte.init_from_config` accepts."""
    return None
