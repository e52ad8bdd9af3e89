"""Image loading and file pairing: faithful pixels, recorded decisions, clear errors."""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from likeness import ImageLoadError, PairingError, load_image, pair_folders
from likeness.io import to_luma
from likeness.metrics.skimage_compat import peak_signal_noise_ratio


def write_png(path, pixels: np.ndarray, colour_type: int, *, width=None, height=None):
    """A minimal PNG encoder (filter 0), for sample layouts other libraries cannot write."""
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    h, w = pixels.shape[:2]
    raw = pixels.astype(">u2" if bit_depth == 16 else np.uint8).reshape(h, -1).tobytes()
    row_len = len(raw) // h
    data = b"".join(b"\x00" + raw[i * row_len:(i + 1) * row_len] for i in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width or w, height or h, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def rgb8():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_8_bit_rgb_png(tmp_path, rgb8):
    Image.fromarray(rgb8).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.pixels.dtype == np.uint8
    assert image.bit_depth == 8
    np.testing.assert_array_equal(image.pixels, rgb8)
    assert (image.format, image.mode, image.had_alpha, image.decisions) == ("PNG", "RGB", False, ())
    assert image.data_range == 255


def test_16_bit_colour_png_keeps_its_low_bytes(golden):
    reference = load_image(golden.image_path("deep16.png"))
    test = load_image(golden.image_path("deep16__test.png"))
    assert reference.pixels.dtype == np.uint16
    assert reference.bit_depth == 16
    np.testing.assert_array_equal(reference.pixels, golden.array("u16_a"))
    np.testing.assert_array_equal(test.pixels, golden.array("u16_b"))
    psnr = peak_signal_noise_ratio(reference.pixels, test.pixels, data_range=65535)
    assert psnr == pytest.approx(golden.expected["u16_psnr"], abs=1e-6)
    assert psnr != pytest.approx(golden.expected["u16_truncated_psnr"], abs=1e-3)


def test_16_bit_gray_and_rgba_png(tmp_path):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 65536, (12, 9), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    loaded = load_image(tmp_path / "g.png")
    assert loaded.pixels.shape == (12, 9, 1)
    assert loaded.pixels.dtype == np.uint16
    np.testing.assert_array_equal(loaded.pixels[:, :, 0], gray)

    rgba = rng.integers(0, 65536, (12, 9, 4), dtype=np.uint16)
    rgba[:, :, 3] = 65535
    write_png(tmp_path / "rgba.png", rgba, colour_type=6)
    loaded = load_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(loaded.pixels, rgba[:, :, :3])
    assert loaded.had_alpha
    assert "fully opaque alpha channel dropped" in loaded.decisions


def test_16_bit_gray_alpha_png_is_read_at_16_bits(tmp_path):
    rng = np.random.default_rng(2)
    gray_alpha = rng.integers(0, 65536, (10, 11, 2), dtype=np.uint16)
    gray_alpha[:, :, 1] = 65535
    gray_alpha[0, 0, 1] = 0
    path = write_png(tmp_path / "ga.png", gray_alpha, colour_type=4)
    with pytest.raises(ImageLoadError, match="real transparency"):
        load_image(path)
    loaded = load_image(path, alpha="drop")
    assert loaded.pixels.shape == (10, 11, 1)
    assert loaded.pixels.dtype == np.uint16
    np.testing.assert_array_equal(loaded.pixels[:, :, 0], gray_alpha[:, :, 0])


def test_gray_png_stays_one_channel(golden):
    image = load_image(golden.image_path("small_gray.png"))
    assert image.pixels.shape == (64, 80, 1)
    assert image.mode == "L"


def test_transparency_is_an_error_unless_the_user_chooses(tmp_path, rgb8):
    rgba = np.dstack([rgb8, np.full(rgb8.shape[:2], 255, np.uint8)])
    rgba[0, :5, 3] = 0
    rgba[1, :5, 3] = 128
    Image.fromarray(rgba).save(tmp_path / "t.png")
    with pytest.raises(ImageLoadError, match=r"t\.png.*10 of 600 pixels.*alpha='white'"):
        load_image(tmp_path / "t.png")
    white = load_image(tmp_path / "t.png", alpha="white").pixels
    black = load_image(tmp_path / "t.png", alpha="black").pixels
    dropped = load_image(tmp_path / "t.png", alpha="drop")
    np.testing.assert_array_equal(white[0, :5], 255)
    np.testing.assert_array_equal(black[0, :5], 0)
    expected = np.rint(rgb8[1, :5] * (128 / 255) + 255 * (1 - 128 / 255)).astype(np.uint8)
    np.testing.assert_array_equal(white[1, :5], expected)
    np.testing.assert_array_equal(dropped.pixels, rgb8)
    assert any("alpha='drop'" in d for d in dropped.decisions)
    with pytest.raises(ValueError, match="alpha must be one of"):
        load_image(tmp_path / "t.png", alpha="grey")


def test_palette_one_bit_and_gray_alpha_pngs(tmp_path, rgb8):
    palette = Image.fromarray(rgb8).quantize(16)
    palette.save(tmp_path / "p.png")
    loaded = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(loaded.pixels, np.array(palette.convert("RGB")))
    assert loaded.mode == "P"
    assert "palette expanded to RGB" in loaded.decisions

    Image.fromarray(rgb8[:, :, 0] > 128).save(tmp_path / "b.png")
    one_bit = load_image(tmp_path / "b.png")
    assert set(np.unique(one_bit.pixels)) <= {0, 255}
    assert one_bit.pixels.shape[2] == 1

    Image.fromarray(np.dstack([rgb8[:, :, 0], np.full(rgb8.shape[:2], 255, np.uint8)]),
                    "LA").save(tmp_path / "la.png")
    gray_alpha = load_image(tmp_path / "la.png")
    np.testing.assert_array_equal(gray_alpha.pixels[:, :, 0], rgb8[:, :, 0])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path, rgb8, orientation):
    image = Image.fromarray(rgb8)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.jpg"
    image.save(path, quality=95, exif=exif)
    loaded = load_image(path)
    with Image.open(path) as reopened:
        upright = np.array(ImageOps.exif_transpose(reopened))
    np.testing.assert_array_equal(loaded.pixels, upright)
    if orientation == 1:
        assert loaded.orientation is None
    else:
        assert loaded.orientation == orientation
        assert f"EXIF orientation {orientation} applied" in loaded.decisions


def _exif_block(entry: bytes) -> bytes:
    """An EXIF block (little-endian) whose one directory holds ``entry`` (12 bytes)."""
    return b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0)


def _orientation_entry(kind: int, count: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0x0112, kind, count) + value


