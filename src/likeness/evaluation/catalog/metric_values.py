"""What the registry's own metrics compute from what an engine gives them.

- pixel metrics (an entry's ``pixels``): (one prepared pair, run settings) → value, with
  the run's conventions (SSIM's ``ssim_convention``);
- set metrics (an entry's ``set_value``): (first set, second set, run settings) → (value,
  std or None) from the two sets' per-image features (``ImageSet``); the first set is the
  references (or the styles), the second the model's images."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from likeness.errors import ImageTooSmallError, LikenessError
from likeness.evaluation.catalog.metric_spec import torch_pair
from likeness.evaluation.items.image_set import ImageSet
from likeness.evaluation.items.prepare import PreparedPair
from likeness.evaluation.items.settings import RunSettings

__all__ = ["INCEPTION_SCORE_SPLITS", "art_fid_combined", "art_fid_sizes", "art_fid_value",
           "cmmd_value", "frechet_sizes", "frechet_value", "inception_score_sizes",
           "inception_score_value", "kid_sizes", "kid_value", "ms_ssim_on_device",
           "ms_ssim_value", "mse_on_device", "mse_value", "nearest_neighbour_sizes",
           "nearest_neighbour_value", "psnr_on_device", "psnr_value", "ssim_map",
           "ssim_on_device", "ssim_value", "vendi_value"]

INCEPTION_SCORE_SPLITS = 10  # torch-fidelity's


def ssim_value(pair: PreparedPair, settings: RunSettings) -> float:
    from likeness.metrics.skimage_compat import structural_similarity

    convention = getattr(settings, "ssim_convention", "skimage")
    if convention == "basicsr":
        from likeness.metrics.restoration import basicsr_ssim

        return basicsr_ssim(pair.reference, pair.test)
    if convention == "matlab":
        from likeness.metrics.restoration import matlab_ssim

        if pair.reference.shape[2] != 1 or pair.data_range != 255:
            raise LikenessError("the matlab SSIM convention (Wang's ssim.m) compares one "
                                "8-bit channel: use the Y channel (y_channel=True, "
                                "--y-channel) or gray, on 8-bit images")
        return matlab_ssim(pair.reference, pair.test)
    if convention == "torchmetrics":
        from likeness.metrics.ssim_torchmetrics import torchmetrics_ssim

        test, reference = torch_pair(pair)
        return float(torchmetrics_ssim(test, reference, pair.data_range).mean())
    if convention == "pytorch-msssim":
        from likeness.metrics.ssim import ssim

        test, reference = torch_pair(pair)
        return float(ssim(test, reference, data_range=pair.data_range,
                          convention="pytorch-msssim")[0])
    height, width = pair.reference.shape[:2]
    if min(height, width) < 7:
        raise ImageTooSmallError(f"images of {width}x{height} px are smaller than SSIM's 7x7 "
                                 "window; SSIM needs at least 7 px a side")
    if convention == "wang2004":
        return float(structural_similarity(pair.reference, pair.test, channel_axis=-1,
                                           data_range=pair.data_range, gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False))
    return float(structural_similarity(pair.reference, pair.test, channel_axis=-1,
                                       data_range=pair.data_range))


def psnr_value(pair: PreparedPair, settings: RunSettings) -> float:
    from likeness.metrics.skimage_compat import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(pair.reference, pair.test, data_range=pair.data_range))


def mse_value(pair: PreparedPair, settings: RunSettings) -> float:
    from likeness.metrics.skimage_compat import mean_squared_error

    return float(mean_squared_error(pair.reference, pair.test))


def ms_ssim_value(pair: PreparedPair, settings: RunSettings) -> float:
    import torch

    from likeness.errors import ImageTooSmallError
    from likeness.metrics.ms_ssim import ms_ssim, ms_ssim_too_small

    convention = getattr(settings, "ms_ssim_convention", "pytorch-msssim")
    # a run has MS-SSIM's published five scales: said without ms_ssim's advice to pass fewer
    too_small = (ms_ssim_too_small(pair.reference.shape[:2])
                 if convention == "pytorch-msssim" else None)
    if too_small is not None:
        raise ImageTooSmallError(too_small)

    def as_batch(pixels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]

    return float(ms_ssim(as_batch(pair.reference), as_batch(pair.test),
                         data_range=pair.data_range, convention=convention)[0])


def ssim_on_device(test: Any, reference: Any, data_range: float,
                   settings: RunSettings) -> Any:
    """``ssim_value`` of a batch on its device (None: BasicSR's and ``ssim.m``'s
    conventions, and images smaller than the window, whose errors the CPU gives).

    scikit-image's convention on integer images takes its exact window sums
    (``box_ssim_sums_torch``); the other conventions the tensor operations in float64."""
    import torch

    from likeness.metrics.ssim import get_convention, ssim_and_contrast_structure

    convention = getattr(settings, "ssim_convention", "skimage")
    if convention == "torchmetrics":
        from likeness.metrics.ssim_torchmetrics import torchmetrics_ssim

        return torchmetrics_ssim(test.to(torch.float64), reference.to(torch.float64),
                                 data_range).mean(dim=1)
    if convention not in ("skimage", "wang2004", "pytorch-msssim"):
        return None
    chosen = get_convention(convention)
    if convention != "pytorch-msssim" and min(test.shape[-2:]) < chosen.win_size:
        return None
    if convention == "skimage" and not test.dtype.is_floating_point:
        from likeness.metrics.exact_sums import box_ssim_sums_torch, true_divide

        n_win = chosen.win_size**2
        sums = box_ssim_sums_torch(reference, test, chosen.win_size,
                                   (chosen.k1 * data_range) ** 2, (chosen.k2 * data_range) ** 2,
                                   n_win / (n_win - 1))
        windows = ((test.shape[-2] - chosen.win_size + 1)
                   * (test.shape[-1] - chosen.win_size + 1))
        return true_divide(sums, windows).mean(dim=1)
    per_channel, _ = ssim_and_contrast_structure(
        test.to(torch.float64), reference.to(torch.float64), data_range=data_range,
        convention=chosen, fused=False)
    return per_channel.mean(dim=1)


def mse_on_device(test: Any, reference: Any, data_range: float, settings: RunSettings) -> Any:
    """``mse_value`` of a batch on its device: 8- and 16-bit pairs (16-bit as int32, as
    ``DeviceBatches`` sends them) from exact int64 sums (the CPU's value, bit for bit),
    others in float64."""
    import torch

    from likeness.metrics.exact_sums import EXACT_LIMIT, squared_error_sums_torch, true_divide

    samples = test[0].numel()
    if test.dtype in (torch.uint8, torch.int32) and test.dtype == reference.dtype:
        total = squared_error_sums_torch(reference, test)
        exact = true_divide(total.to(torch.float64), float(samples))
        largest = 255 if test.dtype == torch.uint8 else 65535  # int32: 16-bit pixels
        if samples * largest**2 < EXACT_LIMIT:  # no total can reach the limit
            return exact
        difference = (reference.to(torch.float64) - test.to(torch.float64)).flatten(1)
        return torch.where(total < EXACT_LIMIT, exact, (difference * difference).mean(dim=1))
    difference = (reference.to(torch.float64) - test.to(torch.float64)).flatten(1)
    return (difference * difference).mean(dim=1)


def psnr_on_device(test: Any, reference: Any, data_range: float,
                   settings: RunSettings) -> Any:
    """``psnr_value`` of a batch on its device (its MSE by ``mse_on_device``)."""
    import torch

    from likeness.metrics.exact_sums import true_divide

    mse = mse_on_device(test, reference, data_range, settings)
    return 10 * torch.log10(true_divide(float(data_range) ** 2, mse))


def ms_ssim_on_device(test: Any, reference: Any, data_range: float,
                      settings: RunSettings) -> Any:
    """``ms_ssim_value`` of a batch on its device, in float64."""
    import torch

    from likeness.metrics.ms_ssim import ms_ssim

    return ms_ssim(reference.to(torch.float64), test.to(torch.float64), data_range=data_range,
                   convention=getattr(settings, "ms_ssim_convention", "pytorch-msssim"))


def ssim_map(pair: PreparedPair, settings: RunSettings) -> np.ndarray:
    """SSIM's local values under the run's convention, averaged over channels: the map
    whose mean is the value (scikit-image's 7×7 uniform window; Wang et al.'s 11×11
    Gaussian window; BasicSR's and ``ssim.m``'s windows inside the image, ``ssim.m``'s after
    its downsampling; torchmetrics' whole reflect-padded map).  pytorch-msssim's convention
    is shown with its window as scikit-image computes it (float64, reflected borders)."""
    from likeness.metrics.skimage_compat import structural_similarity

    convention = getattr(settings, "ssim_convention", "skimage")
    if convention == "basicsr":
        from likeness.metrics.restoration import basicsr_ssim_map

        return basicsr_ssim_map(pair.reference, pair.test)
    if convention == "matlab":
        from likeness.metrics.restoration import matlab_ssim_map

        return matlab_ssim_map(pair.reference, pair.test)
    if convention == "torchmetrics":
        from likeness.metrics.ssim_torchmetrics import torchmetrics_ssim

        test, reference = torch_pair(pair)
        return torchmetrics_ssim(test, reference, pair.data_range, full=True)[0].mean(
            dim=0).numpy()
    gaussian: dict[str, Any] = ({} if convention == "skimage" else
                                {"gaussian_weights": True, "sigma": 1.5,
                                 "use_sample_covariance": False})
    _, local = structural_similarity(pair.reference, pair.test, channel_axis=-1,
                                     data_range=pair.data_range, full=True, **gaussian)
    return np.asarray(local).mean(axis=2)


# set metrics' domains (``MetricSpec.set_sizes``): (first set's count of files, second's,
# settings), checked before any feature is computed


def frechet_sizes(first: int, second: int, settings: RunSettings) -> None:
    from likeness.metrics.fid import check_frechet_sizes

    check_frechet_sizes(first, second)


def kid_sizes(first: int, second: int, settings: RunSettings) -> None:
    from likeness.metrics.kid import check_kid_sizes

    check_kid_sizes(first, second, subset_size=settings.kid_subset_size,
                    subsets=settings.kid_subsets)


def nearest_neighbour_sizes(k: int) -> Callable[[int, int, RunSettings], None]:
    def check(first: int, second: int, settings: RunSettings) -> None:
        from likeness.metrics.feature_sets import check_neighbour_sizes

        check_neighbour_sizes(first, second, k)

    return check


def inception_score_sizes(first: int, second: int, settings: RunSettings) -> None:
    from likeness.metrics.inception_score import check_split_sizes

    check_split_sizes(second, INCEPTION_SCORE_SPLITS)


def art_fid_sizes(first: int, second: int, settings: RunSettings) -> None:
    if settings.art_fid_mode == "infinity":  # the stylized set first, as ``art_fid_value``
        from likeness.metrics.style import check_fid_infinity_size

        check_fid_infinity_size(first)
    frechet_sizes(first, second, settings)


def frechet_value(first: ImageSet, second: ImageSet,
                  settings: RunSettings) -> tuple[float, float | None]:
    from likeness.evaluation.items.image_set import frechet_between

    return frechet_between(first, second), None


def kid_value(first: ImageSet, second: ImageSet,
              settings: RunSettings) -> tuple[float, float | None]:
    from likeness.metrics.kid import kid, kid_has_spread

    mean, std = kid(first.per_image("kid"), second.per_image("kid"),
                    subset_size=settings.kid_subset_size, subsets=settings.kid_subsets,
                    seed=settings.kid_seed)  # one subset's std of 0 is no spread: none shown
    return mean, std if kid_has_spread(settings.kid_subset_size, settings.kid_subsets) else None


def art_fid_value(first: ImageSet, second: ImageSet,
                  settings: RunSettings) -> tuple[float, float | None]:
    if settings.art_fid_mode == "infinity":
        from likeness.metrics.style import fid_infinity

        return fid_infinity(first.per_image("FID∞"), second.per_image("FID∞")), None
    return frechet_value(first, second, settings)


def art_fid_combined(values: Mapping[str, float]) -> float:
    """ArtFID = (1 + mean LPIPS) (1 + FID with ArtFID's Inception) of one method."""
    from likeness.metrics.style import art_fid

    return art_fid(values["lpips_alex"], values["fid_art"])


# prdc's four values per (real features, fake features, k), computed once for the four
# metrics; held by weak references, so a finished run's features are not kept alive
_PRDC_MEMO: dict[tuple[int, int, int], tuple[Any, Any, dict[str, float]]] = {}


def nearest_neighbour_value(name: str, k: int) -> Callable[[Any, Any, Any], tuple[float, None]]:
    """precision / recall (k = 3) or density / coverage (k = 5) of the model's set (second)
    against the references (first), as the prdc package computes them."""
    def compute(first: ImageSet, second: ImageSet,
                settings: RunSettings) -> tuple[float, None]:
        from likeness.metrics.feature_sets import coverage_density_precision_recall

        if first.features is None or second.features is None:
            raise LikenessError(f"{name} needs each image's features; a statistics file "
                                "(mean and covariance only) has none")
        for key in [key for key, (real, fake, _) in _PRDC_MEMO.items()
                    if real() is None or fake() is None]:
            del _PRDC_MEMO[key]
        key = (id(first.features), id(second.features), k)
        held = _PRDC_MEMO.get(key)
        if held is None or held[0]() is not first.features or held[1]() is not second.features:
            values = coverage_density_precision_recall(first.features, second.features, k)
            held = (weakref.ref(first.features), weakref.ref(second.features), values)
            _PRDC_MEMO[key] = held
        return held[2][name], None

    return compute


def cmmd_value(first: ImageSet, second: ImageSet,
               settings: RunSettings) -> tuple[float, None]:
    from likeness.metrics.feature_sets import cmmd

    if first.features is None or second.features is None:
        raise LikenessError("cmmd needs each image's embedding; a statistics file (mean and "
                            "covariance only) has none")
    return cmmd(first.features, second.features), None


def vendi_value(first: ImageSet, second: ImageSet,
                settings: RunSettings) -> tuple[float, None]:
    from likeness.metrics.feature_sets import vendi

    if second.features is None:
        raise LikenessError("vendi needs each image's features; a statistics file (mean and "
                            "covariance only) has none")
    return vendi(second.features), None


def inception_score_value(first: ImageSet, second: ImageSet,
                          settings: RunSettings) -> tuple[float, float]:
    from likeness.metrics.inception_score import inception_score

    if second.features is None:
        raise LikenessError("inception_score needs each image's logits; a statistics file "
                            "(mean and covariance only) has none")
    return inception_score(second.features, splits=INCEPTION_SCORE_SPLITS)
