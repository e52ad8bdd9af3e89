"""Pair files of two folders by relative path without extension, and read manifests."""

from __future__ import annotations

import csv
import io as io_module
import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from likeness.arguments import check_paths
from likeness.errors import ImageLoadError, PairingError
from likeness.io.files import scan_folder, stat_regular_file
from likeness.io.integrity import GIT_LFS_POINTER, is_git_lfs_pointer

_UTF_16_MARKS = (b"\xff\xfe", b"\xfe\xff")  # little- and big-endian byte-order marks


def text_of(data: bytes) -> str:
    """The text of a CSV or prompt file: UTF-8 (a byte-order mark dropped), or UTF-16
    where a byte-order mark says so (as Excel's "Unicode Text", Windows' Notepad and
    PowerShell's redirections save text).

    Raises:
        UnicodeDecodeError: neither (the caller names the file and the byte).
    """
    if data.startswith(_UTF_16_MARKS):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


@dataclass(frozen=True)
class Pairing:
    """Reference/test file pairs and what could not be paired (paths relative to their folder)."""

    pairs: list[tuple[Path, Path]]
    unmatched_reference: list[Path]
    unmatched_test: list[Path]
    skipped_reference: list[Path] = field(default_factory=list)  # hidden, or not images
    skipped_test: list[Path] = field(default_factory=list)

    def relative(self, reference_dir: Path, test_dir: Path) -> list[tuple[str, str]]:
        return [(r.relative_to(reference_dir).as_posix(), t.relative_to(test_dir).as_posix())
                for r, t in self.pairs]


def name_key(path: Path, folder: Path) -> str:
    """What pairs a file with its partners: its path relative to ``folder``, without its
    extension, in Unicode's composed form (NFC) — macOS writes ``é`` as ``e`` and an
    accent (NFD), Linux keeps what it is given, and both must pair."""
    return unicodedata.normalize("NFC", path.relative_to(folder).with_suffix("").as_posix())


def differ_in_case_only(references: Sequence[str], tests: Sequence[str]) -> list[str]:
    """Of unpaired names, those that would pair but for their letters' case (``Img_1.PNG``
    and ``img_1.png``: pairing, as Linux's file names, tells the cases apart), each as the
    sentence that says so."""
    def folded(name: str) -> str:
        return unicodedata.normalize("NFC", Path(name).with_suffix("").as_posix()).casefold()

    by_fold = {folded(name): name for name in references}
    return [f"{by_fold[fold]} and {name} differ only in letter case, which pairing tells "
            "apart: rename one to pair them" for name in tests
            if (fold := folded(name)) in by_fold]


def _index_by_stem(folder: Path, files: Iterable[Path]) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for file in files:
        key = name_key(file, folder)
        if key in index:
            raise PairingError(
                f"two files in {folder} share the name {key!r}: {index[key].name} and "
                f"{file.name}; pairing ignores extensions (and how accents are encoded), so "
                "rename or remove one"
            )
        index[key] = file
    return index


def pair_folders(reference_dir: str | os.PathLike[str],
                 test_dir: str | os.PathLike[str]) -> Pairing:
    """Pair files of two folders by relative path without extension.

    ``ref/x/a.jpg`` pairs with ``out/x/a.png``.  Files without a partner are returned, never
    dropped silently.

    Raises:
        PairingError: a folder is missing, or two files of one folder differ only in extension.
    """
    check_paths(reference_dir=reference_dir, test_dir=test_dir)
    reference_dir, test_dir = Path(reference_dir), Path(test_dir)
    for folder in (reference_dir, test_dir):
        if not folder.is_dir():
            raise PairingError(f"{folder}: no such folder")
    return pair_scanned(reference_dir, scan_folder(reference_dir), test_dir,
                        scan_folder(test_dir))


def pair_scanned(reference_dir: Path, reference_scan: tuple[list[Path], list[Path]],
                 test_dir: Path, test_scan: tuple[list[Path], list[Path]]) -> Pairing:
    """``pair_folders`` on folders already scanned (``scan_folder``): a reference folder
    shared by several models is walked once."""
    (reference_files, skipped_reference), (test_files, skipped_test) = reference_scan, test_scan
    references = _index_by_stem(reference_dir, reference_files)
    tests = _index_by_stem(test_dir, test_files)
    pairs = [(references[key], tests[key]) for key in sorted(references) if key in tests]
    return Pairing(
        pairs=pairs,
        unmatched_reference=[references[k] for k in sorted(references) if k not in tests],
        unmatched_test=[tests[k] for k in sorted(tests) if k not in references],
        skipped_reference=skipped_reference, skipped_test=skipped_test,
    )


