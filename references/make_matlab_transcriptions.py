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

- ``FeatureSIM.m`` — Zhang, Zhang, Mou & Zhang (2011), FSIM with automatic downsampling,
  version 1.0 (sse.tongji.edu.cn/linzhang/IQA/FSIM), with its ``phasecong2`` (Kovesi's
  phase congruency, 4 scales × 4 orientations, ``ifftshift`` frequency grids with their
  odd-size ranges) and ``lowpassfilter``; YIQ as the file writes it (Y = 0.299 R + 0.587 G
  + 0.114 B unrounded, I and Q with three digits), ``real((S_I .* S_Q) .^ 0.03)``.
- ``HaarPSI.m`` — Reisenhofer, Bosse, Kutyniok & Wiegand (2018), the authors' release
  built on 08/05/2017 (www.haarpsi.org), with subsampling: ``HaarPSISubsample`` (``conv2``
  of a 2×2 mean, 'same', at ``1:2:end``), ``HaarPSIDec`` (3 scales of ``conv2(X,
  haarFilter, 'same')``), YIQ as the file writes it, C = 30, α = 4.2.
- ``iwssim.m`` — Wang & Li (2011), the release in ece.uwaterloo.ca/~z70wang/research/iwssim
  (``iw_flag`` 1, 5 scales, ``scale_quality_maps``, ``info_content_weight_map`` with tol
  1e-15, ``imenlarge2``), with matlabPyrTools' ``buildLpyr`` ('binom5', 'reflect1')
  transcribed on the lab's own C ``corrDn``/``upConv`` (pyrtools' wrapper of the same C
  code as the MEX files) and MATLAB's ``imresize(…, 'bilinear')`` written out.
- ``SR_SIM.m`` — Zhang & Li (2012), SR-SIM with automatic downsampling, version 1.0
  (sse.tongji.edu.cn/linzhang/IQA/SR-SIM), with its ``spectralResidueSaliency`` (MATLAB's
  ``imresize`` — bicubic, antialiased when shrinking — written out; ``mat2gray``; the
  10×10 gaussian by ``imfilter`` with zero borders); YIQ's Y as the file writes it.
- ``GMSD.m`` — Xue, Zhang, Mou & Bovik (2014), www.comp.polyu.edu.hk/~cslzhang/IQA/GMSD.
- ``cwssim_index.m`` — Sampat, Wang et al. (2009), MATLAB Central 43017 (level 4,
  8 orientations, guardb 0, K 0, IQA-PyTorch's calibration parameters), with
  matlabPyrTools' ``buildSCFpyr`` (checked here against pyrtools' ``SteerablePyramidFreq``).
- ``MDSI.m`` — Nafchi, Shahkolaei, Hedjam & Cheriet (2016), the authors' release
  (default combination 'sum').
- ``NLP_dist.m`` — Laparra, Ballé, Berardino & Simoncelli (2016), www.cns.nyu.edu/~lcv/NLPyr
  (the text read from the copy in github.com/SMBU-MM/OF_BIQA, FR-IQAs/NLP_dist.m, commit
  0b1fe93: ``DN_filters`` learned on McGill, ``laplacian_pyramid_s`` with ``downsample``
  and ``upsample``), given ``double(rgb2gray(I))/255`` (the input of IQA-PyTorch's
  calibration table).
- ``msssim.m`` — Wang's MS-SSIM (the release in ece.uwaterloo.ca/~z70wang/research/iwssim
  /msssim.zip: ``im = double(img)``, ``imfilter(im, ones(2)./4, 'symmetric', 'same')``
  sampled at ``1:2:end``, ``prod(mcs(1:4).^w(1:4)) * mssim(5)^w(5)``, and with method
  'wtd_sum' ``w = w./sum(w); sum(mcs(1:4).*w(1:4)) + mssim(5).*w(5)``; an older copy
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
vifvec, cwssim_index, iwssim); ``FeatureSIM.m``, ``HaarPSI.m`` and ``SR_SIM.m`` take the files as
they are (their own YIQ); ``NLP_dist.m`` is given rgb2gray's image / 255; ``MDSI.m`` takes RGB.

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