@pytest.mark.parametrize("container", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize(("entry", "words"), [
    # SHORT × 5000: its data would lie far beyond the block (Pillow skips the tag, warning)
    (_orientation_entry(3, 5000, b"\x1a\x00\x00\x00"),
     "EXIF orientation tag unreadable (its data lies outside the EXIF block)"),
    (_orientation_entry(3, 1, b"\x09\x00\x00\x00"), "EXIF orientation 9 is none of EXIF's 8"),
    (_orientation_entry(3, 1, b"\x00\x00\x00\x00"), "EXIF orientation 0 is none of EXIF's 8"),
    (_orientation_entry(2, 2, b"6\x00\x00\x00"), "EXIF orientation '6' is none of EXIF's 8"),
], ids=["outside", "nine", "zero", "text"])
def test_an_unreadable_exif_orientation_is_a_decision_not_taken_for_upright(
        tmp_path, rgb8, container, entry, words):
    """An orientation Pillow could not read (its data beyond the block: Pillow skipped the
    tag with a warning a run does not show) or none of the eight was taken for upright
    without a word: the image is read as stored, and the decision says so."""
    path = tmp_path / f"o.{container.lower()}"
    Image.fromarray(rgb8).save(path, container, exif=_exif_block(entry),
                               **({"lossless": True} if container == "WEBP" else {}))
    with warnings.catch_warnings(record=True):  # Pillow's, as a run records them
        warnings.simplefilter("always")
        loaded = load_image(path)
        with Image.open(path) as stored:
            np.testing.assert_array_equal(loaded.pixels, np.array(stored.convert("RGB")))
    assert loaded.orientation is None
    notes = [note for note in loaded.decisions if "orientation" in note]
    assert len(notes) == 1, loaded.decisions
    assert notes[0].startswith(words), loaded.decisions
    assert notes[0].endswith(": orientation unknown, pixels used as stored")


def test_a_decoders_warning_made_an_error_by_the_callers_filters_is_named_so(tmp_path,
                                                                          rgb8):
    """Under ``python -W error`` (pytest's filterwarnings = error here) Pillow's warning
    about a tag it skips stops the decoding: the file was called "corrupt or truncated",
    though a run reads it (the warning recorded)."""
    path = tmp_path / "o.jpg"
    Image.fromarray(rgb8).save(path, exif=_exif_block(
        _orientation_entry(3, 5000, b"\x1a\x00\x00\x00")))
    with pytest.raises(ImageLoadError, match=r"Skipping tag 274 \(a warning of its "
                       r"decoder's, an error in this process by its warning filters\): let "
                       r"UserWarning through to read the file as a run reads it") as error:
        load_image(path)
    assert "corrupt" not in str(error.value)


def test_an_unreadable_orientation_in_a_pngs_raw_exif_profile_is_a_decision(tmp_path, rgb8):
    """ImageMagick writes a PNG's EXIF as hexadecimal text ("Raw profile type exif"),
    which Pillow reads too: an orientation there that Pillow skips is said as well."""
    from PIL import PngImagePlugin

    block = _exif_block(_orientation_entry(3, 5000, b"\x1a\x00\x00\x00"))
    text = PngImagePlugin.PngInfo()
    text.add_text("Raw profile type exif", f"\nexif\n{len(block):8d}\n{block.hex()}\n")
    Image.fromarray(rgb8).save(tmp_path / "raw.png", pnginfo=text)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        loaded = load_image(tmp_path / "raw.png")
    np.testing.assert_array_equal(loaded.pixels, rgb8)
    assert ("EXIF orientation tag unreadable (its data lies outside the EXIF block): "
            "orientation unknown, pixels used as stored") in loaded.decisions


def _tiff_16_bit_rgb(path: Path, pixels: np.ndarray, orientation: int) -> Path:
    """An uncompressed 16-bit RGB TIFF with an orientation tag (Pillow cannot write one)."""
    import struct

    height, width, _ = pixels.shape
    data = pixels.astype("<u2").tobytes()
    bits_at = 8 + 2 + 13 * 12 + 4  # after the header and the one IFD of 13 tags
    tags = [(256, 3, width), (257, 3, height), (258, 3, bits_at), (259, 3, 1), (262, 3, 2),
            (273, 4, bits_at + 6), (274, 3, orientation), (277, 3, 3), (278, 3, height),
            (279, 4, len(data)), (284, 3, 1), (296, 3, 1), (339, 3, 1)]
    entries = b"".join(struct.pack("<HHII", tag, kind, 3 if tag == 258 else 1, value)
                       if kind == 4 or tag == 258 else
                       struct.pack("<HHIHH", tag, kind, 1, value, 0)
                       for tag, kind, value in tags)
    path.write_bytes(b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries
                     + struct.pack("<I3H", 0, 16, 16, 16) + data)
    return path


def _orientation_beyond_the_file(path: Path) -> Path:
    """The TIFF at ``path`` with its Orientation entry's count made 50,000: its data would
    lie beyond the file (Pillow skips the tag, warning; libtiff, under OpenCV, too)."""
    data = bytearray(path.read_bytes())
    start = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, start)[0]):
        at = start + 2 + 12 * entry
        if struct.unpack_from("<H", data, at)[0] == 0x0112:
            struct.pack_into("<II", data, at + 4, 50_000, 8)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("orientation", "words"), [
    (0, "TIFF orientation 0 is none of TIFF's 8 orientations"),
    (9, "TIFF orientation 9 is none of TIFF's 8 orientations"),
    (6, "TIFF orientation tag unreadable (its data lies outside the file)")])
