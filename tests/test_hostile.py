"""Hostile inputs and faults: each case once produced a wrong number, a traceback or a hang.

Every test names the defect it guards against (issue "never silently wrong"): stale cache
hits, corrupt data decoded, values on different scales averaged, duplicates, non-finite
values, altered paths, special files, broken caches, full disks, hostile CSVs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import warnings
import zlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness import ImageLoadError, InvalidInputError, LikenessError, PairingError, StorageError
from likeness.cli import main
from likeness.evaluation.infra.cache import Cache, CacheWarning, file_digest
from likeness.evaluation.infra.cache_location import default_cache_path


def _image(seed: int, size: tuple[int, int] = (32, 40), channels: int = 3,
           dtype: type = np.uint8) -> np.ndarray:
    high = 256 if dtype == np.uint8 else 65536
    shape = (*size, channels) if channels > 1 else size
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def _save(path: Path, pixels: np.ndarray, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)
    return path


def _folders(root: Path, count: int = 3, suffix: str = ".png") -> tuple[Path, Path]:
    for index in range(count):
        _save(root / "ref" / f"{index}{suffix}", _image(index))
        _save(root / "out" / f"{index}{suffix}", _image(100 + index))
    return root / "ref", root / "out"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# -- 1. stale cache ------------------------------------------------------------------------

def _rewrite_keeping_size_and_mtime(path: Path, pixels: np.ndarray) -> None:
    """What cp -p, rsync -t, tar and touch -r do: new bytes, the old size and mtime."""
    stat = path.stat()
    before = path.stat().st_size
    Image.fromarray(pixels).save(path, format="BMP")  # uncompressed: the same size
    assert path.stat().st_size == before
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_file_rewritten_with_its_old_size_and_mtime_is_hashed_again(tmp_path, monkeypatch):
    import likeness.evaluation.infra.cache as cache_module

    monkeypatch.setattr(cache_module, "RACY_SECONDS", 0.0)  # isolate the stamp check
    path = _save(tmp_path / "a.bmp", _image(0))
    os.utime(path, ns=(10**18, 10**18))
    with Cache(tmp_path / "c.sqlite") as cache:
        first = cache.digest(path)
        _rewrite_keeping_size_and_mtime(path, _image(1))
        assert cache.digest(path) == file_digest(path) != first


def test_a_hash_taken_right_after_a_change_is_not_trusted():
    from likeness.evaluation.infra.cache import _settled

    now = 10**18
    assert _settled((1, now - 5 * 10**9, now - 5 * 10**9, 1, 1), now)
    assert not _settled((1, now - 10**9, now - 5 * 10**9, 1, 1), now)  # mtime in the window
    assert not _settled((1, now - 5 * 10**9, now, 1, 1), now)  # ctime in the window


def test_a_resumed_run_reports_the_new_content_of_a_rewritten_file(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    same = _image(0)
    _save(ref / "a.bmp", same)
    _save(out / "a.bmp", same)
    first = likeness.compare(ref, out, metrics="ssim,psnr", out_dir=tmp_path / "run",
                             cache=False)
    assert first.rows[0].values["ssim"] == 1.0
    _rewrite_keeping_size_and_mtime(out / "a.bmp", 255 - same)
    second = likeness.compare(ref, out, metrics="ssim,psnr", out_dir=tmp_path / "run",
                              cache=False)
    assert second.rows[0].values["ssim"] < 0  # the truth, not the stale 1.0
    assert math.isfinite(second.rows[0].values["psnr"])


# -- 2. corrupt data decoded -------------------------------------------------------------

def _encoded(pixels: np.ndarray, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format, **options)
    return buffer.getvalue()


def _photo() -> np.ndarray:
    y, x = np.mgrid[0:96, 0:128]
    smooth = np.stack([x * 2, y * 2, (x + y)], axis=2) % 256
    return (smooth + _image(7, (96, 128)) // 8).astype(np.uint8)


def test_jpeg_with_damaged_scan_data_is_an_error(tmp_path):
    data = bytearray(_encoded(_photo(), "JPEG", quality=90))
    start = data.find(b"\xff\xda") + 200
    data[start:start + 50] = np.random.default_rng(0).integers(0, 256, 50, np.uint8).tobytes()
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    with Image.open(tmp_path / "bad.jpg") as decoded:  # what used to be measured
        decoded.load()
    with pytest.raises(ImageLoadError, match=r"bad\.jpg.*corrupt.*JPEG"):
        likeness.load_image(tmp_path / "bad.jpg")


def _with_scan_repeated(data: bytes, copies: int) -> bytes:
    """The progressive JPEG ``data`` with its smallest scan repeated ``copies`` times more
    after itself (the shape of the many-scans pattern: each copy is decoded over the whole
    image)."""
    starts = [m.start() for m in re.finditer(b"\xff\xda", data)]
    ends = starts[1:] + [data.rfind(b"\xff\xd9")]
    start, end = min(zip(starts, ends, strict=True), key=lambda scan: scan[1] - scan[0])
    return data[:end] + data[start:end] * copies + data[end:]


def test_a_jpeg_of_absurdly_many_scans_is_refused_before_it_is_decoded(tmp_path):
    """Each scan of a progressive JPEG is entropy-decoded over the whole image: a file of
    tens of thousands of scans of a few bytes each took minutes to hours, twice (the
    integrity check, then Pillow) — the pattern of a denial-of-service file (Red Hat bug
    1344214); libtiff stops a JPEG inside a TIFF at the same 100 scans."""
    from likeness.io.integrity import MOST_JPEG_SCANS, jpeg_scans

    progressive = _encoded(_photo(), "JPEG", quality=90, progressive=True)
    assert jpeg_scans(progressive) == 10  # libjpeg-turbo's progression
    assert jpeg_scans(_encoded(_photo(), "JPEG", quality=90)) == 1
    hostile = _with_scan_repeated(progressive, MOST_JPEG_SCANS)
    assert jpeg_scans(hostile) == MOST_JPEG_SCANS + 10
    (tmp_path / "scans.jpg").write_bytes(hostile)
    with pytest.raises(ImageLoadError, match=rf"scans\.jpg: a JPEG of {MOST_JPEG_SCANS + 10} "
                       rf"scans, more than the {MOST_JPEG_SCANS} likeness decodes") as error:
        likeness.load_image(tmp_path / "scans.jpg")
    assert "corrupt" not in str(error.value)
    # bytes between two segments, which libjpeg searches past (with a warning Pillow
    # ignores), do not end the count: it goes on as libjpeg does
    table = hostile.index(b"\xff\xc4")
    table_end = table + 2 + int.from_bytes(hostile[table + 2:table + 4], "big")
    stray = hostile[:table_end] + b"\x00\x17" + hostile[table_end:]
    assert jpeg_scans(stray) == MOST_JPEG_SCANS + 10
    # metadata may hold the marker's bytes: only the scans count
    comment = b"\xff\xda" * (MOST_JPEG_SCANS + 1)
    Image.fromarray(_photo()).save(tmp_path / "noted.jpg", progressive=True, comment=comment)
    assert (tmp_path / "noted.jpg").read_bytes().count(b"\xff\xda") > MOST_JPEG_SCANS
    assert likeness.load_image(tmp_path / "noted.jpg").pixels.shape == (96, 128, 3)


def _tiff_of_pages(pages: int, *, reduced: int = 0, loop: bool = False,
                   big: bool = False) -> bytes:
    """A little-endian (Big)TIFF of ``pages`` 8x8 gray pages sharing one strip, the first
    ``reduced`` marked reduced-resolution copies (NewSubfileType 1); the last page's
    directory points back to the first where ``loop``."""
    import struct

    pixels = bytes(range(64))
    header = (b"II+\x00" + struct.pack("<HHQ", 8, 0, 16 + 64) if big
              else b"II*\x00" + struct.pack("<I", 8 + 64))
    out = bytearray(header + pixels)
    count_format, entry_format, pointer = ("<Q", "<HHQQ", "<Q") if big else ("<H", "<HHII", "<I")
    first = len(out)
    for page in range(pages):
        entries = [(254, 4, 1, int(page < reduced)), (256, 3, 1, 8), (257, 3, 1, 8),
                   (258, 3, 1, 8), (262, 3, 1, 1), (273, 4, 1, len(header)), (277, 3, 1, 1),
                   (278, 3, 1, 8), (279, 4, 1, 64)]
        end = (len(out) + struct.calcsize(count_format)
               + len(entries) * struct.calcsize(entry_format) + struct.calcsize(pointer))
        out += struct.pack(count_format, len(entries))
        out += b"".join(struct.pack(entry_format, *entry) for entry in entries)
        out += struct.pack(pointer, end if page < pages - 1 else first if loop else 0)
    return bytes(out)


def test_a_tiff_of_many_pages_is_read_without_walking_them_in_quadratic_time(
        tmp_path, monkeypatch):
    """Pillow walks a TIFF's pages checking each against a list of all before it: a file
    of 100,000 small pages took 69 s, a million hours.  likeness walks the directories
    itself (each once, a chain that loops ending), counts the pages up to a limit and
    reads the image from a page among the first few."""
    from likeness.io import tiff

    path = tmp_path / "stack.tif"
    for big in (False, True):
        path.write_bytes(_tiff_of_pages(3000, big=big))
        loaded = likeness.load_image(path)
        np.testing.assert_array_equal(loaded.pixels[..., 0], np.arange(64).reshape(8, 8))
        assert loaded.decisions == ("first of 3000 frames used (animated or multi-page "
                                    "TIFF)",)
    path.write_bytes(_tiff_of_pages(3, reduced=1, loop=True))
    assert likeness.load_image(path).decisions == (
        "page 2 of the TIFF read: page 1 is a reduced-resolution copy of it (a thumbnail)",
        "first of 2 frames used (animated or multi-page TIFF)")
    monkeypatch.setattr(tiff, "MOST_TIFF_PAGES", 10)  # a count past the limit: at least
    path.write_bytes(_tiff_of_pages(11))
    assert likeness.load_image(path).decisions == (
        "first of more than 10 frames used (animated or multi-page TIFF)",)
    monkeypatch.setattr(tiff, "MOST_TIFF_ENTRIES", 9 * 5)  # so are the entries read
    assert likeness.load_image(path).decisions == (
        "first of more than 5 frames used (animated or multi-page TIFF)",)
    monkeypatch.setattr(tiff, "IMAGE_WITHIN_PAGES", 4)
    path.write_bytes(_tiff_of_pages(6, reduced=4))
    with pytest.raises(ImageLoadError, match=r"stack\.tif: none of the first 4 pages of this "
                       "TIFF is a full-resolution image"):
        likeness.load_image(path)
    broken = bytearray(_tiff_of_pages(3))  # the third page's directory past the end
    broken[-4 - 9 * 12 - 2 - 4:-9 * 12 - 2 - 4] = (10 ** 8).to_bytes(4, "little")
    path.write_bytes(bytes(broken))
    with pytest.raises(ImageLoadError, match=r"stack\.tif: corrupt or truncated TIFF file "
                       r"\(the directory of its page 3 lies outside the file\)"):
        likeness.load_image(path)


def test_a_bigtiff_is_known_by_its_header(tmp_path):
    """BigTIFF's header (43 where a classic TIFF has 42) was no format likeness knew: a
    big-endian one, which Pillow 13 takes for a classic TIFF and cannot open, was "no
    supported format (supported: … .tif …)", as was a little-endian one cut short."""
    import tifffile

    pixels = np.random.default_rng(15).integers(0, 256, (20, 24), dtype=np.uint8)
    for suffix in (".tif", ".png"):
        tifffile.imwrite(tmp_path / f"big{suffix}", pixels, bigtiff=True, byteorder=">")
        with pytest.raises(ImageLoadError, match=rf"big\{suffix}: a big-endian BigTIFF, "
                           "which Pillow cannot open: save it as a classic or little-endian "
                           "TIFF, or as PNG"):
            likeness.load_image(tmp_path / f"big{suffix}")
    tifffile.imwrite(tmp_path / "little.png", pixels, bigtiff=True)
    loaded = likeness.load_image(tmp_path / "little.png")
    np.testing.assert_array_equal(loaded.pixels[..., 0], pixels)
    assert loaded.decisions == ("named .png but holds TIFF data: decoded as TIFF",)
    (tmp_path / "cut.tif").write_bytes((tmp_path / "little.png").read_bytes()[:12])
    with pytest.raises(ImageLoadError, match=r"cut\.tif: corrupt or truncated TIFF file"):
        likeness.load_image(tmp_path / "cut.tif")


def test_png_with_damaged_bytes_near_its_end_is_an_error(tmp_path):
    data = bytearray(_encoded(_photo(), "PNG"))
    data[-40:-20] = bytes(20)  # the last image data: Pillow decodes it to wrong pixels
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match=r"bad\.png.*CRC"):
        likeness.load_image(tmp_path / "bad.png")


@pytest.mark.parametrize(("format", "suffix"), [
    ("PNG", ".png"), ("JPEG", ".jpg"), ("GIF", ".gif"), ("BMP", ".bmp"), ("TIFF", ".tif"),
    ("WEBP", ".webp"), ("PPM", ".ppm")])
def test_a_truncated_file_is_an_image_load_error_at_every_offset(tmp_path, format, suffix):
    data = _encoded(_photo(), format)
    offsets = sorted({*range(1, 64), *np.linspace(64, len(data) - 1, 40).astype(int)})
    for offset in offsets:
        path = tmp_path / f"t{offset}{suffix}"
        path.write_bytes(data[:offset])
        with pytest.raises(ImageLoadError, match=rf"t{offset}\{suffix}"):
            likeness.load_image(path)


