"""What the registry says about one metric (``MetricSpec``), and the adapter that makes a
batched torch metric of ``likeness.metrics`` a pixel metric of one prepared pair."""

from __future__ import annotations

import contextlib
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from likeness.errors import ImageTooSmallError, LikenessError
from likeness.evaluation.catalog.feature_metrics import FeatureUse
from likeness.evaluation.items.image_set import ImageSet
from likeness.evaluation.items.prepare import PreparedPair
from likeness.evaluation.items.settings import RunSettings

__all__ = ["MetricCard", "MetricSpec", "latex_escape", "on_tensors", "pdflatex_note",
           "pdflatex_unset", "tensors_shared", "torch_pair"]

_shared = threading.local()  # the pairs whose tensors ``tensors_shared`` keeps, by id

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}",
                  # OT1, LaTeX's default encoding, sets these as other glyphs (—, ¡, ¿)
                  "|": r"\textbar{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  # a line break would end a comment or a table row: a space
                  **{chr(code): " " for code in (*range(32), 127)}}


# the characters beyond ASCII that pdflatex sets with LaTeX's defaults (UTF-8 input, OT1
# and TS1 fonts), as ranges of code points: measured by ``references/make_pdflatex_characters.py``
# with pdfTeX 1.40.24 (TeX Live 2022) over U+00A0-U+02FF, U+0370-U+045F, U+1E00-U+1EFF and
# U+2000-U+22FF; every other character (Greek, Cyrillic, CJK, emoji, combining marks) stops
# pdflatex ("Unicode character … not set up for use with LaTeX")
_PDFLATEX_SETS = (
    (0xA1, 0xAA), (0xAC, 0xAC), (0xAE, 0xBA), (0xBC, 0xCF), (0xD1, 0xDD), (0xDF, 0xEF),
    (0xF1, 0xFD), (0xFF, 0x103), (0x106, 0x10F), (0x112, 0x117), (0x11A, 0x125),
    (0x128, 0x12D), (0x130, 0x137), (0x139, 0x13E), (0x141, 0x148), (0x14C, 0x165),
    (0x168, 0x171), (0x174, 0x17E), (0x192, 0x192), (0x1C4, 0x1D4), (0x1E2, 0x1E3),
    (0x1E6, 0x1E9), (0x1F0, 0x1F0), (0x1F4, 0x1F5), (0x218, 0x21B), (0x232, 0x233),
    (0x237, 0x237), (0x2C6, 0x2C7), (0x2D8, 0x2D9), (0x2DC, 0x2DD), (0x1E02, 0x1E03),
    (0x1E0D, 0x1E0D), (0x1E1E, 0x1E21), (0x1E25, 0x1E25), (0x1E30, 0x1E31), (0x1E37, 0x1E37),
    (0x1E43, 0x1E43), (0x1E45, 0x1E45), (0x1E47, 0x1E47), (0x1E5B, 0x1E5B), (0x1E63, 0x1E63),
    (0x1E6D, 0x1E6D), (0x1E8E, 0x1E91), (0x1E9E, 0x1E9E), (0x1EF2, 0x1EF3), (0x2010, 0x2016),
    (0x2018, 0x2019), (0x201C, 0x201D), (0x2020, 0x2022), (0x2026, 0x2026), (0x2030, 0x2031),
    (0x203B, 0x203B), (0x203D, 0x203D), (0x2044, 0x2044), (0x204E, 0x204E), (0x2052, 0x2052),
    (0x20A1, 0x20A1), (0x20A4, 0x20A4), (0x20A6, 0x20A6), (0x20A9, 0x20A9), (0x20AB, 0x20AC),
    (0x20B1, 0x20B1), (0x2103, 0x2103), (0x2116, 0x2117), (0x211E, 0x211E), (0x2120, 0x2120),
    (0x2122, 0x2122), (0x2126, 0x2127), (0x212E, 0x212E), (0x2190, 0x2193))
