"""`python -m flytelite.compat SCRIPT [args]`: run a Flyte 2 script's main block on flytelite."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from . import install


def main(argv: list[str] | None = None) -> int:
    """Install the surface, then run SCRIPT as `__main__` with the remaining arguments."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m flytelite.compat SCRIPT [args...]", file=sys.stderr)
        return 2
    script = Path(args[0])
    if not script.is_file():
        print(f"error: no such file: {script}", file=sys.stderr)
        return 2
    install()
    sys.argv = [str(script), *args[1:]]
    sys.path.insert(0, str(script.resolve().parent))
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
