"""The cache never serves values of an earlier arithmetic: a metric's cache key holds its
``MetricSpec.revision``, and this test fails when a pixel metric's value changed (under any
of its conventions) while its revision did not — the snapshot is likeness's own values,
made by references/make_cache_revisions.py."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import likeness
from likeness.evaluation.catalog.registry import METRICS

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = json.loads((ROOT / "tests" / "data" / "cache_revisions.json").read_text())


def _maker():
    spec = importlib.util.spec_from_file_location(
        "make_cache_revisions", ROOT / "references" / "make_cache_revisions.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


def test_every_pixel_metric_is_in_the_snapshot():
    assert sorted(SNAPSHOT["metrics"]) == MAKER.pixel_metrics(), (
        "run references/make_cache_revisions.py to add the new metric")


@pytest.mark.parametrize("metric", MAKER.pixel_metrics())
def test_a_changed_value_comes_with_a_new_revision(metric):
    pinned = SNAPSHOT["metrics"][metric]
    revision = METRICS[metric].revision
    if revision != pinned["revision"]:
        pytest.fail(f"{metric}'s revision is {revision}, the snapshot's "
                    f"{pinned['revision']}: run references/make_cache_revisions.py")
    for settings, value in MAKER.values_of(metric).items():
        expected = pinned["values"][settings]
        changed = (value != expected if isinstance(expected, str) or isinstance(value, str)
                   else abs(value - expected) > 1e-12 * max(1.0, abs(expected)))
        assert not changed, (
            f"{metric} ({settings}) gives {value}, the snapshot {expected}, under the same "
            f"revision {revision}: values cached by an earlier likeness would be served as "
            f"this one's — bump revision= in its catalog entry, then run "
            f"references/make_cache_revisions.py")


@pytest.mark.parametrize("metric", list(MAKER.STAND_IN_METRICS))
def test_a_changed_network_value_comes_with_a_new_revision(metric, stand_in):
    """The LPIPS metrics on the golden stand-in backbones: a value that moves by more than
    float32 arithmetic does across CPUs (1e-5 relative) needs a new metric or network
    revision."""
    pinned = SNAPSHOT["network_metrics"][metric]
    revisions = (METRICS[metric].revision, MAKER.network_revision(metric))
    if revisions != (pinned["revision"], pinned["network_revision"]):
        pytest.fail(f"{metric}'s revisions are {revisions}, the snapshot's "
                    f"{(pinned['revision'], pinned['network_revision'])}: run "
                    f"references/make_cache_revisions.py")
    value = MAKER.network_value(metric, stand_in)
    assert value == pytest.approx(pinned["value"], rel=1e-5), (
        f"{metric} gives {value}, the snapshot {pinned['value']}, under the same revisions: "
        f"bump revision= in its catalog entry or its network's record, then run "
        f"references/make_cache_revisions.py")


def test_the_revision_is_part_of_the_cache_key(tid2013_folders, tmp_path):
    """Values are stored under a key with the revision (above 1), so a cache an earlier
    likeness wrote (revision 1: no revision in the key) is not read for them."""
    cache = tmp_path / "cache.sqlite"
    likeness.compare(*tid2013_folders, metrics="ssim,fsim", convention="matlab", cache=cache)
    with sqlite3.connect(cache) as connection:
        namespaces = {row[0] for row in connection.execute("SELECT namespace FROM entries")}
    assert METRICS["fsim"].revision > 1
    fsim = [n for n in namespaces if n.startswith("item/v4/fsim/")]
    ssim = [n for n in namespaces if n.startswith("item/v4/ssim/")]
    assert fsim
    assert all(n.endswith(f"/revision={METRICS['fsim'].revision}") for n in fsim)
    assert ssim
    assert not any("/revision=" in n for n in ssim)


def test_a_network_revision_is_part_of_its_features_key(fid_weights, monkeypatch):
    """A network whose arithmetic changed (revision 2) keys its cached set features apart
    from an earlier release's; revision 1 keeps the keys as before."""
    from dataclasses import replace

    from likeness.evaluation.catalog import networks
    from likeness.evaluation.sets.extractor import FeatureExtractor

    before = FeatureExtractor(weights=fid_weights, device="cpu").namespace
    assert "revision" not in before
    monkeypatch.setitem(networks.NETWORKS, "pt_inception",
                        replace(networks.NETWORKS["pt_inception"], revision=2))
    after = FeatureExtractor(weights=fid_weights, device="cpu").namespace
    assert after == before + "/revision=2"


