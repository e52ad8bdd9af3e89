"""The metric registry: every metric, what it consumes, and what its values mean.

One entry per metric says everything the engines, the results and the command line need:
its canonical name and description, which direction is better, where it is offered
(``compare``, ``style``), what it consumes — the decoded pixels of an item's two images, a
network's features of them (``features``), or each set's per-image features
(``set_network``) — which settings make up its cache key, and what non-finite values or
scales mean.  Adding a metric is an entry here plus a pure function in
``likeness.metrics`` (see docs/architecture.md, "Adding a metric").
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import inspect
import math
import warnings
from collections.abc import Sequence
from typing import Any

from likeness.arguments import described, outside_stacklevel
from likeness.errors import (
    DecisionWarning,
    InvalidInputError,
    InvalidInputTypeError,
    LikenessError,
    describe_failure,
)
from likeness.evaluation.catalog.defaults import DEFAULT_METRICS, FID_ENCODERS, METRIC_ALIASES
from likeness.evaluation.catalog.entries import METRICS
from likeness.evaluation.catalog.metric_spec import MetricSpec
from likeness.evaluation.catalog.metric_values import kid_value
from likeness.evaluation.items.settings import RunSettings

__all__ = [
    "DEFAULT_METRICS",
    "FID_ENCODERS",
    "METRICS",
    "METRIC_ALIASES",
    "canonical_name",
    "MetricSpec",
    "describe_failure",
    "device_for",
    "invalid_values",
    "metrics_help",
    "network_of",
    "parse_metric_names",
    "register_metric",
    "settings_without_effect",
    "unregister_metric",
    "with_item_needs",
]


_KIND_HEADINGS = {"pixel": "pixels", "network": "networks", "set": "image sets"}


def metrics_help(command: str) -> str:
    """The ``--metrics`` help of a command: every metric it accepts, grouped by kind, in
    the command line's spelling."""
    groups = []
    for kind, heading in _KIND_HEADINGS.items():
        names = [m.replace("_", "-") for m, spec in METRICS.items()
                 if command in spec.commands and spec.kind == kind]
        if names:
            groups.append(f"{heading}: {', '.join(names)}")
    aliases = [f"{alias} = {name.replace('_', '-')}" for alias, name in METRIC_ALIASES.items()
               if command in METRICS[name].commands]
    other = "style" if command == "compare" else "compare"
    elsewhere = [m.replace("_", "-") for m, spec in METRICS.items()
                 if other in spec.commands and command not in spec.commands]
    text = "Comma-separated. " + "; ".join(groups) + "."
    if aliases:
        text += f" ({'; '.join(aliases)}.)"
    if elsewhere:
        text += f" likeness {other} offers {', '.join(elsewhere)}."
    return text


def network_of(metric: str) -> str | None:
    """The network whose features ``metric`` needs (None for pixel metrics)."""
    return METRICS[metric].network


def canonical_name(raw: str) -> str:
    """A metric's canonical name from how a user spells it (hyphens, case, aliases)."""
    name = raw.strip().lower().replace("-", "_")
    return METRIC_ALIASES.get(name, name)


def parse_metric_names(names: str | Sequence[str], command: str = "compare", *,
                       hyphens: bool = False) -> list[str]:
    """Canonical metric names from a comma-separated string or a list; hyphens accepted.

    Args:
        command: ``"compare"`` or ``"style"``: the metrics offered there.
        hyphens: name metrics in errors as the command line spells them (``lpips-alex``,
            as ``--help`` lists them) rather than by their keys (``lpips_alex``).

    Raises:
        LikenessError: an unknown metric (with the nearest names and every known one), or
            one of the other command.
    """
    if isinstance(names, str):
        names = [part for part in names.split(",")]
    if not (isinstance(names, Sequence) and all(isinstance(name, str) for name in names)):
        raise InvalidInputTypeError(f"metrics must be a comma-separated string or a list of "
                                    f"metric names, got {described(names)}")
    canonical: list[str] = []
    offered = [m for m, spec in METRICS.items() if command in spec.commands]

    def spelt(keys: list[str]) -> list[str]:
        return [key.replace("_", "-") for key in keys] if hyphens else keys

    for raw in names:
        name = canonical_name(raw)
        if not name:
            continue
        if name not in METRICS:
            known = sorted([*offered, *METRIC_ALIASES])
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(spelt(close))}? " if close else ""
            raise LikenessError(f"unknown metric {raw.strip()!r}; {hint}choose from "
                                f"{', '.join(spelt(known))}")
        if name not in offered:
            other = "likeness style" if command == "compare" else "likeness compare"
            raise LikenessError(f"{spelt([name])[0]} is offered by {other}, not here; choose "
                                f"from {', '.join(spelt(sorted(offered)))}")
        if name not in canonical:
            canonical.append(name)
    if not canonical:
        raise LikenessError("no metric given; choose from "
                            + ", ".join(spelt(sorted(offered))))
    return canonical


