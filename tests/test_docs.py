"""The documentation runs: every ```python block of docs/ is executed, and the site builds.

Each page's Python blocks run in order, in one fresh interpreter per page (so a
page reads like one script), with warnings as errors and an isolated
`FLYTELITE_CACHE_URL`. Blocks are compiled under the Markdown file's own name
and line numbers, so a traceback points at the line of the page that failed and
`inspect.getsource` (which auto cache versions use) finds the code there.

A block opts out only visibly, with ```python title="not run"; shell commands
are ```bash blocks and are not executed. A block that is exactly one snippet
line (`--8<-- "examples/quickstart.py"`) runs that file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

RUN_LANGUAGES = ("python", "py")
LANGUAGES = {*RUN_LANGUAGES, "bash", "text", "mermaid", "toml", "yaml", "json", "ini"}
NOT_RUN = 'title="not run"'
MAX_NOT_RUN = 2  # "sparingly": raise this only with a reason

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_SNIPPET = re.compile(r'^--8<--\s+"(?P<path>[^"]+)"\s*$')

# Runs in the page's interpreter: exec each block in one `__main__` namespace and
# record each block that finished, so that a block cannot pass by ending the process.
RUNNER = """
import json, sys, types
with open(sys.argv[1], encoding="utf-8") as f:
    blocks = json.load(f)
main = types.ModuleType("__main__")
sys.modules["__main__"] = main
for block in blocks:
    source = "\\n" * (block["first_line"] - 1) + block["code"]
    exec(compile(source, block["file"], "exec"), main.__dict__)
    with open(sys.argv[2], "a", encoding="utf-8") as done:
        done.write(f"{block['first_line']}\\n")
"""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # the fence's line, 1-based
    language: str
    info: str
    code: str
    file: Path  # where the code lives: the page, or a snippet's file
    first_line: int  # the code's first line in `file`

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and NOT_RUN not in self.info

    def to_json(self) -> dict[str, object]:
        return {"file": str(self.file), "first_line": self.first_line, "code": self.code}


def parse(page: Path, text: str | None = None) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order."""
    lines = (page.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].strip()
        language = info.split(None, 1)[0].strip("{}.") if info else ""
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = _FENCE.match(lines[j])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        else:
            raise AssertionError(f"{page}:{i + 1}: the code fence is never closed")
        code = textwrap.dedent("\n".join(body)) + "\n"
        file, first_line = page, i + 2
        snippet = _SNIPPET.match(code.strip()) if len(body) == 1 else None
        if snippet is not None:
            file, first_line = ROOT / snippet["path"], 1
            code = file.read_text(encoding="utf-8")
        blocks.append(Block(page, i + 1, language, info, code, file, first_line))
        i = j + 1
    return blocks


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def test_the_docs_have_pages_with_code() -> None:
    blocks = [b for page in PAGES for b in parse(page)]
    assert len(PAGES) >= 10, PAGES
    assert sum(b.runs for b in blocks) >= 50, "the docs lost their examples"


def test_the_parser_finds_runnable_opted_out_snippet_and_indented_blocks() -> None:
    text = textwrap.dedent(
        """
        ```python
        x = 1
        ```
        ```python title="not run"
        raise SystemExit
        ```
        ```bash
        flytelite cache ls
        ```
        !!! note
            ```python
            if x:
                y = 2
            ```
        ```python
        --8<-- "examples/quickstart.py"
        ```
        """
    )
    blocks = parse(DOCS / "example.md", text)
    assert [(b.line, b.language, b.runs) for b in blocks] == [
        (2, "python", True),
        (5, "python", False),
        (8, "bash", False),
        (12, "python", True),
        (16, "python", True),
    ]
    assert blocks[0].code == "x = 1\n" and blocks[0].first_line == 3
    assert blocks[3].code == "if x:\n    y = 2\n"
    assert blocks[4].file == ROOT / "examples" / "quickstart.py"
    assert blocks[4].code.startswith('"""A parallel pipeline')


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_fence_names_a_known_language(page: Path) -> None:
    for block in parse(page):
        where = f"{page_id(page)}:{block.line}"
        assert block.language in LANGUAGES, f"{where}: fence language {block.language!r}"
        if block.language in RUN_LANGUAGES and not block.runs:
            assert block.info == f"{block.language} {NOT_RUN}", f"{where}: opt out visibly"