def test_a_network_revision_is_part_of_its_metrics_keys(stand_in, tid2013_folders, tmp_path,
                                                        monkeypatch):
    from dataclasses import replace

    from likeness.evaluation.catalog import networks

    monkeypatch.setitem(networks.NETWORKS, "lpips_alex",
                        replace(networks.NETWORKS["lpips_alex"], revision=3))
    cache = tmp_path / "cache.sqlite"
    likeness.compare(*tid2013_folders, metrics="lpips_alex", cache=cache,
                     weights={"alexnet": str(stand_in["alexnet"])})
    with sqlite3.connect(cache) as connection:
        namespaces = {row[0] for row in connection.execute("SELECT namespace FROM entries")}
    lpips = [n for n in namespaces if n.startswith("item/v4/lpips_alex/")]
    assert lpips
    assert all("/network-revision=3" in n for n in lpips)


# -- decisions cached before a new decision existed ---------------------------------------

def _eight_and_sixteen_bit(folder: Path, seed: int) -> Path:
    """a.png, 8-bit; b.png, 16-bit holding 8-bit values (the decision v6 added)."""
    from PIL import Image

    folder.mkdir()
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16))
    Image.fromarray(pixels.astype(np.uint8)).save(folder / "a.png")
    Image.fromarray(pixels.astype(np.uint16)).save(folder / "b.png")
    return folder


def _as_before(cache: Path, new: str, old: str, untaken: str = "") -> None:
    """Move the entries of namespaces containing ``new`` to ``old``, without the decision
    earlier versions never took (``untaken``; by default 8-bit values in 16 bits): the
    cache an earlier likeness left."""
    from likeness.io import EIGHT_BIT_VALUES_IN_16_BITS

    untaken = untaken or EIGHT_BIT_VALUES_IN_16_BITS
    with sqlite3.connect(cache) as db:
        found = db.execute("SELECT namespace, key, value FROM entries WHERE instr(namespace, ?)",
                           (new,)).fetchall()
        assert found
        db.execute("DELETE FROM entries WHERE instr(namespace, ?)", (new,))
        for namespace, key, value in found:
            record = json.loads(value)
            notes = record["notes"] if isinstance(record, dict) else record
            notes[:] = [n for n in notes if untaken not in n]
            db.execute("INSERT INTO entries VALUES (?, ?, ?)",
                       (namespace.replace(new, old), key, json.dumps(record).encode()))


def _reused_but(cache: Path, ref: Path, out: Path, earlier: str, untaken: str,
                redone: str, note: str) -> None:
    """With the item decisions moved back to ``earlier`` (without ``untaken``), a run
    reuses a.png's row and computes ``redone`` again, now with ``note``."""
    _as_before(cache, "item/v11/notes/", earlier, untaken)
    rows = {row.test: row for row in likeness.compare(ref, out, metrics="ssim",
                                                      cache=cache).rows}
    assert rows["a.png"].cached
    assert not rows[redone].cached
    assert any(note in each for each in rows[redone].notes)


def _features_reused_but_one(cache: Path, folder: Path, fid_weights: Path, earlier: str,
                             untaken: str) -> None:
    """With the feature decisions of ``folder`` moved back to ``earlier`` (without
    ``untaken``), one image's features are reused and the other's computed again, taking
    that decision once more."""
    from likeness.evaluation.infra.cache import Cache
    from likeness.evaluation.sets.features import FeatureExtractor, set_features

    extractor = FeatureExtractor(weights=fid_weights)
    with Cache(cache) as store:
        first = set_features(folder, extractor, store)
    _as_before(cache, "/decisions/v7", earlier, untaken)
    with Cache(cache) as store:
        again = set_features(folder, extractor, store)
    assert (first.cached, again.cached) == (0, 1)
    assert sum(count for note, count in again.decisions.items() if untaken in note) == 1
    np.testing.assert_array_equal(again.features, first.features)


