"""The website builds offline with warnings as errors, and shows what it promises:
lab pages with real outputs and folded solutions, a glossary with Korean terms, search."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from test_layout import ROOT, toc_files


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [str(ROOT / ".venv/bin/jupyter-book"), "build", str(ROOT), "--warningiserror", "--nitpick", "--path-output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"


def test_every_toc_page_is_rendered(site):
    for entry in toc_files():
        assert (site / f"{entry}.html").exists(), entry


@pytest.mark.parametrize("lab", sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb")))
def test_lab_pages_show_real_outputs_and_fold_solutions(site, lab):
    html = (site / "solutions" / f"{lab}.html").read_text()
    assert "✓" in html, "the check cells' output is missing: run scripts/course refresh"
    assert "tag_hide-input" in html, "solution cells must be folded behind a toggle"
    assert "NotImplementedError" not in html, "the website shows solutions, not placeholders"


def test_glossary_gives_korean_terms(site):
    html = (site / "book" / "glossary.html").read_text()
    assert len(re.findall(r'<dt id="term-', html)) >= 25
    assert len(re.findall(r"[\uac00-\ud7a3]+", html)) >= 25, "each term gives its Korean name"


def test_search_index_covers_chapters_and_labs(site):
    index = (site / "searchindex.js").read_text()
    assert (site / "search.html").exists()
    for word in ("fingerprint", "reproduc", "glossari"):
        assert word in index.lower(), word
