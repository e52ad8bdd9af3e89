"""An embedded ICC profile other than sRGB is not applied (values as stored, as the
references read them) and the decision is recorded, naming the profile, in every format
that carries one and in every output; an sRGB profile is no decision.  So is every other
way a file says what its colours mean: a PNG's cICP, gAMA and cHRM chunks (in the PNG
specification's order of precedence), a BMP's V4/V5 colour space, a camera's EXIF Adobe
RGB."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import likeness
from likeness.io import load_image
from likeness.io.profiles import declared_colours, profile_decision

LAB = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
NOT_APPLIED = ("not applied (pixel values read as stored, as the reference implementations "
               "read them)")
LAB_DECISION = ("ICC profile 'Lab identity built-in' not applied (pixel values read as "
                "stored, as the reference implementations read them)")


def _pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_a_foreign_profile_is_named_and_the_values_are_those_stored(tmp_path, suffix):
    pixels = _pixels(0)
    options = {"lossless": True} if suffix == ".webp" else {}
    plain, profiled, srgb = (tmp_path / f"{name}{suffix}" for name in ("plain", "lab", "srgb"))
    Image.fromarray(pixels).save(plain, **options)
    Image.fromarray(pixels).save(profiled, icc_profile=LAB, **options)
    Image.fromarray(pixels).save(srgb, icc_profile=SRGB, **options)
    loaded = load_image(profiled)
    assert LAB_DECISION in loaded.decisions
    np.testing.assert_array_equal(loaded.pixels, load_image(plain).pixels)
    assert not any("ICC" in d for d in load_image(srgb).decisions)
    assert not any("ICC" in d for d in load_image(plain).decisions)


@pytest.mark.parametrize("profile", [
    b"not a profile",
    SRGB[:16] + b"\x90" * 4 + SRGB[20:],  # littlecms opens it; its colour space is no name
])
def test_a_damaged_profile_is_said_so(tmp_path, profile):
    Image.fromarray(_pixels(1)).save(tmp_path / "a.png", icc_profile=profile)
    assert ("ICC profile unreadable, not applied (pixel values read as stored)"
            in load_image(tmp_path / "a.png").decisions)
    assert profile_decision(SRGB) is None


@pytest.mark.parametrize("compressed", [b"not zlib data", b""], ids=["garbage", "empty"])
def test_a_pngs_profile_that_does_not_decompress_is_said_so(tmp_path, compressed):
    """A PNG's iCCP chunk whose profile does not inflate: Pillow drops it without a word
    (its ``icc_profile`` None), and the image was read as sRGB, as if it declared nothing."""
    data = _png_with(_pixels(1), _chunk(b"iCCP", b"camera\x00\x00" + compressed))
    (tmp_path / "a.png").write_bytes(data)
    assert load_image(tmp_path / "a.png").decisions == (
        "ICC profile unreadable, not applied (pixel values read as stored)",)


def test_the_decision_reaches_the_record_and_the_methods_paragraph(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    Image.fromarray(_pixels(2)).save(ref / "a.png")
    Image.fromarray(_pixels(3)).save(out / "a.png", icc_profile=LAB)
    results = likeness.compare(ref, out, metrics="ssim", out_dir=tmp_path / "run",
                               cache=False)
    assert f"test: {LAB_DECISION}" in results.record["decisions"]
    assert LAB_DECISION in (tmp_path / "run" / "methods.md").read_text()
    Image.fromarray(_pixels(3)).save(out / "a.png")  # the same values, no profile
    again = likeness.compare(ref, out, metrics="ssim", cache=False)
    assert again.rows[0].values == results.rows[0].values


def test_set_features_record_the_decision(tmp_path, fid_weights):
    from likeness.evaluation.infra.cache import Cache
    from likeness.evaluation.sets.features import FeatureExtractor, set_features

    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(_pixels(4)).save(folder / "a.jpg", icc_profile=LAB)
    Image.fromarray(_pixels(5)).save(folder / "b.png")
    with Cache(tmp_path / "cache.sqlite") as cache:
        image_set = set_features(folder, FeatureExtractor(weights=fid_weights), cache)
    assert image_set.decisions == {LAB_DECISION: 1}


def test_a_profile_is_read_from_the_header_alone(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(_pixels(6)).save(buffer, format="PNG", icc_profile=LAB)
    data = buffer.getvalue()
    cut = Path(tmp_path / "cut.png")
    cut.write_bytes(data[:data.index(b"IDAT") + 20])  # the pixels cut short
    with open(cut, "rb") as file, Image.open(file) as image:
        assert declared_colours(image, file) == [LAB_DECISION]


# -- a profile is judged by what it does, not by its name ---------------------------------

SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
P3_COLORANTS = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


def _srgb_curve(points: int) -> np.ndarray:
    values = np.linspace(0, 1, points)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _matrix_profile(name: str, curve: float | np.ndarray | None,
                    colorants: tuple = SRGB_COLORANTS, space: bytes = b"RGB ") -> bytes:
    """An ICC v2 display profile (matrix and tone curves, as cameras, phones and image
    editors embed them): ``curve`` a gamma, a table of points, or None for linear values."""
    def number(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(point: tuple) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(number(v) for v in point)

    if curve is None:
        trc = b"curv\0\0\0\0" + struct.pack(">I", 0)
    elif isinstance(curve, float):
        trc = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(curve * 256)) + b"\0\0"
    else:
        table = np.round(curve * 65535).astype(">u2").tobytes()
        trc = b"curv\0\0\0\0" + struct.pack(">I", len(curve)) + table + bytes(len(table) % 4)
    text = name.encode() + b"\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(79)),
            (b"wtpt", xyz((0.9642, 1.0, 0.8249)))]
    if space == b"RGB ":
        tags += [(b"rXYZ", xyz(colorants[0])), (b"gXYZ", xyz(colorants[1])),
                 (b"bXYZ", xyz(colorants[2])), (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    else:
        tags += [(b"kTRC", trc)]
    start = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", start + len(body), len(data))
        body += data
    header = (struct.pack(">I4sI4s4s4s", start + len(body), b"lcms", 0x02100000, b"mntr",
                          space, b"XYZ ") + bytes(12) + b"acsp" + bytes(28)
              + number(0.9642) + number(1.0) + number(0.8249) + bytes(48))
    return header + struct.pack(">I", len(tags)) + table + body


@pytest.mark.parametrize(("name", "curve", "colorants", "levels"), [
    ("c2", _srgb_curve(26), SRGB_COLORANTS, None),  # Facebook's compact sRGB, 26 points
    ("Display", _srgb_curve(1024), SRGB_COLORANTS, None),  # sRGB under another name
    ("sRGB gamma 2.2", 2.2, SRGB_COLORANTS, None),  # calls itself sRGB, near enough
    ("GIMP built-in Linear sRGB", None, SRGB_COLORANTS, 73),  # linear light, named sRGB
    ("sRGB-elle-V2-g18", 1.8, SRGB_COLORANTS, 19),
    ("gamma 2.2", 2.2, SRGB_COLORANTS, 9),  # does not call itself sRGB: held to 2 levels
    ("Display P3", _srgb_curve(1024), P3_COLORANTS, "any"),
])
def test_a_profile_is_judged_by_the_colours_it_shows(tmp_path, name, curve, colorants,
                                                       levels):
    """As a colour-managed viewer shows them (littlecms, relative colorimetric): within 2
    levels of 255 of sRGB's colours a profile is sRGB whatever its name; one that calls
    itself sRGB is allowed 12, and a linear "Linear sRGB" is not taken at its word."""
    path = tmp_path / "a.png"
    Image.fromarray(_pixels(20)).save(path, icc_profile=_matrix_profile(name, curve, colorants))
    decisions = [d for d in load_image(path).decisions if "ICC" in d]
    if levels is None:
        assert decisions == []
    else:
        assert len(decisions) == 1
        assert decisions[0].startswith(f"ICC profile '{name}' (colours up to ")
        assert decisions[0].endswith(f"/255 from sRGB's) {NOT_APPLIED}")
        if levels != "any":
            assert f"up to {levels}/255" in decisions[0]


def test_a_profile_is_said_unread_by_a_pillow_without_littlecms(monkeypatch):
    import sys

    import PIL

    from likeness.io import profiles

    monkeypatch.setitem(sys.modules, "PIL.ImageCms", None)  # its import fails, as there
    monkeypatch.delattr(PIL, "ImageCms", raising=False)
    profiles._decision.cache_clear()
    try:
        assert profile_decision(SRGB + b" ") == (
            "ICC profile not read (this Pillow was built without littlecms), not applied "
            "(pixel values read as stored)")
    finally:
        profiles._decision.cache_clear()


def test_a_profiles_name_is_recorded_with_its_control_characters_escaped(tmp_path):
    """A profile's name is what its file says: a hostile one would clear the screen of
    whoever reads methods.md or per_image.csv in a terminal, as file names never do."""
    path = tmp_path / "a.png"
    profile = _matrix_profile("evil\x1b[2J\x1b[31mred\x07\x08name", 1.8)
    Image.fromarray(_pixels(22)).save(path, icc_profile=profile)
    assert load_image(path).decisions == (
        "ICC profile 'evil\\x1b[2J\\x1b[31mred\\x07\\x08name' (colours up to 19/255 from "
        f"sRGB's) {NOT_APPLIED}",)


@pytest.mark.parametrize(("name", "curve", "space", "expected"), [
    ("GIMP built-in D65 Grayscale with sRGB TRC", _srgb_curve(1024), b"GRAY", None),
    ("sGrey", _srgb_curve(26), b"GRAY", None),
    ("Gray Gamma 2.2", 2.2, b"GRAY", "ICC profile 'Gray Gamma 2.2' (colours up to 9/255 from "
                                     f"sRGB's) {NOT_APPLIED}"),
    ("sRGB linear gray", None, b"GRAY", "ICC profile 'sRGB linear gray' (colours up to 73/255 "
                                        f"from sRGB's) {NOT_APPLIED}"),
    ("sRGB", 2.2, b"CMYK", f"ICC profile 'sRGB' {NOT_APPLIED}"),  # a printer's, whatever its name
])
def test_a_gray_profile_is_judged_so_too_and_a_cmyk_one_is_never_srgb(tmp_path, name, curve,
                                                                      space, expected):
    path = tmp_path / "a.png"
    Image.fromarray(_pixels(21)[..., 0]).save(path, icc_profile=_matrix_profile(name, curve,
                                                                                 space=space))
    assert [d for d in load_image(path).decisions if "ICC" in d] == ([expected] if expected
                                                                      else [])


# -- what other declarations say ----------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _png_with(pixels: np.ndarray, *chunks: bytes) -> bytes:
    """A PNG of ``pixels`` with ``chunks`` after its IHDR (where colour chunks go)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[:33] + b"".join(chunks) + data[33:]  # signature (8) and IHDR (25)


