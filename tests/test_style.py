"""Style-transfer metrics against tests/data/golden/style.json (ArtFID, StyleID's CFSD, Gram,
AdaIN and content losses, made with the stand-in weights of golden/weights.py), closed
forms of the maths, triplet discovery, and ``likeness style`` end to end."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from skimage.metrics import structural_similarity as sk_ssim

from likeness import InvalidInputError, LikenessError
from likeness.cli import main
from likeness.metrics.fid import feature_statistics, frechet_distance
from likeness.metrics.style import (
    adain_statistics,
    adain_style_loss,
    cfsd,
    fid_infinity,
    gram_loss,
    gram_matrix,
)
from likeness.nets.inception_features import ArtInceptionFeatures
from likeness.runs.style import evaluate_style, find_triplets


@pytest.fixture(scope="module")
def style_golden(golden):
    return json.loads((golden.root / "style.json").read_text())


@pytest.fixture(scope="module")
def style_weights(golden_weights, style_golden, tmp_path_factory):
    folder = tmp_path_factory.mktemp("style_weights")
    seed = style_golden["seed"]
    return {name: str(golden_weights.save_checkpoint(name, seed, folder / f"{name}.pth"))
            for name in ("alexnet", "vgg19", "pt_inception", "art_inception")}


@pytest.fixture(scope="module")
def golden_run(golden, style_weights):
    root = golden.root / "style"
    with pytest.warns(UserWarning, match="singular"):
        return evaluate_style(root / "content", root / "style", root / "stylized",
                              weights=style_weights, cache=False)


def test_every_golden_value(golden_run, style_golden):
    want = {t["stylized"]: t for t in style_golden["triplets"]}
    assert len(golden_run.rows) == len(want)
    for row in golden_run.rows:
        expected = want[row.test]
        assert row.error is None
        assert (row.reference, row.style) == (expected["content"], expected["style"])
        assert row.values["lpips_alex"] == pytest.approx(expected["lpips_alex"], abs=1e-5)
        assert row.values["cfsd"] == pytest.approx(expected["cfsd"], rel=1e-5)
        for metric in ("gram", "content_loss", "adain_style"):
            assert row.values[metric] == pytest.approx(expected[metric], rel=1e-4), metric
    sets = {r.metric: r for r in golden_run.set_rows}
    assert sets["fid_art"].value == pytest.approx(style_golden["art_fid_fid"], rel=1e-4)
    assert sets["art_fid"].value == pytest.approx(style_golden["art_fid"], rel=1e-4)
    assert sets["fid"].value is not None


def test_ssim_columns_equal_scikit_image(golden, golden_run):
    root = golden.root / "style"
    for row in golden_run.rows[:3]:
        with Image.open(root / "content" / row.reference) as a, \
                Image.open(root / "stylized" / row.test) as b:
            rgb = sk_ssim(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")),
                          channel_axis=-1, data_range=255)
            gray = sk_ssim(np.asarray(a.convert("L")), np.asarray(b.convert("L")),
                           data_range=255)
        assert row.values["ssim"] == pytest.approx(rgb, abs=1e-9)
        assert row.values["ssim_gray"] == pytest.approx(gray, abs=1e-9)


def test_art_inception_features_match_artfid(golden, style_golden, style_weights):
    network = ArtInceptionFeatures(weights=style_weights["art_inception"])
    want = golden.array("art_features")
    got = []
    for name in style_golden["art_feature_order"]:
        with Image.open(golden.root / "style" / name) as image:
            pixels = np.array(image.convert("RGB"))
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            got.append(network(x)[0].numpy())
    error = np.abs(np.stack(got) - want).max()
    assert error <= 1e-4 * np.abs(want).max()


def test_gram_is_a_matrix_not_a_scalar():
    torch.manual_seed(0)
    a = torch.rand(1, 4, 8, 8)
    permuted = a[:, [1, 0, 3, 2]]  # same total, other channel correlations
    assert float(gram_matrix(a).sum()) == pytest.approx(float(gram_matrix(permuted).sum()))
    assert gram_loss([a], [permuted]) > 1e-6
    assert gram_loss([a], [a]) == 0.0
    assert adain_style_loss([a], [a]) == 0.0
    assert gram_matrix(a).shape == (4, 4)
    flat = a[0].reshape(4, -1)
    assert torch.allclose(gram_matrix(a), flat @ flat.T / (4 * 64))


@pytest.mark.parametrize(("offset", "spread"), [(0.0, 1.0), (1000.0, 0.01), (0.5, 1e-3)])
@pytest.mark.parametrize("channels_last", [True, False])
def test_adain_statistics_are_exact_even_far_from_zero(offset, spread, channels_last):
    """The corrected two-pass variance: the float32 mean's error does not leak into it."""
    torch.manual_seed(0)
    x = offset + spread * torch.randn(1, 16, 40, 56)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    mean, std = adain_statistics(x)
    flat = x[0].double().reshape(16, -1)
    want_std = torch.sqrt(flat.var(dim=1, unbiased=True) + 1e-5)
    assert float(((std.double() - want_std) / want_std).abs().max()) < 1e-6
    torch.testing.assert_close(mean.double(), flat.mean(dim=1), rtol=1e-6, atol=1e-6 * spread)


