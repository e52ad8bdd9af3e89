"""The metric cards (each registry entry's ``MetricSpec.card``) as readers meet them: the
one source of docs/metrics.md (``render_cards``; a test keeps the file equal to it) and of
each metric's sentence in ``methods.md`` (``method_sentence``).  A metric registered
without a card is stated by its registry description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from likeness.evaluation.catalog.registry import METRICS

__all__ = ["method_sentence", "render_cards"]


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