def test_opting_out_stays_rare() -> None:
    skipped = [
        f"{page_id(b.page)}:{b.line}"
        for page in PAGES
        for b in parse(page)
        if b.language in RUN_LANGUAGES and not b.runs
    ]
    assert len(skipped) <= MAX_NOT_RUN, skipped


Outcome = tuple[int, str, str]  # exit status, stdout, stderr


def run_process(args: list[str], *, cwd: Path, env: dict[str, str]) -> Outcome:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="session")
def pool() -> Iterator[ThreadPoolExecutor]:
    """Runs the pages and the site build a few at a time, in the background. A few, not
    all: the pages' timings (gathered sleeps finish together) must hold on small machines."""
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as executor:
        yield executor
        executor.shutdown(cancel_futures=True)


@pytest.fixture(scope="session")
def site_build(
    pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Future[Outcome] | None:
    """`mkdocs build --strict`, started first so that it overlaps the pages' runs."""
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        return None
    site = tmp_path_factory.mktemp("site")
    args = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return pool.submit(run_process, args, cwd=ROOT, env=env)


@pytest.fixture(scope="session")
def page_runs(
    pool: ThreadPoolExecutor,
    tmp_path_factory: pytest.TempPathFactory,
    site_build: Future[Outcome] | None,
) -> dict[Path, tuple[list[Block], Path, Future[Outcome]]]:
    """Each page's blocks, run in an interpreter of its own."""
    runs = {}
    for page in PAGES:
        blocks = [b for b in parse(page) if b.runs]
        if not blocks:
            continue
        folder = tmp_path_factory.mktemp(page.stem)
        spec = folder / "blocks.json"
        spec.write_text(json.dumps([b.to_json() for b in blocks]), encoding="utf-8")
        (folder / "work").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTELITE_")}
        env["FLYTELITE_CACHE_URL"] = str(folder / "cache")
        args = [sys.executable, "-W", "error", "-c", RUNNER, str(spec), str(folder / "done.txt")]
        runs[page] = (blocks, folder, pool.submit(run_process, args, cwd=folder / "work", env=env))
    return runs


@pytest.mark.parametrize("page", [p for p in PAGES if any(b.runs for b in parse(p))], ids=page_id)
def test_the_python_blocks_of_a_page_run_in_order(
    page: Path, page_runs: dict[Path, tuple[list[Block], Path, Future[Outcome]]]
) -> None:
    blocks, folder, outcome = page_runs[page]
    status, out, err = outcome.result()
    done = folder / "done.txt"
    finished = done.read_text(encoding="utf-8").split() if done.exists() else []
    failed = blocks[len(finished)] if len(finished) < len(blocks) else None
    where = f"the block at {page_id(page)}:{failed.line}" if failed else "after the last block"
    output = f"--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-6000:]}"
    assert status == 0, f"{where} failed\n{output}"
    assert len(finished) == len(blocks), f"{where} ended the process early\n{output}"


def test_the_api_reference_covers_all_public_names() -> None:
    import flytelite

    reference = (DOCS / "reference" / "flytelite.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: flytelite\.(\w+)\s*$", reference, re.MULTILINE))
    documented |= set(re.findall(r"\{ #flytelite\.(\w+) \}", reference))
    public = set(flytelite.__all__) - {"__version__"}
    assert documented == public, (
        f"missing: {sorted(public - documented)}; not public: {sorted(documented - public)}"
    )


def test_the_reference_signatures_of_run_and_map_list_every_option() -> None:
    import inspect

    import flytelite

    reference = (DOCS / "reference" / "flytelite.md").read_text(encoding="utf-8")
    for name, func in (("run", flytelite.run.__call__), ("map", flytelite.map.__call__)):
        section = reference.split(f"{{ #flytelite.{name} }}", 1)[1].split(":::", 1)[0]
        options = [
            p.name
            for p in inspect.signature(func).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        missing = [o for o in options if f"{o}=" not in section]
        assert not missing, f"fl.{name} options missing from its reference signature: {missing}"


def test_the_site_builds_strictly(site_build: Future[Outcome] | None) -> None:
    assert site_build is not None, "mkdocs is missing: pip install -e '.[test]'"
    status, _, err = site_build.result()
    assert status == 0, err[-6000:]
