"""The evaluation engine end to end: three models (golden distortions) against the golden
references, every output file checked against values computed independently here from
the golden reference values (scikit-image SSIM/PSNR, lpips LPIPS, pytorch-fid features)."""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import stats as scipy_stats

import likeness
from likeness import LikenessError
from likeness.cli import main

MODELS = ("blur", "noise", "jpeg")
BASES = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture
def models(golden, tmp_path):
    """ref/ and one folder per model, as a user would arrange distortions as models."""
    return golden.arrange_models(tmp_path, MODELS, BASES)


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _golden_pair(golden, model, base):
    return next(p for p in golden.pairs
                if p["reference"] == f"{base}.png" and p["test"] == f"{base}__{model}.png")


def _expected_values(golden, metric):
    """model -> reference -> the reference implementation's value."""
    pick = {"ssim": lambda p: p["ssim"]["default"], "psnr": lambda p: p["psnr"],
            "lpips_alex": lambda p: p["lpips"]["alex"]}[metric]
    return {m: {f"{b}.png": pick(_golden_pair(golden, m, b)) for b in BASES} for m in MODELS}


def _frechet_by_eigenvalues(x, y):
    """FID's formula with tr sqrt(S1 S2) from the eigenvalues of the product (4 images:
    singular covariances, where sqrtm is unreliable)."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    eigenvalues = np.linalg.eigvals(s1 @ s2).real
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


def _kid_whole_sets(x, y):
    d = x.shape[1]
    m, n = len(x), len(y)
    kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy))
            / (n * (n - 1)) - 2 * kxy.sum() / (m * n))


def _run_all_metrics(models, stand_in, fid_weights, out_dir, *extra):
    return CliRunner().invoke(main, [
        "compare", str(models / "ref"), *(str(models / m) for m in MODELS),
        "--metrics", "ssim,psnr,lpips,fid,kid", "--kid-subset-size", "all",
        "--weights", f"alexnet={stand_in['alexnet']}",
        "--weights", f"pt_inception={fid_weights}",
        "--out-dir", str(out_dir), "--cache", str(models / "cache.sqlite"), *extra])


def test_results_folder_end_to_end(golden, models, stand_in, fid_weights):
    out_dir = models / "results"
    result = _run_all_metrics(models, stand_in, fid_weights, out_dir)
    assert result.exit_code == 0, result.output
    for model in MODELS:
        assert model in result.stdout
    assert "results written to" in result.stderr
    assert sorted(p.name for p in out_dir.iterdir() if p.suffix != ".sqlite") == sorted(
        ["per_image.csv", "summary.csv", "summary.md", "summary.tex", "comparisons.csv",
         "references.bib", "methods.md", "run.json"])

    per_image = _read_csv(out_dir / "per_image.csv")
    assert list(per_image[0]) == ["model", "reference", "test", "ssim", "psnr", "lpips_alex",
                                  "error", "notes"]
    assert [(r["model"], r["reference"]) for r in per_image] == [
        (m, f"{b}.png") for m in MODELS for b in BASES]
    expected = {metric: _expected_values(golden, metric)
                for metric in ("ssim", "psnr", "lpips_alex")}
    for row in per_image:
        assert row["error"] == ""
        for metric, tolerance in (("ssim", 1e-9), ("psnr", 1e-9), ("lpips_alex", 1e-5)):
            assert float(row[metric]) == pytest.approx(
                expected[metric][row["model"]][row["reference"]], abs=tolerance)

    summary = {(r["model"], r["metric"]): r for r in _read_csv(out_dir / "summary.csv")}
    assert list(next(iter(summary.values()))) == [
        "model", "metric", "n", "mean", "std", "median", "ci_low", "ci_high", "better",
        "n_failed"]
    for model in MODELS:
        for metric in ("ssim", "psnr", "lpips_alex"):
            values = np.array(list(expected[metric][model].values()))
            row = summary[(model, metric)]
            assert int(row["n"]) == 4
            assert float(row["mean"]) == pytest.approx(values.mean(), abs=1e-5)
            assert float(row["std"]) == pytest.approx(values.std(ddof=1), abs=1e-5)
            assert float(row["median"]) == pytest.approx(np.median(values), abs=1e-5)
            assert float(row["ci_low"]) <= float(row["mean"]) <= float(row["ci_high"])
            assert float(row["ci_low"]) >= values.min() - 1e-9
            assert row["better"] == ("lower" if metric == "lpips_alex" else "higher")

    # FID / KID from the golden pytorch-fid features of the same files
    features = golden.array("fid_features")
    index = {n: i for i, n in enumerate(golden.expected["fid_feature_order"])}
    reference = features[[index[f"{b}.png"] for b in BASES]]
    for model in MODELS:
        model_features = features[[index[f"{b}__{model}.png"] for b in BASES]]
        fid_row, kid_row = summary[(model, "fid")], summary[(model, "kid")]
        assert float(fid_row["mean"]) == pytest.approx(
            _frechet_by_eigenvalues(reference, model_features), rel=1e-3)
        assert float(kid_row["mean"]) == pytest.approx(
            _kid_whole_sets(reference, model_features), rel=1e-3, abs=1e-6)
        assert fid_row["better"] == kid_row["better"] == "lower"
        assert int(fid_row["n"]) == 4
        # the whole sets once (--kid-subset-size all): one value, no spread (was "± 0")
        assert kid_row["std"] == ""
    assert "±" not in (out_dir / "summary.md").read_text()  # nor "KID: mean ± std" below

    comparisons = _read_csv(out_dir / "comparisons.csv")
    assert list(comparisons[0]) == ["metric", "model_a", "model_b", "n", "mean_diff",
                                    "ci_low", "ci_high", "p_value", "p_holm"]
    assert len(comparisons) == 3 * 3
    for metric in ("ssim", "psnr", "lpips_alex"):
        rows = [r for r in comparisons if r["metric"] == metric]
        assert [(r["model_a"], r["model_b"]) for r in rows] == list(
            itertools.combinations(MODELS, 2))
        p_values = []
        for row in rows:
            a = np.array([expected[metric][row["model_a"]][f"{b}.png"] for b in BASES])
            b = np.array([expected[metric][row["model_b"]][f"{b}.png"] for b in BASES])
            assert int(row["n"]) == 4
            assert float(row["mean_diff"]) == pytest.approx((a - b).mean(), abs=1e-5)
            p = scipy_stats.wilcoxon(a - b).pvalue
            assert float(row["p_value"]) == pytest.approx(p)
            p_values.append(p)
        order = np.argsort(p_values)
        running, holm = 0.0, [0.0] * 3
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (3 - rank) * p_values[i]))
            holm[i] = running
        assert [float(r["p_holm"]) for r in rows] == pytest.approx(holm)

    markdown = (out_dir / "summary.md").read_text()
    assert "SSIM ↑" in markdown
    assert "LPIPS (alex) ↓" in markdown
    assert "FID ↓" in markdown
    latex = (out_dir / "summary.tex").read_text()
    assert "\\toprule" in latex
    assert "\\bottomrule" in latex
    best_ssim = max(MODELS, key=lambda m: np.mean(list(expected["ssim"][m].values())))
    best_line = next(line for line in latex.splitlines() if line.startswith(best_ssim))
    assert best_line.split(" & ")[1].startswith("\\textbf{")

    bib = (out_dir / "references.bib").read_text()
    for key in ("wang2004ssim", "zhang2018lpips", "heusel2017fid", "binkowski2018kid",
                "wilcoxon1945", "holm1979"):
        assert f"{{{key}," in bib
    record = json.loads((out_dir / "run.json").read_text())
    assert record["status"] == "complete"
    assert record["settings"]["metrics"] == ["ssim", "psnr", "lpips_alex", "fid", "kid"]
    from likeness.nets.weights import file_sha256

    assert record["weights"]["alexnet"]["sha256"] == file_sha256(Path(stand_in["alexnet"]))
    assert record["weights"]["alexnet"]["source"] == "user-supplied"
    assert record["weights"]["pt_inception"]["sha256"] == file_sha256(Path(fid_weights))
    assert record["versions"]["torch"]
    methods = (out_dir / "methods.md").read_text()
    assert record["weights"]["pt_inception"]["sha256"] in methods
    assert "pytorch-fid" in methods
    assert "12 image pairs" in methods
    # 4 pairs a model: no p-value below 2^(1-4) = 0.125 — said in the record and the methods
    assert record["too_few_to_test"] == [
        {"models": list(pair), "pairs": 4, "smallest_p": 0.125}
        for pair in itertools.combinations(MODELS, 2)]
    assert ("The paired tests between `blur` and `noise`, `blur` and `jpeg`, `noise` and "
            "`jpeg` (4 pairs: p ≥ 0.125) cannot give a p-value below 0.05") in methods
    assert "cannot give a p-value below 0.05" in result.stderr


def test_each_reference_is_encoded_once(models, stand_in, monkeypatch):
    import likeness.nets.lpips as lpips_module

    encoded = []
    original = lpips_module.LPIPS.encode

    def counting(self, images):
        encoded.append(images.shape[0])
        return original(self, images)

    monkeypatch.setattr(lpips_module.LPIPS, "encode", counting)
    results = likeness.compare(models / "ref", [models / m for m in MODELS],
                               metrics="lpips", weights={"alexnet": stand_in["alexnet"]},
                               cache=False)
    assert sum(encoded) == len(BASES) * (1 + len(MODELS))  # not 2 per pair
    assert all(row.error is None for row in results.rows)


def test_rerun_and_growth_compute_only_what_is_new(golden, models, stand_in):
    database = models / "cache.sqlite"
    first = likeness.compare(models / "ref", models / "blur", metrics="ssim,lpips",
                             weights={"alexnet": stand_in["alexnet"]}, cache=database)
    assert not any(row.cached for row in first.rows)
    shutil.copy(golden.image_path("small_gray.png"), models / "ref" / "extra.png")
    shutil.copy(golden.image_path("small_gray__blur.png"), models / "blur" / "extra.png")
    grown = likeness.compare(models / "ref", models / "blur", metrics="ssim,lpips",
                             weights={"alexnet": stand_in["alexnet"]}, cache=database)
    assert [row.cached for row in grown.rows] == [True, True, True, False, True]
    for before, after in zip(first.rows, [r for r in grown.rows if r.cached], strict=True):
        assert before.values == after.values
    extra = next(row for row in grown.rows if row.reference == "extra.png")
    assert "gray replicated to RGB for LPIPS" in extra.notes


def test_failures_are_rows_and_strict_stops(models):
    (models / "noise" / "coffee.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    runner = CliRunner()
    result = runner.invoke(main, ["compare", str(models / "ref"), str(models / "blur"),
                                  str(models / "noise"), "--out-dir", str(models / "out"),
                                  "--no-cache"])
    assert result.exit_code == 1
    rows = _read_csv(models / "out" / "per_image.csv")
    broken = [r for r in rows if r["error"]]
    assert [(r["model"], r["reference"]) for r in broken] == [("noise", "coffee.png")]
    assert "coffee.png" in broken[0]["error"]
    assert all(r["ssim"] for r in rows if not r["error"])
    summary = {(r["model"], r["metric"]): r for r in _read_csv(models / "out" / "summary.csv")}
    assert summary[("noise", "ssim")]["n"] == "3"
    assert summary[("noise", "ssim")]["n_failed"] == "1"
    assert "1 of 8 pairs failed" in result.stderr

    strict = runner.invoke(main, ["compare", str(models / "ref"), str(models / "noise"),
                                  "--strict", "--no-cache"])
    assert strict.exit_code == 1
    assert "--strict stops at the first failure" in strict.stderr


def test_out_dir_guards(models):
    runner = CliRunner()
    out = models / "out"
    args = ["compare", str(models / "ref"), str(models / "blur"), "--out-dir", str(out),
            "--no-cache"]
    assert runner.invoke(main, args).exit_code == 0
    again = runner.invoke(main, args)  # same settings: resumes, everything already there
    assert again.exit_code == 0
    assert json.loads((out / "run.json").read_text())["counts"]["blur"]["cached_pairs"] == 4
    other = runner.invoke(main, [*args, "--metrics", "psnr"])
    assert other.exit_code == 1
    assert "other settings (differing: metrics)" in other.stderr
    assert "--overwrite" in other.stderr
    assert runner.invoke(main, [*args, "--metrics", "psnr", "--overwrite"]).exit_code == 0
    stranger = models / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    refused = runner.invoke(main, ["compare", str(models / "ref"), str(models / "blur"),
                                   "--out-dir", str(stranger)])
    assert refused.exit_code == 1
    assert "not empty and holds no likeness run" in refused.stderr


def test_pairs_csv_and_named_models(golden, models):
    manifest = models / "pairs.csv"
    manifest.write_text("reference,test,model\n"
                        "ref/astronaut.png,blur/astronaut.png,A\n"
                        "ref/coffee.png,noise/coffee.png,A\n"
                        "ref/astronaut.png,jpeg/astronaut.png,B\n")
    results = likeness.compare(None, pairs=manifest, metrics="ssim", cache=False)
    assert results.models == ["A", "B"]
    assert [(r.model, r.reference, r.test) for r in results.rows] == [
        ("A", "ref/astronaut.png", "blur/astronaut.png"),
        ("A", "ref/coffee.png", "noise/coffee.png"),
        ("B", "ref/astronaut.png", "jpeg/astronaut.png")]
    assert results.rows[1].values["ssim"] == pytest.approx(
        _golden_pair(golden, "noise", "coffee")["ssim"]["default"], abs=1e-9)
    named = likeness.compare(models / "ref", models={"mine": models / "jpeg"},
                             metrics="psnr", cache=False)
    assert named.models == ["mine"]
    bad = models / "bad.csv"
    bad.write_text("ref,out\na.png,b.png\n")
    with pytest.raises(LikenessError, match="columns 'reference' and 'test'"):
        likeness.compare(None, pairs=bad, cache=False)


def test_set_metrics_alone_need_no_pairing(golden, models, fid_weights, tmp_path):
    generated = tmp_path / "generated"
    generated.mkdir()
    for index, base in enumerate(BASES):  # names that pair with nothing
        shutil.copy(golden.image_path(f"{base}__stylized.png"), generated / f"{index}.png")
    with pytest.warns(UserWarning, match="covariance is singular"):
        results = likeness.compare(models / "ref", generated, metrics="fid,kid",
                                   kid_subset_size=2, kid_subsets=5,
                                   weights={"pt_inception": fid_weights}, cache=False)
    assert results.rows == []
    (fid_row,) = [r for r in results.set_rows if r.metric == "fid"]
    assert fid_row.value is not None
    assert fid_row.value > 0
    kid_row = next(r for r in results.set_rows if r.metric == "kid")
    assert kid_row.std is not None
    assert kid_row.std > 0
    too_many = likeness.compare(models / "ref", generated, metrics="kid",
                                weights={"pt_inception": fid_weights}, cache=False)
    assert "subset_size=1000 is larger than a set" in too_many.set_rows[0].error


def _write_many(folder: Path, count: int, seed: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(
            folder / f"{index:03d}.png")


def _progress_rows(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database, timeout=1) as connection:
            return connection.execute(
                "SELECT COUNT(*) FROM entries WHERE namespace LIKE 'item/%/lpips_alex/%'"
            ).fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_killed_run_resumes_to_the_same_results(tmp_path, stand_in):
    _write_many(tmp_path / "ref", 60, 0)
    _write_many(tmp_path / "out", 60, 1)
    command = [sys.executable, "-m", "likeness.cli", "compare", str(tmp_path / "ref"),
               str(tmp_path / "out"), "--metrics", "ssim,lpips", "--no-cache",
               "--batch-size", "4", "--weights", f"alexnet={stand_in['alexnet']}"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([*command, "--out-dir", str(killed_dir)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while _progress_rows(killed_dir / "progress.sqlite") < 8 and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = _progress_rows(killed_dir / "progress.sqlite")
    assert 0 < done_before < 60, "the run was not interrupted mid-way"
    assert json.loads((killed_dir / "run.json").read_text())["status"] == "running"

    resumed = subprocess.run([*command, "--out-dir", str(killed_dir)], env=environment,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((killed_dir / "run.json").read_text())
    assert record["counts"]["out"]["cached_pairs"] >= done_before
    clean = subprocess.run([*command, "--out-dir", str(tmp_path / "clean")], env=environment,
                           capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    resumed_rows = _read_csv(killed_dir / "per_image.csv")
    clean_rows = _read_csv(tmp_path / "clean" / "per_image.csv")
    assert len(resumed_rows) == 60
    for got, want in zip(resumed_rows, clean_rows, strict=True):
        assert got["reference"] == want["reference"]
        assert got["ssim"] == want["ssim"]
        assert float(got["lpips_alex"]) == pytest.approx(float(want["lpips_alex"]), abs=1e-6)


def test_cli_several_models_print_a_summary_and_write_rows(models, tmp_path):
    runner = CliRunner()
    out = tmp_path / "rows.csv"
    result = runner.invoke(main, ["compare", str(models / "ref"), str(models / "blur"),
                                  "--model", f"mine={models / 'noise'}", "--metrics",
                                  "ssim,psnr", "--no-cache", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "mean [95% CI] per model" in result.stdout
    assert "blur" in result.stdout
    assert "mine" in result.stdout
    rows = _read_csv(out)
    assert list(rows[0])[:3] == ["model", "reference", "test"]
    assert {r["model"] for r in rows} == {"blur", "mine"}
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"reference,test\n{models / 'ref' / 'rocket.png'},"
                        f"{models / 'jpeg' / 'rocket.png'}\n")
    from_csv = runner.invoke(main, ["compare", "--pairs", str(manifest), "--no-cache"])
    assert from_csv.exit_code == 0, from_csv.output
    assert "mean of 1 pair " in from_csv.stdout  # not "1 pairs"
    usage = runner.invoke(main, ["compare", str(models / "ref")])
    assert usage.exit_code == 2
    assert "at least one TEST folder" in usage.output


_PRECISION_SETTINGS = ("cudnn.conv", "cudnn.rnn", "cuda.matmul", "mkldnn.conv",
                       "mkldnn.matmul")


def _precisions():
    """torch's per-backend float32 precisions (what its kernels read), and its older flags
    (whose getters refuse to read where the two disagree)."""
    import torch

    settings = {name: getattr(getattr(torch.backends, name.split(".")[0]),
                              name.split(".")[1]).fp32_precision
                for name in _PRECISION_SETTINGS}
    for name, read in (("allow_tf32", lambda: torch.backends.cudnn.allow_tf32),
                       ("matmul", torch.get_float32_matmul_precision)):
        try:
            settings[name] = read()
        except RuntimeError:
            settings[name] = "refused"
    return settings


_FULL_FLOAT32 = {**dict.fromkeys(_PRECISION_SETTINGS, "ieee"), "allow_tf32": False,
                 "matmul": "highest"}


@pytest.fixture(params=["per-backend", "older flags"])
def callers_precision(request):
    """The caller chose reduced precision (TensorFloat-32 on CUDA, bfloat16 products on
    CPUs with AMX) with torch's per-backend settings, or with its older flags."""
    import torch

    if not hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        pytest.skip("torch before 2.9 has no per-backend float32 precision")
    before = _precisions()
    if request.param == "per-backend":
        torch.backends.fp32_precision = "tf32"
    else:
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("medium")
    chosen = _precisions()
    yield chosen
    torch.backends.fp32_precision = "none"
    torch.backends.cudnn.allow_tf32 = before["allow_tf32"]
    torch.set_float32_matmul_precision(before["matmul"])
    for name in _PRECISION_SETTINGS:
        owner, op = name.split(".")
        getattr(getattr(torch.backends, owner), op).fp32_precision = before[name]
    assert _precisions() == before


