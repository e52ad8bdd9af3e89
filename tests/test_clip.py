"""CLIP ViT-L/14-336 image embeddings (plain torch, the Hugging Face file's keys) against
transformers' CLIPVisionModelWithProjection with CMMD's preprocessing
(tests/data/clip_embeddings.npy, references/make_clip_values.py), on a 2-layer stand-in
with ViT-L/14-336 shapes (tests/vit_stand_ins.py); CMMD and the FD on CLIP over folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from likeness.cli import main
from likeness.errors import WeightsError
from likeness.evaluation.sets.extractor import FeatureExtractor
from likeness.metrics.feature_sets import cmmd, vendi
from likeness.nets.clip import ClipImageEncoder
from vit_stand_ins import save_clip_checkpoint

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "clip_values.json").read_text())


@pytest.fixture(scope="module")
def clip_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    return save_clip_checkpoint(PINNED["seed"], folder / "clip.bin", depth=PINNED["depth"])


def test_embeddings_equal_transformers_within_1e_4_of_the_largest(golden, clip_weights):
    extractor = FeatureExtractor(weights=clip_weights, network="clip_vit_l14_336",
                                 device="cpu")
    inputs = [extractor.prepare(golden.image_path(name))[0] for name in PINNED["images"]]
    got = extractor.features(inputs)
    want = np.load(DATA / "clip_embeddings.npy")
    assert got.shape == want.shape == (len(PINNED["images"]), 768)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_a_checkpoint_without_the_image_tower_is_refused(tmp_path):
    torch.save({"text_model.embeddings.token_embedding.weight": torch.zeros(2, 2)},
               tmp_path / "text_only.bin")
    with pytest.raises(WeightsError, match="not a CLIP checkpoint"):
        ClipImageEncoder(tmp_path / "text_only.bin")


def test_cmmd_and_fd_on_clip_over_folders_end_to_end(tmp_path, golden, clip_weights):
    reference, model = tmp_path / "ref", tmp_path / "out"
    for folder, kinds in ((reference, ("blur", "hue")), (model, ("jpeg", "noise"))):
        folder.mkdir()
        for base in ("astronaut", "chelsea", "coffee", "rocket"):
            for index, kind in enumerate(kinds):
                (folder / f"{base}_{index}.png").write_bytes(
                    golden.image_path(f"{base}__{kind}.png").read_bytes())
    result = CliRunner().invoke(main, [
        "compare", str(reference), str(model), "--metrics",
        "cmmd,fd_clip,kd_clip,precision_clip,vendi_clip",
        "--kid-subset-size", "4", "--out-dir", str(tmp_path / "run"), "--no-cache",
        "--weights", f"clip_vit_l14_336={clip_weights}"])
    assert result.exit_code == 0, result.output
    extractor = FeatureExtractor(weights=clip_weights, network="clip_vit_l14_336",
                                 device="cpu")
    features = [extractor.features([extractor.prepare(p)[0] for p in sorted(f.iterdir())])
                for f in (reference, model)]
    with open(tmp_path / "run" / "summary.csv", newline="") as handle:
        rows = {r["metric"]: r for r in csv.DictReader(handle)}
    assert float(rows["cmmd"]["mean"]) == pytest.approx(cmmd(*features), rel=1e-9)
    assert rows["cmmd"]["better"] == "lower"
    assert float(rows["vendi_clip"]["mean"]) == pytest.approx(vendi(features[1]), rel=1e-9)
    assert 0 <= float(rows["precision_clip"]["mean"]) <= 1
    bib = (tmp_path / "run" / "references.bib").read_text()
    assert "{jayasumana2024cmmd," in bib
    assert "{radford2021clip," in bib
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["weights"]["clip_vit_l14_336"]["source"] == "user-supplied"


@pytest.mark.slow
def test_the_full_size_network_equals_transformers_on_two_images(golden, tmp_path):
    # 24 layers of ViT-L/14-336 (~1.2 GB of stand-in weights), as the published file has
    path = save_clip_checkpoint(PINNED["seed"], tmp_path / "full.bin", depth=24)
    extractor = FeatureExtractor(weights=path, network="clip_vit_l14_336", device="cpu")
    got = extractor.features([extractor.prepare(golden.image_path(name))[0]
                              for name in PINNED["images"][:2]])
    want = np.load(DATA / "clip_embeddings_24.npy")
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
