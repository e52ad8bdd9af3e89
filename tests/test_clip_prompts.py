"""CLIP-T and the directional CLIP similarity in folder runs: each image's prompt read from
a pairs CSV, a style manifest or a sidecar text file, every value equal to the torch API's
(``likeness.clip_score``, ``likeness.clip_directional_similarity``: pinned against
transformers, Hessel et al.'s script and torchmetrics in test_clip_text.py), prompt
failures as error rows naming the file, prompts in the cache key."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.nets.clip import ClipModel
from likeness.nets.clip_metrics import clip_directional_similarity, clip_score
from vit_stand_ins import make_clip_state_dict, save_safetensors

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
NAMES = ("astronaut", "coffee", "rocket")
PROMPTS = {"astronaut": "an astronaut in a white space suit",
           "coffee": "a cup of coffee on a saucer",
           "rocket": "a rocket on its launch pad"}
SEED = 11
# the run encodes its images and prompts in other batches: float32 rounding apart
ATOL = 2e-6


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_safetensors(make_clip_state_dict(SEED),
                            tmp_path_factory.mktemp("clip") / "clip.safetensors")


@pytest.fixture
def folders(tmp_path):
    for folder in ("reference", "jpeg"):
        shutil.copytree(SAMPLES / folder, tmp_path / folder)
    return tmp_path


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _compare(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compare", *arguments, "--no-cache"])
    return result.exit_code, result.output


@pytest.mark.parametrize("convention", ["hessel", "torchmetrics", "cosine"])
def test_clip_t_of_a_folder_run_is_clip_score_of_each_image_and_its_prompt(
        folders, weights, convention):
    for name, prompt in PROMPTS.items():
        (folders / "jpeg" / f"{name}.txt").write_text(prompt + "\n", encoding="utf-8")
    checkpoint = "clip_vit_l14" if convention == "torchmetrics" else "clip_vit_b32"
    code, output = _compare(str(folders / "reference"), str(folders / "jpeg"),
                            "--metrics", "clip_t", "--clip-t-convention", convention,
                            "--weights", f"{checkpoint}={weights}",
                            "--out-dir", str(folders / "run"))
    assert code == 0, output
    rows = _rows(folders / "run" / "per_image.csv")
    assert [row["prompt"] for row in rows] == [PROMPTS[n] for n in NAMES]
    model = ClipModel("vit-l14" if convention == "torchmetrics" else "vit-b32", weights)
    expected = clip_score([_pixels(folders / "jpeg" / f"{n}.png") for n in NAMES],
                          [PROMPTS[n] for n in NAMES], convention=convention, model=model)
    np.testing.assert_allclose([float(row["clip_t"]) for row in rows], expected.numpy(),
                               rtol=0, atol=ATOL * (100 if convention == "torchmetrics" else 1))
    methods = (folders / "run" / "methods.md").read_text(encoding="utf-8")
    cited = {"hessel": "hessel2021clipscore", "torchmetrics": "detlefsen2022torchmetrics",
             "cosine": "ruiz2023dreambooth"}[convention]
    assert f"[@{cited}]" in methods
    assert cited in (folders / "run" / "references.bib").read_text(encoding="utf-8")
    assert ("ViT-L/14" if convention == "torchmetrics" else "ViT-B/32") in methods
    run = (folders / "run" / "run.json").read_text(encoding="utf-8")
    assert f'"clip_t_convention": "{convention}"' in run


def test_prompts_from_a_pairs_csv_and_the_directional_similarity(folders, weights):
    lines = ["reference,test,prompt,source_prompt"]
    for name in NAMES:
        lines.append(f"reference/{name}.png,jpeg/{name}.png,\"{PROMPTS[name]}, as a JPEG\","
                     f"{PROMPTS[name]}")
    (folders / "pairs.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folders / "jpeg" / "coffee.txt").write_text("not read: the CSV's column wins",
                                                 encoding="utf-8")
    code, output = _compare("--pairs", str(folders / "pairs.csv"), "--metrics",
                            "clip_direction,clip_t,ssim", "--weights",
                            f"clip_vit_b32={weights}", "--out-dir", str(folders / "run"),
                            "--html")
    assert code == 0, output
    report = (folders / "run" / "report.html").read_text(encoding="utf-8")
    assert "source prompt: “a cup of coffee on a saucer”" in report  # each shown pair's
    rows = _rows(folders / "run" / "per_image.csv")
    targets = [f"{PROMPTS[n]}, as a JPEG" for n in NAMES]
    assert [row["prompt"] for row in rows] == targets
    assert [row["source_prompt"] for row in rows] == [PROMPTS[n] for n in NAMES]
    model = ClipModel("vit-b32", weights)
    source = [_pixels(folders / "reference" / f"{n}.png") for n in NAMES]
    edited = [_pixels(folders / "jpeg" / f"{n}.png") for n in NAMES]
    expected = clip_directional_similarity(source, edited, [PROMPTS[n] for n in NAMES],
                                           targets, model=model)
    np.testing.assert_allclose([float(row["clip_direction"]) for row in rows],
                               expected.numpy(), rtol=0, atol=1e-5)
    assert "[@gal2022stylegannada]" in (folders / "run" / "methods.md").read_text(
        encoding="utf-8")


def test_a_test_images_own_sidecar_comes_before_its_references(folders, weights):
    (folders / "reference" / "astronaut.txt").write_text("the reference's caption",
                                                         encoding="utf-8")
    (folders / "reference" / "coffee.txt").write_text("the reference's caption",
                                                      encoding="utf-8")
    (folders / "jpeg" / "coffee.txt").write_text("the output's own prompt", encoding="utf-8")
    (folders / "reference" / "rocket.txt").write_text("\ufeffa rocket\n", encoding="utf-8")
    results = likeness.compare(folders / "reference", folders / "jpeg", metrics="clip_t",
                               weights={"clip_vit_b32": weights}, cache=False)
    prompts = [row.prompts["prompt"] for row in results.rows]
    assert prompts == ["the reference's caption", "the output's own prompt", "a rocket"]
    notes = [row.notes for row in results.rows]
    assert notes[0] == ("prompt read from the reference image's sidecar astronaut.txt",)
    assert notes[1] == ()
    # prompt files are not listed as files skipped for their extension
    assert results.record["skipped_files"] == {}


def test_a_missing_empty_or_unreadable_prompt_is_an_error_row_naming_the_file(
        folders, weights):
    (folders / "jpeg" / "coffee.txt").write_bytes(b"  \n")
    (folders / "jpeg" / "rocket.txt").write_bytes(b"caf\xe9 au lait")
    code, output = _compare(str(folders / "reference"), str(folders / "jpeg"), "--metrics",
                            "clip_t,psnr", "--weights", f"clip_vit_b32={weights}",
                            "--out-dir", str(folders / "run"))
    assert code == 1
    rows = {row["test"]: row for row in _rows(folders / "run" / "per_image.csv")}
    assert all(row["psnr"] for row in rows.values())  # only the text metric fails
    assert "no prompt; give a prompt column in the pairs CSV or style manifest, or a " \
           "sidecar astronaut.txt beside it (or beside its reference image)" \
        in rows["astronaut.png"]["error"]
    assert f"{folders / 'jpeg' / 'coffee.txt'}: the prompt file is empty" \
        in rows["coffee.png"]["error"]
    assert "rocket.txt: the prompt is not UTF-8 text (byte 0xe9); save it as UTF-8" \
        in rows["rocket.png"]["error"]
    assert "error: CLIP-T failed for" in output  # as its column is headed


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_or_an_oversized_prompt_file_is_refused_without_reading_it(folders, weights):
    os.mkfifo(folders / "jpeg" / "coffee.txt")
    (folders / "jpeg" / "rocket.txt").write_text("x" * 70_000, encoding="utf-8")
    results = likeness.compare(folders / "reference", folders / "jpeg", metrics="clip_t",
                               weights={"clip_vit_b32": weights}, cache=False)
    errors = {row.test: row.metric_errors.get("clip_t", "") for row in results.rows}
    assert "coffee.txt" in errors["coffee.png"]
    assert "FIFO" in errors["coffee.png"]
    assert "a prompt file of 70000 bytes" in errors["rocket.png"]


def test_an_empty_csv_cell_names_the_line_and_source_prompt_conflicts_with_the_column(
        folders, weights):
    (folders / "pairs.csv").write_text(
        "reference,test,prompt,source_prompt\n"
        "reference/coffee.png,jpeg/coffee.png,,a photo\n", encoding="utf-8")
    results = likeness.compare(None, pairs=folders / "pairs.csv", metrics="clip_t",
                               weights={"clip_vit_b32": weights}, cache=False)
    assert results.rows[0].metric_errors["clip_t"] == \
        f"{folders / 'pairs.csv'}, line 2: the prompt is empty"
    code, output = _compare("--pairs", str(folders / "pairs.csv"), "--metrics",
                            "clip_direction", "--source-prompt", "a photo", "--weights",
                            f"clip_vit_b32={weights}")
    assert code == 1
    assert "--source-prompt TEXT was given and the table has a source_prompt column" in output


def test_the_same_source_and_target_prompt_is_an_error_not_a_zero(folders, weights):
    for name in NAMES:
        (folders / "reference" / f"{name}.txt").write_text(PROMPTS[name], encoding="utf-8")
    results = likeness.compare(folders / "reference", folders / "jpeg",
                               metrics="clip_direction", weights={"clip_vit_b32": weights},
                               cache=False)
    for row in results.rows:  # the test images' prompt falls back to the same sidecar
        assert "clip_direction" not in row.values
        assert "the source prompt and the prompt are the same text" in row.metric_errors[
            "clip_direction"]


def test_prompts_are_part_of_the_cache_key_and_prompt_errors_are_not_cached(
        folders, weights, tmp_path):
    cache = tmp_path / "cache.sqlite"
    sidecar = folders / "jpeg" / "coffee.txt"

    def run() -> dict[str, float | None]:
        results = likeness.compare(folders / "reference", folders / "jpeg",
                                   metrics="clip_t", weights={"clip_vit_b32": weights},
                                   cache=cache)
        return {row.test: row.values.get("clip_t") for row in results.rows}

    sidecar.write_text("a cup of coffee", encoding="utf-8")
    first = run()
    assert first["astronaut.png"] is None  # no prompt: an error, not cached
    (folders / "jpeg" / "astronaut.txt").write_text(PROMPTS["astronaut"], encoding="utf-8")
    sidecar.write_text("a bowl of soup", encoding="utf-8")
    second = run()
    assert second["astronaut.png"] is not None
    assert second["coffee.png"] != first["coffee.png"]
    model = ClipModel("vit-b32", weights)
    expected = clip_score(_pixels(folders / "jpeg" / "coffee.png"), "a bowl of soup",
                          model=model)
    assert second["coffee.png"] == pytest.approx(float(expected[0]), abs=ATOL)
    assert run() == second  # from the cache


def test_a_style_run_reads_the_manifests_prompts_and_the_stylized_sidecars(tmp_path, weights):
    for folder in ("content", "style"):
        (tmp_path / folder).mkdir()
    shutil.copy(SAMPLES / "reference" / "coffee.png", tmp_path / "content" / "coffee.png")
    shutil.copy(SAMPLES / "reference" / "rocket.png", tmp_path / "content" / "rocket.png")
    shutil.copy(SAMPLES / "stylized" / "astronaut.png", tmp_path / "style" / "wave.png")
    stylized = tmp_path / "method"
    stylized.mkdir()
    shutil.copy(SAMPLES / "stylized" / "coffee.png", stylized / "coffee__wave.png")
    shutil.copy(SAMPLES / "stylized" / "rocket.png", stylized / "rocket__wave.png")
    (stylized / "coffee__wave.txt").write_text("a cup of coffee in the style of a wave",
                                               encoding="utf-8")
    (tmp_path / "content" / "rocket.txt").write_text("a rocket", encoding="utf-8")
    result = CliRunner().invoke(main, [
        "style", "--content", str(tmp_path / "content"), "--style", str(tmp_path / "style"),
        "--stylized", str(stylized), "--metrics", "clip_t,clip_direction",
        "--source-prompt", "a photo", "--weights", f"clip_vit_b32={weights}",
        "--out-dir", str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    rows = {row["stylized"]: row for row in _rows(tmp_path / "run" / "per_image.csv")}
    assert rows["coffee__wave.png"]["prompt"] == "a cup of coffee in the style of a wave"
    assert rows["rocket__wave.png"]["prompt"] == "a rocket"
    assert rows["rocket__wave.png"]["notes"] == \
        "prompt read from the content image's sidecar rocket.txt"
    expected = clip_score([_pixels(stylized / "coffee__wave.png"),
                           _pixels(stylized / "rocket__wave.png")],
                          ["a cup of coffee in the style of a wave", "a rocket"],
                          model=ClipModel("vit-b32", weights))
    np.testing.assert_allclose([float(rows[n]["clip_t"]) for n in ("coffee__wave.png",
                                                                   "rocket__wave.png")],
                               expected.numpy(), rtol=0, atol=ATOL)
    methods = (tmp_path / "run" / "methods.md").read_text(encoding="utf-8")
    assert "each stylized image's and its content image's CLIP ViT-B/32" in methods


def test_two_files_read_the_sidecar_and_tensors_say_where_prompts_go(folders, weights):
    (folders / "jpeg" / "coffee.txt").write_text(PROMPTS["coffee"], encoding="utf-8")
    values = likeness.compare_files(folders / "reference" / "coffee.png",
                                    folders / "jpeg" / "coffee.png", metrics="clip_t",
                                    weights={"clip_vit_b32": weights}, device="cpu")
    expected = clip_score(_pixels(folders / "jpeg" / "coffee.png"), PROMPTS["coffee"],
                          model=ClipModel("vit-b32", weights))
    assert values["clip_t"] == pytest.approx(float(expected[0]), abs=ATOL)
    import torch

    with pytest.raises(likeness.LikenessError,
                       match="read each image's prompt: use likeness.clip_score"):
        likeness.compare_tensors(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32),
                                 metrics="clip_t", weights={"clip_vit_b32": weights},
                                 data_range=1.0)


def test_clip_t_without_its_checkpoint_says_what_to_do(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    (folders / "jpeg" / "coffee.txt").write_text(PROMPTS["coffee"], encoding="utf-8")
    code, output = _compare(str(folders / "reference"), str(folders / "jpeg"), "--metrics",
                            "clip_t", "--clip-t-convention", "torchmetrics", "--out-dir",
                            str(folders / "run"))
    assert code == 1
    assert "likeness weights import" in output
    assert "--weights clip_vit_l14=PATH" in output
    methods = (folders / "run" / "methods.md").read_text(encoding="utf-8")
    assert "CLIP-T (`clip_t`) was requested but could not be computed" in methods
