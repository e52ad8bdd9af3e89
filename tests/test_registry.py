"""The registry is the only place a metric is declared: one added there flows through
planning, both engines' code, the cache, the results folder, the methods paragraph and
the command line (docs/architecture.md, "Adding a metric")."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.evaluation.catalog.registry import METRICS, MetricSpec


def _mae(pair, settings):
    return float(np.mean(np.abs(pair.reference.astype(np.float64) - pair.test)))


@pytest.fixture
def mae(monkeypatch):
    monkeypatch.setitem(METRICS, "mae", MetricSpec(
        "mae", "lower", "mean absolute error, in units of the data range", pixels=_mae,
        scale_dependent=True, citations=("vanderwalt2014skimage",)))


def _folders(tmp_path):
    rng = np.random.default_rng(11)
    for index in range(3):
        pixels = rng.integers(0, 250, (24, 32, 3), dtype=np.uint8)
        for folder, offset in (("ref", 0), ("out", 3)):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(pixels + np.uint8(offset)).save(tmp_path / folder / f"{index}.png")
    return tmp_path / "ref", tmp_path / "out"


def test_a_metric_added_to_the_registry_reaches_every_output(tmp_path, mae):
    ref, out = _folders(tmp_path)
    results = likeness.compare(ref, out, metrics="ssim,mae", out_dir=tmp_path / "run",
                               cache=tmp_path / "cache.sqlite")
    assert [row.values["mae"] for row in results.rows] == [3.0, 3.0, 3.0]  # closed form
    with open(tmp_path / "run" / "per_image.csv", newline="") as handle:
        assert [float(r["mae"]) for r in csv.DictReader(handle)] == [3.0, 3.0, 3.0]
    assert results.summary_of("out", "mae").mean == 3.0
    assert "mae" in (tmp_path / "run" / "summary.tex").read_text()
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "mean absolute error" in methods
    assert "@vanderwalt2014skimage" in methods
    again = likeness.compare(ref, out, metrics="ssim,mae", cache=tmp_path / "cache.sqlite")
    assert all(row.cached for row in again.rows)  # cached under its own namespace
    assert [row.values for row in again.rows] == [row.values for row in results.rows]


def test_a_report_of_a_registered_metric_says_to_register_it_where_it_is_unknown(
        tmp_path, mae, monkeypatch):
    """A run with a metric added at run time, reported by a process without it (the command
    line): the record is as written, so the message says to register the metric again
    (it said the record was edited or damaged), and the report is written once it is."""
    ref, out = _folders(tmp_path)
    likeness.compare(ref, out, metrics="ssim,mae", out_dir=tmp_path / "run", cache=False)
    entry = METRICS["mae"]
    monkeypatch.delitem(METRICS, "mae")
    result = CliRunner().invoke(main, ["report", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert ("run.json names metric mae, which the run added with likeness.register_metric: "
            "register it again and read the folder from Python (likeness.write_report, "
            "likeness.analyze_study)"
            in " ".join(result.output.split()))
    monkeypatch.setitem(METRICS, "mae", entry)
    assert likeness.write_report(tmp_path / "run").is_file()


def test_the_command_line_offers_a_registered_metric(tmp_path, mae):
    ref, out = _folders(tmp_path)
    result = CliRunner().invoke(main, ["compare", str(ref / "0.png"), str(out / "0.png"),
                                       "--metrics", "mae"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "mae\t3.0000"