def test_a_tiff_orientation_its_decoders_cannot_apply_is_a_decision(tmp_path, rgb8,
                                                                    orientation, words):
    """A TIFF's orientation of none of the eight values, or whose data lies beyond the
    file, was read as stored (by Pillow and by OpenCV) without a word."""
    deep = rgb8.astype(np.uint16) * 257 + 3
    Image.fromarray(rgb8).save(tmp_path / "o8.tif", tiffinfo={0x0112: orientation})
    files = [(tmp_path / "o8.tif", rgb8),
             (_tiff_16_bit_rgb(tmp_path / "o16.tif", deep, orientation), deep)]
    for path, stored in files:
        if "outside" in words:
            _orientation_beyond_the_file(path)
        with warnings.catch_warnings(record=True):  # Pillow's, as a run records them
            warnings.simplefilter("always")
            loaded = load_image(path)
        np.testing.assert_array_equal(loaded.pixels, stored)
        assert loaded.orientation is None
        notes = [note for note in loaded.decisions if "orientation" in note]
        assert notes == [f"{words}: orientation unknown, pixels used as stored"], path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiffs_own_orientation_is_applied_once_and_recorded(tmp_path, rgb8, orientation):
    """Both of a TIFF's decoders (Pillow's for 8 bits, OpenCV's for 16-bit colour) turn it
    upright themselves: likeness records it, and no longer turned a 16-bit colour TIFF a
    second time."""
    Image.fromarray(rgb8).save(tmp_path / "o8.tif", tiffinfo={0x0112: orientation})
    with Image.open(tmp_path / "o8.tif") as reopened:
        upright = np.array(reopened)  # Pillow applies a TIFF's orientation itself
    deep = rgb8.astype(np.uint16) * 257 + 3
    for path, want in ((tmp_path / "o8.tif", upright),
                       (_tiff_16_bit_rgb(tmp_path / "o16.tif", deep, orientation),
                        upright.astype(np.uint16) * 257 + 3)):
        loaded = load_image(path)
        np.testing.assert_array_equal(loaded.pixels, want)
        if orientation == 1:
            assert loaded.orientation is None
            assert not any("orientation" in note for note in loaded.decisions)
        else:
            assert loaded.orientation == orientation
            assert f"EXIF orientation {orientation} applied" in loaded.decisions


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path, rgb8):
    cmyk = Image.fromarray(rgb8).convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    loaded = load_image(tmp_path / "c.jpg")
    assert loaded.pixels.shape == (20, 30, 3)
    assert loaded.mode == "CMYK"
    assert "CMYK converted to RGB (Pillow)" in loaded.decisions


@pytest.mark.parametrize("suffix", [".bmp", ".tif", ".webp"])
def test_other_formats(tmp_path, rgb8, suffix):
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(rgb8).save(tmp_path / f"a{suffix}", **options)
    np.testing.assert_array_equal(load_image(tmp_path / f"a{suffix}").pixels, rgb8)