def _gamma(value: int) -> bytes:
    return _chunk(b"gAMA", struct.pack(">I", value))


def _primaries(*points: float) -> bytes:
    return _chunk(b"cHRM", struct.pack(">8I", *(round(p * 100000) for p in points)))


SRGB_POINTS = (0.3127, 0.329, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06)
P3_POINTS = (0.3127, 0.329, 0.68, 0.32, 0.265, 0.69, 0.15, 0.06)


@pytest.mark.parametrize(("chunks", "expected"), [
    ((_gamma(100000),), [f"PNG gamma 1 (gAMA chunk: linear values; sRGB's is 0.45455) "
                         f"{NOT_APPLIED}"]),
    ((_gamma(55556),), [f"PNG gamma 0.55556 (gAMA chunk: sRGB's is 0.45455) {NOT_APPLIED}"]),
    ((_gamma(45455), _primaries(*SRGB_POINTS)), []),  # what libpng writes for sRGB
    ((_primaries(*P3_POINTS),), [f"PNG primaries of Display P3 (cHRM chunk), not sRGB's, "
                                 f"{NOT_APPLIED}"]),
    ((_primaries(0.3457, 0.3585, 0.7347, 0.2653, 0.1596, 0.8404, 0.0366, 0.0001),),
     ["PNG primaries of white (0.3457, 0.3585), red (0.7347, 0.2653), green (0.1596, "
      f"0.8404), blue (0.0366, 0.0001) (cHRM chunk), not sRGB's, {NOT_APPLIED}"]),
    ((_primaries(*[0.0] * 8),), []),  # unset
    ((_chunk(b"cICP", bytes([9, 16, 0, 1])),),
     [f"PNG colour space (cICP: BT.2020 primaries, PQ (HDR) transfer) {NOT_APPLIED}"]),
    ((_chunk(b"cICP", bytes([1, 1, 0, 0])),),
     ["PNG colour space (cICP: BT.709/sRGB primaries, BT.709 transfer, narrow (video) "
      f"range) {NOT_APPLIED}"]),
    # precedence: cICP over everything, then an ICC profile, then sRGB, then gAMA and cHRM
    ((_chunk(b"cICP", bytes([1, 13, 0, 1])), _gamma(100000)), []),
    ((_chunk(b"sRGB", b"\0"), _gamma(100000), _primaries(*P3_POINTS)), []),
    ((_chunk(b"iCCP", b"lab\0\0" + zlib.compress(LAB)), _gamma(100000)), [LAB_DECISION]),
    ((_chunk(b"iCCP", b"srgb\0\0" + zlib.compress(SRGB)), _gamma(100000)), []),
])
def test_what_a_pngs_chunks_say_of_its_colours_is_recorded(tmp_path, chunks, expected):
    pixels = _pixels(7)
    path = tmp_path / "a.png"
    path.write_bytes(_png_with(pixels, *chunks))
    loaded = load_image(path)
    assert list(loaded.decisions) == expected
    np.testing.assert_array_equal(loaded.pixels, pixels)


