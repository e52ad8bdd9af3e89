"""The authors' MATLAB files transcribed line by line in NumPy, and their values on pairs of
several sizes, for likeness's ``matlab`` convention.

Run in the reference environment (references/reference-env.sh: NumPy, SciPy, Pillow and
pyrtools for the sp5 filter tables), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_matlab_transcriptions.py

MATLAB is not available here, so each function below follows the text of a ``.m`` file
statement by statement, with MATLAB's own semantics written out:

- ``conv2(A, B, shape)``: true convolution (B rotated by 180°); 'same' keeps the central
  part starting at index ceil((size(B) − 1)/2) of the full result (for even kernels the
  later of the two middles); 'valid' the part computed without zero padding.
- ``filter2(B, A, shape)`` = ``conv2(A, rot90(B, 2), shape)``: correlation.
- ``imfilter(A, h, 'symmetric', 'same')``: correlation with the kernel's centre at
  floor((size(h) + 1)/2), the borders mirrored with the edge pixel repeated.
- ``fspecial('gaussian', n, s)`` and ``fspecial('average', n)``; ``std2`` (N − 1);
  ``mad`` (mean absolute deviation from the mean, MATLAB's default flag 0); ``round``
  (halves away from zero); ``rgb2gray`` (the first row of inv([1 0.956 0.621; 1 −0.272
  −0.647; 1 −1.106 1.703]) applied to uint8 R, G, B in double and rounded to uint8).

The files and where their text was read (public copies of the authors' releases):

- ``GMSD.m`` — Xue, Zhang, Mou & Bovik (2014), www.comp.polyu.edu.hk/~cslzhang/IQA/GMSD.
- ``cwssim_index.m`` — Sampat, Wang et al. (2009), MATLAB Central 43017 (level 4,
  8 orientations, guardb 0, K 0, IQA-PyTorch's calibration parameters), with
  matlabPyrTools' ``buildSCFpyr`` (checked here against pyrtools' ``SteerablePyramidFreq``).
- ``MDSI.m`` — Nafchi, Shahkolaei, Hedjam & Cheriet (2016), the authors' release
  (default combination 'sum').
- ``msssim.m`` — Wang's MS-SSIM (the release in ece.uwaterloo.ca/~z70wang/research/iwssim
  /msssim.zip: ``im = double(img)``, ``imfilter(im, ones(2)./4, 'symmetric', 'same')``
  sampled at ``1:2:end``, ``prod(mcs(1:4).^w(1:4)) * mssim(5)^w(5)``; an older copy
  downsamples with ``filter2(…, 'valid')`` and leaves the last scale unweighted — not the
  one transcribed) with ``ssim_index_new``.
- ``vifp_mscale.m`` — Sheikh & Bovik (2006), LIVE's pixel-domain VIF release.
- ``vifvec.m`` — Sheikh & Bovik (2006), LIVE's wavelet-domain VIF release (``vifvec_release``:
  ``vifsub_est_M`` with tol = 1e-15, ``refparams_vecgsm``, ``ind2wtree``), with
  matlabPyrTools' ``buildSpyr``/``corrDn`` ('reflect1') and ``sp5Filters``.
- the downsampling block shared by ``FeatureSIM.m``, ``SR_SIM.m``, ``VSI.m`` and
  ``MDSI.m``: ``F = max(1, round(min(rows, cols)/256)); aveKernel = fspecial('average',
  F); ave = conv2(Y, aveKernel, 'same'); Y = ave(1:F:rows, 1:F:cols)``.

Pairs (tests/data/matlab_pairs): TID2013's I03 and I19 pairs (512×384 colour, from
IQA-PyTorch's ResultsCalibra), an odd 509×383 crop of I19, piq's goldhill pair (512×512
gray) and an odd 301×257 crop of it, and the generated noise pair (800×768 colour) with a
700×640 crop (min(H, W)/256 = 2.5: MATLAB's round gives 3).  Colour images go through
``rgb2gray`` first for the files that take gray images (GMSD, msssim, vifp_mscale,
vifvec);
``MDSI.m`` takes RGB.

Writes tests/data/matlab_transcriptions.json.
"""

