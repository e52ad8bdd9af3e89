"""Counts as a reader expects them, in every output: "1 pair", "2 pairs", never "pair(s)"."""

from __future__ import annotations

import re
from pathlib import Path

import likeness
from likeness.wording import counted, is_are, run_words, was_were

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


def test_a_run_s_words_follow_its_kind():
    assert run_words("compare") == ("model", "pair", "reference", "test")
    assert run_words(None).units == "pairs"
    assert run_words(None).outputs == "outputs"
    style = run_words("style")
    assert (style.role, style.roles, style.unit, style.units) == (
        "method", "methods", "stylization", "stylizations")
    assert (style.reference, style.test, style.outputs) == ("content", "stylized",
                                                            "stylizations")


def test_no_module_chooses_a_run_s_words_by_itself():
    """"model" or "method", "pair" or "stylization" was chosen inline in a dozen modules,
    and the report page's headings said "pair" for a style run; ``run_words`` says them."""
    words = r"(model|method|pair|stylization|content|reference)s?"  # not a key: ["content"]
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if path.name != "wording.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(rf"(?<!\[)[\"']{words}[\"'].{{0,40}}== [\"']style[\"']", line)
             or re.search(rf"== [\"']style[\"'] else \(?[\"']{words}[\"']", line)
             if "stage" not in line]  # a progress stage's name: an identifier, not a word
    assert found == []
