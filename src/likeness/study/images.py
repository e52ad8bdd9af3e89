"""The images a study shows: each distinct image written once, as the 8-bit PNG a browser
shows, named by its content (no path of the user's disk reaches a browser), its decisions
recorded once; the attention checks' degraded copies; the items whose models show one
image (a choice between them is a coin flip)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from likeness.io import load_image
from likeness.study.provenance import shown_pixels
from likeness.wording import counted

__all__ = ["ImageWriter", "degraded_copy", "identical_outputs"]

_SHOWN = 5  # items named in the decision on identical outputs


def _png(pixels: np.ndarray) -> bytes:
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


class ImageWriter:
    """Writes each distinct image once, as 8-bit PNG named by its content; each file's
    decisions are recorded once, however often it is read."""

    def __init__(self, folder: Path, alpha: str | None, decisions: list[str]) -> None:
        self.folder, self.alpha, self.decisions = folder, alpha, decisions
        self.by_path: dict[str, str] = {}  # a source file → its image's name
        self.written: set[str] = set()
        self.deep = 0

    def pixels(self, path: Path) -> np.ndarray:
        loaded = load_image(path, alpha=self.alpha)
        first_read = str(path.resolve()) not in self.by_path
        if first_read:
            self.decisions.extend(f"{path.name}: {decision}" for decision in loaded.decisions)
        if loaded.bit_depth == 16:
            self.deep += first_read
        return shown_pixels(loaded)

    def write(self, pixels: np.ndarray) -> str:
        data = _png(pixels)
        name = hashlib.sha256(data).hexdigest()[:24] + ".png"
        if name not in self.written:
            (self.folder / name).write_bytes(data)
            self.written.add(name)
        return name

    def file(self, path: Path) -> str:
        key = str(path.resolve())
        if key not in self.by_path:
            self.by_path[key] = self.write(self.pixels(path))
        return self.by_path[key]


def degraded_copy(pixels: np.ndarray, seed: int) -> np.ndarray:
    """A copy no attentive participant prefers: strongly blurred, then noisy."""
    sigma = max(3.0, min(pixels.shape[:2]) / 40)
    blurred = ndimage.gaussian_filter(pixels.astype(np.float64), sigma=(sigma, sigma, 0))
    noise = np.random.default_rng(seed).normal(0.0, 40.0, size=pixels.shape)
    return np.clip(np.round(blurred + noise), 0, 255).astype(np.uint8)


def identical_outputs(records: Sequence[dict[str, Any]]) -> list[str]:
    """The decision on the items (``records``: each with its ``outputs``, model → image)
    where two or more models show the same pixels — a copy of one model's outputs, a
    model that returned its input: a choice between them is a coin flip."""
    found = []
    for record in records:
        by_image: dict[str, list[str]] = {}
        for model, image in record["outputs"].items():
            by_image.setdefault(image, []).append(model)
        found += [f"{record['id']}: {' = '.join(same)}" for same in by_image.values()
                  if len(same) > 1]
    if not found:
        return []
    more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
    return [f"{counted(len(found), 'item')} where models show identical pixels (a choice "
            f"between them is a coin flip): {'; '.join(found[:_SHOWN])}{more}"]
