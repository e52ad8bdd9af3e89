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


def _offset_metric(offset: float):
    def value(pair, settings):  # closes over offset: "edited" by registering anew
        return float(np.mean(np.abs(pair.reference.astype(np.float64) - pair.test))) + offset
    return value


def test_a_metric_edited_and_registered_again_is_recomputed_not_served_from_the_cache(
        tmp_path):
    """A notebook's metric, fixed and registered again under its name: the cache kept the
    first version's values under the same key and served them, so the fix seemed to change
    nothing.  The key now holds a fingerprint of the metric's code."""
    ref, out = _folders(tmp_path)
    cache = tmp_path / "cache.sqlite"
    values = []
    try:
        for offset in (0.0, 1.0, 1.0):
            likeness.register_metric(MetricSpec("mae_edited", "lower", "mean absolute error",
                                                pixels=_offset_metric(offset),
                                                scale_dependent=True,
                                                citations=("vanderwalt2014skimage",)),
                                     replace_existing=True)
            results = likeness.compare(ref, out, metrics="mae_edited", cache=cache)
            values.append(([row.values["mae_edited"] for row in results.rows],
                           all(row.cached for row in results.rows)))
    finally:
        likeness.unregister_metric("mae_edited")
    assert values == [([3.0] * 3, False), ([4.0] * 3, False), ([4.0] * 3, True)]


def test_a_metric_s_fingerprint_follows_its_helpers_and_is_stable(tmp_path,
                                                                        monkeypatch):
    from likeness.evaluation.catalog.registry import code_fingerprint

    def fingerprint_of(module_source: str) -> str:  # as register_metric takes it: at once
        path = tmp_path / "my_metric.py"
        path.write_text(module_source, encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        import importlib
        import sys

        sys.modules.pop("my_metric", None)
        module = importlib.import_module("my_metric")
        return code_fingerprint(MetricSpec("mine", "lower", "mine", pixels=module.value))

    helper = "def helper(x):\n    return x * {}\n\n\ndef value(pair, settings):\n" \
             "    return helper(1.0)\n"
    first, same = fingerprint_of(helper.format(2)), fingerprint_of(helper.format(2))
    edited = fingerprint_of(helper.format(30))  # only the helper the metric calls changed
    # (in length too: a .pyc of the same size and second would be imported instead)
    assert first == same
    assert first != edited


class _Scaled:
    """A metric as a callable object: its settings are its attributes."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, pair, settings):
        return self.factor * float(np.mean(pair.test))


def test_a_callable_metric_s_fingerprint_follows_its_settings_and_partial_arguments():
    import functools

    from likeness.evaluation.catalog.registry import code_fingerprint

    def of(function) -> str:
        return code_fingerprint(MetricSpec("mine", "lower", "mine", pixels=function))

    assert of(_Scaled(2.0)) == of(_Scaled(2.0))
    assert of(_Scaled(2.0)) != of(_Scaled(3.0))
    assert of(functools.partial(_mae, settings=None)) != of(functools.partial(_mae,
                                                                             settings=1))
    # an object among the arguments (its repr holds its address): the key stays put
    assert of(functools.partial(_mae, settings=object())) == of(
        functools.partial(_mae, settings=object()))
