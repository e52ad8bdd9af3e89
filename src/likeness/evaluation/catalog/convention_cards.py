"""The sentences a card states a metric with under each named convention (the run's
``ssim_convention``, ``ms_ssim_convention`` and ``convention``): what the convention's
code computes and, where measured, how far it sits from the default."""

from __future__ import annotations

__all__ = ["MATLAB_SENTENCES", "MS_SSIM_SENTENCES", "SSIM_SENTENCES"]

SSIM_SENTENCES = {
    "basicsr": ("SSIM [@wang2004ssim] as BasicSR's `calculate_ssim` computes it "
                "[@wang2022basicsr] (11×11 Gaussian window, σ = 1.5, applied with OpenCV's "
                "`filter2D`, kept where the window lies inside the image, float64, per "
                "channel, averaged)"),
    "wang2004": ("SSIM [@wang2004ssim] with its published window (11×11 Gaussian, σ = 1.5, "
                 "population covariance, K1 = 0.01, K2 = 0.03), as scikit-image computes it "
                 "with `gaussian_weights=True, sigma=1.5, use_sample_covariance=False`, "
                 "averaged over the windows inside the image and over channels"),
    "pytorch-msssim": ("SSIM [@wang2004ssim] as pytorch-msssim's `ssim` computes it (11-tap "
                       "Gaussian built in float32, σ = 1.5, population covariance), in "
                       "float64 from the images' pixels"),
    "matlab": ("SSIM [@wang2004ssim] as Wang's `ssim.m` computes it (automatic downsampling "
               "by f = max(1, round(min(H, W)/256)) with MATLAB's rounding: an f×f box "
               "filter with symmetric borders and every f-th pixel; then the 11×11 Gaussian "
               "window, σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, over the windows inside the "
               "image), on one channel"),
    "torchmetrics": ("SSIM [@wang2004ssim] as torchmetrics' "
                     "`structural_similarity_index_measure` computes it (11×11 Gaussian "
                     "window, σ = 1.5, over the image reflect-padded by 5 px, the whole map "
                     "averaged, variances clamped at 0), in float64 from the images' pixels"),
}

# convention="matlab": the authors' MATLAB code where it departs from piq's, with the
# measured size of the departure (piq's test pairs: goldhill / its JPEG, TID2013's I01 /
# i01_01_5; IQA-PyTorch's five TID2013 calibration pairs, 512×384, and the same enlarged to
# 700×640; tests/test_matlab_conventions.py)
_DOWNSAMPLING = ("f = max(1, round(min(H, W)/256)) with MATLAB's rounding (halves up) and the "
                 "f×f mean of `conv2(…, 'same')` sampled at `1:f:end`")
