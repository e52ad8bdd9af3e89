"""Each metric's card: what it measures, its range and direction, what moves it and what
it tolerates, and the sentences a methods paragraph states it with — per convention, in a
style run, with the run's settings.  ``registry.METRICS`` hands each entry its card
(``MetricSpec.card``); ``likeness.results.citations`` renders them (docs/metrics.md,
``methods.md``).  A ``{weights}`` field is filled with the run's checkpoint file and
SHA-256."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from likeness.evaluation.catalog.convention_cards import (
    MATLAB_SENTENCES,
    MS_SSIM_SENTENCES,
    SSIM_SENTENCES,
)
from likeness.evaluation.catalog.embedding_cards import EMBEDDING_CARDS
from likeness.evaluation.catalog.metric_spec import MetricCard

__all__ = ["CARDS"]

_PIXELWISE = ("any change of pixel values: a one-pixel shift, a colour cast, resampled "
              "texture, noise, blur")
_STRUCTURE_BLIND = "nothing: identical pixels are the only way to score best"
_PIQ = "as piq 0.8 computes it, in float64 [@kastryulin2022piq]"
_TEXTURE = ("texture resampling (a grass texture replaced by other grass) much less than "
            "pixel metrics do; small shifts")

CARDS: dict[str, MetricCard] = {
    "ssim": MetricCard(
        "SSIM", "local agreement of luminance, contrast and structure in sliding windows",
        "−1 to 1 (1: identical); higher is better", _PIXELWISE + "; structure more than "
        "brightness", "uniform brightness changes partly (the luminance term saturates)",
        "SSIM [@wang2004ssim] as scikit-image's `structural_similarity` computes it by "
        "default (7×7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03), on each "
        "colour channel, averaged over channels and over the windows inside the image"),
    "psnr": MetricCard(
        "PSNR", "the mean squared error on a logarithmic scale, relative to the data range",
        "0 to +∞ dB (+∞: identical); higher is better", _PIXELWISE, _STRUCTURE_BLIND,
        "PSNR in dB as scikit-image's `peak_signal_noise_ratio`"),
    "mse": MetricCard(
        "MSE", "the mean squared difference of pixel values",
        "0 (identical) to the data range squared, in squared pixel values (not normalised "
        "to [0, 1]); lower is better",
        _PIXELWISE, _STRUCTURE_BLIND, "the mean squared error over all pixels and channels"),
    "ms_ssim": MetricCard(
        "MS-SSIM", "SSIM's contrast and structure at five scales, luminance at the coarsest",
        "0 to 1 (1: identical); higher is better", "structure at several viewing distances; "
        "blur and noise", "small changes visible only at one fine scale",
        "MS-SSIM [@wang2003msssim] as pytorch-msssim's `ms_ssim` (5 scales with weights "
        "0.0448, 0.2856, 0.3001, 0.2363, 0.1333; 11-tap Gaussian window, σ = 1.5)"),
    "gmsd": MetricCard(
        "GMSD", "how unevenly gradient magnitudes are preserved across the image",
        "0 (identical) upwards; lower is better", "edges lost or added, blur, ringing",
        "uniform brightness and colour changes, chroma (luma only)",
        f"GMSD [@xue2014gmsd] (Prewitt gradients of the Y of YIQ, 2× average-pooled, "
        f"T = 170/255²) {_PIQ}"),
    "ms_gmsd": MetricCard(
        "MS-GMSD", "GMSD over four scales with contrast masking",
        "0 (identical) upwards; lower is better", "edge damage at several scales",
        "uniform brightness changes, chroma",
        f"MS-GMSD [@zhang2017msgmsd] (4 scales, weights 0.096, 0.596, 0.289, 0.019, "
        f"masking α = 0.5) {_PIQ}"),
    "vif_p": MetricCard(
        "VIFp", "the share of the reference's visual information (a Gaussian scale mixture "
        "model of the visual channel) that survives in the test image",
        "0 upwards (1: identical; above 1 for contrast enhancement); higher is better",
        "blur, noise, loss of detail", "contrast enhancement (it can exceed 1), chroma",
        f"VIFp [@sheikh2006vif] in the pixel domain (4 scales, σ_n² = 2, luma) {_PIQ}"),
    "vif": MetricCard(
        "VIF", "the share of the reference's visual information (a vector Gaussian scale "
        "mixture of its wavelet coefficients passed through a gain-and-noise channel) that "
        "survives in the test image",
        "0 upwards (1: identical; above 1 for contrast enhancement); higher is better",
        "blur, noise, loss of detail at every scale and orientation",
        "contrast enhancement (it can exceed 1), chroma (gray only: colour through "
        "`rgb2gray`), the image borders (coefficients near them are left out)",
        "VIF [@sheikh2006vif] in the wavelet domain as the authors' `vifvec.m` computes it "
        "(steerable pyramid of 4 levels and 6 orientations, `sp5Filters`, mirrored borders; "
        "orientations 1 and 4 of each level; 3×3 blocks, σ_n² = 0.4; colour through "
        "MATLAB's `rgb2gray`); it reproduces the five MATLAB values published on TID2013 "
        "pairs to their four digits"),
    "cw_ssim": MetricCard(
        "CW-SSIM", "structural similarity of the phase of complex wavelet coefficients: "
        "whether local structure is kept, whatever small shift carries it",
        "0 to 1 (1: identical); higher is better",
        "structural changes at the coarsest scale (blur, noise, lost detail of that size)",
        "small translations, rotations and scalings, uniform brightness and contrast "
        "changes (the phase is kept), fine detail below the coarsest scale, chroma (gray "
        "only: colour through `rgb2gray`)",
        "CW-SSIM [@sampat2009cwssim] as the authors' `cwssim_index.m` computes it (complex "
        "steerable pyramid of matlabPyrTools' `buildSCFpyr`, 4 levels, 8 orientations; on "
        "the coarsest level's bands, 7×7 windows, K = 0, a Gaussian weight of σ = rows/4; "
        "colour through MATLAB's `rgb2gray`); it reproduces the five MATLAB values "
        "published on TID2013 pairs to their four digits"),
    "nlpd": MetricCard(
        "NLPD", "the distance between two images after a model of early vision: a Laplacian "
        "pyramid whose coefficients are divided by their neighbours' local energy "
        "(divisive normalization)",
        "0 (identical) upwards; lower is better",
        "blur, noise and lost detail at any of its 6 scales, most in textured regions' "
        "neighbours where the normalization is weak",
        "uniform brightness changes (except through the coarsest level), changes hidden "
        "by local contrast (masking), chroma (gray only: colour through `rgb2gray`)",
        "NLPD [@laparra2016nlpd] as the authors' `NLP_dist.m` computes it (6-level Laplacian "
        "pyramid with Burt & Adelson's filter, divisive normalization with the file's "
        "McGill-trained filters and constants; the mean over levels of the root mean "
        "square difference; gray images in [0, 1], colour through MATLAB's `rgb2gray`); it "
        "reproduces the five MATLAB values published on TID2013 pairs to their 15 digits, "
        "where IQA-PyTorch 0.1.16's port departs from them by up to 5.6e-3 (29 % of a "
        "mild distortion's value)"),
    "mdsi": MetricCard(
        "MDSI", "the deviation of joint gradient and chromaticity similarity",
        "0 (identical) upwards; lower is better", "edges and colour changes",
        "uniform brightness changes",
        f"MDSI [@nafchi2016mdsi] (LHM colour, gradient and chromaticity similarity, sum "
        f"combination, deviation pooling) {_PIQ}"),
    "haarpsi": MetricCard(
        "HaarPSI", "local similarity of Haar wavelet responses, weighted by their strength",
        "0 to 1 (1: identical); higher is better", "edges and texture at fine scales, "
        "colour", "uniform brightness changes",
        f"HaarPSI [@reisenhofer2018haarpsi] (YIQ, 3 scales, C = 30, α = 4.2) {_PIQ}"),
    "fsim": MetricCard(
        "FSIM", "similarity of phase congruency (where features are) and gradient magnitude, "
        "weighted by phase congruency", "0 to 1 (1: identical); higher is better",
        "edges, lines and corners changed or lost", "colour (luma only), uniform "
        "brightness changes, flat regions",
        f"FSIM [@zhang2011fsim] (phase congruency from log-Gabor filters, 4 scales × 4 "
        f"orientations, Scharr gradients, T1 = 0.85, T2 = 160, luma, automatic downsampling "
        f"by round(min(H, W)/256)) {_PIQ}"),
    "fsimc": MetricCard(
        "FSIMc", "FSIM with the similarity of the I and Q chroma channels",
        "0 to 1 (1: identical); higher is better; colour images only",
        "edges and features, and colour shifts", "uniform brightness changes",
        f"FSIMc [@zhang2011fsim] (FSIM times |S_I S_Q|^0.03, T3 = T4 = 200) {_PIQ}"),
    "sr_sim": MetricCard(
        "SR-SIM", "similarity of spectral-residual visual saliency and gradient magnitude, "
        "weighted by saliency", "0 to 1 (1: identical); higher is better",
        "changes in salient regions and edges", "changes in non-salient regions, colour",
        f"SR-SIM [@zhang2012srsim] (spectral-residual saliency of luma at a quarter size, "
        f"Scharr gradients, C1 = 0.40, C2 = 225, automatic downsampling; each image's "
        f"saliency scaled by its own range) {_PIQ}"),
    "vsi": MetricCard(
        "VSI", "similarity of visual saliency (SDSP), gradients and chroma, weighted by "
        "saliency", "0 to 1 (1: identical); higher is better",
        "changes in salient regions, edges, colour", "changes in non-salient regions",
        f"VSI [@zhang2014vsi] (SDSP saliency at 256×256, Scharr gradients of L, LMN chroma, "
        f"C1 = 1.27, C2 = 386, C3 = 130, α = 0.4, β = 0.02; gray images as RGB) {_PIQ}"),
    "dss": MetricCard(
        "DSS", "similarity of local variances in DCT subbands, pooled over the worst 5 %",
        "0 to 1 (1: identical); higher is better", "loss of detail in the subbands that "
        "matter to vision; the worst regions", "colour (luma only), changes spread thinly",
        f"DSS [@balanov2015dss] (8×8 DCT, subband weights σ = 1.55, 3×3 Gaussian statistics, "
        f"5 % pooling) {_PIQ}"),
    "iw_ssim": MetricCard(
        "IW-SSIM", "SSIM's contrast-structure terms over a Laplacian pyramid, pooled with "
        "information-content weights", "0 to 1 (1: identical); higher is better",
        "structure in information-rich regions", "colour (luma only), flat regions",
        f"IW-SSIM [@wang2011iwssim] (5-level Laplacian pyramid, 11-tap Gaussian, σ_n² = 0.4, "
        f"weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333; at least 161 px a side) {_PIQ}"),
    "lpips_alex": MetricCard(
        "LPIPS (AlexNet)", "distance between deep features, weighted by heads trained on "
        "human judgements", "0 (identical) upwards, typically below 1; lower is better",
        "perceptible distortions: blur, noise, artefacts", _TEXTURE,
        "LPIPS v0.1 [@zhang2018lpips] with the AlexNet backbone{weights} and the lpips "
        "package's linear heads, on images scaled to [-1, 1]"),
    "lpips_vgg": MetricCard(
        "LPIPS (VGG16)", "as LPIPS (AlexNet), with VGG16 features",
        "0 (identical) upwards; lower is better", "perceptible distortions", _TEXTURE,
        "LPIPS v0.1 [@zhang2018lpips] with the VGG16 backbone{weights} and the lpips "
        "package's linear heads, on images scaled to [-1, 1]"),
    "lpips_squeeze": MetricCard(
        "LPIPS (SqueezeNet)", "as LPIPS (AlexNet), with SqueezeNet 1.1 features",
        "0 (identical) upwards; lower is better", "perceptible distortions", _TEXTURE,
        "LPIPS v0.1 [@zhang2018lpips] with the SqueezeNet 1.1 backbone{weights} and the lpips "
        "package's linear heads, on images scaled to [-1, 1]"),
    "dists": MetricCard(
        "DISTS", "structure (feature correlations) and texture (feature means) similarity "
        "of VGG16 features with L2 pooling", "0 (identical) to 1; lower is better",
        "structural changes, blur, noise", "texture resampling, by design (a texture "
        "replaced by another sample of it scores close to 0); small shifts",
        "DISTS [@ding2022dists] with the authors' weights α, β (DISTS_pytorch) and the "
        "VGG16 backbone{weights} with L2 pooling, images at their own size (no resizing)"),
    "fid": MetricCard(
        "FID", "the Fréchet distance between Gaussians fitted to the two sets' Inception "
        "features", "0 (equal statistics) upwards; lower is better",
        "set-level differences in quality and diversity", "which image is paired with "
        "which; biased upwards for small sets",
        "FID [@heusel2017fid] between each model's images and the reference images, from "
        "the 2048-d pool3 features of the FID Inception-v3 [@szegedy2016inception] as "
        "pytorch-fid computes them [@seitzer2020pytorchfid]"),
    "kid": MetricCard(
        "KID", "the squared maximum mean discrepancy of Inception features (cubic kernel)",
        "around 0 (unbiased: small negative values possible); lower is better",
        "set-level differences", "pairing; unbiased for small sets",
        "KID [@binkowski2018kid] on the same features: the unbiased MMD² with the kernel "
        "(x·y/d + 1)³"),
    "precision": MetricCard(
        "Precision", "the share of the model's images that fall inside the references' "
        "feature manifold (k-nearest-neighbour balls, k = 3)", "0 to 1; higher is better",
        "images unlike any reference (fidelity)", "missing modes (that is recall's job)",
        "precision [@kynkaanniemi2019precision] (k = 3) on the 2048-d pool features of the "
        "FID Inception-v3 [@szegedy2016inception], as the prdc package computes it"),
    "recall": MetricCard(
        "Recall", "the share of the references that fall inside the model's feature "
        "manifold (k = 3)", "0 to 1; higher is better", "modes of the references the "
        "model misses (diversity)", "unrealistic extra images",
        "recall [@kynkaanniemi2019precision] (k = 3) on the FID Inception-v3's pool "
        "features, as prdc"),
    "density": MetricCard(
        "Density", "how many reference neighbourhoods (k = 5) contain each model image, "
        "over k", "0 upwards (1: as dense as the references); higher is better",
        "fidelity, robust to outlier references", "missing modes",
        "density [@naeem2020prdc] (k = 5) on the FID Inception-v3's pool features, as prdc"),
    "coverage": MetricCard(
        "Coverage", "the share of references whose neighbourhood (k = 5) holds a model "
        "image", "0 to 1; higher is better", "missing modes, robust to outliers",
        "unrealistic extra images", "coverage [@naeem2020prdc] (k = 5) on the FID "
        "Inception-v3's pool features, as prdc"),
    "vendi": MetricCard(
        "Vendi score", "the effective number of distinct images in the model's set: exp of "
        "the entropy of the cosine-similarity kernel's eigenvalues",
        "1 (all alike) to N; higher is better (more diverse)", "duplicates and mode collapse",
        "whether the images resemble the references (a diversity-only measure)",
        "the Vendi score [@friedman2023vendi] (q = 1, cosine kernel) of each model's "
        "Inception pool features [@szegedy2016inception], as vendi-score's `score_dual`"),
    "inception_score": MetricCard(
        "Inception Score", "how confidently and how variously an ImageNet classifier "
        "labels the model's images: exp E[KL(p(y|x) ‖ p(y))]",
        "1 upwards (at most 1,008 classes); higher is better", "unrecognisable images, "
        "few classes", "whether the images resemble the references (no reference is used); "
        "biased downwards for small sets",
        "the Inception Score [@salimans2016improved] of each model's images as "
        "torch-fidelity computes it [@obukhov2020torchfidelity]: uint8 images resized to "
        "299×299 with TensorFlow 1.x's bilinear resize, (x − 128)/128, the FID "
        "Inception-v3 [@szegedy2016inception]{weights}, logits without the final bias, 10 "
        "splits after a shuffle with seed 2020, mean and standard deviation over splits"),
    "ssim_gray": MetricCard(
        "SSIM (luma)", "SSIM of ITU-R BT.601 luma", "−1 to 1 (1: identical); higher is "
        "better", "structure changes", "colour changes of equal luma",
        "SSIM [@wang2004ssim] of ITU-R BT.601 luma, scikit-image defaults"),
    "cfsd": MetricCard(
        "CFSD", "how the pattern of feature similarity between image patches (content "
        "layout) changes", "0 (same layout) upwards; lower is better",
        "content structure lost in stylization", "colour and texture of the style",
        "CFSD [@chung2024styleid]: the KL divergence between the row-wise softmaxes of the "
        "relu3_1 patch-similarity matrices of VGG19 [@simonyan2015vgg]{weights}"),
    "gram": MetricCard(
        "Gram loss", "difference of feature correlations (Gram matrices) to the style image",
        "0 upwards; lower is better", "style statistics: colours, textures, strokes",
        "where things are (spatial layout)",
        "the Gram loss [@gatys2016style] over VGG19 relu1_1..relu5_1{weights}"),
    "adain_style": MetricCard(
        "AdaIN style loss", "difference of per-channel feature means and standard "
        "deviations to the style image", "0 upwards; lower is better", "style statistics",
        "spatial layout", "the AdaIN style loss [@huang2017adain] over VGG19 "
        "relu1_1..relu5_1{weights}"),
    "content_loss": MetricCard(
        "Content loss", "mean squared difference of VGG19 relu4_2 features",
        "0 upwards; lower is better", "content structure", "colour and fine texture",
        "the content loss: mean squared difference of VGG19 relu4_2 features{weights}"),
    "fid_art": MetricCard(
        "FID (art Inception)", "FID between stylizations and style images with ArtFID's "
        "art-trained Inception", "0 upwards; lower is better", "style fidelity of the set",
        "pairing", "FID between the stylizations and the style images with ArtFID's "
        "art-trained Inception-v3 [@wright2022artfid]{weights}"),
    "art_fid": MetricCard(
        "ArtFID", "(1 + mean LPIPS to the content) × (1 + FID to the styles)",
        "1 upwards; lower is better", "both content loss and style mismatch",
        "pairing within the style set",
        "ArtFID = (1 + mean LPIPS)·(1 + FID with ArtFID's Inception) [@wright2022artfid]"),
}

_DINOV2 = ("DINOv2 ViT-L/14 [@oquab2023dinov2] CLS features{weights} (dgm-eval's "
           "preprocessing: Pillow bicubic to 224×224, ImageNet normalisation; Stein et al.'s "
           "recommendation [@stein2023exposing])")
CARDS["fd_dinov2"] = MetricCard(
    "FD (DINOv2)", "the Fréchet distance between Gaussians fitted to the two sets' DINOv2 "
    "features", "0 upwards; lower is better", "set-level differences, judged by a "
    "self-supervised encoder that ranks diffusion models as people do",
    "pairing; biased upwards below 1,024 images per set",
    "the Fréchet distance (FD_DINOv2) on " + _DINOV2)
CARDS["kd_dinov2"] = MetricCard(
    "KD (DINOv2)", "KID's unbiased MMD² (cubic kernel) on DINOv2 features",
    "around 0; lower is better", "set-level differences", "pairing",
    "KID's unbiased MMD² [@binkowski2018kid] on " + _DINOV2)
_CLIP = ("CLIP ViT-L/14-336 [@radford2021clip] image embeddings{weights}, L2-normalised "
         "(CMMD's preprocessing: the centred square crop, Pillow bicubic to 336×336, CLIP's "
         "mean and std)")
CARDS["cmmd"] = MetricCard(
    "CMMD", "the maximum mean discrepancy between the two sets' CLIP embeddings (Gaussian "
    "RBF kernel), with no normality assumption", "0 (equal distributions) upwards; lower "
    "is better", "set-level differences as CLIP sees them, including text-aligned content",
    "pairing; unbiased by sample size in expectation less than FD is (it is the biased "
    "MMD², as the authors define it)",
    "CMMD [@jayasumana2024cmmd]: 1000 × the MMD² with the kernel exp(−‖a − b‖²/(2·10²)) "
    "(google-research/cmmd's `distance.py`, evaluated in float64) on " + _CLIP)
CARDS.update(EMBEDDING_CARDS)
CARDS["fd_clip"] = MetricCard(
    "FD (CLIP)", "the Fréchet distance between Gaussians fitted to the sets' CLIP "
    "embeddings", "0 upwards; lower is better", "set-level differences", "pairing",
    "the Fréchet distance [@heusel2017fid] on " + _CLIP)
CARDS["kd_clip"] = MetricCard(
    "KD (CLIP)", "KID's unbiased MMD² (cubic kernel) on CLIP embeddings",
    "around 0; lower is better", "set-level differences", "pairing",
    "KID's unbiased MMD² [@binkowski2018kid] on " + _CLIP)
for _suffix, _encoder, _features in (("dinov2", "DINOv2", _DINOV2), ("clip", "CLIP", _CLIP)):
    for _name in ("precision", "recall", "density", "coverage", "vendi"):
        _base = CARDS[_name]
        CARDS[f"{_name}_{_suffix}"] = MetricCard(
            f"{_base.title} ({_encoder})", _base.measures.replace("Inception", _encoder),
            _base.range, _base.sensitive, _base.insensitive,
            _base.method.split(" on ")[0].split(" of each")[0] + " on " + _features)

def _fid_details(settings: Mapping[str, Any]) -> str:
    resize = settings.get("fid_resize", "pytorch-fid")
    how = ("resized to 299×299 by bilinear interpolation inside the network "
           "(pytorch-fid's convention)" if resize == "pytorch-fid" else
           "resized to 299×299 per channel in floating point with Pillow's "
           "bicubic filter (clean-fid's convention [@parmar2022cleanfid])")
    return f"{{weights}}, images {how}"


def _kid_details(settings: Mapping[str, Any]) -> str:
    kid = settings.get("kid", {})
    size, subsets = kid.get("subset_size"), kid.get("subsets")
    if size is None:
        return ", over the whole sets"
    drawn = ("on one random subset" if subsets == 1 else
             f"averaged over {subsets} random subsets")
    return f", {drawn} of {size} images per set (seed {kid.get('seed')})"


# how a style run states its metrics (the protocol's wording: content, style, stylization)
_IN_STYLE_RUNS = {
    "lpips_alex": ("LPIPS v0.1 [@zhang2018lpips] (AlexNet backbone{weights}) between each "
                   "content image and its stylization, images scaled to [-1, 1] (ArtFID's "
                   "content term)"),
    "ssim": "SSIM [@wang2004ssim] between content and stylization (scikit-image defaults, RGB)",
    "ssim_gray": "the same SSIM on ITU-R BT.601 luma",
    "cfsd": ("CFSD [@chung2024styleid]: the KL divergence between the row-wise softmaxes of "
             "the relu3_1 patch-similarity matrices (VGG19 [@simonyan2015vgg]{weights}, "
             "features divided by the channel count, similarity, softmax and KL in float64, "
             "summed over all rows) of content and stylization"),
    "gram": ("the Gram loss [@gatys2016style]: the sum over relu1_1, relu2_1, relu3_1, "
             "relu4_1 and relu5_1 of the mean squared difference of the style's and the "
             "stylization's Gram matrices F Fᵀ / (C·H·W)"),
    "adain_style": ("the AdaIN style loss [@huang2017adain]: over the same layers, the mean "
                    "squared differences of per-channel means and of per-channel standard "
                    "deviations (sqrt of unbiased variance + 1e-5)"),
    "content_loss": "the content loss: mean squared difference of relu4_2 features",
    "fid": ("FID [@heusel2017fid] between the set of stylizations and the set of style "
            "images with pytorch-fid's Inception-v3"),
    "fid_art": ("FID between the stylizations and the style images with ArtFID's "
                "art-trained Inception-v3 [@wright2022artfid]{weights}, images at "
                "their own size"),
    "art_fid": "ArtFID = (1 + mean LPIPS)·(1 + FID with ArtFID's Inception) [@wright2022artfid]",
}
for _name, _sentence in _IN_STYLE_RUNS.items():
    CARDS[_name] = replace(CARDS[_name], in_style_runs=_sentence)
CARDS["ssim"] = replace(CARDS["ssim"], convention="ssim_convention",
                        by_convention=SSIM_SENTENCES)
CARDS["fid_art"] = replace(CARDS["fid_art"], convention="art_fid_mode", by_convention={
    "infinity": _IN_STYLE_RUNS["fid_art"] + "; FID is FID∞ [@chong2020fidinf], extrapolated "
                "from subsets of 5,000 images upwards"})
CARDS["fid"] = replace(CARDS["fid"], details=_fid_details)
CARDS["kid"] = replace(CARDS["kid"], details=_kid_details)

for _name, _sentence in MATLAB_SENTENCES.items():
    CARDS[_name] = replace(CARDS[_name], convention="convention",
                           by_convention={"matlab": _sentence})
CARDS["ms_ssim"] = replace(CARDS["ms_ssim"], convention="ms_ssim_convention",
                         by_convention=MS_SSIM_SENTENCES)

# Spearman's rank correlation with human scores on the full-reference benchmarks, as piq
# 0.8.0 measured it with its implementations — which likeness equals in the piq convention
# (its README's "Benchmark" table, the "PIQ" column; docs/metrics.md shows them)
_PIQ_BENCHMARK = ("piq 0.8.0's README benchmark table, measured with piq's implementations: "
                  "likeness's piq convention; its default SSIM and MS-SSIM differ slightly")
_SRCC = {  # metric: (TID2013, KADID-10k, PIPAL)
    "psnr": (0.69, 0.68, 0.41), "ssim": (0.72, 0.72, 0.50), "ms_ssim": (0.80, 0.80, 0.55),
    "iw_ssim": (0.78, 0.85, 0.60), "vif_p": (0.61, 0.65, 0.50), "fsim": (0.80, 0.83, 0.59),
    "fsimc": (0.85, 0.85, 0.59), "sr_sim": (0.81, 0.84, 0.57), "gmsd": (0.80, 0.85, 0.58),
    "vsi": (0.90, 0.88, 0.54), "dss": (0.79, 0.86, 0.63), "haarpsi": (0.87, 0.89, 0.59),
    "mdsi": (0.89, 0.89, 0.59), "ms_gmsd": (0.81, 0.85, 0.59), "lpips_vgg": (0.67, 0.72, 0.57),
    "dists": (0.81, 0.88, 0.62),
}
for _name, _values in _SRCC.items():
    if _name in CARDS:
        CARDS[_name] = replace(CARDS[_name], agreement=dict(zip(
            ("TID2013", "KADID-10k", "PIPAL"), _values, strict=True)),
            agreement_source=_PIQ_BENCHMARK)