def test_item_decisions_of_an_earlier_version_are_reused_only_where_still_whole(tmp_path):
    ref = _eight_and_sixteen_bit(tmp_path / "ref", 0)
    out = _eight_and_sixteen_bit(tmp_path / "out", 1)
    cache = tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    # 8-bit: its v5 decisions are whole; 16-bit: computed again, with the decision
    _reused_but(cache, ref, out, "item/v5/notes/", "8-bit values in 16 bits", "b.png",
                "8-bit values in 16 bits")


def test_feature_decisions_of_an_earlier_version_are_reused_only_where_still_whole(
        tmp_path, fid_weights):
    from likeness.io import EIGHT_BIT_VALUES_IN_16_BITS

    folder = _eight_and_sixteen_bit(tmp_path / "set", 0)
    # the 8-bit image's features reused
    _features_reused_but_one(tmp_path / "cache.sqlite", folder, fid_weights, "/decisions",
                             EIGHT_BIT_VALUES_IN_16_BITS)


def _with_a_turned_tiff(folder: Path, seed: int) -> Path:
    """a.png, and b.tif whose own orientation tag (6) its decoders apply (the decision v7
    of the notes and v3 of the feature decisions record)."""
    from PIL import Image

    folder.mkdir()
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 24, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    Image.fromarray(pixels).save(folder / "b.tif", tiffinfo={0x0112: 6})
    return folder


def test_decisions_cached_before_tiff_orientation_was_recorded_serve_no_tiff(tmp_path,
                                                                             fid_weights):
    """A TIFF item or image is computed again (values and all: a 16-bit colour TIFF was
    turned twice before), the others' decisions are reused."""

    ref = _with_a_turned_tiff(tmp_path / "ref", 0)
    out = _with_a_turned_tiff(tmp_path / "out", 1)
    cache = tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    for earlier in ("item/v6/notes/", "item/v8/notes/"):  # v9: a TIFF's associated alpha
        _reused_but(cache, ref, out, earlier, "EXIF orientation", "b.tif",
                    "orientation 6 applied")

    for earlier in ("/decisions/v2", "/decisions/v4"):  # v5: a TIFF's associated alpha
        _features_reused_but_one(tmp_path / f"{earlier[-2:]}.sqlite", ref, fid_weights,
                                 earlier, "EXIF orientation 6 applied")


def _with_a_profiled_jpeg(folder: Path, seed: int) -> Path:
    """a.png, and b.jpg carrying a profile other than sRGB (the decision v8 of the notes
    and v4 of the feature decisions record)."""
    from PIL import Image, ImageCms

    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    folder.mkdir()
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 24, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    Image.fromarray(pixels).save(folder / "b.jpg", icc_profile=lab)
    return folder


def test_decisions_cached_before_profiles_were_recorded_serve_no_profiled_file(tmp_path,
                                                                             fid_weights):
    """An item or image with a profile other than sRGB is computed again (its decision
    was never cached); the others' decisions are reused — from v7, and from v6 for the
    files that are no TIFF."""

    ref = _with_a_profiled_jpeg(tmp_path / "ref", 0)
    out = _with_a_profiled_jpeg(tmp_path / "out", 1)
    for earlier in ("item/v7/notes/", "item/v6/notes/"):
        cache = tmp_path / f"cache-{earlier.split('/')[1]}.sqlite"
        likeness.compare(ref, out, metrics="ssim", cache=cache)
        _reused_but(cache, ref, out, earlier, "ICC profile", "b.jpg",
                    "ICC profile 'Lab identity built-in'")

    _features_reused_but_one(tmp_path / "cache.sqlite", ref, fid_weights, "/decisions/v3",
                             "ICC profile")


def _with_twelve_bit_values(folder: Path, seed: int) -> Path:
    """a.png, 8-bit; b.png, 16-bit holding 12-bit values (the decision v9 of the notes and
    v5 of the feature decisions record)."""
    from PIL import Image

    folder.mkdir()
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16))
    Image.fromarray(pixels.astype(np.uint8)).save(folder / "a.png")
    Image.fromarray((pixels * 16).astype(np.uint16)).save(folder / "b.png")
    return folder