# -- 3. values on different scales -------------------------------------------------------

def test_the_terminal_mean_never_mixes_scales(tmp_path):
    import cv2

    ref, out = _folders(tmp_path, count=2)
    cv2.imwrite(str(ref / "deep.png"), _image(5, dtype=np.uint16))
    cv2.imwrite(str(out / "deep.png"), _image(6, dtype=np.uint16))
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics", "mse,ssim",
                                       "--no-cache"])
    mean_row = next(line for line in result.stdout.splitlines() if "mean of 3 pairs" in line)
    assert "—" in mean_row
    assert "MSE is not summarised" in result.stderr  # as its column is headed


def test_mse_of_8_and_16_bit_pairs_is_never_averaged(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    for index in range(3):
        _save(ref / f"e{index}.png", _image(index))
        _save(out / f"e{index}.png", _image(10 + index))
    for index in range(3):
        deep = _image(20 + index, channels=1, dtype=np.uint16)
        _save(ref / f"s{index}.png", deep)
        _save(out / f"s{index}.png", 65535 - deep)
    results = likeness.compare(ref, out, metrics="mse,psnr", out_dir=tmp_path / "run",
                               cache=False)
    mse = results.summary_of("out", "mse")
    assert math.isnan(mse.mean)
    assert math.isnan(mse.ci_low)
    assert mse.n == 6
    assert "different scales" in mse.note
    assert not math.isnan(results.summary_of("out", "psnr").mean)  # scale-free
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["scales"]["mse"]["pairs_per_data_range"] == {"255": 3, "65535": 3}
    assert "mse" in record["not_summarised"]
    assert "MSE is not summarised" in (tmp_path / "run" / "methods.md").read_text()


def test_mse_of_one_scale_is_summarised_and_its_unit_stated(tmp_path):
    ref, out = _folders(tmp_path)
    results = likeness.compare(ref, out, metrics="mse", out_dir=tmp_path / "run", cache=False)
    assert not math.isnan(results.summary_of("out", "mse").mean)
    methods = (tmp_path / "run" / "methods.md").read_text()
    # in squared 8-bit values, as scikit-image's mean_squared_error: not normalised
    assert ("MSE is in squared pixel values on the images' data range (255), not normalised "
            "to [0, 1].") in methods
    assert "data range 255 (8-bit files)" in methods
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["scales"]["mse"] == {"unit": "squared pixel values",
                                       "pairs_per_data_range": {"255": 3}}


def test_two_models_on_different_scales_are_not_compared_on_mse(tmp_path):
    import cv2

    ref = tmp_path / "ref"
    for index in range(3):
        _save(ref / f"{index}.png", _image(index))
        _save(tmp_path / "a" / f"{index}.png", _image(10 + index))
        (tmp_path / "b").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "b" / f"{index}.png"), _image(20 + index, dtype=np.uint16))
    results = likeness.compare(ref, [tmp_path / "a", tmp_path / "b"], metrics="mse,ssim",
                               cache=False)
    assert {c.metric for c in results.comparisons} == {"ssim"}
    assert all(math.isnan(results.summary_of(m, "mse").mean) for m in ("a", "b"))


# -- 4. duplicates and 6. verbatim paths -------------------------------------------------

def test_a_pair_spelt_twice_in_a_pairs_csv_is_refused(tmp_path):
    _save(tmp_path / "imgs" / "a.png", _image(0))
    _save(tmp_path / "imgs" / "b.png", _image(1))
    for twin in ("./imgs/a.png", "imgs/../imgs/a.png"):
        pairs = tmp_path / "pairs.csv"
        pairs.write_text(f"reference,test\nimgs/a.png,imgs/b.png\n{twin},imgs/b.png\n")
        with pytest.raises(PairingError, match=r"line 3: the pair of line 2 again"):
            likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)
    pairs.write_text("reference,test\nimgs/a.png,imgs/b.png\nimgs/b.png,./imgs/b.png\n")
    with pytest.raises(PairingError, match=r"line 3: the reference and the test are the same "
                                           r"file \(imgs/b.png, ./imgs/b.png\)"):
        likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)


def test_a_triplet_listed_twice_in_a_style_manifest_is_refused(tmp_path):
    for folder, seed in (("content", 0), ("style", 1), ("stylized", 2)):
        _save(tmp_path / folder / "x.png", _image(seed))
    manifest = tmp_path / "triplets.csv"
    manifest.write_text("content,style,stylized\nx.png,x.png,x.png\n./x.png,x.png,x.png\n")
    with pytest.raises(PairingError, match="line 3: the triplet of line 2 again"):
        likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                tmp_path / "stylized", triplets=manifest, metrics="ssim",
                                cache=False)
    manifest.write_text("content,style,stylized\nx.png,x.png,../content/x.png\n")
    with pytest.raises(PairingError, match=r"line 2: the stylized image is the content image "
                                           r"itself \(../content/x.png\)"):
        likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                tmp_path / "stylized", triplets=manifest, metrics="ssim",
                                cache=False)



def test_folders_that_overlap_are_refused(tmp_path):
    """One folder for two models, for a model and the reference, or one inside another
    (folders are searched recursively: its files would count twice), however given
    (positional, --model, another spelling, a link), in every command that takes folders:
    compare, style, study create, fid, kid (where one folder twice is a set with itself)."""
    ref, out = _folders(tmp_path, count=2)
    (tmp_path / "link").symlink_to(ref)
    _save(out / "sub" / "0.png", _image(7))
    runner = CliRunner()
    for arguments, message in (
            (["compare", ref, "--model", f"x={out}", "--model", f"y={out}/."],
             "the folder of model 'y' (" + str(out) + ") is the folder of model 'x' too"),
            (["compare", ref, tmp_path / "link"],
             "the folder of model 'ref' (" + str(tmp_path / "link") + ") is the reference "
             "folder too: every pair would compare a file with itself"),
            (["compare", ref, "--model", f"same={ref}"],
             "the folder of model 'same' (" + str(ref) + ") is the reference folder too"),
            (["compare", tmp_path, out], f"the folder of model 'out' ({out}) is inside the "
                                         f"reference folder ({tmp_path}), which is searched "
                                         "recursively"),
            (["compare", out, tmp_path], "the reference folder"),
            (["compare", ref, out, out / "sub"], "the folder of model 'sub'"),
            (["fid", out, out / "sub"], f"B ({out / 'sub'}) is inside A ({out})"),
            (["kid", out / "sub", out], f"A ({out / 'sub'}) is inside B ({out})"),
            (["study", "create", ref, "--model", f"p={out}", "--model", f"q={out}",
              "--out-dir", tmp_path / "study"], "model 'q' (" + str(out) + ") is the folder "
             "of model 'p' too")):
        result = runner.invoke(main, [str(a) for a in arguments] + ["--no-cache"] * (
            arguments[0] == "compare"))
        assert result.exit_code != 0
        assert message in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output
    with pytest.raises(PairingError, match="model 'b' .* is the folder of model 'a' too"):
        likeness.compare(ref, models={"a": out, "b": tmp_path / "out"}, cache=False)
    for folder, seed in (("content", 0), ("style", 1)):
        _save(tmp_path / folder / "x.png", _image(seed))
    _save(tmp_path / "stylized" / "x__x.png", _image(2))
    with pytest.raises(PairingError, match="the folder of method 'two' .* is the folder of "
                                           "method 'one' too"):
        likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                methods={"one": tmp_path / "stylized",
                                         "two": tmp_path / "stylized"},
                                metrics="ssim", cache=False)
    assert not (tmp_path / "study").exists()



def test_a_file_two_sets_reach_through_a_link_is_refused(tmp_path):
    """Folders apart, but a link inside one to a file or folder of another: the file would
    count in both sets (a reference set holding the model's output; a pair of a file with
    itself) — refused in compare, style, fid and kid; content and style images may be one
    file (some protocols draw both from one pool)."""
    ref, out = _folders(tmp_path, count=3)
    _save(out / "more" / "9.png", _image(9))
    runner = CliRunner()

    def refused(arguments: list[object], message: str) -> None:
        result = runner.invoke(main, [str(a) for a in arguments])
        assert result.exit_code != 0
        assert message in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output

    (ref / "extra.png").symlink_to(out / "0.png")  # a link to a file of the model
    refused(["compare", ref, out, "--no-cache"], f"{ref / 'extra.png'} (the reference set) "
            f"and {out / '0.png'} (model 'out') are one file")
    refused(["fid", ref, out], f"{ref / 'extra.png'} (A) and {out / '0.png'} (B) are one file")
    refused(["kid", out, ref], "(A) and")
    (ref / "extra.png").unlink()
    (ref / "deeper").symlink_to(out / "more")  # a link to a folder of the model
    refused(["compare", ref, out, "--no-cache", "--metrics", "fid"],
            f"{ref / 'deeper' / '9.png'} (the reference set) and {out / 'more' / '9.png'} "
            "(model 'out') are one file")
    (ref / "deeper").unlink()
    result = runner.invoke(main, ["compare", str(ref), str(out), "--no-cache"])
    assert result.exit_code == 0, result.output

    for folder, seed in (("content", 0), ("style", 1)):
        _save(tmp_path / folder / "x.png", _image(seed))
    (tmp_path / "style" / "y.png").symlink_to(tmp_path / "content" / "x.png")  # allowed
    (tmp_path / "stylized").mkdir()
    (tmp_path / "stylized" / "x__x.png").symlink_to(tmp_path / "content" / "x.png")
    with pytest.raises(PairingError, match="the content and style images.* and .*x__x.png "
                                           "\\(method 'stylized'\\) are one file"):
        likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                methods={"stylized": tmp_path / "stylized"}, metrics="ssim",
                                cache=False)
    (tmp_path / "stylized" / "x__x.png").unlink()
    _save(tmp_path / "stylized" / "x__y.png", _image(3))
    likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                            methods={"stylized": tmp_path / "stylized"}, metrics="ssim",
                            cache=False)


def test_a_model_named_as_the_runs_own_set_is_refused(tmp_path):
    """A model called "reference" (a style method called "style") was the reference set
    itself to the set metrics: FID 0 against the references, without a word.  A model
    of no name (``models={"": DIR}``) was a row of the tables naming nothing."""
    ref, out = _folders(tmp_path, count=2)
    with pytest.raises(PairingError, match="a model cannot be called 'reference'"):
        likeness.compare(ref, models={"reference": out}, metrics="ssim", cache=False)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("reference,test,model\nref/0.png,out/0.png,reference\n")
    result = CliRunner().invoke(main, ["compare", "--pairs", str(pairs), "--no-cache"])
    assert result.exit_code == 1
    assert "a model cannot be called 'reference'" in result.output
    named = tmp_path / "runs" / "reference"  # a folder so called is named by its parent too
    named.mkdir(parents=True)
    for path in out.iterdir():
        (named / path.name).write_bytes(path.read_bytes())
    assert [r.model for r in likeness.compare(ref, named, metrics="ssim", cache=False).rows
            ] == ["runs/reference"] * 2
    for folder, seed in (("content", 0), ("style", 1)):
        _save(tmp_path / folder / "x.png", _image(seed))
    _save(tmp_path / "stylized" / "x__x.png", _image(2))
    with pytest.raises(PairingError, match="a method cannot be called 'style'"):
        likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                methods={"style": tmp_path / "stylized"}, metrics="ssim",
                                cache=False)
    # a blank name: its rows of the tables would name nothing
    other = tmp_path / "other"
    for path in out.iterdir():
        _save(other / path.name, _image(7))
    for blank in ("", "  "):
        with pytest.raises(PairingError, match=f"a model cannot be called {blank!r}: its "
                                               "rows of the tables would name no model"):
            likeness.compare(ref, models={blank: out}, metrics="ssim", cache=False)
        with pytest.raises(PairingError, match=f"a method cannot be called {blank!r}"):
            likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                    methods={blank: tmp_path / "stylized"}, metrics="ssim",
                                    cache=False)
        with pytest.raises(PairingError, match=f"a model cannot be called {blank!r}"):
            likeness.create_study(tmp_path / "study", models={blank: out, "b": other},
                                  reference=ref)
    assert not (tmp_path / "study").exists()

def test_pairs_csv_paths_are_taken_verbatim(tmp_path):
    _save(tmp_path / "a.png", _image(0))
    _save(tmp_path / "a.png ", _image(1), format="PNG")  # another file: its name ends in " "
    _save(tmp_path / "b.png", _image(0))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("reference,test\nb.png,a.png \n")
    results = likeness.compare(None, models={"m": tmp_path}, pairs=pairs, metrics="ssim",
                               cache=False)
    assert results.rows[0].test == "a.png "
    assert results.rows[0].values["ssim"] < 0.5  # not the identical "a.png"


# -- 5. non-finite values ------------------------------------------------------------------