def read_manifest(path: Path, required: Sequence[str], optional: Sequence[str] = (), *,
                  what: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a UTF-8 CSV manifest (a byte-order mark accepted; separated by commas,
    or by semicolons or tabs where its header says so) as (line, record), each with every
    required column filled; values verbatim, spaces included.  A row of empty fields alone
    (",,": a spreadsheet's export of the rows below its table) holds nothing and is passed
    over, as an empty line is.

    Raises:
        PairingError: unreadable, not UTF-8, missing columns, or a row with missing, empty
            or extra fields, naming the line.
    """
    try:
        stat_regular_file(path)  # a FIFO would block the read forever
        text = text_of(path.read_bytes())
    except ImageLoadError as error:
        raise PairingError(f"cannot read the {what}: {error}") from None
    except OSError as error:
        raise PairingError(f"{path}: cannot read the {what} ({error.strerror or error})"
                           ) from None
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise PairingError(f"{path}, line {line}: the {what} is not UTF-8 text (byte "
                           f"0x{error.object[error.start]:02x}); save it as UTF-8") from None
    if is_git_lfs_pointer(text[:64].encode()):
        raise PairingError(f"{path}: the {what} is {GIT_LFS_POINTER}")
    delimiter = header_delimiter(text, required)
    reader = csv.DictReader(io_module.StringIO(text, newline=""), delimiter=delimiter)
    try:
        columns = list(reader.fieldnames or [])
    except csv.Error as error:
        raise PairingError(f"{path}, line 1: not a readable CSV header ({error})") from None
    if not set(required) <= set(columns):
        wanted = " and ".join(repr(c) for c in required)
        raise PairingError(f"{path}: the {what} needs columns {wanted}"
                           + (f" (and optionally {', '.join(optional)})" if optional else "")
                           + f"; found {', '.join(repr(c) for c in columns) or 'none'}")
    refuse_misspelt_columns(path, columns, [*required, *optional], what)
    refuse_repeated_columns(path, columns, [*required, *optional])
    rows = []
    records = iter(reader)
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as error:  # a NUL byte, an unterminated quote, a huge field
            # (the DictReader's own count stops at the row before: its reader's has read on)
            raise PairingError(f"{path}, line {reader.reader.line_num}: not a readable CSV row "
                               f"({error})") from None
        line = reader.line_num
        if None in record:
            raise more_fields_than_columns(path, line, delimiter, "paths")
        if not any(record.values()):  # a row of separators alone (",,", as spreadsheets
            continue                  # export the rows below a table): nothing in it
        missing = [c for c in required if not record.get(c)]
        if missing:
            raise PairingError(f"{path}, line {line}: no {' or '.join(missing)} given")
        rows.append((line, {k: v for k, v in record.items() if v is not None}))
    return rows


def more_fields_than_columns(path: Path, line: int, delimiter: str,
                             values: str) -> PairingError:
    """The error of a row with more fields than its header has columns: a value holding
    the separator unquoted, which shifts every field after it into the wrong column."""
    separators = {",": "commas", ";": "semicolons"}.get(delimiter, "tabs")
    return PairingError(f"{path}, line {line}: more fields than the header has columns "
                        f"(quote {values} that contain {separators})")


def refuse_repeated_columns(path: Path, columns: Sequence[str], known: Sequence[str]) -> None:
    """A column the reader takes named twice in the header: one of the two would be read
    and the other ignored (Python's csv keeps the last) — which one was meant is a guess.

    Raises:
        PairingError: naming the column and its positions.
    """
    for name in known:
        places = [index + 1 for index, column in enumerate(columns) if column.strip() == name]
        if len(places) > 1:
            raise PairingError(f"{path}: the header names column {name!r} "
                               f"{len(places)} times (columns "
                               f"{', '.join(map(str, places))}); keep one")


def refuse_misspelt_columns(path: Path, columns: Sequence[str], known: Sequence[str],
                            what: str) -> None:
    """Columns other than the ``known`` ones (those the file's reader takes) are ignored,
    but not one that reads like a known column the file lacks, misspelt ("modle", "Model",
    "prompts", "questions"): ignoring it would pool the rows' models or questions, or drop
    their prompts, without a word.

    Raises:
        PairingError: such a column, naming the column it resembles.
    """
    import difflib

    absent = [name for name in known if name not in columns]
    for column in columns:
        if column in known or not column:
            continue
        close = difflib.get_close_matches(column.strip().lower(), absent, n=1, cutoff=0.8)
        if close:
            raise PairingError(f"{path}: column {column!r} is not one the {what} reads; is it "
                               f"{close[0]!r} misspelt? Rename it (the {what} reads "
                               f"{', '.join(known)}; other columns are ignored)")


def header_delimiter(text: str, required: Sequence[str]) -> str:
    """A CSV text's separator: a comma — or a semicolon or a tab where only with it does
    the header name the required columns (spreadsheets save "CSV" so in many locales): no
    guess, the header says which."""
    header = text.split("\n", 1)[0].rstrip("\r")
    for candidate in (",", ";", "\t"):
        try:
            names = next(csv.reader([header], delimiter=candidate), [])
        except csv.Error:
            continue
        if set(required) <= {name.strip() for name in names}:
            return candidate
    return ","
