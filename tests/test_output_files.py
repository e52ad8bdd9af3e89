"""What likeness writes: created as the user's umask allows (a results folder a group, a
collaborator or a web server can read, as any file the user makes), secrets readable by
their owner only from the first byte, and every file whole or as it was."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.io import new_file_beside, replace_file, replacing
from likeness.runs.fid import write_set_record
from likeness.runs.folder import write_rows
from study_support import make_study


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_replaced_files_take_the_umask_not_owner_only(tmp_path, mask):
    with umask(mask):
        replace_file(tmp_path / "a.txt", "text\n")
        with replacing(tmp_path / "b.bin") as stream:
            stream.write(b"\x00\x01")
    assert _mode(tmp_path / "a.txt") == 0o666 & ~mask
    assert _mode(tmp_path / "b.bin") == 0o666 & ~mask
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_a_private_file_is_private_whatever_the_umask(tmp_path):
    with umask(0):
        replace_file(tmp_path / "secret", "token\n", mode=0o600)
    assert _mode(tmp_path / "secret") == 0o600


def test_a_failed_write_leaves_the_file_as_it_was_and_no_temporary(tmp_path):
    target = tmp_path / "stats.npz"
    target.write_bytes(b"old")

    def killed_half_way() -> None:
        with replacing(target) as stream:
            stream.write(b"half of the new")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        killed_half_way()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]


def test_a_link_planted_at_the_target_is_replaced_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep")
    (tmp_path / "out.txt").symlink_to(elsewhere)
    replace_file(tmp_path / "out.txt", "new")
    assert elsewhere.read_text() == "keep"
    assert not (tmp_path / "out.txt").is_symlink()
    assert (tmp_path / "out.txt").read_text() == "new"


def test_new_files_are_made_exclusively_under_fresh_names(tmp_path):
    handles = [new_file_beside(tmp_path / "x", ".part") for _ in range(20)]
    assert len({path for _, path in handles}) == 20
    for handle, path in handles:
        os.close(handle)
        assert path.name.startswith(".x.")
        assert path.name.endswith(".part")


def test_a_results_folder_is_readable_as_the_umask_allows(golden, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    shutil.copy(golden.image_path("astronaut.png"), ref / "a.png")
    shutil.copy(golden.image_path("astronaut__jpeg.png"), out / "a.png")
    with umask(0o022):
        result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics",
                                           "ssim,psnr", "--out-dir", str(tmp_path / "run"),
                                           "--no-cache", "--html"])
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "run").iterdir())
    assert {p.name for p in written} >= {"run.json", "per_image.csv", "methods.md",
                                          "summary.tex", "report.html"}
    assert {p.name: _mode(p) for p in written} == {p.name: 0o644 for p in written}


def test_statistics_files_take_the_umask(fid_weights, golden, tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        shutil.copy(golden.image_path(name), folder / name)
    stats = tmp_path / "set.npz"
    with umask(0o022):
        result = CliRunner().invoke(main, ["fid", str(folder), "--weights",
                                           str(fid_weights), "--save-stats", str(stats),
                                           "--no-cache"])
    assert result.exit_code == 0, result.output
    assert _mode(stats) == 0o644
    assert set(np.load(stats)) >= {"mu", "sigma"}


def test_a_statistics_file_on_a_full_disk_is_named_in_the_message(fid_weights, golden,
                                                                   tmp_path, monkeypatch):
    """It said "no space left on the device" without saying which file (numpy writes
    through a stream, so the error carries no file name)."""
    from likeness.evaluation.sets import features

    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        shutil.copy(golden.image_path(name), folder / name)

    def full(handle: object, **arrays: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(features.np, "savez", full)
    stats = tmp_path / "set.npz"
    result = CliRunner().invoke(main, ["fid", str(folder), "--weights", str(fid_weights),
                                       "--save-stats", str(stats), "--no-cache"])
    assert result.exit_code == 1
    assert f"error: cannot write {stats} (No space left on device); free some space" in \
        result.output
    assert "re-run resumes" not in result.output  # --no-cache: nothing computed was kept
    assert not stats.exists()
    assert list(tmp_path.iterdir()) == [folder]


@pytest.mark.parametrize(("code", "advice"), [
    (errno.ENOSPC, "free some space — values"), (errno.EACCES, "make the folder writable — "),
    (errno.EROFS, "its disk is read-only: choose another place — "),
    (errno.ENOENT, "this path cannot hold it: choose another place — "),
    (errno.ENOTDIR, "this path cannot hold it: choose another place — "),
    (errno.EIO, "check the disk, or choose another place — ")])
def test_a_failed_write_advises_what_fits_its_cause(tmp_path, code, advice):
    """A folder without write permission was told to "free some space"; so were a path
    under /proc or below a file (`--out-dir /dev/null/x`), and an I/O error."""
    from likeness.errors import StorageError
    from likeness.runs.folder import writing

    with pytest.raises(StorageError) as raised, writing(tmp_path / "run.json", resumes=True):
        raise OSError(code, os.strerror(code))
    assert f"cannot write {tmp_path / 'run.json'} ({os.strerror(code)}); {advice}" in \
        str(raised.value)
    with pytest.raises(StorageError) as unkept, writing(tmp_path / "report.html"):
        raise OSError(code, os.strerror(code))
    assert str(unkept.value).endswith(advice.removesuffix(" — values").removesuffix(" — "))


def test_a_failed_out_file_says_a_re_run_resumes_only_where_the_values_were_kept(
        tmp_path, monkeypatch):
    """``compare --out`` on a full disk said "values computed so far are kept and a re-run
    resumes" with ``--no-cache`` too, where nothing was kept."""
    from likeness.runs import folder as folder_module

    ref, out = tmp_path / "ref", tmp_path / "out"
    for side in (ref, out):
        side.mkdir()
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(side / "a.png")

    def full(path, text, errors="strict"):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(folder_module, "replace_file", full)
    said = {}
    for cache in (["--no-cache"], ["--cache", str(tmp_path / "c.sqlite")]):
        result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics", "mse",
                                           "--out", str(tmp_path / "rows.csv"), *cache])
        assert result.exit_code == 1
        assert "cannot write" in result.stderr
        said[cache[0]] = "a re-run resumes" in result.stderr
    assert said == {"--no-cache": False, "--cache": True}