def test_cfsd_properties_and_its_blocks_equal_the_whole_matrix(monkeypatch):
    import likeness.metrics.style as style_module

    torch.manual_seed(1)
    a, b = torch.rand(1, 16, 12, 10), torch.rand(1, 16, 12, 10)
    assert cfsd(a, a) == pytest.approx(0.0, abs=1e-12)
    whole = cfsd(a, b)
    assert whole > 0
    fa = a[0].reshape(16, -1).T.double() / 16
    fb = b[0].reshape(16, -1).T.double() / 16
    log_p = torch.log_softmax(fa @ fa.T, dim=1)
    log_q = torch.log_softmax(fb @ fb.T, dim=1)
    assert whole == pytest.approx(float((log_p.exp() * (log_p - log_q)).sum()), rel=1e-12)
    monkeypatch.setattr(style_module, "_CFSD_BLOCK_BYTES", 8 * 4 * 7 * 7)  # 7×7 blocks
    assert cfsd(a, b) == pytest.approx(whole, rel=1e-12)
    content = style_module.CfsdContent(a)  # the content side prepared once, reused
    assert content.blocks is not None
    c = torch.rand(1, 16, 12, 10)
    assert content.distance(b) == pytest.approx(whole, rel=1e-12)
    assert content.distance(c) == pytest.approx(cfsd(a, c), rel=1e-12)
    monkeypatch.setattr(style_module, "CFSD_CONTENT_CACHE_BYTES", 0)  # too big to keep
    uncached = style_module.CfsdContent(a)
    assert uncached.blocks is None
    assert uncached.distance(b) == pytest.approx(whole, rel=1e-12)
    with pytest.raises(ValueError, match="differ in shape"):
        cfsd(a, torch.rand(1, 16, 6, 10))


def _cfsd_directly(a, b):
    fa = a[0].reshape(a.shape[1], -1).T.double() / a.shape[1]
    fb = b[0].reshape(b.shape[1], -1).T.double() / b.shape[1]
    log_p = torch.log_softmax(fa @ fa.T, dim=1)
    log_q = torch.log_softmax(fb @ fb.T, dim=1)
    return float((log_p.exp() * (log_p - log_q)).sum())


@pytest.mark.parametrize("block", [5, 8, 50])  # partial last blocks, one block
def test_cfsd_symmetric_blocks_with_far_apart_feature_norms(monkeypatch, block):
    """Rows whose exponential sums underflow in the symmetric form (a zero feature vector
    beside one 10⁴ times longer) are computed directly: the value is the plain formula's."""
    import likeness.metrics.style as style_module

    monkeypatch.setattr(style_module, "_CFSD_BLOCK_BYTES", 8 * 4 * block * block)
    torch.manual_seed(3)
    a, b = torch.rand(1, 16, 7, 6), torch.rand(1, 16, 7, 6)
    a[0, :, 0, 0] = 0
    a[0, :, 3, 2] = 400.0  # |F|²/2 / C² = 5000: exp(h − max h) underflows for the others
    b[0, :, 1, 1] = 0
    b[0, :, 5, 5] = 300.0
    flat = a[0].reshape(16, -1).T.double() / 16
    assert float(style_module._Blocks(flat, block).weights.min()) == 0.0  # the case at hand
    want = _cfsd_directly(a, b)
    assert style_module.cfsd(a, b) == pytest.approx(want, rel=1e-10)
    assert style_module.cfsd(b, a) == pytest.approx(_cfsd_directly(b, a), rel=1e-10)


