"""A new user's first runs: paper-ready names, a report that shows every disagreement,
messages in the words of the interface in use, and text only about what was computed."""

from __future__ import annotations

import csv
import datetime
import json
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.evaluation.catalog.registry import METRICS, metrics_help
from likeness.nets.loading import load_state_dict
from likeness.results.summary import SummaryRow
from likeness.results.tables import summary_cell
from likeness.runs.report import build_report

CLASSICAL = ["ssim", "psnr", "mse", "gmsd", "ms_gmsd", "vif_p", "mdsi", "haarpsi", "fsim",
             "fsimc", "sr_sim", "vsi", "dss"]


def _save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def photos(tmp_path):
    """A reference folder and three 'models' (noise, blur, posterise) of 6 smooth images."""
    rng = np.random.default_rng(11)
    for index in range(6):
        small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(small).resize((72, 64), Image.BICUBIC))
        _save(tmp_path / "ref" / f"{index}.png", base)
        noise = np.clip(base + rng.normal(0, 6 + 3 * index, base.shape), 0, 255)
        _save(tmp_path / "noise" / f"{index}.png", noise.astype(np.uint8))
        blurred = Image.fromarray(base).resize((36, 32), Image.BILINEAR).resize((72, 64))
        _save(tmp_path / "blur" / f"{index}.png", np.asarray(blurred))
        _save(tmp_path / "poster" / f"{index}.png", (base // (16 + 8 * index)) * (16 + 8 * index))
    return tmp_path


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))


# 1. a missing checkpoint with a results folder ------------------------------------------

def test_the_first_command_offline_writes_its_results_folder(photos, offline):
    out = photos / "results"
    result = CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                                       "--metrics", "ssim,lpips", "--out-dir", str(out)])
    assert result.exit_code == 1
    assert "a bug in likeness" not in result.output
    methods = (out / "methods.md").read_text()
    assert "LPIPS (alex) (`lpips_alex`) was requested but could not be computed" in methods
    assert "SSIM [@wang2004ssim]" in methods  # what was computed is still described
    record = json.loads((out / "run.json").read_text())
    assert "--weights alexnet=PATH" in record["weights"]["alexnet"]["error"]
    named = CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                                      "--metrics", "ssim,lpips", "--weights",
                                      "alexnet=missing.pth", "--out-dir", str(photos / "named"),
                                      "--html"])
    assert named.exit_code == 1
    assert "a bug in likeness" not in named.output
    assert (photos / "named" / "report.html").is_file()
    assert "missing.pth: no such checkpoint file" in (photos / "named" / "methods.md").read_text()


# 3. labels, digits and spreads from the registry; --metrics help --------------------------

def test_every_metric_has_a_publication_label():
    for name, spec in METRICS.items():
        assert spec.label, name
        assert spec.reported_spread in ("ci", "std", "none"), name
    assert METRICS["vif_p"].latex_label == r"VIF$_p$"
    assert METRICS["lpips_alex"].latex_label == "LPIPS (alex)"


def test_the_tables_print_labels_not_registry_keys(photos):
    out = photos / "results"
    likeness.compare(photos / "ref", [photos / "noise", photos / "blur"], metrics=CLASSICAL,
                     out_dir=out, cache=False)
    latex = (out / "summary.tex").read_text()
    markdown = (out / "summary.md").read_text()
    header = latex.splitlines()[3]
    for metric in CLASSICAL:
        assert METRICS[metric].latex_label in header
        assert f"| {METRICS[metric].plain_label} " in markdown
    assert "ms\\_gmsd" not in latex
    assert "vif\\_p" not in latex
    assert "FID" not in markdown  # the note names only the run's metrics
    result = CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                                       str(photos / "blur"), "--metrics", "gmsd,vif-p",
                                       "--no-cache"])
    assert "GMSD ↓" in result.output
    assert "VIFp ↑" in result.output
    assert "gmsd ↓" not in result.output


def test_a_set_metric_with_a_std_shows_it():
    for metric in ("kid", "kd_dinov2", "kd_clip", "inception_score"):
        row = SummaryRow("m", metric, 10, 0.5, 0.02, float("nan"), float("nan"), float("nan"),
                         METRICS[metric].better, 0, "none")
        assert "±" in summary_cell(row), metric
    fid = SummaryRow("m", "fid", 10, 12.3456, float("nan"), float("nan"), float("nan"),
                     float("nan"), "lower", 0, "none")
    assert summary_cell(fid) == "12.35"