@pytest.fixture
def nan_alexnet(stand_in, tmp_path):
    import torch

    state = torch.load(stand_in["alexnet"], weights_only=True)
    state["features.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan_alexnet.pth"
    torch.save(state, path)
    return path


def test_a_nan_value_is_an_error_in_its_row_and_counted_as_failed(tmp_path, nan_alexnet):
    ref, out = _folders(tmp_path, count=2)
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics",
                                       "ssim,lpips", "--weights", f"alexnet={nan_alexnet}",
                                       "--out-dir", str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 1, result.output
    rows = _rows(tmp_path / "run" / "per_image.csv")
    assert all("lpips_alex: the value is nan" in row["error"] for row in rows)
    assert all(row["lpips_alex"] == "" and row["ssim"] != "" for row in rows)
    summary = {r["metric"]: r for r in _rows(tmp_path / "run" / "summary.csv")}
    assert summary["lpips_alex"]["n"] == "0"
    assert summary["lpips_alex"]["n_failed"] == "2"


def test_psnr_of_identical_images_is_inf_and_recorded(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    for index in range(3):
        _save(ref / f"{index}.png", _image(index))
        _save(out / f"{index}.png", _image(index if index == 0 else 50 + index))
    results = likeness.compare(ref, out, metrics="psnr", out_dir=tmp_path / "run", cache=False)
    summary = results.summary_of("out", "psnr")
    assert summary.mean == math.inf
    assert summary.n == 3
    assert summary.n_infinite == 1
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["infinite_values"]["out/psnr"]["count"] == 1
    assert "+∞" in (tmp_path / "run" / "methods.md").read_text()
    # the terminal and the report name the metric as its column does, not by its key
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics", "psnr",
                                       "--no-cache", "--out-dir", str(tmp_path / "cli"),
                                       "--html"])
    assert result.exit_code == 0, result.output
    assert "note: out: PSNR: 1 value is +inf" in result.stderr
    assert "out/psnr" not in result.stderr
    assert "out: PSNR: 1 value of +∞" in (tmp_path / "cli" / "report.html").read_text()


def test_intervals_from_fewer_than_ten_pairs_are_said_to_under_cover(tmp_path):
    """A "95% confidence interval" of 2 pairs is their range (it holds the mean half the
    time), of 3 about 72% of the time: the tables called both 95% without a word.  The
    terminal, summary.md, methods.md, run.json and the report now say so; 10 pairs do not."""
    ref, few, many = tmp_path / "ref", tmp_path / "few", tmp_path / "many"
    for index in range(10):
        _save(ref / f"{index}.png", _image(index))
        _save(many / f"{index}.png", _image(30 + index))
        if index < 3:
            _save(few / f"{index}.png", _image(60 + index))
    result = CliRunner().invoke(main, ["compare", str(ref), "--model", "small=" + str(few),
                                       "--model", "large=" + str(many), "--no-cache",
                                       "--out-dir", str(tmp_path / "run"), "--html"])
    assert result.exit_code == 0, result.output
    said = ("the confidence intervals of small come from fewer than 10 pairs (3): from so "
            "few, a 95% interval holds the mean less often than 95% of the time")
    assert said in " ".join(result.stderr.split())
    run = tmp_path / "run"
    assert json.loads((run / "run.json").read_text())["few_values"] == {"small": 3}
    assert said in (run / "summary.md").read_text()
    assert said.replace("small", "`small`").capitalize() in " ".join(
        (run / "methods.md").read_text().split())
    assert said in " ".join((run / "report.html").read_text().split())
    notebook = likeness.compare(ref, [few, many], metrics="psnr", cache=False)._repr_html_()
    assert said.replace("small", "few") in notebook  # Jupyter's view of the results too
    likeness.compare(ref, many, out_dir=tmp_path / "ten", cache=False)
    assert json.loads((tmp_path / "ten" / "run.json").read_text())["few_values"] == {}
    assert "fewer than 10" not in (tmp_path / "ten" / "methods.md").read_text()


def test_a_model_identical_to_its_references_wins_the_paired_comparison(tmp_path):
    """Pairs with PSNR +inf are the model's best, not gaps: the comparison counts them."""
    ref, exact, lossy = tmp_path / "ref", tmp_path / "exact", tmp_path / "lossy"
    for index in range(8):
        _save(ref / f"{index}.png", _image(index))
        _save(exact / f"{index}.png", _image(index if index else 70))  # one pair differs
        _save(lossy / f"{index}.png", _image(50 + index))
    likeness.compare(ref, [exact, lossy], metrics="psnr,ssim", out_dir=tmp_path / "run",
                     cache=False)
    comparisons = {r["metric"]: r for r in _rows(tmp_path / "run" / "comparisons.csv")}
    assert comparisons["psnr"]["n"] == "8"  # it was 1: the 7 identical pairs left out
    assert comparisons["psnr"]["mean_diff"] == "inf"
    assert comparisons["psnr"]["ci_low"] == comparisons["psnr"]["ci_high"] == ""
    # ranks: the exact model is better on every pair but the one both got wrong
    assert float(comparisons["psnr"]["p_value"]) < 0.05
    assert "+∞ ranks above every finite value" in (tmp_path / "run" / "methods.md").read_text()


def test_compare_files_refuses_a_nan_value(tmp_path, nan_alexnet):
    a, b = _save(tmp_path / "a.png", _image(0)), _save(tmp_path / "b.png", _image(1))
    with pytest.raises(LikenessError, match="lpips_alex: the value is nan"):
        likeness.compare_files(a, b, metrics="lpips", weights={"alexnet": str(nan_alexnet)},
                               device="cpu")


# -- 7. a metric failing on one pair -------------------------------------------------------

@pytest.mark.parametrize("size", [(1, 1), (3, 3), (5, 5), (6, 6), (1, 300), (2, 500)])
def test_images_smaller_than_the_ssim_window_are_row_errors(tmp_path, size):
    ref, out = _folders(tmp_path, count=2)
    _save(ref / "tiny.png", _image(5, size))
    _save(out / "tiny.png", _image(6, size))
    results = likeness.compare(ref, out, metrics="ssim,psnr", cache=False)
    tiny = next(r for r in results.rows if r.test == "tiny.png")
    assert "smaller than SSIM's 7x7 window" in tiny.error
    assert "psnr" in tiny.values
    assert sum(1 for r in results.rows if r.error) == 1


def test_images_too_small_for_ms_ssim_say_so_in_the_runs_words(tmp_path):
    """A run computes MS-SSIM's five published scales: its message does not advise the
    ``scale_weights`` that only ``likeness.ms_ssim`` takes."""
    import torch

    ref, out = _folders(tmp_path, count=2)  # 32x40 px
    results = likeness.compare(ref, out, metrics="ms_ssim,psnr", cache=False)
    for row in results.rows:
        assert row.metric_errors["ms_ssim"] == (
            "MS-SSIM with 5 scales needs images whose shorter side exceeds 160 px, got 40x32 "
            "px; use larger images")  # width x height, as every size (was 32x40, h x w)
        assert "psnr" in row.values
    with pytest.raises(likeness.ImageTooSmallError, match=r"or pass fewer scales, e\.g\. "
                       r"scale_weights=\[0\.0448, 0\.2856, 0\.3001, 0\.2363\]"):
        likeness.ms_ssim(torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 40), data_range=1.0)


def test_any_exception_a_metric_raises_is_that_pairs_error(tmp_path, monkeypatch):
    from likeness.evaluation.catalog.registry import METRICS

    def boom(pair, context):
        raise RuntimeError("the metric broke")

    monkeypatch.setitem(METRICS, "psnr", replace(METRICS["psnr"], pixels=boom))
    ref, out = _folders(tmp_path, count=2)
    results = likeness.compare(ref, out, metrics="ssim,psnr", cache=False)
    assert all("psnr: RuntimeError: the metric broke" in r.error for r in results.rows)
    assert all("ssim" in r.values for r in results.rows)


def test_a_run_records_the_warnings_its_user_can_act_on_not_deprecations(tmp_path,
                                                                         monkeypatch):
    """A library's deprecation notices (Python 3.12's warning that a process with threads
    forks, say) are for whoever maintains the code, not the run's record or terminal."""
    from likeness.evaluation.catalog.registry import METRICS

    psnr = METRICS["psnr"].pixels

    def noisy(pair, context):
        warnings.warn("an interface the library calls is deprecated", DeprecationWarning,
                      stacklevel=1)
        warnings.warn("soon deprecated", PendingDeprecationWarning, stacklevel=1)
        warnings.warn("something about these pixels", UserWarning, stacklevel=1)
        return psnr(pair, context)

    monkeypatch.setitem(METRICS, "psnr", replace(METRICS["psnr"], pixels=noisy))
    ref, out = _folders(tmp_path, count=2)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        results = likeness.compare(ref, out, metrics="psnr", cache=False,
                                   out_dir=tmp_path / "run")
    assert results.record["warnings"] == ["something about these pixels"]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["warnings"] == ["something about these pixels"]
    assert [str(w.message) for w in shown] == ["something about these pixels"]


def test_a_tiny_style_triplet_is_an_error_row(tmp_path):
    for folder, seed in (("content", 0), ("style", 1), ("stylized", 2)):
        _save(tmp_path / folder / "x.png", _image(seed, (5, 5)))
    (tmp_path / "stylized" / "x.png").rename(tmp_path / "stylized" / "x__x.png")
    results = likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                      tmp_path / "stylized", metrics="ssim,ssim_gray",
                                      cache=False)
    assert "ssim: images of 5x5 px" in results.rows[0].error


