"""likeness: how alike images are, measured exactly as the reference implementations do.

The public API; every name in ``__all__`` is stable and tested.  Names are imported on
first use, so that ``import likeness`` (and the command line's ``--help``) does not pay
for torch until a metric needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from likeness.errors import (
    DecisionWarning,
    ImageLoadError,
    ImageMismatchError,
    ImageTooSmallError,
    InvalidInputError,
    InvalidInputTypeError,
    LikenessError,
    PairingError,
    ScaleWarning,
    StorageError,
    UnsupportedImageError,
    WeightsError,
)

if TYPE_CHECKING:
    from likeness.evaluation.catalog.metric_spec import MetricCard, MetricSpec
    from likeness.evaluation.catalog.registry import register_metric, unregister_metric
    from likeness.io import LoadedImage, find_images, load_image, pair_folders
    from likeness.metrics.catalogue import (
        DSSLoss,
        FSIMLoss,
        GMSDLoss,
        HaarPSILoss,
        InformationWeightedSSIMLoss,
        MDSILoss,
        MultiScaleGMSDLoss,
        SRSIMLoss,
        VIFLoss,
        VSILoss,
        cw_ssim,
        dss,
        fsim,
        gmsd,
        haarpsi,
        information_weighted_ssim,
        mdsi,
        multi_scale_gmsd,
        nlpd,
        srsim,
        vif,
        vif_p,
        vsi,
    )
    from likeness.metrics.fid import frechet_distance
    from likeness.metrics.kid import kid
    from likeness.metrics.ms_ssim import ms_ssim
    from likeness.metrics.psnr import psnr
    from likeness.metrics.skimage_compat import (
        mean_squared_error,
        peak_signal_noise_ratio,
        structural_similarity,
    )
    from likeness.metrics.ssim import SSIM_CONVENTIONS, ssim
    from likeness.nets.aesthetic import AestheticPredictor, aesthetic_score
    from likeness.nets.clip import ClipModel
    from likeness.nets.clip_metrics import (
        clip_directional_similarity,
        clip_image_similarity,
        clip_score,
    )
    from likeness.nets.csd import Csd, csd_similarity
    from likeness.nets.inception_features import InceptionFeatures
    from likeness.nets.lpips import LPIPS, lpips
    from likeness.results.frames import Results
    from likeness.runs.accumulator import Accumulator
    from likeness.runs.compare import compare
    from likeness.runs.fid import fid, kid_folders
    from likeness.runs.ratings import analyze_rating_study
    from likeness.runs.report import write_report
    from likeness.runs.single import compare_files, compare_folders
    from likeness.runs.study import analyze_study
    from likeness.runs.style import evaluate_style
    from likeness.runs.tensors import compare_tensors
    from likeness.study.folder import create_study, open_study

from likeness._version import __version__  # noqa: E402  (one source: _version.py)

_LAZY = {
    "Accumulator": "likeness.runs.accumulator",
    "compare_tensors": "likeness.runs.tensors",
    "evaluate_style": "likeness.runs.style",
    "compare": "likeness.runs.compare",
    "analyze_study": "likeness.runs.study",
    "analyze_rating_study": "likeness.runs.ratings",
    "ClipModel": "likeness.nets.clip",
    "Csd": "likeness.nets.csd",
    "csd_similarity": "likeness.nets.csd",
    "AestheticPredictor": "likeness.nets.aesthetic",
    "aesthetic_score": "likeness.nets.aesthetic",
    "clip_directional_similarity": "likeness.nets.clip_metrics",
    "clip_image_similarity": "likeness.nets.clip_metrics",
    "clip_score": "likeness.nets.clip_metrics",
    "create_study": "likeness.study.folder",
    "open_study": "likeness.study.folder",
    "Results": "likeness.results.frames",
    "write_report": "likeness.runs.report",
    "fid": "likeness.runs.fid",
    "kid_folders": "likeness.runs.fid",
    "DSSLoss": "likeness.metrics.catalogue",
    "FSIMLoss": "likeness.metrics.catalogue",
    "GMSDLoss": "likeness.metrics.catalogue",
    "HaarPSILoss": "likeness.metrics.catalogue",
    "InformationWeightedSSIMLoss": "likeness.metrics.catalogue",
    "MDSILoss": "likeness.metrics.catalogue",
    "MultiScaleGMSDLoss": "likeness.metrics.catalogue",
    "SRSIMLoss": "likeness.metrics.catalogue",
    "VIFLoss": "likeness.metrics.catalogue",
    "VSILoss": "likeness.metrics.catalogue",
    "cw_ssim": "likeness.metrics.catalogue",
    "dss": "likeness.metrics.catalogue",
    "fsim": "likeness.metrics.catalogue",
    "gmsd": "likeness.metrics.catalogue",
    "haarpsi": "likeness.metrics.catalogue",
    "information_weighted_ssim": "likeness.metrics.catalogue",
    "mdsi": "likeness.metrics.catalogue",
    "multi_scale_gmsd": "likeness.metrics.catalogue",
    "nlpd": "likeness.metrics.catalogue",
    "srsim": "likeness.metrics.catalogue",
    "vif": "likeness.metrics.catalogue",
    "vif_p": "likeness.metrics.catalogue",
    "vsi": "likeness.metrics.catalogue",
    "frechet_distance": "likeness.metrics.fid",
    "kid": "likeness.metrics.kid",
    "InceptionFeatures": "likeness.nets.inception_features",
    "MetricCard": "likeness.evaluation.catalog.metric_spec",
    "MetricSpec": "likeness.evaluation.catalog.metric_spec",
    "register_metric": "likeness.evaluation.catalog.registry",
    "unregister_metric": "likeness.evaluation.catalog.registry",
    "compare_files": "likeness.runs.single",
    "compare_folders": "likeness.runs.single",
    "LoadedImage": "likeness.io",
    "find_images": "likeness.io",
    "load_image": "likeness.io",
    "pair_folders": "likeness.io",
    "ms_ssim": "likeness.metrics.ms_ssim",
    "LPIPS": "likeness.nets.lpips",
    "lpips": "likeness.nets.lpips",
    "psnr": "likeness.metrics.psnr",
    "mean_squared_error": "likeness.metrics.skimage_compat",
    "peak_signal_noise_ratio": "likeness.metrics.skimage_compat",
    "structural_similarity": "likeness.metrics.skimage_compat",
    "SSIM_CONVENTIONS": "likeness.metrics.ssim",
    "ssim": "likeness.metrics.ssim",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'likeness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AestheticPredictor",
    "ClipModel",
    "Csd",
    "LPIPS",
    "SSIM_CONVENTIONS",
    "Accumulator",
    "DSSLoss",
    "FSIMLoss",
    "GMSDLoss",
    "HaarPSILoss",
    "DecisionWarning",
    "ImageLoadError",
    "ImageMismatchError",
    "ImageTooSmallError",
    "InceptionFeatures",
    "InformationWeightedSSIMLoss",
    "InvalidInputError",
    "InvalidInputTypeError",
    "LikenessError",
    "LoadedImage",
    "MDSILoss",
    "MetricCard",
    "MetricSpec",
    "MultiScaleGMSDLoss",
    "PairingError",
    "ScaleWarning",
    "Results",
    "SRSIMLoss",
    "StorageError",
    "UnsupportedImageError",
    "VIFLoss",
    "VSILoss",
    "WeightsError",
    "__version__",
    "aesthetic_score",
    "analyze_rating_study",
    "analyze_study",
    "clip_directional_similarity",
    "clip_image_similarity",
    "clip_score",
    "compare",
    "compare_files",
    "compare_folders",
    "compare_tensors",
    "csd_similarity",
    "create_study",
    "cw_ssim",
    "dss",
    "evaluate_style",
    "fid",
    "find_images",
    "frechet_distance",
    "fsim",
    "gmsd",
    "haarpsi",
    "information_weighted_ssim",
    "kid",
    "kid_folders",
    "load_image",
    "lpips",
    "mdsi",
    "mean_squared_error",
    "ms_ssim",
    "multi_scale_gmsd",
    "nlpd",
    "open_study",
    "pair_folders",
    "peak_signal_noise_ratio",
    "psnr",
    "register_metric",
    "srsim",
    "ssim",
    "structural_similarity",
    "unregister_metric",
    "vif",
    "vif_p",
    "vsi",
    "write_report",
]
