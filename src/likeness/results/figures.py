"""Small self-contained figures for the HTML report: inline SVG plots, PNG thumbnails and
heatmaps as base64 data URIs.  No plotting library, no network: every byte is in the page.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

__all__ = ["PALETTE", "box_plot_svg", "colour_bar_uri", "heatmap_uri", "image_uri",
           "scatter_svg"]

# colour-blind-safe categorical colours (Okabe & Ito) for models
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
# viridis, sampled at 9 points and interpolated linearly
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142],
                     [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50],
                     [253, 231, 37]], dtype=np.float64)


def _viridis(values: np.ndarray) -> np.ndarray:
    """(…) in [0, 1] → (…, 3) uint8."""
    position = np.clip(values, 0, 1) * (len(_VIRIDIS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_VIRIDIS) - 2)
    fraction = (position - low)[..., None]
    colours = _VIRIDIS[low] * (1 - fraction) + _VIRIDIS[low + 1] * fraction
    return np.round(colours).astype(np.uint8)


def _png_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _jpeg_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_uri(pixels: np.ndarray, max_side: int) -> str:
    """An (H, W, C) uint8/uint16 image downscaled to ``max_side`` as a JPEG data URI."""
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _jpeg_uri(image)


def heatmap_uri(values: np.ndarray, low: float, high: float, max_side: int) -> str:
    """A 2-D map scaled from [low, high] to viridis, downscaled, as a JPEG data URI (maps
    are smooth: a fifth of the PNG's size)."""
    span = high - low if high > low else 1.0
    image = Image.fromarray(_viridis((np.asarray(values, np.float64) - low) / span))
    image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return _jpeg_uri(image)


def colour_bar_uri(width: int = 160, height: int = 10) -> str:
    ramp = np.tile(np.linspace(0, 1, width), (height, 1))
    return _png_uri(Image.fromarray(_viridis(ramp)))


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw),
               default=magnitude * 10)
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


def box_plot_svg(groups: Sequence[tuple[str, Sequence[float]]], title: str,
                 width: int = 420, height: int = 220) -> str:
    """Box plots (median, quartiles, 1.5 IQR whiskers, outliers) of each group."""
    finite = [(name, np.asarray([v for v in values if math.isfinite(v)], np.float64))
              for name, values in groups]
    everything = np.concatenate([v for _, v in finite if v.size] or [np.zeros(1)])
    low, high = float(everything.min()), float(everything.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    pad = 0.05 * (high - low)
    low, high = low - pad, high + pad
    left, right, top, bottom = 56, 10, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<text x="{left}" y="15" font-size="12" font-weight="bold">'
             f'{html.escape(title)}</text>']
    for tick in _ticks(low, high):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{_label(tick)}</text>')
    slot = plot_w / max(1, len(finite))
    for index, (name, values) in enumerate(finite):
        centre = left + slot * (index + 0.5)
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<text x="{centre:.1f}" y="{height - 18}" font-size="10" '
                     f'text-anchor="middle">{html.escape(name)}</text>')
        if not values.size:
            continue
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        iqr = q3 - q1
        inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
        whisker_low, whisker_high = float(inside.min()), float(inside.max())
        half = min(30.0, slot * 0.3)
        parts.append(
            f'<line x1="{centre:.1f}" x2="{centre:.1f}" y1="{y(whisker_low):.1f}" '
            f'y2="{y(whisker_high):.1f}" stroke="{colour}"/>'
            f'<rect x="{centre - half:.1f}" y="{y(q3):.1f}" width="{2 * half:.1f}" '
            f'height="{max(1.0, y(q1) - y(q3)):.1f}" fill="{colour}" fill-opacity="0.3" '
            f'stroke="{colour}"/>'
            f'<line x1="{centre - half:.1f}" x2="{centre + half:.1f}" y1="{y(median):.1f}" '
            f'y2="{y(median):.1f}" stroke="{colour}" stroke-width="2"/>')
        for outlier in values[(values < whisker_low) | (values > whisker_high)]:
            parts.append(f'<circle cx="{centre:.1f}" cy="{y(float(outlier)):.1f}" r="2" '
                         f'fill="none" stroke="{colour}"/>')
        parts.append(f'<text x="{centre:.1f}" y="{height - 5}" font-size="9" '
                     f'text-anchor="middle" fill="#555">n={values.size}</text>')
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(points: Sequence[tuple[float, float, int, str, str | None, bool]],
                models: Sequence[str], x_label: str, y_label: str,
                width: int = 560, height: int = 380) -> str:
    """Scatter of (x, y, model index, tooltip, link or None, highlighted) points."""
    xs = [p[0] for p in points if math.isfinite(p[0])] or [0.0, 1.0]
    ys = [p[1] for p in points if math.isfinite(p[1])] or [0.0, 1.0]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    if x_high <= x_low:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    if y_high <= y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    x_pad, y_pad = 0.05 * (x_high - x_low), 0.05 * (y_high - y_low)
    x_low, x_high, y_low, y_high = x_low - x_pad, x_high + x_pad, y_low - y_pad, y_high + y_pad
    left, right, top, bottom = 60, 120, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(value: float) -> float:
        return left + plot_w * (value - x_low) / (x_high - x_low)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y_low) / (y_high - y_low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(y_label)} against {html.escape(x_label)}">']
    for tick in _ticks(x_low, x_high):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" '
                     f'y2="{top + plot_h}" stroke="#eee"/><text x="{x(tick):.1f}" '
                     f'y="{top + plot_h + 14}" font-size="10" text-anchor="middle">'
                     f'{_label(tick)}</text>')
    for tick in _ticks(y_low, y_high):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#eee"/><text x="{left - 4}" '
                     f'y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end">'
                     f'{_label(tick)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="11" '
                 f'text-anchor="middle">{html.escape(x_label)}</text>'
                 f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{html.escape(y_label)}'
                 '</text>')
    for px, py, model, tooltip, link, highlighted in sorted(points, key=lambda p: p[5]):
        if not (math.isfinite(px) and math.isfinite(py)):
            continue
        colour = PALETTE[model % len(PALETTE)]
        stroke = ' stroke="#d00" stroke-width="2.5"' if highlighted else ""
        radius = 5 if highlighted else 3
        dot = (f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="{radius}" fill="{colour}" '
               f'fill-opacity="0.75"{stroke}><title>{html.escape(tooltip)}</title></circle>')
        parts.append(f'<a href="#{html.escape(link)}">{dot}</a>' if link else dot)
    for index, name in enumerate(models):
        legend_y = top + 14 * index + 6
        parts.append(f'<circle cx="{width - right + 14}" cy="{legend_y}" r="4" '
                     f'fill="{PALETTE[index % len(PALETTE)]}"/><text x="{width - right + 22}" '
                     f'y="{legend_y + 4}" font-size="10">{html.escape(name)}</text>')
    parts.append(f'<circle cx="{width - right + 14}" cy="{top + 14 * len(models) + 10}" r="5" '
                 f'fill="#fff" stroke="#d00" stroke-width="2.5"/><text '
                 f'x="{width - right + 22}" y="{top + 14 * len(models) + 14}" font-size="10">'
                 'disagree most</text>')
    parts.append("</svg>")
    return "".join(parts)
