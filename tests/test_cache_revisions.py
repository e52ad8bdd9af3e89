"""The cache never serves values of an earlier arithmetic: a metric's cache key holds its
``MetricSpec.revision``, and this test fails when a pixel metric's value changed (under any
of its conventions) while its revision did not — the snapshot is likeness's own values,
made by references/make_cache_revisions.py."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

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
