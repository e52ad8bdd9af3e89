"""The analysis of 2AFC studies (issue 29, first part): Bradley–Terry scores equal to
choix's (pinned by references/make_study_values.py), recovered from simulated studies with
known preferences with intervals that cover the truth, exact binomial tests with Holm's
correction, every decision about the judgments recorded, hostile files refused in the
command line's words, and the folder written end to end."""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from likeness.cli import main
from likeness.errors import InvalidInputError, LikenessError
from likeness.results.pairwise_scaling import JOD_SIGMA, bradley_terry, thurstone_jod, win_matrix
from likeness.results.stats import holm
from likeness.results.study import Judgment, analyze, read_judgments
from likeness.runs.study import analyze_study
from study_support import interrupt_writing

PINNED = json.loads((Path(__file__).parent / "data" / "study_values.json").read_text())
MODELS = ("ours", "adain", "wct", "gatys")


@pytest.mark.parametrize("dataset", PINNED["datasets"], ids=lambda d: f"seed{d['seed']}")
def test_bradley_terry_equals_choix_and_jod_equals_pw_scale(dataset):
    wins = win_matrix(len(dataset["strengths"]), dataset["judgments"])
    np.testing.assert_allclose(thurstone_jod(wins), dataset["jod"], rtol=0, atol=1e-6)
    if dataset["bradley_terry"] is None:  # choix found no maximum: neither does likeness
        with pytest.raises(InvalidInputError, match="no maximum"):
            bradley_terry(wins)
        with pytest.raises(InvalidInputError, match="no maximum"):
            thurstone_jod(wins, use_prior=False)
        return
    ours = bradley_terry(wins)
    np.testing.assert_allclose(ours, dataset["bradley_terry"], rtol=0, atol=1e-6)
    assert abs(float(ours.sum())) < 1e-12  # mean zero
    np.testing.assert_allclose(thurstone_jod(wins, use_prior=False),
                               dataset["jod_without_prior"], rtol=0, atol=1e-6)


def test_two_models_have_the_closed_form():
    # P(first wins) = w / n at the maximum: θ1 − θ2 = log(w / l), split around zero
    theta = bradley_terry(np.array([[0.0, 7.0], [3.0, 0.0]]))
    assert theta[0] == pytest.approx(math.log(7 / 3) / 2, abs=1e-12)
    assert theta[1] == pytest.approx(-math.log(7 / 3) / 2, abs=1e-12)


