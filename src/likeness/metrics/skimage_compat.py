"""scikit-image's SSIM, PSNR and MSE: same arguments, defaults, errors, warnings, returns.

These are drop-in replacements for ``skimage.metrics.structural_similarity``,
``peak_signal_noise_ratio`` and ``mean_squared_error`` (scikit-image 0.26), written for
likeness.  The common case (a uniform window, no gradient, no full map, 2-D images or
2-D images with channels) runs through a fused, parallel kernel; every other case follows
scikit-image's algorithm step by step (reflect-padded filters in the same float type).

References:
    Wang, Bovik, Sheikh & Simoncelli (2004), Image quality assessment: from error
    visibility to structural similarity. IEEE TIP 13(4), 600-612.
    Avanaki (2009), Exact global histogram specification optimized for structural
    similarity. Optical Review 16, 613-621 (the gradient).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from likeness.arguments import check_flags, check_numbers, warn_of_unit_images
from likeness.errors import InvalidInputError
from likeness.metrics._skimage_arrays import (
    check_has_pixels,
    checked_data_range,
    dtype_range,
    float_type_of,
    same_shape_arrays,
)

__all__ = ["mean_squared_error", "peak_signal_noise_ratio", "structural_similarity"]

# Integer images whose window sums the fused kernel computes exactly in int64.
_EXACT_INTEGER_TYPES = (np.uint8, np.uint16, np.int8, np.int16, np.bool_)


def mean_squared_error(image0: np.ndarray, image1: np.ndarray) -> np.float64:
    """Mean squared error between two images, as ``skimage.metrics.mean_squared_error``.

    Args:
        image0, image1: images of the same shape, any dimensionality.

    Returns:
        The MSE, computed in the images' common float type and averaged in float64.

    Raises:
        ValueError: if the shapes differ, or the images hold no pixels.

    Example:
        >>> mean_squared_error(np.zeros((2, 2)), np.ones((2, 2)))
        np.float64(1.0)
    """
    image0, image1 = same_shape_arrays(image0=image0, image1=image1)
    check_has_pixels(image0)
    if image0.dtype == image1.dtype and image0.dtype in (np.uint8, np.uint16):
        from likeness.metrics.exact_sums import EXACT_LIMIT, squared_error_sum

        total = squared_error_sum(np.ascontiguousarray(image0).reshape(-1),
                                  np.ascontiguousarray(image1).reshape(-1))
        if total < EXACT_LIMIT:  # every float64 partial sum exact: bit-identical to skimage
            return np.float64(total) / np.float64(image0.size)
    float_type = float_type_of(image0.dtype, image1.dtype)
    diff = image0.astype(float_type, copy=False) - image1.astype(float_type, copy=False)
    return np.mean(diff**2, dtype=np.float64)


def peak_signal_noise_ratio(
    image_true: np.ndarray, image_test: np.ndarray, *, data_range: float | None = None
) -> np.float64:
    """Peak signal-to-noise ratio in dB, as ``skimage.metrics.peak_signal_noise_ratio``.

    Args:
        image_true: the reference image.
        image_test: the test image, same shape.
        data_range: the distance between the smallest and largest possible values.  If
            None it is taken from ``image_true``'s dtype (255 for uint8, 1 for floats in
            [0, 1], 2 for floats with negative values) — pass it explicitly.

    Returns:
        10·log10(data_range² / MSE); ``inf`` for identical images.

    Raises:
        ValueError: shapes differ, the images hold no pixels, or data_range is None and
            ``image_true`` holds values outside its dtype's range.

    Example:
        >>> a = np.zeros((4, 4), np.uint8); b = a.copy(); b[0, 0] = 255
        >>> round(float(peak_signal_noise_ratio(a, b)), 4)
        12.0412
    """
    image_true, image_test = same_shape_arrays(image_true=image_true, image_test=image_test)
    check_has_pixels(image_true)
    data_range = checked_data_range(data_range)  # scikit-image takes 0 (-inf dB) or NaN
    _warn_of_unit_floats(image_true, image_test, data_range)
    if data_range is None:
        if image_true.dtype != image_test.dtype:
            warnings.warn(
                "Inputs have mismatched dtype.  Setting data_range based on image_true.",
                UserWarning,
                stacklevel=2,
            )
        dmin, dmax = dtype_range(image_true.dtype)
        true_min, true_max = np.min(image_true), np.max(image_true)
        if true_max > dmax or true_min < dmin:
            raise InvalidInputError(
                "image_true has intensity values outside the range expected "
                "for its data type. Please manually specify the data_range."
            )
        data_range = dmax if true_min >= 0 else dmax - dmin
    err = mean_squared_error(image_true, image_test)
    data_range = float(data_range)  # a Python float: no overflow for small integer types
    with np.errstate(divide="ignore"):
        return 10 * np.log10((data_range**2) / err)


def structural_similarity(
    im1: np.ndarray,
    im2: np.ndarray,
    *,
    win_size: int | None = None,
    gradient: bool = False,
    data_range: float | None = None,
    channel_axis: int | None = None,
    gaussian_weights: bool = False,
    full: bool = False,
    **kwargs: Any,
) -> Any:
    """Mean structural similarity, as ``skimage.metrics.structural_similarity``.

    Args:
        im1, im2: images of the same shape, any dimensionality.
        win_size: odd side of the sliding window (default 7, or 2·round(3.5σ)+1 with
            gaussian weights).
        gradient: also return the gradient of the mean SSIM with respect to ``im2``.
        data_range: the distance between the smallest and largest possible values.  Required
            for float images; taken from the dtype for integer ones (a warning for integer
            types other than uint8).
        channel_axis: the axis holding colour channels (averaged), or None for one channel.
        gaussian_weights: weight each window by a normalised gaussian of width ``sigma``.
        full: also return the full SSIM map.
        **kwargs: ``K1`` (0.01), ``K2`` (0.03), ``sigma`` (1.5), ``use_sample_covariance``
            (True).

    Returns:
        ``mssim``; or ``(mssim, grad)``, ``(mssim, S)`` or ``(mssim, grad, S)`` as the flags
        ask, exactly as scikit-image returns them.

    Raises:
        ValueError: shapes differ; no spatial axis; the window is even or larger than the
            image; K1, K2 or sigma negative; a float image without ``data_range``.

    Example:
        >>> img = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
        >>> float(structural_similarity(img, img))
        1.0

    References:
        Wang et al. (2004), IEEE TIP 13(4), 600-612; Avanaki (2009), Optical Review 16.
    """
    im1, im2 = same_shape_arrays(im1=im1, im2=im2)
    data_range = checked_data_range(data_range)  # scikit-image takes 0, NaN or -1 (as 1)
    # scikit-image takes any truthy value ("no" as True)
    check_flags(gradient=gradient, gaussian_weights=gaussian_weights, full=full,
                **{name: kwargs[name] for name in ("use_sample_covariance",) if name in kwargs})
    _warn_of_unit_floats(im1, im2, data_range)
    if im1.ndim < (1 if channel_axis is None else 2):  # scikit-image divides by zero here
        besides = "" if channel_axis is None else f" besides channel_axis={channel_axis}"
        raise InvalidInputError(f"images of shape {im1.shape} have no spatial axis{besides}; "
                                "pass (H, W) images, or (H, W, C) with channel_axis=-1")
    float_type = float_type_of(im1.dtype)
    if channel_axis is not None:
        return _multichannel(
            im1, im2, float_type, channel_axis, win_size=win_size, gradient=gradient,
            data_range=data_range, gaussian_weights=gaussian_weights, full=full, **kwargs,
        )

    options = _Options.parse(im1, im2, win_size, data_range, gaussian_weights, kwargs)
    if not _fast_path_applies(im1, im2, options, gradient=False, full=False):
        return _ssim_reference_algorithm(im1, im2, float_type, options, gradient, full)
    sums = _box_ssim_sums(im1[..., np.newaxis], im2[..., np.newaxis], options)
    mean = np.float64(sums[0] / _window_count(im1.shape, options.win_size))
    if not (gradient or full):
        return mean
    # the maps come from the reference algorithm; the mean is the same number whatever
    # is asked for (scikit-image's own tests compare ssim(X, Y) with ssim(X, Y, full=True)[0])
    result = _ssim_reference_algorithm(im1, im2, float_type, options, gradient, full)
    return (mean, *result[1:])


def _warn_of_unit_floats(a: np.ndarray, b: np.ndarray, data_range: float | None) -> None:
    """``warn_of_unit_images`` for floating arrays given a data range above 1 (scikit-image
    computes them at that scale silently); one pass over ``a`` where it exceeds 1."""
    if data_range is None or data_range <= 1 or "f" not in (a.dtype.kind, b.dtype.kind):
        return
    with np.errstate(invalid="ignore"):
        highest = float(np.max(a))
        if highest <= 1:  # NaN compares false: no warning
            highest = max(highest, float(np.max(b)))
    warn_of_unit_images(highest, float(data_range))


class _Options:
    """The validated scalar options of one SSIM computation."""

    def __init__(self, win_size: int, data_range: float, gaussian: bool, sigma: float,
                 k1: float, k2: float, sample_covariance: bool) -> None:
        self.win_size, self.data_range, self.gaussian = win_size, data_range, gaussian
        self.sigma, self.k1, self.k2 = sigma, k1, k2
        self.sample_covariance = sample_covariance

    @classmethod
    def parse(cls, im1: np.ndarray, im2: np.ndarray, win_size: int | None,
              data_range: float | None, gaussian_weights: bool, kwargs: dict[str, Any],
              *, warn_stacklevel: int = 4) -> _Options:
        kwargs = dict(kwargs)
        k1 = kwargs.pop("K1", 0.01)
        k2 = kwargs.pop("K2", 0.03)
        sigma = kwargs.pop("sigma", 1.5)
        check_numbers({"K1": k1, "K2": k2, "sigma": sigma})
        if win_size is not None:
            check_numbers({"win_size": win_size}, integers=("win_size",))
        if k1 < 0:
            raise InvalidInputError("K1 must be positive")
        if k2 < 0:
            raise InvalidInputError("K2 must be positive")
        if sigma < 0:
            raise InvalidInputError("sigma must be positive")
        sample_covariance = kwargs.pop("use_sample_covariance", True)
        if win_size is None:
            # gaussian: the 11-tap filter of Wang et al. at sigma 1.5 (truncate 3.5 as ndimage)
            win_size = 2 * int(3.5 * sigma + 0.5) + 1 if gaussian_weights else 7
        if np.any((np.asarray(im1.shape) - win_size) < 0):
            raise InvalidInputError(
                f"win_size exceeds image extent (win_size {win_size}, image shape "
                f"{im1.shape}). Either ensure that your images are at least 7x7; or pass "
                "win_size explicitly in the function call, with an odd value less than or "
                "equal to the smaller side of your images. If your images are multichannel "
                "(with color channels), set channel_axis to the axis number corresponding "
                "to the channels."
            )
        if win_size % 2 != 1 or win_size < 1:
            raise InvalidInputError(f"Window size must be odd and positive (got "
                                    f"win_size={win_size}).")
        if win_size == 1 and sample_covariance:  # scikit-image: ZeroDivisionError
            raise InvalidInputError("win_size=1 with use_sample_covariance=True divides by "
                                    "zero (N / (N - 1) with N = 1): pass an odd win_size of "
                                    "3 or more, or use_sample_covariance=False")
        if data_range is None:
            data_range = _data_range_from_dtype(im1, im2, warn_stacklevel)
        return cls(win_size, data_range, gaussian_weights, sigma, k1, k2, sample_covariance)


def _data_range_from_dtype(im1: np.ndarray, im2: np.ndarray, stacklevel: int) -> float:
    if np.issubdtype(im1.dtype, np.floating) or np.issubdtype(im2.dtype, np.floating):
        raise InvalidInputError(
            "Since image dtype is floating point, you must specify the data_range "
            "parameter. Please read the documentation carefully (including the note). "
            "It is recommended that you always specify the data_range anyway."
        )
    if im1.dtype != im2.dtype:
        warnings.warn(
            "Inputs have mismatched dtypes. Setting data_range based on im1.dtype.",
            UserWarning,
            stacklevel=stacklevel,
        )
    dmin, dmax = dtype_range(im1.dtype)
    data_range = dmax - dmin
    if np.issubdtype(im1.dtype, np.integer) and im1.dtype != np.uint8:
        warnings.warn(
            f"Setting data_range based on im1.dtype. data_range = {data_range:.0f}. "
            "Please specify data_range explicitly to avoid mistakes.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return data_range


def _fast_path_applies(im1: np.ndarray, im2: np.ndarray, options: _Options,
                       gradient: bool, full: bool) -> bool:
    """The fused kernel covers the uniform window on 2-D channels of exact dtypes (for the
    mean; the gradient and the full map come from the reference algorithm).

    float32 input stays on the reference path: scikit-image computes it in float32, and
    only the same arithmetic reproduces its rounding.
    """
    exact_dtype = im1.dtype.type in _EXACT_INTEGER_TYPES or im1.dtype == np.float64
    return (not gradient and not full and not options.gaussian and im1.ndim == 2
            and im1.dtype == im2.dtype and exact_dtype)


def _window_count(shape: tuple[int, ...], win_size: int) -> int:
    return int(np.prod([side - win_size + 1 for side in shape]))


def _box_ssim_sums(x: np.ndarray, y: np.ndarray, options: _Options) -> np.ndarray:
    """Per-channel sums of the SSIM map over full windows of (H, W, C) images."""
    from likeness.metrics.exact_sums import box_ssim_row_sums

    height, width, channels = x.shape
    if x.dtype == np.bool_:
        x, y = x.view(np.uint8), y.view(np.uint8)
    x = np.ascontiguousarray(x).reshape(height, width * channels)
    y = np.ascontiguousarray(y).reshape(height, width * channels)
    n_win = options.win_size**2
    cov_norm = n_win / (n_win - 1) if options.sample_covariance else 1.0
    c1 = (options.k1 * options.data_range) ** 2
    c2 = (options.k2 * options.data_range) ** 2
    return box_ssim_row_sums(x, y, channels, options.win_size, float(c1), float(c2),
                             float(cov_norm)).sum(axis=0)


def _multichannel(im1: np.ndarray, im2: np.ndarray, float_type: np.dtype, channel_axis: int,
                  *, win_size: int | None, gradient: bool, data_range: float | None,
                  gaussian_weights: bool, full: bool, **kwargs: Any) -> Any:
    """scikit-image's channel loop: SSIM of each channel, averaged."""
    check_numbers({"channel_axis": channel_axis}, integers=("channel_axis",))
    if not -im1.ndim <= channel_axis < im1.ndim:
        raise InvalidInputError(f"channel_axis={channel_axis} is not an axis of images of "
                                f"shape {im1.shape}")
    channel_axis = channel_axis % im1.ndim
    channels = im1.shape[channel_axis]
    moved1 = np.moveaxis(im1, channel_axis, -1)
    moved2 = np.moveaxis(im2, channel_axis, -1)
    options = _Options.parse(moved1[..., 0], moved2[..., 0], win_size, data_range,
                             gaussian_weights, kwargs, warn_stacklevel=5)
    fast_mean = None
    if _fast_path_applies(moved1[..., 0], moved2[..., 0], options, gradient=False, full=False):
        sums = _box_ssim_sums(moved1, moved2, options)
        per_channel = (sums / _window_count(moved1.shape[:-1], options.win_size))
        fast_mean = per_channel.astype(float_type).mean()
        if not (gradient or full):
            return fast_mean

    mssim = np.empty(channels, dtype=float_type)
    grad_map = np.empty(im1.shape, dtype=float_type) if gradient else None
    full_map = np.empty(im1.shape, dtype=float_type) if full else None
    for channel in range(channels):
        index = (slice(None),) * channel_axis + (channel,)
        result = _ssim_reference_algorithm(im1[index], im2[index], float_type, options,
                                           gradient, full)
        if gradient or full:
            mssim[channel] = result[0]
            if grad_map is not None:
                grad_map[index] = result[1]
            if full_map is not None:
                full_map[index] = result[-1]
        else:
            mssim[channel] = result
    mean = mssim.mean() if fast_mean is None else fast_mean  # one mean, whatever is asked
    extra = [m for m in (grad_map, full_map) if m is not None]
    return (mean, *extra) if extra else mean