MATLAB_SENTENCES = {
    "gmsd": ("GMSD [@xue2014gmsd] as the authors' `GMSD.m` computes it: colour through "
             "MATLAB's `rgb2gray` (rounded on 8- and 16-bit images), Prewitt gradients after "
             "2× average pooling, T = 170, pooled by MATLAB's `std2` (the N − 1 deviation); "
             "piq's YIQ luma and population deviation differ by 1e-6 to 2.6e-4 on TID2013 "
             "pairs"),
    "ms_gmsd": ("MS-GMSD [@zhang2017msgmsd] (4 scales, weights 0.096, 0.596, 0.289, 0.019, "
                "masking α = 0.5) of MATLAB's `rgb2gray` for colour, each scale's deviation "
                "by MATLAB's `std2` (N − 1), as `GMSD.m` pools (piq's: 5e-6 to 3e-4 apart on "
                "TID2013 pairs)"),
    "haarpsi": ("HaarPSI [@reisenhofer2018haarpsi] as the authors' `HaarPSI.m` computes it "
                "(YIQ with its three-digit I and Q coefficients 0.596, −0.274, −0.322; "
                "0.211, −0.523, 0.312; piq's four-digit ones move it by 6e-6 to 1.6e-4 on "
                "TID2013 pairs)"),
    "fsim": ("FSIM [@zhang2011fsim] as the authors' `FeatureSIM.m` computes it (phase "
             "congruency from log-Gabor filters, 4 scales × 4 orientations, as its "
             "`phasecong2` computes it: the angle atan2(−y, x), MATLAB's median, ε = 1e-4; "
             f"Scharr gradients, T1 = 0.85, T2 = 160, luma; {_DOWNSAMPLING}; piq's phase "
             "congruency differs by up to 5e-6 on TID2013 pairs, its downsampling by up to "
             "1e-2 at 640 px a side, where piq takes f = 2 and MATLAB 3)"),
    "fsimc": ("FSIMc [@zhang2011fsim] as the authors' `FeatureSIM.m` computes it (FSIM "
              "times real((S_I S_Q)^0.03), T3 = T4 = 200, YIQ with three-digit I and Q "
              f"coefficients, `phasecong2` as written, {_DOWNSAMPLING}; piq's |S_I S_Q|^0.03, "
              "four-digit YIQ and phase congruency differ by 2e-6 to 4.7e-5 on TID2013 "
              "pairs, up to 1e-2 at 640 px)"),
    "vif_p": ("VIFp [@sheikh2006vif] as `vifp_mscale.m` computes it (4 scales, σ_n² = 2, "
              "its thresholds of 1e-10 for flat windows where piq's are 1e-8) on colour "
              "through MATLAB's `rgb2gray` (the .m file takes gray images); piq's "
              "0.299/0.587/0.114 luma moves it by up to 1.5e-2 on TID2013 pairs"),
    "mdsi": ("MDSI [@nafchi2016mdsi] as the authors' `MDSI.m` computes it, with "
             f"{_DOWNSAMPLING} (the same value as piq's except where min(H, W)/256 ends in "
             ".5: 1e-2 apart at 640 px)"),
    "sr_sim": ("SR-SIM [@zhang2012srsim] as the authors' `SR_SIM.m` computes it, with "
               f"{_DOWNSAMPLING} (the same value as piq's except where min(H, W)/256 ends "
               "in .5: up to 6e-2 apart at 640 px)"),
    "iw_ssim": ("IW-SSIM [@wang2011iwssim] as `iwssim.m` computes it, with matlabPyrTools' "
                "`buildLpyr`: colour through MATLAB's `rgb2gray` (the .m file takes gray "
                "images; piq's YIQ luma moves it by up to 1.9e-3 on TID2013 pairs); on odd "
                "sides `upConv`'s upsampling, where piq's differs by up to 2e-5"),
}

MS_SSIM_SENTENCES = {
    "piq": ("MS-SSIM [@wang2003msssim] as piq's `multi_scale_ssim` computes it "
            "[@kastryulin2022piq] (5 scales with weights 0.0448, 0.2856, 0.3001, 0.2363, "
            "0.1333; 11×11 Gaussian window, σ = 1.5, inside the image; an odd side padded by "
            "replicating the first row and column before each 2× pooling — pytorch-msssim "
            "pads with zeros: up to 3e-3 apart on odd sizes)"),
    "torchmetrics": ("MS-SSIM [@wang2003msssim] as torchmetrics' "
                     "`multiscale_structural_similarity_index_measure` computes it (5 scales, "
                     "weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333 as float32; 11×11 "
                     "Gaussian window, σ = 1.5, on the image reflect-padded by 5 px: each "
                     "scale's SSIM the mean of the whole padded map, its contrast-structure "
                     "term without the padded border, over channels and pixels together; "
                     "2× pooling dropping an odd last row or column; negative terms clipped "
                     "at 0) — 1.3e-3 to 2.7e-3 from pytorch-msssim's on TID2013 pairs"),
    "matlab": ("MS-SSIM [@wang2003msssim] as Wang's `msssim.m` computes it (colour through "
               "MATLAB's `rgb2gray`; 5 scales, weights 0.0448, 0.2856, 0.3001, 0.2363, "
               "0.1333; 11×11 Gaussian window, σ = 1.5, inside the image; 2×2 means of "
               "`imfilter(…, 'symmetric')` sampled at `1:2:end`, an odd side's last row or "
               "column repeated; nothing clipped) — equal to piq's on even sizes, 1.4e-3 from "
               "pytorch-msssim's on an odd crop of a TID2013 pair"),
    "matlab-wtd-sum": ("MS-SSIM [@wang2003msssim] as Wang's `msssim.m` computes it with "
                       "`method = 'wtd_sum'` (colour through MATLAB's `rgb2gray`; the weights "
                       "0.0448, 0.2856, 0.3001, 0.2363, 0.1333 normalised to sum 1; the "
                       "weighted sum of the four finer scales' contrast-structure means and "
                       "the coarsest scale's SSIM; otherwise as its default 'product' "
                       "method) — the MS-SSIM of IQA-PyTorch's MATLAB calibration table, up "
                       "to 4.4e-3 above the product on TID2013 pairs")}
