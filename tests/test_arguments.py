"""The Python API refuses an argument of another kind before reading anything, naming the
argument and what it got (an array by its type and shape, never its numbers): a path given
as an array, a number or None, in every public function that takes files or folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import likeness
from likeness.arguments import check_named_paths, check_path_list, described
from likeness.errors import InvalidInputTypeError, WeightsError
from likeness.nets.aesthetic import AestheticPredictor
from vit_stand_ins import make_aesthetic_state_dict

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
IMAGE = np.zeros((64, 64, 3), np.uint8)
TENSOR = torch.zeros(1, 3, 8, 8)
FOLDER = str(SAMPLES / "reference")

CALLS = {
    "compare reference": (lambda: likeness.compare(TENSOR, FOLDER), "reference"),
    "compare tests": (lambda: likeness.compare(FOLDER, [FOLDER, 5]), "tests[1]"),
    "compare models": (lambda: likeness.compare(FOLDER, models={"a": IMAGE}), "models['a']"),
    "compare models' names": (lambda: likeness.compare(FOLDER, models={5: FOLDER}),
                              "each key of models"),
    "compare pairs": (lambda: likeness.compare(None, pairs=3), "pairs"),
    "compare_files": (lambda: likeness.compare_files(IMAGE, IMAGE), "a"),
    "compare_folders": (lambda: likeness.compare_folders(FOLDER, TENSOR), "test_dir"),
    "fid": (lambda: likeness.fid(TENSOR, TENSOR), "a"),
    "fid's second set": (lambda: likeness.fid(FOLDER, IMAGE), "b"),
    "fid save_stats": (lambda: likeness.fid(FOLDER, save_stats=[IMAGE]), "save_stats[0]"),
    "kid_folders": (lambda: likeness.kid_folders(FOLDER, 7), "b"),
    "evaluate_style": (lambda: likeness.evaluate_style(IMAGE, FOLDER, FOLDER), "content"),
    "evaluate_style methods": (lambda: likeness.evaluate_style(FOLDER, FOLDER, methods=5),
                               "methods"),
    "write_report": (lambda: likeness.write_report(5), "results_dir"),
    "create_study": (lambda: likeness.create_study(IMAGE, {"a": FOLDER}), "out_dir"),
    "create_study models": (lambda: likeness.create_study("study", None, reference=FOLDER),
                            "models"),
    "open_study": (lambda: likeness.open_study(None), "folder"),
    "analyze_study": (lambda: likeness.analyze_study(None), "judgments"),
    "analyze_rating_study": (lambda: likeness.analyze_rating_study(IMAGE), "ratings"),
    "load_image": (lambda: likeness.load_image(IMAGE), "path"),
    "find_images": (lambda: likeness.find_images(3), "folder"),
    "pair_folders": (lambda: likeness.pair_folders([FOLDER], FOLDER), "reference_dir"),
    "Accumulator": (lambda: likeness.Accumulator(reference=IMAGE), "reference"),
    "InceptionFeatures": (lambda: likeness.InceptionFeatures(weights=IMAGE), "weights"),
    "LPIPS": (lambda: likeness.LPIPS(backbone_weights=5), "backbone_weights"),
    "clip_score": (lambda: likeness.clip_score(TENSOR, "a", weights=5, data_range=1.0),
                   "weights"),
}


@pytest.mark.parametrize(("call", "argument"), CALLS.values(), ids=CALLS)
def test_an_argument_of_another_kind_is_named_before_anything_is_read(call, argument,
                                                                      tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written; a study folder would land here
    with pytest.raises(InvalidInputTypeError) as raised:
        call()
    assert str(raised.value).startswith(f"{argument} must be "), raised.value
    assert "array(" not in str(raised.value)
    assert "tensor(" not in str(raised.value)
    assert not any(tmp_path.iterdir())


def test_an_array_given_for_a_path_points_to_the_functions_that_take_arrays():
    with pytest.raises(InvalidInputTypeError) as raised:
        likeness.fid(IMAGE, IMAGE)
    assert str(raised.value) == (
        "a must be a path (str or os.PathLike), got a numpy.ndarray of shape (64, 64, 3); "
        "images in memory go to likeness.compare_tensors or the metric functions "
        "(likeness.ssim, likeness.lpips, ...), features to likeness.frechet_distance")


def test_values_are_described_by_their_repr_when_short_and_by_their_kind_otherwise():
    assert described(5) == "5"
    assert described("results/") == "'results/'"
    assert described(None) == "None"
    assert described(torch.zeros(2, 3)) == "a torch.Tensor of shape (2, 3)"
    assert described(np.float32(1.5)) == "np.float32(1.5)"
    long = described(list(range(100)))
    assert long.startswith("a list ([0, 1, 2,")
    assert long.endswith("...)")
    assert len(long) < 60


def test_lists_and_mappings_of_paths_name_the_item_that_is_not_a_path():
    check_path_list("tests", None)
    check_path_list("tests", "a")
    check_path_list("tests", [Path("a"), "b"])
    with pytest.raises(InvalidInputTypeError, match=r"^tests must be a path, a list of paths "
                                                    r"or None, got 5$"):
        check_path_list("tests", 5)
    check_named_paths("models", {"a": Path("a")})
    check_named_paths("models", None)
    with pytest.raises(InvalidInputTypeError, match=r"^models must be a mapping of names to "
                                                    r"paths, got None$"):
        check_named_paths("models", None, optional=False)
    with pytest.raises(InvalidInputTypeError, match=r"^models\['b'\] must be a path"):
        check_named_paths("models", {"a": "x", "b": 1.0})


def test_a_missing_clip_checkpoint_of_the_aesthetic_predictor_names_clip_weights(
        tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    head = tmp_path / "head.pth"
    torch.save(make_aesthetic_state_dict(0), head)
    with pytest.raises(WeightsError, match=r"pass the file explicitly: clip_weights=PATH$"):
        AestheticPredictor(head)
    with pytest.raises(WeightsError, match=r"pass the file explicitly: clip_weights=PATH$"):
        likeness.aesthetic_score(TENSOR, weights=head, data_range=1.0)


def _unit_pair(channels_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(11)
    a = generator.random((48, 48, 3))
    b = np.clip(a + 0.05 * generator.standard_normal(a.shape), 0, 1)
    return (a, b) if channels_last else (a.transpose(2, 0, 1)[None], b.transpose(2, 0, 1)[None])


def test_images_in_0_1_with_an_8_bit_data_range_are_computed_with_a_scale_warning():
    """The usual slip — ToTensor images passed with data_range=255 — gives SSIM ≈ 1 and a
    PSNR 48 dB too high; it cannot be refused (a very dark image is legitimate), so every
    entry point that takes floating images and a data range says it, once, at the
    caller's line; a metric a run calls inside says nothing more."""
    a, b = _unit_pair(channels_last=True)
    x, y = (torch.from_numpy(t) for t in _unit_pair())
    from likeness.nets.preprocess import eight_bit_images_of

    calls = {
        "psnr": lambda: likeness.psnr(x, y, data_range=255),
        "ssim": lambda: likeness.ssim(x, y, data_range=255),
        "fsim (catalogue)": lambda: likeness.fsim(x, y, data_range=255),
        "gmsd in float32": lambda: likeness.gmsd(x.float(), y.float(), data_range=65535),
        "a loss module": lambda: likeness.GMSDLoss(data_range=255)(x, y),
        "structural_similarity": lambda: likeness.structural_similarity(
            a, b, channel_axis=-1, data_range=255),
        "peak_signal_noise_ratio": lambda: likeness.peak_signal_noise_ratio(
            a, b, data_range=255),
        "compare_tensors": lambda: likeness.compare_tensors(
            x, y, metrics="ssim,psnr,gmsd", data_range=255),
        "the CLIP images": lambda: eight_bit_images_of([a, b, a], 255, "images"),
    }
    for name, call in calls.items():
        with pytest.warns(likeness.ScaleWarning) as record:
            call()
        assert len(record) == 1, (name, [str(w.message) for w in record])
        assert record[0].filename == __file__, (name, record[0].filename)
        assert "need data_range=1.0" in str(record[0].message)
        assert "48.1 dB too high" in str(record[0].message) or "float32" in name


