"""Restoration and super-resolution conventions: the Y channel, a cropped border, and SSIM
as BasicSR computes them (pure maths on arrays).

BasicSR (``basicsr.metrics.psnr_ssim``, 1.4.2) reads images with OpenCV (BGR), takes Y
of ITU-R BT.601 YCbCr in float32 without rounding (range [16, 235]), crops ``crop_border``
pixels from every edge, and computes PSNR and SSIM in float64; its SSIM is Wang et al.'s
11-tap gaussian window (σ = 1.5) applied with ``cv2.filter2D`` and kept where the window
lies inside the image, per channel, averaged.  Each step here repeats BasicSR's arithmetic
in the same order, so the values agree to the last bits.
"""

from __future__ import annotations

import numpy as np

from likeness.errors import ImageTooSmallError

__all__ = ["basicsr_ssim", "basicsr_y", "crop_border"]


def basicsr_y(rgb: np.ndarray) -> np.ndarray:
    """Y of ITU-R BT.601 YCbCr of an (H, W, 3) uint8 RGB image, in [16, 235], float64
    values of BasicSR's float32 result (``to_y_channel``: not rounded)."""
    bgr = rgb[..., ::-1].astype(np.float32) / 255.0
    y = np.dot(bgr, [24.966, 128.553, 65.481]) + 16.0
    y = (y / 255.0).astype(np.float32)
    return (y[..., None] * 255.0).astype(np.float64)


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """``image`` without ``border`` pixels on every edge (BasicSR's ``crop_border``)."""
    if border == 0:
        return image
    return image[border:-border, border:-border, ...]


def _channel_ssim(x: np.ndarray, y: np.ndarray) -> float:
    import cv2

    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel, kernel.transpose())
    mu1 = cv2.filter2D(x, -1, window)[5:-5, 5:-5]
    mu2 = cv2.filter2D(y, -1, window)[5:-5, 5:-5]
    mu1_sq = mu1**2
    mu2_sq = mu2**2
    mu1_mu2 = mu1 * mu2
    sigma1_sq = cv2.filter2D(x**2, -1, window)[5:-5, 5:-5] - mu1_sq
    sigma2_sq = cv2.filter2D(y**2, -1, window)[5:-5, 5:-5] - mu2_sq
    sigma12 = cv2.filter2D(x * y, -1, window)[5:-5, 5:-5] - mu1_mu2
    ssim_map = (((2 * mu1_mu2 + c1) * (2 * sigma12 + c2))
                / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)))
    return float(ssim_map.mean())


def basicsr_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM as BasicSR's ``calculate_ssim`` on (H, W, C) images of range 255 (float64
    inside): per channel, in BasicSR's BGR order for colour, averaged.

    Raises:
        ImageTooSmallError: an image smaller than the 11×11 window.
    """
    if min(x.shape[:2]) < 11:
        raise ImageTooSmallError(f"images of {x.shape[1]}x{x.shape[0]} px are smaller than the "
                                 "11x11 window of BasicSR's SSIM")
    a, b = x.astype(np.float64), y.astype(np.float64)
    channels = range(a.shape[2] - 1, -1, -1) if a.shape[2] == 3 else range(a.shape[2])
    return float(np.array([_channel_ssim(a[..., c], b[..., c]) for c in channels]).mean())
