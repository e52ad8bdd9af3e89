"""A metric is one catalog entry: metrics of each kind — pixel (the worked example of
docs/architecture.md, run as it stands), network, set, one with a std, and a style metric —
are added at run time, and every output shows them as their entries say, with no other
file touched: the command line's parsing and --help, per_image.csv, the summaries
(CSV, Markdown, LaTeX), the terminal, run.json, methods.md, references.bib and the report."""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.evaluation.catalog.feature_metrics import FeatureUse
from likeness.evaluation.catalog.registry import METRICS, metrics_help, unregister_metric
from likeness.results.tables import format_value

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def worked_example() -> dict:
    """The two code blocks of docs/architecture.md's "Adding a metric", run in order."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    namespace: dict = {}
    for marker in ("maths", "entry"):
        found = re.search(rf"<!-- worked example: {marker} -->\n```python\n(.*?)```", text,
                          re.DOTALL)
        assert found, f"docs/architecture.md lost its worked example ({marker})"
        exec(compile(found.group(1), f"architecture.md ({marker})", "exec"), namespace)
    return namespace


def _layers_l1(first, second, network):
    return float(sum(float((a - b).abs().mean()) for a, b in zip(first, second, strict=True)))


def _keep(features, size, settings):
    return features


def _mean_shift(first, second, settings):
    return float(np.linalg.norm(first.features.mean(0) - second.features.mean(0))), None


def _split_norms(first, second, settings):
    norms = np.linalg.norm(second.features, axis=1)
    halves = [float(part.mean()) for part in np.array_split(norms, 2)]
    return float(np.mean(halves)), float(np.std(halves))


def _channel_means(features, size, settings):
    return [f.mean(dim=(2, 3)) for f in features]


def _style_means_l1(first, second, network):
    return float(sum(float((a - b).abs().mean()) for a, b in zip(first, second, strict=True)))


EXTRA = [
    likeness.MetricSpec("alex_l1", "lower", "mean L1 distance of AlexNet's LPIPS taps",
                        features=FeatureUse("lpips_alex", _keep, _keep, _layers_l1),
                        citations=("krizhevsky2012alexnet",), label="L1 (AlexNet)",
                        latex=r"$\ell_1^{\text{Alex}}$", digits=5),
    likeness.MetricSpec("mean_shift", "lower", "distance of the sets' mean Inception "
                        "features", set_value=_mean_shift, set_network="pt_inception",
                        key_settings=("fid_resize", "alpha"), label="Mean shift", digits=1,
                        citations=("szegedy2016inception",)),
    likeness.MetricSpec("split_norm", "higher", "mean feature norm of the model's set over "
                        "two splits", set_value=_split_norms, set_network="pt_inception",
                        key_settings=("fid_resize", "alpha"), label="Split norm", digits=2,
                        spread="std"),
    likeness.MetricSpec("style_means", "lower", "L1 distance of VGG19 channel means, style "
                        "vs stylization", commands=("style",), images=("style", "test"),
                        features=FeatureUse("vgg19", _channel_means, _channel_means,
                                            _style_means_l1),
                        key_settings=("resize", "alpha"), label="Style means", digits=3,
                        citations=("simonyan2015vgg",)),
]


@pytest.fixture
def extended():
    """The worked example's MAE and the metrics above, registered for one test."""
    names = []
    try:
        namespace = worked_example()
        names.append(namespace["MAE"].name)
        for spec in EXTRA:
            likeness.register_metric(spec)
            names.append(spec.name)
        yield namespace
    finally:
        for name in names:
            unregister_metric(name)


def _save(path: Path, seed: int, size: int = 40) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def images(tmp_path):
    for index in range(4):
        _save(tmp_path / "ref" / f"{index}.png", index)
        _save(tmp_path / "out" / f"{index}.png", index + 10)
    _save(tmp_path / "content" / "c.png", 20)
    _save(tmp_path / "style" / "s.png", 21)
    _save(tmp_path / "stylized" / "c__s.png", 22)
    return tmp_path


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_worked_example_is_the_maths_and_one_entry(extended):
    mae = extended["mean_absolute_error"]
    x = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert mae(x, x + 3) == 3.0  # closed form
    assert METRICS["mae"].kind == "pixel"
    assert likeness.compare_files.__module__ == "likeness.runs.single"


