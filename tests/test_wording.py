"""Counts as a reader expects them, in every output: "1 pair", "2 pairs", never "pair(s)"."""

from __future__ import annotations

import re
from pathlib import Path

import likeness
from likeness.wording import counted, is_are, was_were

PACKAGE = Path(likeness.__file__).parent


def test_counted_takes_the_noun_s_number():
    assert counted(1, "pair") == "1 pair"
    assert counted(0, "pair") == "0 pairs"
    assert counted(2, "reference image") == "2 reference images"
    assert counted(3, "copy", "copies") == "3 copies"
    assert counted(1, "copy", "copies") == "1 copy"
    assert [is_are(n) for n in (0, 1, 2)] == ["are", "is", "are"]
    assert [was_were(n) for n in (0, 1, 2)] == ["were", "was", "were"]


def test_no_output_of_the_package_counts_with_a_bracketed_plural():
    """Every "item(s)", "file(s)", "participant(s)" of the methods paragraphs, summaries,
    notes, pages and messages went through ``counted``; none may come back."""
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*")) if path.suffix in (".py", ".j2")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"[a-z]\(s\)[\s:;,.\"']", line) and path.name != "wording.py"]
    assert found == []
