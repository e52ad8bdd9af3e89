"""Where an item's decisions are cached: keyed by the settings that take decisions and by
what decoding depends on (``io.decoders_key``), so that a row served from the cache carries
the decisions this run takes, or is computed again, values and all."""

from __future__ import annotations

from collections.abc import Sequence

from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.items.settings import RunSettings
from likeness.io import decoders_key

__all__ = ["NOTES_VERSION", "notes_namespace"]

# v12: keyed by the decoders too; what decisions a file takes is versioned by
# ``io.DECODING_REVISION`` since (earlier versions' decisions, reused here where still
# whole until v11, were taken by unknown decoders: never served)
NOTES_VERSION = "v12"


def notes_namespace(kind: str, options: RunSettings, metrics: Sequence[str]) -> str:
    """Where an item's decisions are cached: keyed by every setting that takes one — the
    pair's reconciliation (gray, resize, alpha) and, when the run has a metric they apply
    to, the restoration conventions (Y channel, border, MATLAB's rounding) — so that a
    cached row never carries the decisions of a run with other settings or decoders."""
    settings = ["gray", "resize", "alpha"]
    if (options.y_channel or options.crop_border) and any(METRICS[m].restoration
                                                          for m in metrics):
        settings += ["y_channel", "crop_border", "ssim_convention"]
    return f"item/{NOTES_VERSION}/notes/{kind}/{options.key(settings)}/decoders={decoders_key()}"
