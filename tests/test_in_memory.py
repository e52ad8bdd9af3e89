"""likeness where researchers work: DataFrames and HTML for notebooks, per-image metrics
of tensors, set metrics accumulated from tensors (also across two gloo ranks), and
``python -m likeness``."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import likeness
from likeness.errors import LikenessError
from likeness.results.summary import ResultsData


def _images(count, seed, size=(48, 64)):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (count, *size, 3), dtype=np.uint8)
    return np.clip(base.astype(int) + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8)


def _save(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for index, pixels in enumerate(images):
        Image.fromarray(pixels).save(folder / f"{index:02d}.png")
    return folder


def _nchw(images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


# -- notebooks ---------------------------------------------------------------------------

@pytest.fixture
def two_models(tmp_path):
    ref = _save(tmp_path / "ref", _images(4, 0))
    a = _save(tmp_path / "a", _images(4, 1))
    b = _save(tmp_path / "b<x>", _images(4, 2))
    return likeness.compare(ref, [a, b], metrics="ssim,psnr", out_dir=tmp_path / "run",
                            cache=False, bootstrap=200)


def test_dataframes_equal_the_csv_files(two_models):
    folder = two_models.out_dir
    for frame, name in ((two_models.per_image, "per_image"),
                        (two_models.summary_frame, "summary"),
                        (two_models.comparisons_frame, "comparisons")):
        pd.testing.assert_frame_equal(frame, pd.read_csv(folder / f"{name}.csv"),
                                      check_dtype=False)


def test_a_summary_is_found_by_the_metric_as_spelt_and_a_missing_one_said(two_models):
    assert two_models.summary_of("a", "SSIM") is two_models.summary_of("a", "ssim")
    with pytest.raises(LikenessError, match=r"^no model 'c' in these results: 'a', 'b<x>'$"):
        two_models.summary_of("c", "ssim")  # was a bare StopIteration
    with pytest.raises(LikenessError, match=r"^no summary of 'lpips' in these results; their "
                                            r"metrics are ssim, psnr$"):
        two_models.summary_of("a", "lpips")
    style = ResultsData(models=["a"], metrics=["fid"], rows=[], set_rows=[], summary=[],
                        comparisons=[], kind="style")
    with pytest.raises(LikenessError, match=r"^no method 'b' in these results: 'a'$"):
        style.summary_of("b", "fid")


def test_the_notebook_shows_the_summary_with_cis_and_escapes_names(two_models):
    page = two_models._repr_html_()
    summary = two_models.summary_of("a", "ssim")
    assert f"{summary.mean:.4f}" in page
    assert "SSIM ↑" in page  # the publication label
    assert "b&lt;x&gt;" in page
    assert "b<x>" not in page
    assert "8 pairs, 0 failed" in page


def test_dataframes_without_pandas_say_what_to_install(two_models, monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(LikenessError, match=r"pip install 'likeness-metrics\[notebook\]'"):
        _ = two_models.per_image


def test_python_dash_m_likeness_is_the_command(tmp_path):
    a, b = _save(tmp_path / "x", _images(1, 3)), _save(tmp_path / "y", _images(1, 4))
    result = subprocess.run([sys.executable, "-m", "likeness", "compare", str(a / "00.png"),
                             str(b / "00.png")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = likeness.compare_files(a / "00.png", b / "00.png")
    name, shown = result.stdout.splitlines()[0].split("\t")
    assert name == "ssim"
    assert float(shown) == pytest.approx(expected["ssim"], abs=1e-4)


# -- per-image metrics of tensors -------------------------------------------------------

def test_tensors_give_the_files_values(tmp_path, stand_in):
    ref, out = _images(3, 5, (168, 176)), _images(3, 6, (168, 176))  # MS-SSIM: > 160 px
    _save(tmp_path / "ref", ref)
    _save(tmp_path / "out", out)
    weights = {"alexnet": str(stand_in["alexnet"])}
    metrics = "ssim,psnr,mse,ms-ssim,lpips"
    rows = likeness.compare_tensors(_nchw(ref), _nchw(out), metrics=metrics, weights=weights)
    for index, row in enumerate(rows):
        files = likeness.compare_files(tmp_path / "ref" / f"{index:02d}.png",
                                       tmp_path / "out" / f"{index:02d}.png",
                                       metrics=metrics, weights=weights)
        assert row.error is None
        lpips = row.values.pop("lpips_alex")
        # network values of a batch of 3 vs 1 differ by float32 rounding (the convolution
        # algorithm depends on the batch size); the pixel metrics are bit for bit
        assert lpips == pytest.approx(files.pop("lpips_alex"), rel=1e-6)
        assert row.values == files



def test_uint16_tensors_of_8_or_12_bit_values_are_noted():
    from likeness.io import EIGHT_BIT_VALUES_IN_16_BITS

    low = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.int32).to(torch.uint16)
    high = low.clone()
    high[1, 0, 0, 0] = 40000  # the second test image uses the 16-bit range
    high[2, 0, 0, 0] = 4000  # the third holds 12-bit values
    rows = likeness.compare_tensors(low, high, metrics="psnr")
    assert rows[0].decisions == (f"reference: {EIGHT_BIT_VALUES_IN_16_BITS}",
                                 f"test: {EIGHT_BIT_VALUES_IN_16_BITS}")
    assert rows[1].decisions == (f"reference: {EIGHT_BIT_VALUES_IN_16_BITS}",)
    assert rows[2].decisions[1].startswith("test: 16-bit image whose samples all lie in "
                                           "0-4095 (12-bit values in 16 bits?)")

def test_float_tensors_need_their_data_range_and_bad_values_are_row_errors():
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    y = x.clone()
    with pytest.raises(ValueError, match="data_range=1.0"):
        likeness.compare_tensors(x, y)
    y[1, 0, 0, 0] = 1.5
    y[2, 0, 0, 0] = float("nan")
    rows = likeness.compare_tensors(x, y, metrics="psnr,ssim", data_range=1.0)
    assert rows[0].error is None
    assert rows[0].values["psnr"] == float("inf")
    assert "outside [0, 1]" in rows[1].error
    assert "non-finite" in rows[2].error
    assert rows[0].decisions == ("data range 1 as given",)
    with pytest.raises(ValueError, match="uint8 images have data range 255"):
        likeness.compare_tensors(_nchw(_images(1, 0)), _nchw(_images(1, 1)), data_range=1.0)
    with pytest.raises(ValueError, match="fid compares sets of images: use likeness.Acc"):
        likeness.compare_tensors(x, x, metrics="fid", data_range=1.0)
    # Y needs 8-bit images: said of float images as such, not as "16-bit or mixed"
    (row,) = likeness.compare_tensors(x[:1], x[:1], metrics="psnr", data_range=1.0,
                                      y_channel=True)
    assert row.error.endswith("defined for 8-bit images; these are floating-point images "
                              "(data range 1)")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        likeness.compare_tensors(x[0], x[0], data_range=1.0)


def test_gray_tensors_are_replicated_for_lpips_and_recorded(stand_in):
    x = _nchw(_images(2, 7))[:, :1]
    y = _nchw(_images(2, 8))[:, :1]
    rows = likeness.compare_tensors(x, y, metrics="ssim,lpips",
                                    weights={"alexnet": str(stand_in["alexnet"])})
    assert all("gray replicated to RGB for LPIPS" in row.decisions for row in rows)
    assert all(set(row.values) == {"ssim", "lpips_alex"} for row in rows)


# -- set metrics accumulated from tensors -------------------------------------------------

@pytest.fixture(scope="module")
def sets(tmp_path_factory, fid_weights):
    """Two sets of 6 images, as arrays and folders (read, never changed, by the tests),
    and their FID and KID by a folder run (made once: 7 tests compare against them)."""
    real, fake = _images(6, 10, (40, 56)), _images(6, 11, (40, 56))
    root = tmp_path_factory.mktemp("sets")
    folders = _save(root / "real", real), _save(root / "fake", fake)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 6 images: singular covariances
        folder_run = likeness.compare(folders[0], folders[1], metrics="fid,kid",
                                      kid_subset_size=3, weights={"pt_inception":
                                                                   str(fid_weights)},
                                      cache=False)
    values = {row.metric: row.value for row in folder_run.set_rows}
    return real, fake, folders, values


@pytest.mark.parametrize("batches", [[6], [1] * 6, [4, 2]])
def test_an_accumulator_equals_the_folder_route(sets, fid_weights, batches):
    real, fake, folders, values = sets
    accumulator = likeness.Accumulator(["fid", "kid"], weights=fid_weights, kid_subset_size=3)
    start = 0
    for size in batches:
        accumulator.update(_nchw(real[start:start + size]), real=True)
        accumulator.update(_nchw(fake[start:start + size]).float() / 255, real=False)
        start += size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = accumulator.compute()
        folder_fid = likeness.fid(folders[0], folders[1], weights=fid_weights, cache=False)
    assert np.array_equal(accumulator.features(True), folder_fid.sets[0].features)
    assert np.array_equal(accumulator.features(False), folder_fid.sets[1].features)
    assert got["fid"] == pytest.approx(values["fid"], rel=0, abs=1e-10)
    assert got["kid"] == pytest.approx(values["kid"], rel=0, abs=1e-10)
    assert "kid" in accumulator.stds
    accumulator.reset()
    assert accumulator.count(True) == accumulator.count(False) == 0


def test_an_accumulator_takes_the_reals_from_a_statistics_file(sets, fid_weights, tmp_path):
    real, fake, folders, _ = sets
    stats = tmp_path / "real.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = subprocess.run([sys.executable, "-m", "likeness", "fid", str(folders[0]),
                                 "--save-stats", str(stats), "--weights", str(fid_weights),
                                 "--no-cache"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        expected = likeness.fid(stats, folders[1], weights=fid_weights, cache=False).value
        accumulator = likeness.Accumulator("fid", weights=fid_weights, reference=stats)
        accumulator.update(_nchw(fake), real=False)
        got = accumulator.compute()["fid"]
    assert got == pytest.approx(expected, rel=0, abs=1e-10)
    with pytest.raises(ValueError, match="kid needs the real images' features"):
        likeness.Accumulator(["fid", "kid"], weights=fid_weights, reference=stats)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        accumulator.update(_nchw(fake).float(), real=False)


def test_an_accumulators_reference_file_is_checked_before_its_checkpoint(tmp_path,
                                                                          monkeypatch):
    """A missing or damaged statistics file was said only after the checkpoint was resolved
    (downloaded, or offline: "checkpoint 'pt_inception' … is not in …"); ``count`` took any
    key ("KeyError: 'yes'")."""
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04")
    for reference, words in [(tmp_path / "missing.npz", "cannot read the statistics file"),
                             (tmp_path / "cut.npz", "not a readable .npz statistics file")]:
        with pytest.raises(likeness.LikenessError, match=words):
            likeness.Accumulator("fid", reference=reference)
    with pytest.raises(likeness.InvalidInputError, match="kid needs the real images'"):
        likeness.Accumulator(["fid", "kid"], reference=tmp_path / "missing.npz")


def test_an_accumulator_counts_real_or_generated_images_only(fid_weights):
    accumulator = likeness.Accumulator("fid", weights=fid_weights)
    assert accumulator.count(True) == accumulator.count(False) == 0
    with pytest.raises(likeness.InvalidInputTypeError, match="real must be True .* got 'yes'"):
        accumulator.count("yes")


_RANK = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np, torch, torch.distributed as dist
    import likeness
    rank, init, weights, data, out = int(sys.argv[1]), *sys.argv[2:6]
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=2)
    arrays = np.load(data)
    half = slice(0, 3) if rank == 0 else slice(3, 6)
    accumulator = likeness.Accumulator(["fid", "kid"], weights=weights, kid_subset_size=3)
    accumulator.update(torch.from_numpy(arrays["real"][half]), real=True)
    accumulator.update(torch.from_numpy(arrays["fake"][half]), real=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = accumulator.compute()
    if rank == 0:
        json.dump(values, open(out, "w"))
    dist.destroy_process_group()
""")