def test_no_maximum_is_refused_with_the_models_that_break_it():
    wins = np.array([[0.0, 3.0, 2.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with pytest.raises(InvalidInputError, match="never lost: ours"):
        bradley_terry(wins, ["ours", "adain", "wct"])
    with pytest.raises(InvalidInputError, match="with itself"):
        win_matrix(2, [(1, 1)])


def _simulate(generator: np.random.Generator, strengths: np.ndarray, participants: int,
              per_participant: int) -> list[Judgment]:
    judgments = []
    for participant in range(participants):
        for trial in range(per_participant):
            i, j = generator.choice(strengths.size, 2, replace=False)
            chosen = i if generator.random() < 1 / (1 + np.exp(strengths[j] - strengths[i])) \
                else j
            judgments.append(Judgment(f"p{participant}", f"img{trial}.png", MODELS[i],
                                      MODELS[j], MODELS[chosen]))
    return judgments


def test_a_simulated_study_is_recovered_and_its_intervals_cover_the_truth():
    """Known log-strengths (mean zero); 100 simulated studies of 15 participants × 24
    judgments: the estimates centre on the truth, and each model's 90 % interval covers
    its true strength in about 90 of the 100 studies (the studies are independent, so the
    count is binomial: 81 to 98 holds it with probability > 0.99; a model's intervals,
    not all four pooled, because the four of one study are tied by the mean-zero scale)."""
    truth = np.array([0.6, 0.2, -0.2, -0.6])
    generator = np.random.default_rng(29)
    covered = np.zeros(4)
    estimates = []
    for _ in range(100):
        analysis = analyze(_simulate(generator, truth, 15, 24), resamples=200,
                           seed=int(generator.integers(1 << 30)), confidence=0.9,
                           with_jod=False)
        question = analysis.questions[0]
        for index, model in enumerate(MODELS):
            low, high = question.ci[model]
            covered[index] += low <= truth[index] <= high
        estimates.append([question.bradley_terry[model] for model in MODELS])
    np.testing.assert_allclose(np.mean(estimates, axis=0), truth, atol=0.05)
    assert np.all((covered >= 81) & (covered <= 98)), covered


def test_jod_recovers_a_thurstone_study_and_one_jod_is_75_percent():
    """Judgments simulated from Thurstone Case V with known JOD scores: recovered (the
    prior pulls unanimous-looking pairs in, so within 0.15 JOD), the first model at 0."""
    truth = np.array([0.0, 1.0, -0.5, 2.0])
    generator = np.random.default_rng(4)
    pairs = []
    for _ in range(3000):
        i, j = generator.choice(4, 2, replace=False)
        first = generator.random() < stats.norm.cdf((truth[i] - truth[j]) / JOD_SIGMA)
        pairs.append((i, j) if first else (j, i))
    np.testing.assert_allclose(thurstone_jod(win_matrix(4, pairs)), truth, atol=0.15)
    assert stats.norm.cdf(1 / JOD_SIGMA) == pytest.approx(0.75, abs=1e-4)
    with pytest.raises(InvalidInputError, match="no comparison connects"):
        thurstone_jod(np.array([[0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 3], [0, 0, 1, 0]]),
                      ["a", "b", "c", "d"])


def test_pairwise_tests_are_exact_binomial_with_holm():
    generator = np.random.default_rng(3)
    analysis = analyze(_simulate(generator, np.array([0.5, 0.0, -0.2, -0.3]), 8, 30),
                       resamples=20)
    tests = analysis.questions[0].pairs
    assert len(tests) == 6
    for test in tests:
        expected = stats.binomtest(test.first_wins, test.n, 0.5).pvalue
        assert test.p_value == pytest.approx(expected, rel=1e-12)
    assert [t.p_holm for t in tests] == pytest.approx(holm([t.p_value for t in tests]))


def _write(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or ["participant", "item", "a", "b", "choice", "expected"])
        writer.writerows(rows)
    return path


def _study_rows(generator: np.random.Generator) -> list[list[str]]:
    rows = [[j.participant, j.item, j.a, j.b, j.choice, ""] for j in
            _simulate(generator, np.array([0.8, 0.2, -0.3, -0.7]), 12, 20)]
    rows += [[f"p{p}", "check.png", "ours", "gatys", "ours", "ours"] for p in range(12)]
    return rows


def test_every_decision_about_the_judgments_is_recorded(tmp_path):
    rows = _study_rows(np.random.default_rng(1))
    rows.append(["p0", "img0.png", "ours", "wct", "", ""])  # no answer
    rows.append(["p1", "img0.png", "ours", "wct", "tie", ""])  # a tie
    rows.append(["careless", "check.png", "ours", "gatys", "gatys", "ours"])
    rows += [["careless", f"img{t}.png", "wct", "adain", "wct", ""] for t in range(3)]
    rows += [["left", f"img{t}.png", MODELS[t % 4], MODELS[(t + 1) % 4], MODELS[t % 4], ""]
             for t in range(12)]
    judgments, decisions = read_judgments(_write(tmp_path / "j.csv", rows))
    assert decisions == ["1 row without a choice left out (no answer)",
                         "1 tie left out (a 2AFC judgment chooses one of two)"]
    analysis = analyze(judgments, resamples=100, decisions=decisions)
    assert dict(analysis.exclusions) == {"careless": "failed 1 of 1 attention check",
                                         "left": "chose side a in all 12 judgments"}
    assert analysis.questions[0].judgments == 12 * 20  # attention checks are not scored


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"participant,item,a,b\n", r"lacks the column choice"),
    (b"participant,item,a,b,choice\np1,x.png,m1,m2,m3\n", "line 2: choice 'm3' is neither"),
    (b"participant,item,a,b,choice\np1,x.png,m1,m1,m1\n", "line 2: a and b are the same"),
    (b"participant,item,a,b,choice\np1,,m1,m2,m1\n", "line 2: participant, item, a and b"),
    (b"participant,item,a,b,choice\np1,x.png,m1,m2,\n", "holds no judgment with a choice"),
    ("participant,item,a,b,choice\np1,x.png,m\xe9,m2,m2\n".encode("latin-1"),
     "is not UTF-8"),
    (b'participant,item,a,b,choice\np1,x.png,m1,m2,m1\np2,"y.png,m1,m2,m1\n', "not CSV"),
    (b"participant,item,a,b,choice\np1,x.png,m1,m2,m1\np2,y.png,m1,m2," + b"m" * 200_000
     + b"\n", "line 3: not CSV"),
])
def test_hostile_judgment_files_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "j.csv"
    path.write_bytes(content)
    with pytest.raises(LikenessError, match=message):
        read_judgments(path)
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                       "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("separator", [";", "\t"])
def test_judgments_a_spreadsheet_separated_by_semicolons_or_tabs_are_read(tmp_path, separator):
    """As the pairs CSV and the ratings CSV are read (the header says which separator)."""
    rows = _study_rows(np.random.default_rng(1))
    with_commas = read_judgments(_write(tmp_path / "commas.csv", rows))
    other = tmp_path / "other.csv"
    with other.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=separator)
        writer.writerow(["participant", "item", "a", "b", "choice", "expected"])
        writer.writerows(rows)
    assert read_judgments(other) == with_commas