def test_a_results_folder_the_user_cannot_write_is_said_so_before_anything_else(
        tmp_path, monkeypatch):
    """SQLite cannot open a WAL database read-only where it cannot make the -shm file (a
    folder without write permission, measured as another user): `compare` then called the
    run's own progress.sqlite one "which likeness did not write".  Root writes every
    folder, so ``os.access`` answers as it does for that user."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "progress.sqlite").write_bytes(b"")
    for side in ("ref", "out"):
        (tmp_path / side).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / side / "a.png")
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False
                        if Path(path) == folder and mode == os.W_OK else access(path, mode))
    for overwrite in ([], ["--overwrite"]):
        result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"),
                                           str(tmp_path / "out"), "--no-cache",
                                           "--out-dir", str(folder), *overwrite])
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: cannot write into {folder} (no permission, or "
                                        "a read-only disk): make the folder writable")


def test_a_study_s_admin_token_is_its_owner_s_alone_from_the_start(tmp_path):
    with umask(0):
        make_study(tmp_path / "study", per_participant=2)
    assert _mode(tmp_path / "study" / "admin-token") == 0o600


def test_an_output_option_never_replaces_a_file_of_another_kind(golden, tmp_path):
    """A mistyped output path (an input image) is refused before anything is written, in
    every command and function that writes one file: compare --out, fid/kid --out, report
    -o, study offline/export --out; and a --cache path naming an image or a file that is
    not a database is left as it is (it was moved aside and replaced)."""
    from likeness.errors import InvalidInputError, StorageError

    folder, model = tmp_path / "images", tmp_path / "model"
    for place in (folder, model):
        place.mkdir()
        for name in ("astronaut.png", "coffee.png"):
            shutil.copy(golden.image_path(name), place / name)
    image = folder / "astronaut.png"
    before = image.read_bytes()
    runner = CliRunner()
    for arguments in (["compare", folder, model, "--out", image],
                      ["fid", folder, "--out", image], ["kid", folder, folder, "--out", image],
                      ["report", tmp_path, "-o", image],
                      ["study", "offline", tmp_path, "--out", image],
                      ["study", "export", tmp_path, "--out", image]):
        result = runner.invoke(main, [str(a) for a in arguments])
        assert result.exit_code == 2, (arguments, result.output)
        assert "the file must end in" in result.output
    likeness_calls = (lambda: likeness.write_report(tmp_path, image),
                      lambda: write_set_record(image, {}),
                      lambda: write_rows(image, [], [], {}))
    for call in likeness_calls:
        with pytest.raises(InvalidInputError, match="must end in"):
            call()
    assert image.read_bytes() == before
    for cache in (image, tmp_path / "new.jpg"):
        with pytest.raises(StorageError, match="an image's extension"):
            likeness.compare(folder, model, cache=cache)
    other = tmp_path / "notes"
    other.write_bytes(before)  # a PNG under a name that is not a database's
    with pytest.raises(StorageError, match="is not a cache database \\(it is a PNG file\\)"):
        likeness.compare(folder, model, cache=other)
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "model", "notes"]


def test_latex_tables_escape_every_special_character_on_one_line(tmp_path):
    """A model's name in summary.tex: LaTeX's specials escaped, the characters its default
    (OT1) encoding sets as other glyphs (| as —, < as ¡) named, a line break a space (it
    would end a table row, or a study table's comment)."""
    from likeness.evaluation.catalog.metric_spec import latex_escape

    assert latex_escape("a&b_c%d$e#f~g^h\\i{j}") == (
        r"a\&b\_c\%d\$e\#f\textasciitilde{}g\textasciicircum{}h\textbackslash{}i\{j\}")
    assert latex_escape("p|q<r>s\nt\r\tu") == r"p\textbar{}q\textless{}r\textgreater{}s t  u"
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder in ("ref", "p|q<r>"):
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            tmp_path / folder / "a.png")
    likeness.compare(tmp_path / "ref", models={"p|q<r>": tmp_path / "p|q<r>"},
                     metrics="psnr", cache=False, out_dir=tmp_path / "results")
    table = (tmp_path / "results" / "summary.tex").read_text(encoding="utf-8")
    assert r"p\textbar{}q\textless{}r\textgreater{} & " in table