from __future__ import annotations

import json
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.signal import convolve2d

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "tests" / "data" / "matlab_pairs"
OUT = ROOT / "tests" / "data" / "matlab_transcriptions.json"


# --- MATLAB built-ins ---------------------------------------------------------------------

def matlab_round(x: np.ndarray | float) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def rgb2gray(rgb: np.ndarray) -> np.ndarray:
    coefficients = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647],
                                           [1.0, -1.106, 1.703]]))[0]
    channels = rgb.astype(np.float64)
    gray = (coefficients[0] * channels[:, :, 0] + coefficients[1] * channels[:, :, 1]
            + coefficients[2] * channels[:, :, 2])
    return np.clip(matlab_round(gray), 0, 255)


def conv2(a: np.ndarray, b: np.ndarray, shape: str = "full") -> np.ndarray:
    full = convolve2d(a, b, mode="full")
    if shape == "full":
        return full
    if shape == "same":
        top, left = math.ceil((b.shape[0] - 1) / 2), math.ceil((b.shape[1] - 1) / 2)
        return full[top:top + a.shape[0], left:left + a.shape[1]]
    if shape == "valid":
        return full[b.shape[0] - 1:a.shape[0], b.shape[1] - 1:a.shape[1]]
    raise ValueError(shape)


def filter2(b: np.ndarray, a: np.ndarray, shape: str = "same") -> np.ndarray:
    return conv2(a, np.rot90(b, 2), shape)