def _bomb_header(path: Path, side: int = 100_000) -> Path:
    """A PNG whose header claims ``side``² pixels (Pillow refuses it on opening)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


def test_a_stylized_file_whose_header_is_a_bomb_is_its_rows_error(tmp_path):
    """`likeness style` read the stylized images' sizes with Pillow catching OSError only:
    a header claiming 10¹⁰ pixels (DecompressionBombError) ended the run as "a bug"."""
    for folder, name, seed in (("content", "cat.png", 0), ("content", "dog.png", 1),
                               ("style", "wave.png", 2), ("stylized", "cat__wave.png", 3)):
        _save(tmp_path / folder / name, _image(seed))
    _bomb_header(tmp_path / "stylized" / "dog__wave.png")
    result = CliRunner().invoke(main, ["style", "--content", str(tmp_path / "content"),
                                       "--style", str(tmp_path / "style"), "--stylized",
                                       str(tmp_path / "stylized"), "--metrics", "ssim-gray",
                                       "--no-cache"])
    words = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "unexpected" not in words
    assert "dog__wave.png: the header claims 10000000000 pixels" in words
    assert "1 of 2 stylizations failed" in words


# -- 8, 9. special files -----------------------------------------------------------------

def _run_cli(arguments: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command line in a child process: a hang fails the test instead of stalling it."""
    return subprocess.run([sys.executable, "-m", "likeness.cli", *arguments],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_and_device_links_named_png_are_refused_without_hanging(tmp_path):
    ref, out = _folders(tmp_path, count=1)
    _save(ref / "fifo.png", _image(1))
    os.mkfifo(out / "fifo.png")
    _save(ref / "zero.png", _image(2))
    (out / "zero.png").symlink_to("/dev/zero")
    _save(ref / "loop.png", _image(3))
    (out / "loop.png").symlink_to(out / "loop2.png")
    (out / "loop2.png").symlink_to(out / "loop.png")
    for cache in (["--no-cache"], ["--cache", str(tmp_path / "c.sqlite")]):
        result = _run_cli(["compare", str(ref), str(out), *cache])
        assert result.returncode == 1, result.stderr
        assert "fifo.png: a FIFO (named pipe), not a regular file" in result.stderr
        assert "zero.png: a character device, not a regular file" in result.stderr
        assert "loop.png: a symbolic link loop" in result.stderr
        assert result.stderr.count("a FIFO (named pipe)") == 1  # its pair's line says it
        assert "Traceback" not in result.stderr
        assert "3 of 4 pairs failed" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_load_image_says_what_a_special_file_is(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageLoadError, match="FIFO"):
        likeness.load_image(tmp_path / "pipe.png")
    with pytest.raises(ImageLoadError, match="a folder"):
        likeness.load_image(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_every_file_likeness_reads_back_is_refused_as_a_fifo_without_hanging(golden,
                                                                           tmp_path):
    """`likeness style` read the sizes of the stylized images with Pillow straight from
    their paths, and a results folder's run.json was read as it came: a FIFO in either
    place blocked the run for ever (`report`, and `compare` resuming into the folder)."""
    from likeness.documents import NotAFileError, file_bytes, open_file
    from likeness.evaluation.sets.statistics_file import read_statistics_file
    from likeness.io import standing_in
    from likeness.runs.report import build_report

    root = tmp_path / "style"
    shutil.copytree(golden.root / "style", root)
    stylized = sorted((root / "stylized").iterdir())[0]
    stylized.unlink()
    os.mkfifo(stylized)
    results = likeness.evaluate_style(root / "content", root / "style", root / "stylized",
                                      metrics="ssim", cache=False)
    failed = [row for row in results.rows if row.error]
    assert len(failed) == 1
    assert "a FIFO (named pipe), not a regular file" in failed[0].error
    ref, out = _folders(tmp_path, count=2)
    likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run", cache=False)
    (tmp_path / "run" / "run.json").unlink()
    os.mkfifo(tmp_path / "run" / "run.json")
    with pytest.raises(LikenessError, match=r"run\.json: a FIFO \(named pipe\), not a "
                                            r"regular file"):
        build_report(tmp_path / "run")
    with pytest.raises(LikenessError, match=r"run\.json: a FIFO \(named pipe\), not a "
                                            r"regular file.*: remove it, or choose another"):
        likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run", cache=False)
    os.mkfifo(tmp_path / "stats.npz")
    with pytest.raises(LikenessError, match=r"stats\.npz: a FIFO \(named pipe\), not a "
                                            r"statistics file"):
        read_statistics_file(tmp_path / "stats.npz")
    assert standing_in(tmp_path / "stats.npz") is None
    for special, kind in ((tmp_path / "stats.npz", "a FIFO"), (tmp_path, "a folder"),
                          (Path("/dev/zero"), "a character device")):
        with pytest.raises(NotAFileError, match=f"{kind}.*, not a regular file"):
            open_file(special)
    assert file_bytes(ref / sorted(os.listdir(ref))[0])[:4] == b"\x89PNG"


# -- 10, 11. broken caches, full disks, unwritable folders --------------------------------

@pytest.mark.parametrize("damage", ["garbage", "truncated", "middle"])
def test_a_corrupt_cache_is_set_aside_with_a_warning(tmp_path, damage):
    ref, out = _folders(tmp_path)
    path = tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=path)
    with Cache(path) as cache:  # enough pages for a damaged one in the middle
        cache.put_many("filler", [(str(i), os.urandom(3000)) for i in range(200)])
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        path.write_bytes(data[:100])
    else:  # damaged pages between the header and the end
        start, stop = int(len(data) * 0.3), int(len(data) * 0.7)
        path.write_bytes(data[:start] + os.urandom(stop - start) + data[stop:])

    def use_the_cache():
        with Cache(path) as cache:
            cache.get_many("filler", [str(i) for i in range(200)])
        return likeness.compare(ref, out, metrics="ssim", cache=path)

    with pytest.warns(CacheWarning, match="cache.sqlite was corrupt"):
        results = use_the_cache()
    assert all(r.error is None for r in results.rows)
    assert list(tmp_path.glob("cache.sqlite.corrupt-*"))


def test_a_cache_path_that_is_a_folder_or_under_a_file_is_one_clear_message(tmp_path):
    ref, out = _folders(tmp_path)
    (tmp_path / "folder.sqlite").mkdir()
    (tmp_path / "file").write_text("x")
    for path, words in ((tmp_path / "folder.sqlite", "is not a file"),
                        (tmp_path / "file" / "c.sqlite", "cannot create the cache folder")):
        with pytest.raises(StorageError, match=words):
            likeness.compare(ref, out, metrics="ssim", cache=path)
    path = tmp_path / "file" / "c.sqlite"
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--cache", str(path)])
    assert result.exit_code == 1
    assert str(path.parent) in result.stderr
    assert "--no-cache" in result.stderr
    assert "Traceback" not in result.output


def test_the_default_cache_honours_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("LIKENESS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "likeness" / "cache.sqlite"
    monkeypatch.setenv("LIKENESS_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_path() == tmp_path / "mine" / "cache.sqlite"


class _FullDisk:
    """A connection whose writes fail as SQLite's do on a full disk."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __getattr__(self, name: str) -> object:
        return getattr(self.connection, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def executemany(self, *args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")


def test_a_full_disk_is_one_message_and_the_run_resumes_later(tmp_path, monkeypatch):
    ref, out = _folders(tmp_path)
    original = Cache._connect

    def full(self):
        return _FullDisk(original(self))

    monkeypatch.setattr(Cache, "_connect", full)
    with pytest.raises(StorageError, match=r"progress\.sqlite \(database or disk is full\)"
                       ) as raised:
        likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run", cache=False)
    # the results folder's own database: no cache option moves it (the advice said so)
    assert "free some space, or choose another out_dir;" in str(raised.value)
    assert "cache=" not in str(raised.value)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    command = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics", "ssim",
                                        "--out-dir", str(tmp_path / "again"), "--no-cache"])
    assert command.exit_code == 1
    assert "free some space, or choose another --out-dir;" in command.stderr
    assert "--cache" not in command.stderr
    monkeypatch.setattr(Cache, "_connect", original)
    results = likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run", cache=False)
    assert all(r.error is None for r in results.rows)


def test_a_file_that_cannot_be_read_is_said_in_words_not_python_s(tmp_path, monkeypatch):
    """A file without read permission (measured as another user) was "[Errno 13]
    Permission denied: 'out/1.png'", in compare and fid alike; root reads every file, so
    the hashing is made to fail as it fails for that user."""
    import errno as errors

    from likeness.evaluation.infra import cache as cache_module

    ref, out = _folders(tmp_path)
    original = cache_module.file_digest

    def denied(path):
        if Path(path).name == "1.png" and Path(path).parent == out:
            raise PermissionError(errors.EACCES, "Permission denied", str(path))
        return original(path)

    monkeypatch.setattr(cache_module, "file_digest", denied)
    results = likeness.compare(ref, out, metrics="ssim", cache=tmp_path / "c.sqlite")
    failed = [row.error for row in results.rows if row.error]
    assert failed == [f"{out / '1.png'}: cannot be read (Permission denied)"]
    assert "Errno" not in json.dumps(results.record["file_errors"])


def _damage(cache: Path, like: str, value: bytes) -> None:
    with sqlite3.connect(cache) as connection:
        namespace, key = connection.execute(
            "SELECT namespace, key FROM entries WHERE namespace LIKE ? ORDER BY key LIMIT 1",
            (like,)).fetchone()
        connection.execute("UPDATE entries SET value = ? WHERE namespace = ? AND key = ?",
                           (value, namespace, key))


@pytest.mark.parametrize(("like", "value"), [
    ("item/v4/ssim/%", b'{"v": "0.5"}'), ("item/v4/ssim/%", b'{"v": 0.5'),
    ("item/v12/notes/%", b"\xff\x00 not JSON"), ("item/v12/notes/%", b'{"notes": 3}')])
def test_a_damaged_cached_value_is_computed_again_not_shown_or_a_crash(tmp_path, like, value):
    """A cache entry whose bytes are whole to SQLite but not what likeness wrote (a disk's
    error, an edit) ended the run in "'utf-16-le' codec can't decode …"."""
    ref, out = _folders(tmp_path)
    cache = tmp_path / "cache.sqlite"
    clean = likeness.compare(ref, out, metrics="ssim,psnr", cache=cache)
    _damage(cache, like, value)
    with pytest.warns(CacheWarning, match="1 cached value of .* could not be read \\(a "
                                          "damaged cache entry\\): computed again"):
        again = likeness.compare(ref, out, metrics="ssim,psnr", cache=cache)
    assert [(r.values, r.notes, r.error) for r in again.rows] == \
        [(r.values, r.notes, r.error) for r in clean.rows]
    assert sum(not r.cached for r in again.rows) == 1


def test_a_damaged_remembered_file_hash_is_hashed_again(tmp_path, monkeypatch):
    """A remembered hash that is no SHA-256 (a damaged row) would have been the file's key."""
    from likeness.evaluation.infra import cache as cache_module

    monkeypatch.setattr(cache_module, "RACY_SECONDS", 0.0)  # files just written: settled
    ref, out = _folders(tmp_path)
    cache = tmp_path / "cache.sqlite"
    clean = likeness.compare(ref, out, metrics="ssim", cache=cache)
    with sqlite3.connect(cache) as connection:
        connection.execute("UPDATE file_stamps SET digest = 'damaged'")
    again = likeness.compare(ref, out, metrics="ssim", cache=cache)
    assert [r.values for r in again.rows] == [r.values for r in clean.rows]
    assert all(r.cached for r in again.rows)  # the same keys, found again by hashing
    with sqlite3.connect(cache) as connection:
        assert "damaged" not in {d for (d,) in connection.execute("SELECT digest FROM "
                                                                  "file_stamps")}


@pytest.mark.parametrize(("like", "value"), [
    ("%-features/v1/%/alpha=None/decoders=%", b"\0" * 102),
    ("%-features/v1/%/alpha=None/decoders=%", b"\0" * 400), ("%/decisions/v7", b'{"x": 1}')])
def test_a_damaged_cached_feature_is_computed_again(tmp_path, fid_weights, like, value):
    """A feature vector of another length ended FID in "all input arrays must have the
    same shape"."""
    ref, out = _folders(tmp_path)
    cache = tmp_path / "cache.sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 3 images: a singular covariance
        clean = likeness.fid(ref, out, weights=fid_weights, cache=cache)
    _damage(cache, like, value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = likeness.fid(ref, out, weights=fid_weights, cache=cache)
    what = "the images' decisions" if "decisions" in like else "features"
    assert [str(w.message) for w in caught if w.category is CacheWarning] == [
        f"1 cached value of {what} could not be read (a damaged cache entry): computed again"]
    assert again.value == clean.value
    assert sum(s.cached for s in again.sets) == 5


def _damage_features(cache: Path, files: list[Path]) -> None:
    """The cached features of ``files`` replaced by 100 zeros (a whole entry of a wrong
    length)."""
    keys = [file_digest(path) for path in files]
    with sqlite3.connect(cache) as connection:
        connection.executemany(
            "UPDATE entries SET value = ? WHERE key = ? AND namespace LIKE "
            "'%-features/v1/%/alpha=None/decoders=%'", [(b"\0" * 400, key) for key in keys])


def test_cached_features_of_two_lengths_equally_often_are_all_computed_again(tmp_path,
                                                                            fid_weights):
    """No length is the most common: nothing tells the whole entries from the damaged
    ones (a tie was settled by whichever came first)."""
    ref, out = _folders(tmp_path, count=2)
    cache = tmp_path / "cache.sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 2 images: a singular covariance
        clean = likeness.fid(ref, out, weights=fid_weights, cache=cache)
        _damage_features(cache, [ref / "0.png", out / "0.png"])  # one of each set's two
        with pytest.warns(CacheWarning, match="2 cached values of features could not be "
                                              "read"):
            again = likeness.fid(ref, out, weights=fid_weights, cache=cache)
    assert again.value == clean.value
    assert sum(s.cached for s in again.sets) == 0


def test_cached_features_of_the_published_checkpoint_have_its_length(tmp_path, fid_weights,
                                                                     monkeypatch):
    """A set whose every cached feature had one wrong length was taken whole (nothing to
    outvote them): the published checkpoint's length is known, and decides."""
    from likeness.nets import weights as manager

    published = manager.REGISTRY["pt_inception"]
    monkeypatch.setitem(manager.REGISTRY, "pt_inception", dataclasses.replace(
        published, sha256=manager.file_sha256(Path(fid_weights)), sha256_prefix=None))
    ref, out = _folders(tmp_path, count=2)
    cache = tmp_path / "cache.sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 2 images: a singular covariance
        clean = likeness.fid(ref, out, weights=fid_weights, cache=cache)
        _damage_features(cache, [ref / "0.png", ref / "1.png"])  # the whole reference set
        with pytest.warns(CacheWarning, match="2 cached values of features could not be "
                                              "read"):
            again = likeness.fid(ref, out, weights=fid_weights, cache=cache)
    assert again.value == clean.value
    assert [s.cached for s in again.sets] == [0, 2]


def _disk_with(monkeypatch, free: int) -> None:
    """``os.statvfs`` reporting ``free`` bytes left (a writable disk)."""
    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(
        f_bavail=free // 4096, f_frsize=4096, f_flag=0))


def test_sqlite_s_disk_i_o_error_on_a_nearly_full_disk_is_called_a_full_disk(tmp_path,
                                                                            monkeypatch):
    """SQLite says "disk I/O error" when its WAL index cannot grow on a full disk (measured
    on a tmpfs with 12 and 24 KiB left): the message says the disk is full, not "delete it"."""
    cache = Cache(tmp_path / "c.sqlite")
    error = sqlite3.OperationalError("disk I/O error")
    _disk_with(monkeypatch, 12 * 1024)
    message = str(cache._storage_error(error, "open"))
    assert "disk I/O error; its disk is full (12 KiB free)" in message
    assert "free some space" in message
    assert "delete it" not in message
    locked = str(cache._storage_error(sqlite3.OperationalError("database is locked"), "read"))
    assert "another process holds it locked" in locked  # the disk's state is not the cause
    _disk_with(monkeypatch, 10 << 30)
    assert "delete it" in str(cache._storage_error(error, "open"))
    cache.close()


def test_an_unwritable_out_dir_is_one_message(tmp_path):
    ref, out = _folders(tmp_path)
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--no-cache",
                                       "--out-dir", str(tmp_path / "file" / "run")])
    assert result.exit_code == 1
    assert "error: cannot write" in result.stderr
    assert "Traceback" not in result.output


# -- 12. hostile CSVs ----------------------------------------------------------------------

def test_a_pairs_csv_with_a_byte_order_mark_is_read(tmp_path):
    _save(tmp_path / "a.png", _image(0))
    _save(tmp_path / "b.png", _image(1))
    pairs = tmp_path / "pairs.csv"
    pairs.write_bytes("\ufeffreference,test\na.png,b.png\n".encode())
    results = likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)
    assert len(results.rows) == 1
    assert results.rows[0].error is None


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf_16_csvs_and_prompts_with_a_byte_order_mark_are_read(tmp_path, encoding):
    """Excel's "Unicode Text", Windows' Notepad and PowerShell's ``>`` save UTF-16 with a
    byte-order mark, which says so: it was "not UTF-8 text (byte 0xff)"."""
    from likeness.evaluation.items.prompts import _sidecar
    from likeness.results.study import read_judgments

    _save(tmp_path / "a.png", _image(0))
    _save(tmp_path / "b.png", _image(1))
    mark = "\ufeff" if encoding == "utf-16-be" else ""  # ("utf-16" writes its own mark)
    pairs = tmp_path / "pairs.csv"
    pairs.write_bytes(f"{mark}reference\ttest\r\na.png\tb.png\r\n".encode(encoding))
    rows = likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False).rows
    assert [(r.reference, r.test, r.error) for r in rows] == [("a.png", "b.png", None)]
    (tmp_path / "b.txt").write_bytes(f"{mark}a photo of a café".encode(encoding))
    assert _sidecar(tmp_path / "b.png").text == "a photo of a café"
    judgments = tmp_path / "judgments.csv"
    judgments.write_bytes(f"{mark}participant,trial,first,second,chosen\n".encode(encoding))
    with pytest.raises(likeness.LikenessError) as raised:
        read_judgments(judgments)
    assert "UTF-8" not in str(raised.value)  # read, then refused for what it holds
    pairs.write_bytes(b"\xff\xfer\x00e")  # a mark, then an odd byte: named, not a crash
    with pytest.raises(PairingError, match="the pairs CSV is not UTF-8 text"):
        likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)