def test_networks_compute_in_full_float32_and_leave_the_callers_precision(
        models, stand_in, fid_weights, callers_precision, tmp_path):
    """Every network pass of a run (per-pair LPIPS, FID's Inception, the report's maps)
    computes in full float32, whatever the caller chose, and torch's older getters read
    it too; the caller's choice is back after.  A run used to turn TF32 off for the whole
    process on CUDA, by torch's older flags, which leave convolutions in TF32 where the
    per-backend setting holds it, and never touched bfloat16 products."""
    import torch

    assert "ieee" not in callers_precision.values()
    seen = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, inputs: seen.append(_precisions()))
    try:
        result = _run_all_metrics(models, stand_in, fid_weights, tmp_path / "results")
        assert result.exit_code == 0, result.output
        report = CliRunner().invoke(main, ["report", str(tmp_path / "results"),
                                           "-o", str(tmp_path / "report.html")])
        assert report.exit_code == 0, report.output
    finally:
        hook.remove()
    assert len(seen) > 100  # LPIPS's and Inception's layers, each pass
    assert all(precisions == _FULL_FLOAT32 for precisions in seen)
    assert _precisions() == callers_precision


def test_full_float32_holds_until_the_last_thread_leaves(callers_precision):
    import threading

    from likeness.evaluation.infra.device import full_float32

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with full_float32():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with full_float32():
        second_in.set()
        first_out.wait(10)
        seen["after the first left"] = _precisions()
    thread.join(10)
    assert seen["after the first left"] == _FULL_FLOAT32
    assert _precisions() == callers_precision