def test_16_bit_rgb_tiff_keeps_16_bits(tmp_path):
    rgb16 = np.random.default_rng(3).integers(0, 65536, (8, 10, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a.tif"), rgb16[:, :, ::-1])
    loaded = load_image(tmp_path / "a.tif")
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(loaded.pixels, rgb16)


def test_broken_files_raise_likeness_errors_naming_the_file(tmp_path, rgb8):
    Image.fromarray(rgb8).save(tmp_path / "good.png")
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    corrupt = bytearray(good)
    corrupt[60:120] = bytes(60)
    (tmp_path / "corrupt.png").write_bytes(bytes(corrupt))
    cases = {"missing.png": "no such file", "empty.png": "empty", "text.png": "not an image",
             "truncated.png": "corrupt or truncated", "corrupt.png": "corrupt or truncated"}
    for name, cause in cases.items():
        with pytest.raises(ImageLoadError, match=f"{name}.*{cause}"):
            load_image(tmp_path / name)


def test_absurd_header_size_is_refused_before_decoding(tmp_path):
    path = write_png(tmp_path / "huge.png", np.zeros((1, 1, 3), np.uint8), colour_type=2,
                     width=100_000, height=100_000)
    with pytest.raises(ImageLoadError, match=r"huge\.png: the header claims 10000000000 pixels"):
        load_image(path)
    small = write_png(tmp_path / "small.png", np.zeros((4, 4, 3), np.uint8), colour_type=2)
    with pytest.raises(ImageLoadError, match="more than the limit of 10"):
        load_image(small, max_pixels=10)
    # over Pillow's limit (which Pillow enforces whatever max_pixels says): advice a run's
    # user can follow, not "pass a larger max_pixels" (compare and the command line take none)
    large = write_png(tmp_path / "large.png", np.zeros((1, 1, 3), np.uint8), colour_type=2,
                      width=15_000, height=15_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageLoadError, match=r"large\.png: the header claims 225000000 "
                           r"pixels, more than Pillow.s limit of 178956970 .*tile or "
                           r"downscale it"):
            load_image(large)


def test_luma_equals_pillow_convert_l(golden):
    for name in ("astronaut.png", "coffee__hue.png"):
        np.testing.assert_array_equal(to_luma(golden.rgb(name))[:, :, 0], golden.luma(name))


def test_pairing_by_relative_path_without_extension(tmp_path, rgb8):
    for path in ["ref/x/a.jpg", "ref/b.png", "ref/only_ref.png", "out/x/a.png", "out/b.webp",
                 "out/only_out.png", "out/.hidden.png", "out/notes.txt"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    pairing = pair_folders(tmp_path / "ref", tmp_path / "out")
    assert pairing.relative(tmp_path / "ref", tmp_path / "out") == [("b.png", "b.webp"),
                                                                   ("x/a.jpg", "x/a.png")]
    assert [p.name for p in pairing.unmatched_reference] == ["only_ref.png"]
    assert [p.name for p in pairing.unmatched_test] == ["only_out.png"]



def test_names_pair_however_their_accents_are_encoded(tmp_path):
    """macOS writes "é" decomposed (NFD), Linux keeps what it is given: both pair, in
    folders and in a style run's C__S names; a folder holding both spellings is refused."""
    import unicodedata

    composed, decomposed = (unicodedata.normalize(form, "café") for form in ("NFC", "NFD"))
    assert composed != decomposed
    for path in (f"ref/{composed}.png", f"out/{decomposed}.png", f"out/x/{decomposed}.png",
                 f"ref/x/{composed}.jpg"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    pairing = pair_folders(tmp_path / "ref", tmp_path / "out")
    assert pairing.relative(tmp_path / "ref", tmp_path / "out") == [
        (f"{composed}.png", f"{decomposed}.png"), (f"x/{composed}.jpg", f"x/{decomposed}.png")]
    assert (pairing.unmatched_reference, pairing.unmatched_test) == ([], [])
    (tmp_path / "out" / f"{composed}.jpg").write_bytes(b"")
    with pytest.raises(PairingError, match="share the name"):
        pair_folders(tmp_path / "ref", tmp_path / "out")

    from likeness.evaluation.items.triplets import find_triplets

    for folder, name in (("content", composed), ("style", "ink"),
                         ("stylized", f"{decomposed}__ink")):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / folder / f"{name}.png")
    triplets, unmatched = find_triplets(tmp_path / "content", tmp_path / "style",
                                        {"m": tmp_path / "stylized"})
    assert [t.content.name for t in triplets] == [f"{composed}.png"]
    assert unmatched == {"m": []}


def test_links_to_folders_are_followed_and_folders_reached_twice_refused(tmp_path,
                                                                          monkeypatch):
    """A set or a pairing over a folder whose images sit behind a link to a folder had
    silently lost them (os.walk does not follow such links by default)."""
    from likeness.io import find_images, scan_folder

    store = tmp_path / "store" / "sub"
    store.mkdir(parents=True)
    (store / "b.png").write_bytes(b"")
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "a.png").write_bytes(b"")
    (tmp_path / "set" / "linked").symlink_to(store)
    assert [p.relative_to(tmp_path / "set").as_posix()
            for p in find_images(tmp_path / "set")] == ["a.png", "linked/b.png"]
    (tmp_path / "set" / "again").symlink_to(store)
    with pytest.raises(PairingError, match="again, through a link: its images would count "
                                           "twice"):
        scan_folder(tmp_path / "set")
    (tmp_path / "set" / "again").unlink()
    (store / "loop").symlink_to(tmp_path / "set")
    with pytest.raises(PairingError, match="through a link"):
        scan_folder(tmp_path / "set")
    (store / "loop").unlink()
    real_scandir = os.scandir

    def locked(path=".", *args):
        if Path(os.path.realpath(path)) == store.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", locked)
    with pytest.raises(PairingError, match="linked: this folder cannot be read \\(Permission "
                                           "denied\\); its images would be left out"):
        scan_folder(tmp_path / "set")

def test_pairing_refuses_ambiguous_names_and_missing_folders(tmp_path):
    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "ref" / "a.png").write_bytes(b"")
    (tmp_path / "ref" / "a.jpg").write_bytes(b"")
    with pytest.raises(PairingError, match="share the name 'a'"):
        pair_folders(tmp_path / "ref", tmp_path / "out")
    with pytest.raises(PairingError, match="no such folder"):
        pair_folders(tmp_path / "nope", tmp_path / "out")


# -- 8-, 10- or 12-bit values in a 16-bit file: kept, and said ----------------------------

@pytest.mark.parametrize(("mode", "channels", "top", "noted"), [
    ("I;16", 1, 255, "0-255 (8-bit values in 16 bits?)"),
    ("I;16", 1, 256, "0-1023 (10-bit values in 16 bits?)"),
    ("I;16", 1, 4095, "0-4095 (12-bit values in 16 bits?)"),
    ("I;16", 1, 4096, None), ("I;16", 1, 65535, None),
    ("RGB;16", 3, 255, "0-255 (8-bit values in 16 bits?)"),
    ("RGB;16", 3, 1000, "0-1023 (10-bit values in 16 bits?)"),
    ("RGBA;16", 4, 200, "0-255 (8-bit values in 16 bits?)"), ("L", 1, 255, None)])
def test_a_16_bit_file_of_fewer_bits_values_is_kept_and_noted(tmp_path, mode, channels, top,
                                                              noted):
    # kept: data range 65535, as scikit-image takes the file; said: SSIM ~1 and PSNR 24 to
    # 48 dB too high otherwise, and FID of near-black images, without a word
    from likeness.io import EIGHT_BIT_VALUES_IN_16_BITS

    sixteen = mode != "L"
    pixels = np.random.default_rng(0).integers(0, top + 1, (12, 10, channels))
    pixels[0, 0] = top
    if channels == 4:
        pixels[..., 3] = 65535  # an opaque alpha is not a sample of the image
    path = tmp_path / "x.png"
    if channels == 1:
        Image.fromarray(pixels[..., 0].astype(np.uint16 if sixteen else np.uint8)).save(path)
    else:
        assert cv2.imwrite(str(path), pixels[..., [2, 1, 0, 3][:channels]].astype(np.uint16))
    image = load_image(path)
    assert image.bit_depth == (16 if sixteen else 8)
    assert int(image.pixels.max()) == top  # the values as the file holds them
    said = [d for d in image.decisions if d.startswith("16-bit image whose samples")]
    advice = {"8": "if it holds 8-bit values, store it as 8-bit",
              "10": "if it holds 10-bit values, scale them to 16 bits (× 64.06) before "
                    "comparing",
              "12": "if it holds 12-bit values, scale them to 16 bits (× 16) before "
                    "comparing"}
    bits = noted.split("(")[1].split("-")[0] if noted else None
    assert said == ([f"16-bit image whose samples all lie in {noted}: data range 65535, as "
                     f"its bit depth says; {advice[bits]}"] if noted else [])
    assert (EIGHT_BIT_VALUES_IN_16_BITS in image.decisions) is (bits == "8")


@pytest.mark.parametrize("bits", [8, 16])
def test_a_tiffs_associated_alpha_is_divided_out_at_either_bit_depth(tmp_path, bits):
    # ExtraSamples 1: colours stored multiplied by alpha.  Pillow (8 bits) divides them
    # out; OpenCV (16 bits) did not, so a 16-bit file was composited as if its colours
    # were straight — darker than the same image at 8 bits
    import tifffile

    rng = np.random.default_rng(4)
    straight = rng.integers(0, 256, (6, 7, 4), dtype=np.int64)
    straight[..., 3] = 255
    straight[0, 0, 3], straight[0, 1, 3] = 128, 0
    stored = straight.copy()
    stored[..., :3] = straight[..., :3] * straight[..., 3:] // 255
    scale = 257 if bits == 16 else 1
    path = tmp_path / "premultiplied.tif"
    tifffile.imwrite(path, (stored * scale).astype(np.uint16 if bits == 16 else np.uint8),
                     photometric="rgb", extrasamples=[1])
    white = load_image(path, alpha="white")
    assert "associated (premultiplied) alpha: colours divided by alpha, as Pillow reads " \
           "such files" in white.decisions
    # premultiplied over white is the stored colour plus white times (1 - alpha)
    want = stored[..., :3] * scale + (65535 if bits == 16 else 255) * (
        1 - straight[..., 3:] / 255)
    assert np.abs(white.pixels.astype(np.int64) - want).max() <= scale
    assert np.array_equal(load_image(path, alpha="drop").pixels[0, 1], [0, 0, 0])
    opaque = stored.copy()
    opaque[..., 3] = 255
    tifffile.imwrite(path, (opaque * scale).astype(np.uint16 if bits == 16 else np.uint8),
                     photometric="rgb", extrasamples=[1])
    assert not any("associated" in d for d in load_image(path).decisions)  # nothing to do


def test_a_bmps_varying_fourth_byte_is_ignored_and_said(tmp_path):
    # Pillow writes an RGBA image to BMP with its alpha in each pixel's fourth byte, which
    # the format leaves unused and Pillow reads back without: transparency lost unsaid
    from likeness.io.alpha import BMP_FOURTH_BYTE

    rgba = np.random.default_rng(5).integers(0, 256, (6, 9, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "alpha.bmp")
    image = load_image(tmp_path / "alpha.bmp")
    assert np.array_equal(image.pixels, rgba[..., :3])  # the colours, as Pillow reads them
    assert image.decisions == (BMP_FOURTH_BYTE,)
    opaque = rgba.copy()
    opaque[..., 3] = 255
    Image.fromarray(opaque).save(tmp_path / "opaque.bmp")  # a constant byte: nothing said
    Image.fromarray(rgba[..., :3]).save(tmp_path / "rgb.bmp")  # 24 bits: no fourth byte
    for name in ("opaque.bmp", "rgb.bmp"):
        assert load_image(tmp_path / name).decisions == ()


def test_signed_integer_samples_are_refused_by_their_header(tmp_path):
    """A signed 16-bit TIFF (SampleFormat 2, which Pillow reads as 32-bit integers) with
    negative samples: refused saying what its samples are, never wrapped to 16 bits."""
    import struct

    pixels = (np.arange(24).reshape(4, 6) * 100 - 1000).astype("<i2")
    data = pixels.tobytes()
    tags = [(256, 3, 6), (257, 3, 4), (258, 3, 16), (259, 3, 1), (262, 3, 1),
            (273, 4, 8 + 2 + 11 * 12 + 4), (277, 3, 1), (278, 3, 4), (279, 4, len(data)),
            (284, 3, 1), (339, 3, 2)]
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, value) if kind == 4 else
                       struct.pack("<HHIHH", tag, kind, 1, value, 0)
                       for tag, kind, value in tags)
    path = tmp_path / "signed.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries
                     + struct.pack("<I", 0) + data)
    with pytest.raises(ImageLoadError, match="a TIFF of 16-bit signed integer samples, .* "
                                             "save the image with unsigned"):
        load_image(path)