def test_decisions_cached_before_12_bit_values_were_noted_serve_no_16_bit_file(tmp_path,
                                                                              fid_weights):
    """A 16-bit item or image is computed again (it may hold 10- or 12-bit values, whose
    decision was never cached); an 8-bit one's decisions are reused — from v8 and v4."""

    ref = _with_twelve_bit_values(tmp_path / "ref", 0)
    out = _with_twelve_bit_values(tmp_path / "out", 1)
    cache = tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    _reused_but(cache, ref, out, "item/v8/notes/", "12-bit values", "b.png",
                "0-4095 (12-bit values in 16 bits?)")

    _features_reused_but_one(tmp_path / "features.sqlite", ref, fid_weights,
                             "/decisions/v4", "12-bit values")


def test_decisions_cached_before_a_bmps_fourth_byte_was_said_serve_no_bmp(tmp_path):
    """A BMP item is computed again from a v8 cache (v9 says a 32-bit BMP's varying fourth
    byte); a PNG item's decisions are reused."""
    from PIL import Image

    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        pixels = np.random.default_rng(len(folder)).integers(0, 256, (12, 12, 4))
        Image.fromarray(pixels[..., :3].astype(np.uint8)).save(tmp_path / folder / "a.png")
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / folder / "b.bmp")
    ref, out, cache = tmp_path / "ref", tmp_path / "out", tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    _reused_but(cache, ref, out, "item/v8/notes/", "fourth byte", "b.bmp",
                "fourth byte varies")


def _with_a_min_is_white_tiff(folder: Path, seed: int) -> Path:
    """a.png, 16-bit; b.tif, 16-bit MinIsWhite gray (inverted and said since notes v10 and
    feature decisions v6: read as stored before)."""
    import tifffile
    from PIL import Image

    folder.mkdir()
    pixels = np.random.default_rng(seed).integers(0, 65536, (16, 16)).astype(np.uint16)
    Image.fromarray(pixels).save(folder / "a.png")
    tifffile.imwrite(folder / "b.tif", pixels, photometric="miniswhite")
    return folder


def test_decisions_cached_before_min_is_white_was_read_serve_no_tiff(tmp_path, fid_weights):
    """A TIFF item or image is computed again, values and all (its gray is inverted now);
    v9's decisions of a 16-bit PNG are whole, and reused."""
    from likeness.io.tiff import MIN_IS_WHITE

    ref = _with_a_min_is_white_tiff(tmp_path / "ref", 0)
    out = _with_a_min_is_white_tiff(tmp_path / "out", 1)
    cache = tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    _reused_but(cache, ref, out, "item/v9/notes/", MIN_IS_WHITE, "b.tif", MIN_IS_WHITE)

    _features_reused_but_one(tmp_path / "features.sqlite", ref, fid_weights,
                             "/decisions/v5", MIN_IS_WHITE)


def test_decisions_cached_before_a_tgas_undeclared_alpha_was_ignored_serve_no_tga(tmp_path):
    """A TGA item is computed again from a v9 cache (v10 ignores the last sample of a TGA
    declaring no alpha bits, which Pillow reads as alpha); a PNG item's are reused."""
    from PIL import Image

    from likeness.io.alpha import TGA_UNDECLARED_ALPHA

    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        pixels = np.random.default_rng(len(folder)).integers(0, 256, (12, 12, 4))
        Image.fromarray(pixels[..., :3].astype(np.uint8)).save(tmp_path / folder / "a.png")
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / folder / "b.tga")
        data = bytearray((tmp_path / folder / "b.tga").read_bytes())
        data[17] &= 0xF0
        (tmp_path / folder / "b.tga").write_bytes(bytes(data))
    ref, out, cache = tmp_path / "ref", tmp_path / "out", tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    _reused_but(cache, ref, out, "item/v9/notes/", TGA_UNDECLARED_ALPHA, "b.tga",
                TGA_UNDECLARED_ALPHA)


