"""A cached value carries the decisions of the run at hand, never those of the run that
computed it: runs with random settings, one after the other on one cache, write the same
per_image.csv and methods.md as fresh-cache runs, byte for byte, and the same run.json
and report apart from dates, timings and cache counts."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from PIL import Image

import likeness


@pytest.fixture
def folders(tmp_path):
    """RGB pairs, a gray pair, a transparent pair and a pair of two sizes."""
    rng = np.random.default_rng(3)

    def save(path, pixels, mode=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, mode).save(path)

    for name in ("a", "b"):
        base = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        save(tmp_path / "ref" / f"{name}.png", base)
        noisy = np.clip(base + rng.normal(0, 9, base.shape), 0, 255).astype(np.uint8)
        save(tmp_path / "out" / f"{name}.png", noisy)
    gray = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    save(tmp_path / "ref" / "g.png", gray)
    save(tmp_path / "out" / "g.png", np.clip(gray.astype(int) + 7, 0, 255).astype(np.uint8))
    rgba = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)
    rgba[:10, :, 3] = 0
    save(tmp_path / "ref" / "t.png", rgba)
    save(tmp_path / "out" / "t.png", np.roll(rgba, 2, axis=1))
    save(tmp_path / "ref" / "s.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    save(tmp_path / "out" / "s.png", rng.integers(0, 256, (36, 44, 3), dtype=np.uint8))
    return tmp_path


# settings that take decisions; drawn with replacement, so that a run often meets rows
# cached by a run with other settings (a restoration run between two plain ones, ...)
PROFILES = (
    {},
    {"y_channel": True, "crop_border": 3, "ssim_convention": "basicsr"},
    {"y_channel": True, "ssim_convention": "matlab"},
    {"crop_border": 3},
    {"gray": True},
    {"ssim_convention": "wang2004"},
)
METRIC_SETS = (["ssim", "psnr"], ["ssim", "gmsd", "lpips_alex"], ["psnr", "mse"],
               ["ssim", "psnr", "mse", "gmsd", "lpips_alex"])


def _random_settings(rng: random.Random) -> dict:
    return {"metrics": rng.choice(METRIC_SETS), **rng.choice(PROFILES),
            "resize": "reference" if rng.random() < 0.8 else None,
            "alpha": "white" if rng.random() < 0.8 else None}


_VOLATILE = ("started", "finished", "elapsed_s", "record_sha256")  # the digest signs them


def _stable_record(path):
    record = json.loads(path.read_text())
    for key in _VOLATILE:
        record.pop(key, None)
    record["arguments"].pop("cache", None)
    for counts in record.get("counts", {}).values():
        counts.pop("cached_pairs", None)
    return record


def _stable_report(path):
    # the run's start time appears in the report's header
    return re.sub(r"run \S+;", "run …;", path.read_text())


@pytest.mark.parametrize("seed", range(3))
def test_cached_rows_carry_the_decisions_of_the_run_at_hand(folders, stand_in, seed):
    rng = random.Random(seed)
    shared_cache = folders / f"cache-{seed}.sqlite"
    for step in range(6):
        settings = _random_settings(rng)
        runs = {}
        for label, cache in (("cached", shared_cache), ("fresh", False)):
            out = folders / f"{label}-{seed}-{step}"
            likeness.compare(folders / "ref", folders / "out", out_dir=out, cache=cache,
                             weights={"alexnet": stand_in["alexnet"]}, **settings)
            likeness.write_report(out)
            runs[label] = out
        cached, fresh = runs["cached"], runs["fresh"]
        for name in ("per_image.csv", "methods.md", "summary.csv", "summary.md"):
            assert (cached / name).read_bytes() == (fresh / name).read_bytes(), (
                name, settings)
        cached_record, fresh_record = (_stable_record(cached / "run.json"),
                                       _stable_record(fresh / "run.json"))
        # where the run computed: nowhere (null) when every value came from the cache
        assert cached_record.pop("device") in (None, fresh_record.pop("device"))
        assert cached_record == fresh_record
        assert _stable_report(cached / "report.html") == _stable_report(fresh / "report.html")
    # the cache served rows: the property is about cached rows, not about two fresh runs
    again = likeness.compare(folders / "ref", folders / "out", cache=shared_cache,
                             weights={"alexnet": stand_in["alexnet"]}, **settings)
    assert any(row.cached for row in again.rows)


def test_a_default_run_after_a_restoration_run_states_no_restoration(folders):
    cache = folders / "cache.sqlite"
    first = likeness.compare(folders / "ref", folders / "out", cache=cache, resize="reference",
                             alpha="white", out_dir=folders / "first")
    likeness.compare(folders / "ref", folders / "out", cache=cache, resize="reference",
                     alpha="white", y_channel=True, crop_border=4, ssim_convention="basicsr",
                     out_dir=folders / "restoration")
    third = likeness.compare(folders / "ref", folders / "out", cache=cache, resize="reference",
                             alpha="white", out_dir=folders / "third")
    assert all(row.cached for row in third.rows if not row.error)
    methods = (folders / "third" / "methods.md").read_text()
    assert "cropped" not in methods
    assert "Y channel" not in methods
    assert [r.notes for r in third.rows] == [r.notes for r in first.rows]
    restoration = (folders / "restoration" / "methods.md").read_text()
    assert "4-px border cropped" in restoration
    assert "Images are compared on the Y channel" in restoration