# -- a TIFF's header decides what its samples are -------------------------------------------

def _tiff(path: Path, pixels: np.ndarray, **options) -> Path:
    import tifffile

    tifffile.imwrite(path, pixels, **options)
    return path


@pytest.mark.parametrize(("dtype", "low", "high", "said"), [
    (np.int8, -100, 100, "8-bit signed integer samples"),
    (np.int8, 0, 100, "8-bit signed integer samples"),  # Pillow reads them as unsigned
    (np.int16, 0, 30000, "16-bit signed integer samples"),
    (np.int16, -900, 900, "16-bit signed integer samples"),
    (np.uint32, 0, 6000, "32-bit integer samples"),  # read as 16-bit before
    (np.float16, 0, 1, "16-bit floating-point samples"),  # "corrupt" before
    (np.float32, 0, 1, "32-bit floating-point samples"),
    (np.float64, 0, 255, "64-bit floating-point samples")])
@pytest.mark.parametrize("channels", [1, 3])
def test_a_tiffs_sample_type_decides_never_its_values(tmp_path, dtype, low, high, said,
                                                      channels):
    pixels = np.random.default_rng(8).uniform(low, high, (6, 7, channels)[:2 + (channels > 1)])
    path = _tiff(tmp_path / "a.tif", pixels.astype(dtype),
                 photometric="rgb" if channels == 3 else "minisblack")
    with pytest.raises(ImageLoadError, match=f"a.tif: a TIFF of {said}, which likeness does "
                                             "not read .*save the image with unsigned 8 or "
                                             "16 bits per sample"):
        load_image(path)