def _frequency_ranges(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """phasecong2's and lowpassfilter's [x, y] = meshgrid(xrange, yrange), odd and even."""
    def axis(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
        return np.arange(-n / 2, n / 2) / n
    return np.meshgrid(axis(cols), axis(rows))


def lowpassfilter(rows: int, cols: int, cutoff: float, n: int) -> np.ndarray:
    x, y = _frequency_ranges(rows, cols)
    radius = np.sqrt(x**2 + y**2)
    return np.fft.ifftshift(1 / (1.0 + (radius / cutoff) ** (2 * n)))


def phasecong2(im: np.ndarray) -> np.ndarray:
    """FeatureSIM.m's phasecong2 (Kovesi): the phase congruency map ResultPC."""
    nscale, norient, min_wave_length, mult = 4, 4, 6, 2
    sigma_onf, d_theta_on_sigma, k, epsilon = 0.55, 1.2, 2.0, 0.0001
    theta_sigma = np.pi / norient / d_theta_on_sigma
    rows, cols = im.shape
    imagefft = np.fft.fft2(im)
    zero = np.zeros((rows, cols))
    x, y = _frequency_ranges(rows, cols)
    radius = np.fft.ifftshift(np.sqrt(x**2 + y**2))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    radius[0, 0] = 1
    sintheta, costheta = np.sin(theta), np.cos(theta)
    lp = lowpassfilter(rows, cols, 0.45, 15)
    log_gabor = []
    for s in range(1, nscale + 1):
        wavelength = min_wave_length * mult ** (s - 1)
        fo = 1.0 / wavelength
        band = np.exp((-(np.log(radius / fo)) ** 2) / (2 * np.log(sigma_onf) ** 2)) * lp
        band[0, 0] = 0
        log_gabor.append(band)
    spread = []
    for o in range(1, norient + 1):
        angl = (o - 1) * np.pi / norient
        ds = sintheta * np.cos(angl) - costheta * np.sin(angl)
        dc = costheta * np.cos(angl) + sintheta * np.sin(angl)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread.append(np.exp((-dtheta**2) / (2 * theta_sigma**2)))
    energy_all, an_all = np.zeros((rows, cols)), np.zeros((rows, cols))
    for o in range(norient):
        sum_e, sum_o, sum_an, energy = zero.copy(), zero.copy(), zero.copy(), zero.copy()
        eo, ifft_filters = [], []
        em_n = 0.0
        for s in range(nscale):
            filt = log_gabor[s] * spread[o]
            ifft_filters.append(np.real(np.fft.ifft2(filt)) * np.sqrt(rows * cols))
            eo.append(np.fft.ifft2(imagefft * filt))
            an = np.abs(eo[s])
            sum_an = sum_an + an
            sum_e = sum_e + np.real(eo[s])
            sum_o = sum_o + np.imag(eo[s])
            if s == 0:
                em_n = float(np.sum(filt**2))
        x_energy = np.sqrt(sum_e**2 + sum_o**2) + epsilon
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        for s in range(nscale):
            e, odd = np.real(eo[s]), np.imag(eo[s])
            energy = energy + e * mean_e + odd * mean_o - np.abs(e * mean_o - odd * mean_e)
        median_e2n = float(np.median(np.abs(eo[0]).reshape(-1) ** 2))
        mean_e2n = -median_e2n / np.log(0.5)
        noise_power = mean_e2n / em_n
        est_sum_an2 = zero.copy()
        for s in range(nscale):
            est_sum_an2 = est_sum_an2 + ifft_filters[s] ** 2
        est_sum_ai_aj = zero.copy()
        for si in range(nscale - 1):
            for sj in range(si + 1, nscale):
                est_sum_ai_aj = est_sum_ai_aj + ifft_filters[si] * ifft_filters[sj]
        est_noise_energy2 = (2 * noise_power * np.sum(est_sum_an2)
                             + 4 * noise_power * np.sum(est_sum_ai_aj))
        tau = np.sqrt(est_noise_energy2 / 2)
        est_noise_energy = tau * np.sqrt(np.pi / 2)
        est_noise_energy_sigma = np.sqrt((2 - np.pi / 2) * tau**2)
        t = (est_noise_energy + k * est_noise_energy_sigma) / 1.7
        energy = np.maximum(energy - t, zero)
        energy_all = energy_all + energy
        an_all = an_all + sum_an
    return energy_all / an_all


def yiq_as_written(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, I, Q as FeatureSIM.m, HaarPSI.m and SR_SIM.m write them (each file has the same
    three lines): 0.299/0.587/0.114 and three-digit I and Q, in double."""
    rgb = image.astype(np.float64)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (0.299 * red + 0.587 * green + 0.114 * blue,
            0.596 * red - 0.274 * green - 0.322 * blue,
            0.211 * red - 0.523 * green + 0.312 * blue)


def featuresim_m(image_ref: np.ndarray, image_dis: np.ndarray) -> tuple[float, float]:
    """FeatureSIM.m: (FSIM, FSIMc) of uint8 images, gray or RGB."""
    rows, cols = image_ref.shape[:2]
    i1, i2, q1, q2 = (np.ones((rows, cols)) for _ in range(4))
    if image_ref.ndim == 3:
        y1, i1, q1 = yiq_as_written(image_ref)
        y2, i2, q2 = yiq_as_written(image_dis)
    else:
        y1, y2 = image_ref.astype(np.float64), image_dis.astype(np.float64)
    f = max(1, int(matlab_round(min(rows, cols) / 256)))
    ave_kernel = fspecial_average(f)

    def down(channel: np.ndarray) -> np.ndarray:
        return conv2(channel, ave_kernel, "same")[0:rows:f, 0:cols:f]

    i1, i2, q1, q2, y1, y2 = (down(c) for c in (i1, i2, q1, q2, y1, y2))
    pc1, pc2 = phasecong2(y1), phasecong2(y2)
    dx = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]]) / 16
    dy = np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]) / 16
    gradient_1 = np.sqrt(conv2(y1, dx, "same") ** 2 + conv2(y1, dy, "same") ** 2)
    gradient_2 = np.sqrt(conv2(y2, dx, "same") ** 2 + conv2(y2, dy, "same") ** 2)
    t1, t2, t3, t4, lam = 0.85, 160, 200, 200, 0.03
    pc_sim = (2 * pc1 * pc2 + t1) / (pc1**2 + pc2**2 + t1)
    gradient_sim = (2 * gradient_1 * gradient_2 + t2) / (gradient_1**2 + gradient_2**2 + t2)
    pcm = np.maximum(pc1, pc2)
    fsim = float(np.sum(gradient_sim * pc_sim * pcm) / np.sum(pcm))
    i_sim = (2 * i1 * i2 + t3) / (i1**2 + i2**2 + t3)
    q_sim = (2 * q1 * q2 + t4) / (q1**2 + q2**2 + t4)
    chroma = np.real(np.power((i_sim * q_sim).astype(complex), lam))  # MATLAB: complex power
    fsimc = float(np.sum(gradient_sim * pc_sim * chroma * pcm) / np.sum(pcm))
    return fsim, fsimc


def haarpsi_m(img_ref: np.ndarray, img_dist: np.ndarray) -> float:
    """HaarPSI.m with preprocessWithSubsampling = 1, images in [0, 255]."""
    colour = img_ref.ndim == 3
    ref, dist = img_ref.astype(np.float64), img_dist.astype(np.float64)
    c, alpha, n_scales = 30, 4.2, 3
    if colour:
        ref_y, ref_i, ref_q = yiq_as_written(ref)
        dist_y, dist_i, dist_q = yiq_as_written(dist)
    else:
        ref_y, dist_y = ref, dist
    box = np.ones((2, 2)) / 4

    def subsample(img: np.ndarray) -> np.ndarray:
        return conv2(img, box, "same")[0::2, 0::2]

    def dec(x: np.ndarray) -> list[np.ndarray]:
        coeffs = [np.empty(0)] * (2 * n_scales)
        for k in range(1, n_scales + 1):
            haar = 2.0 ** (-k) * np.ones((2**k, 2**k))
            haar[: haar.shape[0] // 2, :] = -haar[: haar.shape[0] // 2, :]
            coeffs[k - 1] = conv2(x, haar, "same")
            coeffs[k - 1 + n_scales] = conv2(x, haar.T, "same")
        return coeffs

    ref_y, dist_y = subsample(ref_y), subsample(dist_y)
    coeffs_ref, coeffs_dist = dec(ref_y), dec(dist_y)
    similarities, weights = [], []
    for ori in range(2):
        weights.append(np.maximum(np.abs(coeffs_ref[2 + ori * n_scales]),
                                  np.abs(coeffs_dist[2 + ori * n_scales])))
        magnitudes = [(np.abs(coeffs_ref[s + ori * n_scales]),
                       np.abs(coeffs_dist[s + ori * n_scales])) for s in range(2)]
        terms = [(2 * a * b + c) / (a**2 + b**2 + c) for a, b in magnitudes]
        similarities.append((terms[0] + terms[1]) / 2)
    if colour:
        ref_q, dist_q = subsample(ref_q), subsample(dist_q)
        ref_i, dist_i = subsample(ref_i), subsample(dist_i)
        cq_ref, cq_dist = np.abs(conv2(ref_q, box, "same")), np.abs(conv2(dist_q, box, "same"))
        ci_ref, ci_dist = np.abs(conv2(ref_i, box, "same")), np.abs(conv2(dist_i, box, "same"))
        similarity_i = (2 * ci_ref * ci_dist + c) / (ci_ref**2 + ci_dist**2 + c)
        similarity_q = (2 * cq_ref * cq_dist + c) / (cq_ref**2 + cq_dist**2 + c)
        similarities.append((similarity_i + similarity_q) / 2)
        weights.append((weights[0] + weights[1]) / 2)
    # MATLAB's (:) runs down the columns of each map, maps one after another
    local = np.concatenate([m.flatten(order="F") for m in similarities])
    weight = np.concatenate([w.flatten(order="F") for w in weights])
    logistic = 1 / (1 + np.exp(-alpha * local))
    pooled = np.sum(logistic * weight) / np.sum(weight)
    return float((np.log(pooled / (1 - pooled)) / alpha) ** 2)


def build_lpyr(image: np.ndarray, height: int) -> list[np.ndarray]:
    """buildLpyr.m (a 2-D image, filt1 = filt2 = 'binom5', edges 'reflect1'): bands fine
    to coarse; corrDn/upConv are matlabPyrTools' C functions (0-based start here)."""
    from pyrtools.pyramids.c.wrapper import corrDn, upConv
    from pyrtools.pyramids.filters import named_filter

    filt = named_filter("binom5").reshape(-1, 1)  # filt1(:)
    if height <= 1:
        return [image]
    lo = corrDn(image, filt.T, "reflect1", (1, 2), (0, 0))
    int_sz = lo.shape
    lo2 = corrDn(lo, filt, "reflect1", (2, 1), (0, 0))
    coarser = build_lpyr(lo2, height - 1)
    hi = upConv(lo2, filt, "reflect1", (2, 1), (0, 0), int_sz)
    hi2 = upConv(hi, filt.T, "reflect1", (1, 2), (0, 0), image.shape)
    return [image - hi2, *coarser]


def _triangle(x: np.ndarray) -> np.ndarray:
    return (x + 1) * ((x >= -1) & (x < 0)) + (1 - x) * ((x >= 0) & (x <= 1))


def _cubic(x: np.ndarray) -> np.ndarray:
    absx = np.abs(x)
    return ((1.5 * absx**3 - 2.5 * absx**2 + 1) * (absx <= 1)
            + (-0.5 * absx**3 + 2.5 * absx**2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2)))


def imresize(image: np.ndarray, rows: int, cols: int, method: str = "bicubic",
             scale: float | None = None) -> np.ndarray:
    """MATLAB's imresize (``imresize(image, scale)`` with ``scale``, else ``imresize(image,
    [rows cols], method)``), antialiased when shrinking, as its ``contributions``
    computes the weights: u = x/scale + 0.5(1 − 1/scale), left = floor(u − width/2),
    P = ceil(width) + 2 taps, h(x) = scale·kernel(scale·x) with width/scale when
    shrinking, weights normalised per output sample, indices mirrored (aux = [1:n, n:-1:1]);
    the dimension of the smaller scale first."""
    kernel, width = (_cubic, 4.0) if method == "bicubic" else (_triangle, 2.0)

    def resize_axis(values: np.ndarray, out_len: int, axis_scale: float,
                    axis: int) -> np.ndarray:
        in_len = values.shape[axis]
        kernel_width = width / axis_scale if axis_scale < 1 else width
        u = np.arange(1, out_len + 1) / axis_scale + 0.5 * (1 - 1 / axis_scale)
        left = np.floor(u - kernel_width / 2)
        indices = left[:, None] + np.arange(math.ceil(kernel_width) + 2)[None, :]
        if axis_scale < 1:
            weights = axis_scale * kernel(axis_scale * (u[:, None] - indices))
        else:
            weights = kernel(u[:, None] - indices)
        weights = weights / weights.sum(axis=1, keepdims=True)
        aux = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
        indices = aux[np.mod(indices - 1, aux.size).astype(int)] - 1
        moved = np.moveaxis(values, axis, 0)
        out = np.einsum("ok,ok...->o...", weights, moved[indices])
        return np.moveaxis(out, 0, axis)

    scales = (scale or rows / image.shape[0], scale or cols / image.shape[1])
    sizes = (rows, cols)
    for axis in sorted((0, 1), key=lambda a: scales[a]):
        image = resize_axis(image, sizes[axis], scales[axis], axis)
    return image


def imresize_bilinear(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return imresize(image, rows, cols, "bilinear")


def imfilter_zero_same_centred(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """imfilter(A, h) (correlation, zero borders, 'same') for any h: its centre at
    floor((size(h) + 1)/2)."""
    centre = ((h.shape[0] + 1) // 2 - 1, (h.shape[1] + 1) // 2 - 1)
    padded = np.pad(a, ((centre[0], h.shape[0] - 1 - centre[0]),
                        (centre[1], h.shape[1] - 1 - centre[1])))
    return filter2(h, padded, "valid")


def fspecial_gaussian_2(rows: int, cols: int, sigma: float) -> np.ndarray:
    """fspecial('gaussian', [rows cols], sigma)."""
    y, x = np.meshgrid(np.arange(rows) - (rows - 1) / 2, np.arange(cols) - (cols - 1) / 2,
                       indexing="ij")
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def spectral_residue_saliency(image: np.ndarray) -> np.ndarray:
    """SR_SIM.m's spectralResidueSaliency."""
    in_img = imresize(image, math.ceil(0.25 * image.shape[0]),
                      math.ceil(0.25 * image.shape[1]), "bicubic", scale=0.25)
    spectrum = np.fft.fft2(in_img)
    log_amplitude = np.log(np.abs(spectrum))
    phase = np.angle(spectrum)
    replicate = np.pad(log_amplitude, 1, mode="edge")  # imfilter(…, 'replicate')
    residual = log_amplitude - filter2(fspecial_average(3), replicate, "valid")
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    saliency = imfilter_zero_same_centred(saliency, fspecial_gaussian_2(10, 10, 3.8))
    saliency = (saliency - saliency.min()) / (saliency.max() - saliency.min())  # mat2gray
    return imresize(saliency, image.shape[0], image.shape[1], "bicubic")


def sr_sim_m(image1: np.ndarray, image2: np.ndarray) -> float:
    """SR_SIM.m of uint8 images, gray or RGB."""
    rows, cols = image1.shape[:2]
    if image1.ndim == 3:
        y1, y2 = yiq_as_written(image1)[0], yiq_as_written(image2)[0]
    else:
        y1, y2 = image1.astype(np.float64), image2.astype(np.float64)
    f = max(1, int(matlab_round(min(rows, cols) / 256)))
    ave_kernel = fspecial_average(f)
    y1 = conv2(y1, ave_kernel, "same")[0:rows:f, 0:cols:f]
    y2 = conv2(y2, ave_kernel, "same")[0:rows:f, 0:cols:f]
    saliency_1, saliency_2 = spectral_residue_saliency(y1), spectral_residue_saliency(y2)
    dx = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]]) / 16
    dy = np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]) / 16
    gradient_1 = np.sqrt(conv2(y1, dx, "same") ** 2 + conv2(y1, dy, "same") ** 2)
    gradient_2 = np.sqrt(conv2(y2, dx, "same") ** 2 + conv2(y2, dy, "same") ** 2)
    c1, c2, alpha = 0.40, 225, 0.50
    saliency_sim = (2 * saliency_1 * saliency_2 + c1) / (saliency_1**2 + saliency_2**2 + c1)
    gradient_sim = (2 * gradient_1 * gradient_2 + c2) / (gradient_1**2 + gradient_2**2 + c2)
    weight = np.maximum(saliency_1, saliency_2)
    return float(np.sum(saliency_sim * gradient_sim**alpha * weight) / np.sum(weight))


