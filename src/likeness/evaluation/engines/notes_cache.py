"""Where an item's decisions are cached, and which decisions earlier versions cached are
still whole: a row served from the cache carries the decisions this version takes, or is
computed again, values and all."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.infra.cached_values import decoded
from likeness.evaluation.items.plan import Item
from likeness.evaluation.items.rows import decode_notes
from likeness.evaluation.items.settings import RunSettings
from likeness.io import named_for_new_decisions, takes_v11_decisions

__all__ = ["NOTES_VERSION", "earlier_notes", "notes_namespace", "notes_still_whole",
           "reused_notes"]

# v6: ``io.EIGHT_BIT_VALUES_IN_16_BITS``; v7: a TIFF's own orientation recorded (and a 16-bit
# colour TIFF no longer turned twice: OpenCV turns it upright itself); v8: a colour profile
# other than sRGB recorded (``io.profiles``); v9: 10- and 12-bit values in 16 bits
# (``io.narrow_values_note``), a TIFF's associated alpha and a BMP's fourth byte
# (``io.alpha``); v10: a TIFF's MinIsWhite gray inverted at 16 bits too, and TIFFs of signed,
# floating-point or 32-bit samples refused (``io.tiff``); a TGA's undeclared alpha
# ignored; a PGM/PPM's maxval below 255 and a file of another format than its name said;
# v11: what a PNG's cICP, gAMA and cHRM chunks, a BMP's colour space and a camera's EXIF
# say of the colours (``io.profiles``); a TIFF's image read past a thumbnail, a JPEG-
# compressed TIFF said (``io.tiff``); a palette image with indices beyond its palette refused
NOTES_VERSION = "v11"


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


def reused_notes(cache: Cache, namespace: Callable[[str], str], items: Mapping[str, Item]
                 ) -> dict[str, bytes]:
    """Of ``items`` (by key) missing from this version's cache, the decisions earlier
    versions cached that are still whole (``earlier_notes``), stored under this version
    too: a later run finds them without reading their files again."""
    earlier = earlier_notes(
        cache.get_many, namespace, list(items),
        v10_decides=lambda key: any(map(named_for_new_decisions, items[key].files)),
        v11_decides=lambda key: any(map(takes_v11_decisions, items[key].files)))
    if earlier:
        cache.put_many(namespace(NOTES_VERSION), list(earlier.items()))
    return earlier


def earlier_notes(read: Callable[[str, list[str]], dict[str, bytes]],
                  namespace: Callable[[str], str], keys: list[str],
                  v10_decides: Callable[[str], bool],
                  v11_decides: Callable[[str], bool]) -> dict[str, bytes]:
    """Of the items ``keys``, the decisions earlier versions cached that are still whole
    (``read(namespace(version), keys)``), of items whose files say nothing of their colours
    but sRGB and are no TIFF of several pages or palette image only (``v11_decides``:
    ``io.takes_v11_decisions``, their headers read for the items found alone; v8 added
    the decisions of ICC profiles): v10's; of those without a file named as a TIFF, BMP,
    TGA or PGM/PPM or holding another format than its name says (``v10_decides``: v10's
    decisions concern those, v9's TIFFs' associated alpha and BMPs' fourth byte), v9's; of
    those 8-bit items only (``notes_still_whole``: v9's decisions concern 16-bit images
    too), v8's, v7's, v6's and v5's."""
    latest = read(namespace("v10"), keys)
    keys = [key for key in keys if key not in latest]
    current = read(namespace("v9"), keys)
    keys = [key for key in keys if key not in current]
    found = read(namespace("v8"), keys)
    for version in ("v7", "v6", "v5"):
        found.update(read(namespace(version), [key for key in keys if key not in found]))
    # ``v10_decides`` and ``v11_decides`` read files' headers: asked of the items found
    before = {key: stored for key, stored in {**current, **notes_still_whole(found)}.items()
              if not v10_decides(key)}
    return {key: stored for key, stored in {**latest, **before}.items()
            if not v11_decides(key)}


def notes_still_whole(notes: dict[str, bytes]) -> dict[str, bytes]:
    """Of an item's decisions cached by an earlier version, those still whole: an 8-bit
    item's (data range 255).  v6 and v9 added decisions only 16-bit files take
    (``io.narrow_values_note``), so 16-bit and mixed-depth items are computed again rather
    than shown without them."""
    whole = decoded(notes, decode_notes, "the items' decisions")
    return {key: notes[key] for key, (_, data_range, _) in whole.items() if data_range == 255}
