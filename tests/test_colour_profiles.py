"""An embedded ICC profile other than sRGB is not applied (values as stored, as the
references read them) and the decision is recorded, naming the profile, in every format
that carries one and in every output; an sRGB profile is no decision."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import likeness
from likeness.io import load_image
from likeness.io.profiles import foreign_profile, profile_decision

LAB = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
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
    assert (foreign_profile(profiled), foreign_profile(srgb), foreign_profile(plain)) == (
        True, False, False)


def test_a_damaged_profile_is_said_so(tmp_path):
    Image.fromarray(_pixels(1)).save(tmp_path / "a.png", icc_profile=b"not a profile")
    assert ("ICC profile unreadable, not applied (pixel values read as stored)"
            in load_image(tmp_path / "a.png").decisions)
    assert profile_decision(SRGB) is None


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
    assert foreign_profile(cut)
    assert foreign_profile(tmp_path / "missing.png")  # unknown: counted as one