def test_a_judgments_path_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "judgments.csv"
    os.mkfifo(fifo)
    with pytest.raises(LikenessError, match="FIFO"):
        read_judgments(fifo)


def test_a_misspelt_question_column_is_refused_not_pooled(tmp_path):
    # ignored, "questions" analysed two questions' judgments as one; the CLI says it too
    rows = [["p1", "x.png", "ours", "wct", "ours", "sharper?"],
            ["p1", "x.png", "ours", "wct", "wct", "closer to the style?"]]
    path = _write(tmp_path / "j.csv", rows, ["participant", "item", "a", "b", "choice",
                                             "questions"])
    with pytest.raises(LikenessError, match="column 'questions' is not one the judgments "
                                            "file reads; is it 'question' misspelt"):
        read_judgments(path)
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                       "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "is it 'question' misspelt? Rename it" in result.output
    # a column of its own with a name near one (a questionnaire's id) is not refused
    rows = [["p1", "x.png", "ours", "wct", "ours", "q1"]]
    path = _write(tmp_path / "k.csv", rows, ["participant", "item", "a", "b", "choice",
                                             "questionnaire"])
    assert len(read_judgments(path)[0]) == 1


def test_a_row_with_more_fields_or_a_column_named_twice_is_refused(tmp_path):
    """An item name holding an unquoted comma shifted the row: "p1,cat,dog,m,n,m" was read
    as item "cat", a "dog", b "m", choice "n" — a judgment of the wrong models, the extra
    field dropped without a word; a header naming choice twice had its last column read."""
    path = tmp_path / "j.csv"
    path.write_text("participant,item,a,b,choice\np1,x.png,m,n,m\np1,cat,dog,m,n,m\n",
                    encoding="utf-8")
    with pytest.raises(LikenessError, match="line 3: more fields than the header has "
                                            "columns \\(quote names that contain commas"):
        read_judgments(path)
    path.write_text("participant,item,a,b,choice,choice\np1,x.png,m,n,m,n\n",
                    encoding="utf-8")
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                       "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "names column 'choice' 2 times (columns 5, 6); keep one" in result.output
    path.write_text("participant,item,a,b,choice,note,note\np1,x.png,m,n,m,,\n",
                    encoding="utf-8")
    assert len(read_judgments(path)[0]) == 1  # columns it does not read may repeat


def test_a_model_that_never_lost_has_no_bradley_terry_score_but_a_jod(tmp_path):
    rows = [["p1", "x.png", "ours", "wct", "ours"], ["p1", "y.png", "ours", "adain", "ours"],
            ["p2", "x.png", "wct", "adain", "adain"], ["p2", "y.png", "adain", "wct", "wct"],
            ["p3", "z.png", "wct", "ours", "ours"]]
    path = _write(tmp_path / "j.csv", rows, ["participant", "item", "a", "b", "choice"])
    analysis = analyze_study(path, tmp_path / "out", resamples=30)
    assert any("never lost: ours" in decision for decision in analysis.decisions)
    question = analysis.questions[0]
    assert all(math.isnan(value) for value in question.bradley_terry.values())
    assert question.jod["ours"] == 0  # the first model of the file
    assert question.jod["adain"] < 0
    assert question.jod["wct"] < 0
    scores = (tmp_path / "out" / "scores.csv").read_text().splitlines()
    assert scores[1].startswith(",ours,3,3,,,,")  # no Bradley–Terry value: empty cells
    assert "never lost: ours" in (tmp_path / "out" / "methods.md").read_text()