def test_decisions_cached_before_a_misnamed_file_was_said_serve_none(tmp_path):
    """A JPEG saved as .png is computed again from a v9 cache (v10 says what it holds);
    a true PNG item's decisions are reused."""
    from PIL import Image

    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        pixels = np.random.default_rng(len(folder)).integers(0, 256, (12, 12, 3))
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / folder / "a.png")
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / folder / "b.png",
                                                      format="JPEG")
    ref, out, cache = tmp_path / "ref", tmp_path / "out", tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    _reused_but(cache, ref, out, "item/v9/notes/", "holds JPEG data", "b.png",
                "named .png but holds JPEG data")


def test_a_fresh_cache_reads_no_files_for_earlier_versions(tmp_path, monkeypatch):
    """Which items an earlier version's decisions may lack is asked only of items found
    there: ``named_for_new_decisions`` and ``takes_v11_decisions`` read a file's header,
    which a first run of 50,000 pairs need not pay."""
    from likeness.evaluation.engines import notes_cache

    asked: list[Path] = []
    monkeypatch.setattr(notes_cache, "named_for_new_decisions", asked.append)
    monkeypatch.setattr(notes_cache, "takes_v11_decisions", asked.append)
    ref = _eight_and_sixteen_bit(tmp_path / "ref", 0)
    out = _eight_and_sixteen_bit(tmp_path / "out", 1)
    likeness.compare(ref, out, metrics="ssim", cache=tmp_path / "cache.sqlite")
    assert asked == []


def _with_declared_colours(folder: Path, seed: int) -> Path:
    """a.png, saying nothing of its colours; b.png, whose gAMA chunk says its values are
    linear (the decision v11 of the notes and v7 of the feature decisions record)."""
    from PIL import Image

    folder.mkdir()
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 24, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    Image.fromarray(pixels).save(folder / "b.png", pnginfo=_gamma_chunk(1.0))
    return folder


def _gamma_chunk(gamma: float) -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", round(gamma * 100000).to_bytes(4, "big"))
    return info


def test_decisions_cached_before_colour_declarations_were_read_serve_none(
        tmp_path, fid_weights, monkeypatch):
    """An item or image whose file says its colours are not sRGB's is computed again from
    a v10 (v6) cache, taking the decision; the others' decisions are reused and stored
    under this version, so that the next run reads no file's header to find them."""
    from likeness.evaluation.engines import notes_cache

    ref = _with_declared_colours(tmp_path / "ref", 0)
    out = _with_declared_colours(tmp_path / "out", 1)
    cache = tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    _reused_but(cache, ref, out, "item/v10/notes/", "PNG gamma", "b.png",
                "PNG gamma 1 (gAMA chunk: linear values")
    asked: list[Path] = []
    monkeypatch.setattr(notes_cache, "takes_v11_decisions", asked.append)
    rows = likeness.compare(ref, out, metrics="ssim", cache=cache).rows
    assert all(row.cached for row in rows)
    assert asked == []

    features = tmp_path / "features.sqlite"
    _features_reused_but_one(features, ref, fid_weights, "/decisions/v6", "PNG gamma")
    with sqlite3.connect(features) as db:  # the reused one stored under v7 too
        assert db.execute("SELECT count(*) FROM entries WHERE namespace LIKE "
                          "'%/decisions/v7'").fetchone() == (2,)


def test_decisions_cached_before_a_tiffs_thumbnail_was_passed_serve_no_such_tiff(tmp_path):
    """A TIFF of several pages is computed again from a v10 cache (v11 reads its image
    past a thumbnail on its first page: values and all); a PNG item's are reused."""
    import tifffile
    from PIL import Image

    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        pixels = np.random.default_rng(len(folder)).integers(0, 256, (16, 16, 3))
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / folder / "a.png")
        tiff = tmp_path / folder / "b.tif"
        tifffile.imwrite(tiff, pixels[::4, ::4].astype(np.uint8), subfiletype=1)
        tifffile.imwrite(tiff, pixels.astype(np.uint8), append=True)
    ref, out, cache = tmp_path / "ref", tmp_path / "out", tmp_path / "cache.sqlite"
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    _reused_but(cache, ref, out, "item/v10/notes/", "page 2 of the TIFF", "b.tif",
                "page 2 of the TIFF read")