def _ssim_reference_algorithm(im1: np.ndarray, im2: np.ndarray, float_type: np.dtype,
                              options: _Options, gradient: bool, full: bool) -> Any:
    """scikit-image's algorithm on one channel: reflect-padded filters, crop, mean."""
    if options.gaussian:
        def filter_image(image: np.ndarray) -> np.ndarray:
            from scipy import ndimage

            return ndimage.gaussian_filter(image, options.sigma, mode="reflect", truncate=3.5)
    else:
        def filter_image(image: np.ndarray) -> np.ndarray:
            from scipy import ndimage

            return ndimage.uniform_filter(image, size=options.win_size)

    im1 = im1.astype(float_type, copy=False)
    im2 = im2.astype(float_type, copy=False)
    n_win = options.win_size**im1.ndim
    cov_norm = n_win / (n_win - 1) if options.sample_covariance else 1.0
    ux, uy = filter_image(im1), filter_image(im2)
    uxx, uyy, uxy = filter_image(im1 * im1), filter_image(im2 * im2), filter_image(im1 * im2)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (options.k1 * options.data_range) ** 2
    c2 = (options.k2 * options.data_range) ** 2
    a1, a2 = 2 * ux * uy + c1, 2 * vxy + c2
    b1, b2 = ux**2 + uy**2 + c1, vx + vy + c2
    denominator = b1 * b2
    ssim_map = (a1 * a2) / denominator
    pad = (options.win_size - 1) // 2
    inner = tuple(slice(pad, side - pad) for side in ssim_map.shape)
    mssim = ssim_map[inner].mean(dtype=np.float64)
    if not gradient:
        return (mssim, ssim_map) if full else mssim
    # Avanaki (2009), eqs. 7-8: the gradient of the mean SSIM with respect to im2
    grad = filter_image(a1 / denominator) * im1
    grad += filter_image(-ssim_map / b2) * im2
    grad += filter_image((ux * (a2 - a1) - uy * (b2 - b1) * ssim_map) / denominator)
    grad *= 2 / im1.size
    return (mssim, grad, ssim_map) if full else (mssim, grad)