def imenlarge2(im: np.ndarray) -> np.ndarray:
    m, n = im.shape
    t1 = imresize_bilinear(im, 4 * m - 3, 4 * n - 3)
    t2 = np.zeros((4 * m - 1, 4 * n - 1))
    t2[1:-1, 1:-1] = t1
    t2[0, :] = 2 * t2[1, :] - t2[2, :]
    t2[-1, :] = 2 * t2[-2, :] - t2[-3, :]
    t2[:, 0] = 2 * t2[:, 1] - t2[:, 2]
    t2[:, -1] = 2 * t2[:, -2] - t2[:, -3]
    return t2[0::2, 0::2]


def info_content_weight_map(pyro: list[np.ndarray], pyrd: list[np.ndarray],
                            nsc: int = 5) -> list[np.ndarray]:
    """iwssim.m's info_content_weight_map with parent 1, 3×3 blocks, sigma_nsq 0.4."""
    tol, sigma_nsq, blk = 1e-15, 0.4, 3
    win = np.ones((3, 3)) / 9
    maps = []
    for nband in range(1, nsc):
        y, yn = pyro[nband - 1], pyrd[nband - 1]
        mean_x, mean_y = filter2(win, y, "same"), filter2(win, yn, "same")
        cov_xy = filter2(win, y * yn, "same") - mean_x * mean_y
        ss_x = filter2(win, y**2, "same") - mean_x**2
        ss_y = filter2(win, yn**2, "same") - mean_y**2
        ss_x[ss_x < 0] = 0
        ss_y[ss_y < 0] = 0
        g = cov_xy / (ss_x + tol)
        vv = ss_y - g * cov_xy
        g[ss_x < tol] = 0
        vv[ss_x < tol] = ss_y[ss_x < tol]
        ss_x[ss_x < tol] = 0
        g[ss_y < tol] = 0
        vv[ss_y < tol] = 0
        nsy, nsx = y.shape
        prnt = nband < nsc - 1
        bands = [y]
        if prnt:
            bands.append(np.real(imenlarge2(pyro[nband]))[:nsy, :nsx])
        nblv, nblh = nsy - blk + 1, nsx - blk + 1
        ly = lx = (blk - 1) // 2
        columns = []
        for ny in range(-ly, ly + 1):
            for nx in range(-lx, lx + 1):
                foo = np.roll(bands[0], (ny, nx), axis=(0, 1))  # shift(y, [ny nx])
                columns.append(foo[ly:ly + nblv, lx:lx + nblh].flatten(order="F"))
        if prnt:
            columns.append(bands[1][ly:ly + nblv, lx:lx + nblh].flatten(order="F"))
        big_y = np.stack(columns, axis=1)
        n = blk * blk + int(prnt)
        c_u = big_y.T @ big_y / (nblv * nblh)
        eigenvalues, q = np.linalg.eigh(c_u)
        positive = eigenvalues * (eigenvalues > 0)
        eigenvalues = positive * np.sum(eigenvalues) / (np.sum(positive) + (np.sum(positive) == 0))
        c_u = q @ np.diag(eigenvalues) @ q.T
        ss = np.sum((big_y @ np.linalg.inv(c_u)) * big_y / n, axis=1)
        ss = ss.reshape((nblv, nblh), order="F")
        g = g[ly:ly + nblv, lx:lx + nblh]
        vv = vv[ly:ly + nblv, lx:lx + nblh]
        infow = np.zeros(g.shape)
        for eigenvalue in eigenvalues:
            infow = infow + np.log2(1 + ((vv + (1 + g * g) * sigma_nsq) * ss * eigenvalue
                                         + sigma_nsq * vv) / (sigma_nsq * sigma_nsq))
        infow[infow < tol] = 0
        maps.append(infow)
    return maps