def test_no_scale_warning_where_the_scale_is_the_data_range_s():
    import warnings

    x, y = (torch.from_numpy(t) for t in _unit_pair())
    with warnings.catch_warnings():
        warnings.simplefilter("error", likeness.ScaleWarning)
        likeness.psnr(x * 255, y * 255, data_range=255)  # 8-bit values
        likeness.ssim(x, y, data_range=1.0)
        black = torch.zeros(1, 3, 16, 16)
        likeness.psnr(black, black.clone(), data_range=255)  # black says nothing
        mask = (x > 0.5).to(torch.uint8)  # integer 0/1 values are 8-bit values
        likeness.psnr(mask, mask.clone(), data_range=255)
        likeness.compare_tensors(mask, mask.clone(), metrics="psnr")


def test_the_library_s_warnings_point_at_the_caller_s_line(tmp_path):
    """A fixed ``stacklevel`` pointed into ``caller_modes.py`` once the modes' wrapper came
    between the public function and the code that warns: ``compare_files``' decisions,
    SSIM's unfiltered axis, a run's failures.  Each now names the caller's own line."""
    from PIL import Image

    pixels = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    Image.fromarray(pixels).convert("P").save(tmp_path / "palette.png")
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        Image.fromarray(pixels).save(tmp_path / folder / "a.png")
    (tmp_path / "out" / "b.png").write_bytes(b"not a PNG")
    (tmp_path / "ref" / "b.png").write_bytes((tmp_path / "ref" / "a.png").read_bytes())
    x = torch.rand(1, 3, 8, 64)
    calls = {
        "compare_files": (lambda: likeness.compare_files(tmp_path / "rgb.png",
                                                         tmp_path / "palette.png",
                                                         metrics=["psnr"]),
                          likeness.DecisionWarning),
        "ssim": (lambda: likeness.ssim(x, x * 0.9, data_range=1.0,
                                       convention="pytorch-msssim"), UserWarning),
        "compare": (lambda: likeness.compare(tmp_path / "ref", tmp_path / "out",
                                             metrics="psnr", cache=False), UserWarning),
    }
    for name, (call, category) in calls.items():
        with pytest.warns(category) as record:
            call()
        assert {w.filename for w in record} == {__file__}, (name, [
            (w.filename, str(w.message)[:60]) for w in record])
