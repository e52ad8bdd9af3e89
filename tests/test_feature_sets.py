"""Precision, recall, density, coverage, Vendi and CMMD on features: pinned against prdc
0.2, vendi-score 0.0.3 and google-research/cmmd's formula in float64
(tests/data/feature_set_values.json, references/make_feature_set_values.py); bounded
memory; small sets refused; the command line over folders."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from likeness.cli import main
from likeness.metrics import feature_sets
from likeness.metrics.feature_sets import cmmd, coverage_density_precision_recall, vendi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "references"))
from make_feature_set_values import (  # noqa: E402  (the pinned inputs' generators)
    features,
    tie_features,
)

PINNED = json.loads((Path(__file__).parent / "data" / "feature_set_values.json").read_text())


@pytest.mark.parametrize("record", PINNED["cases"], ids=lambda r: r["case"])
def test_equal_to_prdc_vendi_score_and_the_cmmd_formula(record, monkeypatch):
    real, fake = features(record["case"])
    for blocked in (False, True):
        if blocked:  # distances in many small blocks: the same values
            monkeypatch.setattr(feature_sets, "_BLOCK_ELEMENTS", 997)
        for k in (3, 5):
            got = coverage_density_precision_recall(real, fake, k)
            for name, want in record[f"k{k}"].items():
                assert got[name] == pytest.approx(want, rel=1e-6, abs=1e-12), (k, name)
        assert vendi(real) == pytest.approx(record["vendi_real"], rel=1e-10)
        assert vendi(fake) == pytest.approx(record["vendi_fake"], rel=1e-10)
        assert cmmd(real, fake) == pytest.approx(record["cmmd"], rel=1e-10)


@pytest.mark.parametrize("record", PINNED["ties"], ids=lambda r: f"{r['case']}-{r['dtype']}")
def test_ties_at_the_radii_are_prdcs(record, monkeypatch):
    # identical sets (one array twice, or a copy) and repeated rows put points exactly at
    # a ball's radius: equal to prdc's values exactly, blocked or not
    # (float64 rows blocked otherwise than prdc's whole matrix can move an exact float64
    # tie by one bit — as another BLAS moves prdc's own —; float32 ties hold whatever the
    # blocks, and float64 sets below 4096 images are never split into blocks of rows)
    # An exact float64 tie at a radius is broken by how the CPU's BLAS rounds the two
    # distances: prdc's own values moved from one CPU to another (``also``: those of each
    # CPU that broke one otherwise, made by references/make_feature_set_values.py
    # --add-this-cpu). likeness's values are prdc's on one of them.
    real, fake = tie_features(record["case"], record["dtype"])
    for blocked in (False, True) if record["dtype"] == "float32" else (False,):
        if blocked:
            monkeypatch.setattr(feature_sets, "_BLOCK_ELEMENTS", 97)
        for k in (3, 5):
            got = coverage_density_precision_recall(real, fake, k)
            assert got in [prdc[f"k{k}"] for prdc in (record, *record.get("also", ()))], k


def test_closed_forms_and_refusals():
    x = np.random.default_rng(0).normal(size=(40, 8))
    assert coverage_density_precision_recall(x, x, 3) == {
        "precision": 1.0, "recall": 1.0, "density": pytest.approx(1.0), "coverage": 1.0}
    assert cmmd(x, x) == pytest.approx(0.0, abs=1e-12)
    assert vendi(np.repeat(x[:1], 10, axis=0)) == pytest.approx(1.0)
    assert vendi(np.eye(6)) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="need more than 5"):
        coverage_density_precision_recall(x, x[:5], 5)
    with pytest.raises(ValueError, match="zero"):
        vendi(np.zeros((3, 4)))


def _set_functions():
    from likeness import kid
    from likeness.metrics.fid import feature_statistics, frechet_distance_of_features
    from likeness.metrics.inception_score import inception_score

    return {
        "prdc": lambda x, y: coverage_density_precision_recall(x, y, 3),
        "vendi": lambda x, y: vendi(x), "cmmd": cmmd,
        "kid": lambda x, y: kid(x, y, subset_size=None),
        "fid": frechet_distance_of_features,
        "statistics": lambda x, y: feature_statistics(x),
        "inception-score": lambda x, y: _quietly(inception_score, x, splits=2)}


def _quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the Inception Score of", UserWarning)
        return function(*args, **kwargs)


@pytest.mark.parametrize("function", list(_set_functions()))
def test_every_set_function_refuses_what_it_cannot_compute(function):
    """A NaN or infinite feature (which gave NaN, or through comparisons NaN fails a
    plausible precision of 1.0), a vector, a matrix of another D, text, a tensor that
    requires grad: each a LikenessError naming the argument; a tensor is read as NumPy
    reads it."""
    import torch

    from likeness import InvalidInputError, InvalidInputTypeError

    compute = _set_functions()[function]
    x = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    for bad in (np.nan, np.inf):
        damaged = x.copy()
        damaged[5, 2] = bad
        with pytest.raises(InvalidInputError, match="NaN or infinite values .*first row 5"):
            compute(damaged, x)
    with pytest.raises(InvalidInputError, match=r"\(N, D\) matri.* got shape \(4,\)"):
        compute(x[0], x[0])
    if function not in ("vendi", "statistics", "inception-score"):
        with pytest.raises(InvalidInputError, match=r"of one D.*\(12, 4\) and \(12, 3\)"):
            compute(x, x[:, :3])
    with pytest.raises(InvalidInputTypeError, match="must hold real numbers.*<U1"):
        compute(np.full((12, 4), "a"), x)
    with pytest.raises(InvalidInputTypeError, match="requires grad.*detach"):
        compute(torch.from_numpy(x).requires_grad_(), x)
    as_tensors = compute(torch.from_numpy(x), torch.from_numpy(x[::-1].copy()))
    as_arrays = compute(x, x[::-1].copy())
    assert str(as_tensors) == str(as_arrays)


def test_frechet_distance_refuses_statistics_that_are_not_numbers():
    from likeness import InvalidInputTypeError, frechet_distance

    with pytest.raises(InvalidInputTypeError, match="sigma2 must hold real numbers"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.array([["a", "b"]] * 2))
    # None became NaN in the float conversion: "mu1 holds NaN or infinite values"
    with pytest.raises(InvalidInputTypeError, match="mu1 must hold real numbers, got an "
                                                    "array of dtype object"):
        frechet_distance(None, np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(InvalidInputTypeError, match="mu2 must hold real numbers"):
        frechet_distance(np.zeros(2), np.eye(2), [0.0, None], np.eye(2))
    assert frechet_distance(np.array([0, 1], dtype=object), np.eye(2), np.zeros(2),
                            np.eye(2)) == 1.0  # an object array of numbers is numbers


def test_manifold_metrics_over_folders_end_to_end(tmp_path, golden, fid_weights):
    reference, model = tmp_path / "ref", tmp_path / "out"
    for folder, kinds in ((reference, ("blur", "hue")), (model, ("jpeg", "noise"))):
        folder.mkdir()
        for base in ("astronaut", "chelsea", "coffee", "rocket"):
            for kind in kinds:
                (folder / f"{base}_{kinds.index(kind)}.png").write_bytes(
                    golden.image_path(f"{base}__{kind}.png").read_bytes())
    result = CliRunner().invoke(main, [
        "compare", str(reference), str(model), "--metrics",
        "precision,recall,density,coverage,vendi", "--out-dir", str(tmp_path / "run"),
        "--no-cache", "--weights", f"pt_inception={fid_weights}"])
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "run" / "summary.csv").read_text()
    for name in ("precision", "recall", "density", "coverage", "vendi"):
        assert f",{name}," in summary
    bib = (tmp_path / "run" / "references.bib").read_text()
    assert "{kynkaanniemi2019precision," in bib
    assert "{naeem2020prdc," in bib
    assert "{friedman2023vendi," in bib
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "@naeem2020prdc" in methods
