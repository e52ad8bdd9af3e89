"""What the registry says about one metric (``MetricSpec``), and the adapter that makes a
batched torch metric of ``likeness.metrics`` a pixel metric of one prepared pair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from likeness.evaluation.catalog.feature_metrics import FeatureUse
from likeness.evaluation.items.prepare import PreparedPair

__all__ = ["MetricSpec", "latex_escape", "on_tensors", "torch_pair"]

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


@dataclass(frozen=True)
class MetricSpec:
    """A metric: its name, meaning, what it consumes, and what makes up its cache key.

    Attributes:
        images: the two images of an item it compares: ``("reference", "test")``, or
            ``("style", "test")`` for the style losses.
        pixels: pixel metrics: (prepared pair, run settings) → value.
        luma: compare the pair's ITU-R 601 luma, whatever the run's ``gray`` says.
        restoration: the run's ``y_channel`` and ``crop_border`` apply to it (PSNR, SSIM,
            MSE, MS-SSIM as restoration papers report them).
        features: network metrics: how it uses a network's features.
        set_value: set metrics: (first set, second set, settings) → (value, std or None);
            ``set_network`` names the per-image feature network.
        needs: the other metrics a set metric is computed from (ArtFID).
        key_settings: the run settings its values depend on (its cache key).
        citations: what a paper using it cites (keys of ``likeness.results.bibtex``).
        label, latex: its name in a paper's table, plain and in LaTeX (default: the
            plain label, escaped).
        digits: decimals in tables (at least three significant digits below 1).
        scientific: small values (below 0.01) in scientific notation (KID, Gram).
        spread: what follows the mean in tables: ``"ci"`` (the bootstrap confidence
            interval of per-item values), ``"std"`` (a set metric's std over subsets or
            splits), ``"none"``; ``"auto"``: ``"ci"`` for item metrics, ``"none"`` for sets.
        min_side: the shortest side, in pixels, of the images it is defined for; smaller
            pairs are refused before computing (the function checks what else its domain
            needs: DSS's number of blocks, FSIMc's colour; SSIM's and MS-SSIM's functions
            check their windows themselves, per convention).
    """

    name: str
    better: str  # "higher" or "lower"
    description: str
    commands: tuple[str, ...] = ("compare",)
    images: tuple[str, str] = ("reference", "test")
    pixels: Callable[[PreparedPair, Any], float] | None = None
    luma: bool = False
    restoration: bool = False
    features: FeatureUse | None = None
    set_value: Callable[[Any, Any, Any], tuple[float, float | None]] | None = None
    set_network: str | None = None
    needs: tuple[str, ...] = ()
    key_settings: tuple[str, ...] = ("gray", "resize", "alpha")
    citations: tuple[str, ...] = ()  # BibTeX keys (likeness.results.bibtex)
    # when +inf is a true value (PSNR of identical images); any other non-finite value is
    # an error in its row
    infinite_when: str | None = None
    # values in units of the pair's data range (MSE: range²): a summary never mixes scales
    scale_dependent: bool = False
    label: str = ""
    latex: str = ""
    digits: int = 4
    scientific: bool = False
    spread: str = "auto"
    # its domain: the shortest image side it is defined for (checked before computing)
    min_side: int = 1

    @property
    def plain_label(self) -> str:
        """Its name in a table (the canonical name if no label was given)."""
        return self.label or self.name

    @property
    def latex_label(self) -> str:
        """Its name in a LaTeX table."""
        return self.latex or latex_escape(self.plain_label)

    @property
    def reported_spread(self) -> str:
        """``"ci"``, ``"std"`` or ``"none"``: what tables show beside the mean."""
        if self.spread != "auto":
            return self.spread
        return "none" if self.kind == "set" else "ci"

    @property
    def kind(self) -> str:
        """``"pixel"``, ``"network"`` (an item metric on features) or ``"set"``."""
        if self.set_value is not None or self.needs:
            return "set"
        return "network" if self.features is not None else "pixel"

    @property
    def network(self) -> str | None:
        """The feature network it needs, if any."""
        return self.features.network if self.features is not None else self.set_network


def torch_pair(pair: PreparedPair) -> tuple[Any, Any]:
    """(test, reference) as float64 (1, C, H, W) tensors: piq's (x, y) order."""
    import torch

    def as_batch(pixels: np.ndarray) -> Any:
        return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]

    return as_batch(pair.test), as_batch(pair.reference)


def on_tensors(module: str, function: str) -> Callable[[PreparedPair, Any], float]:
    """A batched torch metric (``likeness.metrics.<module>.<function>(x, y, data_range=)``,
    x the test image, y the reference) as a pixel metric of one pair, in float64."""
    def compute(pair: PreparedPair, settings: Any) -> float:
        import importlib

        metric = getattr(importlib.import_module(f"likeness.metrics.{module}"), function)
        return float(metric(*torch_pair(pair), data_range=pair.data_range)[0])

    return compute
