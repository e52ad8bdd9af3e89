"""BibTeX for the metrics a run used, a methods paragraph stating its exact settings, and
the metric cards as readers meet them: each metric's sentence in ``methods.md``
(``method_sentence``) and docs/metrics.md (``render_cards``; a test keeps the file equal to
it).  A metric registered without a card is stated by its registry description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from likeness.evaluation.catalog.bibtex import BIBTEX, bibtex_for
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS
from likeness.io.files import split_skipped
from likeness.results.summary import small_sample_sentences, uneven_groups
from likeness.wording import counted, is_are, listed, run_words

__all__ = ["BIBTEX", "bibtex_for", "citation_keys", "code_span", "method_sentence",
           "methods_paragraph", "render_cards", "restoration_keys", "style_methods_paragraph"]

_STATISTICS_KEYS = ["efron1987bca", "wilcoxon1945", "holm1979"]


def citation_keys(metrics: list[str], settings: Mapping[str, Any] | None = None, *,
                  comparisons: bool = True) -> list[str]:
    """The BibTeX keys for these metrics under a run's ``settings`` (the conventions they
    cite) and for the statistics used, without repeats."""
    keys: list[str] = []
    for metric in metrics:
        keys += METRICS[metric].citations_for(settings or {})
    keys += _STATISTICS_KEYS if comparisons else _STATISTICS_KEYS[:1]
    return list(dict.fromkeys(keys))


def restoration_keys(settings: dict[str, Any]) -> list[str]:
    """BasicSR's citation when its conventions were used."""
    convention = settings.get("ssim_convention")
    used = (settings.get("y_channel") and convention != "matlab") or convention == "basicsr"
    return ["wang2022basicsr"] if used else []


def _restoration_sentence(settings: dict[str, Any], metrics: list[str]) -> str:
    """How restoration conventions changed the pixels PSNR, SSIM, MSE and MS-SSIM saw."""
    affected = [m for m in metrics if METRICS[m].restoration]
    y_channel, crop = settings.get("y_channel"), settings.get("crop_border") or 0
    if not affected or not (y_channel or crop):
        return ""
    steps = []
    if y_channel and settings.get("ssim_convention") == "matlab":
        steps.append("on the Y channel of ITU-R BT.601 YCbCr (range [16, 235]) rounded to "
                     "integers, as MATLAB's `rgb2ycbcr` returns it for 8-bit images")
    elif y_channel:
        steps.append("on the Y channel of ITU-R BT.601 YCbCr (range [16, 235], computed in "
                     "floating point without rounding, as BasicSR does [@wang2022basicsr])")
    if crop:
        steps.append(f"after cropping {crop} pixels from every image border")
    names = ", ".join(f"`{m}`" for m in affected)
    return f"{names} are computed " + " and ".join(steps) + "."