def test_fid_infinity_needs_5000_images_and_extrapolates():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 5000"):
        fid_infinity(rng.normal(size=(4999, 4)), rng.normal(size=(100, 4)))
    x = rng.normal(size=(6000, 4)) + 0.5
    y = rng.normal(size=(3000, 4))
    plain = frechet_distance(*feature_statistics(x), *feature_statistics(y))
    assert fid_infinity(x, y) == pytest.approx(plain, rel=0.05)


def test_triplets_from_names_folders_and_manifests(tmp_path, golden):
    content, style, out = tmp_path / "c", tmp_path / "s", tmp_path / "out"
    for folder in (content, style, out / "wave"):
        folder.mkdir(parents=True)
    image = golden.image_path("small_gray.png")
    for name in ("a", "a__b"):
        shutil.copy(image, content / f"{name}.png")
    for name in ("wave", "b", "c"):
        shutil.copy(image, style / f"{name}.png")
    shutil.copy(image, out / "a__wave.png")       # C__S
    shutil.copy(image, out / "wave" / "a.png")    # S/C
    shutil.copy(image, out / "a__b__c.png")       # a + b__c? no: a__b + c
    shutil.copy(image, out / "nothing.png")
    shutil.copy(image, out / "A__Wave.jpg")       # a + wave but for the letters' case
    triplets, unmatched = find_triplets(content, style, {"m": out})
    found = {(t.content_name, t.style_name, t.stylized_name) for t in triplets}
    assert found == {("a.png", "wave.png", "a__wave.png"), ("a.png", "wave.png", "wave/a.png"),
                     ("a__b.png", "c.png", "a__b__c.png")}
    assert unmatched["m"] == [
        "A__Wave.jpg (names content a and style wave but in other letter case, which pairing "
        "tells apart: rename it a__wave (keeping its extension))",
        "nothing.png (names no known content and style (expected C__S.ext or S/C.ext))"]
    shutil.copy(image, style / "b__c.png")
    _, ambiguous = find_triplets(content, style, {"m": out})
    assert any("ambiguous" in entry for entry in ambiguous["m"])
    manifest = tmp_path / "m.csv"
    manifest.write_text("content,style,stylized\na.png,c.png,nothing.png\n")
    listed, _ = find_triplets(content, style, {"m": out}, manifest)
    assert [(t.content_name, t.style_name) for t in listed] == [("a.png", "c.png")]
    manifest.write_text("content,style,stylized\na.png,c.png,missing.png\n")
    with pytest.raises(LikenessError, match="no such file"):
        find_triplets(content, style, {"m": out}, manifest)


def test_a_run_without_triplets_says_what_each_file_names(tmp_path, golden):
    """"no stylized file names a content and a style" hid why: here a name that splits
    two ways, or a stylized folder without images."""
    content, style, out, empty = (tmp_path / n for n in ("c", "s", "out", "empty"))
    for folder in (content, style, out, empty):
        folder.mkdir()
    image = golden.image_path("small_gray.png")
    for folder, name in ((content, "a"), (content, "a__b"), (style, "c"), (style, "b__c"),
                         (out, "a__b__c")):
        shutil.copy(image, folder / f"{name}.png")
    with pytest.raises(LikenessError, match=r"no stylized file names a content and a style "
                       r"\(a__b__c.png \(ambiguous: a \+ b__c or a__b \+ c\)\): name them"):
        evaluate_style(content, style, out, metrics="ssim", cache=False)
    with pytest.raises(LikenessError, match=r"empty holds no image likeness reads$"):
        evaluate_style(content, style, empty, metrics="ssim", cache=False)
    # an empty content or style folder: every stylized file named "no known content and
    # style", file by file, where the folder was the cause
    (empty / "notes.txt").write_text("not an image")
    for folders, label in (((empty, style), "content"), ((content, empty), "style")):
        with pytest.raises(LikenessError, match=rf"empty: the {label} folder holds no image "
                           r"likeness reads; skipped: 1 not in an image format likeness "
                           r"reads \(notes.txt\)$"):
            evaluate_style(*folders, out, metrics="ssim", cache=False)