def test_latex_tables_compose_accents_escape_undecodable_bytes_and_name_what_pdflatex_lacks(
        tmp_path):
    """A name from macOS's file system spells é as e and a combining accent, which pdflatex
    stops at ("Unicode character ́ (U+0301)"); a name that is not UTF-8 was written as
    ``\\udcff``, an undefined control sequence; CJK or emoji stop pdflatex too, and the
    table now says so, with what compiles it."""
    from PIL import Image

    from likeness.evaluation.catalog.metric_spec import latex_escape, pdflatex_unset

    assert latex_escape("cafe\u0301") == "caf\u00e9"
    assert latex_escape("bad\udcff") == r"bad\textbackslash{}udcff"
    assert pdflatex_unset("cafe\u0301 Ærø – naïve") == []
    assert pdflatex_unset("模型 α 🎨") == ["模", "型", "α", "🎨"]
    rng = np.random.default_rng(1)
    names = ("ref", "cafe\u0301", "模型")
    for folder in names:
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            tmp_path / folder / "a.png")
    likeness.compare(tmp_path / "ref", models={name: tmp_path / name for name in names[1:]},
                     metrics="psnr", cache=False, out_dir=tmp_path / "results")
    table = (tmp_path / "results" / "summary.tex").read_text(encoding="utf-8")
    assert "\ncaf\u00e9 & " in table
    assert ("% names hold characters pdflatex cannot set (模, 型): compile with XeLaTeX or "
            "LuaLaTeX (and a font that has them), or rename") in table


def test_every_metric_label_is_one_pdflatex_sets():
    # a label with a Greek letter or a combining mark would stop every paper's pdflatex
    from likeness.evaluation.catalog.metric_spec import pdflatex_unset
    from likeness.evaluation.catalog.registry import METRICS

    assert {key: pdflatex_unset(spec.latex_label) for key, spec in METRICS.items()
            if pdflatex_unset(spec.latex_label)} == {}


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_summary_tex_compiles_with_pdflatex(tmp_path):
    """Every pixel metric's label and a model name of every special character LaTeX
    reads, composed accents and a byte that is not UTF-8: pdflatex compiles the table as
    pasted into a document with booktabs."""
    import subprocess

    from PIL import Image

    from likeness.evaluation.catalog.registry import METRICS

    rng = np.random.default_rng(2)
    names = ("ref", "a&b_c%d$e#f~g^h\\i{j}|<>", "cafe\u0301 Ærø", "bad\udcff")
    for folder in names:
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(
            tmp_path / folder / "a.png")
    pixels = [key for key, spec in METRICS.items()
              if spec.kind == "pixel" and "compare" in spec.commands and spec.min_side <= 48]
    likeness.compare(tmp_path / "ref", models={name: tmp_path / name for name in names[1:]},
                     metrics=pixels, cache=False, out_dir=tmp_path / "results")
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\\usepackage{booktabs}"
                                      "\\begin{document}\\input{results/summary}"
                                      "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "doc.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:]


def test_compare_s_out_never_replaces_its_pairs_file_or_a_results_folder_table(golden,
                                                                               tmp_path):
    """--out pairs.csv with --pairs pairs.csv replaced the user's pairs file with the
    results; --out DIR/per_image.csv with --out-dir DIR replaced the run's own table."""
    for side in ("ref", "out"):
        (tmp_path / side).mkdir()
        shutil.copy(golden.image_path("astronaut.png"), tmp_path / side / "a.png")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("reference,test\nref/a.png,out/a.png\n")
    for command, named in (
            (["--pairs", str(pairs), "--out", str(tmp_path / "." / "pairs.csv")],
             "is the --pairs file"),
            ([str(tmp_path / "ref"), str(tmp_path / "out"), "--out-dir", str(tmp_path / "run"),
              "--out", str(tmp_path / "run" / "per_image.csv")],
             "is a file of the results folder --out-dir")):
        result = CliRunner().invoke(main, ["compare", *command, "--no-cache"])
        assert result.exit_code == 2
        assert named in result.output
    assert pairs.read_text() == "reference,test\nref/a.png,out/a.png\n"
    assert not (tmp_path / "run").exists()


def test_a_failed_set_record_says_a_re_run_resumes_only_where_the_features_are_cached(
        tmp_path, monkeypatch):
    """``fid --out`` on a full disk: the record's own write (not only its folder's) says
    that a re-run resumes where the features are in a cache, and not with ``--no-cache``."""
    from likeness.errors import StorageError
    from likeness.runs import folder as folder_module

    def full(path, text, errors="strict"):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(folder_module, "replace_file", full)
    for cached in (True, False):
        with pytest.raises(StorageError, match="free some space") as raised:
            write_set_record(tmp_path / "fid.json", {"fid": 1.0}, resumes=cached)
        assert ("a re-run resumes" in str(raised.value)) is cached
