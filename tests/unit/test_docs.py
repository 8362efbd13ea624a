"""The docs name paths that exist: every repository path that README.md, CONTRIBUTING.md, the
pages of docs/ and app/README.md cite (in backquotes or as a link) is in the tree. A moved or
removed file then fails here instead of leaving a doc that points nowhere."""

from __future__ import annotations

import posixpath
import re
import subprocess
from pathlib import Path

import pytest

from preau_ops.paths import ROOT

# Each doc, with the directory its short paths are relative to (besides the repository's root).
DOCS = {
    "README.md": "",
    "CONTRIBUTING.md": "",
    "BENCHMARKS.md": "",
    "app/README.md": "app",
    "docs/architecture.md": "app/src/preau",
    "docs/domain.md": "app/src/preau",
    "docs/contracts.md": "",
    "docs/security.md": "",
    "docs/benchmarks-history.md": "app",
}
CITED = re.compile(r"`([^`\s]+)`|\]\(([^)\s#]+)")
PLACEHOLDER = re.compile(r"[<>*{}…]|XX|NN|yourmodule")


def _entries(base: Path) -> set[str]:
    return {p.name for p in base.iterdir()}


def cited_paths(doc: str) -> list[str]:
    """The repository paths a doc cites: those whose first part is an entry of the root or of
    the doc's base directory (server paths, URLs and placeholders are not)."""
    text = (ROOT / doc).read_text()
    known = _entries(ROOT) | _entries(ROOT / DOCS[doc])
    paths = []
    for match in CITED.finditer(text):
        token = (match.group(1) or match.group(2)).split("::")[0].rstrip(".,;:")  # a test id
        if match.group(2) and not token.startswith(("http:", "https:")):
            token = str(((ROOT / doc).parent / token).resolve().relative_to(ROOT))
        if PLACEHOLDER.search(token) or token.split("/")[0] not in known:
            continue
        paths.append(token)
    return paths


def _candidates(doc: str, path: str) -> set[str]:
    """The path as the doc may mean it: from the root or from the doc's base directory (a
    trailing slash kept: git matches a directory pattern against a path that does not exist
    only when the path says it is a directory)."""
    return {posixpath.join(base, path) for base in ("", DOCS[doc])}


def exists(doc: str, path: str) -> bool:
    """In the tree, or a file the tools generate there."""
    return any((ROOT / c).exists() for c in _candidates(doc, path)) or generated(doc, path)


def generated(doc: str, path: str) -> bool:
    """Git ignores it: the tools generate it (the lab's hosts.yml and vault exist only while a
    lab is up, app/tests/artifacts/ once the app suite ran)."""
    command = ["git", "check-ignore", *_candidates(doc, path)]  # (-q takes one path only)
    return subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_path_a_doc_cites_exists(doc: str) -> None:
    missing = [path for path in cited_paths(doc) if not exists(doc, path)]
    assert not missing, f"{doc} cites paths that are not in the tree: {missing}"


def test_the_check_reads_backquotes_and_links_and_skips_placeholders(tmp_path: Path) -> None:
    assert "docs/domain.md" in cited_paths("README.md")
    assert "CONTRIBUTING.md" in cited_paths("README.md")
    assert "BENCHMARKS.md" in cited_paths("docs/benchmarks-history.md")  # ../BENCHMARKS.md
    assert not [p for p in cited_paths("CONTRIBUTING.md") if PLACEHOLDER.search(p)]
    assert not exists("README.md", "docs/no-such-page.md")
    # a generated, git-ignored directory relative to the doc's base (app/tests/artifacts/),
    # checked without looking at this machine's tree: in a clean clone (CI) the unit suite runs
    # before the app suite creates it
    assert generated("app/README.md", "tests/artifacts/")
    assert generated("app/README.md", "tests/artifacts/never-generated.png")
    assert not generated("README.md", "docs/no-such-page.md")