def test_a_pairs_csv_a_spreadsheet_separated_by_semicolons_or_tabs_is_read(tmp_path):
    """As spreadsheets save "CSV" in many locales: the header says which separator."""
    _save(tmp_path / "a;1.png", _image(0))
    _save(tmp_path / "b.png", _image(1))
    for separator in (";", "\t"):
        pairs = tmp_path / "pairs.csv"
        pairs.write_text(f'reference{separator}test\r\n"a;1.png"{separator}b.png\r\n')
        rows = likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False).rows
        assert [(r.reference, r.test, r.error) for r in rows] == [("a;1.png", "b.png", None)]
    pairs.write_text("reference;test\na;1.png;b.png\n")
    with pytest.raises(PairingError, match="quote paths that contain semicolons"):
        likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)
    pairs.write_text("Reference;Test\na.png;b.png\n")  # no separator names the columns
    with pytest.raises(PairingError, match="needs columns 'reference' and 'test'"):
        likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)
    # rows of separators alone below the table (a spreadsheet's export) hold nothing; a
    # row with one path of two is still refused
    pairs.write_text("reference;test;;\r\n\"a;1.png\";b.png;;\r\n;;;\r\n;;;\r\n")
    rows = likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False).rows
    assert [(r.reference, r.test) for r in rows] == [("a;1.png", "b.png")]
    pairs.write_text("reference;test\n;\nb.png;\n")
    with pytest.raises(PairingError, match=r"pairs\.csv, line 3: no test given"):
        likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)

def test_non_utf8_csvs_and_short_manifest_rows_are_named(tmp_path):
    _save(tmp_path / "a.png", _image(0))
    pairs = tmp_path / "pairs.csv"
    pairs.write_bytes(b"reference,test\na.png,\xe9t\xe9.png\n")
    with pytest.raises(PairingError, match=r"line 2: the pairs CSV is not UTF-8 .*0xe9"):
        likeness.compare(None, models={"m": tmp_path}, pairs=pairs, cache=False)
    for folder in ("content", "style", "stylized"):
        _save(tmp_path / folder / "x.png", _image(0))
    manifest = tmp_path / "triplets.csv"
    manifest.write_text("content,style,stylized\nx.png,x.png,x.png\nx.png,x.png\n")
    with pytest.raises(PairingError, match="line 3: no stylized given"):
        likeness.evaluate_style(tmp_path / "content", tmp_path / "style",
                                tmp_path / "stylized", triplets=manifest, cache=False)


@pytest.mark.parametrize(("header", "meant"), [
    ("reference,test,modle", "model"), ("reference,test,Model", "model"),
    ("reference,test,prompts", "prompt")])
def test_a_misspelt_optional_column_is_refused_not_ignored(tmp_path, header, meant):
    # ignored, "modle" pooled every row's model into one, and "prompts" dropped the prompts
    for model in ("a", "b"):
        _save(tmp_path / model / "x.png", _image(1))
    _save(tmp_path / "ref.png", _image(0))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"{header}\nref.png,a/x.png,a\nref.png,b/x.png,b\n")
    with pytest.raises(PairingError, match=f"column '{header.split(',')[2]}' is not one the "
                       f"pairs CSV reads; is it '{meant}' misspelt\\? Rename it"):
        likeness.compare(None, pairs=pairs, cache=False)
    # other columns are still ignored, a near name of a column the file has included
    pairs.write_text("reference,test,model,id,reference_path,questionnaire\n"
                     "ref.png,a/x.png,a,1,r,q\nref.png,b/x.png,b,2,r,q\n")
    assert {row.model for row in likeness.compare(None, pairs=pairs, cache=False).rows} == {
        "a", "b"}


# -- 13, 14. discovery and what a file is --------------------------------------------------

def test_pnm_files_are_discovered_and_other_files_reported(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    for name in ("a.ppm", "b.pgm"):
        pixels = _image(0) if name.endswith("ppm") else _image(0, channels=1)
        _save(ref / name, pixels)
        _save(out / name, 255 - pixels)
    (ref / "notes.txt").write_text("not an image")
    results = likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run", cache=False)
    assert sorted(r.reference for r in results.rows) == ["a.ppm", "b.pgm"]
    assert results.record["skipped_files"] == {"reference": ["notes.txt"]}
    assert len(likeness.find_images(ref)) == 2


def test_16_bit_ppm_keeps_its_16_bits(tmp_path):
    import cv2

    deep = _image(3, dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "d.ppm"), deep[:, :, ::-1])
    loaded = likeness.load_image(tmp_path / "d.ppm")
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.pixels, deep)


def test_the_first_frame_of_an_animation_is_a_recorded_decision(tmp_path):
    frames = [Image.fromarray(_image(i)) for i in range(3)]
    for suffix in (".png", ".gif", ".tif", ".webp"):
        frames[0].save(tmp_path / f"a{suffix}", save_all=True, append_images=frames[1:])
        loaded = likeness.load_image(tmp_path / f"a{suffix}")
        assert any(d.startswith("first of 3 frames used") for d in loaded.decisions), suffix


def test_an_animated_pngs_frames_are_counted_not_taken_from_its_claim(tmp_path):
    """Pillow's ``n_frames`` of an animated PNG is what its acTL chunk claims (up to
    2,147,483,647), plus one for an image outside the animation; likeness counts the
    frames the file holds, as Pillow reads them."""
    import struct
    import zlib

    frames = [Image.fromarray(_image(i)) for i in range(3)]
    for default_image in (False, True):  # the IDAT image the first frame, or apart
        frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:],
                       default_image=default_image)
        with Image.open(tmp_path / "a.png") as opened:
            held = opened.n_frames
        assert held == 3  # (Pillow's own files: claim and count agree)
        assert likeness.load_image(tmp_path / "a.png").decisions == (
            "first of 3 frames used (animated or multi-page PNG)",)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    pixels = _image(0)
    height, width = pixels.shape[:2]
    rows = b"".join(b"\0" + row.tobytes() for row in pixels)
    for claimed in (2 ** 31 - 1, 1):
        frame = chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, width, height, 0, 0, 1, 10, 0, 0))
        (tmp_path / "one.png").write_bytes(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"acTL", struct.pack(">II", claimed, 0))
            + (frame if claimed > 1 else b"")  # (else an image outside the animation)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
        with Image.open(tmp_path / "one.png") as opened:
            assert opened.n_frames == max(claimed, 2)
        loaded = likeness.load_image(tmp_path / "one.png")
        np.testing.assert_array_equal(loaded.pixels, pixels)
        assert loaded.decisions == ()


def test_a_16_bit_rgba_png_whose_colours_are_gray_stays_rgb(tmp_path):
    import cv2

    gray = _image(4, channels=1, dtype=np.uint16)
    rgba = np.stack([gray, gray, gray, np.full_like(gray, 65535)], axis=2)
    cv2.imwrite(str(tmp_path / "g.png"), rgba[:, :, [2, 1, 0, 3]])
    loaded = likeness.load_image(tmp_path / "g.png")
    assert loaded.channels == 3
    assert loaded.bit_depth == 16