def test_the_command_writes_the_analysis_folder(tmp_path):
    path = _write(tmp_path / "j.csv", _study_rows(np.random.default_rng(5)))
    out = tmp_path / "study"
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                       "--out-dir", str(out), "--bootstrap", "300"])
    assert result.exit_code == 0, result.output
    with (out / "scores.csv").open(newline="") as handle:
        scores = list(csv.DictReader(handle))
    assert [row["model"] for row in scores] == ["ours", "adain", "wct", "gatys"]
    assert sum(float(row["bradley_terry"]) for row in scores) == pytest.approx(0, abs=1e-12)
    for row in scores:
        assert float(row["bradley_terry_ci95_low"]) < float(row["bradley_terry"]) < float(
            row["bradley_terry_ci95_high"])
    assert len((out / "pairwise.csv").read_text().splitlines()) == 7
    methods = (out / "methods.md").read_text()
    assert "12 participants made 240 judgments" in methods
    assert "Bradley" in methods
    assert json.loads((out / "study.json").read_text())["kind"] == "study"
    bibliography = (out / "references.bib").read_text()
    for key in ("bradley1952", "thurstone1927", "perezortiz2017pwcmp", "holm1979",
                "krippendorff2011alpha"):
        assert f"{{{key}," in bibliography
    assert "zhang2018lpips" not in bibliography  # no metric agreement without --results
    latex = (out / "summary.tex").read_text()
    assert "\\begin{tabular}{lccc}" in latex
    assert latex.count("\\\\") == 5  # the header and four models
    # a second analysis replaces its own folder; a folder of other files is refused
    again = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                      "--out-dir", str(out), "--bootstrap", "50"])
    assert again.exit_code == 0, again.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    refused = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                        "--out-dir", str(tmp_path / "other")])
    assert refused.exit_code == 1
    assert "choose an empty or new folder" in refused.output
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_krippendorff_alpha_equals_the_krippendorff_package():
    """Pinned from krippendorff 0.9.0 (``alpha(reliability_data, "nominal")``) on units
    built by references/make_study_values.py's rule, and closed forms."""
    from likeness.results.reliability import krippendorff_alpha_nominal

    for record in PINNED["krippendorff"]:
        assert krippendorff_alpha_nominal(record["units"]) == pytest.approx(record["alpha"],
                                                                             abs=1e-12)
    assert krippendorff_alpha_nominal([["x", "x"], ["y", "y"], ["x", "x"]]) == 1.0
    assert math.isnan(krippendorff_alpha_nominal([["x"], ["y"]]))  # nothing paired


def test_the_study_reports_agreement_and_repeated_trials():
    judgments = [Judgment("p1", "i1", "ours", "wct", "ours"),
                 Judgment("p2", "i1", "wct", "ours", "ours"),
                 Judgment("p3", "i1", "ours", "wct", "wct"),
                 Judgment("p1", "i2", "ours", "wct", "wct"),
                 Judgment("p2", "i2", "ours", "wct", "wct"),
                 Judgment("p1", "i1", "wct", "ours", "ours"),  # a repeat, same answer
                 Judgment("p2", "i2", "wct", "ours", "ours")]  # a repeat, another answer
    question = analyze(judgments, resamples=10).questions[0]
    from likeness.results.reliability import krippendorff_alpha_nominal

    assert question.alpha == pytest.approx(krippendorff_alpha_nominal(
        [["ours", "ours", "wct"], ["wct", "wct"]]), abs=1e-12)
    assert question.repeats == 2
    assert question.consistency == 0.5


SAMPLES = Path(__file__).parents[1] / "samples"


