"""CSD (the Contrastive Style Descriptor) against the authors' ``CSD/model.py``, and the
LAION aesthetic predictor against ``simple_inference.py``'s steps (transformers' CLIP,
OpenAI CLIP's preprocessing, the MLP), on stand-in weights of the published shapes
(references/make_csd_values.py; tests/data/csd_values.json names the versions); the
``csd`` and ``aesthetic`` metrics in folder runs; CSD's import-only checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.errors import InvalidInputError, WeightsError
from likeness.nets.aesthetic import AestheticPredictor, aesthetic_input
from likeness.nets.csd import Csd, csd_input
from vit_stand_ins import (
    golden_image,
    make_aesthetic_state_dict,
    make_clip_vision_state_dict,
    make_csd_state_dict,
    save_safetensors,
)

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
VALUES = json.loads((DATA / "csd_values.json").read_text(encoding="utf-8"))
SEEDS = VALUES["seeds"]


def _image(name: str) -> np.ndarray:
    return np.asarray(golden_image(name))


def _csd_weights(tmp_path: Path, depth: int = 2) -> Path:
    path = tmp_path / f"csd_{depth}.pth"
    torch.save(make_csd_state_dict(SEEDS["csd"], depth), path)
    return path


def _aesthetic_weights(tmp_path: Path) -> dict[str, Path]:
    head = tmp_path / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save(make_aesthetic_state_dict(SEEDS["head"]), head)
    clip = save_safetensors(make_clip_vision_state_dict(SEEDS["clip"], 2,
                                                        positions=16 * 16 + 1),
                            tmp_path / "clip-l14.safetensors")
    return {"laion_aesthetic": head, "clip_vit_l14": clip}


def _descriptors(weights: Path, content: bool = False) -> np.ndarray:
    pixels = torch.stack([csd_input(_image(name)) for name in VALUES["images"]])
    with torch.no_grad():
        return Csd(weights)(pixels, content=content).double().numpy()


def test_the_evaluation_transform_equals_the_authors():
    pixels = torch.stack([csd_input(_image(name)) for name in VALUES["images"]])
    np.testing.assert_allclose(pixels.double().sum(dim=(2, 3)).numpy(),
                               VALUES["csd"]["pixel_sums"], rtol=0, atol=1e-3)


def test_the_style_and_content_descriptors_equal_the_authors_model(tmp_path):
    weights = _csd_weights(tmp_path)
    np.testing.assert_allclose(_descriptors(weights), VALUES["csd"]["style_2"], rtol=0,
                               atol=1e-6)
    np.testing.assert_allclose(_descriptors(weights, content=True), VALUES["csd"]["content_2"],
                               rtol=0, atol=1e-6)


@pytest.mark.slow
def test_the_published_depth_equals_the_authors_model(tmp_path):
    np.testing.assert_allclose(_descriptors(_csd_weights(tmp_path, 24)),
                               VALUES["csd"]["style_24"], rtol=0, atol=1e-6)


def test_a_plain_state_dict_loads_too_and_other_files_are_refused(tmp_path):
    plain = tmp_path / "plain.pth"
    torch.save({key.removeprefix("module."): value for key, value in
                make_csd_state_dict(SEEDS["csd"])["model_state_dict"].items()}, plain)
    np.testing.assert_allclose(_descriptors(plain), VALUES["csd"]["style_2"], rtol=0,
                               atol=1e-6)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(WeightsError, match="not a CSD checkpoint: it has no "
                                           "'backbone.class_embedding'"):
        Csd(other)
    with pytest.raises(InvalidInputError, match="224×224 inputs"):
        Csd(plain)(torch.zeros(1, 3, 256, 256))


def test_the_aesthetic_score_equals_simple_inference(tmp_path):
    weights = _aesthetic_weights(tmp_path)
    predictor = AestheticPredictor(weights["laion_aesthetic"], weights["clip_vit_l14"])
    pixels = torch.stack([aesthetic_input(_image(name)) for name in VALUES["images"]])
    np.testing.assert_allclose(pixels.double().sum(dim=(2, 3)).numpy(),
                               VALUES["aesthetic"]["pixel_sums"], rtol=0, atol=1e-3)
    with torch.no_grad():
        scores = predictor(pixels).double().numpy()
    np.testing.assert_allclose(scores, VALUES["aesthetic"]["scores"], rtol=0, atol=1e-5)


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_csd_and_the_aesthetic_score_in_a_style_run(tmp_path):
    root = SAMPLES / "style-transfer"
    csd = _csd_weights(tmp_path)
    aesthetic = _aesthetic_weights(tmp_path)
    result = CliRunner().invoke(main, [
        "style", "--content", str(root / "content"), "--style", str(root / "style"),
        "--stylized", str(root / "stylized"), "--metrics", "csd,aesthetic",
        "--weights", f"csd_vit_l={csd}",
        *(part for name, path in aesthetic.items() for part in ("--weights", f"{name}={path}")),
        "--out-dir", str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    results = likeness.evaluate_style(root / "content", root / "style", root / "stylized",
                                      metrics="csd,aesthetic", cache=False,
                                      weights={"csd_vit_l": csd, **aesthetic})
    network = Csd(csd)
    predictor = AestheticPredictor(aesthetic["laion_aesthetic"], aesthetic["clip_vit_l14"])
    for row in results.rows:
        style = next((root / "style").glob(f"{Path(row.style).stem}.*"))
        stylized = root / "stylized" / row.test
        with torch.no_grad():
            first, second = network(torch.stack([csd_input(_read(style)),
                                                 csd_input(_read(stylized))]))
            score = predictor(aesthetic_input(_read(stylized))[None])
        assert row.values["csd"] == pytest.approx(float(first @ second), abs=1e-6)
        assert row.values["aesthetic"] == pytest.approx(float(score[0]), abs=1e-5)
    methods = (tmp_path / "run" / "methods.md").read_text(encoding="utf-8")
    assert "CSD [@somepalli2024csd] for style: the cosine of each stylized image's and its " \
           "style image's" in methods
    assert "`sac+logos+ava1-l14-linearMSE.pth`, SHA-256" in methods  # both files named
    assert "`clip-l14.safetensors`, SHA-256" in methods
    bibliography = (tmp_path / "run" / "references.bib").read_text(encoding="utf-8")
    assert "somepalli2024csd" in bibliography
    assert "schuhmann2022aesthetic" in bibliography


def test_csd_in_a_compare_run_compares_each_output_with_its_reference(tmp_path):
    weights = _csd_weights(tmp_path)
    results = likeness.compare(SAMPLES / "reference", SAMPLES / "stylized", metrics="csd",
                               weights={"csd_vit_l": weights}, cache=False)
    network = Csd(weights)
    for row in results.rows:
        with torch.no_grad():
            first, second = network(torch.stack([
                csd_input(_read(SAMPLES / "reference" / row.reference)),
                csd_input(_read(SAMPLES / "stylized" / row.test))]))
        assert row.values["csd"] == pytest.approx(float(first @ second), abs=1e-6)


def test_the_csd_checkpoint_is_import_only_and_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("LIKENESS_OFFLINE", raising=False)
    monkeypatch.delenv("LIKENESS_WEIGHTS_MIRROR", raising=False)
    result = CliRunner().invoke(main, ["weights", "download", "csd_vit_l"])
    assert result.exit_code == 1
    assert "likeness does not download it" in result.output
    assert "https://github.com/learn2phoenix/CSD" in result.output
    assert "`likeness weights import FILE --name csd_vit_l`" in result.output
    run = CliRunner().invoke(main, [
        "compare", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"), "--metrics", "csd,psnr",
        "--out-dir", str(tmp_path / "run"), "--no-cache"])
    assert "--weights csd_vit_l=PATH" in run.output
    assert "CSD (`csd`) was requested but could not be computed" in \
        (tmp_path / "run" / "methods.md").read_text(encoding="utf-8")
    downloaded = tmp_path / "checkpoint.pth"  # the name of the authors' file
    torch.save(make_csd_state_dict(SEEDS["csd"]), downloaded)
    imported = CliRunner().invoke(main, ["weights", "import", str(downloaded), "--name",
                                         "csd_vit_l"])
    assert imported.exit_code == 0, imported.output
    assert (tmp_path / "weights" / "csd_vit_l.pth.sha256").is_file()  # recorded, then checked
    results = likeness.compare(SAMPLES / "reference", SAMPLES / "jpeg", metrics="csd",
                               cache=False)
    assert all("csd" in row.values for row in results.rows)


def test_the_torch_api_gives_the_pinned_descriptors_cosines_and_scores(tmp_path):
    expected = np.asarray(VALUES["csd"]["style_2"])
    images = [_image(name) for name in VALUES["images"]]
    model = Csd(_csd_weights(tmp_path))
    similarity = likeness.csd_similarity(images[:4], images[4:], model=model)
    np.testing.assert_allclose(similarity.numpy(), np.sum(expected[:4] * expected[4:], axis=1),
                               rtol=0, atol=1e-6)
    as_tensor = torch.from_numpy(np.stack([images[0]] * 2)).permute(0, 3, 1, 2).float() / 255
    same = likeness.csd_similarity(as_tensor, as_tensor, model=model, data_range=1.0)
    np.testing.assert_allclose(same.numpy(), 1.0, atol=1e-6)
    weights = _aesthetic_weights(tmp_path)
    scores = likeness.aesthetic_score(images, weights=weights["laion_aesthetic"],
                                      clip_weights=weights["clip_vit_l14"])
    np.testing.assert_allclose(scores.numpy(), VALUES["aesthetic"]["scores"], rtol=0,
                               atol=1e-5)
    with pytest.raises(InvalidInputError, match="give pairs"):
        likeness.csd_similarity(images[:2], images[:1], model=model)
    with pytest.raises(InvalidInputError, match="need data_range"):
        likeness.aesthetic_score(as_tensor, model=AestheticPredictor(
            weights["laion_aesthetic"], weights["clip_vit_l14"]))
