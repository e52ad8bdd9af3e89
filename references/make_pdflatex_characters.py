"""Which characters beyond ASCII pdflatex sets with LaTeX's defaults (UTF-8 input, OT1 and
TS1 fonts): the table ``_PDFLATEX_SETS`` of ``likeness.evaluation.catalog.metric_spec``.

Run where pdflatex is installed (``apt-get install texlive-latex-base``), never by the test
suite:

    python references/make_pdflatex_characters.py

Typesets each printable character of the ranges below on a line of its own in one
document (``-interaction=nonstopmode``: every error logged, none stopping the run), reads
which lines pdflatex reported an error on ("Unicode character … not set up", "Command …
unavailable in encoding OT1"), and prints the other characters as ranges of code points,
with pdflatex's version, to paste into the table.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

RANGES = ((0xA0, 0x300), (0x370, 0x460), (0x1E00, 0x1F00), (0x2000, 0x2300))
_HEAD = "\\documentclass{article}\n\\begin{document}\n"


def measured() -> tuple[str, list[tuple[int, int]]]:
    codes = [c for low, high in RANGES for c in range(low, high) if chr(c).isprintable()]
    lines = [f"{code:04X}: {chr(code)}" for code in codes]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "characters.tex"
        source.write_text(_HEAD + "\n\n".join(lines) + "\n\\end{document}\n", encoding="utf-8")
        subprocess.run(["pdflatex", "-interaction=nonstopmode", source.name], cwd=folder,
                       capture_output=True, check=False, timeout=600)
        log = (Path(folder) / "characters.log").read_text(encoding="latin-1").splitlines()
    written = (_HEAD + "\n\n".join(lines)).splitlines()  # the document's lines, as numbered
    failed = set()
    for index, line in enumerate(log):
        if line.startswith("!"):  # the error's source line follows as "l.<number> …"
            for after in log[index:index + 12]:
                if found := re.match(r"l\.(\d+)", after):
                    text = written[int(found.group(1)) - 1]
                    failed.add(int(text.split(":")[0], 16))
                    break
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if code in failed:
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    version = subprocess.run(["pdflatex", "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[0]
    return version, ranges


if __name__ == "__main__":
    version, ranges = measured()
    print(f"# {version}")
    print(", ".join(f"(0x{low:X}, 0x{high:X})" for low, high in ranges))
