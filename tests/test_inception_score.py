"""The Inception Score: torch-fidelity's input pipeline and logits (pinned with the golden
stand-in pt_inception: tests/data/isc_logits.npy) and its score (tests/data/isc_values.json,
both made by references/make_isc_values.py with torch-fidelity 0.4.0); the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from likeness.cli import main
from likeness.evaluation.sets.extractor import FeatureExtractor
from likeness.metrics.inception_score import inception_score

DATA = Path(__file__).parent / "data"
PINNED = json.loads((DATA / "isc_values.json").read_text())


def test_logits_equal_torch_fidelitys_within_1e_4_of_the_largest(golden, fid_weights):
    extractor = FeatureExtractor(weights=fid_weights, network="isc_inception", device="cpu")
    inputs, decisions = [], []
    for name in PINNED["images"]:
        tensor, notes = extractor.prepare(golden.image_path(name))
        inputs.append(tensor)
        decisions += notes
    got = extractor.features(inputs)
    want = np.load(DATA / "isc_logits.npy")
    assert got.shape == want.shape == (len(PINNED["images"]), 1008)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert any("high byte" in note for note in decisions)  # the 16-bit golden files


def test_the_score_equals_torch_fidelitys():
    logits = np.load(DATA / "isc_logits.npy")
    with pytest.warns(UserWarning, match="biased downwards"):
        mean, std = inception_score(logits)
    assert mean == pytest.approx(PINNED["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(PINNED["inception_score_std"], rel=1e-6, abs=1e-12)
    spread = (np.random.default_rng(7).normal(size=(500, 1008)) * 3).astype(np.float32)
    with pytest.warns(UserWarning, match="500 images"):
        mean, std = inception_score(spread)
    assert mean == pytest.approx(PINNED["random_logits"]["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(PINNED["random_logits"]["inception_score_std"], rel=1e-8)
    with pytest.raises(ValueError, match="at least 10 images"):
        inception_score(spread[:9])


def test_inception_score_over_folders_end_to_end(tmp_path, golden, fid_weights):
    reference, model = tmp_path / "ref", tmp_path / "out"
    for folder, kinds in ((reference, ("blur", "hue")), (model, ("jpeg", "noise", "hue"))):
        folder.mkdir()
        for base in ("astronaut", "chelsea", "coffee", "rocket"):
            for index, kind in enumerate(kinds):
                (folder / f"{base}_{index}.png").write_bytes(
                    golden.image_path(f"{base}__{kind}.png").read_bytes())
    result = CliRunner().invoke(main, [
        "compare", str(reference), str(model), "--metrics", "inception_score",
        "--out-dir", str(tmp_path / "run"), "--no-cache",
        "--weights", f"pt_inception={fid_weights}"])
    assert result.exit_code == 0, result.output
    extractor = FeatureExtractor(weights=fid_weights, network="isc_inception", device="cpu")
    files = sorted(model.iterdir())
    logits = extractor.features([extractor.prepare(path)[0] for path in files])
    with pytest.warns(UserWarning, match="biased downwards"):
        want, _ = inception_score(logits)
    with open(tmp_path / "run" / "summary.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["metric"] == "inception_score")
    assert float(row["mean"]) == pytest.approx(want, rel=1e-9)
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "@salimans2016improved" in methods
    assert "biased downwards" in methods
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "pt_inception" in record["weights"]
