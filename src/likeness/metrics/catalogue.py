"""The classical full-reference metrics with piq's call shape: top-level functions
(``likeness.gmsd(x, y, reduction="mean", data_range=1.0)``, …) and ``nn.Module`` losses
(``likeness.GMSDLoss()``, …), argument names, defaults and reductions as piq 0.8 has them,
so that code written for piq runs unchanged.

The values are likeness's (``likeness.metrics.<module>``: one value per image, each image
checked by the one input check); ``reduction`` is ``"mean"`` (piq's default), ``"sum"`` or
``"none"`` over the batch.  The losses are piq's: the value itself for metrics where lower
is better (GMSD, MS-GMSD, MDSI), ``1 − value`` for the others — clamped to [0, 1] first
where piq clamps (VIFp, FSIM, SR-SIM, DSS).  GMSD, MS-GMSD (MS-GMSDc too), MDSI, VSI,
SR-SIM, DSS, VIFp, FSIM, IW-SSIM and HaarPSI (``scales`` 3 only: piq's NaN or failure
otherwise) take every argument piq's take (a similarity's constant, which keeps flat
regions from 0 / 0, must be positive); ``chromatic=True`` of SR-SIM (piq's extension, not
the paper's) is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from likeness.arguments import check_flags
from likeness.errors import InvalidInputError, UnsupportedImageError
from likeness.metrics import cw_ssim as _cw_ssim
from likeness.metrics import dss as _dss
from likeness.metrics import fsim as _fsim
from likeness.metrics import gmsd as _gmsd
from likeness.metrics import haarpsi as _haarpsi
from likeness.metrics import iw_ssim as _iw_ssim
from likeness.metrics import mdsi as _mdsi
from likeness.metrics import nlpd as _nlpd
from likeness.metrics import srsim as _srsim
from likeness.metrics import vif as _vif
from likeness.metrics import vif_wavelet as _vif_wavelet
from likeness.metrics import vsi as _vsi

__all__ = ["DSSLoss", "FSIMLoss", "GMSDLoss", "HaarPSILoss", "InformationWeightedSSIMLoss",
           "MDSILoss", "MultiScaleGMSDLoss", "SRSIMLoss", "VIFLoss", "VSILoss", "cw_ssim", "dss",
           "fsim", "gmsd", "haarpsi", "information_weighted_ssim", "mdsi", "multi_scale_gmsd",
           "nlpd", "srsim", "vif", "vif_p", "vsi"]


def reduce(values: Tensor, reduction: str) -> Tensor:
    """piq's reduction of per-image values over the batch."""
    if reduction == "none":
        return values
    if reduction == "mean":
        return values.mean(dim=0)
    if reduction == "sum":
        return values.sum(dim=0)
    raise InvalidInputError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def gmsd(x: Tensor, y: Tensor, reduction: str = "mean", data_range: float = 1.0,
         t: float = 170 / (255.0**2), *, convention: str = "piq") -> Tensor:
    """GMSD as ``piq.gmsd`` (lower is better), or as the authors' ``GMSD.m`` with
    ``convention="matlab"``; see ``likeness.metrics.gmsd``."""
    return reduce(_gmsd.gmsd(x, y, data_range=data_range, t=t, convention=convention),
                  reduction)


def multi_scale_gmsd(x: Tensor, y: Tensor, data_range: float = 1.0, reduction: str = "mean",
                     scale_weights: Tensor | None = None, chromatic: bool = False,
                     alpha: float = 0.5, beta1: float = 0.01, beta2: float = 0.32,
                     beta3: float = 15.0, t: float = 170.0, *,
                     convention: str = "piq") -> Tensor:
    """MS-GMSD as ``piq.multi_scale_gmsd`` (lower is better) — MS-GMSDc with
    ``chromatic=True`` —; ``convention="matlab"``: MATLAB's ``std2``."""
    return reduce(_gmsd.ms_gmsd(x, y, data_range=data_range, alpha=alpha, t=t,
                                scale_weights=scale_weights, chromatic=chromatic,
                                beta1=beta1, beta2=beta2, beta3=beta3,
                                convention=convention), reduction)


def vif_p(x: Tensor, y: Tensor, sigma_n_sq: float = 2.0, data_range: float = 1.0,
          reduction: str = "mean", *, convention: str = "piq") -> Tensor:
    """VIFp as ``piq.vif_p`` (higher is better); ``convention="matlab"``: colour through
    MATLAB's ``rgb2gray``, as ``vifp_mscale.m`` is given it."""
    return reduce(_vif.vif_p(x, y, data_range=data_range, sigma_n_sq=sigma_n_sq,
                             convention=convention), reduction)


def cw_ssim(x: Tensor, y: Tensor, data_range: float = 1.0, reduction: str = "mean", *,
            levels: int = 4, orientations: int = 8, k: float = 0.0) -> Tensor:
    """Complex-wavelet SSIM as Sampat, Wang et al.'s ``cwssim_index.m`` computes it (higher
    is better); piq has no such function."""
    return reduce(_cw_ssim.cw_ssim(x, y, data_range=data_range, levels=levels,
                                   orientations=orientations, k=k), reduction)