@pytest.fixture(scope="module")
def sample_results(tmp_path_factory):
    """likeness compare on the bundled samples: two models (jpeg, stylized), three items."""
    out = tmp_path_factory.mktemp("samples") / "results"
    result = CliRunner().invoke(main, ["compare", str(SAMPLES / "reference"),
                                       str(SAMPLES / "jpeg"), str(SAMPLES / "stylized"),
                                       "--metrics", "ssim,psnr,mse", "--out-dir", str(out),
                                       "--no-cache"])
    assert result.exit_code == 0, result.output
    return out


def test_each_metric_agrees_with_simulated_participants_as_computed_by_hand(tmp_path,
                                                                            sample_results):
    generator = np.random.default_rng(11)
    rows = []
    for participant in range(10):
        for item in ("astronaut.png", "coffee.png", "rocket.png"):
            for _ in range(2):
                a, b = ("jpeg", "stylized") if generator.random() < 0.5 else ("stylized", "jpeg")
                choice = "jpeg" if generator.random() < 0.8 else "stylized"
                rows.append([f"p{participant}", item, a, b, choice])
    path = _write(tmp_path / "j.csv", rows, ["participant", "item", "a", "b", "choice"])
    out = tmp_path / "study"
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                       "--out-dir", str(out), "--results", str(sample_results),
                                       "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    with (sample_results / "per_image.csv").open(newline="") as handle:
        values = {(r["model"], r["reference"]): r for r in csv.DictReader(handle)}
    with (out / "agreement.csv").open(newline="") as handle:
        agreement = {r["metric"]: r for r in csv.DictReader(handle)}
    assert set(agreement) == {"ssim", "psnr", "mse"}
    for metric, higher in (("ssim", True), ("psnr", True), ("mse", False)):
        agree = 0.0
        for _, item, a, b, choice in rows:
            va, vb = float(values[(a, item)][metric]), float(values[(b, item)][metric])
            if va == vb:
                agree += 0.5
                continue
            preferred = a if (va > vb) == higher else b
            agree += preferred == choice
        assert float(agreement[metric]["two_afc"]) == pytest.approx(agree / len(rows),
                                                                    abs=1e-12)
        assert float(agreement[metric]["two_afc_ci95_low"]) <= float(
            agreement[metric]["two_afc"]) <= float(agreement[metric]["two_afc_ci95_high"])
    # the human ceiling: pairs of judgments of the same item agreeing, per item
    ceiling = []
    for item in ("astronaut.png", "coffee.png", "rocket.png"):
        choices = [r[4] for r in rows if r[1] == item]
        n, k = len(choices), choices.count("jpeg")
        ceiling.append((k * (k - 1) + (n - k) * (n - k - 1)) / (n * (n - 1)))
    assert float(agreement["ssim"]["human_ceiling"]) == pytest.approx(np.mean(ceiling),
                                                                     abs=1e-12)
    assert "2AFC score" in (out / "methods.md").read_text()
    assert "| SSIM |" in (out / "summary.md").read_text()
    page = (out / "report.html").read_text()
    assert "Where SSIM disagrees most with the participants" in page
    assert page.count("<img src='data:image/jpeg;base64,") >= 3  # reference and both outputs
    assert "<script" not in page


def test_judgments_that_name_what_the_results_do_not_hold_are_refused(tmp_path,
                                                                      sample_results):
    path = _write(tmp_path / "j.csv", [["p1", "astronaut.png", "jpeg", "gan", "gan"],
                                       ["p1", "lena.png", "jpeg", "stylized", "jpeg"]],
                  ["participant", "item", "a", "b", "choice"])
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                       "--out-dir", str(tmp_path / "o"), "--results",
                                       str(sample_results)])
    assert result.exit_code == 1
    assert "models gan; items lena.png" in result.output


def test_two_metrics_agreement_differs_by_a_paired_bootstrap():
    """A metric that always prefers the chosen model against one that never does: their
    difference is 1 with a tiny p; a metric against itself (a copy): 0, p = 1."""
    judgments = [Judgment(f"p{p}", f"i{i}", "x", "y", "x" if (p + i) % 4 else "y")
                 for p in range(6) for i in range(12)]
    right = {("x", f"i{i}"): 1.0 for i in range(12)} | {("y", f"i{i}"): 0.0 for i in range(12)}
    wrong = {key: 1.0 - value for key, value in right.items()}
    question = analyze(judgments, resamples=300, with_jod=False, metrics={
        "right": (True, right), "wrong": (True, wrong), "copy": (True, dict(right))}).questions[0]
    differences = {(d.first, d.second): d for d in question.metric_differences}
    chosen_x = sum(j.choice == "x" for j in judgments) / len(judgments)
    assert question.metrics["right"][0] == pytest.approx(chosen_x)
    assert differences[("right", "wrong")].difference == pytest.approx(2 * chosen_x - 1)
    # no resample puts them the other way: the smallest p 300 resamples give, 2/301
    assert differences[("right", "wrong")].p_value == pytest.approx(2 / 301)
    assert differences[("right", "wrong")].p_holm == pytest.approx(3 * 2 / 301)
    assert differences[("right", "copy")].difference == 0
    assert differences[("right", "copy")].p_value == 1.0