def test_a_truncated_tiff_is_named_as_one(tmp_path):
    data = _encoded(_photo(), "TIFF", compression="tiff_lzw")
    (tmp_path / "t.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="corrupt or truncated TIFF file"):
        likeness.load_image(tmp_path / "t.tif")
    (tmp_path / "n.png").write_text("hello")
    with pytest.raises(ImageLoadError, match="first bytes are those of no supported format"):
        likeness.load_image(tmp_path / "n.png")


# -- 15, 16. honest reporting --------------------------------------------------------------

def test_methods_state_pairs_succeeded_of_attempted_and_gray_pairs(tmp_path):
    ref, out = _folders(tmp_path, count=3)
    _save(ref / "g.png", _image(8, channels=1))
    _save(out / "g.png", _image(9, channels=1))
    (out / "broken.png").write_text("x")
    _save(ref / "broken.png", _image(1))
    _save(ref / "lonely.png", _image(2))
    likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run", cache=False)
    methods = (tmp_path / "run" / "methods.md").read_text()
    # a paragraph to paste into a paper: counted as English counts, no "1 pairs", no "(s)"
    assert "We compare 1 model (`out`) with the reference images over 5 image pairs "\
           "(matched by relative file path without extension), 4 of them without any "\
           "error" in methods
    assert "(s)" not in methods
    assert "1 pair failed in at least one metric and is left out" in methods
    assert "1 file had no partner and was not compared" in methods
    assert "RGB (3 pairs) and in one gray channel (1 pair of gray files)" in methods


def test_the_html_report_shows_decisions_and_unmatched_files(tmp_path):
    from likeness.runs.report import build_report

    ref, out = _folders(tmp_path, count=2)
    _save(ref / "lonely.png", _image(2))
    rgba = np.concatenate([_image(5), np.full((32, 40, 1), 255, np.uint8)], axis=2)
    _save(out / "0.png", rgba)
    likeness.compare(ref, out, metrics="ssim,mse", out_dir=tmp_path / "run", cache=False)
    page = build_report(tmp_path / "run")
    assert "test: fully opaque alpha channel dropped" in page
    assert "1 file without a partner: lonely.png" in page


def test_the_html_report_neither_plots_nor_ranks_values_on_different_scales(tmp_path):
    import cv2

    from likeness.runs.report import build_report

    ref, out = _folders(tmp_path, count=2)
    cv2.imwrite(str(ref / "deep.png"), _image(5, dtype=np.uint16))
    cv2.imwrite(str(out / "deep.png"), _image(6, dtype=np.uint16))
    likeness.compare(ref, out, metrics="ssim,mse", out_dir=tmp_path / "run", cache=False)
    page = build_report(tmp_path / "run")
    assert "MSE is not summarised" in page
    worst_table = page.split('id="worst-by-metric"')[1].split("</section>")[0]
    assert "SSIM ↑" in worst_table
    assert "MSE" not in worst_table  # neither ranked nor plotted
    assert "MSE ↓</div>" not in page.split('id="distributions"')[1].split("</section>")[0]


def test_means_over_different_pairs_show_their_n_and_no_best_in_every_table(tmp_path):
    """A model without outputs for some references (or with failed pairs): its mean is
    over other images than the others', which every table, the terminal, the methods and
    the record say; no model is bold in LaTeX, for those metrics only."""
    from likeness.runs.report import build_report

    ref, full = _folders(tmp_path, count=4)
    partial = tmp_path / "partial"
    for index in range(2):  # outputs for 2 of the 4 references
        _save(partial / f"{index}.png", _image(200 + index))
    result = CliRunner().invoke(main, ["compare", str(ref), str(full), str(partial),
                                       "--metrics", "psnr,ssim", "--out-dir",
                                       str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    note = ("PSNR, SSIM: the means are over different pairs (out 4, partial 2: files without "
            "a partner or failed pairs); the paired comparisons use the pairs both models have")
    assert note in " ".join(result.output.split())
    run = tmp_path / "run"
    record = json.loads((run / "run.json").read_text())
    assert record["uneven_pairs"] == {"psnr": {"out": 4, "partial": 2},
                                      "ssim": {"out": 4, "partial": 2}}
    markdown = (run / "summary.md").read_text()
    assert markdown.count("(n=4)") == 2
    assert markdown.count("(n=2)") == 2
    assert "PSNR and SSIM: the models' means are over different pairs" in markdown
    latex = (run / "summary.tex").read_text()
    assert "\\textbf" not in latex  # not comparable: no model is the best
    assert "(n=2)" in latex
    assert ("The means of PSNR and SSIM are over different pairs for each model (`out` 4, "
            "`partial` 2") in (run / "methods.md").read_text()
    summary = build_report(run).split('id="summary"')[1].split("</section>")[0]
    assert summary.count("(n=2)") == 2
    shown = likeness.compare(ref, [full, partial], metrics="psnr", cache=False)._repr_html_()
    assert "(n=2)" in shown
    # the same references for every model: no n, the best in bold
    even = tmp_path / "even"
    for index in range(4):
        _save(even / f"{index}.png", _image(300 + index))
    likeness.compare(ref, [full, even], metrics="psnr", out_dir=tmp_path / "even_run",
                     cache=False)
    assert "(n=" not in (tmp_path / "even_run" / "summary.md").read_text()
    assert "\\textbf" in (tmp_path / "even_run" / "summary.tex").read_text()
    assert json.loads((tmp_path / "even_run" / "run.json").read_text())["uneven_pairs"] == {}


def test_small_values_keep_three_significant_digits():
    from likeness.results.tables import format_value

    assert format_value("mse", 0.002134) == "0.00213"
    assert format_value("ssim", 0.91234) == "0.9123"
    assert format_value("mse", 1234.5678) == "1234.57"
    assert format_value("lpips_alex", 3.2e-6) == "3.2e-06"


# -- 17. a failed empty run does not block its folder -------------------------------------

def test_a_run_that_failed_before_computing_anything_does_not_block_its_folder(
        tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))
    ref, out = _folders(tmp_path)
    from likeness.runs.folder import RunWarning

    with pytest.warns(RunWarning):  # the missing checkpoint: an error row, not a crash
        failed = likeness.compare(ref, out, metrics="fid", out_dir=tmp_path / "run",
                                  cache=False)
    assert "pt_inception" in failed.set_rows[0].error
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"
    results = likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run",
                               cache=False)
    assert results.record["status"] == "complete"


def test_a_run_whose_values_came_from_the_user_cache_still_guards_its_folder(tmp_path):
    # every value read from the user cache, none written to the folder's own database:
    # the folder looked empty, and a run with other settings silently replaced it
    ref, out = _folders(tmp_path)
    cache, run = tmp_path / "cache.sqlite", tmp_path / "run"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    first = likeness.compare(ref, out, metrics="ssim", cache=cache, out_dir=run)
    assert first.record["values_computed"] == 3
    assert Cache(run / "progress.sqlite").is_empty()
    with pytest.raises(LikenessError, match="other settings"):
        likeness.compare(ref, out, metrics="psnr", cache=cache, out_dir=run)
    assert json.loads((run / "run.json").read_text())["settings"]["metrics"] == ["ssim"]
    # a record written before values were counted: judged by its metrics' failures
    record = json.loads((run / "run.json").read_text())
    del record["values_computed"]
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(LikenessError, match="other settings"):
        likeness.compare(ref, out, metrics="psnr", cache=cache, out_dir=run)
    record["metric_failures"] = {"ssim": {"computed": 0, "failed": 3, "reason": "weights"}}
    (run / "run.json").write_text(json.dumps(record))
    taken = likeness.compare(ref, out, metrics="psnr", cache=cache, out_dir=run)
    assert taken.record["status"] == "complete"


# -- 18. the command line's words ----------------------------------------------------------

def test_options_checked_late_are_named_as_options(tmp_path):
    # checked by the library, not by click: their messages named Python's arguments
    ref, out = _folders(tmp_path)
    runner = CliRunner()
    cropped = runner.invoke(main, ["compare", str(ref), str(out), "--no-cache",
                                   "--crop-border", "40", "--metrics", "psnr"])
    assert "pass a smaller --crop-border" in cropped.stderr
    empty = runner.invoke(main, ["compare", str(ref), str(out), "--no-cache", "--metrics",
                                 "clip-direction", "--source-prompt", ""])
    assert empty.exit_code == 1
    assert "--source-prompt is empty: give the words, or leave the option out" in empty.stderr
    assert runner.invoke(main, ["compare", str(ref), str(out), "--no-cache", "--metrics",
                                "psnr", "--out-dir", str(tmp_path / "run")]).exit_code == 0
    for pair, words in (("ssim,psnr", "--disagree: ssim is not a per-pair metric"),
                        ("psnr,psnr", "--disagree needs two different metrics")):
        report = runner.invoke(main, ["report", str(tmp_path / "run"), "--disagree", pair])
        assert report.exit_code == 1
        assert words in report.stderr


def test_command_line_messages_name_options_not_arguments(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    _save(ref / "size.png", _image(0, (32, 40)))
    _save(out / "size.png", _image(1, (30, 40)))
    _save(ref / "gray.png", _image(2, channels=1))
    _save(out / "gray.png", _image(3))
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--no-cache"])
    assert "--resize reference" in result.stderr
    assert "--gray" in result.stderr
    assert "resize='reference'" not in result.stderr
    assert "gray=True" not in result.stderr
    python = likeness.compare(ref, out, cache=False)
    assert any("gray=True" in (r.error or "") for r in python.rows)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"seed": -1}, "seed must be a whole number from 0 to 4294967295"),
    ({"seed": 1.5}, "seed must be a whole number from 0 to 4294967295"),
    ({"kid_seed": 2**32}, "kid_seed must be a whole number from 0 to 4294967295"),
    ({"confidence": math.nan}, "confidence must be in (0, 1)"),
    ({"bootstrap": 10.5}, "bootstrap must be a whole number of resamples from 100 to "
                          "10,000,000, got 10.5"),
    ({"bootstrap": 10**12}, "bootstrap must be a whole number of resamples from 100"),
    ({"ci_method": "bootstrap"}, "ci_method must be 'auto', 'bca' or 'percentile'"),
    # every argument, not only the statistics': "no" was true, 1.5 workers failed deep
    # inside, a misspelt checkpoint ran the default one
    ({"gray": "no"}, "gray must be True or False, got 'no'"),
    ({"y_channel": 1}, "y_channel must be True or False, got 1"),
    ({"strict": "yes"}, "strict must be True or False, got 'yes'"),
    ({"overwrite": "yes"}, "overwrite must be True or False, got 'yes'"),
    ({"workers": 0}, "workers must be at least 1, got 0"),
    ({"batch_size": 2.5}, "batch_size must be a whole number, got 2.5"),
    ({"resize": "ref"}, "resize must be one of None, 'reference', got 'ref'"),
    ({"alpha": "transparent"}, "alpha must be one of None, 'white', 'black', 'drop'"),
    ({"fid_resize": "bicubic"}, "fid_resize must be one of 'pytorch-fid', 'clean'"),
    ({"kid_subset_size": 0}, "kid_subset_size must be at least 1, got 0"),
    ({"metrics": ["ssim", 5]}, "metrics must be a comma-separated string or a list"),
    ({"weights": {"alexnt": "a.pth"}}, "weights names 'alexnt', a checkpoint likeness does "
                                       "not know: use one of alexnet"),
    ({"weights": {"alexnet": 5}}, "weights['alexnet'] must be a path, got 5"),
    ({"weights": ["a.pth"]}, "weights must be a mapping {checkpoint name: path} or None"),
    ({"cache": 0}, "cache must be True, False or a path, got 0"),
    ({"out_dir": 5}, "out_dir must be a path or None, got 5"),
    ({"source_prompt": " "}, "source_prompt is empty"),
    ({"progress": "bar"}, "progress must be a function (stage, done, total) or None"),
    ({"address": "auto"}, "address is a Ray cluster's address (a string) for engine='ray'")])
def test_statistics_options_are_checked_before_anything_is_computed(tmp_path, monkeypatch,
                                                                    arguments, message):
    """numpy's own errors ("expected non-negative integer") reached the Python API after
    every value was computed; NaN passed the command line's ranges.  So does every other
    argument of the kind it must be."""
    ref, out = _folders(tmp_path, count=1)
    from likeness.runs import execute

    with monkeypatch.context() as patched:
        patched.setattr(execute, "run_items", lambda *a, **k: pytest.fail("computed first"))
        with pytest.raises(LikenessError, match=re.escape(message)):
            likeness.compare(ref, out, **{"metrics": "ssim", "cache": False, **arguments})
    likeness.compare(ref, out, metrics="ssim", cache=False, seed=np.int64(3),
                     bootstrap=np.int64(200), confidence=np.float32(0.9),
                     gray=np.bool_(False), workers=np.int64(2),
                     out_dir=tmp_path / "numpy")  # numpy's numbers, written as JSON
    for option, value in (("--seed", "-1"), ("--kid-seed", "4294967296"),
                          ("--confidence", "nan")):
        result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--no-cache",
                                           option, value])
        assert result.exit_code == 2
        assert f"Invalid value for '{option}'" in result.output


def test_the_other_entry_points_check_their_arguments_as_compare_does(tmp_path):
    """compare_tensors passed ``weights`` on unchecked ("'int' object is not iterable"; a
    misspelt checkpoint ran the default one), and so did an Accumulator given a mapping;
    an Accumulator of fd_dinov2 given one path (pt_inception's) ran the default DINOv2
    checkpoint without a word; kid's subset_size as text said "'<' not supported", as NaN
    "Negative dimensions are not allowed"; a list as LPIPS's net, CLIP's model or fid's
    encoder, or as evaluate_style's protocol, said "unhashable type: 'list'"."""
    import torch

    batch = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    features = np.random.default_rng(0).random((20, 8))
    ref, out = _folders(tmp_path, count=2)
    calls = [
        (lambda: likeness.compare_tensors(batch, batch, data_range=1.0, weights=5),
         "weights must be a mapping {checkpoint name: path} or None, got 5"),
        (lambda: likeness.compare_tensors(batch, batch, data_range=1.0,
                                          weights={"alexnt": "a.pth"}),
         "weights names 'alexnt', a checkpoint likeness does not know"),
        (lambda: likeness.Accumulator(metrics="fid", weights={"pt_incepton": "a.pth"}),
         "weights names 'pt_incepton', a checkpoint likeness does not know"),
        (lambda: likeness.Accumulator(metrics="fd_dinov2", weights=str(tmp_path / "a.pth")),
         "weights as one path is a pt_inception checkpoint, which fd_dinov2 does not use: "
         "pass weights={'dinov2_vitl14': path}"),
        (lambda: likeness.kid(features, features, subset_size="10"),
         "subset_size must be an integer, got '10'"),
        (lambda: likeness.kid(features, features, subset_size=math.nan),
         "subset_size must be an integer, got nan"),
        (lambda: likeness.kid(features, features, subsets=2.0),
         "subsets must be an integer, got 2.0"),
        (lambda: likeness.LPIPS(net=["alex"]), "unknown LPIPS net ['alex']"),
        (lambda: likeness.ClipModel(model=["vit-b32"]), "model must be one of"),
        (lambda: likeness.ClipModel(text="no"), "text must be True or False, got 'no'"),
        (lambda: likeness.fid(ref, out, encoder=["inception"]), "encoder must be one of"),
        (lambda: likeness.evaluate_style(ref, ref, out, protocol=["art-fid"]),
         "protocol must be one of")]
    for call, message in calls:
        with pytest.raises(LikenessError, match=re.escape(message)):
            call()


def test_a_results_folder_another_run_is_writing_is_refused(tmp_path):
    """Two runs into one folder at once (two terminals, a job array) raced between the
    folder's check and their run.json: both wrote it, the tables one's, the record the
    other's.  A run holds its folder from its check to its last file (an advisory lock on
    the folder, no file added); a run that failed releases it."""
    import fcntl

    ref, out = _folders(tmp_path, count=1)
    results = tmp_path / "results"
    results.mkdir()
    handle = os.open(results, os.O_RDONLY)  # as a run under way holds it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LikenessError, match="another likeness run is writing its "
                                                "results there; .* another out_dir"):
            likeness.compare(ref, out, metrics="ssim", cache=False, out_dir=results)
        _save(tmp_path / "style" / "s.png", _image(5))
        _save(tmp_path / "stylized" / "0__s.png", _image(6))
        result = CliRunner().invoke(main, [
            "style", "--content", str(ref), "--style", str(tmp_path / "style"), "--stylized",
            str(tmp_path / "stylized"), "--metrics", "ssim", "--out-dir", str(results),
            "--no-cache"])
        assert "another likeness run is writing" in result.output
        assert "choose another --out-dir" in " ".join(result.output.split())
        assert list(results.iterdir()) == []  # nothing written, nothing marked failed
    finally:
        os.close(handle)
    _save(tmp_path / "smaller" / "0.png", _image(7, (16, 16)))
    with pytest.raises(LikenessError, match="differ in size"):  # fails inside the run
        likeness.compare(ref, tmp_path / "smaller", metrics="ssim", cache=False,
                         out_dir=results, strict=True)
    assert json.loads((results / "run.json").read_text())["status"] == "failed"
    likeness.compare(ref, out, metrics="ssim", cache=False, out_dir=results,
                     overwrite=True)  # released


