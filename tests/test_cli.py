"""`likeness compare` end to end on real files in a temporary folder."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from likeness import DecisionWarning, compare_files
from likeness.cli import main


@pytest.fixture
def folders(tmp_path, golden):
    """ref/ and out/ as a user would have them: nested, mixed extensions, one orphan each."""
    ref, out = tmp_path / "ref", tmp_path / "out"
    (ref / "sub").mkdir(parents=True)
    (out / "sub").mkdir(parents=True)
    shutil.copy(golden.image_path("astronaut.png"), ref / "astronaut.png")
    shutil.copy(golden.image_path("astronaut__blur.png"), out / "astronaut.png")
    shutil.copy(golden.image_path("coffee.png"), ref / "sub" / "coffee.png")
    shutil.copy(golden.image_path("coffee__noise.png"), out / "sub" / "coffee.png")
    shutil.copy(golden.image_path("rocket.png"), ref / "orphan.png")
    shutil.copy(golden.image_path("rocket.png"), out / "stray.png")
    return ref, out


def _expected(golden, test_name):
    return next(p for p in golden.pairs if p["test"] == test_name)


def _run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def test_two_files_print_each_metric(golden):
    pair = golden.pairs[0]
    result = _run("compare", golden.image_path(pair["reference"]),
                  golden.image_path(pair["test"]), "--metrics", "ssim,psnr,ms-ssim,mse")
    assert result.exit_code == 0, result.output
    lines = dict(line.split("\t") for line in result.stdout.strip().splitlines())
    assert float(lines["ssim"]) == pytest.approx(pair["ssim"]["default"], abs=1e-4)
    assert float(lines["psnr"]) == pytest.approx(pair["psnr"], abs=1e-3)
    assert float(lines["ms_ssim"]) == pytest.approx(pair["ms_ssim"], abs=1e-4)


def test_folders_write_csv_with_canonical_columns(folders, golden, tmp_path):
    ref, out = folders
    result = _run("compare", ref, out, "--metrics", "ssim,psnr,ms-ssim",
                  "--out", tmp_path / "results.csv")
    assert result.exit_code == 0, result.output
    assert "orphan.png" in result.stderr
    assert "stray.png" in result.stderr
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["reference", "test", "ssim", "psnr", "ms_ssim", "error", "notes"]
    assert [(r["reference"], r["test"]) for r in rows] == [
        ("astronaut.png", "astronaut.png"), ("sub/coffee.png", "sub/coffee.png")]
    for row, test_name in zip(rows, ["astronaut__blur.png", "coffee__noise.png"], strict=True):
        pair = _expected(golden, test_name)
        assert float(row["ssim"]) == pytest.approx(pair["ssim"]["default"], abs=1e-6)
        assert float(row["psnr"]) == pytest.approx(pair["psnr"], abs=1e-6)
        assert float(row["ms_ssim"]) == pytest.approx(pair["ms_ssim"], abs=1e-5)
        assert row["error"] == ""
    assert "mean of 2 pairs" in result.stdout


def test_folders_write_json(folders, golden, tmp_path):
    ref, out = folders
    result = _run("compare", ref, out, "--out", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["unmatched_reference"] == ["orphan.png"]
    assert document["unmatched_test"] == ["stray.png"]
    first = document["rows"][0]
    assert first["ssim"] == pytest.approx(golden.pairs[0]["ssim"]["default"], abs=1e-6)
    assert set(first) == {"reference", "test", "ssim", "psnr", "error", "notes"}


def test_gray_option_matches_pillow_luma_ssim(golden):
    pair = golden.pairs[0]
    values = compare_files(golden.image_path(pair["reference"]), golden.image_path(pair["test"]),
                           metrics=["ssim"], gray=True)
    assert values["ssim"] == pytest.approx(pair["ssim"]["gray"], abs=1e-6)


def test_16_bit_files_use_range_65535(golden):
    values = compare_files(golden.image_path("deep16.png"), golden.image_path("deep16__test.png"),
                           metrics="psnr,ssim")
    assert values["psnr"] == pytest.approx(golden.expected["u16_psnr"], abs=1e-6)
    assert values["ssim"] == pytest.approx(golden.expected["u16_ssim"], abs=1e-6)


def test_mixed_bit_depths_are_scaled_and_recorded(tmp_path, golden):
    rgb16 = golden.array("u16_a")
    Image.fromarray((rgb16 >> 8).astype(np.uint8)).save(tmp_path / "a8.png")
    result = _run("compare", golden.image_path("deep16.png"), tmp_path / "a8.png",
                  "--out", tmp_path / "r.csv")
    assert result.exit_code == 0, result.output
    assert "mixed bit depths (16 and 8)" in result.stderr
    with open(tmp_path / "r.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    with pytest.warns(DecisionWarning, match=r"a8.png: mixed bit depths \(16 and 8\): both "
                                             r"scaled to \[0, 1\], data range 1"):
        want = compare_files(golden.image_path("deep16.png"), tmp_path / "a8.png")
    assert float(row["ssim"]) == pytest.approx(want["ssim"])
    assert "mixed bit depths" in row["notes"]


def test_size_mismatch_is_an_error_unless_resize_is_asked(tmp_path, golden):
    Image.open(golden.image_path("astronaut__blur.png")).resize((128, 100)).save(
        tmp_path / "small.png")
    result = _run("compare", golden.image_path("astronaut.png"), tmp_path / "small.png")
    assert result.exit_code == 1
    assert "256x256" in result.stderr
    assert "128x100" in result.stderr
    assert "--resize reference" in result.stderr
    result = _run("compare", golden.image_path("astronaut.png"), tmp_path / "small.png",
                  "--resize", "reference", "--out", tmp_path / "r.csv")
    assert result.exit_code == 0, result.output
    assert ("resized from 128x100 to 256x256 (OpenCV Lanczos-4, its aspect ratio changed "
            "from 1.28 to 1)") in (tmp_path / "r.csv").read_text()


def test_a_pair_with_its_sides_swapped_asks_whether_one_is_turned(tmp_path, golden):
    Image.open(golden.image_path("astronaut.png")).resize((256, 128)).save(tmp_path / "a.png")
    Image.open(golden.image_path("astronaut.png")).resize((128, 256)).save(tmp_path / "b.png")
    result = _run("compare", tmp_path / "a.png", tmp_path / "b.png")
    assert result.exit_code == 1
    assert ("b.png is 128x256 (width x height; its sides swapped: is one turned, or its EXIF "
            "orientation lost?); pass --resize reference") in " ".join(result.stderr.split())


def test_a_failing_pair_is_reported_and_the_run_goes_on(folders, golden, tmp_path):
    ref, out = folders
    shutil.copy(golden.image_path("chelsea.png"), ref / "cat.png")  # 150 px high: no MS-SSIM
    shutil.copy(golden.image_path("chelsea__blur.png"), out / "cat.png")
    (ref / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    shutil.copy(golden.image_path("rocket.png"), out / "broken.png")
    result = _run("compare", ref, out, "--metrics", "ssim,ms-ssim", "--out", tmp_path / "r.csv")
    assert result.exit_code == 1
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = {row["reference"]: row for row in csv.DictReader(handle)}
    assert "broken.png" in rows["broken.png"]["error"]
    assert "ms_ssim: MS-SSIM with 5 scales" in rows["cat.png"]["error"]
    pair = _expected(golden, "chelsea__blur.png")
    assert float(rows["cat.png"]["ssim"]) == pytest.approx(pair["ssim"]["default"], abs=1e-6)
    assert float(rows["astronaut.png"]["ssim"]) == pytest.approx(
        golden.pairs[0]["ssim"]["default"], abs=1e-6)
    # the cat pair kept its SSIM: the line says so
    assert ("2 of 4 pairs failed in at least one metric (1 of them with other metrics' "
            "values)") in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "ssim,fancy"], "unknown metric 'fancy'"),
        # named as --help spells them, not by the registry's keys (lpips_alex)
        (["--metrics", "lpipsalex"], "did you mean lpips-alex or lpips? choose from "
                                     "aesthetic, clip-direction, clip-i"),
        (["--metrics", ""], "no metric given; choose from aesthetic, clip-direction"),
        (["--metrics", "ssim-gray"], "ssim-gray is offered by likeness style, not here; "
                                     "choose from aesthetic, clip-direction"),
        (["--out", "results.txt"], ".csv or .json"),
        (["--resize", "test"], "Invalid value for '--resize'"),
    ],
)
def test_usage_errors_exit_with_2(folders, args, message):
    ref, out = folders
    result = _run("compare", ref, out, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_file_and_folder_cannot_be_mixed(folders, golden):
    ref, _ = folders
    result = _run("compare", ref, golden.image_path("astronaut.png"))
    assert result.exit_code == 2


def test_console_script_runs_as_a_real_process(folders, tmp_path):
    ref, out = folders
    script = shutil.which("likeness", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert script, "the likeness console script is not installed beside this Python"
    completed = subprocess.run([script, "compare", str(ref), str(out), "--out",
                                str(tmp_path / "r.csv")], capture_output=True, text=True,
                               timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "astronaut.png" in completed.stdout
    assert (tmp_path / "r.csv").read_text().startswith("reference,test,ssim,psnr")


def _tiff_and_damaged_copy(damage: str) -> tuple[bytes, bytes]:
    """A TIFF's bytes and a damaged copy's that one decoder complains about on stderr."""
    import io
    import struct

    import tifffile

    if damage == "samples":  # 10,825 samples a pixel: Pillow logs before it fails
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, np.zeros((8, 8), np.uint8))
        data = bytearray(buffer.getvalue())
        entry = data.index(struct.pack("<HHI", 277, 3, 1))  # SamplesPerPixel, one SHORT
        struct.pack_into("<H", data, entry + 8, 10825)
        return bytes(data), bytes(data)
    deep = damage == "16-bit"  # decoded by OpenCV; 8-bit by Pillow's libtiff
    pixels = np.random.default_rng(3).integers(1, 65536 if deep else 256, (64, 48, 3),
                                               dtype=np.uint16 if deep else np.uint8)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, photometric="rgb", compression="zlib", rowsperstrip=8)
    data = bytearray(buffer.getvalue())
    if deep:
        return bytes(data), bytes(data[:6000])
    data[600:620] = bytes(20)  # inside the first strip's deflate stream
    return buffer.getvalue(), bytes(data)


@pytest.mark.parametrize(("damage", "said", "unsaid"), [
    ("16-bit", "a.tif: corrupt or truncated TIFF file (OpenCV could not decode it)",
     ("grfmt_tiff", "[ERROR")),  # OpenCV's log: "[ERROR:0@…] global grfmt_tiff.cpp …"
    ("samples", "a.tif: a TIFF of 10825 8-bit samples a pixel", ("More samples",)),
    ("8-bit", "a.tif: corrupt or truncated TIFF file",  # libtiff's: "ZIPDecode: Decoding
     ("ZIPDecode",)),                                    # error at scanline 0, …"
])
def test_a_file_a_decoder_complains_about_is_said_once_without_the_decoders_lines(
        tmp_path, damage, said, unsaid):
    # through the console script, as a user runs it: the decoders' own lines on stderr
    # name no file, and likeness says each failure itself
    for folder, data in zip(("ref", "out"), _tiff_and_damaged_copy(damage), strict=True):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.tif").write_bytes(data)
    script = shutil.which("likeness", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert script, "the likeness console script is not installed beside this Python"
    environment = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    completed = subprocess.run([script, "compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                "--metrics", "psnr", "--no-cache"], capture_output=True,
                               text=True, timeout=300, check=False, env=environment)
    assert completed.returncode == 1
    assert said in completed.stderr
    for line in unsaid:
        assert line not in completed.stderr


def test_a_cuda_device_asked_for_pixel_metrics_alone_is_said_not_taken(folders, tmp_path):
    # pixel metrics go to CUDA only beside a network: a run of them alone stays on the
    # CPU (no torch, no CUDA start-up), with or without a GPU — said, not done silently
    ref, out = folders
    said = ("device cuda was asked for, but no metric asked for is a network's: the pixel "
            "metrics go to CUDA only beside one, and were computed on the CPU")
    result = _run("compare", ref, out, "--metrics", "ssim", "--device", "cuda", "--no-cache",
                  "--out-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert f"warning: --{said}" in " ".join(result.output.split())
    record = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert record["warnings"] == [f"--{said}"]  # (stored in the command line's words)
    result = _run("compare", ref / "astronaut.png", out / "astronaut.png", "--metrics", "psnr",
                  "--device", "cuda")
    assert result.exit_code == 0, result.output
    assert f"warning: --{said}" in " ".join(result.output.split())
    with pytest.warns(DecisionWarning, match="device='cuda' was asked for"):
        compare_files(ref / "astronaut.png", out / "astronaut.png", metrics="ssim",
                      device="cuda")


@pytest.mark.parametrize(("options", "said"), [
    (["--crop-border", "2"], "--crop-border 2"), (["--y-channel"], "--y-channel"),
    (["--ssim-convention", "matlab"], "--ssim-convention matlab"),
    (["--convention", "matlab"], "--convention matlab"),
    (["--kid-subset-size", "all"], "--kid-subset-size all"),
    (["--fid-resize", "clean"], "--fid-resize clean"),
])
def test_an_option_that_changes_none_of_the_runs_metrics_is_said(folders, tmp_path, options,
                                                                 said):
    # VSI takes none of these: given, they were accepted and changed nothing, silently
    ref, out = folders
    result = _run("compare", ref, out, "--metrics", "vsi", *options, "--no-cache",
                  "--out-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    sentence = f"{said} changes none of this run's metrics (VSI): it was not applied"
    assert f"warning: {sentence}" in " ".join(result.output.split())
    record = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert record["warnings"] == [sentence]


def test_an_option_a_metric_of_the_run_takes_is_not_said(folders, tmp_path):
    ref, out = folders
    result = _run("compare", ref, out, "--metrics", "psnr", "--crop-border", "2", "--y-channel",
                  "--no-cache")
    assert result.exit_code == 0, result.output
    assert "changes none" not in result.output
    with pytest.warns(DecisionWarning, match="crop_border=2 changes none of this run's "
                                             r"metrics \(VSI\): it was not applied"):
        compare_files(ref / "astronaut.png", out / "astronaut.png", metrics="vsi",
                      crop_border=2)
    # the matlab convention's gray is MATLAB's rgb2gray: with gray, it changes PSNR too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_files(ref / "astronaut.png", out / "astronaut.png", metrics="psnr", gray=True,
                      convention="matlab")
    with pytest.warns(DecisionWarning, match="convention='matlab' changes none"):
        compare_files(ref / "astronaut.png", out / "astronaut.png", metrics="psnr",
                      convention="matlab")


def test_spawned_decoding_processes_are_as_quiet_as_the_run(monkeypatch):
    # forked ones inherit the quiet decoders; spawned ones (macOS, Windows) are told
    from likeness.evaluation.infra import pipeline
    from likeness.io import decoders

    monkeypatch.setattr(pipeline, "_forks", lambda: False)
    for quiet in (True, False):
        monkeypatch.setattr(decoders, "_quiet", quiet)  # (the run's process: as the CLI's)
        with pipeline._process_pool(1) as pool:
            assert pool.submit(decoders.decoders_quiet).result(timeout=120) is quiet


def test_a_network_run_whose_values_are_all_cached_never_imports_torch(tmp_path, stand_in):
    # a re-run to write the tables again costs no torch import (~1 s) and says that nothing
    # ran on a device; the run that computed says where it did
    for folder, level in (("ref", 90), ("out", 100)):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((64, 64, 3), level, np.uint8)).save(
            tmp_path / folder / "a.png")
    arguments = ["compare", str(tmp_path / "ref"), str(tmp_path / "out"), "--metrics",
                 "ssim,lpips", "--weights", f"alexnet={stand_in['alexnet']}", "--cache",
                 str(tmp_path / "cache.sqlite")]
    code = ("import sys; from click.testing import CliRunner; from likeness.cli import main; "
            "r = CliRunner().invoke(main, sys.argv[1:]); assert r.exit_code == 0, r.output; "
            "print('torch' in sys.modules)")
    loaded = []
    for run in ("computed", "cached"):
        result = subprocess.run([sys.executable, "-c", code, *arguments, "--out-dir",
                                 str(tmp_path / run)], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr
        loaded.append(result.stdout.strip())
        assert (tmp_path / run / "per_image.csv").read_text().count("a.png") == 2
    assert loaded == ["True", "False"]
    devices = [json.loads((tmp_path / run / "run.json").read_text())["device"]
               for run in ("computed", "cached")]
    assert devices == ["cpu" if not _cuda() else "cuda", None]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda(), reason="this machine has CUDA")
def test_cuda_asked_for_without_it_is_one_message_before_anything_is_computed(tmp_path,
                                                                            stand_in):
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(tmp_path / folder / "a.png")
    result = CliRunner().invoke(main, [
        "compare", str(tmp_path / "ref"), str(tmp_path / "out"), "--metrics", "lpips",
        "--weights", f"alexnet={stand_in['alexnet']}", "--device", "cuda", "--no-cache"])
    assert result.exit_code == 1
    assert "torch sees no CUDA device; use --device cpu or auto" in result.output
    assert "Traceback" not in result.output


def test_pixel_metrics_of_two_files_never_import_torch_or_scipy(tmp_path):
    # torch takes seconds to import: a run of SSIM/PSNR must not pay for it (cold start)
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    for name in ("a.png", "b.png"):
        Image.fromarray(np.random.default_rng(len(name)).integers(
            0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / name)
    code = ("import sys; from click.testing import CliRunner; from likeness.cli import main; "
            f"r = CliRunner().invoke(main, ['compare', {str(tmp_path / 'a.png')!r}, "
            f"{str(tmp_path / 'b.png')!r}]); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    # scipy's statistics and linear algebra (0.8 s) serve the tables and FID, not one pair
    assert result.stdout.strip() == "[]", result.stderr


def test_one_pair_loads_no_heavy_module_and_equals_the_compiled_route(tmp_path):
    # the cold start of `likeness compare a.png b.png`: no torch, no numba, no scipy; the
    # NumPy route of the exact sums gives the compiled kernels' values bit for bit
    import os
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(tmp_path / name)
    code = ("import sys, likeness; "
            f"v = likeness.compare_files({str(tmp_path / 'a.png')!r}, "
            f"{str(tmp_path / 'b.png')!r}, metrics='ssim,psnr,mse'); "
            "print(repr(v)); print(sorted(m for m in ('torch', 'numba', 'scipy') "
            "if m in sys.modules))")
    values = {}
    for route in ("0", "1"):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=300, env={**os.environ, "LIKENESS_COMPILED": route})
        assert result.returncode == 0, result.stderr
        values[route], loaded = result.stdout.strip().splitlines()
        if route == "0":
            assert loaded == "[]"
    assert values["0"] == values["1"]


def test_a_folder_run_and_its_confidence_intervals_load_no_heavy_module(folders):
    # a folder run of one model summarises with bootstrap intervals: their normal quantiles
    # come from the standard library, not scipy.special (0.15–0.25 s of such a run)
    import os
    import subprocess
    import sys

    ref, out = folders
    for folder in (ref, out):  # a third pair: two values' interval is their range
        shutil.copy(folder / "astronaut.png", folder / "again.png")
    code = ("import sys, likeness; "
            f"r = likeness.compare({str(ref)!r}, {str(out)!r}, "
            "metrics='ssim,psnr', cache=False); "
            "print(all(row.ci_low < row.mean < row.ci_high for row in r.summary)); "
            "print(sorted(m for m in ('torch', 'numba', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "LIKENESS_COMPILED": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "[]"]


def test_byte_identical_outputs_of_two_models_or_of_a_reference_are_said(tmp_path):
    # one folder copied under two names, or references copied as a model's outputs: every
    # number came out right, and compared nothing; a style run's methods likewise
    rng = np.random.default_rng(7)
    for folder in ("ref", "a", "b"):
        (tmp_path / folder).mkdir()
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            tmp_path / "ref" / f"{index}.png")
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            tmp_path / "a" / f"{index}.png")
    shutil.copytree(tmp_path / "a", tmp_path / "a_copy")
    for index in range(3):  # b: one reference copied, two outputs of its own
        source = tmp_path / ("ref" if index == 0 else "a")
        shutil.copy(source / f"{index}.png", tmp_path / "b" / f"{index}.png")
        if index:
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                tmp_path / "b" / f"{index}.png")
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "ref"), str(tmp_path / "a"),
                                       str(tmp_path / "a_copy"), str(tmp_path / "b"),
                                       "--metrics", "ssim", "--no-cache", "--out-dir",
                                       str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    said = ["a and a_copy: 3 of the 3 outputs both have are byte-identical (one folder under "
            "two names, or copied outputs?)",
            "b: 1 of its 3 outputs is byte-identical to its reference (the references copied "
            "as outputs?)"]
    for sentence in said:
        assert f"note: {sentence}" in " ".join(result.output.split())
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["identical_outputs"] == said
    assert f"Byte-identical files: {'; '.join(said)}." in (
        tmp_path / "run" / "methods.md").read_text()
    import likeness

    again = likeness.compare(tmp_path / "ref", [tmp_path / "a", tmp_path / "b"],
                             metrics="ssim", cache=tmp_path / "cache.sqlite").record
    assert again["identical_outputs"] == [said[1]]
    samples = Path(__file__).resolve().parents[1] / "samples" / "style-transfer"
    shutil.copytree(samples / "stylized", tmp_path / "stylized_copy")
    style = likeness.evaluate_style(samples / "content", samples / "style",
                                    methods={"ours": samples / "stylized",
                                             "theirs": tmp_path / "stylized_copy"},
                                    metrics="ssim-gray", cache=tmp_path / "cache.sqlite")
    assert [s.split(":")[0] for s in style.record["identical_outputs"]] == ["ours and theirs"]
    assert "stylizations both have are byte-identical" in style.record["identical_outputs"][0]


def test_a_long_table_shows_its_first_rows_when_every_row_is_in_a_file(tmp_path):
    """45 pairs: with --out (or --out-dir) the terminal shows 40 and says where the other
    five are; without a file, every row (the terminal is then the only output)."""
    from likeness.cli.output import TABLE_ROWS

    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    generator = np.random.default_rng(2)
    for index in range(TABLE_ROWS + 5):
        pixels = generator.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(ref / f"{index:02d}.png")
        Image.fromarray(255 - pixels).save(out / f"{index:02d}.png")
    saved = _run("compare", ref, out, "--metrics", "psnr", "--no-cache",
                 "--out", tmp_path / "rows.csv")
    assert saved.exit_code == 0, saved.output
    assert f"{TABLE_ROWS - 1:02d}.png" in saved.stdout
    assert f"{TABLE_ROWS:02d}.png" not in saved.stdout
    assert "… 5 more pairs" in saved.stdout
    assert "rows.csv" in saved.stdout
    assert f"mean of {TABLE_ROWS + 5} pairs" in saved.stdout
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == TABLE_ROWS + 6
    folder = _run("compare", ref, out, "--metrics", "psnr", "--no-cache",
                  "--out-dir", tmp_path / "run")
    assert "… 5 more pairs" in folder.stdout
    assert "per_image.csv" in folder.stdout
    terminal_only = _run("compare", ref, out, "--metrics", "psnr", "--no-cache")
    assert f"{TABLE_ROWS + 4:02d}.png" in terminal_only.stdout
    assert "more pair" not in terminal_only.stdout
    # the file cannot be written (its folder is a file): every row, then why
    (tmp_path / "not_a_folder").write_text("")
    unwritten = _run("compare", ref, out, "--metrics", "psnr", "--no-cache",
                     "--out", tmp_path / "not_a_folder" / "rows.csv")
    assert unwritten.exit_code != 0
    assert f"{TABLE_ROWS + 4:02d}.png" in unwritten.stdout
    assert "more pair" not in unwritten.stdout
    assert "cannot write" in unwritten.stderr


def test_a_terminal_without_the_glyphs_gets_them_in_ascii_and_aligned(golden, tmp_path):
    """A Windows console redirected to a file (cp1252) or PYTHONIOENCODING=ascii cannot
    write "∞" or "−": the table and the two-file lines show "inf" (not "\\u221e", which a
    script's float() cannot read), replaced before the table's columns are measured."""
    from likeness.cli.output import in_encoding

    assert in_encoding("−∞ ± 2×", "cp1252") == "-inf ± 2×"  # cp1252 has ± and ×
    assert in_encoding("−∞ ± 2× 图", "ascii") == "-inf +/- 2x 图"  # a name: the stream escapes
    assert in_encoding("∞ ok", "utf-8") == "∞ ok"
    reference = golden.image_path(golden.pairs[0]["reference"])
    test = golden.image_path(golden.pairs[0]["test"])
    for folder, other in (("ref", reference), ("out", test)):
        (tmp_path / folder).mkdir()
        shutil.copy(reference, tmp_path / folder / "same.png")  # identical: PSNR +inf
        shutil.copy(other, tmp_path / folder / "other.png")
    script = shutil.which("likeness", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert script
    for encoding in ("cp1252", "ascii"):
        environment = {**__import__("os").environ, "PYTHONIOENCODING": encoding}
        pair = subprocess.run([script, "compare", str(reference), str(reference), "--metrics",
                               "psnr"], capture_output=True, timeout=300, check=False,
                              env=environment)
        assert pair.returncode == 0, pair.stderr
        assert pair.stdout.decode(encoding).split() == ["psnr", "inf"]
        table = subprocess.run([script, "compare", str(tmp_path / "ref"), str(tmp_path / "out"),
                                "--metrics", "psnr"], capture_output=True, timeout=300,
                               check=False, env=environment)
        assert table.returncode == 0, table.stderr
        text = table.stdout.decode(encoding)
        assert "inf" in text, text
        assert "\\u" not in text, text
        lines = [line for line in text.splitlines() if line.strip()]
        assert len({len(line) for line in lines}) == 1, text  # the columns stay aligned


def test_an_image_beyond_pillows_warning_limit_is_a_decision_naming_its_file(
        tmp_path, monkeypatch):
    """Pillow warns "Image size (N pixels) exceeds limit …" above MAX_IMAGE_PIXELS, naming
    no file: the two-file command printed it raw (Python's file and line, "warnings.warn(")
    and a folder run as a warning of no file.  Each file is now a decision of its own, and
    a decision on the reference names the reference's file (it named the test's)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40×40: beyond; 2× refuses
    rng = np.random.default_rng(0)
    for folder, name in (("ref", "wide.png"), ("out", "small.png"), ("out", "wide.png")):
        (tmp_path / folder).mkdir(exist_ok=True)
        side = 40 if folder == "ref" or name == "wide.png" else 30
        Image.fromarray(rng.integers(0, 256, (side, side, 3), np.uint8)).save(
            tmp_path / folder / name)
    result = _run("compare", tmp_path / "ref" / "wide.png", tmp_path / "out" / "small.png",
                  "--resize", "reference", "--metrics", "psnr")
    assert result.exit_code == 0, result.output
    words = " ".join(result.stderr.split())
    assert ("note: reference: 40x40 pixels decoded, more than Pillow's decompression-bomb "
            "warning limit of 1,000 (refused beyond 2,000) (1 file: wide.png)") in words
    assert "test: 30x30" not in words
    assert "exceeds limit" not in result.output
    result = _run("compare", tmp_path / "ref", tmp_path / "out", "--metrics", "psnr",
                  "--no-cache")
    assert result.exit_code == 0, result.output
    words = " ".join(result.stderr.split())
    assert "note: test: 40x40 pixels decoded, more than Pillow's" in words
    assert "exceeds limit" not in result.output


def test_the_progress_bar_shows_a_checkpoint_download_in_megabytes(monkeypatch):
    """A run's first download was silent beside a bar of 0 pairs; it is a line of its own,
    in megabytes (a server that does not say the size: a pulsing bar, the bytes so far)."""
    import io

    from rich.console import Console

    import likeness.cli.output as output

    screen = io.StringIO()
    monkeypatch.setattr(output, "stderr_console", lambda: Console(
        file=screen, force_terminal=True, width=120, color_system=None))
    report, stop = output.progress_bar(describe=str, rate=True)
    report("download alexnet-owt-7be5be79.pth", 120_000_000, 244_408_911)
    report("download unsized.pth", 3_500_000, 0)
    report("pairs", 2, 3)
    stop()
    shown = screen.getvalue()
    assert "download alexnet-owt-7be5be79.pth" in shown
    assert "120.0/244.4 MB" in shown
    assert "3.5 MB" in shown
    assert "2/3" in shown
