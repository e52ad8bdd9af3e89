"""The built-in metrics: one ``MetricSpec`` entry each — what it consumes, its cache key,
direction, citations, labels, digits, spread, conventions — with its card
(``cards.py``).  ``registry`` serves them (names, help, parsing) and adds metrics at run
time (``register_metric``)."""

from __future__ import annotations

from dataclasses import replace

from likeness.evaluation.catalog.cards import CARDS
from likeness.evaluation.catalog.classical_metrics import CLASSICAL_METRICS
from likeness.evaluation.catalog.feature_metrics import (
    adain_use,
    aesthetic_use,
    cfsd_use,
    clip_direction_use,
    clip_i_use,
    clip_t_uses,
    content_loss_use,
    csd_use,
    dino_use,
    dists_use,
    gram_use,
    lpips_use,
)
from likeness.evaluation.catalog.metric_spec import MetricSpec
from likeness.evaluation.catalog.metric_values import (
    art_fid_combined,
    art_fid_sizes,
    art_fid_value,
    cmmd_value,
    frechet_sizes,
    frechet_value,
    inception_score_sizes,
    inception_score_value,
    kid_sizes,
    kid_value,
    ms_ssim_on_device,
    ms_ssim_value,
    mse_on_device,
    mse_value,
    nearest_neighbour_sizes,
    nearest_neighbour_value,
    psnr_on_device,
    psnr_value,
    ssim_map,
    ssim_on_device,
    ssim_value,
    vendi_value,
)

__all__ = ["METRICS"]

_STYLE_KEY = ("resize", "alpha")
# the FID Inception's features: the resize convention is part of the value
_FID_KEY = ("fid_resize", "alpha")
_CLEAN_FID = {"fid_resize": {"clean": ("parmar2022cleanfid",)}}
# the convention decides how Y is computed too (rounded under ``matlab``)
_RESTORATION_KEY = ("gray", "resize", "alpha", "y_channel", "crop_border", "ssim_convention")
# the SSIM conventions with Gaussian windows or float64 maps take more than scikit-image's
_SSIM_MEMORY = ("ssim_convention", {"wang2004": 165, "pytorch-msssim": 125,
                                    "torchmetrics": 155})