def register_metric(spec: MetricSpec, *, replace_existing: bool = False) -> MetricSpec:
    """Add a metric to the catalog at run time (a plugin, a notebook, a test): every
    engine, table, report, methods paragraph and the command line's ``--metrics`` take it
    from its entry, as they take the built-in ones (docs/architecture.md, "Adding a
    metric").  Its card, if any, is the entry's ``card``; BibTeX entries of new citations
    come in ``bibtex``.

    Raises:
        InvalidInputError: the name is taken (without ``replace_existing``), the entry
            consumes nothing or names an unknown network, or it cites a key without a
            BibTeX entry.
    """
    from likeness.evaluation.catalog.bibtex import BIBTEX
    from likeness.evaluation.catalog.networks import NETWORKS

    name = spec.name
    if not name or name != canonical_name(name) or "," in name:
        raise InvalidInputError(f"metric name {name!r}: use lower-case letters, digits and "
                                "underscores")
    if name in METRICS and not replace_existing:
        raise InvalidInputError(f"{name} is already a metric; choose another name (or pass "
                                "replace_existing=True)")
    if spec.better not in ("higher", "lower"):
        raise InvalidInputError(f"{name}: better must be 'higher' or 'lower', got "
                                f"{spec.better!r}")
    consumes = [spec.pixels, spec.features, spec.set_value, spec.combine]
    if sum(part is not None for part in consumes) != 1 or bool(spec.needs) != bool(
            spec.combine):
        raise InvalidInputError(f"{name}: give exactly one of pixels=, features=, "
                                "set_value= or needs= with combine= — what the metric "
                                "consumes")
    if spec.set_sizes is not None and spec.set_value is None:
        raise InvalidInputError(f"{name}: set_sizes= checks the sets of a set metric: give "
                                "it with set_value=")
    network = spec.network
    if network is not None and (network not in NETWORKS or NETWORKS[network].kind
                                != ("set" if spec.kind == "set" else "item")):
        kind = "set" if spec.kind == "set" else "item"
        known = [n for n, net in NETWORKS.items() if net.kind == kind]
        raise InvalidInputError(f"{name}: unknown {kind} network {network!r}; choose from "
                                f"{', '.join(known)}")
    unknown = [needed for needed in spec.needs if needed not in METRICS]
    cited = [*spec.citations, *(key for keys in spec.cited_when.values()
                                for extra in keys.values() for key in extra)]
    missing = [key for key in cited if key not in BIBTEX and key not in spec.bibtex]
    if unknown or missing:
        raise InvalidInputError(f"{name}: " + "; ".join(
            [f"needs unknown metrics {', '.join(unknown)}"] * bool(unknown)
            + [f"cites {', '.join(missing)} without a BibTeX entry: pass bibtex={{KEY: "
               "ENTRY}}"] * bool(missing)))
    for key, entry in spec.bibtex.items():
        if BIBTEX.get(key, entry) != entry:
            raise InvalidInputError(f"{name}: BibTeX key {key} is taken by another entry")
    BIBTEX.update(spec.bibtex)
    spec = dataclasses.replace(spec, code=code_fingerprint(spec))
    METRICS[name] = spec
    return spec


