"""The cache never serves values of an earlier arithmetic: a metric's cache key holds its
``MetricSpec.revision``, and this test fails when a pixel metric's value changed (under any
of its conventions) while its revision did not — the snapshot is likeness's own values,
made by references/make_cache_revisions.py."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import likeness
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.infra.cache import file_digest

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
    assert all(f"/revision={METRICS['fsim'].revision}/" in n for n in fsim)
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
    assert after == before.replace("/decoders=", "/revision=2/decoders=")


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


# -- values decoded by other decoders, or by an earlier likeness ---------------------------

def _namespaces(cache: Path) -> set[str]:
    with sqlite3.connect(cache) as connection:
        return {row[0] for row in connection.execute("SELECT namespace FROM entries")}


def _two_pairs(root: Path) -> tuple[Path, Path]:
    """ref/ and out/ of a.png (8-bit) and b.jpg (decoded by libjpeg-turbo)."""
    from PIL import Image

    folders = root / "ref", root / "out"
    for seed, folder in enumerate(folders):
        folder.mkdir(parents=True)
        pixels = np.random.default_rng(seed).integers(0, 256, (16, 24, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "a.png")
        Image.fromarray(pixels).save(folder / "b.jpg", quality=90)
    return folders


@pytest.fixture
def other_decoders(monkeypatch):
    """Run with another Pillow's decoders (as a second environment sharing the cache
    folder would): ``decoders_key`` recomputed under a Pillow version of its own."""
    import PIL

    from likeness.io import decoders

    def switch() -> None:
        monkeypatch.setattr(PIL, "__version__", "0.0.1-other")
        decoders.decoder_facts.cache_clear()

    yield switch
    decoders.decoder_facts.cache_clear()


def test_every_cached_value_of_pixels_is_keyed_by_the_decoders(tmp_path, fid_weights):
    """Item values, item decisions, set features and their decisions: all are stored under
    the decoders' key, so none is served to a run that decodes otherwise."""
    from likeness.io import decoders_key

    ref, out = _two_pairs(tmp_path)
    cache = tmp_path / "cache.sqlite"
    with pytest.warns(UserWarning, match="covariance is singular"):
        likeness.compare(ref, out, metrics="ssim,fid", cache=cache,
                         weights={"pt_inception": str(fid_weights)})
    namespaces = _namespaces(cache)
    kinds = {n.split("/")[0] + ("/decisions" if "/decisions/" in n else "")
             + ("/notes" if "/notes/" in n else "") for n in namespaces}
    assert kinds == {"item", "item/notes", "pt_inception-features",
                     "pt_inception-features/decisions"}
    assert all(f"/decoders={decoders_key()}" in n for n in namespaces)


def test_a_run_with_other_decoders_computes_again(tmp_path, other_decoders):
    ref, out = _two_pairs(tmp_path)
    cache = tmp_path / "cache.sqlite"
    first = likeness.compare(ref, out, metrics="ssim,psnr", cache=cache).rows
    again = likeness.compare(ref, out, metrics="ssim,psnr", cache=cache).rows
    assert [row.cached for row in again] == [True, True]
    other_decoders()
    elsewhere = likeness.compare(ref, out, metrics="ssim,psnr", cache=cache).rows
    assert [row.cached for row in elsewhere] == [False, False]
    assert [r.values for r in elsewhere] == [r.values for r in first]


def test_set_features_of_other_decoders_are_computed_again(tmp_path, fid_weights,
                                                           other_decoders):
    from likeness.evaluation.infra.cache import Cache
    from likeness.evaluation.sets.features import FeatureExtractor, set_features

    ref, _ = _two_pairs(tmp_path)
    with Cache(tmp_path / "cache.sqlite") as store:
        first = set_features(ref, FeatureExtractor(weights=fid_weights), store)
        again = set_features(ref, FeatureExtractor(weights=fid_weights), store)
        other_decoders()
        elsewhere = set_features(ref, FeatureExtractor(weights=fid_weights), store)
    assert (first.cached, again.cached, elsewhere.cached) == (0, 2, 0)
    np.testing.assert_array_equal(elsewhere.features, first.features)


