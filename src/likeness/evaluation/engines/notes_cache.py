"""Where an item's decisions are cached, and which decisions earlier versions cached are
still whole: a row served from the cache carries the decisions this version takes, or is
computed again, values and all."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.infra.cached_values import decoded
from likeness.evaluation.items.rows import decode_notes
from likeness.evaluation.items.settings import RunSettings

__all__ = ["NOTES_VERSION", "earlier_notes", "notes_namespace", "notes_still_whole"]

# v6: ``io.EIGHT_BIT_VALUES_IN_16_BITS``; v7: a TIFF's own orientation recorded (and a 16-bit
# colour TIFF no longer turned twice: OpenCV turns it upright itself); v8: a colour profile
# other than sRGB recorded (``io.profiles``); v9: 10- and 12-bit values in 16 bits
# (``io.narrow_values_note``), a TIFF's associated alpha and a BMP's fourth byte
# (``io.alpha``); v10: a TIFF's MinIsWhite gray inverted at 16 bits too, and TIFFs of signed,
# floating-point or 32-bit samples refused (``io.tiff``); a TGA's undeclared alpha
# ignored; a PGM/PPM's maxval below 255 and a file of another format than its name said
NOTES_VERSION = "v10"


def notes_namespace(kind: str, options: RunSettings, metrics: Sequence[str],
                    version: str = NOTES_VERSION) -> str:
    """Where an item's decisions are cached: keyed by every setting that takes one — the
    pair's reconciliation (gray, resize, alpha) and, when the run has a metric they apply
    to, the restoration conventions (Y channel, border, MATLAB's rounding) — so that a
    cached row never carries the decisions of a run with other settings."""
    settings = ["gray", "resize", "alpha"]
    if (options.y_channel or options.crop_border) and any(METRICS[m].restoration
                                                          for m in metrics):
        settings += ["y_channel", "crop_border", "ssim_convention"]
    return f"item/{version}/notes/{kind}/{options.key(settings)}"


def earlier_notes(read: Callable[[str, list[str]], dict[str, bytes]],
                  namespace: Callable[[str], str], keys: list[str],
                  newly_decided: Callable[[str], bool],
                  profiled: Callable[[str], bool]) -> dict[str, bytes]:
    """Of the items ``keys``, the decisions earlier versions cached that are still whole
    (``read(namespace(version), keys)``), of items without a file named as a TIFF, BMP,
    TGA or PGM/PPM or holding another format than its name says only (``newly_decided``:
    v10's decisions concern those, v9's TIFFs' associated alpha and BMPs' fourth byte):
    v9's; of 8-bit items only (``notes_still_whole``: v9's decisions concern 16-bit images
    too), v8's; v7's of an item without a colour profile other than sRGB (``profiled``:
    its files' headers, read for the items found alone), whose decision v8 added; v6's and
    v5's likewise."""
    current = read(namespace("v9"), keys)
    keys = [key for key in keys if key not in current]
    found = read(namespace("v8"), keys)
    older = [key for key in keys if key not in found]
    before = read(namespace("v7"), older)
    older = [key for key in older if key not in before]
    before.update(read(namespace("v6"), older))
    before.update(read(namespace("v5"), [key for key in older if key not in before]))
    found.update({key: stored for key, stored in before.items() if not profiled(key)})
    # ``newly_decided`` may read a file's first bytes: asked of the items found alone
    return {key: stored for key, stored in {**current, **notes_still_whole(found)}.items()
            if not newly_decided(key)}


def notes_still_whole(notes: dict[str, bytes]) -> dict[str, bytes]:
    """Of an item's decisions cached by an earlier version, those still whole: an 8-bit
    item's (data range 255).  v6 and v9 added decisions only 16-bit files take
    (``io.narrow_values_note``), so 16-bit and mixed-depth items are computed again rather
    than shown without them."""
    whole = decoded(notes, decode_notes, "the items' decisions")
    return {key: notes[key] for key, (_, data_range, _) in whole.items() if data_range == 255}