def iwssim_m(oimg: np.ndarray, img: np.ndarray) -> float:
    """iwssim.m with its defaults: oimg the reference, img the distorted image, gray, 0–255."""
    nsc, k, big_l = 5, (0.01, 0.03), 255
    weight = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    weight = weight / weight.sum()
    win = fspecial_gaussian(11, 1.5)
    win = win / win.sum()
    bound = math.ceil((11 - 1) / 2)
    bound1 = bound - (3 - 1) // 2
    pyro, pyrd = build_lpyr(oimg.astype(np.float64), nsc), build_lpyr(img.astype(np.float64), nsc)
    c1, c2 = (k[0] * big_l) ** 2, (k[1] * big_l) ** 2
    cs_map, l_map = [], None
    for i in range(nsc):  # scale_quality_maps
        y, yn = pyro[i], pyrd[i]
        mu1, mu2 = filter2(win, y, "valid"), filter2(win, yn, "valid")
        sigma12 = filter2(win, y * yn, "valid") - mu1 * mu2
        sigma1_sq = np.maximum(0, filter2(win, y**2, "valid") - mu1**2)
        sigma2_sq = np.maximum(0, filter2(win, yn**2, "valid") - mu2**2)
        cs_map.append((2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2))
        if i == nsc - 1:
            l_map = (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1)
    iw_map = info_content_weight_map(pyro, pyrd, nsc)
    wmcs = []
    for s in range(nsc):
        cs = cs_map[s]
        if s == nsc - 1:
            cs = cs * l_map
            iw = np.ones(cs.shape)
        else:
            iw = iw_map[s][bound1:-bound1, bound1:-bound1]
        wmcs.append(np.sum(cs * iw) / np.sum(iw))
    # a negative term is complex in MATLAB: refused here as in likeness
    assert min(wmcs) > 0, wmcs
    return float(np.prod(np.array(wmcs) ** weight))


