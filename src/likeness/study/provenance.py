"""Whether a results folder measured the images a study shows.  ``likeness study analyze
--study STUDY --results RESULTS`` scores each metric by the participants' judgments, which
is sound only where both saw the same pixels: each reference and output the study shows is
read from the file the results folder measured — checked first to be unchanged since that
run — decoded as that run decoded it (its ``alpha``), rounded to 8 bits as ``create_study``
rounds, and compared pixel for pixel with the study's copy.  An output regenerated between
``likeness compare`` and ``study create`` (same name, other pixels) is found so, and so is
transparency the study flattened otherwise than the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from likeness.documents import open_file
from likeness.errors import ImageLoadError
from likeness.evaluation.infra.measured import changed_since_the_run
from likeness.evaluation.items.plan import item_paths
from likeness.io import LoadedImage, load_image
from likeness.results.html import read_results_folder

__all__ = ["shown_pixels", "unlike_the_results"]


class ShownStudy(Protocol):
    """What the check reads of a study (``likeness.study.Study``)."""

    @property
    def folder(self) -> Path: ...

    @property
    def manifest(self) -> dict[str, Any]: ...


def shown_pixels(loaded: LoadedImage) -> np.ndarray:
    """An image's pixels as a study shows them: 8 bits per channel, as browsers show them
    (a 16-bit file rounded)."""
    if loaded.bit_depth == 16:
        return np.round(loaded.pixels.astype(np.float64) / 257.0).astype(np.uint8)
    return loaded.pixels


def unlike_the_results(study: ShownStudy, results_dir: Path) -> list[str]:
    """Why images ``study`` shows are not those the results folder ``results_dir``
    measured for the same model and item (one sentence per file); empty when every one
    is.  Items and models the results do not hold are not judged here (the analysis
    refuses judgments that name them)."""
    record, pairs, _, _ = read_results_folder(results_dir)
    kind = str(record.get("kind"))
    by_key = {(pair.model, pair.reference): pair for pair in pairs}
    shown: dict[Path, str] = {}  # a file the results measured → its image in the study
    for item in study.manifest["items"]:
        for model, image in item["outputs"].items():
            pair = by_key.get((model, item["id"]))
            if pair is not None and pair.values:  # (a pair without values is not scored)
                reference, test = item_paths(record["settings"], kind, model, pair.reference,
                                             pair.test)
                shown.setdefault(reference, item["reference"])
                shown.setdefault(test, image)
    command = f"`likeness {'style' if kind == 'style' else 'compare'}`"
    changed = changed_since_the_run(results_dir, list(shown), command)
    unlike = list(changed.values())
    alpha = record["settings"].get("alpha")
    for path, image in shown.items():
        if path not in changed and (why := _unlike(path, study.folder / "images" / image,
                                                   alpha)):
            unlike.append(why)
    return unlike


def _unlike(path: Path, image: Path, alpha: str | None) -> str | None:
    """Why the file ``path``, decoded as the results' run decoded it (its ``alpha``), is
    not the study's ``image``; None when it is."""
    try:
        with open_file(image) as file, Image.open(file) as opened:  # (never a FIFO)
            wanted = np.asarray(opened)
        pixels = shown_pixels(load_image(path, alpha=alpha))
    except ImageLoadError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - any decoder's failure: the copy is not it
        return f"{image}: the study's copy cannot be read ({type(error).__name__}: {error})"
    if pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.shape == wanted.shape and np.array_equal(pixels, wanted):
        return None
    return (f"{path} is not the image the study shows for it (the file changed between the "
            "run and `likeness study create`, or the study flattened its transparency "
            "otherwise than the run's --alpha)")