def test_an_accumulator_gathers_two_gloo_ranks(sets, fid_weights, tmp_path):
    real, fake, _, values = sets
    script = tmp_path / "rank.py"
    script.write_text(_RANK)
    data = tmp_path / "data.npz"
    np.savez(data, real=real.transpose(0, 3, 1, 2), fake=fake.transpose(0, 3, 1, 2))
    out = tmp_path / "values.json"
    ranks = [subprocess.Popen([sys.executable, str(script), str(rank), str(tmp_path / "init"),
                               str(fid_weights), str(data), str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    for rank in ranks:
        _, errors = rank.communicate(timeout=600)
        assert rank.returncode == 0, errors
    got = json.loads(out.read_text())
    assert got["fid"] == pytest.approx(values["fid"], rel=0, abs=1e-10)
    assert got["kid"] == pytest.approx(values["kid"], rel=0, abs=1e-10)


def test_empty_batches_and_empty_images_are_handled(fid_weights):
    accumulator = likeness.Accumulator("fid", weights=fid_weights)
    accumulator.update(torch.zeros(0, 3, 16, 16), real=True)  # nothing to add
    assert accumulator.count(True) == 0
    with pytest.raises(LikenessError, match="at least 2 images"):
        accumulator.compute()
    rows = likeness.compare_tensors(torch.zeros(1, 3, 0, 5), torch.zeros(1, 3, 0, 5),
                                    data_range=1.0)
    assert rows[0].error == "the image is empty (0 pixels)"
    assert likeness.compare_tensors(torch.zeros(0, 3, 8, 8), torch.zeros(0, 3, 8, 8),
                                    data_range=1.0) == []


def test_an_accumulator_computes_the_manifold_and_diversity_metrics(sets, fid_weights):
    real, fake, folders, _ = sets
    names = ["precision", "recall", "density", "coverage", "vendi"]
    accumulator = likeness.Accumulator(names, weights=fid_weights)
    accumulator.update(_nchw(real), real=True)
    accumulator.update(_nchw(fake), real=False)
    got = accumulator.compute()
    folder_run = likeness.compare(folders[0], folders[1], metrics=",".join(names),
                                  weights={"pt_inception": str(fid_weights)}, cache=False)
    for row in folder_run.set_rows:
        assert got[row.metric] == pytest.approx(row.value, rel=0, abs=1e-12), row.metric
    assert got["vendi"] > 1


def test_an_accumulator_takes_each_networks_metrics(sets, fid_weights, tmp_path):
    from vit_stand_ins import save_dinov2_checkpoint

    real, fake, folders, _ = sets
    dinov2 = save_dinov2_checkpoint(3, tmp_path / "dinov2.pth")
    weights = {"pt_inception": str(fid_weights), "dinov2_vitl14": str(dinov2)}
    names = ["precision", "fd_dinov2", "vendi_dinov2"]
    accumulator = likeness.Accumulator(names, weights=weights)
    accumulator.update(_nchw(real), real=True)
    accumulator.update(_nchw(fake).float() / 255, real=False)  # floats: rounded to 8 bits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 6 images of 1024-d features: singular
        got = accumulator.compute()
        folder_run = likeness.compare(folders[0], folders[1], metrics=",".join(names),
                                      weights=weights, cache=False)
    for row in folder_run.set_rows:
        assert got[row.metric] == pytest.approx(row.value, rel=1e-9), row.metric
    assert accumulator.features(True, "dinov2_vitl14").shape == (6, 1024)
    assert accumulator.decisions["floating-point images rounded to 8 bits for the uint8 "
                                 "networks"] == 6
    sixteen = likeness.Accumulator("fid", weights=fid_weights)
    sixteen.update(_nchw(real).to(torch.int32).to(torch.uint16), real=True)  # 8-bit values
    sixteen.update(_nchw(real).to(torch.int32).to(torch.uint16) * 4, real=True)  # 10-bit
    from likeness.io import EIGHT_BIT_VALUES_IN_16_BITS

    assert sixteen.decisions[EIGHT_BIT_VALUES_IN_16_BITS] == 6
    assert sum(count for note, count in sixteen.decisions.items()
               if "(10-bit values in 16 bits?)" in note) == 6
    with pytest.raises(ValueError, match="at least one pixel"):  # not torch's own error
        sixteen.update(np.zeros((1, 3, 0, 5), np.uint16), real=True)
    score = likeness.Accumulator("inception_score", weights=fid_weights)
    score.update(_nchw(fake), real=False)
    with pytest.raises(likeness.LikenessError, match="at least 10 images"):
        score.compute()
    with pytest.raises(ValueError, match="art_fid"):
        likeness.Accumulator("art_fid")


def test_compare_files_says_what_the_files_decided(tmp_path):
    """A dict of values has no notes: a JPEG saved as .png, a 16-bit file of 8-bit values
    were compared without a word."""
    from PIL import Image

    pixels = np.random.default_rng(3).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "ref.png")
    Image.fromarray(pixels).save(tmp_path / "out.png", format="JPEG")
    with pytest.warns(likeness.DecisionWarning, match=r"out.png: named .png but holds JPEG "
                                                      r"data: decoded as JPEG"):
        likeness.compare_files(tmp_path / "ref.png", tmp_path / "out.png")
    Image.fromarray(pixels).save(tmp_path / "out.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing decided, nothing said
        likeness.compare_files(tmp_path / "ref.png", tmp_path / "out.png",
                               metrics="ssim,psnr", crop_border=2)