def test_cfsd_refuses_large_images_and_fid_infinity_small_sets(golden, style_weights):
    root = golden.root / "style"
    results = evaluate_style(root / "content", root / "style", root / "stylized",
                             metrics="cfsd,art_fid", art_fid_mode="infinity",
                             cfsd_max_pixels=40_000, weights=style_weights, cache=False)
    large = [r for r in results.rows if "cfsd" not in r.values]
    assert large
    assert all("exceed the limit of 40000 pixels" in r.error for r in large)
    art = next(r for r in results.set_rows if r.metric == "art_fid")
    assert "FID∞ needs at least 5000" in art.error


def test_cli_style_end_to_end_with_two_methods(golden, style_weights, tmp_path):
    root = golden.root / "style"
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(root / "stylized", first)
    second.mkdir()
    for path in (root / "stylized").iterdir():  # the same outputs, arranged as S/C.png
        content_name, style_name = path.stem.split("__")
        (second / style_name).mkdir(exist_ok=True)
        shutil.copy(path, second / style_name / f"{content_name}.png")
    out = tmp_path / "results"
    arguments = ["style", "--content", str(root / "content"), "--style", str(root / "style"),
                 "--stylized", str(first), "--method", f"nested={second}",
                 "--out-dir", str(out), "--no-cache", "--html"]
    for name, path in style_weights.items():
        arguments += ["--weights", f"{name}={path}"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "mean [95% CI] per method" in result.stdout
    with open(out / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:11] == ["method", "content", "style", "stylized", "art_fid"][:4] + [
        "lpips_alex", "cfsd", "gram", "adain_style", "content_loss", "ssim", "ssim_gray"]
    assert {r["method"] for r in rows} == {"first", "nested"}
    by_method = {m: sorted((r["content"], r["style"], r["lpips_alex"]) for r in rows
                           if r["method"] == m) for m in ("first", "nested")}
    assert by_method["first"] == by_method["nested"]  # same images, other naming scheme
    with open(out / "summary.csv", newline="") as handle:
        summary = {(r["method"], r["metric"]): r for r in csv.DictReader(handle)}
    assert float(summary[("first", "art_fid")]["mean"]) == pytest.approx(3.3017961, rel=1e-4)
    assert summary[("first", "fid")]["better"] == "lower"
    with open(out / "comparisons.csv", newline="") as handle:
        comparisons = list(csv.DictReader(handle))
    assert {c["metric"] for c in comparisons} >= {"lpips_alex", "cfsd", "gram"}
    assert all(float(c["mean_diff"]) == 0.0 for c in comparisons if c["metric"] == "gram")
    latex = (out / "summary.tex").read_text()
    header = next(line for line in latex.splitlines() if line.startswith("Method"))
    assert header.index("ArtFID") < header.index("FID (art)") < header.index("LPIPS")
    assert header.index("LPIPS") < header.index("CFSD")
    bib = (out / "references.bib").read_text()
    for key in ("wright2022artfid", "chung2024styleid", "gatys2016style", "huang2017adain"):
        assert f"{{{key}," in bib
    methods = (out / "methods.md").read_text()
    assert "4 content images × 2 style images, 8 stylizations" in methods
    record = json.loads((out / "run.json").read_text())
    assert (f"{record['pairs_succeeded']} of 16 stylizations were evaluated without any "
            "error.") in methods
    assert record["kind"] == "style"
    report = (out / "report.html").read_text()
    assert "Distributions per method" in report
    assert "(style brick.png)" in report  # the stylized image's style, beside its content
    assert set(record["weights"]) == {"alexnet", "vgg19", "pt_inception", "art_inception"}


def test_a_gray_content_image_is_replicated_and_recorded(golden, style_weights, tmp_path):
    root = golden.root / "style"
    content, stylized = tmp_path / "content", tmp_path / "stylized"
    content.mkdir()
    stylized.mkdir()
    with Image.open(root / "content" / "coffee.png") as image:
        image.convert("L").save(content / "coffee.png")
    shutil.copy(root / "stylized" / "coffee__brick.png", stylized / "coffee__brick.png")
    results = evaluate_style(content, root / "style", stylized, metrics="ssim,ssim_gray,gram",
                             weights=style_weights, cache=False)
    (row,) = results.rows
    assert row.error is None
    assert any("gray replicated to RGB" in note for note in row.notes)
    with Image.open(content / "coffee.png") as a, Image.open(stylized / "coffee__brick.png") as b:
        gray = sk_ssim(np.asarray(a), np.asarray(b.convert("L")), data_range=255)
    assert row.values["ssim_gray"] == pytest.approx(gray, abs=1e-9)


def test_the_2024_protocol_adds_the_diffusion_papers_metrics_to_2023s(golden, style_weights,
                                                                      tmp_path):
    from vit_stand_ins import (
        make_clip_state_dict,
        make_csd_state_dict,
        make_dino_state_dict,
        save_safetensors,
    )

    root = tmp_path / "style"
    shutil.copytree(golden.root / "style", root)
    for image in (root / "content").iterdir():  # CLIP-T's prompts, beside the contents
        image.with_suffix(".txt").write_text(f"a photo of {image.stem}", encoding="utf-8")
    torch.save(make_csd_state_dict(17), tmp_path / "csd.pth")
    torch.save(make_dino_state_dict(13), tmp_path / "dino.pth")
    weights = {**style_weights, "csd_vit_l": tmp_path / "csd.pth",
               "dino_vits16": tmp_path / "dino.pth",
               "clip_vit_b32": save_safetensors(make_clip_state_dict(11),
                                                tmp_path / "clip.safetensors")}
    folders = ["--content", str(root / "content"), "--style", str(root / "style"),
               "--stylized", str(root / "stylized")]
    result = CliRunner().invoke(main, [
        "style", *folders, "--protocol", "2024", "--out-dir", str(tmp_path / "run"),
        "--no-cache", *(part for name, path in weights.items()
                        for part in ("--weights", f"{name}={path}"))])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert record["settings"]["protocol"] == "2024"
    assert record["settings"]["metrics"] == ["art_fid", "fid_art", "lpips_alex", "cfsd", "csd",
                                             "dino", "clip_i", "clip_t"]
    methods = (tmp_path / "run" / "methods.md").read_text(encoding="utf-8")
    assert "We report the metrics style-transfer papers of 2024 report together " \
           "(likeness's `2024` protocol):" in methods
    assert "was requested but could not be computed" not in methods
    summary = (tmp_path / "run" / "summary.md").read_text(encoding="utf-8")
    for label in ("ArtFID", "CFSD", "CSD", "DINO", "CLIP-I", "CLIP-T"):
        assert label in summary
    both = CliRunner().invoke(main, ["style", *folders, "--protocol", "2023", "--metrics",
                                     "ssim"])
    assert both.exit_code == 2
    assert "give --metrics or --protocol, not both" in both.output
    with pytest.raises(LikenessError, match="give metrics or protocol, not both"):
        evaluate_style(root / "content", root / "style", root / "stylized", metrics="ssim",
                       protocol="2023")


def test_style_decodes_in_processes_as_in_threads(golden, tmp_path):
    root = golden.root / "style"
    folders = [part for name in ("content", "style", "stylized")
               for part in (f"--{name}", str(root / name))]
    runs = {}
    for decoding in ("threads", "processes"):
        done = CliRunner().invoke(main, ["style", *folders, "--metrics", "ssim",
                                         "--no-cache", "--workers", "2", "--decoding",
                                         decoding, "--out-dir", str(tmp_path / decoding)])
        assert done.exit_code == 0, done.output
        record = json.loads((tmp_path / decoding / "run.json").read_text())
        assert record["arguments"]["decoding"] == decoding
        runs[decoding] = (tmp_path / decoding / "per_image.csv").read_text()
    assert runs["threads"] == runs["processes"]
    refused = CliRunner().invoke(main, ["style", *folders, "--decoding", "gpu"])
    assert refused.exit_code == 2
    assert "--decoding" in refused.output
    with pytest.raises(InvalidInputError, match="decoding must be one of"):
        evaluate_style(root / "content", root / "style", root / "stylized", metrics="ssim",
                       decoding="gpu")
