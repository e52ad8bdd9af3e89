"""What a folder scan leaves out — hidden files and folders, files in a format likeness does
not read — is said wherever folders are read: compare, style, fid/kid and study create, in
the terminal, the run record and the methods paragraph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.io import describe_skipped, scan_folder, split_skipped
from likeness.study.folder import create_study


def _save(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _folder_with_extras(folder: Path, names: tuple[str, ...], seed: int = 0) -> None:
    """Images ``names``, and beside them a hidden image, a hidden folder holding an image,
    a HEIC file (no reader) and an AppleDouble file."""
    for index, name in enumerate(names):
        _save(folder / name, seed + index)
    _save(folder / ".hidden.png", seed + 50)
    _save(folder / ".ipynb_checkpoints" / names[0], seed + 51)
    (folder / "photo.heic").write_bytes(b"\0\0\0\x18ftypheic")
    (folder / "._a.png").write_bytes(b"\0\x05\x16\x07")


def test_the_scan_lists_hidden_entries_and_unread_formats_without_walking_hidden_folders(
        tmp_path):
    _folder_with_extras(tmp_path, ("a.png", "sub/b.png"))
    _save(tmp_path / "sub" / ".c.png", 9)
    images, skipped = scan_folder(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in images] == ["a.png", "sub/b.png"]
    names = [p.relative_to(tmp_path).as_posix() for p in skipped]
    assert names == ["._a.png", ".hidden.png", ".ipynb_checkpoints", "photo.heic",
                     "sub/.c.png"]
    assert split_skipped(names) == (["._a.png", ".hidden.png", ".ipynb_checkpoints",
                                     "sub/.c.png"], ["photo.heic"])
    assert describe_skipped(names) == ("4 hidden (._a.png, .hidden.png, .ipynb_checkpoints "
                                       "and 1 more) and 1 not in an image format likeness "
                                       "reads (photo.heic)")
    assert describe_skipped(["x.heic"]) == "1 not in an image format likeness reads (x.heic)"


def test_compare_records_and_says_what_it_skipped(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    _folder_with_extras(ref, ("a.png", "b.png"))
    for index, name in enumerate(("a.png", "b.png")):
        _save(out / name, 10 + index)
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics", "psnr",
                                       "--out-dir", str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert ("reference: 4 files skipped: 3 hidden (._a.png, .hidden.png, "
            ".ipynb_checkpoints) and 1 not in an image format likeness reads (photo.heic)"
            in " ".join(result.output.split()))
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["skipped_files"] == {"reference": ["._a.png", ".hidden.png",
                                                     ".ipynb_checkpoints", "photo.heic"]}
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert ("4 files in the folders were skipped (3 hidden and 1 not in an image format "
            "likeness reads; listed in `run.json`)." in methods)


def test_fid_sets_record_and_say_what_they_skipped(tmp_path, fid_weights):
    a, b = tmp_path / "a", tmp_path / "b"
    _folder_with_extras(a, ("0.png", "1.png", "2.png"))
    for index in range(3):
        _save(b / f"{index}.png", 20 + index)
    out = tmp_path / "fid.json"
    result = CliRunner().invoke(main, ["fid", str(a), str(b), "--weights", str(fid_weights),
                                       "--no-cache", "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert ("note: 4 files skipped: 3 hidden (._a.png, .hidden.png, .ipynb_checkpoints) "
            "and 1 not in an image format likeness reads (photo.heic)") in said
    sets = json.loads(out.read_text())["sets"]
    assert [s["skipped"] for s in sets] == [
        ["._a.png", ".hidden.png", ".ipynb_checkpoints", "photo.heic"], []]
    assert [s["count"] for s in sets] == [3, 3]

    nothing = tmp_path / "nothing"
    (nothing / ".cache").mkdir(parents=True)
    (nothing / "x.heic").write_bytes(b"")
    result = CliRunner().invoke(main, ["fid", str(nothing), str(b), "--weights",
                                       str(fid_weights), "--no-cache"])
    assert result.exit_code != 0
    assert ("no images found (searched recursively); skipped: 1 hidden (.cache) and 1 not "
            "in an image format likeness reads (x.heic)") in " ".join(result.output.split())


def test_style_records_what_each_folder_skipped(tmp_path):
    content, style, stylized = tmp_path / "content", tmp_path / "style", tmp_path / "out"
    _folder_with_extras(content, ("c.png",))
    _save(style / "s.png", 30)
    (style / "notes.md").write_text("where the styles come from")
    _save(stylized / "c__s.png", 31)
    (stylized / "c__s.heic").write_bytes(b"")
    results = likeness.evaluate_style(content, style, stylized, metrics="ssim", cache=False)
    assert results.record["skipped_files"] == {
        "content folder": ["._a.png", ".hidden.png", ".ipynb_checkpoints", "photo.heic"],
        "style folder": ["notes.md"], "out": ["c__s.heic"]}


def test_study_create_says_what_pairing_and_the_scan_left_out(tmp_path):
    ref, one, two = tmp_path / "ref", tmp_path / "one", tmp_path / "two"
    for index, name in enumerate(("a.png", "b.png", "only_ref.png")):
        _save(ref / name, index)
    for index, name in enumerate(("a.png", "b.png", "extra.png", "Only_Ref.png")):
        _save(one / name, 10 + index)
    _save(two / "a.png", 20)
    _save(two / "b.png", 21)
    _save(two / ".b.png", 22)
    study = create_study(tmp_path / "study", {"one": one, "two": two}, reference=ref)
    assert study.manifest["decisions"] == [
        "one: 2 outputs without a reference of the same name left out (Only_Ref.png, "
        "extra.png)",
        "1 reference image without any model's output left out (only_ref.png)",
        "two: 1 file skipped: 1 hidden (.b.png)",
        "one: only_ref.png and Only_Ref.png differ only in letter case, which pairing tells "
        "apart: rename one to pair them"]
