"""Rating (MOS) studies: ``likeness study analyze --ratings``: simulated studies with known
quality recovered, Krippendorff's α for interval data equal to the ``krippendorff``
package (tests/data/study_values.json, references/make_study_values.py), the metrics'
correlation with the ratings against a results folder, attention checks, hostile files and
the folder the command writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import likeness
from likeness.cli import main
from likeness.errors import LikenessError
from likeness.results.ratings import (
    Rating,
    analyze_ratings,
    krippendorff_alpha_interval,
)
from likeness.runs.ratings import RATINGS_FILES, analyze_rating_study
from study_support import interrupt_writing

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _simulate(seed: int, quality: dict[str, float], items: int = 12,
              participants: int = 15) -> list[Rating]:
    """Ratings on 1–5 of outputs whose true quality is ``quality`` plus an item effect (the
    same items in every simulated study): each participant — drawn anew per ``seed`` —
    with a bias and a scale use of their own, noise, rounding, clipping."""
    item_effect = np.random.default_rng(12345).normal(0, 0.3, items)
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(participants):
        bias, scale = rng.normal(0, 0.4), rng.uniform(0.6, 1.4)
        for item in range(items):
            for model, q in quality.items():
                value = 3 + scale * (q + item_effect[item]) + bias + rng.normal(0, 0.5)
                rows.append(Rating(f"p{p}", f"i{item}.png", model,
                                   float(np.clip(np.round(value), 1, 5))))
    return rows


def _write(path: Path, rows: list[Rating]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["participant", "item", "model", "rating", "question", "expected"])
        for r in rows:
            writer.writerow([r.participant, r.item, r.model, f"{r.rating:g}", r.question,
                             "" if r.expected is None else f"{r.expected:g}"])
    return path


def test_a_simulated_study_recovers_the_models_order_and_separates_them():
    quality = {"good": 1.0, "middle": 0.0, "poor": -1.0}
    analysis = analyze_ratings(_simulate(0, quality), resamples=500)
    (question,) = analysis.questions
    by_model = {s.model: s for s in question.scores}
    assert [s.model for s in sorted(question.scores, key=lambda s: -s.mos)] == list(quality)
    assert [s.model for s in sorted(question.scores, key=lambda s: -s.z_mos)] == list(quality)
    for score in question.scores:
        assert score.ci[0] <= score.mos <= score.ci[1]
        assert score.z_ci[0] <= score.z_mos <= score.z_ci[1]
        assert score.ratings == 15 * 12
    assert by_model["good"].ci[0] > by_model["middle"].ci[1]  # well apart: disjoint CIs
    assert all(pair.p_holm < 0.01 for pair in question.pairs)
    assert question.alpha > 0.3  # the participants share the outputs' quality


def test_the_mos_interval_covers_the_truth_at_about_the_stated_rate():
    """Over simulated studies of the same items with new participants, the 90 % interval
    of a model's MOS covers its MOS in a very large study of the same items and population
    in about 90 % of the studies (participants are the sampled unit; the items are the
    study's own, so their variance is not part of the interval)."""
    quality = {"a": 0.3, "b": -0.3}
    truth = {s.model: s.mos for s in analyze_ratings(
        _simulate(999, quality, items=6, participants=400), resamples=1).questions[0].scores}
    covered = []
    for seed in range(60):
        scores = analyze_ratings(_simulate(seed, quality, items=6, participants=12),
                                 resamples=400, seed=seed,
                                 confidence=0.9).questions[0].scores
        covered += [s.ci[0] <= truth[s.model] <= s.ci[1] for s in scores]
    assert 0.8 <= np.mean(covered) <= 0.97  # measured over 200 studies: 0.88


def test_krippendorff_alpha_for_interval_data_equals_the_krippendorff_package():
    values = json.loads((DATA / "study_values.json").read_text(encoding="utf-8"))
    for case in values["krippendorff_interval"]:
        assert krippendorff_alpha_interval(case["units"]) == pytest.approx(case["alpha"],
                                                                           abs=1e-12)
    assert np.isnan(krippendorff_alpha_interval([[3.0], [4.0]]))  # nothing pairable
    assert krippendorff_alpha_interval([[1, 1], [5, 5], [3, 3]]) == 1.0


def test_attention_checks_exclude_participants_and_the_folder_says_so(tmp_path):
    rows = _simulate(1, {"a": 0.5, "b": -0.5}, items=4, participants=5)
    rows += [Rating("p0", "check.png", "a", 1.0, expected=1.0),
             Rating("p1", "check.png", "a", 4.0, expected=1.0)]
    analysis = analyze_rating_study(_write(tmp_path / "ratings.csv", rows), tmp_path / "out",
                                    resamples=200)
    assert analysis.exclusions == [("p1", "rated an attention check (a, check.png) 4, "
                                          "expected 1")]
    assert analysis.questions[0].participants == 4
    for name in RATINGS_FILES:
        assert (tmp_path / "out" / name).is_file(), name
    methods = (tmp_path / "out" / "methods.md").read_text(encoding="utf-8")
    assert "1 participant was excluded (p1: rated an attention check" in methods
    assert "Krippendorff's α for interval data" in methods
    record = json.loads((tmp_path / "out" / "study.json").read_text(encoding="utf-8"))
    assert record["kind"] == "ratings"
    with (tmp_path / "out" / "mos.csv").open(encoding="utf-8") as handle:
        mos = list(csv.DictReader(handle))
    assert [row["model"] for row in mos] == ["a", "b"]
    assert {"mos_ci95_low", "z_mos_ci95_high"} <= set(mos[0])
    # an earlier ratings analysis is replaced; another folder's files are not
    analyze_rating_study(tmp_path / "ratings.csv", tmp_path / "out", resamples=50)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(LikenessError, match="did not write"):
        analyze_rating_study(tmp_path / "ratings.csv", tmp_path / "other")


@pytest.mark.parametrize(("content", "message"), [
    (b"participant,item,model,rating\np0,a.png,m,good\n", "line 2: the rating 'good' is "
                                                          "not a number"),
    (b"participant,item,model,rating\np0,a.png,m,nan\n", "not a finite number"),
    # a spreadsheet's decimal comma (its CSV separated by semicolons)
    (b"participant;item;model;rating\np0;a.png;m;3,5\n", "line 2: the rating '3,5' is not a "
     "number (a decimal comma? likeness reads a decimal point: '3.5'; export the ratings "
     "with '.' as the decimal separator)"),
    (b"participant,item,model,rating\n", "lists no rating"),
    (b"participant,item,model\np0,a.png,m\n", "needs columns"),
    (b"participant,item,model,rating\np0,caf\xe9.png,m,3\n", "not UTF-8"),
    # "unexpected OverflowError: (34, 'Numerical result out of range')"
    (b"participant,item,model,rating\np0,a.png,m,1e308\np0,b.png,m,3\n",
     "line 2: the rating '1e308' is beyond ±1e100"),
    # Python's csv reads the last of two columns of one name, and ignored the other
    (b"participant,item,model,rating,rating\np0,a.png,m,3,4\n",
     "names column 'rating' 2 times (columns 4, 5); keep one"),
])
def test_a_hostile_ratings_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "ratings.csv"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["study", "analyze", "--ratings", str(path),
                                       "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_metrics_correlation_with_ratings_of_a_compare_run(tmp_path):
    results = likeness.compare(SAMPLES / "reference", [SAMPLES / "jpeg", SAMPLES / "stylized"],
                               metrics="psnr,mse", out_dir=tmp_path / "run", cache=False)
    rng = np.random.default_rng(3)
    rows = []
    for p in range(8):  # people who rate as PSNR does, with noise
        for row in results.rows:
            value = 1 + row.values["psnr"] / 8 + rng.normal(0, 0.2)
            rows.append(Rating(f"p{p}", row.reference, row.model, float(np.round(value, 1))))
    result = CliRunner().invoke(main, [
        "study", "analyze", "--ratings", str(_write(tmp_path / "ratings.csv", rows)),
        "--results", str(tmp_path / "run"), "--out-dir", str(tmp_path / "mos"),
        "--bootstrap", "300"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "mos" / "agreement.csv").open(encoding="utf-8") as handle:
        agreement = {row["metric"]: row for row in csv.DictReader(handle)}
    assert float(agreement["psnr"]["spearman"]) > 0.8
    assert float(agreement["mse"]["spearman"]) > 0.8  # lower is better: negated
    assert float(agreement["psnr"]["spearman_ci95_low"]) <= float(agreement["psnr"]["spearman"])
    assert "| PSNR |" in (tmp_path / "mos" / "summary.md").read_text(encoding="utf-8")
    page = (tmp_path / "mos" / "report.html").read_text(encoding="utf-8")
    assert "<h3>PSNR</h3>" in page
    assert "The outputs it ranks furthest from the ratings" in page
    assert "stylized" in page
    assert page.count("<img src='data:image/") >= 6  # each listed output and its reference
    unknown = [Rating("p0", "astronaut.png", "nobody", 3.0)]
    wrong = CliRunner().invoke(main, [
        "study", "analyze", "--ratings", str(_write(tmp_path / "unknown.csv", unknown)),
        "--results", str(tmp_path / "run"), "--out-dir", str(tmp_path / "bad")])
    assert wrong.exit_code == 1
    assert "the ratings name what" in wrong.output
    assert "models nobody" in wrong.output


def test_the_command_line_takes_one_source(tmp_path):
    path = _write(tmp_path / "r.csv", _simulate(2, {"a": 0.0}, items=2, participants=2))
    both = CliRunner().invoke(main, ["study", "analyze", "--ratings", str(path), "--judgments",
                                     str(path), "--out-dir", str(tmp_path / "out")])
    assert both.exit_code == 2
    assert "one of them" in both.output
    jod = CliRunner().invoke(main, ["study", "analyze", "--ratings", str(path), "--jod-zero",
                                    "a", "--out-dir", str(tmp_path / "out")])
    assert jod.exit_code == 2
    assert "no JOD scale" in jod.output


def test_a_rating_analysis_cut_short_can_be_run_again_into_its_folder(tmp_path, monkeypatch):
    import json

    import likeness.runs.ratings as ratings_module

    ratings = _write(tmp_path / "ratings.csv", _simulate(1, {"a": 0.5, "b": -0.5}, items=4,
                                                          participants=5))
    interrupt_writing(monkeypatch, ratings_module)
    with pytest.raises(KeyboardInterrupt):
        analyze_rating_study(ratings, tmp_path / "out", resamples=50)
    monkeypatch.undo()
    analyze_rating_study(ratings, tmp_path / "out", resamples=50)
    assert json.loads((tmp_path / "out" / "study.json").read_text())["status"] == "complete"


def test_an_anchor_identical_to_the_reference_is_ranked_and_its_plcc_said_undefined():
    rows = _simulate(4, {"anchor": 1.5, "good": 0.5, "poor": -1.0})
    items = sorted({r.item for r in rows})
    level = {"anchor": float("inf"), "good": 32.0, "poor": 24.0}
    psnr = {(m, item): level[m] + 0.1 * i for m in level for i, item in enumerate(items)}
    analysis = analyze_ratings(rows, resamples=100, metrics={"psnr": (True, psnr)})
    stimuli, rho, tau, plcc = analysis.questions[0].correlations["psnr"]
    assert stimuli == 3 * len(items)  # the anchor's outputs counted (they were left out)
    assert rho[0] > 0.8
    assert tau[0] > 0.6
    assert np.isnan(plcc[0])
    assert any(d.startswith("psnr: 12 outputs with an infinite value ranked beyond every "
                            "finite one") for d in analysis.decisions)


def test_correlation_intervals_over_fewer_than_ten_items_are_said_to_under_cover():
    """The metrics' correlations resample items: from 6 items their intervals under-cover,
    said once per question; from 12 items, or without metrics, nothing is said."""
    quality = {"a": 0.8, "b": 0.0, "c": -0.8}
    said = ("the metrics' correlation intervals resample 6 items, fewer than 10: from so "
            "few, a 95% interval holds the score less often than 95% of the time, so read "
            "them as the spread of these items")
    rows = _simulate(2, quality, items=6)
    values = {(r.model, r.item): quality[r.model] + 0.01 * len(r.item) for r in rows}
    metrics = {"m1": (True, values), "m2": (False, {k: -v for k, v in values.items()})}
    few = analyze_ratings(rows, resamples=50, metrics=metrics)
    assert few.decisions == [said]
    assert analyze_ratings(rows, resamples=50).decisions == []
    rows = _simulate(2, quality, items=12)
    values = {(r.model, r.item): quality[r.model] for r in rows}
    assert analyze_ratings(rows, resamples=50, metrics={"m1": (True, values)}).decisions == []


def test_mos_intervals_over_fewer_than_ten_participants_are_said_to_under_cover():
    quality = {"a": 0.5, "b": -0.5}
    few = analyze_ratings(_simulate(1, quality, participants=5), resamples=200)
    assert few.decisions == [
        "the intervals resample 5 participants, fewer than 10: from so few, a 95% interval "
        "holds the score less often than 95% of the time, so read them as the spread of "
        "these participants"]
    assert analyze_ratings(_simulate(1, quality), resamples=200).decisions == []


def test_pairwise_tests_over_five_items_or_fewer_are_said_to_be_unable_to_show_a_difference():
    """From n items the two-sided Wilcoxon test's smallest p-value is 2^(1−n): over 4 items
    0.125, whatever the ratings — said, so that a large p-value is not read as "alike"."""
    quality = {"a": 1.5, "b": -1.5}  # every item's difference of one sign
    analysis = analyze_ratings(_simulate(3, quality, items=4), resamples=50)
    assert analysis.questions[0].pairs[0].p_value == pytest.approx(0.125)
    assert analysis.decisions == [
        "the paired Wilcoxon tests rest on 4 items: from so few the smallest p-value is "
        "0.125, so they cannot show a difference at the 5% level whatever the values, and a "
        "large p-value does not say the two are alike"]
    assert analyze_ratings(_simulate(3, quality, items=6), resamples=50).decisions == []