METRICS: dict[str, MetricSpec] = {
    "ssim": MetricSpec("ssim", "higher",
                       "SSIM, scikit-image defaults (7x7 uniform window, sample covariance)",
                       commands=("compare", "style"), pixels=ssim_value, map=ssim_map,
                       on_device=ssim_on_device, restoration=True,
                       key_settings=_RESTORATION_KEY,
                       citations=("wang2004ssim", "vanderwalt2014skimage"), label="SSIM",
                       bytes_per_pixel=75, bytes_per_pixel_by=_SSIM_MEMORY),
    "psnr": MetricSpec("psnr", "higher", "PSNR in dB (scikit-image)", pixels=psnr_value,
                       on_device=psnr_on_device, restoration=True, key_settings=_RESTORATION_KEY,
                       citations=("vanderwalt2014skimage",),
                       infinite_when="identical images (MSE 0) have PSNR +inf, as in "
                                     "scikit-image", label="PSNR", digits=2,
                       bytes_per_pixel=75),
    "mse": MetricSpec("mse", "lower", "mean squared error (scikit-image), in squared "
                      "pixel values on the pair's data range (not normalised to [0, 1])",
                      pixels=mse_value, on_device=mse_on_device, scale_dependent=True,
                      scale_unit="squared pixel values",
                      restoration=True, key_settings=_RESTORATION_KEY,
                      citations=("vanderwalt2014skimage",), label="MSE", digits=2,
                      bytes_per_pixel=75),
    "ms_ssim": MetricSpec("ms_ssim", "higher",
                          "MS-SSIM, pytorch-msssim defaults (5 scales, 11-tap gaussian)",
                          pixels=ms_ssim_value, on_device=ms_ssim_on_device,
                          restoration=True,
                          key_settings=(*_RESTORATION_KEY, "ms_ssim_convention"),
                          cited_when={"ms_ssim_convention": {"piq": ("kastryulin2022piq",)}},
                          citations=("wang2003msssim",), label="MS-SSIM",
                          bytes_per_pixel=190),
    **CLASSICAL_METRICS,
    **{f"lpips_{net}": MetricSpec(f"lpips_{net}", "lower",
                                  f"LPIPS v0.1, {backbone} backbone (lpips package)",
                                  commands=("compare", "style") if net == "alex"
                                  else ("compare",), features=lpips_use(net),
                                  citations=("zhang2018lpips", paper),
                                  label=f"LPIPS ({net})")
       for net, backbone, paper in (("alex", "AlexNet", "krizhevsky2012alexnet"),
                                    ("vgg", "VGG16", "simonyan2015vgg"),
                                    ("squeeze", "SqueezeNet 1.1", "iandola2016squeezenet"))},
    "dists": MetricSpec("dists", "lower",
                        "DISTS: structure and texture similarity of VGG16 features with L2 "
                        "pooling (DISTS_pytorch weights, no resizing)",
                        commands=("compare", "style"), features=dists_use,
                        citations=("ding2022dists", "simonyan2015vgg"), label="DISTS"),
    "clip_i": MetricSpec("clip_i", "higher",
                         "CLIP-I: the cosine of the CLIP ViT-B/32 image embeddings of the "
                         "output and its reference (OpenAI's preprocessing)",
                         commands=("compare", "style"), features=clip_i_use,
                         citations=("radford2021clip", "ruiz2023dreambooth"), label="CLIP-I"),
    "clip_t": MetricSpec("clip_t", "higher",
                         "CLIP-T: how well each output shows its prompt, to CLIP (CLIP-S on "
                         "ViT-B/32 by default)",
                         commands=("compare", "style"), images=("prompt", "test"),
                         features=clip_t_uses()["hessel"],
                         features_by=("clip_t_convention", clip_t_uses()),
                         key_settings=("gray", "resize", "alpha", "clip_t_convention"),
                         citations=("radford2021clip",),
                         cited_when={"clip_t_convention": {
                             "hessel": ("hessel2021clipscore",),
                             "torchmetrics": ("detlefsen2022torchmetrics",),
                             "cosine": ("ruiz2023dreambooth",)}},
                         label="CLIP-T"),
    "clip_direction": MetricSpec("clip_direction", "higher",
                                 "directional CLIP similarity: the cosine of the image "
                                 "embedding's change (reference to output) and the text "
                                 "embedding's change (source prompt to prompt), ViT-B/32",
                                 commands=("compare", "style"), features=clip_direction_use,
                                 citations=("radford2021clip", "gal2022stylegannada"),
                                 label="CLIP-Dir"),
    "csd": MetricSpec("csd", "higher",
                      "CSD style similarity: the cosine of the CSD ViT-L style descriptors "
                      "of the output and its style image (its reference in compare runs)",
                      commands=("compare", "style"), images=("style", "test"),
                      features=csd_use, citations=("somepalli2024csd",), label="CSD"),
    "aesthetic": MetricSpec("aesthetic", "higher",
                            "aesthetic score: the LAION aesthetic predictor v2 on the "
                            "output's CLIP ViT-L/14 embedding",
                            commands=("compare", "style"), images=("none", "test"),
                            features=aesthetic_use,
                            citations=("schuhmann2022aesthetic", "radford2021clip"),
                            label="Aesthetic", digits=3),
    "dino": MetricSpec("dino", "higher",
                       "DINO score: the cosine of the DINO ViT-S/16 CLS features of the "
                       "output and its reference (the DINO repository's evaluation transform)",
                       commands=("compare", "style"), features=dino_use,
                       citations=("caron2021dino", "ruiz2023dreambooth"), label="DINO"),
    "fid": MetricSpec("fid", "lower",
                      "FID between the model's images and the references (pytorch-fid)",
                      commands=("compare", "style"), set_value=frechet_value,
                      set_sizes=frechet_sizes,
                      set_network="pt_inception", key_settings=_FID_KEY, cited_when=_CLEAN_FID,
                      citations=("heusel2017fid", "szegedy2016inception",
                                 "seitzer2020pytorchfid"), label="FID", digits=2),
    "kid": MetricSpec("kid", "lower",
                      "KID between the model's images and the references (torch-fidelity)",
                      set_value=kid_value, set_sizes=kid_sizes, set_network="pt_inception",
                      key_settings=_FID_KEY, cited_when=_CLEAN_FID,
                      citations=("binkowski2018kid", "szegedy2016inception"),
                      label="KID", scientific=True, spread="std"),
    **{name: MetricSpec(name, "higher",
                        f"{label} (k = {k}) of the model's Inception pool features against "
                        "the references' (prdc)", set_value=nearest_neighbour_value(name, k),
                        set_sizes=nearest_neighbour_sizes(k),
                        set_network="pt_inception", key_settings=_FID_KEY, cited_when=_CLEAN_FID,
                        citations=(paper, "szegedy2016inception"), label=label.capitalize())
       for name, label, k, paper in (
           ("precision", "precision", 3, "kynkaanniemi2019precision"),
           ("recall", "recall", 3, "kynkaanniemi2019precision"),
           ("density", "density", 5, "naeem2020prdc"),
           ("coverage", "coverage", 5, "naeem2020prdc"))},
    # the same set metrics on DINOv2 ViT-L/14 features (Stein et al. 2023's recommendation)
    "fd_dinov2": MetricSpec("fd_dinov2", "lower",
                            "Fréchet distance of DINOv2 ViT-L/14 CLS features (dgm-eval's "
                            "FD_DINOv2)", set_value=frechet_value, set_sizes=frechet_sizes,
                            set_network="dinov2_vitl14",
                            key_settings=("alpha",),
                            citations=("stein2023exposing", "oquab2023dinov2"),
                            label="FD (DINOv2)", latex=r"FD$_\text{DINOv2}$", digits=2),
    "kd_dinov2": MetricSpec("kd_dinov2", "lower",
                            "KID's unbiased MMD² on DINOv2 ViT-L/14 CLS features",
                            set_value=kid_value, set_sizes=kid_sizes, set_network="dinov2_vitl14",
                            key_settings=("alpha",),
                            citations=("binkowski2018kid", "oquab2023dinov2",
                                       "stein2023exposing"),
                            label="KD (DINOv2)", latex=r"KD$_\text{DINOv2}$", scientific=True,
                            spread="std"),
    # precision, recall, density, coverage and Vendi on the other encoders' features
    **{f"{name}_{suffix}": MetricSpec(
        f"{name}_{suffix}", "higher",
        f"{name} (k = {k}) on {label} (prdc)" if k else
        f"Vendi score (q = 1, cosine kernel) of {label}",
        set_value=nearest_neighbour_value(name, k) if k else vendi_value,
        set_sizes=nearest_neighbour_sizes(k) if k else None,
        set_network=network, key_settings=("alpha",), citations=(paper, *papers),
        label=f"{name.capitalize()} ({encoder})",
        latex=f"{name.capitalize()}$_\\text{{{encoder}}}$", digits=4 if k else 2)
       for suffix, network, label, encoder, papers in (
           ("dinov2", "dinov2_vitl14", "DINOv2 ViT-L/14 CLS features", "DINOv2",
            ("oquab2023dinov2", "stein2023exposing")),
           ("clip", "clip_vit_l14_336", "CLIP ViT-L/14-336 embeddings", "CLIP",
            ("radford2021clip",)))
       for name, k, paper in (("precision", 3, "kynkaanniemi2019precision"),
                              ("recall", 3, "kynkaanniemi2019precision"),
                              ("density", 5, "naeem2020prdc"),
                              ("coverage", 5, "naeem2020prdc"),
                              ("vendi", 0, "friedman2023vendi"))},
    # CLIP ViT-L/14-336 embeddings (Jayasumana et al. 2024)
    "cmmd": MetricSpec("cmmd", "lower",
                       "CMMD: 1000 x MMD² with a gaussian RBF kernel (sigma 10) of CLIP "
                       "ViT-L/14-336 embeddings (google-research/cmmd), float64",
                       set_value=cmmd_value, set_network="clip_vit_l14_336",
                       key_settings=("alpha",),
                       citations=("jayasumana2024cmmd", "radford2021clip"), label="CMMD",
                       digits=3),
    "fd_clip": MetricSpec("fd_clip", "lower",
                          "Fréchet distance of CLIP ViT-L/14-336 embeddings",
                          set_value=frechet_value, set_sizes=frechet_sizes,
                          set_network="clip_vit_l14_336",
                          key_settings=("alpha",),
                          citations=("heusel2017fid", "radford2021clip"),
                          label="FD (CLIP)", latex=r"FD$_\text{CLIP}$", digits=2),
    "kd_clip": MetricSpec("kd_clip", "lower",
                          "KID's unbiased MMD² on CLIP ViT-L/14-336 embeddings",
                          set_value=kid_value, set_sizes=kid_sizes, set_network="clip_vit_l14_336",
                          key_settings=("alpha",),
                          citations=("binkowski2018kid", "radford2021clip"),
                          label="KD (CLIP)", latex=r"KD$_\text{CLIP}$", scientific=True,
                          spread="std"),
    "vendi": MetricSpec("vendi", "higher",
                        "Vendi score (q = 1, cosine kernel) of the model's Inception pool "
                        "features: the effective number of distinct images",
                        set_value=vendi_value, set_network="pt_inception",
                        key_settings=_FID_KEY, cited_when=_CLEAN_FID,
                        citations=("friedman2023vendi", "szegedy2016inception"),
                        label="Vendi", digits=2),
    "inception_score": MetricSpec("inception_score", "higher",
                                  "Inception Score of the model's images (torch-fidelity: "
                                  "TF1 bilinear resize of uint8, logits without bias, 10 "
                                  "splits, seed 2020); mean and std over splits",
                                  set_value=inception_score_value,
                                  set_sizes=inception_score_sizes, set_network="isc_inception",
                                  key_settings=("alpha",),
                                  citations=("salimans2016improved", "szegedy2016inception",
                                             "obukhov2020torchfidelity"),
                                  label="IS", digits=2, spread="std"),
    "ssim_gray": MetricSpec("ssim_gray", "higher",
                            "SSIM of ITU-R 601 luma, scikit-image defaults",
                            commands=("style",), pixels=ssim_value, map=ssim_map, luma=True,
                            on_device=ssim_on_device,
                            key_settings=_STYLE_KEY,
                            citations=("wang2004ssim", "vanderwalt2014skimage"),
                            label="SSIM (gray)", bytes_per_pixel=75,
                            bytes_per_pixel_by=_SSIM_MEMORY),
    "cfsd": MetricSpec("cfsd", "lower",
                       "CFSD (StyleID): KL of relu3_1 patch-similarity softmaxes, VGG19",
                       commands=("style",), features=cfsd_use,
                       key_settings=(*_STYLE_KEY, "cfsd_max_pixels"),
                       citations=("chung2024styleid", "simonyan2015vgg"), label="CFSD",
                       scientific=True),
    "gram": MetricSpec("gram", "lower", "Gram-matrix style loss over VGG19 relu1_1..relu5_1",
                       commands=("style",), images=("style", "test"), features=gram_use,
                       key_settings=_STYLE_KEY,
                       citations=("gatys2016style", "simonyan2015vgg"), label="Gram",
                       scientific=True),
    "adain_style": MetricSpec("adain_style", "lower",
                              "AdaIN mean/std style loss over VGG19 relu1_1..relu5_1",
                              commands=("style",), images=("style", "test"),
                              features=adain_use, key_settings=_STYLE_KEY,
                              citations=("huang2017adain", "simonyan2015vgg"),
                              label="AdaIN style"),
    "content_loss": MetricSpec("content_loss", "lower",
                               "content loss, MSE of VGG19 relu4_2 features",
                               commands=("style",), features=content_loss_use,
                               key_settings=_STYLE_KEY,
                               citations=("gatys2016style", "simonyan2015vgg"),
                               label="Content loss"),
    "fid_art": MetricSpec("fid_art", "lower",
                          "FID between the stylized and the style set, ArtFID's Inception",
                          commands=("style",), set_value=art_fid_value, set_sizes=art_fid_sizes,
                          set_network="art_inception", key_settings=("art_fid_mode", "alpha"),
                          cited_when={"art_fid_mode": {"infinity": ("chong2020fidinf",)}},
                          citations=("wright2022artfid", "heusel2017fid"),
                          label="FID (art)", digits=2),
    "art_fid": MetricSpec("art_fid", "lower",
                          "ArtFID = (1 + mean LPIPS) (1 + FID with ArtFID's Inception)",
                          commands=("style",), needs=("fid_art", "lpips_alex"),
                          combine=art_fid_combined,
                          set_network="art_inception",
                          citations=("wright2022artfid", "zhang2018lpips"), label="ArtFID",
                          digits=2),
}
# each entry with its card (catalog/cards.py); a metric registered at run time brings its own
METRICS.update({name: replace(spec, card=spec.card or CARDS.get(name))
                for name, spec in METRICS.items()})