def vif(x: Tensor, y: Tensor, data_range: float = 1.0, reduction: str = "mean") -> Tensor:
    """VIF in the wavelet domain as Sheikh & Bovik's ``vifvec.m`` computes it (higher is
    better; x distorted, y reference).  piq has no such function: its ``vif_p`` is the
    pixel-domain VIFp (``likeness.vif_p``)."""
    return reduce(_vif_wavelet.vif(x, y, data_range=data_range), reduction)


def nlpd(x: Tensor, y: Tensor, data_range: float = 1.0, reduction: str = "mean") -> Tensor:
    """The normalized Laplacian pyramid distance as Laparra et al.'s ``NLP_dist.m``
    computes it (lower is better; symmetric); piq has no such function.  Differentiable,
    with a finite gradient everywhere (a loss as it is)."""
    return reduce(_nlpd.nlpd(x, y, data_range=data_range), reduction)


def mdsi(x: Tensor, y: Tensor, data_range: float = 1.0, reduction: str = "mean",
         c1: float = 140.0, c2: float = 55.0, c3: float = 550.0, combination: str = "sum",
         alpha: float = 0.6, beta: float = 0.1, gamma: float = 0.2, rho: float = 1.0,
         q: float = 0.25, o: float = 0.25, *, convention: str = "piq") -> Tensor:
    """MDSI as ``piq.mdsi`` (lower is better), or as ``MDSI.m`` with
    ``convention="matlab"`` (the ``"sum"`` combination)."""
    return reduce(_mdsi.mdsi(x, y, data_range=data_range, c1=c1, c2=c2, c3=c3,
                             combination=combination, alpha=alpha, beta=beta, gamma=gamma,
                             rho=rho, q=q, o=o, convention=convention), reduction)


def haarpsi(x: Tensor, y: Tensor, reduction: str = "mean", data_range: float = 1.0,
            scales: int = 3, subsample: bool = True, c: float = 30.0, alpha: float = 4.2, *,
            convention: str = "piq") -> Tensor:
    """HaarPSI as ``piq.haarpsi`` (higher is better), or as ``HaarPSI.m`` with
    ``convention="matlab"``; ``scales`` 3 only (see ``likeness.metrics.haarpsi``)."""
    return reduce(_haarpsi.haarpsi(x, y, data_range=data_range, scales=scales,
                                   subsample=subsample, c=c, alpha=alpha,
                                   convention=convention), reduction)


def fsim(x: Tensor, y: Tensor, reduction: str = "mean", data_range: float = 1.0,
         chromatic: bool = True, scales: int = 4, orientations: int = 4, min_length: int = 6,
         mult: int = 2, sigma_f: float = 0.55, delta_theta: float = 1.2, k: float = 2.0, *,
         convention: str = "piq") -> Tensor:
    """FSIM — FSIMc with ``chromatic=True``, piq's default, which needs RGB — as
    ``piq.fsim`` (higher is better), or as ``FeatureSIM.m`` with ``convention="matlab"``;
    phase congruency's settings as piq's (see ``likeness.metrics.fsim``)."""
    check_flags(chromatic=chromatic)  # "no" is truthy: it was taken as FSIMc
    channels = x.shape[1] if isinstance(x, Tensor) and not x.is_nested and x.ndim == 4 \
        else 3  # the other inputs are refused by the batch checks
    if chromatic and channels != 3:  # in this call's words, not the CLI's
        raise UnsupportedImageError(
            f"fsim with chromatic=True (FSIMc, piq's default) compares colour: it needs RGB "
            f"images (N, 3, H, W), got {x.shape[1]}-channel images; pass chromatic=False for "
            f"gray images")
    function = _fsim.fsimc if chromatic else _fsim.fsim
    return reduce(function(x, y, data_range=data_range, convention=convention, scales=scales,
                           orientations=orientations, min_length=min_length, mult=mult,
                           sigma_f=sigma_f, delta_theta=delta_theta, k=k), reduction)


def srsim(x: Tensor, y: Tensor, reduction: str = "mean", data_range: float = 1.0,
          chromatic: bool = False, scale: float = 0.25, kernel_size: int = 3,
          sigma: float = 3.8, gaussian_size: int = 10, *, convention: str = "piq") -> Tensor:
    """SR-SIM as ``piq.srsim`` (higher is better), on luma as the paper defines it, or as
    ``SR_SIM.m`` with ``convention="matlab"``."""
    check_flags(chromatic=chromatic)
    if chromatic:
        raise UnsupportedImageError("likeness computes SR-SIM as its paper defines it, on "
                                    "luma; piq's chromatic extension is not offered: pass "
                                    "chromatic=False")
    return reduce(_srsim.sr_sim(x, y, data_range=data_range, scale=scale,
                                kernel_size=kernel_size, sigma=sigma,
                                gaussian_size=gaussian_size, convention=convention), reduction)