def _nlp_dn_filters() -> list[tuple[float, np.ndarray]]:
    """NLP_dist.m's DN_filters: (sigma, F2) of each level."""
    sigmas = [0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782]
    first = np.array([[0, 0, 0, 0, 0],
                      [0, 0, 0.1011, 0, 0],
                      [0, 0.1493, 0, 0.1460, 0.0072],
                      [0, 0, 0.1015, 0, 0],
                      [0, 0, 0, 0, 0]])
    centres = [[[0, 0.0757, 0], [0.1986, 0, 0.1846], [0, 0.0837, 0]],
               [[0, 0.0477, 0], [0.2138, 0, 0.2243], [0, 0.0467, 0]],
               [[0, 0, 0], [0.2503, 0, 0.2616], [0, 0, 0]],
               [[0, 0, 0], [0.2598, 0, 0.2552], [0, 0, 0]],
               [[0, 0, 0], [0.2215, 0, 0.0717], [0, 0, 0]]]
    filters = [first]
    for centre in centres:  # DN_filts(n).F2(2:4,2:4) = ...; DN_filts(n).F2(5,5) = 0
        f2 = np.zeros((5, 5))
        f2[1:4, 1:4] = centre
        filters.append(f2)
    return list(zip(sigmas, filters, strict=True))