@pytest.mark.parametrize("command", ["compare", "style"])
def test_metrics_help_lists_every_metric_the_command_accepts(command):
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=2000)
    help_text = re.sub(r"\s+", " ", result.output)
    for name, spec in METRICS.items():
        spelled = name.replace("_", "-")
        if command in spec.commands:
            assert re.search(rf"[ :,]{re.escape(spelled)}[,;. ]", help_text), spelled
    assert "pixels:" in help_text
    assert "networks:" in help_text
    assert "image sets:" in help_text
    other = "style" if command == "compare" else "compare"
    assert f"likeness {other} offers" in metrics_help(command)


# 4. the report shows disagreement for any two metrics -------------------------------------

def test_the_report_shows_disagreement_without_lpips(photos):
    out = photos / "results"
    likeness.compare(photos / "ref", [photos / "noise", photos / "blur", photos / "poster"],
                     metrics=CLASSICAL, out_dir=out, cache=False)
    text = build_report(out, worst=2)
    assert "Needs both" not in text
    assert "disagree most (Kendall" in text
    cards = text.count('class="card" id="pair-')
    assert cards <= 2 * (1 + 2 * 3)  # most disagreeing, each model's worst and best
    for model in ("noise", "blur", "poster"):
        assert f"{model}: worst 2" in text
        assert f"{model}: best 2" in text
    assert "Worst pair per metric" in text
    chosen = build_report(out, worst=2, disagree=("ssim", "fsim"))
    assert "SSIM and FSIM disagree most" in chosen
    with pytest.raises(likeness.LikenessError, match="lpips is not a per-pair metric of "
                       "this run; choose two of ssim, "):
        build_report(out, disagree=("ssim", "lpips"))
    result = CliRunner().invoke(main, ["report", str(out), "--disagree", "psnr,gmsd", "-o",
                                       str(photos / "r.html")])
    assert result.exit_code == 0, result.output
    assert "PSNR and GMSD disagree most" in (photos / "r.html").read_text()


# 5. messages in the words of the interface in use -----------------------------------------

def test_cli_messages_name_cli_options(photos):
    out = photos / "results"
    runner = CliRunner()
    runner.invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"), "--out-dir",
                         str(out), "--no-cache"])
    result = runner.invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                                  "--gray", "--out-dir", str(out), "--no-cache"])
    assert result.exit_code == 1
    assert "--overwrite" in result.output
    assert "--out-dir" in result.output
    assert "out_dir" not in result.output
    assert "overwrite=True" not in result.output


def test_python_messages_name_each_entry_points_argument(offline, photos):
    with pytest.raises(likeness.WeightsError, match=r"backbone_weights=PATH"):
        likeness.LPIPS(net="alex")
    with pytest.raises(likeness.WeightsError, match=r"pass the file explicitly: weights=PATH"):
        likeness.fid(photos / "ref", photos / "noise")
    results = likeness.compare(photos / "ref", photos / "noise", metrics="lpips", cache=False)
    assert "weights={'alexnet': PATH}" in results.rows[0].error


def test_an_unknown_metric_is_a_likeness_error_with_a_suggestion(photos):
    with pytest.raises(likeness.LikenessError, match="did you mean ssim") as raised:
        likeness.compare(photos / "ref", photos / "noise", metrics="sssim")
    known = str(raised.value).split("choose from ")[1].split(", ")
    assert known == sorted(known)


def test_a_test_folder_without_namesakes_lists_what_it_holds(photos):
    (photos / "notes").mkdir()
    (photos / "notes" / "notes.txt").write_text("to do")
    with pytest.raises(likeness.LikenessError,
                       match=r"1 file skipped: 1 not in an image format likeness reads "
                             r"\(notes.txt"):
        likeness.compare(photos / "ref", photos / "notes")
    (photos / "empty").mkdir()
    with pytest.raises(likeness.LikenessError, match="empty holds no image file"):
        likeness.compare(photos / "ref", photos / "empty")


