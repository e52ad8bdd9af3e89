"""DISTS: pinned against the authors' package DISTS_pytorch 0.1 with the golden stand-in
VGG16 (tests/data/dists_values.json and dists_gradient.npz, made by
references/make_dists_values.py); the loss use; the command line in compare and style."""

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
from likeness.nets.dists import DISTS

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "dists_values.json").read_text())


def _path(golden, name):
    return DATA / name if name.startswith("piq_pairs/") else golden.image_path(name)


def _unit(path):
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


@pytest.mark.slow
def test_every_pinned_value(golden, stand_in):
    assert len(PINNED["pairs"]) >= 20
    metric = DISTS(backbone_weights=stand_in["vgg16"])
    for record in PINNED["pairs"]:
        if "1024x1024" in record["reference"]:
            continue  # DISTS does not resize: VGG16 at 1024² adds ~15 s and no new case
        got = metric(_unit(_path(golden, record["reference"])),
                     _unit(_path(golden, record["test"])))
        assert float(got[0]) == pytest.approx(record["dists"], abs=1e-6), record
    # through the files' decoding: a golden pair, an odd-sized colour and a gray pair
    for record in (PINNED["pairs"][0], *(r for r in PINNED["pairs"]
                                         if r["reference"].endswith(("257x193x3_ref.png",
                                                                     "97x131x1_ref.png")))):
        got = likeness.compare_files(_path(golden, record["reference"]),
                                     _path(golden, record["test"]), metrics="dists",
                                     weights={"vgg16": stand_in["vgg16"]})["dists"]
        assert got == pytest.approx(record["dists"], abs=1e-6), record


def test_gradients_equal_the_authors_within_1e_4_of_the_largest(stand_in):
    pinned = np.load(DATA / "dists_gradient.npz")
    metric = DISTS(backbone_weights=stand_in["vgg16"])
    test = torch.from_numpy(pinned["test"]).requires_grad_(True)
    metric(torch.from_numpy(pinned["reference"]), test).sum().backward()
    want = pinned["gradient"]
    assert np.abs(test.grad.numpy() - want).max() <= 1e-4 * np.abs(want).max()


def test_identical_images_score_zero_and_the_weights_ship_with_their_licence(stand_in):
    metric = DISTS(backbone_weights=stand_in["vgg16"])
    x = torch.rand(2, 3, 40, 52)
    assert torch.allclose(metric(x, x), torch.zeros(2), atol=1e-6)
    assert metric.alpha.shape == metric.beta.shape == (1, 1475, 1, 1)
    licence = Path(likeness.__file__).parent / "data" / "dists" / "LICENSE"
    assert "MIT License" in licence.read_text()
    assert "Keyan Ding" in licence.read_text()
    with pytest.raises(ValueError, match="N, 3, H, W"):
        metric(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_images_outside_0_1_are_computed_with_a_warning_as_lpips_gives(stand_in):
    """DISTS as a loss uses its inputs as given; [0, 255] images (or NaN) gave a value with
    no word — the network sees a glare — where LPIPS warns.  Now DISTS warns too."""
    metric = DISTS(backbone_weights=stand_in["vgg16"])
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    words = (r"DISTS expects inputs in \[0, 1\] but got values in \[[0-9.e-]+, 25[0-9.]+\]; "
             r"pass images.float\(\) / 255")
    with pytest.warns(UserWarning, match=words):
        metric(x * 255, x * 250)
    spoilt = x.clone()
    spoilt[0, 0, 0, 0] = float("nan")
    with pytest.warns(UserWarning, match="DISTS got NaN or infinite inputs"):
        metric(spoilt, x)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric(x, x.flip(-1))


def test_dists_in_compare_and_style_end_to_end(tmp_path, golden, stand_in):
    records = [r for r in PINNED["pairs"] if r["reference"].startswith("piq_pairs/noise")]
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
    for index, record in enumerate(records):
        for folder, key in (("ref", "reference"), ("out", "test")):
            with Image.open(_path(golden, record[key])) as image:
                image.save(tmp_path / folder / f"{index}.png")
    weights = ["--weights", f"vgg16={stand_in['vgg16']}"]
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                       "--metrics", "dists,ssim", "--out-dir",
                                       str(tmp_path / "run"), "--no-cache", *weights])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "run" / "per_image.csv").read_text().splitlines()
    assert rows[0].startswith("model,reference,test,dists,ssim")
    for line, record in zip(rows[1:], records, strict=True):
        assert float(line.split(",")[3]) == pytest.approx(record["dists"], abs=1e-6)
    assert "@article{ding2022dists" in (tmp_path / "run" / "references.bib").read_text()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "vgg16" in json.dumps(run["weights"])


def test_dists_is_a_content_metric_of_likeness_style(tmp_path, golden, stand_in):
    import csv

    root = golden.root / "style"
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["style", "--content", str(root / "content"), "--style",
                                       str(root / "style"), "--stylized",
                                       str(root / "stylized"), "--metrics", "dists",
                                       "--out-dir", str(out), "--no-cache",
                                       "--weights", f"vgg16={stand_in['vgg16']}"])
    assert result.exit_code == 0, result.output
    with open(out / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    metric = DISTS(backbone_weights=stand_in["vgg16"])
    for row in rows[:2]:  # the content image against its stylization
        want = float(metric(_unit(root / "content" / row["content"]),
                            _unit(root / "stylized" / row["stylized"]))[0])
        assert float(row["dists"]) == pytest.approx(want, abs=1e-6)
    assert set(json.loads((out / "run.json").read_text())["weights"]) == {"vgg16"}