def test_weights_import_of_an_unknown_file_leads_with_name(tmp_path):
    (tmp_path / "mystery.pth").write_bytes(b"x")
    result = CliRunner().invoke(main, ["weights", "import", str(tmp_path / "mystery.pth")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: mystery.pth is not a published checkpoint file "
                                    "name, so say which network it is for: --name NAME")
    # a --name that names no network is a usage error, as `weights path NAME` makes it
    named = CliRunner().invoke(main, ["weights", "import", str(tmp_path / "mystery.pth"),
                                      "--name", "alexnett"])
    assert named.exit_code == 2
    assert "Invalid value for --name: 'alexnett' is not registered; choose from alexnet" in (
        named.output)


def test_set_command_errors_start_on_their_first_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "none"))
    ref, out = _folders(tmp_path)
    result = CliRunner().invoke(main, ["fid", str(ref), str(out), "--no-cache"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


# -- 19. the Python API says when pairs failed ---------------------------------------------

def test_compare_warns_once_when_pairs_fail_or_files_are_unmatched(tmp_path):
    from likeness.runs.folder import RunWarning

    ref, out = _folders(tmp_path, count=2)
    _save(ref / "lonely.png", _image(3))
    (out / "1.png").write_text("broken")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        likeness.compare(ref, out, metrics="ssim", cache=False)
    messages = [str(w.message) for w in caught if w.category is RunWarning]
    assert messages == ["1 of 2 pairs failed, 1 file had no partner, 0 set metrics "
                        "failed; see the rows' error fields (results.rows), results.unmatched "
                        "and results.record['file_errors']"]



def test_pairs_that_kept_other_metrics_values_are_said_to_have_them(tmp_path):
    """A pair whose MS-SSIM failed still has its SSIM: the warning (and the command's
    closing line) says the failures are per metric, not lost pairs."""
    from likeness.runs.folder import RunWarning

    ref, out = _folders(tmp_path, count=2)
    _save(ref / "big.png", _image(5, (180, 180)))
    _save(out / "big.png", _image(6, (180, 180)))
    (out / "1.png").write_text("broken")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = likeness.compare(ref, out, metrics="ssim,ms-ssim", cache=False)
    assert [row.values.keys() for row in results.rows if row.test == "0.png"] == [{"ssim"}]
    messages = [str(w.message) for w in caught if w.category is RunWarning]
    assert messages[0].startswith("2 of 3 pairs failed in at least one metric (1 of them "
                                  "with other metrics' values), 0 files had no partner")

# -- 20, 22. exactness found by the peers' own tests ---------------------------------------

@pytest.mark.parametrize("channel_axis", [None, -1])
def test_ssim_is_the_same_number_with_and_without_full(channel_axis):
    x = _image(0, (64, 80)) if channel_axis else _image(0, (64, 80), channels=1)
    y = _image(1, (64, 80)) if channel_axis else _image(1, (64, 80), channels=1)
    for data in ((x, y), (x.astype(np.float64), y.astype(np.float64))):
        plain = likeness.structural_similarity(*data, channel_axis=channel_axis,
                                               data_range=255)
        full = likeness.structural_similarity(*data, channel_axis=channel_axis,
                                              data_range=255, full=True)
        gradient = likeness.structural_similarity(*data, channel_axis=channel_axis,
                                                  data_range=255, gradient=True)
        assert plain == full[0] == gradient[0]


def test_frechet_distance_of_identical_singular_statistics_is_zero():
    features = np.random.default_rng(0).normal(size=(10, 64))
    mu, sigma = features.mean(0), np.cov(features, rowvar=False)
    assert likeness.frechet_distance(mu, sigma, mu, sigma) == 0.0
    from likeness.metrics.fid import frechet_distance_of_features

    with pytest.warns(UserWarning, match="singular"):
        assert frechet_distance_of_features(features, features) >= 0.0


def test_csvs_that_are_fifos_or_not_csv_are_named(tmp_path):
    _save(tmp_path / "a.png", _image(0))
    (tmp_path / "nul.csv").write_bytes(b"reference,test\na.png,a\x00.png\n")
    results = likeness.compare(None, models={"m": tmp_path}, pairs=tmp_path / "nul.csv",
                               cache=False)
    assert "the path contains a NUL byte" in results.rows[0].error
    # the line that cannot be read, not the row before (csv.DictReader's own count)
    hostile = {"huge.csv": (b"reference,test\na.png,a.png\na.png," + b"x" * 200_000 + b"\n",
                            "line 3: not a readable CSV row"),
               "quote.csv": (b'reference,test\n"a.png,a.png\n', "line 2: no test given")}
    for name, (data, said) in hostile.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(PairingError, match=rf"{name}, {said}"):
            likeness.compare(None, models={"m": tmp_path}, pairs=tmp_path / name, cache=False)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.csv")
        with pytest.raises(PairingError, match="FIFO"):
            likeness.compare(None, models={"m": tmp_path}, pairs=tmp_path / "pipe.csv",
                             cache=False)


def test_file_names_that_are_not_utf8_are_compared_and_written_escaped(tmp_path):
    odd = os.fsdecode(b"\xff\xfe.png")
    try:
        for folder in ("ref", "out"):
            _save(tmp_path / folder / odd, _image(0), format="PNG")
            _save(tmp_path / folder / "ok.png", _image(1))
    except (OSError, UnicodeError):
        pytest.skip("this filesystem refuses names that are not UTF-8")
    for cache in (["--no-cache"], ["--cache", str(tmp_path / "c.sqlite")]):
        out_dir = tmp_path / f"run{len(cache)}"
        result = _run_cli(["compare", str(tmp_path / "ref"), str(tmp_path / "out"), *cache,
                           "--out-dir", str(out_dir), "--out", str(out_dir / "rows.csv"),
                           "--html"])
        assert result.returncode == 0, result.stderr
        rows = _rows(out_dir / "per_image.csv")
        assert sorted(r["test"] for r in rows) == ["\\udcff\\udcfe.png", "ok.png"]
        assert all(r["ssim"] == "1.0" for r in rows)
        # the report finds the file again from the name its table writes escaped
        assert "no such file" not in (out_dir / "report.html").read_text()
        # the terminal's table: escaped as in the CSV, its columns still aligned (rich
        # measured the surrogates as one column each, the stream then wrote six)
        lines = [line for line in result.stdout.splitlines() if "│" in line]
        assert any("\\udcff\\udcfe.png" in line for line in lines), result.stdout
        assert len({line.index("│") for line in lines}) == 1, result.stdout
    # a model's name that is not UTF-8: the report finds its folder from the escaped name
    model = os.fsdecode(b"m\xfe")
    likeness.compare(tmp_path / "ref", models={model: tmp_path / "out"}, metrics="ssim",
                     cache=False, out_dir=tmp_path / "named")
    result = _run_cli(["report", str(tmp_path / "named")])
    assert result.returncode == 0, result.stderr
    assert "no such file" not in (tmp_path / "named" / "report.html").read_text()


def test_control_characters_in_names_reach_the_terminal_as_escapes(tmp_path):
    """A file named to clear the screen, split a table row or read backwards is shown
    escaped in tables and messages (a real process: what a terminal would receive)."""
    names = ["\x1b[2Jclear.png", "a\nb.png", "\u202egnp.png", "\x9bc.png"]
    for index, name in enumerate(names):
        _save(tmp_path / "ref" / name, _image(index))
        _save(tmp_path / "out" / name, _image(10 + index))
    _save(tmp_path / "out" / "\x1b]0;title\x07only.png", _image(20))
    result = _run_cli(["compare", str(tmp_path / "ref"), str(tmp_path / "out"), "--no-cache",
                       "--metrics", "ssim"])
    assert result.returncode == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        assert not any(ord(c) < 32 and c != "\n" or 127 <= ord(c) < 160 or c == "\u202e"
                       for c in stream), repr(stream)
    for shown in ("\\x1b[2Jclear.png", "a\\nb.png", "\\u202egnp.png", "\\x9bc.png"):
        assert shown in result.stdout
    assert "\\x1b]0;title\\x07only.png" in result.stderr  # the unmatched file's note
    likeness.compare(tmp_path / "ref", models={"two\nlines": tmp_path / "out"}, metrics="ssim",
                     cache=False, out_dir=tmp_path / "run")
    table = (tmp_path / "run" / "summary.md").read_text().splitlines()
    assert [line for line in table if "two" in line][0].startswith("| two lines |")
    # Markdown's markup in a name is escaped: not italics, not a second cell
    likeness.compare(tmp_path / "ref", models={"*ours*_v2|b": tmp_path / "out"},
                     metrics="ssim", cache=False, out_dir=tmp_path / "marked")
    table = (tmp_path / "marked" / "summary.md").read_text().splitlines()
    assert [line for line in table if "ours" in line][0].startswith(
        "| \\*ours\\*\\_v2\\|b |")
    likeness.compare(tmp_path / "ref", models={"a`b": tmp_path / "out"}, metrics="ssim",
                     cache=False, out_dir=tmp_path / "quoted")
    assert "We compare 1 model (`` a`b ``)" in (tmp_path / "quoted" / "methods.md").read_text()

@pytest.mark.parametrize(("format", "options"), [
    ("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("GIF", {}), ("BMP", {}),
    ("TIFF", {"compression": "tiff_lzw"}), ("TIFF", {}), ("WEBP", {}),
    ("WEBP", {"lossless": True}), ("PPM", {}), ("TGA", {})])
def test_damaged_files_decode_or_raise_image_load_error_never_anything_else(
        tmp_path, format, options):
    """Bytes flipped, overwritten or set to huge values anywhere in a file: load_image
    either decodes it (formats without checksums cannot tell) or raises ImageLoadError."""
    data = _encoded(_photo(), format, **options)
    rng = np.random.default_rng(len(data))
    path = tmp_path / f"damaged.{format.lower()}"
    for trial in range(60):
        damaged = bytearray(data)
        if trial % 3 == 0:
            damaged[rng.integers(0, len(damaged))] ^= int(rng.integers(1, 256))
        elif trial % 3 == 1:
            start = int(rng.integers(0, len(damaged) - 8))
            damaged[start:start + 8] = rng.integers(0, 256, 8, np.uint8).tobytes()
        else:  # header fields: sizes, offsets, counts
            start = int(rng.integers(0, min(200, len(damaged) - 4)))
            damaged[start:start + 4] = b"\xff\xff\xff\x7f"
        path.write_bytes(bytes(damaged))
        try:
            likeness.load_image(path)
        except ImageLoadError as error:
            message = str(error)
        else:
            message = str(path)
        assert str(path) in message  # an error names the file


def _png_of_rows(rows: list[bytes], width: int, height: int, depth: int, colour: int,
                 interlace: int = 0) -> bytes:
    """A PNG of these filtered rows (each with its filter byte), checksums right."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"".join(rows))) + _png_chunk(b"IEND", b""))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize(("depth", "colour", "samples", "interlace"), [
    (8, 2, 3, 0), (8, 6, 4, 0), (8, 0, 1, 0), (16, 0, 1, 0), (16, 2, 3, 0), (4, 3, 1, 0),
    (8, 2, 3, 1)], ids=["rgb", "rgba", "gray", "gray16", "rgb16", "palette4", "interlaced"])
@pytest.mark.parametrize("compiled", ["0", "1"])
def test_a_png_whose_image_data_ends_early_is_refused(tmp_path, monkeypatch, depth, colour,
                                                      samples, interlace, compiled):
    # a complete zlib stream of fewer rows than the header's: Pillow and libpng decoded it
    # without a word, the missing rows black (every route: plain, Pillow, OpenCV)
    monkeypatch.setenv("LIKENESS_COMPILED", compiled)
    width, height = 13, 10
    row_bytes = -(-width * samples * depth // 8)
    rng = np.random.default_rng(depth + colour)
    if interlace:  # Adam7: 15 rows of 2-13 pixels in 7 passes, filter byte 0 each
        passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                  (1, 0, 2, 2), (0, 1, 1, 2))
        sizes = [(-(-(height - y0) // dy), -(-(width - x0) // dx) * samples)
                 for x0, y0, dx, dy in passes]
        rows = [b"\x00" + rng.integers(0, 256, size, np.uint8).tobytes()
                for count, size in sizes for _ in range(count)]
    else:
        rows = [b"\x00" + rng.integers(0, 256, row_bytes, np.uint8).tobytes()
                for _ in range(height)]
    if colour == 6:  # opaque
        rows = [row[:1] + bytes(b if i % 4 != 3 else 255 for i, b in enumerate(row[1:]))
                for row in rows]
    palette = _png_chunk(b"PLTE", bytes(range(48))) if colour == 3 else b""
    whole = _png_of_rows(rows, width, height, depth, colour, interlace)
    short = _png_of_rows(rows[:-2], width, height, depth, colour, interlace)
    path = tmp_path / "a.png"
    for data in (whole, short):
        path.write_bytes(data[:33] + palette + data[33:])
        if data is whole:
            assert likeness.load_image(path).pixels.shape[:2] == (height, width)
            continue
        with pytest.raises(ImageLoadError, match=r"a\.png: corrupt or truncated PNG file "
                           r"\(its image data ends after \d+ of the \d+ bytes its 13x10 "
                           r"header needs; decoders would show the rest as black\)"):
            likeness.load_image(path)


def test_sigterm_leaves_the_record_interrupted_and_the_run_resumable(tmp_path, stand_in):
    import signal
    import time

    ref, out = _folders(tmp_path, count=40)
    command = [sys.executable, "-m", "likeness.cli", "compare", str(ref), str(out),
               "--metrics", "ssim,lpips", "--no-cache", "--batch-size", "2",
               "--weights", f"alexnet={stand_in['alexnet']}", "--out-dir", str(tmp_path / "run")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    record = tmp_path / "run" / "run.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if (tmp_path / "run" / "progress.sqlite").exists() and record.exists():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    written = json.loads(record.read_text())
    assert written["status"] == "interrupted", written["status"]  # never "running"
    assert written["error"] == "stopped by SIGTERM"  # it said "143", the exit code
    assert process.returncode == 143
    assert b"error: stopped by SIGTERM: values already stored" in stderr
    resumed = _run_cli(command[3:])
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(record.read_text())["status"] == "complete"


def test_an_unexpected_exception_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    import likeness.runs.compare

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(likeness.runs.compare, "compare", broken)
    ref, out = _folders(tmp_path, count=1)
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--no-cache"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unexpected RuntimeError: something nobody")
    assert "LIKENESS_DEBUG=1" in result.stderr
    assert "Traceback" not in result.output


def test_ctrl_c_is_said_as_an_interruption_and_recorded_so(tmp_path, monkeypatch):
    """Click said "Aborted!" and run.json "KeyboardInterrupt"."""
    import likeness.runs.execute

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(likeness.runs.execute, "run_items", interrupted)
    ref, out = _folders(tmp_path, count=1)
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--no-cache",
                                       "--out-dir", str(tmp_path / "run")])
    assert result.exit_code == 130
    assert result.stderr.startswith("error: interrupted (Ctrl-C): values already stored in the "
                                    "cache or a results folder are kept, so a re-run resumes")
    assert "Aborted" not in result.output
    written = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (written["status"], written["error"]) == ("interrupted", "interrupted (Ctrl-C)")


@pytest.mark.parametrize(("failure", "expected"), [
    (MemoryError(), "error: out of memory (MemoryError): free memory, use a smaller --batch-size"),
    (OSError(28, "No space left on device", "/data/features.npy"),
     "error: no space left on the device writing /data/features.npy (No space left on device)"),
])
def test_the_machine_running_out_is_said_as_such_not_as_a_bug(tmp_path, monkeypatch, failure,
                                                               expected):
    import likeness.runs.compare

    def runs_out(*args, **kwargs):
        raise failure

    monkeypatch.setattr(likeness.runs.compare, "compare", runs_out)
    ref, out = _folders(tmp_path, count=1)
    result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--no-cache"])
    assert result.exit_code == 1
    assert result.stderr.startswith(expected)
    assert "a re-run resumes" in result.stderr
    assert "bug" not in result.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB filesystem of its own (tmpfs; needs root, skipped elsewhere)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                              str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small filesystem here (needs root)")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with one file (removed to free it again)."""
    junk = disk / "junk"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    junk.write_bytes(b"\0" * max(0, free - leave))
    return junk


def test_a_really_full_disk_is_one_message_and_the_run_resumes(tmp_path, small_disk):
    ref, out = _folders(tmp_path, count=3)
    junk = _fill(small_disk, leave=8192)
    result = _run_cli(["compare", str(ref), str(out), "--metrics", "ssim,psnr", "--cache",
                       str(small_disk / "cache.sqlite"), "--out-dir", str(small_disk / "run")])
    assert result.returncode == 1
    assert "error: cannot " in result.stderr
    assert "No space left on device" in result.stderr or "full" in result.stderr
    assert "Traceback" not in result.stderr
    junk.unlink()
    again = _run_cli(["compare", str(ref), str(out), "--metrics", "ssim,psnr", "--cache",
                      str(small_disk / "cache.sqlite"), "--out-dir", str(small_disk / "run"),
                      "--overwrite"])
    assert again.returncode == 0, again.stderr
    assert json.loads((small_disk / "run" / "run.json").read_text())["status"] == "complete"


def test_a_read_only_out_dir_and_cache_are_one_message(tmp_path, small_disk):
    ref, out = _folders(tmp_path, count=2)
    likeness.compare(ref, out, metrics="ssim", cache=small_disk / "cache.sqlite")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for extra in (["--out-dir", str(small_disk / "run"), "--no-cache"],
                  ["--cache", str(small_disk / "cache.sqlite")]):
        result = _run_cli(["compare", str(ref), str(out), "--metrics", "ssim", *extra])
        assert result.returncode == 1, result.stderr
        assert str(small_disk) in result.stderr
        assert "read-only" in result.stderr.lower() or "readonly" in result.stderr.lower()
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["rgb", "gray", "gray16"])
def test_a_transparent_colour_named_by_trns_is_real_transparency(tmp_path, kind):
    pixels = {"rgb": _image(0), "gray": _image(0, channels=1),
              "gray16": _image(0, channels=1, dtype=np.uint16)}[kind]
    key = pixels[0, 0] if kind == "rgb" else int(pixels[0, 0])
    options = {"transparency": tuple(int(c) for c in key) if kind == "rgb" else key}
    path = _save(tmp_path / f"{kind}.png", pixels, **options)
    with Image.open(path) as written:
        assert "transparency" in written.info
    with pytest.raises(ImageLoadError, match="real transparency"):
        likeness.load_image(path)  # was silently ignored
    loaded = likeness.load_image(path, alpha="black")
    assert loaded.pixels[0, 0].max() == 0
    assert loaded.bit_depth == (16 if kind == "gray16" else 8)
    assert any("PNG tRNS" in d for d in loaded.decisions)


def test_an_unwritable_out_file_is_one_message(tmp_path, fid_weights):
    ref, out = _folders(tmp_path, count=2)
    (tmp_path / "file").write_text("x")
    target = str(tmp_path / "file" / "rows.csv")
    for arguments in (["compare", str(ref), str(out), "--no-cache", "--out", target],
                      ["compare", str(ref / "0.png"), str(out / "0.png"), "--out", target],
                      ["fid", str(ref), str(out), "--no-cache", "--weights", str(fid_weights),
                       "--out", target.replace(".csv", ".json")]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny sets: singular covariances
            result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 1, result.output
        assert "error: cannot write" in result.stderr
        assert "unexpected" not in result.stderr


def test_a_checkpoint_rewritten_with_its_old_size_and_mtime_is_hashed_again(tmp_path):
    from likeness.nets.weights import resolve

    path = tmp_path / "mine.pth"
    path.write_bytes(b"a" * 64)
    os.utime(path, ns=(10**18, 10**18))
    first = resolve("alexnet", path).sha256
    path.write_bytes(b"b" * 64)  # what cp -p / rsync -t leave: same size, same mtime
    os.utime(path, ns=(10**18, 10**18))
    assert resolve("alexnet", path).sha256 != first


def test_a_path_with_windows_separators_says_so(tmp_path):
    """A pairs CSV written on Windows (``ref\\0.png``): "no such file" alone left the user
    to find that a backslash is a letter of a name here."""
    _folders(tmp_path, count=2)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("reference,test\nref\\0.png,out\\0.png\nref/1.png,out/1.png\n")
    result = CliRunner().invoke(main, ["compare", "--pairs", str(pairs), "--no-cache"])
    assert result.exit_code == 1
    assert ("ref\\0.png: no such file (its name holds '\\', a Windows separator?  Here it is "
            "a letter of the name: write the path with '/')") in result.output
    with pytest.raises(ImageLoadError) as raised:
        likeness.load_image(tmp_path / "ref" / "2.png")
    assert str(raised.value).endswith("2.png: no such file")  # no hint without a backslash


@pytest.mark.parametrize(("reference", "said"), [
    ("https://example.com/0.png", "no such file (a URL? likeness reads local files only: "
                                  "download the images first, and give their paths)"),
    ("s3://bucket/ref/0.png", "no such file (a URL?"),
    ("~/ref/0.png", "no such file ('~' is a folder's name here: a shell expands it, a CSV "
                    "or a Python string does not; write the whole path)")])
def test_a_url_or_home_folder_in_a_csv_says_so(tmp_path, reference, said):
    """Paths in a CSV are taken verbatim: "no such file" of ``…/https:/example.com/0.png``
    left the user to find that likeness reads no URL and expands no ``~``."""
    _folders(tmp_path, count=1)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"reference,test\n{reference},out/0.png\n")
    result = CliRunner().invoke(main, ["compare", "--pairs", str(pairs), "--no-cache"])
    assert result.exit_code == 1
    assert said in " ".join(result.output.split())


def test_a_git_lfs_pointer_is_named_in_place_of_any_input(tmp_path, fid_weights):
    """A repository cloned without its large files leaves pointers where the images,
    checkpoints, statistics and CSVs were: each was "corrupt", "not a loadable checkpoint",
    "not a readable .npz" or "needs columns 'reference'"."""
    from likeness.errors import WeightsError
    from likeness.evaluation.sets.statistics_file import read_statistics_file
    from likeness.io import GIT_LFS_POINTER
    from likeness.nets.loading import load_state_dict
    from likeness.nets.weights import REGISTRY, verify

    pointer = tmp_path / "pointer"
    pointer.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:"
                        + b"ab" * 32 + b"\nsize 9882245\n")
    for call in (lambda: load_state_dict(pointer), lambda: verify(REGISTRY["alexnet"], pointer),
                 lambda: read_statistics_file(pointer),
                 lambda: likeness.compare(None, pairs=pointer, metrics="ssim", cache=False),
                 lambda: likeness.load_image(pointer),
                 lambda: likeness.analyze_study(pointer)):
        with pytest.raises((LikenessError, WeightsError), match=re.escape(GIT_LFS_POINTER)):
            call()


def test_thousands_of_failures_are_not_a_screen_of_lines(tmp_path):
    """A folder of images too small for SSIM, each of its own size, printed one error line
    per size: the terminal shows the first causes and how many more; the rows hold all."""
    from likeness.cli.output import ERROR_LINES

    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        for width in range(1, ERROR_LINES + 6):
            _save(tmp_path / folder / f"{width}.png", _image(width)[:5, :width])
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                       "--metrics", "ssim,psnr", "--no-cache", "--out",
                                       str(tmp_path / "rows.csv")])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == ERROR_LINES + 1
    assert lines[-1] == ("error: and 5 more causes of failure not shown here: every pair's "
                         "error is in its row of per_image.csv (--out-dir) or of the --out "
                         "file")
    with open(tmp_path / "rows.csv", encoding="utf-8") as rows:
        assert sum("smaller than SSIM's 7x7 window" in row for row in rows) == ERROR_LINES + 5