def test_a_model_named_tie_is_a_model(tmp_path):
    rows = [["p1", "x.png", "tie", "wct", "tie"], ["p1", "y.png", "tie", "wct", "wct"],
            ["p2", "x.png", "wct", "tie", "tie"], ["p2", "y.png", "ours", "wct", "equal"]]
    judgments, decisions = read_judgments(_write(tmp_path / "j.csv", rows,
                                                 ["participant", "item", "a", "b", "choice"]))
    assert [j.choice for j in judgments] == ["tie", "wct", "tie"]
    assert decisions == ["1 tie left out (a 2AFC judgment chooses one of two)"]


def test_rank_correlations_between_metric_and_human_scores():
    """Four models with known strengths; a metric ordered as the participants: ρ = τ = 1;
    one ordered the other way: −1; a lower-is-better metric is turned before ranking."""
    generator = np.random.default_rng(8)
    judgments = _simulate(generator, np.array([1.5, 0.5, -0.5, -1.5]), 20, 30)
    items = {j.item for j in judgments}
    quality = dict(zip(MODELS, (4.0, 3.0, 2.0, 1.0), strict=True))
    good = {(m, item): quality[m] for m in MODELS for item in items}
    bad = {key: -value for key, value in good.items()}
    question = analyze(judgments, resamples=100, with_jod=False, metrics={
        "good": (True, good), "bad": (True, bad), "distance": (False, bad)}).questions[0]
    rho, rho_ci, tau, tau_ci = question.correlations["good"]
    assert (rho, tau) == (pytest.approx(1.0), pytest.approx(1.0))
    assert rho_ci[0] <= rho <= rho_ci[1]
    assert question.correlations["bad"][0] == pytest.approx(-1.0)
    assert question.correlations["distance"][0] == pytest.approx(1.0)


def test_the_jod_bootstrap_is_bounded_in_time_and_says_so(monkeypatch):
    import likeness.results.study as study

    monkeypatch.setattr(study, "JOD_BUDGET_S", 0.0)  # every refit "too slow": 200 resamples
    judgments = _simulate(np.random.default_rng(2), np.array([0.5, 0.0, -0.2, -0.3]), 6, 20)
    analysis = analyze(judgments, resamples=300)
    assert any("JOD intervals from the first 200 of the 300 resamples" in d
               for d in analysis.decisions)
    question = analysis.questions[0]
    assert question.resamples_used == 300
    assert all(low <= question.jod[m] <= high or m == question.models[0]
               for m, (low, high) in question.jod_ci.items())


def test_a_metric_that_failed_in_the_results_is_left_out_and_said(tmp_path, monkeypatch):
    """A results folder whose LPIPS could not run (no checkpoint, offline): the study
    compares the metrics that have values and records why LPIPS is not among them."""
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))
    results = tmp_path / "results"
    run = CliRunner().invoke(main, ["compare", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"),
                                    str(SAMPLES / "stylized"), "--metrics", "ssim,lpips_alex",
                                    "--out-dir", str(results), "--no-cache"])
    assert "LPIPS (alex) failed for" in run.output  # the run says it could not compute it
    path = _write(tmp_path / "j.csv", [["p1", "astronaut.png", "jpeg", "stylized", "jpeg"],
                                       ["p2", "astronaut.png", "stylized", "jpeg", "stylized"],
                                       ["p2", "coffee.png", "jpeg", "stylized", "jpeg"]],
                  ["participant", "item", "a", "b", "choice"])
    analysis = analyze_study(path, tmp_path / "study", results=results, resamples=20)
    assert set(analysis.questions[0].metrics) == {"ssim"}
    assert any("(`lpips_alex`) has no values" in d for d in analysis.decisions)
    assert "(`lpips_alex`) has no values" in (tmp_path / "study" / "methods.md").read_text()