def test_a_16_bit_pngs_chunks_are_read_too(tmp_path):
    pixels = np.random.default_rng(8).integers(0, 65536, (12, 10, 3), dtype=np.uint16)
    import cv2

    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    data = encoded.tobytes()
    path = tmp_path / "a.png"
    path.write_bytes(data[:33] + _chunk(b"cICP", bytes([9, 18, 0, 1])) + data[33:])
    loaded = load_image(path)
    assert loaded.decisions == (
        f"PNG colour space (cICP: BT.2020 primaries, HLG (HDR) transfer) {NOT_APPLIED}",)
    np.testing.assert_array_equal(loaded.pixels, pixels[:, :, ::-1])


def _bmp_v5(pixels: np.ndarray, colour_space: bytes, profile: bytes = b"",
            endpoints: bytes = bytes(48)) -> bytes:
    """A 24-bit BMP with a BITMAPV5HEADER whose colour space is ``colour_space`` (its
    four characters as stored: little-endian), the profile data after the pixels."""
    height, width = pixels.shape[:2]
    stride = (width * 3 + 3) // 4 * 4
    rows = b"".join(pixels[y, :, ::-1].tobytes().ljust(stride, b"\0")
                    for y in range(height - 1, -1, -1))
    header = struct.pack("<IiiHHIIiiII", 124, width, height, 1, 24, 0, len(rows), 2835,
                         2835, 0, 0)
    header += bytes(16) + colour_space + endpoints
    header += struct.pack("<IIII", 4, 124 + len(rows) if profile else 0, len(profile), 0)
    body = header + rows + profile
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 14 + 124) + body