def imfilter_zero_same(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """imfilter(A, h) with its defaults: correlation, zero borders, 'same' (odd h)."""
    top, left = (h.shape[0] - 1) // 2, (h.shape[1] - 1) // 2
    padded = np.pad(a, ((top, h.shape[0] - 1 - top), (left, h.shape[1] - 1 - left)))
    return filter2(h, padded, "valid")


def laplacian_pyramid_s(image: np.ndarray, nlev: int = 6) -> list[np.ndarray]:
    """NLP_dist.m's laplacian_pyramid_s with its downsample and upsample."""
    f = np.array([0.05, 0.25, 0.4, 0.25, 0.05])
    kernel = np.outer(f, f)
    pyr, j = [], image
    for _ in range(nlev - 1):
        low = imfilter_symmetric_same(j, kernel)[0::2, 0::2]  # downsample
        odd = (2 * low.shape[0] - j.shape[0], 2 * low.shape[1] - j.shape[1])
        padded = np.pad(low, 1, mode="edge")  # padarray(I, [1 1 0], 'replicate')
        r, c = 2 * padded.shape[0], 2 * padded.shape[1]
        spread = np.zeros((r, c))
        spread[0:r:2, 0:c:2] = 4 * padded
        up = imfilter_zero_same(spread, kernel)[2:r - 2 - odd[0], 2:c - 2 - odd[1]]
        pyr.append(j - up)
        j = low
    pyr.append(j)
    return pyr


def nlp_dist_m(im_1: np.ndarray, im_2: np.ndarray) -> tuple[float, float]:
    """NLP_dist.m: (DMOS_Lap_dn2, DMOS_Lap) of gray images in [0, 1]."""
    filters = _nlp_dn_filters()

    def nlp(image: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        lap = laplacian_pyramid_s(image, 6)
        dn = [band / (sigma + conv2(np.abs(band), f2, "same"))
              for band, (sigma, f2) in zip(lap, filters, strict=True)]
        return dn, lap

    y_ori, lap_ori = nlp(im_1)
    y_dist, lap_dist = nlp(im_2)
    rr_lap = [np.sqrt(np.mean((a - b) ** 2)) for a, b in zip(lap_ori, lap_dist, strict=True)]
    rr = [np.sqrt(np.mean((a - b) ** 2)) for a, b in zip(y_ori, y_dist, strict=True)]
    return float(np.mean(rr)), float(np.mean(rr_lap))


def nlp_input(image: np.ndarray) -> np.ndarray:
    """The [0, 1] gray image NLP_dist.m is given: double(rgb2gray(I))/255."""
    return _gray(image) / 255


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


def msssim_m(img1: np.ndarray, img2: np.ndarray, method: str = "product") -> float:
    """msssim.m with its defaults (K = [0.01 0.03], 11×11 gaussian σ 1.5, 5 levels) and
    ``method`` 'product' (its default) or 'wtd_sum'."""
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
    if method == "product":
        return float(np.prod(mcs_array[:level - 1] ** weight[:level - 1])
                     * mssim_array[level - 1] ** weight[level - 1])
    weight = weight / np.sum(weight)
    return float(np.sum(mcs_array[:level - 1] * weight[:level - 1])
                 + mssim_array[level - 1] * weight[level - 1])


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
            "ms_ssim_wtd_sum": msssim_m(gray_reference, gray_distorted, "wtd_sum"),
            "vif_p": vifp_mscale_m(gray_reference, gray_distorted),
            "vif": vifvec_m(gray_reference, gray_distorted),
            "cw_ssim": cwssim_index_m(gray_distorted, gray_reference),
            "iw_ssim": iwssim_m(gray_reference, gray_distorted),
        }
        row["haarpsi"] = haarpsi_m(reference, distorted)
        row["sr_sim"] = sr_sim_m(distorted, reference)
        row["fsim"], fsimc = featuresim_m(reference, distorted)
        if reference.ndim == 3:
            row["fsimc"] = fsimc
        row["nlpd"], row["nlpd_laplacian"] = nlp_dist_m(nlp_input(reference),
                                                        nlp_input(distorted))
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
                      "cwssim_index.m, MDSI.m, NLP_dist.m, FeatureSIM.m, HaarPSI.m, iwssim.m, "
                      "SR_SIM.m and "
                      "the FeatureSIM.m/SR_SIM.m/VSI.m/MDSI.m downsampling block "
                      "(references/make_matlab_transcriptions.py), on colour pairs through "
                      "rgb2gray where the .m file takes gray images (NLP_dist.m: ÷ 255); NumPy "
                      f"{version('numpy')}, SciPy {version('scipy')}, pyrtools "
                      f"{version('pyrtools')} (sp5Filters)"),
        "values": values,
        "downsampled_distorted": downsampled,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
