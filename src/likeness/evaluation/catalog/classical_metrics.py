"""The registry entries of the classical full-reference metrics as piq defines them (GMSD,
MS-GMSD, VIFp, MDSI, HaarPSI, FSIM, FSIMc, SR-SIM, VSI, DSS, IW-SSIM): each a batched
torch function of ``likeness.metrics`` computed in float64 on one pair, x the test image
and y the reference (piq's order).  All but VSI and DSS also follow their authors' MATLAB
code where it departs from piq's (the run's ``convention``)."""

from __future__ import annotations

from likeness.evaluation.catalog.metric_spec import MetricSpec, on_tensors

__all__ = ["CLASSICAL_METRICS"]

# the metrics whose authors' MATLAB code departs from piq's: the run's ``convention``
# (``"piq"`` or ``"matlab"``) is part of their cache key.  Revision 2 of FSIM, FSIMc
# (phasecong2's angle, median and ε) and IW-SSIM (buildLpyr's upsampling, tolerance 1e-15)
# changed their matlab convention
_CONVENTIONAL = ("gray", "resize", "alpha", "convention")

CLASSICAL_METRICS: dict[str, MetricSpec] = {
    "gmsd": MetricSpec("gmsd", "lower",
                       "GMSD: standard deviation of the gradient-magnitude similarity map "
                       "(Prewitt, Y of YIQ, 2x downsampled), as piq computes it in float64",
                       **on_tensors("gmsd", "gmsd", conventional=True),
                       key_settings=_CONVENTIONAL,
                       citations=("xue2014gmsd", "kastryulin2022piq"),
                       label="GMSD", bytes_per_pixel=190),
    "ms_gmsd": MetricSpec("ms_gmsd", "lower",
                          "MS-GMSD: GMSD over 4 scales with masking (alpha 0.5), weights "
                          "0.096, 0.596, 0.289, 0.019, as piq computes it in float64",
                          **on_tensors("gmsd", "ms_gmsd", conventional=True),
                          key_settings=_CONVENTIONAL,
                          citations=("zhang2017msgmsd", "kastryulin2022piq"),
                          min_side=17, label="MS-GMSD", bytes_per_pixel=175),
    "vif_p": MetricSpec("vif_p", "higher",
                        "VIFp: visual information fidelity in the pixel domain (4 scales, "
                        "luma, sigma_n^2 = 2), as piq computes it in float64",
                        **on_tensors("vif", "vif_p", conventional=True),
                        key_settings=_CONVENTIONAL,
                        citations=("sheikh2006vif", "kastryulin2022piq"),
                        min_side=41, label="VIFp", bytes_per_pixel=330, latex=r"VIF$_p$"),
    "vif": MetricSpec("vif", "higher",
                      "VIF: visual information fidelity in the wavelet domain (steerable "
                      "pyramid, 4 levels x 6 orientations, vector GSM, sigma_n^2 = 0.4), as "
                      "vifvec.m computes it, in float64",
                      **on_tensors("vif_wavelet", "vif"),
                      citations=("sheikh2006vif",), min_side=72, label="VIF", bytes_per_pixel=485),
    "cw_ssim": MetricSpec("cw_ssim", "higher",
                          "CW-SSIM: complex-wavelet SSIM on the coarsest level of a complex "
                          "steerable pyramid (4 levels, 8 orientations, K = 0), as "
                          "cwssim_index.m computes it, in float64",
                          **on_tensors("cw_ssim", "cw_ssim"),
                          citations=("sampat2009cwssim",), min_side=64, label="CW-SSIM",
                          bytes_per_pixel=270),
    "nlpd": MetricSpec("nlpd", "lower",
                       "NLPD: normalized Laplacian pyramid distance (6 levels, divisive "
                       "normalization, rgb2gray), as NLP_dist.m computes it, in float64",
                       **on_tensors("nlpd", "nlpd"),
                       citations=("laparra2016nlpd",), min_side=32, label="NLPD",
                       bytes_per_pixel=175),
    "mdsi": MetricSpec("mdsi", "lower",
                       "MDSI: mean deviation similarity index (LHM, gradient and chromaticity "
                       "similarity, sum combination), as piq computes it in float64",
                       **on_tensors("mdsi", "mdsi", conventional=True),
                       key_settings=_CONVENTIONAL,
                       citations=("nafchi2016mdsi", "kastryulin2022piq"),
                       label="MDSI", bytes_per_pixel=100),
    "haarpsi": MetricSpec("haarpsi", "higher",
                          "HaarPSI: Haar wavelet-based perceptual similarity (YIQ, 3 scales, "
                          "C = 30, alpha = 4.2), as piq computes it in float64",
                          **on_tensors("haarpsi", "haarpsi", conventional=True),
                          key_settings=_CONVENTIONAL,
                          citations=("reisenhofer2018haarpsi", "kastryulin2022piq"),
                          min_side=16, label="HaarPSI", bytes_per_pixel=275),
    "fsim": MetricSpec("fsim", "higher",
                       "FSIM: phase congruency and gradient similarity of luma (YIQ, 4 scales, "
                       "4 orientations, automatic downsampling), as piq computes it in float64",
                       **on_tensors("fsim", "fsim", conventional=True),
                       key_settings=_CONVENTIONAL,
                       citations=("zhang2011fsim", "kastryulin2022piq"),
                       min_side=2, revision=2, label="FSIM", bytes_per_pixel=125),
    "fsimc": MetricSpec("fsimc", "higher",
                        "FSIMc: FSIM with the I and Q chromatic similarity (lambda 0.03), as "
                        "piq computes it in float64; colour images only",
                        **on_tensors("fsim", "fsimc", conventional=True),
                        key_settings=_CONVENTIONAL,
                        citations=("zhang2011fsim", "kastryulin2022piq"),
                        min_side=2, revision=2, label="FSIMc", bytes_per_pixel=130,
                        latex=r"FSIM$_c$"),
    "sr_sim": MetricSpec("sr_sim", "higher",
                         "SR-SIM: spectral-residual saliency and gradient similarity of luma "
                         "(automatic downsampling), as piq computes it in float64",
                         **on_tensors("srsim", "sr_sim", conventional=True),
                         key_settings=_CONVENTIONAL,
                         citations=("zhang2012srsim", "kastryulin2022piq"),
                         min_side=40, label="SR-SIM", bytes_per_pixel=135),
    "vsi": MetricSpec("vsi", "higher",
                      "VSI: SDSP visual saliency, gradient and LMN chroma similarity "
                      "(automatic downsampling), as piq computes it in float64",
                      **on_tensors("vsi", "vsi"),
                      citations=("zhang2014vsi", "kastryulin2022piq"),
                      label="VSI", bytes_per_pixel=130),
    "dss": MetricSpec("dss", "higher",
                      "DSS: DCT subband similarity of luma (8x8 blocks, 5 % pooling), as piq "
                      "computes it, in float64 throughout, local variances from deviations",
                      **on_tensors("dss", "dss"),
                      citations=("balanov2015dss", "kastryulin2022piq"),
                      min_side=8, revision=2, label="DSS", bytes_per_pixel=145),
    "iw_ssim": MetricSpec("iw_ssim", "higher",
                          "IW-SSIM: information-weighted SSIM of luma over a 5-level "
                          "Laplacian pyramid, as piq computes it in float64",
                          **on_tensors("iw_ssim", "iw_ssim", conventional=True),
                          key_settings=_CONVENTIONAL,
                          citations=("wang2011iwssim", "kastryulin2022piq"),
                          min_side=161, revision=2, label="IW-SSIM", bytes_per_pixel=660),
}