@pytest.mark.parametrize(("colour_space", "profile", "endpoints", "expected"), [
    (b"BGRs", b"", bytes(48), None),  # LCS_sRGB
    (b" niW", b"", bytes(48), None),  # LCS_WINDOWS_COLOR_SPACE
    (b"DEBM", SRGB, bytes(48), None),  # an embedded sRGB profile
    (b"DEBM", LAB, bytes(48), LAB_DECISION),
    (b"DEBM", b"not a profile", bytes(48),
     "ICC profile unreadable, not applied (pixel values read as stored)"),
    (b"KNIL", b"C:\\color\\AdobeRGB1998.icc\0", bytes(48),
     f"BMP linked colour profile 'C:\\color\\AdobeRGB1998.icc' {NOT_APPLIED}"),
    (b"KNIL", b"\x1b[2J\x1b]0;owned\x07.icc\0", bytes(48),  # a hostile file's own words
     f"BMP linked colour profile '\\x1b[2J\\x1b]0;owned\\x07.icc' {NOT_APPLIED}"),
    (bytes(4), b"", bytes(48), None),  # calibrated RGB left unset
    (bytes(4), b"", struct.pack("<12I", *[1 << 29] * 9, *[2 << 16] * 3),
     f"BMP calibrated RGB colour space (its header's endpoints and gamma) {NOT_APPLIED}"),
    (b"XYZW", b"", bytes(48), f"BMP colour space type b'WZYX' unknown, {NOT_APPLIED}"),
])
def test_a_bmps_colour_space_is_recorded(tmp_path, colour_space, profile, endpoints,
                                         expected):
    pixels = _pixels(9)[:7, :5]
    path = tmp_path / "a.bmp"
    path.write_bytes(_bmp_v5(pixels, colour_space, profile, endpoints))
    loaded = load_image(path)
    assert loaded.decisions == ((expected,) if expected else ())
    np.testing.assert_array_equal(loaded.pixels, pixels)


