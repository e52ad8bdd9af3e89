"""scikit-image-compatible SSIM, PSNR and MSE.

Pinned values: tests/data/golden/expected.json (scikit-image 0.26.0; see its README for how
each value was made).  Extra cases compare with scikit-image itself, run in this process.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import skimage.metrics as sk

from conftest import assert_array_close
from likeness import mean_squared_error, peak_signal_noise_ratio, structural_similarity

SSIM_CASES = {
    "default": {},
    "gaussian": {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False},
    "win11": {"win_size": 11},
    "k": {"K1": 0.02, "K2": 0.05},
}


@pytest.mark.parametrize("case", sorted(SSIM_CASES))
def test_ssim_matches_golden_rgb(golden, case):
    for pair in golden.pairs:
        a, b = golden.rgb(pair["reference"]), golden.rgb(pair["test"])
        got = structural_similarity(a, b, channel_axis=-1, data_range=255, **SSIM_CASES[case])
        assert got == pytest.approx(pair["ssim"][case], abs=1e-6), pair["test"]


def test_ssim_matches_golden_gray_and_float(golden):
    for pair in golden.pairs:
        gray = structural_similarity(golden.luma(pair["reference"]), golden.luma(pair["test"]),
                                     data_range=255)
        assert gray == pytest.approx(pair["ssim"]["gray"], abs=1e-6)
        a, b = golden.rgb(pair["reference"]) / 255.0, golden.rgb(pair["test"]) / 255.0
        as_float = structural_similarity(a, b, channel_axis=-1, data_range=1.0)
        assert as_float == pytest.approx(pair["ssim"]["float"], abs=1e-6)


def test_psnr_and_mse_match_golden(golden):
    for pair in golden.pairs:
        a, b = golden.rgb(pair["reference"]), golden.rgb(pair["test"])
        assert peak_signal_noise_ratio(a, b, data_range=255) == pytest.approx(pair["psnr"],
                                                                             abs=1e-6)
        assert mean_squared_error(a, b) == pytest.approx(pair["mse"], abs=1e-6)


@pytest.mark.parametrize("case", ["default", "gaussian"])
def test_ssim_gradient_and_full_map_match_golden(golden, case):
    a, b = golden.luma("small_gray.png"), golden.luma("small_gray__blur.png")
    mssim, grad, full = structural_similarity(a, b, data_range=255, gradient=True, full=True,
                                              **SSIM_CASES[case])
    assert mssim == pytest.approx(golden.expected[f"small_gray_ssim_{case}"], abs=1e-6)
    assert_array_close(grad, golden.array(f"small_gray_ssim_{case}_grad"), abs_tol=1e-6,
                       rel_to_max=1e-4)
    assert_array_close(full, golden.array(f"small_gray_ssim_{case}_full"), abs_tol=1e-6,
                       rel_to_max=1e-4)


def test_ssim_of_a_volume_matches_golden(golden):
    got = structural_similarity(golden.array("volume_a"), golden.array("volume_b"),
                                data_range=255)
    assert got == pytest.approx(golden.expected["volume_ssim"], abs=1e-6)


def test_16_bit_ssim_and_psnr_match_golden(golden):
    a, b = golden.array("u16_a"), golden.array("u16_b")
    assert a.dtype == np.uint16
    assert structural_similarity(a, b, channel_axis=-1, data_range=65535) == pytest.approx(
        golden.expected["u16_ssim"], abs=1e-6)
    assert peak_signal_noise_ratio(a, b, data_range=65535) == pytest.approx(
        golden.expected["u16_psnr"], abs=1e-6)


def _random_pair(rng, shape, dtype):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = max(info.min, -3000), min(info.max, 3000)
        a = rng.integers(low, high, size=shape, endpoint=True).astype(dtype)
        noise = rng.integers(-40, 40, size=shape)
        b = np.clip(a.astype(np.int64) + noise, info.min, info.max).astype(dtype)
        return a, b
    a = rng.random(shape).astype(dtype)
    return a, np.clip(a + rng.normal(0, 0.05, shape), 0, 1).astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "shape", "options"),
    [
        (np.uint8, (37, 53, 3), {"channel_axis": -1}),
        (np.uint8, (3, 41, 29), {"channel_axis": 0}),
        (np.uint16, (40, 40), {"data_range": 65535}),
        (np.int16, (33, 35), {"data_range": 6000}),
        (np.float32, (30, 31, 3), {"channel_axis": 2, "data_range": 1.0}),
        (np.float64, (30, 31), {"data_range": 1.0, "win_size": 5}),
        (np.float64, (12, 13, 14), {"data_range": 1.0}),
        (np.uint8, (25, 27), {"gaussian_weights": True, "full": True}),
        (np.float32, (25, 27), {"data_range": 1.0, "gradient": True, "full": True}),
        (np.uint8, (20, 22, 3), {"channel_axis": -1, "gradient": True, "win_size": 3}),
        (np.uint8, (20, 22), {"use_sample_covariance": False, "K1": 0.0, "K2": 0.1}),
    ],
)
def test_ssim_equals_scikit_image_on_random_images(dtype, shape, options):
    rng = np.random.default_rng(7)
    a, b = _random_pair(rng, shape, dtype)
    options = {"data_range": 255, **options}
    want = sk.structural_similarity(a, b, **options)
    got = structural_similarity(a, b, **options)
    if isinstance(want, tuple):
        assert len(got) == len(want)
        assert got[0] == pytest.approx(want[0], abs=1e-6)
        for got_map, want_map in zip(got[1:], want[1:], strict=True):
            assert got_map.dtype == want_map.dtype
            assert_array_close(got_map, want_map, abs_tol=1e-6, rel_to_max=1e-4)
    else:
        assert got == pytest.approx(want, abs=1e-6)
        assert np.asarray(got).dtype == np.asarray(want).dtype


def test_ssim_default_data_range_follows_dtype_like_scikit_image():
    rng = np.random.default_rng(3)
    a, b = _random_pair(rng, (30, 30), np.uint8)
    assert structural_similarity(a, b) == pytest.approx(sk.structural_similarity(a, b))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((8, 8)), np.zeros((8, 9))), {}, "same dimensions"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {}, "must specify the data_range"),
        ((np.zeros((8, 8), np.uint8),) * 2, {"win_size": 4}, "must be odd"),
        ((np.zeros((5, 5), np.uint8),) * 2, {}, "win_size exceeds image extent"),
        ((np.zeros((8, 8), np.uint8),) * 2, {"K1": -0.1}, "K1 must be positive"),
        ((np.zeros((8, 8), np.uint8),) * 2, {"K2": -0.1}, "K2 must be positive"),
        ((np.zeros((8, 8), np.uint8),) * 2, {"sigma": -1.0}, "sigma must be positive"),
    ],
)
def test_ssim_refuses_what_scikit_image_refuses(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        structural_similarity(*args, **kwargs)
    with pytest.raises(ValueError, match=match.split()[0]):
        sk.structural_similarity(*args, **kwargs)


def test_ssim_warns_on_mismatched_dtypes_and_non_uint8_integers():
    a = np.zeros((8, 8), np.uint8)
    with pytest.warns(UserWarning, match="mismatched dtypes"):
        structural_similarity(a, a.astype(np.uint16))
    with pytest.warns(UserWarning, match="data_range = 65535"):
        structural_similarity(a.astype(np.uint16), a.astype(np.uint16))


def test_psnr_default_range_and_errors_follow_scikit_image():
    rng = np.random.default_rng(1)
    a, b = _random_pair(rng, (16, 16), np.uint8)
    assert peak_signal_noise_ratio(a, b) == pytest.approx(sk.peak_signal_noise_ratio(a, b))
    f = rng.random((8, 8)) - 0.5
    assert peak_signal_noise_ratio(f, f * 0.9) == pytest.approx(
        sk.peak_signal_noise_ratio(f, f * 0.9))
    with pytest.raises(ValueError, match="outside the range expected"):
        peak_signal_noise_ratio(f * 4, f)
    with pytest.warns(UserWarning, match="mismatched dtype"):
        peak_signal_noise_ratio(a, b.astype(np.float64))
    with pytest.raises(ValueError, match="same dimensions"):
        mean_squared_error(a, a[:-1])


def _nested(*tensors):
    import torch

    with warnings.catch_warnings():  # torch: "nested tensors is in prototype stage"
        warnings.simplefilter("ignore", UserWarning)
        return torch.nested.nested_tensor(list(tensors))


@pytest.mark.parametrize("function", [mean_squared_error, peak_signal_noise_ratio,
                                      structural_similarity])
def test_arrays_numpy_cannot_compute_and_tensors_are_refused_by_likeness(function):
    """Text or object arrays, a tensor needing its gradient, a bfloat16 tensor and one on
    the meta device: each a LikenessError saying what to pass, never numpy's or torch's
    own error; a plain CPU tensor is read as ``np.asarray`` reads it."""
    import torch

    from likeness import InvalidInputTypeError

    kwargs = {} if function is mean_squared_error else {"data_range": 1.0}
    for image, match in [(np.array([["a", "b"]] * 8), "dtype <U1"),
                         (np.array([[object()] * 8] * 8), "dtype object"),
                         (torch.rand(8, 8, requires_grad=True), ".detach()"),
                         (torch.rand(8, 8).bfloat16(), "torch.bfloat16 tensor on cpu"),
                         (torch.empty(8, 8, device="meta"), "on meta"),
                         (_nested(torch.rand(8, 8)), "a nested tensor")]:
        with pytest.raises(InvalidInputTypeError, match=re.escape(match)):
            function(image, image, **kwargs)
    tensor = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    array = tensor.numpy()
    assert function(tensor, tensor * 0.5, **kwargs) == function(array, array * 0.5, **kwargs)


def test_a_data_range_that_is_no_positive_number_is_refused():
    """scikit-image computes with 0 (PSNR -inf, an SSIM of 0.018), NaN (NaN) and -1 (as
    1) without a word, and raises TypeError deep inside for text; None keeps its default."""
    rng = np.random.default_rng(4)
    a, b = rng.random((16, 16)), rng.random((16, 16))
    for function in (structural_similarity, peak_signal_noise_ratio):
        for value in (0, -1, float("nan")):
            with pytest.raises(ValueError, match="data_range must be finite and positive"):
                function(a, b, data_range=value)
        with pytest.raises(TypeError, match="data_range must be a number"):
            function(a, b, data_range="1")
        assert function(a, b, data_range=np.float32(1.0)) == pytest.approx(getattr(
            sk, function.__name__)(a, b, data_range=np.float32(1.0)), rel=1e-12)


def test_ssim_options_of_the_wrong_kind_are_refused_by_name():
    """Text for K1 or sigma said "'<' not supported between 'str' and 'int'"; win_size=-1
    and win_size=1 with the sample covariance ZeroDivisionError (scikit-image's too, for 1);
    a channel_axis that names no axis "tuple index out of range" or, as a float, "tuple
    indices must be integers"."""
    rng = np.random.default_rng(6)
    a, b = rng.random((16, 16, 3)), rng.random((16, 16, 3))
    for options, match in [({"K1": "0.01"}, "K1 must be a number"),
                           ({"sigma": None}, "sigma must be a number"),
                           ({"win_size": 3.0}, "win_size must be an integer"),
                           ({"win_size": -1}, "must be odd and positive"),
                           ({"win_size": 1}, "use_sample_covariance=False"),
                           ({"channel_axis": 3}, "channel_axis=3 is not an axis"),
                           ({"channel_axis": -4}, "channel_axis=-4 is not an axis"),
                           ({"channel_axis": 2.0}, "channel_axis must be an integer")]:
        with pytest.raises(ValueError, match=match):
            structural_similarity(a, b, data_range=1.0, **{"channel_axis": -1, **options})
    one_pixel = {"win_size": 1, "use_sample_covariance": False, "channel_axis": -1}
    assert structural_similarity(a, b, data_range=1.0, **one_pixel) == pytest.approx(
        sk.structural_similarity(a, b, data_range=1.0, **one_pixel), rel=1e-12)


def test_identity_symmetry_and_bounds():
    rng = np.random.default_rng(5)
    a, b = _random_pair(rng, (40, 48, 3), np.uint8)
    assert structural_similarity(a, a, channel_axis=-1) == pytest.approx(1.0)
    ab = structural_similarity(a, b, channel_axis=-1)
    assert ab == pytest.approx(structural_similarity(b, a, channel_axis=-1), abs=1e-12)
    assert -1.0 <= ab < 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert peak_signal_noise_ratio(a, a, data_range=255) == np.inf
    assert mean_squared_error(a, a) == 0.0


def test_closed_form_psnr():
    a = np.zeros((10, 10), np.uint8)
    b = np.full((10, 10), 10, np.uint8)  # MSE = 100
    assert mean_squared_error(a, b) == 100.0
    assert peak_signal_noise_ratio(a, b, data_range=255) == pytest.approx(
        10 * np.log10(255**2 / 100))


def test_ssim_decreases_with_more_noise():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    scores = []
    for sigma in (2, 8, 32):
        b = np.clip(a + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)
        scores.append(structural_similarity(a, b))
    assert scores[0] > scores[1] > scores[2]


@pytest.mark.parametrize(("dtype", "shape"), [(np.uint8, (512, 384, 3)), (np.uint16, (64, 48)),
                                              (np.uint8, (1,)), (np.uint16, (3, 5, 7))])
def test_integer_mse_is_bit_identical_to_scikit_image(dtype, shape):
    rng = np.random.default_rng(7)
    high = np.iinfo(dtype).max + 1
    a = rng.integers(0, high, shape).astype(dtype)
    b = rng.integers(0, high, shape).astype(dtype)
    assert mean_squared_error(a, b) == sk.mean_squared_error(a, b)
    assert peak_signal_noise_ratio(a, b, data_range=high - 1) == sk.peak_signal_noise_ratio(
        a, b, data_range=high - 1)


def test_mse_beyond_exact_integer_sums_falls_back_to_scikit_images_arithmetic():
    """A total of squares above 2**53 would round differently: the float route is used."""
    a = np.zeros(2_200_000, np.uint16)
    b = np.full(2_200_000, 65535, np.uint16)
    assert mean_squared_error(a, b) == sk.mean_squared_error(a, b)


@pytest.mark.parametrize("compiled", ["1", "0"])
@pytest.mark.parametrize("dtype", ["u2", "f4", "f8"])
def test_arrays_of_the_other_byte_order_give_the_native_values(dtype, compiled, monkeypatch):
    """A big-endian array (a FITS or big-endian TIFF reader's ``>u2``) reached the
    compiled SSIM kernel as it was: numba's TypingError.  It is read in this machine's
    byte order, the same values, on either route."""
    monkeypatch.setenv("LIKENESS_COMPILED", compiled)
    generator = np.random.default_rng(9)
    native = [generator.integers(0, 65536, (40, 44, 3)).astype(dtype) for _ in range(2)]
    if dtype != "u2":
        native = [image / 65535 for image in native]
    swapped = [image.astype(image.dtype.newbyteorder(">" if image.dtype.isnative and
                                                        np.little_endian else "<"))
               for image in native]
    assert not swapped[0].dtype.isnative
    data_range = 65535 if dtype == "u2" else 1.0
    assert structural_similarity(*swapped, channel_axis=-1, data_range=data_range) == (
        structural_similarity(*native, channel_axis=-1, data_range=data_range))
    assert peak_signal_noise_ratio(*swapped, data_range=data_range) == (
        peak_signal_noise_ratio(*native, data_range=data_range))
    assert mean_squared_error(*swapped) == mean_squared_error(*native)