_NOT_UTF_8 = range(0xDC80, 0xDD00)  # a byte of a name that is not UTF-8 (surrogateescape)


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, on one line, in Unicode's composed
    form (NFC: a name from macOS's file system spells é as e and a combining accent, which
    pdflatex cannot set); a byte that is not UTF-8 as ``\\udcff``, as elsewhere."""
    return "".join(_LATEX_SPECIAL.get(char) or (
        rf"\textbackslash{{}}u{ord(char):04x}" if ord(char) in _NOT_UTF_8 else char)
        for char in unicodedata.normalize("NFC", text))


def pdflatex_unset(text: str) -> list[str]:
    """The characters of ``text`` (composed, as ``latex_escape`` writes them) that pdflatex
    cannot set with LaTeX's defaults (XeLaTeX and LuaLaTeX can, with a font that has
    them), each once, in order."""
    found = [char for char in unicodedata.normalize("NFC", text)
             if ord(char) > 0x7F and ord(char) not in _NOT_UTF_8
             and not any(low <= ord(char) <= high for low, high in _PDFLATEX_SETS)]
    return list(dict.fromkeys(found))


def pdflatex_note(names: Sequence[str]) -> list[str]:
    """The comment lines a LaTeX table takes whose ``names`` hold characters pdflatex
    cannot set: which, and how to compile it."""
    unset = list(dict.fromkeys(char for name in names for char in pdflatex_unset(name)))
    if not unset:
        return []
    shown = ", ".join(unset[:12]) + (f" and {len(unset) - 12} more" if len(unset) > 12 else "")
    return [f"% names hold characters pdflatex cannot set ({shown}): compile with XeLaTeX or "
            "LuaLaTeX (and a font that has them), or rename"]


@dataclass(frozen=True)
class MetricCard:
    """What a reader of a paper needs to know about one metric, and how a methods
    paragraph states it.

    Attributes:
        title: its name on the card (docs/metrics.md).
        measures, range, sensitive, insensitive: what it measures, its range and
            direction, what moves it and what it tolerates.
        method: its sentence in ``methods.md`` (``{weights}``: the run's checkpoint).
        convention: the run setting that picks another sentence (``ssim_convention``),
            and ``by_convention`` the sentence for each of its values.
        in_style_runs: its sentence in a style run's paragraph (default: ``method``).
        details: (run settings) → what follows the sentence (FID's resize, KID's subsets).
        agreement: its published rank correlation (SRCC) with human scores per benchmark
            dataset, and ``agreement_source`` where it was published (empty: none found).
    """

    title: str
    measures: str
    range: str
    sensitive: str
    insensitive: str
    method: str
    convention: str | None = None
    by_convention: Mapping[str, str] = field(default_factory=dict)
    in_style_runs: str | None = None
    details: Callable[[Mapping[str, Any]], str] | None = None
    agreement: Mapping[str, float] = field(default_factory=dict)
    agreement_source: str = ""

    def sentence(self, settings: Mapping[str, Any], weights: str = "",
                 style: bool = False) -> str:
        """How a methods paragraph states the metric under a run's ``settings``."""
        text = (self.in_style_runs if style and self.in_style_runs else self.method)
        chosen = settings.get(self.convention) if self.convention else None
        if isinstance(chosen, str) and chosen in self.by_convention:
            text = self.by_convention[chosen]
        if self.details is not None:
            text += self.details(settings)
        return text.replace("{weights}", weights)


@dataclass(frozen=True)
class MetricSpec:
    """A metric: its name, meaning, what it consumes, and what makes up its cache key.

    Attributes:
        images: what of an item it compares: ``("reference", "test")``,
            ``("style", "test")`` for the style losses and CSD (in a compare run, which has
            no style image, the reference plays it), ``("prompt", "test")`` for a test
            image and its prompt (CLIP-T), ``("none", "test")`` for the test image alone
            (the aesthetic score).
        pixels: pixel metrics: (prepared pair, run settings) → value.
        on_device: the same values for a batch of pairs on the run's accelerator: (test
            images, reference images — (N, C, H, W) tensors of the pairs' own dtype on the
            device —, data range, settings) → (N,) values, or None where the settings'
            conventions are computed on the CPU only (``pixels`` then computes each pair).
            Used when a run's device is CUDA (``likeness.evaluation.engines.on_device``).
        map: pixel metrics with local values: (prepared pair, run settings) → the (H, W)
            map the report shows (SSIM's, under the run's convention).
        luma: compare the pair's ITU-R 601 luma, whatever the run's ``gray`` says.
        bytes_per_pixel: pixel metrics: the most memory it takes per pixel of a pair (the
            largest figure of ``benchmarks/measure_memory.py`` plus a fifth); a pair that
            would take more than the memory available is refused.  ``bytes_per_pixel_by``
            (setting, {its value: bytes}): the conventions that take more (SSIM's).
        restoration: the run's ``y_channel`` and ``crop_border`` apply to it (PSNR, SSIM,
            MSE, MS-SSIM as restoration papers report them).
        features: network metrics: how it uses a network's features; ``features_by``
            (setting, {its value: use}): another use under a named convention (CLIP-T's
            ``clip_t_convention`` picks the model).
        set_value: set metrics: (first set, second set, settings) → (value, std or None);
            ``set_network`` names the per-image feature network; ``set_sizes`` (first
            set's count of files, second's, settings) raises where sets of these sizes
            give no value (KID's subsets, k neighbours): checked before any feature is
            computed, with the files found (sets only shrink).
        needs: the other metrics a derived set metric is computed from (ArtFID), and
            ``combine`` how: (each needed metric's value — a set metric's, or an item
            metric's mean over the model's items) → its value.
        key_settings: the run settings its values depend on (its cache key).
        revision: the revision of its arithmetic, part of its cache key: bumped whenever a
            release changes its values (under any of its conventions), so values an earlier
            likeness cached are recomputed, never served (``tests/test_cache_revisions.py``
            fails when a value changes and the revision does not).
        citations: what a paper using it cites (keys of ``likeness.evaluation.catalog.bibtex``).
        label, latex: its name in a paper's table, plain and in LaTeX (default: the
            plain label, escaped).
        digits: decimals in tables (at least three significant digits below 1).
        scientific: small values (below 0.01) in scientific notation (KID, Gram).
        spread: what follows the mean in tables: ``"ci"`` (the bootstrap confidence
            interval of per-item values), ``"std"`` (a set metric's std over subsets or
            splits), ``"none"``; ``"auto"``: ``"ci"`` for item metrics, ``"none"`` for sets.
        card: its card (what it measures, its methods sentences); without one, the
            methods paragraph states its ``description``.
        cited_when: citations a setting's value adds (``{"fid_resize": {"clean":
            ("parmar2022cleanfid",)}}``).
        bibtex: the BibTeX entries of its citations that likeness does not hold yet
            (key → entry); ``register_metric`` adds them to the library.
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
    pixels: Callable[[PreparedPair, RunSettings], float] | None = None
    on_device: Callable[[Any, Any, float, RunSettings], Any] | None = None
    map: Callable[[PreparedPair, RunSettings], np.ndarray] | None = None
    luma: bool = False
    bytes_per_pixel: int = 0
    bytes_per_pixel_by: tuple[str, Mapping[str, int]] | None = None
    restoration: bool = False
    features: FeatureUse | None = None
    features_by: tuple[str, Mapping[str, FeatureUse]] | None = None
    set_value: Callable[[ImageSet, ImageSet, RunSettings],
                        tuple[float, float | None]] | None = None
    set_network: str | None = None
    set_sizes: Callable[[int, int, RunSettings], None] | None = None
    needs: tuple[str, ...] = ()
    combine: Callable[[Mapping[str, float]], float] | None = None
    key_settings: tuple[str, ...] = ("gray", "resize", "alpha")
    revision: int = 1
    code: str = ""  # a metric registered at run time: its code's fingerprint, in its key
    citations: tuple[str, ...] = ()  # BibTeX keys (likeness.evaluation.catalog.bibtex)
    # when +inf is a true value (PSNR of identical images); any other non-finite value is
    # an error in its row
    infinite_when: str | None = None
    # values on the pair's data range, not normalised (MSE: in squared pixel values, up to
    # range²): a summary never mixes scales; ``scale_unit`` names the unit (stated in the
    # methods paragraph with the run's data range)
    scale_dependent: bool = False
    scale_unit: str = "pixel values"
    label: str = ""
    latex: str = ""
    digits: int = 4
    scientific: bool = False
    spread: str = "auto"
    # its domain: the shortest image side it is defined for (checked before computing)
    min_side: int = 1
    card: MetricCard | None = None
    cited_when: Mapping[str, Mapping[Any, tuple[str, ...]]] = field(default_factory=dict)
    bibtex: Mapping[str, str] = field(default_factory=dict)

    def check_domain(self, pair: PreparedPair) -> None:
        """Refuse a pair outside its declared domain (``min_side``)."""
        height, width = pair.reference.shape[:2]
        if min(height, width) < self.min_side:
            raise ImageTooSmallError(f"{self.plain_label} needs images of at least "
                                     f"{self.min_side} px a side; these are {width}x{height}")

    def citations_for(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        """Its citations under a run's ``settings`` (the conventions it cites)."""
        extra = [key for setting, keys in self.cited_when.items()
                 for key in keys.get(settings.get(setting), ())]
        return (*self.citations, *extra)

    def described(self, settings: Any) -> str:
        """Its description, with the named conventions of ``settings`` it depends on that
        are not the default (``convention=matlab``): what ``run.json`` records."""
        from likeness.evaluation.catalog.defaults import CONVENTIONS

        chosen = [f"{name}={getattr(settings, name)}" for name in self.key_settings
                  if name in CONVENTIONS and getattr(settings, name, None) is not None
                  and getattr(settings, name) != CONVENTIONS[name][0]]
        return self.description + (f" ({', '.join(chosen)})" if chosen else "")

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
    def has_map(self) -> bool:
        """Whether the report can show where its value comes from (a per-pixel map)."""
        return self.map is not None or (self.features is not None
                                        and self.features.spatial is not None)

    @property
    def reads_first_image(self) -> bool:
        """Whether it compares the test image with another image (its reference or its
        style image), not with a prompt or with nothing."""
        return self.images[0] in ("reference", "style")

    @property
    def network(self) -> str | None:
        """The feature network it needs under the default conventions, if any."""
        return self.features.network if self.features is not None else self.set_network

    def use_in(self, settings: Any) -> FeatureUse | None:
        """How it uses a network under a run's ``settings`` (``RunSettings`` or the
        mapping ``run.json`` records)."""
        if self.features_by is not None:
            setting, uses = self.features_by
            chosen = (settings.get(setting) if isinstance(settings, Mapping)
                      else getattr(settings, setting, None))
            if isinstance(chosen, str) and chosen in uses:
                return uses[chosen]
        return self.features

    def memory_per_pixel(self, settings: Any) -> int:
        """``bytes_per_pixel`` under a run's ``settings`` (``bytes_per_pixel_by``)."""
        if self.bytes_per_pixel_by is not None:
            setting, figures = self.bytes_per_pixel_by
            return figures.get(str(getattr(settings, setting, "")), self.bytes_per_pixel)
        return self.bytes_per_pixel

    def prompts_in(self, settings: Any) -> tuple[str, ...]:
        """The prompts of an item it reads under ``settings`` (``PromptUse.roles``)."""
        use = self.use_in(settings)
        return use.prompts.roles if use is not None and use.prompts is not None else ()

    @property
    def revision_key(self) -> str:
        """What a cached value's key holds of the metric's arithmetic: its revision from 2
        on, and, for a metric registered at run time, its code's fingerprint (an edited
        metric registered again is recomputed, never served from the cache)."""
        return ((f"/revision={self.revision}" if self.revision > 1 else "")
                + (f"/code={self.code}" if self.code else ""))

    def network_in(self, settings: Any) -> str | None:
        """The feature network it needs under a run's ``settings``, if any."""
        use = self.use_in(settings)
        return use.network if use is not None else self.set_network


@contextlib.contextmanager
def tensors_shared() -> Iterator[None]:
    """While the block runs (one pair's pixel metrics), ``torch_pair`` converts each pair
    once for all its metrics, and its values are checked once: a 1024×768 pair's float64
    copies and range checks took ~5 ms of each metric's call."""
    before = getattr(_shared, "pairs", None)
    _shared.pairs = {}
    try:
        yield
    finally:
        _shared.pairs = before


def torch_pair(pair: PreparedPair) -> tuple[Any, Any]:
    """(test, reference) as float64 (1, C, H, W) tensors: piq's (x, y) order; inside
    ``tensors_shared``, the same tensors for every metric of the pair."""
    from likeness.metrics.tensor_checks import mark_values_checked, tensor_version

    pairs = getattr(_shared, "pairs", None)
    if pairs is not None and id(pair) in pairs:
        _, tensors, versions = pairs[id(pair)]
        if tuple(tensor_version(t) for t in tensors) == versions:  # no metric wrote to them
            return tensors
    import torch

    def as_batch(pixels: np.ndarray) -> Any:
        return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1)[None]

    tensors = as_batch(pair.test), as_batch(pair.reference)
    versions = tuple(tensor_version(t) for t in tensors)
    # inference tensors (made under torch.inference_mode) count no writes: never shared
    if pairs is not None and None not in versions:
        with contextlib.suppress(LikenessError):  # not shared: each metric says why
            mark_values_checked(*tensors, pair.data_range)
            pairs[id(pair)] = (pair, tensors, versions)  # the pair held: its id its own
    return tensors