def _checkpoint(metric: str, settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The checkpoints whose files a metric's values depend on under a run's ``settings``
    (none for pixel metrics)."""
    network = METRICS[metric].network_in(settings)
    return () if network is None else NETWORKS[network].checkpoints


def _weights_phrase(record: dict[str, Any], names: tuple[str, ...]) -> str:
    infos = [record.get("weights", {}).get(name) for name in names]
    if not infos or not all(info and "sha256" in info for info in infos):
        return ""  # not resolved: the metric's failure says why
    files = "; ".join(
        f"`{info['file']}`, SHA-256 `{info['sha256']}`"
        + (" (user-supplied)" if info.get("source") == "user-supplied" else "")
        for info in infos if info)
    return f" (checkpoint{'s' if len(infos) > 1 else ''} {files})"


def _published_agreement(record: dict[str, Any]) -> str:
    """Why the metrics were chosen: their published rank correlations with human scores,
    as their cards hold them (with the source); empty when none of them has one."""
    cards = [(METRICS[m].label, card) for m in computed_metrics(record)
             if (card := METRICS[m].card) is not None and card.agreement]
    if not cards:
        return ""
    datasets = list(cards[0][1].agreement)
    sources = sorted({card.agreement_source for _, card in cards})
    return (f" Their published rank correlations with human scores (Spearman's ρ on "
            f"{' / '.join(datasets)}; {'; '.join(sources)}): "
            + "; ".join(f"{label} " + " / ".join(f"{card.agreement.get(d, float('nan')):.2f}"
                                                 for d in datasets) for label, card in cards)
            + ".")


def code_span(name: str) -> str:
    """A model's or method's name as Markdown code, whatever it holds: a backquote in it
    takes a double fence, a line break a space."""
    text = " ".join(str(name).splitlines())
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def methods_paragraph(record: dict[str, Any]) -> str:
    """A methods paragraph, in Markdown with [@key] citations, from a run record."""
    settings = record["settings"]
    metrics: list[str] = settings["metrics"]
    models = list(settings["models"])
    counts = record.get("counts", {})
    pairs = sum(c.get("pairs", 0) for c in counts.values())
    parts = []
    model_list = ", ".join(code_span(m) for m in models)
    if any(METRICS[m].kind != "set" for m in metrics):
        pairing = ("listed in a pairs file" if settings.get("pairs_csv")
                   else "matched by relative file path without extension")
        succeeded = record.get("pairs_succeeded", pairs)
        parts.append(f"We compare {counted(len(models), 'model')} ({model_list}) with the "
                     f"reference images over {counted(pairs, 'image pair')} ({pairing}), "
                     f"{succeeded} of them without any error.")
    else:
        parts.append(f"We compare the image sets of {counted(len(models), 'model')} "
                     f"({model_list}) with the reference set.")
    parts += _input_sentences(record, "pair")
    sentences = []
    for metric in computed_metrics(record):
        phrase = _weights_phrase(record, _checkpoint(metric, settings))
        sentences.append(method_sentence(metric, settings, phrase))
    reported = " We report " + "; ".join(sentences) + "." if sentences else ""
    parts.append(_comparison_space(record) + reported + _published_agreement(record))
    parts += failure_sentences(record)
    sizes = {model: size for model, size in record.get("set_sizes", {}).items()
             if size.get("model")}  # a set whose encoder could not run has no size to state
    if sizes:
        parts.append("Set metrics compare " + "; ".join(
            f"{code_span(model)}'s {counted(size['model'], 'image')} with "
            f"{counted(size['reference'], 'reference image')}"
            for model, size in sizes.items()) + ".")
    small = [w for w in record.get("warnings", [])
             if "images for" in w or "need more" in w or "biased downwards" in w]
    if small:
        parts.append("Small sets: " + "; ".join(dict.fromkeys(small)) + ".")
    restoration = _restoration_sentence(settings, metrics)
    if restoration:
        parts.append(restoration)
    parts += _value_sentences(record)
    stats = record.get("statistics", {})
    confidence = int(round(100 * stats.get("confidence", 0.95)))
    method = {"auto": "BCa", "bca": "BCa", "percentile": "percentile"}[stats.get("method",
                                                                                  "auto")]
    parts.append(
        f"For per-pair metrics we report the mean over pairs with its {confidence}% "
        f"{method} bootstrap confidence interval [@efron1987bca] ({stats.get('resamples')} "
        f"resamples, seed {stats.get('seed')}).")
    if len(models) > 1 and any(METRICS[m].kind != "set" for m in metrics):
        parts.append("Models are compared pairwise on the per-image differences with the "
                     "two-sided Wilcoxon signed-rank test [@wilcoxon1945], with Holm's "
                     "correction [@holm1979] over the model pairs of each metric.")
    decisions = record.get("decisions", {})
    if decisions:
        listed = "; ".join(f"{note} ({count}×)" for note, count in decisions.items())
        parts.append(f"Decisions taken on the inputs: {listed}.")
    if identical := record.get("identical_outputs"):
        parts.append(f"Byte-identical files: {'; '.join(identical)}.")
    versions = record.get("versions", {})
    software = ", ".join(f"{name} {version}" for name, version in versions.items())
    parts.append(f"All values were computed with {software}.")
    return " ".join(parts)


def computed_metrics(record: dict[str, Any]) -> list[str]:
    """The run's metrics that gave at least one value."""
    failures = record.get("metric_failures", {})
    return [m for m in record["settings"]["metrics"]
            if failures.get(m, {}).get("computed", 1) > 0]


def failure_sentences(record: dict[str, Any]) -> list[str]:
    """Which requested metrics gave no value, or failed on some items, and why."""
    sentences = []
    unit = "models" if record.get("kind") != "style" else "methods"
    for metric, failure in record.get("metric_failures", {}).items():
        set_metric = METRICS[metric].kind == "set"
        label = f"{METRICS[metric].plain_label} (`{metric}`)"
        # the cause, without the advice on fixing it (run.json and per_image.csv have it)
        reason = failure["reason"].split("; ")[0].rstrip(".")
        if failure["computed"] == 0:
            sentences.append(f"{label} was requested but could not be computed: {reason} "
                             "(the details are in `run.json`).")
        else:
            of = failure["computed"] + failure["failed"]
            sentences.append(f"{label} failed for {failure['failed']} of {of} "
                             f"{unit if set_metric else 'items'} ({reason}); those are left "
                             "out of its statistics.")
    return sentences


def _input_sentences(record: dict[str, Any], unit: str) -> list[str]:
    """What happened to the inputs: failures, files without a partner, skipped files."""
    sentences = []
    failed = record.get("pairs_failed", 0)
    if failed:
        sentences.append(f"{counted(failed, unit)} failed in at least one metric and "
                         f"{is_are(failed)} left out of that metric's statistics (the errors "
                         "are listed in `per_image.csv`).")
    unmatched = record.get("unmatched", {})
    count = sum(len(v) if isinstance(v, list) else len(v.get("reference", []))
                + len(v.get("test", [])) for v in unmatched.values())
    if count:
        sentences.append(f"{counted(count, 'file')} had no partner and "
                         f"{'was' if count == 1 else 'were'} not compared (listed in "
                         "`run.json`).")
    hidden, others = split_skipped(name for names in record.get("skipped_files", {}).values()
                                   for name in names)
    if hidden or others:
        kinds = " and ".join(part for part in (
            f"{len(hidden)} hidden" if hidden else "",
            f"{len(others)} not in an image format likeness reads" if others else "") if part)
        total = len(hidden) + len(others)
        sentences.append(f"{counted(total, 'file')} in the folders "
                         f"{'was' if total == 1 else 'were'} skipped ({kinds}; listed in "
                         "`run.json`).")
    errors = record.get("file_errors", [])
    if errors:
        sentences.append(f"{counted(len(errors), 'file')} could not be read, or not by a "
                         f"set metric's network, and {is_are(len(errors))} left out of what "
                         "needs them (listed in `run.json`).")
    return sentences


def _comparison_space(record: dict[str, Any]) -> str:
    """In which channels and on which data ranges the pairs were compared, with counts."""
    if record["settings"].get("gray"):
        colour = "ITU-R BT.601 luma"
    else:
        channels = record.get("channels", {})
        if channels.get("gray") and channels.get("RGB"):
            colour = (f"RGB ({counted(channels['RGB'], 'pair')}) and in one gray channel "
                      f"({counted(channels['gray'], 'pair')} of gray files)")
        elif channels.get("gray"):
            colour = "one gray channel (gray files)"
        else:
            colour = "RGB"
    names = {"255": "255 (8-bit files)", "65535": "65,535 (16-bit files)",
             "1": "1 (files of mixed bit depths, each scaled to [0, 1])"}
    ranges = record.get("data_ranges", {})
    if len(ranges) == 1:
        span = f"with data range {names.get(next(iter(ranges)), next(iter(ranges)))}"
    elif ranges:
        span = "with the data range of their bit depths: " + ", ".join(
            f"{names.get(r, r)} for {counted(n, 'pair')}" for r, n in ranges.items())
    else:
        span = "with the data range given by their bit depth"
    metrics = computed_metrics(record)
    restored = [m for m in metrics if METRICS[m].restoration]
    if record["settings"].get("y_channel") and restored:
        y = "the Y channel of ITU-R BT.601 YCbCr (details below)"
        others = [m for m in metrics if m not in restored and METRICS[m].kind != "set"]
        colour = (f"{y} for {', '.join(f'`{m}`' for m in restored)} and in {colour} for the "
                  "others" if others else y)
        return f"Images are compared on {colour}, {span}."
    return f"Images are compared in {colour}, {span}."


def _named(metrics: list[str]) -> str:
    """Metrics as a sentence names them: "PSNR", "PSNR and SSIM"."""
    return listed([METRICS[metric].plain_label for metric in metrics])


def _value_sentences(record: dict[str, Any]) -> list[str]:
    """How MSE's units, mixed scales and infinite values were handled."""
    sentences = []
    for metric, scale in record.get("scales", {}).items():  # of the values it has (if any)
        ranges, spec = sorted(scale.get("pairs_per_data_range", {}), key=float), METRICS[metric]
        if ranges and metric not in record.get("not_summarised", {}):
            sentences.append(f"{spec.plain_label} is in {spec.scale_unit} on the images' data "
                             f"range ({listed(ranges)}), not normalised to [0, 1].")
    for metric, why in record.get("not_summarised", {}).items():
        sentences.append(f"{METRICS[metric].plain_label} is {why}.")
    for key, info in record.get("infinite_values", {}).items():
        model, _, metric = key.rpartition("/")
        sentences.append(f"For {code_span(model)}, "
                         f"{counted(info['count'], run_words(record.get('kind')).unit)} "
                         f"{'has' if info['count'] == 1 else 'have'} "
                         f"{METRICS[metric].plain_label} = +∞ "
                         f"({info['why']}); its mean is therefore +∞ and has no confidence "
                         "interval.")
    for metrics, counts in uneven_groups(record.get("uneven_pairs", {})):
        per_model = ", ".join(f"{code_span(model)} {n}" for model, n in counts.items())
        named = _named(metrics)
        words = run_words(record.get("kind"))
        role, unit = words.role, words.units
        sentences.append(f"The means of {named} are over different {unit} for each {role} "
                         f"({per_model}: files without a partner or failed {unit}); the "
                         f"paired comparisons use the {unit} both {role}s have.")
    for metrics, counts in uneven_groups(record.get("uneven_sets", {})):
        per_model = ", ".join(f"{code_span(model)} {n}" for model, n in counts.items())
        sentences.append(f"{_named(metrics)} {is_are(len(metrics))} computed on sets of "
                         f"different sizes ({per_model} images), on which a set metric "
                         "depends (FID is biased by a set's size).")
    sentences += [f"{s[0].upper()}{s[1:]}." for s in small_sample_sentences(record, code_span)]
    if record.get("infinite_values") and len(record["settings"].get("models") or {}) > 1:
        sentences.append("In the paired comparisons, +∞ ranks above every finite value and "
                         "two values of +∞ are equal; a mean difference that involves one is "
                         "infinite and has no confidence interval.")
    return sentences


def style_methods_paragraph(record: dict[str, Any]) -> str:
    """The methods paragraph of a style-transfer run (protocol, metrics, weights)."""
    settings = record["settings"]
    protocol = record.get("protocol", {})
    parts = []
    for method, counts in protocol.items():
        parts.append(f"{code_span(method)}: {counted(counts['contents'], 'content image')} × "
                     f"{counted(counts['styles'], 'style image')}, "
                     f"{counted(counts['stylized'], 'stylization')}")
    sizes = record.get("stylized_sizes", [])
    text = ("We evaluate " + "; ".join(parts) + "."
            + (f" Stylizations are {', '.join(sizes)} pixels." if sizes else ""))
    attempted = record.get("pairs_attempted")
    if attempted is not None:
        text += (f" {record.get('pairs_succeeded', attempted)} of {attempted} stylizations "
                 "were evaluated without any error.")
    text += "".join(" " + s for s in _input_sentences(record, "stylization"))
    metrics = computed_metrics(record)
    sentences = [method_sentence(m, settings, _weights_phrase(record, _checkpoint(m, settings)),
                                 style=True) for m in metrics]
    networks = dict.fromkeys(METRICS[m].network_in(settings) for m in metrics)
    text += "".join(f" {NETWORKS[n].methods_note}" for n in networks
                    if n is not None and NETWORKS[n].methods_note)
    if sentences:
        period = settings.get("protocol")
        chosen = (f" the metrics style-transfer papers of {period} report together "
                  f"(likeness's `{period}` protocol):" if period else "")
        text += (" We report" + chosen + " " + "; ".join(sentences) + "."
                 + _published_agreement(record))
    text += "".join(" " + s for s in failure_sentences(record))
    stats = record.get("statistics", {})
    text += (f" Per-image metrics are reported as the mean with its "
             f"{int(round(100 * stats.get('confidence', 0.95)))}% bootstrap confidence "
             f"interval [@efron1987bca] ({stats.get('resamples')} resamples, seed "
             f"{stats.get('seed')}).")
    if len(protocol) > 1:
        text += (" Methods are compared pairwise on per-triplet differences with the "
                 "Wilcoxon signed-rank test [@wilcoxon1945] and Holm's correction [@holm1979].")
    text += "".join(" " + s for s in _value_sentences(record))
    decisions = record.get("decisions", {})
    if decisions:
        text += " Decisions taken on the inputs: " + "; ".join(
            f"{note} ({count}×)" for note, count in decisions.items()) + "."
    if identical := record.get("identical_outputs"):
        text += f" Byte-identical files: {'; '.join(identical)}."
    versions = record.get("versions", {})
    text += " All values were computed with " + ", ".join(
        f"{name} {version}" for name, version in versions.items()) + "."
    return text


def method_sentence(metric: str, settings: Mapping[str, Any] | None = None, weights: str = "",
                    style: bool = False) -> str:
    """How the methods paragraph states ``metric`` under a run's ``settings`` (``weights``:
    the checkpoint phrase; ``style``: in a style run's paragraph)."""
    spec = METRICS[metric]
    if spec.card is None:
        cited = "; ".join(f"@{key}" for key in spec.citations)
        return f"`{metric}`: {spec.description}" + (f" [{cited}]" if cited else "")
    return spec.card.sentence(settings or {}, weights, style)


def render_cards() -> str:
    """docs/metrics.md: every card, in the registry's order, with its citations."""
    lines = ["# Metric cards", "",
             "Generated from the catalog's cards (`src/likeness/evaluation/catalog/cards.py`, "
             "each metric's `MetricSpec.card`: the source of its sentence in `methods.md`); "
             "`tests/test_metric_cards.py` keeps this file equal to it.  Citation keys are "
             "those of `references.bib`.", ""]
    for name, spec in METRICS.items():
        card = spec.card
        if card is None:
            continue
        lines += [f"## {card.title} — `{name}`", "",
                  f"- **Measures:** {card.measures}.",
                  f"- **Range and direction:** {card.range}.",
                  f"- **Sensitive to:** {card.sensitive}.",
                  f"- **Tolerates:** {card.insensitive}.",
                  f"- **Convention:** {spec.description}.",
                  f"- **Commands:** {', '.join(f'`likeness {c}`' for c in spec.commands)}.",
                  f"- **Cite:** {', '.join(f'`{key}`' for key in spec.citations)}.",
                  "- **Agreement with people (published SRCC):** "
                  + (", ".join(f"{dataset} {value:.2f}" for dataset, value
                               in card.agreement.items()) + f" ({card.agreement_source})"
                     if card.agreement else "none found") + ".",
                  f"- **Methods sentence:** {card.method.replace('{weights}', '')}.", ""]
        if card.convention is not None and card.by_convention:
            option = card.convention.replace("_", "-")
            lines += [f"Other conventions (`--{option}`, `{card.convention}=`):", ""]
            lines += [f"- `{key}`: {text.replace('{weights}', '')}."
                      for key, text in card.by_convention.items()]
            lines.append("")
    return "\n".join(lines)