def test_names_that_differ_only_in_letter_case_are_said_to(photos):
    """`Img.PNG` beside `img.png` (files from another system) were listed as without a
    partner, with nothing saying why."""
    import shutil

    (photos / "ref" / "0.png").rename(photos / "ref" / "Photo.png")
    shutil.copytree(photos / "noise", photos / "cased")
    (photos / "cased" / "0.png").rename(photos / "cased" / "PHOTO.png")
    result = CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "cased"),
                                       "--no-cache"])
    assert ("note: Photo.png and PHOTO.png differ only in letter case, which pairing tells "
            "apart: rename one to pair them") in result.stderr
    only = photos / "only"
    only.mkdir()
    shutil.copy(photos / "cased" / "PHOTO.png", only / "PHOTO.png")
    with pytest.raises(likeness.LikenessError,
                       match="out/x/a.png\\); Photo.png and PHOTO.png differ only in letter "
                             "case, which pairing tells apart: rename one to pair them;"):
        likeness.compare(photos / "ref", only)


def test_weights_verify_with_nothing_cached_says_so(offline):
    result = CliRunner().invoke(main, ["weights", "verify"])
    assert result.exit_code == 1
    assert "no checkpoint is cached" in result.output


def test_a_checkpoint_the_safe_loader_refuses_is_one_short_line(tmp_path):
    path = tmp_path / "opaque.pth"
    torch.save({"weight": datetime.date(2020, 1, 1)}, path)  # an object the safe loader refuses
    with pytest.raises(likeness.WeightsError) as raised:
        load_state_dict(path)
    message = str(raised.value)
    assert "beyond tensors (datetime.date)" in message
    assert "file an issue" not in message.lower()
    assert "\n" not in message


# 6. text only about what was computed ------------------------------------------------------

def test_a_style_run_of_pixel_metrics_describes_no_network(tmp_path):
    rng = np.random.default_rng(2)
    for path in ("content/c.png", "style/s.png", "out/c__s.png"):
        _save(tmp_path / path, rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    likeness.evaluate_style(tmp_path / "content", tmp_path / "style", tmp_path / "out",
                            metrics="ssim,ssim_gray", out_dir=tmp_path / "run", cache=False)
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "VGG19" not in methods
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "FID" not in summary
    assert "ArtFID" not in summary


def test_a_y_channel_run_says_so_where_it_names_the_colour_space(photos):
    likeness.compare(photos / "ref", photos / "noise", metrics="psnr,ssim", y_channel=True,
                     out_dir=photos / "y", cache=False)
    methods = (photos / "y" / "methods.md").read_text()
    assert "Images are compared in RGB" not in methods
    assert "Images are compared on the Y channel of ITU-R BT.601 YCbCr" in methods


# 7. small things ----------------------------------------------------------------------------

def test_repr_of_results_is_one_short_line(photos):
    results = likeness.compare(photos / "ref", [photos / "noise", photos / "blur"],
                               cache=False)
    text = repr(results)
    assert "\n" not in text
    assert len(text) < 200
    assert "12 rows" in text


def test_the_terminal_prints_one_note_per_decision(photos):
    for model in ("noise", "ref"):  # a transparent channel, fully opaque: dropped
        for index in range(6):
            path = photos / model / f"{index}.png"
            with Image.open(path) as image:
                image.convert("RGBA").save(path)
    result = CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                                       "--no-cache"])
    notes = [line for line in result.output.splitlines()
             if line.startswith("note:") and "alpha channel" in line]
    assert len(notes) == 2  # reference and test: one line each, not one per file
    assert "(6 files:" in notes[0]


def test_the_terminal_prints_one_error_per_metric_and_cause(photos, offline):
    result = CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                                       str(photos / "blur"), "--metrics", "ssim,lpips",
                                       "--no-cache"])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1  # 12 pairs, one missing checkpoint: one line
    assert errors[0].startswith("error: LPIPS (alex) failed for 12 pairs (noise: ")  # its column


def test_per_image_csv_of_a_cli_run_has_cli_words(photos):
    out = photos / "run"
    CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                              "--crop-border", "2", "--out-dir", str(out), "--no-cache"])
    with open(out / "per_image.csv", newline="") as handle:
        notes = [row["notes"] for row in csv.DictReader(handle)]
    assert all("--crop-border 2" in note for note in notes)
    assert not any("crop_border=" in note for note in notes)


def test_the_cache_keeps_the_librarys_words_each_run_shows_its_own(photos):
    cache = photos / "cache.sqlite"
    CliRunner().invoke(main, ["compare", str(photos / "ref"), str(photos / "noise"),
                              "--crop-border", "2", "--cache", str(cache)])
    python = likeness.compare(photos / "ref", photos / "noise", crop_border=2, cache=cache)
    assert all(row.cached for row in python.rows)
    assert all("crop_border=2" in " ".join(row.notes) for row in python.rows)
    assert not any("--crop-border" in " ".join(row.notes) for row in python.rows)
