"""DINO ViT-S/16 (v1) and the DINO score, against timm's VisionTransformer and the DINO
repository's evaluation transform from torchvision (references/make_dino_values.py;
tests/data/dino_values.json names the versions), on stand-in weights of the published
shapes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from likeness.cli import main
from likeness.errors import InvalidInputError, WeightsError
from likeness.nets.dino import Dino, dino_input
from vit_stand_ins import golden_image, make_dino_state_dict

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
VALUES = json.loads((DATA / "dino_values.json").read_text(encoding="utf-8"))


def _image(name: str) -> np.ndarray:
    return np.asarray(golden_image(name))


def _weights(tmp_path: Path, depth: int = 2) -> Path:
    path = tmp_path / f"dino_{depth}.pth"
    torch.save(make_dino_state_dict(VALUES["seed"], depth), path)
    return path


def _features(weights: Path) -> np.ndarray:
    pixels = torch.stack([dino_input(_image(name)) for name in VALUES["images"]])
    with torch.no_grad():
        return Dino(weights)(pixels).double().numpy()


def test_the_evaluation_transform_equals_torchvisions():
    pixels = torch.stack([dino_input(_image(name)) for name in VALUES["images"]])
    np.testing.assert_allclose(pixels.double().sum(dim=(2, 3)).numpy(), VALUES["pixel_sums"],
                               rtol=0, atol=1e-3)


def test_the_features_equal_timm(tmp_path):
    np.testing.assert_allclose(_features(_weights(tmp_path)), VALUES["features_2"], rtol=0,
                               atol=1e-5)


@pytest.mark.slow
def test_the_published_depth_equals_timm(tmp_path):
    np.testing.assert_allclose(_features(_weights(tmp_path, 12)), VALUES["features_12"],
                               rtol=0, atol=1e-5)


def test_another_input_size_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="224×224 inputs"):
        Dino(_weights(tmp_path))(torch.zeros(1, 3, 256, 256))


def test_a_checkpoint_of_another_network_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match="not a DINO .* checkpoint: it has no 'cls_token'"):
        Dino(path)


def _read(folder: str, name: str) -> np.ndarray:
    with Image.open(SAMPLES / folder / f"{name}.png") as image:
        return np.asarray(image.convert("RGB"))


def test_the_dino_score_of_a_compare_run_is_the_cosine_of_each_pair(tmp_path):
    weights = _weights(tmp_path)
    result = CliRunner().invoke(main, [
        "compare", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"), str(SAMPLES / "stylized"),
        "--metrics", "dino", "--weights", f"dino_vits16={weights}", "--out-dir",
        str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "run" / "per_image.csv").read_text().splitlines()[1:]
    network = Dino(weights)
    names = ("astronaut", "coffee", "rocket")
    for model in ("jpeg", "stylized"):
        with torch.no_grad():
            first = network(torch.stack([dino_input(_read("reference", n)) for n in names]))
            second = network(torch.stack([dino_input(_read(model, n)) for n in names]))
        expected = torch.nn.functional.cosine_similarity(first.double(), second.double())
        found = [float(row.split(",")[3]) for row in rows if row.startswith(model + ",")]
        np.testing.assert_allclose(found, expected.numpy(), rtol=0, atol=1e-6)
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "the DINO score [@ruiz2023dreambooth]" in methods
    assert "caron2021dino" in (tmp_path / "run" / "references.bib").read_text()


def test_the_dino_score_of_a_style_run_compares_stylized_and_content(tmp_path):
    root = SAMPLES / "style-transfer"
    result = CliRunner().invoke(main, [
        "style", "--content", str(root / "content"), "--style", str(root / "style"),
        "--stylized", str(root / "stylized"), "--metrics", "dino", "--weights",
        f"dino_vits16={_weights(tmp_path)}", "--out-dir", str(tmp_path / "run"),
        "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "each stylized image's and its content image's DINO" in \
        (tmp_path / "run" / "methods.md").read_text()


def test_a_missing_checkpoint_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    result = CliRunner().invoke(main, [
        "compare", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"), "--metrics", "dino,psnr",
        "--out-dir", str(tmp_path / "run"), "--no-cache"])
    assert "run `likeness weights import dino_deitsmall16_pretrain.pth`" in result.output
    assert "DINO (`dino`) was requested but could not be computed" in \
        (tmp_path / "run" / "methods.md").read_text()


def test_a_gray_pair_says_it_was_replicated_for_dino(tmp_path):
    for folder in ("reference", "jpeg"):
        (tmp_path / folder).mkdir()
        with Image.open(SAMPLES / folder / "coffee.png") as image:
            image.convert("L").save(tmp_path / folder / "coffee.png")
    result = CliRunner().invoke(main, [
        "compare", str(tmp_path / "reference"), str(tmp_path / "jpeg"), "--metrics", "dino",
        "--weights", f"dino_vits16={_weights(tmp_path)}", "--out-dir", str(tmp_path / "run"),
        "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "gray replicated to RGB for DINO" in (tmp_path / "run" / "per_image.csv").read_text()
