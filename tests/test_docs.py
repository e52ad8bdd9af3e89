"""The documentation site: built strictly (a broken link, a missing page or a docstring
mkdocstrings cannot read fails), every local link and image of every page present, the
search index holding the pages, and the home page rendered by a real headless browser."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "--site-dir", str(target)], cwd=REPO, capture_output=True,
                            text=True, timeout=240, env={**os.environ,
                                                         "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return target


def test_every_local_link_and_image_resolves(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 15
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r'(?:href|src)="([^"]+)"', text):
            parts = urlsplit(target)
            if parts.scheme or target.startswith(("#", "mailto:", "data:", "//")):
                continue
            base = site if parts.path.startswith("/") else page.parent  # 404.html: absolute
            path = (base / unquote(parts.path).lstrip("/")).resolve()
            if parts.path and not (path.exists() or (path / "index.html").exists()):
                broken.append(f"{page.relative_to(site)} -> {target}")
    assert not broken, broken[:20]


def test_the_search_index_holds_the_pages(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {entry["location"].split("#")[0] for entry in index["docs"]}
    for page in ("workflows/pairs/", "metrics/", "reference/", "conventions/"):
        assert page in locations, page
    assert any("structural_similarity" in entry["text"] for entry in index["docs"])


def test_the_api_reference_is_generated_from_the_docstrings(site):
    text = (site / "reference" / "index.html").read_text(encoding="utf-8")
    for name in ("compare", "evaluate_style", "compare_tensors", "Accumulator",
                 "HaarPSILoss", "InvalidInputError", "write_report"):
        assert name in text, name


def test_the_home_page_renders_in_a_headless_browser(site):
    from test_report import CHROMIUM_FLAGS, chromium_path

    browser = chromium_path()
    dom = subprocess.run([browser, *CHROMIUM_FLAGS, "--dump-dom",
                          (site / "index.html").as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "How alike images are" in dom
    assert 'data-md-component="search"' in dom  # the search box is part of the page