def test_the_decoders_key_names_the_libraries_and_likeness_decoding_revision(monkeypatch):
    """Each of Pillow's version, its codecs', OpenCV's and DECODING_REVISION changes it."""
    import PIL

    from likeness.io import decoders

    seen = set()
    for name, patched in (("", None), ("pillow", (PIL, "__version__", "1.0")),
                          ("revision", (decoders, "DECODING_REVISION", 99)),
                          ("opencv", (decoders, "_opencv_version", lambda: "1.0")),
                          ("codec", (decoders, "decoding_libraries",
                                     lambda: {"libjpeg-turbo": "1.0"}))):
        with monkeypatch.context() as patch:
            if patched:
                patch.setattr(*patched)
            decoders.decoder_facts.cache_clear()
            assert decoders.decoders_key() not in seen, name
            seen.add(decoders.decoders_key())
    decoders.decoder_facts.cache_clear()
    libraries = decoders.decoding_libraries()
    assert set(libraries) == {"libjpeg-turbo", "libwebp", "libtiff", "littlecms"}
    assert libraries["libjpeg-turbo"] != "none"  # Pillow's wheels bundle it
    from likeness.runs.folder import versions

    recorded = versions()  # run.json names the versions the cache keys
    assert {name: recorded[name] for name in libraries} == libraries
    assert recorded["opencv"] == decoders.decoder_facts()["OpenCV"] != "none"


def _as_an_earlier_likeness_left_it(cache: Path) -> None:
    """Every entry moved to the namespaces likeness used before the decoders were keyed
    (values in item/v4/… without the decoders, decisions in item/v11/notes/…)."""
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT namespace, key, value FROM entries").fetchall()
        db.execute("DELETE FROM entries")
        for namespace, key, value in rows:
            earlier = namespace.split("/decoders=")[0].replace("item/v12/notes/",
                                                              "item/v11/notes/")
            db.execute("INSERT INTO entries VALUES (?, ?, ?)", (earlier, key, value))


def _rgb_png(rows: list[bytes], width: int, height: int) -> bytes:
    """An 8-bit RGB PNG of these rows (each with its filter byte), checksums right."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def test_values_an_earlier_likeness_cached_of_a_file_now_refused_are_not_served(tmp_path):
    """A PNG whose image data ends early (a whole zlib stream of fewer rows than its
    header's) was read by earlier versions, the rows it lacks black, and its values
    cached under the file's hash.  This version refuses the file: the values the earlier
    one cached are not served for it (nor any other value it cached)."""
    ref, out = _two_pairs(tmp_path)
    rng = np.random.default_rng(5)
    rows = [b"\0" + rng.integers(0, 256, 24 * 3, np.uint8).tobytes() for _ in range(16)]
    (ref / "c.png").write_bytes(_rgb_png(rows, 24, 16))
    (out / "c.png").write_bytes(_rgb_png(rows[:-3], 24, 16))
    cache = tmp_path / "cache.sqlite"
    first = {row.test: row for row in likeness.compare(ref, out, metrics="ssim",
                                                       cache=cache).rows}
    assert "ends after" in (first["c.png"].error or "")
    # the cache an earlier likeness left, which read c.png's missing rows as black: the
    # values of the pair decoded so (its whole rows, then zeros) under the short file's hash
    whole_key = ":".join(file_digest(folder / "c.png") for folder in (ref, out))
    black = rows[:-3] + [b"\0" + bytes(24 * 3)] * 3
    (out / "c.png").write_bytes(_rgb_png(black, 24, 16))
    likeness.compare(ref, out, metrics="ssim", cache=cache)
    black_key = ":".join(file_digest(folder / "c.png") for folder in (ref, out))
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE entries SET key = ? WHERE key = ?", (whole_key, black_key))
    _as_an_earlier_likeness_left_it(cache)
    (out / "c.png").write_bytes(_rgb_png(rows[:-3], 24, 16))
    again = {row.test: row for row in likeness.compare(ref, out, metrics="ssim",
                                                       cache=cache).rows}
    assert not any(row.cached for row in again.values())
    assert "ssim" not in again["c.png"].values
    assert "ends after" in (again["c.png"].error or "")
    assert again["a.png"].values == first["a.png"].values