def test_names_and_questions_are_escaped_in_the_markdown_summary(tmp_path):
    """A model called "*a*|b" in a judgments file split its row in two cells and set the
    rest in italics; a question with a line break ended its heading."""
    rows = [[f"p{participant}", f"item{item}", "*a*|b", "c_d_", "*a*|b" if item % 3 else "c_d_",
             "Which\nlooks better?"]
            for participant in range(4) for item in range(6)]
    path = _write(tmp_path / "j.csv", rows, ["participant", "item", "a", "b", "choice",
                                             "question"])
    out = tmp_path / "study"
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments", str(path),
                                       "--out-dir", str(out), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    summary = (out / "summary.md").read_text(encoding="utf-8").splitlines()
    assert "## Which looks better?" in summary
    assert any(line.startswith("| \\*a\\*\\|b | ") for line in summary)
    assert any(line.startswith("| c\\_d\\_ | ") for line in summary)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"resamples": 0}, "resamples must be from 1 to 1,000,000, got 0"),
    ({"resamples": 2.5}, "resamples must be a whole number, got 2.5"),
    ({"confidence": "0.9"}, "confidence must be a number, got '0.9'"),
    ({"confidence": 1}, "confidence must be in (0, 1), got 1"),
    ({"results": 5}, "results must be a path or None, got 5"),
    ({"out_dir": 5}, "out_dir must be a path or None, got 5"),
    ({"jod_zero": 5}, "jod_zero must be a string or None, got 5")])
def test_analysis_arguments_are_checked_before_any_file_is_read(tmp_path, arguments, message):
    """They failed inside the analysis with Python's errors ("'<' not supported …")."""
    from likeness.runs.ratings import analyze_rating_study

    missing = tmp_path / "not-read.csv"  # never opened: the arguments are refused first
    with pytest.raises(LikenessError, match=re.escape(message)):
        analyze_study(missing, **arguments)
    if "jod_zero" not in arguments:
        with pytest.raises(LikenessError, match=re.escape(message)):
            analyze_rating_study(missing, **arguments)


def test_an_analysis_cut_short_can_be_run_again_into_its_folder(tmp_path, monkeypatch):
    """Ctrl-C (or a full disk) after the first files but before study.json left a folder
    the next analysis refused: "holds files likeness's study analysis did not write"."""
    import likeness.runs.study as study_module

    path = _write(tmp_path / "j.csv", _study_rows(np.random.default_rng(5)))
    interrupt_writing(monkeypatch, study_module)
    with pytest.raises(KeyboardInterrupt):
        analyze_study(path, tmp_path / "out", resamples=30)
    assert json.loads((tmp_path / "out" / "study.json").read_text())["status"] == "writing"
    monkeypatch.undo()
    analyze_study(path, tmp_path / "out", resamples=30)
    assert json.loads((tmp_path / "out" / "study.json").read_text())["status"] == "complete"


def test_a_hidden_reference_with_psnr_inf_is_ranked_not_dropped():
    """A study that shows the reference itself as a model (a hidden reference): its PSNR is
    +inf on every item.  The metric prefers it over every other model, scores two models
    both identical to the reference as a tie, and ranks it first in the correlations (they
    were NaN: its mean over no finite value)."""
    generator = np.random.default_rng(8)
    judgments = _simulate(generator, np.array([1.5, 0.5, -0.5, -1.5]), 20, 30)
    items = sorted({j.item for j in judgments})
    quality = dict(zip(MODELS, (math.inf, 30.0, 25.0, 20.0), strict=True))  # ours: exact
    psnr = {(m, item): quality[m] + (0.0 if m == "ours" else 0.01 * index)
            for m in MODELS for index, item in enumerate(items)}
    question = analyze(judgments, resamples=100, with_jod=False,
                       metrics={"psnr": (True, psnr)}).questions[0]
    rho, rho_ci, tau, _ = question.correlations["psnr"]
    assert (rho, tau) == (pytest.approx(1.0), pytest.approx(1.0))
    assert rho_ci[0] <= rho <= rho_ci[1]
    ours = [j for j in judgments if "ours" in (j.a, j.b)]
    chosen = sum(j.choice == "ours" for j in ours) / len(ours)
    only_ours = analyze(ours, resamples=20, with_jod=False,
                        metrics={"psnr": (True, psnr)}).questions[0]
    assert only_ours.metrics["psnr"][0] == pytest.approx(chosen)
    twins = [Judgment(f"p{p}", "i0", "x", "y", "x" if p % 4 else "y") for p in range(8)]
    both_exact = {("x", "i0"): math.inf, ("y", "i0"): math.inf}
    tie = analyze(twins, resamples=20, with_jod=False,
                  metrics={"psnr": (True, both_exact)}).questions[0]
    assert tie.metrics["psnr"][0] == 0.5  # was 0 or 1: inf − inf is NaN, "not better"