def test_16_bit_colour_in_separate_planes_is_refused_8_bit_read(tmp_path):
    # OpenCV reads 16-bit planes as if interleaved (and Pillow cuts them to 8 bits)
    planes = np.random.default_rng(9).integers(0, 65536, (3, 5, 6), dtype=np.uint16)
    path = _tiff(tmp_path / "planes.tif", planes, photometric="rgb", planarconfig="separate")
    with pytest.raises(ImageLoadError, match="planes.tif: a TIFF of 16-bit samples in "
                                             "separate colour planes"):
        load_image(path)
    _tiff(path, (planes >> 8).astype(np.uint8), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(load_image(path).pixels,
                                  np.moveaxis(planes >> 8, 0, -1).astype(np.uint8))


def test_a_layout_pillow_cannot_open_is_described_not_called_corrupt(tmp_path):
    gray_alpha = np.full((5, 6, 2), 65535, dtype=np.uint16)
    path = _tiff(tmp_path / "ga.tif", gray_alpha, photometric="minisblack", extrasamples=[2])
    with pytest.raises(ImageLoadError, match=r"ga.tif: a TIFF of 2 16-bit samples a pixel, 1 "
                                             r"of them extra, photometric "
                                             r"interpretation 1: a layout Pillow cannot read"):
        load_image(path)
    path.write_bytes(path.read_bytes()[:60])  # its tags cut off: no layout to describe
    with pytest.raises(ImageLoadError, match="ga.tif: corrupt or truncated TIFF file"):
        load_image(path)


def test_min_is_white_gray_is_inverted_at_every_depth_and_said(tmp_path):
    # Pillow inverts 8-bit MinIsWhite gray and not 16-bit: one picture read two ways
    from likeness.io.tiff import MIN_IS_WHITE

    stored = np.random.default_rng(10).integers(0, 256, (5, 6), dtype=np.uint8)
    eight = load_image(_tiff(tmp_path / "a.tif", stored, photometric="miniswhite"))
    sixteen = load_image(_tiff(tmp_path / "b.tif", stored.astype(np.uint16) * 257,
                               photometric="miniswhite"))
    np.testing.assert_array_equal(eight.pixels[..., 0], 255 - stored)
    np.testing.assert_array_equal(sixteen.pixels[..., 0], (255 - stored.astype(np.uint16)) * 257)
    assert MIN_IS_WHITE in eight.decisions
    assert MIN_IS_WHITE in sixteen.decisions
    black = load_image(_tiff(tmp_path / "c.tif", stored, photometric="minisblack"))
    assert black.decisions == ()


def test_16_bits_opencv_reads_otherwise_are_refused(tmp_path, monkeypatch):
    # the OpenCV route is for 16-bit colour; a layout it reads as 8 bits or with other
    # channels would be taken for the file's pixels
    rgb16 = np.random.default_rng(11).integers(0, 65536, (4, 5, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a.tif"), rgb16[:, :, ::-1])
    monkeypatch.setattr(cv2, "imdecode", lambda *_: (rgb16 >> 8).astype(np.uint8))
    with pytest.raises(ImageLoadError, match="a.tif: OpenCV reads this file of 3 16-bit "
                                             "samples a pixel as 3 uint8 samples"):
        load_image(tmp_path / "a.tif")


@pytest.mark.parametrize(("dtype", "decoder"), [(np.uint8, "Pillow"), (np.uint16, "OpenCV")])
def test_a_tiff_of_a_compression_the_decoders_lack_is_named_not_called_corrupt(
        tmp_path, dtype, decoder):
    # Zstandard, WebP, LERC, JPEG XL in TIFF: valid files, "corrupt or truncated" before
    import tifffile

    pixels = np.random.default_rng(15).integers(0, 200, (8, 9, 3)).astype(dtype)
    path = _tiff(tmp_path / "a.tif", pixels, photometric="rgb")
    with tifffile.TiffFile(path) as tiff:
        offset = tiff.pages[0].tags["Compression"].valueoffset
    data = bytearray(path.read_bytes())
    data[offset:offset + 2] = (50001).to_bytes(2, "little")  # WebP, data left as it was
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match=f"a.tif: a TIFF compressed with WebP \\(Compression "
                                             f"50001\\), which {decoder} could not decode"):
        load_image(path)


def test_a_jpeg_compressed_tiff_is_said_to_be_lossy(tmp_path, rgb8):
    # a TIFF is taken for lossless; one whose pixels went through JPEG is as lossy as a .jpg
    from likeness.io.tiff import JPEG_IN_TIFF

    Image.fromarray(rgb8).save(tmp_path / "lossy.tif", compression="jpeg")
    Image.fromarray(rgb8).save(tmp_path / "lossless.tif", compression="tiff_lzw")
    assert load_image(tmp_path / "lossy.tif").decisions == (JPEG_IN_TIFF,)
    assert load_image(tmp_path / "lossless.tif").decisions == ()


THUMBNAIL_FIRST = ("page 2 of the TIFF read: page 1 is a reduced-resolution copy of it (a "
                   "thumbnail)")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_a_tiffs_image_is_read_past_a_thumbnail_on_its_first_page(tmp_path, dtype, channels):
    # Pillow and OpenCV read a TIFF's first page, which scanners and cameras may make a
    # reduced-resolution copy (NewSubfileType 1) of the image that follows
    import tifffile

    top = 65536 if dtype == np.uint16 else 256
    shape = (40, 48, channels) if channels > 1 else (40, 48)
    full = np.random.default_rng(13).integers(0, top, shape).astype(dtype)
    path = tmp_path / "a.tif"
    photometric = "rgb" if channels > 1 else "minisblack"
    tifffile.imwrite(path, full[::4, ::4].copy(), photometric=photometric, subfiletype=1)
    tifffile.imwrite(path, full, photometric=photometric, append=True)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.pixels, full.reshape(40, 48, channels))
    assert loaded.decisions == (THUMBNAIL_FIRST,)
    # a pyramid (the image, then its reduced copies) is one image: nothing to say
    tifffile.imwrite(path, full, photometric=photometric)
    tifffile.imwrite(path, full[::2, ::2].copy(), photometric=photometric, subfiletype=1,
                     append=True)
    assert load_image(path).decisions == ()
    # other images after the thumbnail: the first of them, and said
    tifffile.imwrite(path, full[::4, ::4].copy(), photometric=photometric, subfiletype=1)
    tifffile.imwrite(path, full, photometric=photometric, append=True)
    tifffile.imwrite(path, full[::-1].copy(), photometric=photometric, append=True)
    again = load_image(path)
    np.testing.assert_array_equal(again.pixels, full.reshape(40, 48, channels))
    assert again.decisions == (THUMBNAIL_FIRST,
                               "first of 2 frames used (animated or multi-page TIFF)")
    tifffile.imwrite(path, full, photometric=photometric)


def test_a_tiff_whose_pages_are_all_previews_of_a_raw_image_is_refused(tmp_path):
    # a DNG (or camera raw file) renamed .tif: its first page is a reduced-resolution
    # preview, the image itself in a SubIFD that Pillow and OpenCV never read
    import tifffile

    rng = np.random.default_rng(14)
    path = tmp_path / "raw.tif"
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8), photometric="rgb",
                   subfiletype=1, subifds=1)
        tiff.write(rng.integers(0, 65536, (32, 40), dtype=np.uint16), subfiletype=0)
    with pytest.raises(ImageLoadError, match="raw.tif: every page of this TIFF is a "
                                             "reduced-resolution copy .* kept in a SubIFD"):
        load_image(path)
    lone = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)  # a thumbnail saved alone
    _tiff(path, lone, photometric="rgb", subfiletype=1)
    np.testing.assert_array_equal(load_image(path).pixels, lone)