def test_registered_metrics_reach_every_output(extended, images, stand_in, fid_weights):
    assert "pixels: ssim, psnr, mse, ms-ssim" in metrics_help("compare")
    for name, group in (("mae", "pixels"), ("alex-l1", "networks"),
                        ("mean-shift", "image sets"), ("split-norm", "image sets")):
        assert re.search(rf"{group}: [^;]*\b{name}\b", metrics_help("compare")), name
    assert "likeness style offers" in metrics_help("compare")
    assert "style-means" in metrics_help("style")
    help_text = CliRunner().invoke(main, ["compare", "--help"], terminal_width=400).output
    assert "mae" in help_text
    assert "split-norm" in help_text

    out = images / "run"
    result = CliRunner().invoke(main, [
        "compare", str(images / "ref"), str(images / "out"), "--metrics",
        "mae,alex-l1,mean-shift,split-norm", "--out-dir", str(out), "--html", "--no-cache",
        "--weights", f"alexnet={stand_in['alexnet']}", "--weights",
        f"pt_inception={fid_weights}"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "MAE" in result.output  # the terminal's table

    record = json.loads((out / "run.json").read_text())
    assert record["metric_failures"] == {}
    assert record["conventions"]["mae"] == METRICS["mae"].description
    rows = _csv(out / "per_image.csv")
    assert all(row["mae"] and row["alex_l1"] for row in rows)
    summary = {row["metric"]: row for row in _csv(out / "summary.csv")}
    assert set(summary) == {"mae", "alex_l1", "mean_shift", "split_norm"}
    assert summary["split_norm"]["std"] not in ("", None)

    markdown = (out / "summary.md").read_text()
    for label, arrow in (("MAE", "↓"), ("L1 (AlexNet)", "↓"), ("Mean shift", "↓"),
                         ("Split norm", "↑")):
        assert f"{label} {arrow}" in markdown, label
    mae_mean = float(summary["mae"]["mean"])
    assert format_value("mae", mae_mean) == f"{mae_mean:.3f}"  # its digits
    assert f"{mae_mean:.3f} [" in markdown  # a per-item metric: its bootstrap interval
    split = float(summary["split_norm"]["mean"])
    assert f"{split:.2f} ± " in markdown  # spread="std"
    latex = (out / "summary.tex").read_text()
    assert r"MAE$_{\ell_1}$" in latex
    assert r"$\ell_1^{\text{Alex}}$" in latex
    assert "mae" not in markdown.split("\n", 2)[2].split("|")[1]  # labels, not keys

    methods = (out / "methods.md").read_text()
    assert "MAE [@willmott2005mae]: the mean absolute difference" in methods
    assert "distance of the sets' mean Inception features" in methods  # its description
    # scale_dependent, its unit
    assert "MAE is in pixel values on the images' data range (255), not normalised" in methods
    bib = (out / "references.bib").read_text()
    assert "@article{willmott2005mae," in bib
    assert "krizhevsky2012alexnet" in bib
    report = (out / "report.html").read_text()
    assert "MAE" in report
    assert "L1 (AlexNet)" in report


def test_a_registered_style_metric_reaches_the_style_outputs(extended, images, stand_in):
    out = images / "style-run"
    result = CliRunner().invoke(main, [
        "style", "--content", str(images / "content"), "--style", str(images / "style"),
        "--stylized", str(images / "stylized"), "--metrics", "style-means",
        "--out-dir", str(out), "--no-cache", "--weights", f"vgg19={stand_in['vgg19']}"],
        terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = _csv(out / "per_image.csv")
    assert rows[0]["style_means"]
    assert "Style means ↓" in (out / "summary.md").read_text()
    assert "L1 distance of VGG19 channel means" in (out / "methods.md").read_text()


def test_registration_refuses_an_entry_that_cannot_work(extended):
    with pytest.raises(likeness.InvalidInputError, match="already a metric"):
        likeness.register_metric(METRICS["ssim"])
    with pytest.raises(likeness.InvalidInputError, match="exactly one of"):
        likeness.register_metric(likeness.MetricSpec("nothing", "lower", "consumes nothing"))
    with pytest.raises(likeness.InvalidInputError, match="unknown item network"):
        likeness.register_metric(likeness.MetricSpec(
            "bad_net", "lower", "x", features=FeatureUse("nope", _keep, _keep, _layers_l1)))
    with pytest.raises(likeness.InvalidInputError, match="without a BibTeX entry"):
        likeness.register_metric(likeness.MetricSpec(
            "uncited", "lower", "x", pixels=extended["mae_value"], citations=("nobody2024",)))
    with pytest.raises(likeness.InvalidInputError, match="better must be"):
        likeness.register_metric(likeness.MetricSpec("sideways", "up", "x",
                                                     pixels=extended["mae_value"]))
    with pytest.raises(likeness.InvalidInputError, match="set_sizes= checks the sets of a set "
                                                         "metric: give it with set_value="):
        likeness.register_metric(likeness.MetricSpec(
            "sized", "lower", "x", pixels=extended["mae_value"],
            set_sizes=lambda first, second, settings: None))
    assert "nothing" not in METRICS


def test_the_named_conventions_are_the_ones_the_maths_and_the_cards_know():
    from likeness.evaluation.catalog.defaults import CONVENTIONS
    from likeness.metrics.fid import FID_RESIZE_CONVENTIONS
    from likeness.metrics.ssim import SSIM_CONVENTIONS

    assert CONVENTIONS["fid_resize"] == FID_RESIZE_CONVENTIONS
    assert set(SSIM_CONVENTIONS) <= set(CONVENTIONS["ssim_convention"])
    for spec in METRICS.values():
        card = spec.card
        if card is not None and card.convention is not None:
            assert set(card.by_convention) < set(CONVENTIONS[card.convention]), spec.name


def test_a_registered_metric_takes_the_settings_its_entry_names(extended, images):
    """Whether a setting given changes a run's metrics is read from their entries (the
    settings of their cache keys; ``restoration``: y_channel and crop_border): a
    registered metric is judged as the built-in ones, so a crop it takes is never said
    to be left unapplied, and one it does not take is."""
    from dataclasses import replace

    base = METRICS[extended["MAE"].name]  # (the worked example's: a restoration metric)
    variants = {"mae_restoration": replace(base, name="mae_restoration",  # its key
                                           key_settings=("gray", "resize", "alpha")),
                "mae_uncropped": replace(base, name="mae_uncropped", restoration=False,
                                         key_settings=("gray", "resize", "alpha"))}
    for spec in variants.values():
        likeness.register_metric(spec)
    try:
        for name, said in ((base.name, False), ("mae_restoration", False),
                           ("mae_uncropped", True)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                results = likeness.compare(images / "ref", images / "out", metrics=name,
                                           crop_border=2, cache=False)
            unapplied = [w for w in results.record["warnings"] if "changes none" in w]
            assert bool(unapplied) is said, (name, unapplied)
            # said to the caller too, once the run is over
            assert any("changes none" in str(w.message) for w in caught) is said
    finally:
        for name in variants:
            unregister_metric(name)