def test_a_metric_without_some_models_values_says_its_correlations_compare_other_items():
    """A pair that failed in the results leaves a model without a value for an item: the
    models' means, which the rank correlations rank, are then over different items."""
    generator = np.random.default_rng(8)
    judgments = _simulate(generator, np.array([1.5, 0.5, -0.5, -1.5]), 20, 30)
    items = sorted({j.item for j in judgments})
    quality = dict(zip(MODELS, (4.0, 3.0, 2.0, 1.0), strict=True))
    full = {(m, item): quality[m] for m in MODELS for item in items}
    holed = {key: value for key, value in full.items() if key != ("wct", items[0])}
    analysis = analyze(judgments, resamples=20, with_jod=False,
                       metrics={"full": (True, full), "holed": (True, holed)})
    said = [d for d in analysis.decisions if "different judged items" in d]
    assert said == [f"holed: the models' values cover different judged items (adain "
                    f"{len(items)}, gatys {len(items)}, ours {len(items)}, wct "
                    f"{len(items) - 1} of {len(items)}): its rank correlations compare "
                    "means over different items"]


def test_agreement_intervals_over_fewer_than_ten_items_are_said_to_under_cover():
    """The metrics' 2AFC scores and rank correlations resample items: from 5 items their
    intervals under-cover, said in the decisions; from 20 items nothing is said."""
    generator = np.random.default_rng(4)
    quality = dict(zip(MODELS, (4.0, 3.0, 2.0, 1.0), strict=True))
    for items, said in ((5, ["the metrics' agreement intervals (2AFC scores, rank "
                             "correlations) resample 5 items, fewer than 10: from so few, a "
                             "95% interval holds the score less often than 95% of the time, "
                             "so read them as the spread of these items"]), (20, [])):
        judgments = _simulate(generator, np.array([1.5, 0.5, -0.5, -1.5]), 20, items)
        values = {(m, j.item): quality[m] for m in MODELS for j in judgments}
        analysis = analyze(judgments, resamples=20, with_jod=False,
                           metrics={"metric": (True, values)})
        assert analysis.decisions == said
        assert analyze(judgments, resamples=20, with_jod=False).decisions == []


def test_intervals_over_fewer_than_ten_participants_are_said_to_under_cover(tmp_path):
    """Resampling 4 participants gives intervals that hold the score far less often than
    95%: said in the decisions (terminal, methods.md, study.json); 12 participants not."""
    generator = np.random.default_rng(3)
    strengths = np.array([0.8, 0.2, -0.3, -0.7])
    few = analyze(_simulate(generator, strengths, 4, 30), resamples=100)
    assert few.decisions == [
        "the intervals resample 4 participants, fewer than 10: from so few, a 95% interval "
        "holds the score less often than 95% of the time, so read them as the spread of "
        "these participants"]
    assert analyze(_simulate(generator, strengths, 12, 30), resamples=100).decisions == []
    rows = [[j.participant, j.item, j.a, j.b, j.choice, ""]
            for j in _simulate(generator, strengths, 3, 30)]
    result = CliRunner().invoke(main, ["study", "analyze", "--judgments",
                                       str(_write(tmp_path / "j.csv", rows)), "--out-dir",
                                       str(tmp_path / "out"), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert "note: the intervals resample 3 participants, fewer than 10" in result.stderr
    assert "The intervals resample 3 participants" in (tmp_path / "out" / "methods.md"
                                                        ).read_text()