def test_decisions_that_name_sizes_are_not_a_screen_of_lines(tmp_path):
    from likeness.cli.output import ERROR_LINES

    for width in range(ERROR_LINES + 3):
        _save(tmp_path / "ref" / f"{width}.png", _image(width, (20, 20)))
        _save(tmp_path / "out" / f"{width}.png", _image(width, (20, 21 + width)))
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                       "--metrics", "psnr", "--resize", "reference",
                                       "--no-cache"])
    notes = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert len(notes) == ERROR_LINES + 1
    assert notes[-1].startswith("note: and 3 more decisions not shown here")


def test_a_study_is_never_written_where_later_runs_read_its_images(tmp_path):
    """A study created inside a model's folder put copies of every model's images there:
    a later FID of that model counted them all, without a word."""
    ref, out = _folders(tmp_path, count=2)
    other = tmp_path / "other"
    shutil.copytree(out, other)
    with pytest.raises(InvalidInputError, match=r"out_dir \(.*out/study\) lies in the folder "
                                                r"of model 'out' \(.*\): the study's images"):
        likeness.create_study(out / "study", {"out": out, "other": other}, reference=ref)
    likeness.create_study(tmp_path / "study", {"out": out, "other": other}, reference=ref)
    shutil.move(tmp_path / "study", out / "study")  # one made before, moved there
    with pytest.raises(PairingError, match=r"out/study holds a likeness study, whose images "
                                           r"are copies of the compared folders'"):
        likeness.compare(ref, out, metrics="ssim", cache=False)


# -- nesting past Python's recursion limit -------------------------------------------------

def test_a_folder_tree_deeper_than_pythons_recursion_limit_is_scanned(tmp_path):
    """Python 3.11's ``os.walk`` recurses once a level: a tree 1,100 folders deep ended in
    "unexpected RecursionError … a bug in likeness"."""
    ref, out = _folders(tmp_path, count=1)
    levels = [out]
    for _ in range(sys.getrecursionlimit() + 100):  # (Path.mkdir(parents=True) recurses too)
        levels.append(levels[-1] / "a")
        levels[-1].mkdir()
    _save(levels[-1] / "0.png", _image(5))
    try:
        result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--no-cache"])
        assert "RecursionError" not in result.output
        assert "1 test file without a partner" in result.output  # found, at the bottom
        assert result.exit_code == 0
    finally:  # removed level by level: shutil.rmtree (pytest's cleanup) recurses as well
        (levels[-1] / "0.png").unlink()
        for level in reversed(levels[1:]):
            level.rmdir()


def test_json_nested_past_pythons_stack_is_a_damaged_file_not_a_bug(tmp_path):
    """A run.json, a study manifest, a safetensors header or a cache entry whose JSON nests
    100,000 levels: Python's parser raises RecursionError, which no reader caught."""
    from likeness.evaluation.infra.cached_values import decoded
    from likeness.evaluation.items.rows import decode_notes
    from likeness.nets.loading import load_state_dict

    nested = "[" * 100_000 + "]" * 100_000
    ref, out = _folders(tmp_path, count=1)
    likeness.compare(ref, out, metrics="psnr", cache=False, out_dir=tmp_path / "run")
    record = (tmp_path / "run" / "run.json").read_text()
    # 980 levels: parsed, then past the stack when its digest is encoded; 100,000: not parsed
    for depth in (980, 100_000):
        (tmp_path / "run" / "run.json").write_text(
            record[:-2] + ', "x": ' + "[" * depth + "]" * depth + "}\n")
        result = CliRunner().invoke(main, ["report", str(tmp_path / "run")])
        assert result.exit_code == 1
        assert "not a likeness results folder (run.json: JSON nested" in result.output
        assert "a bug" not in result.output
        result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics", "psnr",
                                           "--no-cache", "--out-dir", str(tmp_path / "run")])
        assert result.exit_code == 1
        assert "holds a likeness run whose run.json cannot be read" in result.output
    header = ('{"x": ' + nested + "}").encode()
    checkpoint = tmp_path / "deep.safetensors"
    checkpoint.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(likeness.WeightsError, match="not a loadable checkpoint"):
        load_state_dict(checkpoint)
    with pytest.warns(CacheWarning, match="1 cached value"):
        assert decoded({"k": nested.encode()}, decode_notes, "the items' decisions") == {}
