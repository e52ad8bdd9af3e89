"""The catalog's named sets of metrics: what each command computes when none are named,
the other spellings of a metric the command line and the API accept, and the distance
each ``likeness fid --encoder`` gives.  Plain data, so that the command line reads it
without loading the registry (and NumPy) for ``--help``."""

from __future__ import annotations

__all__ = ["CONVENTIONS", "DEFAULT_METRICS", "FID_ENCODERS", "METRIC_ALIASES",
           "STYLE_PROTOCOLS"]

# other spellings the command line and the API accept
METRIC_ALIASES = {"lpips": "lpips_alex"}
# what each command computes when no metrics are named
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "compare": ("ssim", "psnr"),
    "style": ("art_fid", "fid_art", "fid", "lpips_alex", "cfsd", "gram", "adain_style",
              "content_loss", "ssim", "ssim_gray"),
    # the map a report shows when none of the run's metrics has one of the pixels
    "report": ("ssim",),
}
# ``likeness style --protocol``: the metrics the style-transfer papers of a period report
# together — 2023: ArtFID, its FID (ArtFID's Inception), LPIPS and CFSD, as StyleID
# (Chung et al. 2024) tabulates them; 2024: and CSD, the DINO score, CLIP-I and CLIP-T of
# the diffusion-based and text-guided papers
STYLE_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "2023": ("art_fid", "fid_art", "lpips_alex", "cfsd"),
    "2024": ("art_fid", "fid_art", "lpips_alex", "cfsd", "csd", "dino", "clip_i", "clip_t"),
}
# the named conventions a run accepts, per setting (the first is the default); the cards
# state each (``MetricCard.by_convention``), the command line offers them as choices
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "ssim_convention": ("skimage", "wang2004", "pytorch-msssim", "basicsr", "matlab",
                        "torchmetrics"),
    "fid_resize": ("pytorch-fid", "clean"),
    "art_fid_mode": ("plain", "infinity"),
    "convention": ("piq", "matlab"),
    "ms_ssim_convention": ("pytorch-msssim", "piq", "torchmetrics", "matlab", "matlab-wtd-sum"),
    "clip_t_convention": ("hessel", "torchmetrics", "cosine"),
}
# ``likeness fid --encoder`` / ``likeness.fid(encoder=)``: the Fréchet distance each gives
FID_ENCODERS = {"inception": "fid", "dinov2": "fd_dinov2", "clip": "fd_clip"}
