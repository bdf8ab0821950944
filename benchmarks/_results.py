"""benchmarks/RESULTS.md: one section per benchmark, each rewritten by its own script.

A section sits between `<!-- begin NAME -->` and `<!-- end NAME -->`; a full run of
a benchmark replaces its own section (or appends it) and leaves the others alone,
so `scripts/bench` regenerates the whole file one benchmark at a time.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ORDER = ("peers", "scale", "shared_cache", "dask_scale")
"""Where sections go, top to bottom (others follow, in the order written)."""


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Put `text` in the file as the section of benchmark `name`."""
    old = path.read_text() if path.exists() else ""
    sections = _sections(old)
    sections[name] = text.strip() + "\n"
    names = [n for n in ORDER if n in sections] + [n for n in sections if n not in ORDER]
    body = "\n".join(f"<!-- begin {n} -->\n{sections[n]}<!-- end {n} -->\n" for n in names)
    path.write_text(body)


def _sections(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    rest = text
    while "<!-- begin " in rest:
        _, _, rest = rest.partition("<!-- begin ")
        name, _, rest = rest.partition(" -->\n")
        inner, _, rest = rest.partition(f"<!-- end {name} -->\n")
        found[name] = inner
    return found


@contextlib.contextmanager
def section(name: str, *, write: bool) -> Iterator[None]:
    """Print what the block prints, and with `write` make it the section `name`."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    text = buffer.getvalue()
    sys.stdout.write(text)
    if write:
        write_section(name, text)
        print(f"[bench] wrote {RESULTS.name}: section {name}", file=sys.stderr)