def _palette_png(path: Path, indices: bytes, palette: bytes) -> Path:
    """An 8-bit palette PNG of one row of ``indices``, its PLTE ``palette``."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", len(indices), 1, 8, 3, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", palette)
                     + chunk(b"IDAT", zlib.compress(b"\0" + indices)) + chunk(b"IEND", b""))
    return path


def test_palette_indices_beyond_the_palette_are_refused_not_read_as_black(tmp_path):
    # the PNG and GIF specifications call such an index an error; Pillow, libpng and
    # browsers show it black: a colour the file never defined

    two = bytes([255, 0, 0, 0, 255, 0])
    path = _palette_png(tmp_path / "a.png", bytes([0, 1, 5, 1]), two)
    with pytest.raises(ImageLoadError, match=r"a.png: its pixels use palette index 5, beyond "
                                             r"its palette of 2 colours: their colour is not "
                                             r"defined"):
        load_image(path)
    _palette_png(path, bytes([0, 1, 1, 0]), two)
    np.testing.assert_array_equal(load_image(path).pixels[0],
                                  [[255, 0, 0], [0, 255, 0], [0, 255, 0], [255, 0, 0]])
    # a BMP whose colours-used count is below its indices, a GIF's table likewise
    indices = Image.fromarray(np.array([[0, 1, 2, 3]], dtype=np.uint8), "P")
    indices.putpalette([9, 9, 9] * 256)
    indices.save(tmp_path / "b.bmp")
    data = bytearray((tmp_path / "b.bmp").read_bytes())
    data[46:50] = (2).to_bytes(4, "little")  # biClrUsed: 2 colours
    (tmp_path / "b.bmp").write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match="b.bmp: its pixels use palette index 3, beyond "
                                             "its palette of 2 colours"):
        load_image(tmp_path / "b.bmp")


def test_a_tgas_last_sample_is_alpha_only_where_its_header_says(tmp_path):
    # Pillow reads a 32-bit TGA's fourth byte as alpha even where the header declares no
    # alpha bits: a file whose padding byte is 0 was fully transparent (`--alpha white`:
    # a white image), one whose byte varies composited by it
    from likeness.io.alpha import TGA_UNDECLARED_ALPHA

    rgba = np.random.default_rng(12).integers(0, 256, (6, 7, 4), dtype=np.uint8)
    for name, fourth in (("varies.tga", rgba[..., 3]), ("zero.tga", 0)):
        pixels = rgba.copy()
        pixels[..., 3] = fourth
        Image.fromarray(pixels).save(tmp_path / name)
        data = bytearray((tmp_path / name).read_bytes())
        assert data[17] & 0x0F == 8  # Pillow declares its alpha
        data[17] &= 0xF0  # no alpha bits
        (tmp_path / name).write_bytes(bytes(data))
        for alpha in (None, "white"):
            image = load_image(tmp_path / name, alpha=alpha)
            np.testing.assert_array_equal(image.pixels, rgba[..., :3])
            assert image.decisions == ((TGA_UNDECLARED_ALPHA,) if name == "varies.tga"
                                       else ())
    Image.fromarray(rgba).save(tmp_path / "declared.tga")  # 8 alpha bits: alpha it is
    with pytest.raises(ImageLoadError, match="real transparency"):
        load_image(tmp_path / "declared.tga")


@pytest.mark.parametrize(("maxval", "said"), [(15, "× 17"), (100, "× 2.55"), (255, None)])
def test_pgm_samples_below_8_bits_are_scaled_and_said(tmp_path, maxval, said):
    # Pillow scales a maxval below 255 to 0-255: a data range decided unsaid, where a
    # maxval between 255 and 65535 is refused

    path = tmp_path / "a.pgm"
    path.write_bytes(f"P5\n3 1\n{maxval}\n".encode() + bytes([0, maxval // 3, maxval]))
    image = load_image(path)
    assert image.pixels[0, 2, 0] == 255
    assert image.decisions == ((f"PGM/PPM samples of maxval {maxval} scaled to 0-255 (by "
                                f"Pillow, {said}): data range 255",) if said else ())


def test_a_jpeg_of_12_bit_samples_is_named_not_called_corrupt(tmp_path, rgb8):
    Image.fromarray(rgb8).save(tmp_path / "a.jpg", quality=95)
    data = bytearray((tmp_path / "a.jpg").read_bytes())
    frame = data.find(b"\xff\xc0")
    data[frame + 1], data[frame + 4] = 0xC1, 12  # extended sequential, 12-bit samples
    (tmp_path / "deep.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match=r"deep.jpg: a JPEG of 12-bit samples, which "
                                             r"Pillow \(and the reference tools\) do not read"):
        load_image(tmp_path / "deep.jpg")
    data[frame + 4] = 99  # no precision a JPEG can have: damaged
    (tmp_path / "damaged.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match="damaged.jpg: corrupt or truncated JPEG file"):
        load_image(tmp_path / "damaged.jpg")


@pytest.mark.parametrize(("head", "said"), [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n",
     "a Git LFS pointer, not the file it stands for (a repository cloned without its "
     "large files): fetch them with git lfs pull"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
     "a HEIF/HEIC image (as phones save photos): convert it to PNG"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "an AVIF image"),
    (b"%PDF-1.7\n", "a PDF document"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">', "an SVG drawing"),
    (b"<!DOCTYPE html><html><body>Not Found</body></html>", "an HTML page"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 ", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51\x00\x2f", "a JPEG 2000 codestream"),
    (b"II\xbc\x01\x08\x00\x00\x00", "a JPEG XR image"),
    (b"qoif\x00\x00\x00\x10\x00\x00\x00\x10\x03\x00", "a QOI image"),
    (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n", "a Radiance HDR image"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '|u1'", "a NumPy array file (.npy)"),
    (bytes(128) + b"DICM\x02\x00\x00\x00", "a DICOM file"),
    (b"\xff\xd8\xff\xf7\x00\x0b\x08\x00\x10\x00\x10\x01\x01\x11\x00\xff\xd9",
     "a JPEG-LS image, which Pillow (and the reference tools) do not read"),
    (b"hello", "not an image file likeness can read: its first bytes are those of no "
               "supported format")])
def test_a_file_of_another_kind_is_named(tmp_path, head, said):
    # a dataset cloned without Git LFS, a phone's photos renamed .png, a failed download
    (tmp_path / "a.png").write_bytes(head + bytes(64))
    with pytest.raises(ImageLoadError, match=f"a.png: {re.escape(said)}"):
        load_image(tmp_path / "a.png")


@pytest.mark.parametrize("kind", [b"zTXt", b"iCCP"])
def test_metadata_past_pillows_bomb_limits_is_named_not_called_corrupt(tmp_path, rgb8, kind):
    # a PNG's text (a generator's workflow) or profile chunk inflating past 1 MB: Pillow
    # refuses the file at opening, which was "corrupt or truncated PNG file (ValueError …)"
    import struct
    import zlib

    Image.fromarray(rgb8).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    body = b"Comment\0\0" + zlib.compress(b"x" * (4 << 20))
    chunk = (struct.pack(">I", len(body)) + kind + body
             + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    (tmp_path / "a.png").write_bytes(data[:33] + chunk + data[33:])
    with pytest.raises(ImageLoadError, match="a.png: its text or colour-profile chunks "
                                             "decompress past the limits Pillow sets"):
        load_image(tmp_path / "a.png")


def test_a_file_holding_another_format_than_its_name_says_is_said(tmp_path, rgb8):
    # a model's outputs saved as JPEG under .png names are lossy whatever they are called
    Image.fromarray(rgb8).save(tmp_path / "lossy.png", format="JPEG")
    Image.fromarray(rgb8).save(tmp_path / "lossless.jpg", format="PNG")
    Image.fromarray(rgb8).save(tmp_path / "plain.png")
    assert load_image(tmp_path / "lossy.png").decisions == (
        "named .png but holds JPEG data: decoded as JPEG",)
    assert load_image(tmp_path / "lossless.jpg").decisions == (
        "named .jpg but holds PNG data: decoded as PNG",)
    assert load_image(tmp_path / "plain.png").decisions == ()


@pytest.mark.parametrize("bits", [8, 16])
def test_an_extra_sample_of_unspecified_meaning_is_no_alpha_at_either_depth(tmp_path, bits):
    # ExtraSamples 0: Pillow drops it at 8 bits; OpenCV read it as alpha at 16, so the same
    # image was opaque at 8 bits and refused (or composited by it) at 16
    rgbx = np.random.default_rng(13).integers(0, 256, (5, 6, 4)).astype(np.uint16)
    scale, dtype = (257, np.uint16) if bits == 16 else (1, np.uint8)
    path = _tiff(tmp_path / "rgbx.tif", (rgbx * scale).astype(dtype), photometric="rgb",
                 extrasamples=[0])
    image = load_image(path)
    np.testing.assert_array_equal(image.pixels, (rgbx[..., :3] * scale).astype(dtype))
    assert image.decisions == ()
    _tiff(path, (rgbx * scale).astype(dtype), photometric="rgb", extrasamples=[2])
    with pytest.raises(ImageLoadError, match="real transparency"):  # alpha it is
        load_image(path)


@pytest.mark.parametrize(("photometric", "dtype", "said"), [
    ("separated", np.uint16, "a TIFF of 16-bit CMYK colours (photometric interpretation 5), "
                             "which likeness does not read at more than 8 bits"),
    ("cielab", np.uint8, "a TIFF of CIELab colours (photometric interpretation 8), which "
                         "likeness does not read"),
    ("cielab", np.uint16, "a TIFF of CIELab colours")])
def test_colours_likeness_does_not_read_are_named(tmp_path, photometric, dtype, said):
    # 16-bit CMYK was "corrupt or truncated (OpenCV could not decode it)", Lab an
    # "unsupported pixel mode 'LAB'" or a layout "Pillow cannot read"
    channels = 4 if photometric == "separated" else 3
    pixels = np.full((4, 5, channels), 100, dtype=dtype)
    path = _tiff(tmp_path / "a.tif", pixels, photometric=photometric)
    with pytest.raises(ImageLoadError, match=f"a.tif: {re.escape(said)}"):
        load_image(path)
    if photometric == "separated":  # 8-bit CMYK: Pillow converts it, and says so
        _tiff(path, pixels.astype(np.uint8), photometric=photometric)
        assert load_image(path).decisions == ("CMYK converted to RGB (Pillow)",)


def test_resolved_paths_resolve_linked_folders_and_links_to_files(tmp_path):
    """A folder's real path is resolved once and joined with each name; a link to a file
    is resolved on its own: the same real paths as ``os.path.realpath`` of each file."""
    from likeness.io import resolved_paths

    real_folder = tmp_path / "real"
    real_folder.mkdir()
    for name in ("a.png", "b.png"):
        (real_folder / name).write_bytes(b"x")
    (tmp_path / "linked").symlink_to(real_folder, target_is_directory=True)
    (tmp_path / "alias.png").symlink_to(real_folder / "b.png")
    files = [tmp_path / "linked" / "a.png", tmp_path / "linked" / "b.png",
             tmp_path / "alias.png", real_folder / "a.png"]
    assert resolved_paths(files) == {path: os.path.realpath(path) for path in files}


def test_a_run_that_keeps_nothing_keys_a_file_and_a_link_to_it_alike(tmp_path):
    """Without the cache a file's key is its real path and stamp (not its content hash):
    a link and its target are one file, whatever path reaches it."""
    from likeness.evaluation.engines.local import hash_files

    target = tmp_path / "a.png"
    target.write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(target)
    keys, errors = hash_files([target, tmp_path / "link.png", tmp_path / "gone.png"], None,
                              1, by_content=False)
    assert keys[target] == keys[tmp_path / "link.png"]
    assert keys[target].startswith(f"file:{os.path.realpath(target)}:")
    assert list(errors) == [tmp_path / "gone.png"]


def _counting_realpath(monkeypatch):
    """``os.path.realpath``, counted: each call takes a system call a part of its path."""
    calls = []
    real = os.path.realpath

    def counted(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os.path, "realpath", counted)
    return calls


def test_a_scan_resolves_real_paths_only_at_the_top_and_at_links(tmp_path, monkeypatch):
    """A folder's real path is its parent's with its name unless it is a link: the scan
    resolved every folder's by ``os.path.realpath``, a system call per part of its path
    (a tree 1,100 folders deep: 610,000 of them, 17 s); the same images, and the same
    folders reached twice said."""
    from likeness.io import scan_folder

    top = tmp_path / "set"
    level = top
    for depth in range(40):
        level = level / f"d{depth}"
        level.mkdir(parents=True)
        (level / f"{depth}.png").write_bytes(b"")
    elsewhere = tmp_path / "store"
    (elsewhere / "inner").mkdir(parents=True)
    (elsewhere / "inner" / "s.png").write_bytes(b"")
    (top / "linked").symlink_to(elsewhere)
    calls = _counting_realpath(monkeypatch)
    found, _ = scan_folder(top)
    assert len(found) == 41
    assert top / "linked" / "inner" / "s.png" in found
    assert calls == [os.fspath(top), os.fspath(top / "linked")]
    (elsewhere / "inner" / "back").symlink_to(top / "d0" / "d1")  # reached twice
    with pytest.raises(PairingError, match="d1 again, through a link"):
        scan_folder(top)


def test_a_manifests_files_are_told_apart_by_real_paths_resolved_once_a_folder(
        tmp_path, monkeypatch):
    """A pairs CSV's and a style manifest's rows were told apart (the same pair twice, a
    file compared with itself) by ``os.path.realpath`` of each file of each row; now each
    folder's once, a link on its own: the same refusals."""
    from likeness.evaluation.items.plan import make_plan
    from likeness.evaluation.items.triplets import find_triplets

    for folder in ("ref", "out", "content", "style", "stylized"):
        (tmp_path / folder).mkdir()
    rows = ["reference,test"]
    for number in range(20):
        for folder in ("ref", "out", "content", "stylized"):
            (tmp_path / folder / f"{number}.png").write_bytes(b"")
        rows.append(f"ref/{number}.png,out/{number}.png")
    (tmp_path / "style" / "s.png").write_bytes(b"")
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "manifest.csv").write_text("content,style,stylized\n" + "".join(
        f"{number}.png,s.png,{number}.png\n" for number in range(20)))
    calls = _counting_realpath(monkeypatch)
    assert len(make_plan(None, {}, pairs_csv=tmp_path / "pairs.csv").items) == 20
    triplets, _ = find_triplets(tmp_path / "content", tmp_path / "style",
                                {"m": tmp_path / "stylized"}, tmp_path / "manifest.csv")
    assert len(triplets) == 20
    assert len(calls) <= 10  # the folders' and the manifests' (was 40 + 60 more)
    (tmp_path / "out" / "alias.png").symlink_to(tmp_path / "ref" / "0.png")
    (tmp_path / "pairs.csv").write_text("reference,test\nref/0.png,out/../out/alias.png\n")
    with pytest.raises(PairingError, match="line 2: the reference and the test are the same"):
        make_plan(None, {}, pairs_csv=tmp_path / "pairs.csv")


def test_pillows_large_image_warning_is_a_decision_or_named_for_what_it_is(tmp_path,
                                                                          monkeypatch):
    """Beyond ``MAX_IMAGE_PIXELS`` Pillow warns and decodes: the image's decision says so;
    where the caller's filters make warnings errors (pytest's here), the file was called
    "corrupt or truncated"."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(path)
    with pytest.raises(ImageLoadError, match=r"exceeds limit of 1000 pixels.* \(a warning "
                       r"of its decoder's, an error in this process by its warning "
                       r"filters\): let PIL\.Image\.DecompressionBombWarning through, or "
                       r"raise PIL\.Image\.MAX_IMAGE_PIXELS") as error:
        load_image(path)
    assert "corrupt" not in str(error.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = load_image(path)
    assert image.decisions == ("40x40 pixels decoded, more than Pillow's decompression-bomb "
                               "warning limit of 1,000 (refused beyond 2,000)",)