def on_tensors(module: str, function: str, conventional: bool = False) -> dict[str, Any]:
    """A batched torch metric (``likeness.metrics.<module>.<function>(x, y, data_range=)``,
    x the test image, y the reference) as a pixel metric: ``pixels`` computes one pair in
    float64, ``on_device`` a batch of pairs in float64 on the run's accelerator (the same
    function); ``conventional``: it takes the run's ``convention`` (piq's or the authors'
    MATLAB).  Spread it into the entry: ``MetricSpec(..., **on_tensors("gmsd", "gmsd"))``."""
    def metric_and_options(settings: RunSettings) -> tuple[Any, dict[str, Any]]:
        import importlib

        metric = getattr(importlib.import_module(f"likeness.metrics.{module}"), function)
        return metric, {"convention": settings.convention} if conventional else {}

    def compute(pair: PreparedPair, settings: RunSettings) -> float:
        metric, options = metric_and_options(settings)
        return float(metric(*torch_pair(pair), data_range=pair.data_range, **options)[0])

    def on_device(test: Any, reference: Any, data_range: float, settings: RunSettings) -> Any:
        import torch

        metric, options = metric_and_options(settings)
        return metric(test.to(torch.float64), reference.to(torch.float64),
                      data_range=data_range, **options)

    return {"pixels": compute, "on_device": on_device}