@pytest.mark.parametrize(("colour_space", "interoperability", "adobe"), [
    (0xFFFF, "R03", True),  # DCF's Adobe RGB option, as cameras write it
    (2, None, True),
    (0xFFFF, "R98", False),
    (1, "R03", False),  # sRGB said outright
    (0xFFFF, None, False),  # uncalibrated: nothing said
])
def test_a_cameras_exif_adobe_rgb_is_recorded(tmp_path, colour_space, interoperability,
                                              adobe):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA001] = colour_space
    if interoperability:
        exif.get_ifd(0x8769)[0xA005] = {1: interoperability}
    path = tmp_path / "a.jpg"
    Image.fromarray(_pixels(10)).save(path, exif=exif)
    decision = f"EXIF colour space Adobe RGB (a camera's, without a profile) {NOT_APPLIED}"
    assert load_image(path).decisions == ((decision,) if adobe else ())
    Image.fromarray(_pixels(10)).save(path, exif=exif, icc_profile=LAB)
    assert load_image(path).decisions == (LAB_DECISION,)  # the profile says it all


def test_a_hostile_pngs_chunks_end_the_search(tmp_path):
    """Thousands of chunks before cICP, or a chunk length (or a BMP's profile size) past
    the file's end: no hang, no read of that length, no error of the search itself (the
    decoder says what is wrong)."""
    pixels = _pixels(11)
    cicp = _chunk(b"cICP", bytes([12, 13, 0, 1]))
    many = _png_with(pixels, *[_chunk(b"tEXt", b"k\0v")] * 5000, cicp)
    (tmp_path / "many.png").write_bytes(many)
    assert load_image(tmp_path / "many.png").decisions == (
        f"PNG colour space (cICP: Display P3 primaries, sRGB transfer) {NOT_APPLIED}",)
    hostile = _png_with(pixels, struct.pack(">I", 0x7FFFFFF0) + b"cICP")  # never read
    (tmp_path / "hostile.png").write_bytes(hostile)
    with pytest.raises(likeness.ImageLoadError):
        load_image(tmp_path / "hostile.png")
    bmp = bytearray(_bmp_v5(pixels[:5, :4], b"DEBM", LAB))
    bmp[14 + 116:14 + 120] = (0xFFFFFFF0).to_bytes(4, "little")  # a profile past the end
    (tmp_path / "a.bmp").write_bytes(bytes(bmp))
    assert load_image(tmp_path / "a.bmp").decisions == (
        "ICC profile unreadable, not applied (pixel values read as stored)",)
    long = _png_with(pixels, struct.pack(">I", 0x7FFFFFF0) + b"zzZz")
    (tmp_path / "long.png").write_bytes(long)
    with pytest.raises(likeness.ImageLoadError):
        load_image(tmp_path / "long.png")