def imfilter_symmetric_same(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    centre = ((h.shape[0] + 1) // 2 - 1, (h.shape[1] + 1) // 2 - 1)
    padded = np.pad(a, ((centre[0], h.shape[0] - 1 - centre[0]),
                        (centre[1], h.shape[1] - 1 - centre[1])), mode="symmetric")
    return filter2(h, padded, "valid")


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    half = (size - 1) / 2
    x, y = np.meshgrid(np.arange(-half, half + 1), np.arange(-half, half + 1))
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def fspecial_average(size: int) -> np.ndarray:
    return np.ones((size, size)) / (size * size)


def std2(a: np.ndarray) -> float:
    return float(np.std(a, ddof=1))


def mad(a: np.ndarray) -> float:
    return float(np.mean(np.abs(a - np.mean(a))))


# --- the .m files -------------------------------------------------------------------------

def gmsd_m(y1: np.ndarray, y2: np.ndarray) -> float:
    """GMSD.m: Y1 the reference, Y2 the distorted image, gray, 0–255."""
    t = 170
    down_step = 2
    dx = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3
    dy = dx.T
    ave_kernel = fspecial_average(2)
    ave_y1 = conv2(y1, ave_kernel, "same")
    ave_y2 = conv2(y2, ave_kernel, "same")
    y1 = ave_y1[::down_step, ::down_step]
    y2 = ave_y2[::down_step, ::down_step]
    gradient_map1 = np.sqrt(conv2(y1, dx, "same") ** 2 + conv2(y1, dy, "same") ** 2)
    gradient_map2 = np.sqrt(conv2(y2, dx, "same") ** 2 + conv2(y2, dy, "same") ** 2)
    quality_map = (2 * gradient_map1 * gradient_map2 + t) / (
        gradient_map1**2 + gradient_map2**2 + t)
    return std2(quality_map)


def downsample_m(y: np.ndarray) -> np.ndarray:
    """The downsampling block of FeatureSIM.m, SR_SIM.m, VSI.m and MDSI.m."""
    rows, cols = y.shape
    f = int(max(1, matlab_round(min(rows, cols) / 256)))
    ave = conv2(y, fspecial_average(f), "same")
    return ave[0:rows:f, 0:cols:f]


def mdsi_m(ref: np.ndarray, dist: np.ndarray) -> float:
    """MDSI.m with combMethod 'sum'; RGB uint8 images."""
    c1, c2, c3 = 140, 55, 550
    dx = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3
    dy = dx.T
    r1, r2 = downsample_m(ref[:, :, 0].astype(float)), downsample_m(dist[:, :, 0].astype(float))
    g1, g2 = downsample_m(ref[:, :, 1].astype(float)), downsample_m(dist[:, :, 1].astype(float))
    b1, b2 = downsample_m(ref[:, :, 2].astype(float)), downsample_m(dist[:, :, 2].astype(float))
    l1 = 0.2989 * r1 + 0.5870 * g1 + 0.1140 * b1
    l2 = 0.2989 * r2 + 0.5870 * g2 + 0.1140 * b2
    fused = 0.5 * (l1 + l2)
    h1 = 0.30 * r1 + 0.04 * g1 - 0.35 * b1
    h2 = 0.30 * r2 + 0.04 * g2 - 0.35 * b2
    m1 = 0.34 * r1 - 0.60 * g1 + 0.17 * b1
    m2 = 0.34 * r2 - 0.60 * g2 + 0.17 * b2

    def gradient(image: np.ndarray) -> np.ndarray:
        return np.sqrt(conv2(image, dx, "same") ** 2 + conv2(image, dy, "same") ** 2)

    g_r, g_d, g_f = gradient(l1), gradient(l2), gradient(fused)
    gs12 = (2 * g_r * g_d + c1) / (g_r**2 + g_d**2 + c1)
    gs13 = (2 * g_r * g_f + c2) / (g_r**2 + g_f**2 + c2)
    gs23 = (2 * g_d * g_f + c2) / (g_d**2 + g_f**2 + c2)
    gs_hvs = gs12 + gs23 - gs13
    cs = (2 * (h1 * h2 + m1 * m2) + c3) / (h1**2 + h2**2 + m1**2 + m2**2 + c3)
    alpha = 0.6
    gcs = alpha * gs_hvs + (1 - alpha) * cs
    powered = (gcs.ravel(order="F").astype(complex) ** 0.5) ** 0.5
    return mad(powered) ** 0.25


def ssim_index_new(img1: np.ndarray, img2: np.ndarray, k: tuple[float, float],
                   window: np.ndarray) -> tuple[float, float]:
    """msssim.m's ssim_index_new (L = 255): (mssim, mcs)."""
    c1, c2 = (k[0] * 255) ** 2, (k[1] * 255) ** 2
    window = window / window.sum()
    mu1, mu2 = filter2(window, img1, "valid"), filter2(window, img2, "valid")
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = filter2(window, img1 * img1, "valid") - mu1_sq
    sigma2_sq = filter2(window, img2 * img2, "valid") - mu2_sq
    sigma12 = filter2(window, img1 * img2, "valid") - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
    return float(np.mean(ssim_map)), float(np.mean(cs_map))


def msssim_m(img1: np.ndarray, img2: np.ndarray) -> float:
    """msssim.m with its defaults (K = [0.01 0.03], 11×11 gaussian σ 1.5, 5 levels,
    'product')."""
    k = (0.01, 0.03)
    window = fspecial_gaussian(11, 1.5)
    level = 5
    weight = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    downsample_filter = np.ones((2, 2)) / 4
    im1, im2 = img1.astype(float), img2.astype(float)
    mssim_array, mcs_array = np.zeros(level), np.zeros(level)
    for index in range(level):
        mssim_array[index], mcs_array[index] = ssim_index_new(im1, im2, k, window)
        filtered_im1 = imfilter_symmetric_same(im1, downsample_filter)
        filtered_im2 = imfilter_symmetric_same(im2, downsample_filter)
        im1, im2 = filtered_im1[::2, ::2], filtered_im2[::2, ::2]
    return float(np.prod(mcs_array[:level - 1] ** weight[:level - 1])
                 * mssim_array[level - 1] ** weight[level - 1])


def vifp_mscale_m(ref: np.ndarray, dist: np.ndarray) -> float:
    """vifp_mscale.m: ref, dist gray, 0–255."""
    sigma_nsq = 2
    num = den = 0.0
    ref, dist = ref.astype(float), dist.astype(float)
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = fspecial_gaussian(n, n / 5)
        if scale > 1:
            ref = filter2(win, ref, "valid")[::2, ::2]
            dist = filter2(win, dist, "valid")[::2, ::2]
        mu1, mu2 = filter2(win, ref, "valid"), filter2(win, dist, "valid")
        mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        sigma1_sq = filter2(win, ref * ref, "valid") - mu1_sq
        sigma2_sq = filter2(win, dist * dist, "valid") - mu2_sq
        sigma12 = filter2(win, ref * dist, "valid") - mu1_mu2
        sigma1_sq[sigma1_sq < 0] = 0
        sigma2_sq[sigma2_sq < 0] = 0
        g = sigma12 / (sigma1_sq + 1e-10)
        sv_sq = sigma2_sq - g * sigma12
        small1 = sigma1_sq < 1e-10
        g[small1] = 0
        sv_sq[small1] = sigma2_sq[small1]
        sigma1_sq[small1] = 0
        small2 = sigma2_sq < 1e-10
        g[small2] = 0
        sv_sq[small2] = 0
        negative = g < 0
        sv_sq[negative] = sigma2_sq[negative]
        g[negative] = 0
        sv_sq[sv_sq <= 1e-10] = 1e-10
        num += float(np.sum(np.log10(1 + g**2 * sigma1_sq / (sv_sq + sigma_nsq))))
        den += float(np.sum(np.log10(1 + sigma1_sq / sigma_nsq)))
    return num / den


def sp5_filters() -> dict[str, np.ndarray]:
    """matlabPyrTools' sp5Filters as the lab's own Python port publishes them (pyrtools
    1.1.1, installed in the reference environment)."""
    from pyrtools.pyramids.filters import steerable_filters

    filters = steerable_filters("sp5_filters")
    return {name: np.asarray(filters[name], dtype=float)
            for name in ("hi0filt", "lo0filt", "lofilt", "bfilts")}


def corr_dn_reflect1(image: np.ndarray, filt: np.ndarray, step: int = 1,
                     start: tuple[int, int] = (1, 1),
                     stop: tuple[int, int] | None = None) -> np.ndarray:
    """corrDn(image, filt, 'reflect1', [step step], start, stop) (1-based start/stop):
    correlation, the filter centred at floor(size/2) + 1, borders mirrored about the edge
    pixel (not repeated)."""
    from scipy.signal import correlate2d

    rows, cols = filt.shape
    padded = np.pad(image, ((rows // 2, rows // 2), (cols // 2, cols // 2)), mode="reflect")
    full = correlate2d(padded, filt, mode="valid")
    stop = stop or image.shape
    return full[start[0] - 1:stop[0]:step, start[1] - 1:stop[1]:step]


def build_spyr_wtree(image: np.ndarray, height: int = 4) -> list[np.ndarray]:
    """buildSpyr(image, height, 'sp5Filters', 'reflect1') then ind2wtree (reversed)."""
    filters = sp5_filters()
    bands = [corr_dn_reflect1(image, filters["hi0filt"])]
    low = corr_dn_reflect1(image, filters["lo0filt"])
    size = round(math.sqrt(filters["bfilts"].shape[0]))
    for _ in range(height):
        for b in range(filters["bfilts"].shape[1]):
            filt = filters["bfilts"][:, b].reshape(size, size, order="F")
            bands.append(corr_dn_reflect1(low, filt))
        low = corr_dn_reflect1(low, filters["lofilt"], step=2)
    bands.append(low)
    return bands[::-1]


def vifvec_m(imorg: np.ndarray, imdist: np.ndarray) -> float:
    """vifvec.m with vifsub_est_M (tol 1e-15) and refparams_vecgsm: gray, 0–255."""
    m = 3
    subbands = [4, 7, 10, 13, 16, 19, 22, 25]
    sigma_nsq = 0.4
    tol = 1e-15
    org = build_spyr_wtree(imorg.astype(float))
    dist = build_spyr_wtree(imdist.astype(float))
    num, den = [], []
    for sub in subbands:
        y, yn = org[sub - 1], dist[sub - 1]
        lev = math.ceil((sub - 1) / 6)
        winsize = 2**lev + 1
        win = np.ones((winsize, winsize))
        newsize = (y.shape[0] // m * m, y.shape[1] // m * m)
        y, yn = y[:newsize[0], :newsize[1]], yn[:newsize[0], :newsize[1]]
        winstart = (m // 2 + 1, m // 2 + 1)
        winstop = (y.shape[0] - math.ceil(m / 2) + 1, y.shape[1] - math.ceil(m / 2) + 1)

        def corr(a: np.ndarray, f: np.ndarray) -> np.ndarray:
            return corr_dn_reflect1(a, f, m, winstart, winstop)  # noqa: B023

        total = win.sum()
        mean_x, mean_y = corr(y, win / total), corr(yn, win / total)
        cov_xy = corr(y * yn, win) - total * mean_x * mean_y
        ss_x = corr(y**2, win) - total * mean_x**2
        ss_y = corr(yn**2, win) - total * mean_y**2
        ss_x[ss_x < 0] = 0
        ss_y[ss_y < 0] = 0
        g = cov_xy / (ss_x + tol)
        vv = (ss_y - g * cov_xy) / total
        small = ss_x < tol
        g[small] = 0
        vv[small] = ss_y[small]
        ss_x[small] = 0
        small = ss_y < tol
        g[small] = 0
        vv[small] = 0
        negative = g < 0
        vv[negative] = ss_y[negative]
        g[negative] = 0
        vv[vv <= tol] = tol
        # refparams_vecgsm
        rows = []
        for j in range(1, m + 1):
            for k in range(1, m + 1):
                rows.append(y[k - 1:y.shape[0] - (m - k), j - 1:y.shape[1] - (m - j)]
                            .ravel(order="F"))
        temp = np.array(rows)
        mcu = temp.mean(axis=1, keepdims=True)
        cu = (temp - mcu) @ (temp - mcu).T / temp.shape[1]
        rows = []
        for j in range(1, m + 1):
            for k in range(1, m + 1):
                rows.append(y[k - 1::m, j - 1::m].ravel(order="F"))
        temp = np.array(rows)
        ss = np.linalg.inv(cu) @ temp
        ss = (ss * temp).sum(axis=0) / (m * m)
        ss = ss.reshape((newsize[0] // m, newsize[1] // m), order="F")
        lam = np.linalg.eigvalsh(cu)
        offset = math.ceil(((winsize - 1) / 2) / m)
        inner = (slice(offset, -offset), slice(offset, -offset))
        g, vv, ss = g[inner], vv[inner], ss[inner]
        temp1 = temp2 = 0.0
        for value in lam:
            temp1 += float(np.sum(np.log2(1 + g * g * ss * value / (vv + sigma_nsq))))
            temp2 += float(np.sum(np.log2(1 + ss * value / sigma_nsq)))
        num.append(temp1)
        den.append(temp2)
    return sum(num) / sum(den)


def point_op(image: np.ndarray, lut: np.ndarray, origin: float, increment: float) -> np.ndarray:
    """pointOp (its C code): linear interpolation, index = (int) pos clamped to the table."""
    pos = (image - origin) / increment
    index = np.clip(np.trunc(pos), 0, lut.size - 2).astype(int)
    return lut[index] + (lut[index + 1] - lut[index]) * (pos - index)


def rcos_fn(width: float, position: float, values: tuple[float, float]) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    sz = 256
    x = np.pi * np.arange(-sz - 1, 2) / (2 * sz)
    y = values[0] + (values[1] - values[0]) * np.cos(x) ** 2
    y[0] = y[1]
    y[sz + 2] = y[sz + 1]
    x = position + (2 * width / np.pi) * (x + np.pi / 4)
    return x, y


def build_scf_pyr(im: np.ndarray, ht: int, order: int, twidth: float = 1) -> list:
    """buildSCFpyr.m / buildSCFpyrLevs.m: [hi0 (real), level 1 bands (complex), …, lo]."""
    nbands = order + 1
    dims = np.array(im.shape)
    ctr = np.ceil((dims + 0.5) / 2).astype(int)
    xramp, yramp = np.meshgrid((np.arange(1, dims[1] + 1) - ctr[1]) / (dims[1] / 2),
                               (np.arange(1, dims[0] + 1) - ctr[0]) / (dims[0] / 2))
    angle = np.arctan2(yramp, xramp)
    log_rad = np.sqrt(xramp**2 + yramp**2)
    log_rad[ctr[0] - 1, ctr[1] - 1] = log_rad[ctr[0] - 1, ctr[1] - 2]
    log_rad = np.log2(log_rad)
    xrcos, yrcos = rcos_fn(twidth, -twidth / 2, (0, 1))
    yrcos = np.sqrt(yrcos)
    yircos = np.sqrt(1.0 - yrcos**2)
    lo0mask = point_op(log_rad, yircos, xrcos[0], xrcos[1] - xrcos[0])
    imdft = np.fft.fftshift(np.fft.fft2(im))
    lodft = imdft * lo0mask
    pyr = []
    for _ in range(ht):
        xrcos = xrcos - np.log2(2)
        lutsize = 1024
        xcosn = np.pi * np.arange(-(2 * lutsize + 1), lutsize + 2) / lutsize
        const = (2 ** (2 * order)) * (math.factorial(order) ** 2) / (
            nbands * math.factorial(2 * order))
        alfa = np.mod(np.pi + xcosn, 2 * np.pi) - np.pi
        ycosn = 2 * np.sqrt(const) * (np.cos(xcosn) ** order) * (np.abs(alfa) < np.pi / 2)
        himask = point_op(log_rad, yrcos, xrcos[0], xrcos[1] - xrcos[0])
        bands = []
        for b in range(1, nbands + 1):
            anglemask = point_op(angle, ycosn, xcosn[0] + np.pi * (b - 1) / nbands,
                                 xcosn[1] - xcosn[0])
            banddft = ((-1j) ** (nbands - 1)) * lodft * anglemask * himask
            bands.append(np.fft.ifft2(np.fft.ifftshift(banddft)))
        pyr.append(bands)
        dims = np.array(lodft.shape)
        ctr = np.ceil((dims + 0.5) / 2).astype(int)
        lodims = np.ceil((dims - 0.5) / 2).astype(int)
        loctr = np.ceil((lodims + 0.5) / 2).astype(int)
        lostart = ctr - loctr + 1
        loend = lostart + lodims - 1
        rows = slice(lostart[0] - 1, loend[0])
        cols = slice(lostart[1] - 1, loend[1])
        log_rad, angle, lodft = log_rad[rows, cols], angle[rows, cols], lodft[rows, cols]
        yircos = np.abs(np.sqrt(1.0 - yrcos**2))
        lomask = point_op(log_rad, yircos, xrcos[0], xrcos[1] - xrcos[0])
        lodft = lomask * lodft
    return pyr


def cwssim_index_m(img1: np.ndarray, img2: np.ndarray, level: int = 4, orientations: int = 8,
                   guardb: int = 0, k: float = 0) -> float:
    """cwssim_index.m (Sampat, Wang et al. 2009) with guardb = 0: the coarsest level's
    bands, 7×7 windows, weighted by fspecial('gaussian', s − 6, s(1)/4)."""
    pyr1 = build_scf_pyr(img1.astype(float), level, orientations - 1)
    pyr2 = build_scf_pyr(img2.astype(float), level, orientations - 1)
    winsize = 7
    window = np.ones((winsize, winsize)) / winsize**2
    s = np.array(pyr1[level - 1][0].shape)
    sigma = s[0] / 4
    rows, cols = s - winsize + 1
    yy, xx = np.meshgrid(np.arange(rows) - (rows - 1) / 2, np.arange(cols) - (cols - 1) / 2,
                         indexing="ij")
    w = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    w[w < np.finfo(float).eps * w.max()] = 0
    w = w / w.sum()
    scores = []
    for i in range(orientations):
        band1, band2 = pyr1[level - 1][i], pyr2[level - 1][i]
        corr = band1 * np.conj(band2)
        varr = np.abs(band1) ** 2 + np.abs(band2) ** 2
        corr_band = filter2(window, corr.real, "valid") + 1j * filter2(window, corr.imag,
                                                                        "valid")
        varr_band = filter2(window, varr, "valid")
        cssim_map = (2 * np.abs(corr_band) + k) / (varr_band + k)
        scores.append(float(np.sum(cssim_map * w)))
    return float(np.mean(scores))


def check_scf_pyramid_against_pyrtools(image: np.ndarray) -> float:
    """The largest difference between build_scf_pyr's bands and pyrtools'
    SteerablePyramidFreq(is_complex=True), the lab's own port of buildSCFpyr."""
    from pyrtools.pyramids import SteerablePyramidFreq

    ours = build_scf_pyr(image, 4, 7)
    theirs = SteerablePyramidFreq(image, height=4, order=7, is_complex=True).pyr_coeffs
    return max(float(np.abs(ours[level][band] - theirs[(level, band)]).max())
               for level in range(4) for band in range(8))


# --- the pairs ----------------------------------------------------------------------------

def _read(name: str) -> np.ndarray:
    with Image.open(PAIRS / name) as image:
        return np.asarray(image)


def pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (reference, distorted)} as the tests build them from the committed files."""
    tid03 = (_read("tid2013_I03_reference.png"), _read("tid2013_I03_distorted.png"))
    tid19 = (_read("tid2013_I19_reference.png"), _read("tid2013_I19_distorted.png"))
    goldhill = (_read("goldhill.gif"), _read("goldhill_jpeg.gif"))
    noise = (_read("noise_768x800_ref.png"), _read("noise_768x800_test.png"))
    return {
        "tid2013_I03": tid03,
        "tid2013_I19": tid19,
        "tid2013_I19_crop_383x509": (tid19[0][:383, :509], tid19[1][:383, :509]),
        "goldhill": goldhill,
        "goldhill_crop_257x301": (goldhill[0][:257, :301], goldhill[1][:257, :301]),
        "noise_768x800": noise,
        "noise_crop_640x700": (noise[0][:640, :700], noise[1][:640, :700]),
    }


def _gray(image: np.ndarray) -> np.ndarray:
    return rgb2gray(image) if image.ndim == 3 else image.astype(float)


def main() -> None:
    values: dict[str, dict[str, float]] = {}
    downsampled: dict[str, list[float]] = {}
    for name, (reference, distorted) in pairs().items():
        gray_reference, gray_distorted = _gray(reference), _gray(distorted)
        row = {
            "gmsd": gmsd_m(gray_reference, gray_distorted),
            "ms_ssim": msssim_m(gray_reference, gray_distorted),
            "vif_p": vifp_mscale_m(gray_reference, gray_distorted),
            "vif": vifvec_m(gray_reference, gray_distorted),
            "cw_ssim": cwssim_index_m(gray_distorted, gray_reference),
        }
        if reference.ndim == 3:
            row["mdsi"] = mdsi_m(reference, distorted)
        values[name] = row
        small = downsample_m(gray_distorted)
        downsampled[name] = [float(small.sum()), float((small**2).sum()), *small.shape]
    # on even sizes only: for odd ones pyrtools builds its frequency ramps with
    # linspace(-1, 1, n + 1)[:-1] (no sample at DC; it warns), buildSCFpyr.m with
    # ((1:n) − ceil((n + 0.5)/2)) / (n/2), which this transcription follows
    gap = max(check_scf_pyramid_against_pyrtools(_gray(reference))
              for reference, _ in pairs().values()
              if reference.shape[0] % 2 == 0 and reference.shape[1] % 2 == 0)
    assert gap < 1e-9, gap
    print(f"buildSCFpyr transcription vs pyrtools' SteerablePyramidFreq: {gap:.1e}")
    OUT.write_text(json.dumps({
        "reference": ("NumPy transcriptions of GMSD.m, msssim.m, vifp_mscale.m, vifvec.m, "
                      "cwssim_index.m, MDSI.m and "
                      "the FeatureSIM.m/SR_SIM.m/VSI.m/MDSI.m downsampling block "
                      "(references/make_matlab_transcriptions.py), on colour pairs through "
                      "rgb2gray where the .m file takes gray images; NumPy "
                      f"{version('numpy')}, SciPy {version('scipy')}, pyrtools "
                      f"{version('pyrtools')} (sp5Filters)"),
        "values": values,
        "downsampled_distorted": downsampled,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
