"""The documentation: every shell block marked ```` ```bash runnable ```` in README.md and docs/*.md runs cleanly in
a fresh copy of the project (nothing built), every relative link resolves (to a file, and to a heading where it
names one), and the README stays a short front door."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.integration.workflow import PROJECT_ROOT, copy_project, tool_environment

README = PROJECT_ROOT / "README.md"
DOCUMENTS = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 160
# What a clone has beside the workflow and the library (copy_project) that documented commands read: params.yaml
# as written (with its comments), the experiment files, the committed studies the tuned runs read, the benchmark
# scripts.
CLONE_FILES = ("params.yaml", "experiments", "results/tuning", "benchmarks")
RUNNABLE_INFO = ["bash", "runnable"]
BLOCK_TIMEOUT = 180  # seconds: the blocks are dry runs and --help, a few seconds each

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(?P<text>.*?)(?:\s+#+)?\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(?P<target>[^\s>]+)>?")
CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"(?P<anchor>[^\"]+)\"", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    code: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(PROJECT_ROOT)}:{self.line}"


@dataclass(frozen=True)
class Prose:
    """A document's lines outside fenced code blocks, with their line numbers."""

    lines: tuple[tuple[int, str], ...]


def split_document(document: Path) -> tuple[list[Block], Prose]:
    """The ``bash runnable`` blocks of a Markdown document, and its lines outside fenced code."""
    blocks, prose = [], []
    fence = None  # (fence characters, indent, info words, opening line, code lines) of the block being read
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match and not ("`" in match["fence"] and "`" in match["info"]):
                fence = (match["fence"], len(match["indent"]), match["info"].split(), number, [])
            else:
                prose.append((number, line))
            continue
        chars, indent, info, opened, code = fence
        closing = match and match["fence"][0] == chars[0] and len(match["fence"]) >= len(chars) and not match["info"].strip()
        if not closing:
            code.append(line[min(indent, len(line) - len(line.lstrip(' '))):])  # up to the fence's indent removed
            continue
        if info == RUNNABLE_INFO:
            blocks.append(Block(document, opened, "\n".join(code) + "\n"))
        fence = None
    if fence is not None:
        raise AssertionError(f"{document.relative_to(PROJECT_ROOT)}:{fence[3]}: a code block is never closed")
    return blocks, Prose(tuple(prose))


def runnable_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in split_document(document)[0]]


def heading_slug(text: str) -> str:
    """GitHub's anchor of a heading: the rendered text (links and code marks dropped), lower case, every character
    but letters, digits, underscores, hyphens and spaces dropped, spaces turned into hyphens."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


@functools.cache
def anchors(document: Path) -> frozenset[str]:
    """Every anchor of a Markdown document: its headings' slugs (a repeated one numbered -1, -2, … as GitHub does)
    and explicit HTML anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in split_document(document)[1].lines:
        if match := HEADING.match(line):
            slug = heading_slug(match["text"])
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
        found.update(match["anchor"] for match in HTML_ANCHOR.finditer(line))
    return frozenset(found)


def relative_links(document: Path) -> list[tuple[int, str]]:
    """(line, target) of every link in the document's prose that is not a URL with a scheme (http, https,
    mailto, …); links inside code spans and code blocks are not links."""
    links = []
    for number, line in split_document(document)[1].lines:
        line = CODE_SPAN.sub("", line)
        targets = [match["target"] for match in INLINE_LINK.finditer(line)]
        if definition := REFERENCE_DEFINITION.match(line):
            targets.append(definition["target"])
        links += [(number, target) for target in targets if not SCHEME.match(target)]
    return links


def broken_link(document: Path, target: str) -> str | None:
    """Why ``target`` (a relative link of ``document``) does not resolve, or None."""
    path, _, anchor = target.partition("#")
    resolved = (document.parent / unquote(path)).resolve() if path else document
    if not resolved.exists():
        return f"{path} does not exist"
    if anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
        return f"{resolved.relative_to(PROJECT_ROOT)} has no heading with the anchor #{anchor}"
    return None


RUNNABLE = runnable_blocks()


def test_the_documents_have_runnable_blocks():
    assert RUNNABLE, "no ```bash runnable block in README.md or docs/*.md"


@pytest.fixture
def fresh_project(tmp_path, default_params) -> Path:
    """A copy of the project as a clone has it, with nothing built: no data, results, stores or .snakemake."""
    project = copy_project(tmp_path / "project", default_params)
    for name in CLONE_FILES:
        source, target = PROJECT_ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    return project


@pytest.mark.integration
@pytest.mark.parametrize("block", RUNNABLE, ids=[block.where for block in RUNNABLE])
def test_runnable_block_runs_in_a_fresh_copy(block, fresh_project):
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=fresh_project,
            env=tool_environment(fresh_project),
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.where}: the block ran longer than {BLOCK_TIMEOUT} s\n--- block\n{block.code}")
    assert result.returncode == 0, (
        f"{block.where}: the block exited {result.returncode}\n--- block\n{block.code}"
        f"--- stdout (end)\n{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-3000:]}"
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(PROJECT_ROOT)) for d in DOCUMENTS])
def test_relative_links_resolve(document):
    broken = [
        f"{document.relative_to(PROJECT_ROOT)}:{line}: ({target}): {reason}"
        for line, target in relative_links(document)
        if (reason := broken_link(document, target)) is not None
    ]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines; the front door keeps to {README_MAX_LINES}: move detail into docs/"
    )


def test_heading_slugs_follow_github():
    assert heading_slug("What a rerun promises (`verify`)") == "what-a-rerun-promises-verify"
    assert heading_slug("PASCAL VOC 2007 and COCO → VOC") == "pascal-voc-2007-and-coco--voc"
    assert heading_slug("From params.yaml to runs") == "from-paramsyaml-to-runs"
    assert heading_slug("Your own data (`kind: table`)") == "your-own-data-kind-table"
    assert heading_slug("The [models](models.md) of sgm_mlc") == "the-models-of-sgm_mlc"
