"""DINOv2 ViT-L/14 features (plain torch, the hub checkpoint's keys) against transformers'
Dinov2Model with the hub's position-embedding interpolation and dgm-eval's preprocessing
(tests/data/dinov2_features.npy, references/make_dinov2_values.py), on a 2-block stand-in
with ViT-L shapes (tests/vit_stand_ins.py); FD and the other set metrics on DINOv2 features
over folders."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from likeness.cli import main
from likeness.errors import WeightsError
from likeness.evaluation.sets.extractor import FeatureExtractor
from likeness.nets.dinov2 import DinoV2
from vit_stand_ins import save_dinov2_checkpoint

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "dinov2_values.json").read_text())


@pytest.fixture(scope="module")
def dinov2_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dinov2")
    return save_dinov2_checkpoint(PINNED["seed"], folder / "dinov2_vitl14_pretrain.pth",
                                  depth=PINNED["depth"])


def test_features_equal_transformers_within_1e_4_of_the_largest(golden, dinov2_weights):
    extractor = FeatureExtractor(weights=dinov2_weights, network="dinov2_vitl14", device="cpu")
    inputs = [extractor.prepare(golden.image_path(name))[0] for name in PINNED["images"]]
    got = extractor.features(inputs)
    want = np.load(DATA / "dinov2_features.npy")
    assert got.shape == want.shape == (len(PINNED["images"]), 1024)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_the_checkpoint_is_checked(tmp_path, dinov2_weights):
    state = torch.load(dinov2_weights, weights_only=True)
    del state["cls_token"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(WeightsError, match="no 'cls_token'"):
        DinoV2(tmp_path / "broken.pth")


def test_dinov2_set_metrics_over_folders_end_to_end(tmp_path, golden, dinov2_weights):
    reference, model = tmp_path / "ref", tmp_path / "out"
    for folder, kinds in ((reference, ("blur", "hue")), (model, ("jpeg", "noise"))):
        folder.mkdir()
        for base in ("astronaut", "chelsea", "coffee", "rocket"):
            for index, kind in enumerate(kinds):
                (folder / f"{base}_{index}.png").write_bytes(
                    golden.image_path(f"{base}__{kind}.png").read_bytes())
    result = CliRunner().invoke(main, [
        "compare", str(reference), str(model), "--metrics",
        "fd_dinov2,kd_dinov2,precision_dinov2,coverage_dinov2,vendi_dinov2",
        "--kid-subset-size", "4", "--out-dir", str(tmp_path / "run"), "--no-cache",
        "--weights", f"dinov2_vitl14={dinov2_weights}"])
    assert result.exit_code == 0, result.output
    extractor = FeatureExtractor(weights=dinov2_weights, network="dinov2_vitl14", device="cpu")
    features = {folder: extractor.features([extractor.prepare(p)[0]
                                            for p in sorted(folder.iterdir())])
                for folder in (reference, model)}
    from likeness.metrics.feature_sets import vendi
    from likeness.metrics.fid import frechet_distance_of_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 8 images of 1024-d features: singular
        want_fd = frechet_distance_of_features(features[reference], features[model])
    with open(tmp_path / "run" / "summary.csv", newline="") as handle:
        rows = {r["metric"]: r for r in csv.DictReader(handle)}
    assert float(rows["fd_dinov2"]["mean"]) == pytest.approx(want_fd, rel=1e-6)
    assert float(rows["vendi_dinov2"]["mean"]) == pytest.approx(vendi(features[model]),
                                                                rel=1e-9)
    bib = (tmp_path / "run" / "references.bib").read_text()
    assert "{oquab2023dinov2," in bib
    assert "{stein2023exposing," in bib
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["weights"]["dinov2_vitl14"]["source"] == "user-supplied"
    assert "DINOv2 ViT-L/14" in (tmp_path / "run" / "methods.md").read_text()


@pytest.mark.slow
def test_the_full_size_network_equals_transformers_on_two_images(golden, tmp_path):
    # 24 blocks of ViT-L (~1.2 GB of stand-in weights), as the published file has
    path = save_dinov2_checkpoint(PINNED["seed"], tmp_path / "full.pth", depth=24)
    extractor = FeatureExtractor(weights=path, network="dinov2_vitl14", device="cpu")
    got = extractor.features([extractor.prepare(golden.image_path(name))[0]
                              for name in PINNED["images"][:2]])
    want = np.load(DATA / "dinov2_features_24.npy")
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_dinov2_statistics_files_are_saved_and_checked(tmp_path, golden, dinov2_weights,
                                                       fid_weights):
    reference, model = tmp_path / "ref", tmp_path / "out"
    for folder, kind in ((reference, "blur"), (model, "jpeg")):
        folder.mkdir()
        for base in ("astronaut", "chelsea", "coffee", "rocket"):
            (folder / f"{base}.png").write_bytes(
                golden.image_path(f"{base}__{kind}.png").read_bytes())
    runner, stats = CliRunner(), tmp_path / "ref_dinov2.npz"
    weights = ["--weights", f"dinov2_vitl14={dinov2_weights}", "--no-cache"]
    saved = runner.invoke(main, ["fid", str(reference), "--encoder", "dinov2",
                                 "--save-stats", str(stats), *weights])
    assert saved.exit_code == 0, saved.output
    direct = runner.invoke(main, ["fid", str(reference), str(model), "--encoder", "dinov2",
                                  *weights])
    from_file = runner.invoke(main, ["fid", str(stats), str(model), "--encoder", "dinov2",
                                     *weights])
    assert direct.exit_code == from_file.exit_code == 0, from_file.output
    value = float(direct.stdout.split("FD_DINOV2\t")[1].split()[0])
    # 4 images of 1024-d features: singular covariances, which the features route
    # computes in its low-rank form and a statistics file cannot (so 1e-3, not 1e-9)
    assert float(from_file.stdout.split("FD_DINOV2\t")[1].split()[0]) == pytest.approx(
        value, rel=1e-3)
    other = runner.invoke(main, ["fid", str(stats), str(model), "--weights",
                                 f"pt_inception={fid_weights}", "--no-cache"])
    assert other.exit_code != 0
    assert "1024-dimensional features, but this run's encoder gives 2048" in other.output