def code_fingerprint(spec: MetricSpec) -> str:
    """16 hex digits of SHA-256 over the code a metric runs: its functions (``pixels``,
    ``features``' callables, ``set_value``, ``combine``) — their source where Python has it
    (a file, a notebook cell), else their bytecode — and, through the names they use, the
    functions and classes of their own module they call, and the functions and simple
    values they close over.  A metric edited and registered again gets another key."""
    parts: list[str] = []
    seen: set[int] = set()

    def visit(target: Any) -> None:
        if id(target) in seen or len(seen) > 200:
            return
        seen.add(id(target))
        if dataclasses.is_dataclass(target) and not isinstance(target, type):
            for field in dataclasses.fields(target):
                value = getattr(target, field.name)
                if callable(value):
                    visit(value)
            return
        function = target.func if isinstance(target, functools.partial) else target
        function = getattr(function, "__func__", function)  # a bound method: its function
        if not (inspect.isfunction(function) or inspect.isclass(function)):
            parts.extend(_simple(getattr(function, "__dict__", {}).items()))
            function = type(function)  # a callable object: its settings, its class's source
        try:
            parts.append(inspect.getsource(function))
        except (OSError, TypeError):
            parts.append(_bytecode(getattr(function, "__code__", None)) or repr(type(function)))
        if isinstance(target, functools.partial):  # its simple arguments: an object's repr
            parts.extend(_simple([*((f"{i}", arg) for i, arg in enumerate(target.args)),
                                  *target.keywords.items()]))  # holds its address
        code, scope = getattr(function, "__code__", None), getattr(function, "__globals__", {})
        module = getattr(function, "__module__", None)
        for name in _names(code):
            used = scope.get(name)
            if (inspect.isfunction(used) or inspect.isclass(used)) and \
                    used.__module__ == module:
                visit(used)
        for cell in getattr(function, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # a cell not yet filled
                continue
            if callable(value):
                visit(value)
            else:
                parts.extend(_simple([("", value)]))

    for part in (spec.pixels, spec.features, spec.set_value, spec.combine):
        if part is not None:
            visit(part)
    return hashlib.sha256("\n".join(parts).encode("utf-8", "backslashreplace")).hexdigest()[:16]


def _simple(items: Any) -> list[str]:
    """The reprs of the values among ``items`` ((name, value) pairs) that a fingerprint can
    hold: numbers, text, flags, tuples of them and None (an array or a model is left out)."""
    return [f"{name}={value!r}" for name, value in sorted(items, key=lambda item: item[0])
            if isinstance(value, int | float | str | bytes | bool | tuple | type(None))]


def _names(code: Any) -> list[str]:
    """The global names a code object and the code nested in it use."""
    if code is None:
        return []
    nested = [const for const in code.co_consts if inspect.iscode(const)]
    return [*code.co_names, *(name for inner in nested for name in _names(inner))]


def _bytecode(code: Any) -> str:
    """A code object's instructions and constants, nested code included, without the
    addresses a repr of them holds."""
    if code is None:
        return ""
    constants = [_bytecode(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return code.co_code.hex() + "|" + "|".join(constants)


def unregister_metric(name: str) -> None:
    """Remove a metric ``register_metric`` added (its BibTeX entries stay)."""
    METRICS.pop(name, None)


def with_item_needs(names: Sequence[str]) -> list[str]:
    """``names`` with the per-item metrics a derived metric is computed from added after
    it (ArtFID's mean LPIPS): their values are the run's rows."""
    ordered: list[str] = []
    for name in names:
        if name not in ordered:
            ordered.append(name)
        for needed in METRICS[name].needs:
            if METRICS[needed].kind != "set" and needed not in ordered and needed not in names:
                ordered.append(needed)
    return ordered


# settings a metric's value depends on beside its cache key's (a set metric's value is
# computed afresh from its cached features): KID's subsets
_KID_SETTINGS = ("kid_subset_size", "kid_subsets", "kid_seed")


def _uses(name: str, setting: str, settings: RunSettings) -> bool:
    """Whether metric ``name``'s values depend on the run setting ``setting`` (or those of
    a metric it is computed from: ArtFID's FID) under ``settings``."""
    spec = METRICS[name]
    return (setting in spec.key_settings
            or (setting in ("y_channel", "crop_border") and spec.restoration)
            or (setting in _KID_SETTINGS and spec.set_value is kid_value)
            # the matlab convention's gray is MATLAB's rgb2gray (``gray_conversion``)
            or (setting == "convention" and settings.gray and "gray" in spec.key_settings)
            or any(_uses(needed, setting, settings) for needed in spec.needs))


def settings_without_effect(settings: RunSettings) -> list[str]:
    """What to say of each setting of a run chosen other than its default that changes
    none of the run's metrics — ``crop_border=4`` in a run of LPIPS alone, a convention
    of a metric the run does not compute — so that an option given and not applied is
    never silent.  None for the settings every metric takes (``alpha``)."""
    defaults = RunSettings(settings.metrics)
    labels = ", ".join(METRICS[name].label for name in settings.metrics)
    return [f"{field.name}={value!r} changes none of this run's metrics ({labels}): it "
            "was not applied"
            for field in dataclasses.fields(settings) if field.name != "metrics"
            if (value := getattr(settings, field.name)) != getattr(defaults, field.name)
            and not any(_uses(name, field.name, settings) for name in settings.metrics)]


def device_for(metrics: Sequence[str], device: str) -> str:
    """Where the networks of ``metrics`` run, as asked (``"auto"`` is resolved by
    ``Networks`` when a network is first needed, so a run whose values all come from the
    cache never imports torch); ``"cpu"`` for a run without a network — with a
    ``DecisionWarning`` where ``"cuda"`` was asked for.

    Raises:
        InvalidInputError: ``device`` is not ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise InvalidInputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if all(METRICS[m].kind == "pixel" for m in metrics):
        if device == "cuda":  # asked for, and not taken: said
            warnings.warn(DecisionWarning(
                "device='cuda' was asked for, but no metric asked for is a network's: the "
                "pixel metrics go to CUDA only beside one, and were computed on the CPU"),
                stacklevel=outside_stacklevel())
        return "cpu"
    return device


def invalid_values(values: dict[str, float]) -> dict[str, str]:
    """Remove every value that is not a number its metric can take (NaN; an infinity
    where the metric has none) and return why, metric by metric."""
    invalid = {}
    for name, value in list(values.items()):
        spec = METRICS.get(name)
        if math.isfinite(value) or (value == math.inf and spec is not None
                                    and spec.infinite_when is not None):
            continue
        del values[name]
        if spec is not None and spec.kind == "network":
            invalid[name] = (f"the value is {value}, not a finite number: the images or the "
                             "network's weights hold non-finite numbers (check the checkpoint)")
        else:
            invalid[name] = (f"the value is {value}, not a finite number: the metric is not "
                             "defined for this pair (a flat or degenerate image?)")
    return invalid