def vsi(x: Tensor, y: Tensor, reduction: str = "mean", data_range: float = 1.0,
        c1: float = 1.27, c2: float = 386.0, c3: float = 130.0, alpha: float = 0.4,
        beta: float = 0.02, omega_0: float = 0.021, sigma_f: float = 1.34,
        sigma_d: float = 145.0, sigma_c: float = 0.001) -> Tensor:
    """VSI as ``piq.vsi`` (higher is better)."""
    return reduce(_vsi.vsi(x, y, data_range=data_range, c1=c1, c2=c2, c3=c3, alpha=alpha,
                           beta=beta, omega_0=omega_0, sigma_f=sigma_f, sigma_d=sigma_d,
                           sigma_c=sigma_c), reduction)


def dss(x: Tensor, y: Tensor, reduction: str = "mean", data_range: float = 1.0,
        dct_size: int = 8, sigma_weight: float = 1.55, kernel_size: int = 3,
        sigma_similarity: float = 1.5, percentile: float = 0.05) -> Tensor:
    """DSS as ``piq.dss`` (higher is better)."""
    return reduce(_dss.dss(x, y, data_range=data_range, dct_size=dct_size,
                           sigma_weight=sigma_weight, kernel_size=kernel_size,
                           sigma_similarity=sigma_similarity, percentile=percentile),
                  reduction)


def information_weighted_ssim(x: Tensor, y: Tensor, data_range: float = 1.0,
                              kernel_size: int = 11, kernel_sigma: float = 1.5,
                              k1: float = 0.01, k2: float = 0.03, parent: bool = True,
                              blk_size: int = 3, sigma_nsq: float = 0.4,
                              scale_weights: Tensor | None = None, reduction: str = "mean", *,
                              convention: str = "piq") -> Tensor:
    """IW-SSIM as ``piq.information_weighted_ssim`` (higher is better), with every
    argument of piq's; with ``convention="matlab"`` colour goes through MATLAB's
    ``rgb2gray``, as ``iwssim.m`` is given it."""
    return reduce(_iw_ssim.iw_ssim(x, y, data_range=data_range, kernel_size=kernel_size,
                                   kernel_sigma=kernel_sigma, k1=k1, k2=k2, parent=parent,
                                   blk_size=blk_size, sigma_nsq=sigma_nsq,
                                   scale_weights=scale_weights, convention=convention),
                  reduction)


class _Loss(nn.Module):
    """A metric as piq's loss: ``forward(x, y)`` (x the prediction, y the target)."""

    function: Callable[..., Tensor]
    lower_is_better = False
    clamped = False  # piq clamps some scores to [0, 1] before 1 − score

    def __init__(self, reduction: str = "mean", data_range: float = 1.0, **options: object
                 ) -> None:
        super().__init__()
        reduce(torch.zeros(1), reduction)  # refuse an unknown reduction now, not in forward
        self.reduction, self.data_range, self.options = reduction, data_range, options

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        score = type(self).function(x, y, reduction=self.reduction, data_range=self.data_range,
                                    **self.options)
        if self.lower_is_better:
            return score
        return 1 - (torch.clamp(score, 0, 1) if self.clamped else score)


class GMSDLoss(_Loss):
    """``piq.GMSDLoss``: GMSD itself."""

    function = staticmethod(gmsd)
    lower_is_better = True


class MultiScaleGMSDLoss(_Loss):
    """``piq.MultiScaleGMSDLoss``: MS-GMSD itself."""

    function = staticmethod(multi_scale_gmsd)
    lower_is_better = True


class MDSILoss(_Loss):
    """``piq.MDSILoss``: MDSI itself."""

    function = staticmethod(mdsi)
    lower_is_better = True


class VIFLoss(_Loss):
    """``piq.VIFLoss``: 1 − VIFp clamped to [0, 1]."""

    function = staticmethod(vif_p)
    clamped = True


class HaarPSILoss(_Loss):
    """``piq.HaarPSILoss``: 1 − HaarPSI."""

    function = staticmethod(haarpsi)


class FSIMLoss(_Loss):
    """``piq.FSIMLoss``: 1 − FSIM(c) clamped to [0, 1]."""

    function = staticmethod(fsim)
    clamped = True


class SRSIMLoss(_Loss):
    """``piq.SRSIMLoss``: 1 − SR-SIM clamped to [0, 1]."""

    function = staticmethod(srsim)
    clamped = True


class VSILoss(_Loss):
    """``piq.VSILoss``: 1 − VSI."""

    function = staticmethod(vsi)


class DSSLoss(_Loss):
    """``piq.DSSLoss``: 1 − DSS clamped to [0, 1]."""

    function = staticmethod(dss)
    clamped = True


class InformationWeightedSSIMLoss(_Loss):
    """``piq.InformationWeightedSSIMLoss``: 1 − IW-SSIM."""

    function = staticmethod(information_weighted_ssim)
