"""``likeness study analyze --ratings``: a rating (MOS) study's ratings analysed into a
folder — each model's MOS and z-MOS with bootstrap intervals (``mos.csv``), pairwise tests
(``pairwise.csv``), the excluded participants and why (``exclusions.csv``), each metric's
correlation with the ratings when a results folder is given (``agreement.csv``), Markdown
and LaTeX tables (``summary.md``, ``summary.tex``), a methods paragraph (``methods.md``),
its references (``references.bib``), a page (``report.html``: the scores with their
intervals, the tests, each metric's correlation and the outputs where it disagrees most
with the ratings) and the record (``study.json``, kind ``ratings``).
The maths is ``likeness.results.ratings``; the folder rules are the 2AFC analysis's
(a new, empty or earlier ratings-analysis folder; nothing written through a link).
"""

from __future__ import annotations

import math
from pathlib import Path

from likeness._version import __version__
from likeness.evaluation.catalog.bibtex import bibtex_for
from likeness.evaluation.catalog.metric_spec import latex_escape, pdflatex_note
from likeness.evaluation.catalog.registry import METRICS
from likeness.io.files import replace_file
from likeness.results.ratings import RatingsAnalysis, analyze_ratings, read_ratings
from likeness.results.tables import markdown_text
from likeness.runs.folder import write_json, writing
from likeness.runs.report import results_pictures
from likeness.runs.single import check_analysis_arguments
from likeness.runs.study import (
    cell,
    check_analysis_folder,
    csv_text,
    exclusions_and_decisions,
    metric_values,
)
from likeness.wording import counted, was_were

__all__ = ["RATINGS_FILES", "analyze_rating_study"]

RATINGS_FILES = ("mos.csv", "pairwise.csv", "exclusions.csv", "agreement.csv", "summary.md",
                 "summary.tex", "methods.md", "references.bib", "report.html", "study.json")


def _csv(header: list[str], rows: list[list[object]]) -> str:
    return csv_text([header, *rows])


def _bounds(analysis: RatingsAnalysis) -> tuple[str, str]:
    label = f"{analysis.confidence * 100:g}"
    return f"ci{label}_low", f"ci{label}_high"


def _mos_csv(analysis: RatingsAnalysis) -> str:
    low, high = _bounds(analysis)
    return _csv(["question", "model", "ratings", "mos", f"mos_{low}", f"mos_{high}", "z_mos",
                 f"z_mos_{low}", f"z_mos_{high}"],
                [[q.question, s.model, s.ratings, cell(s.mos), cell(s.ci[0]), cell(s.ci[1]),
                  cell(s.z_mos), cell(s.z_ci[0]), cell(s.z_ci[1])]
                 for q in analysis.questions for s in q.scores])


def _pairwise_csv(analysis: RatingsAnalysis) -> str:
    return _csv(["question", "first", "second", "items", "mean_difference", "p_value",
                 "p_holm"],
                [[q.question, p.first, p.second, p.items, cell(p.difference),
                  cell(p.p_value), cell(p.p_holm)]
                 for q in analysis.questions for p in q.pairs])


def _agreement_csv(analysis: RatingsAnalysis) -> str:
    low, high = _bounds(analysis)
    header = ["question", "metric", "stimuli"]
    for name in ("spearman", "kendall", "pearson"):
        header += [name, f"{name}_{low}", f"{name}_{high}"]
    rows = []
    for q in analysis.questions:
        for metric, (stimuli, *coefficients) in q.correlations.items():
            rows.append([q.question, metric, stimuli,
                         *(cell(v) for estimate, (a, b) in coefficients
                           for v in (estimate, a, b))])
    return _csv(header, rows)


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def _summary(analysis: RatingsAnalysis, latex: bool = False) -> str:
    percent = f"{analysis.confidence * 100:g}"
    blocks = []
    for q in analysis.questions:
        ranked = sorted(q.scores, key=lambda s: -s.mos)
        if latex:
            lines = [r"\begin{tabular}{lrrr}", r"\toprule",
                     rf"Model & Ratings & MOS [{percent}\,\% CI] & z-MOS [{percent}\,\% CI] \\",
                     r"\midrule"]
            lines += [rf"{latex_escape(s.model)} & {s.ratings} & {_number(s.mos)} "
                      rf"[{_number(s.ci[0])}, {_number(s.ci[1])}] & {_number(s.z_mos)} "
                      rf"[{_number(s.z_ci[0])}, {_number(s.z_ci[1])}] \\" for s in ranked]
            lines += [r"\bottomrule", r"\end{tabular}"]
        else:
            title = f"## {markdown_text(q.question) if q.question else 'Ratings'}"
            lines = [title, "", f"| model | ratings | MOS [{percent} % CI] | "
                     f"z-MOS [{percent} % CI] |", "| --- | ---: | ---: | ---: |"]
            lines += [f"| {markdown_text(s.model)} | {s.ratings} | {_number(s.mos)} "
                      f"[{_number(s.ci[0])}, {_number(s.ci[1])}] | {_number(s.z_mos)} "
                      f"[{_number(s.z_ci[0])}, {_number(s.z_ci[1])}] |" for s in ranked]
            lines += ["", f"{counted(q.participants, 'participant')}, "
                      f"{counted(q.ratings, 'rating')}; Krippendorff's α (interval) "
                      f"{_number(q.alpha)}."]
            if q.correlations:
                lines += ["", "| metric | stimuli | SRCC | KRCC | PLCC |",
                          "| --- | ---: | ---: | ---: | ---: |"]
                lines += [f"| {METRICS[m].plain_label if m in METRICS else m} | {n} | "
                          f"{_number(rho[0])} | {_number(tau[0])} | {_number(r[0])} |"
                          for m, (n, rho, tau, r) in q.correlations.items()]
        blocks.append("\n".join(lines))
    if latex:  # (the comment goes with the first table pasted)
        blocks[:1] = ["\n".join([*pdflatex_note([s.model for q in analysis.questions
                                                  for s in q.scores]), *blocks[:1]])]
    return "\n\n".join(blocks) + "\n"


def _citations(analysis: RatingsAnalysis) -> list[str]:
    keys = ["wilcoxon1945", "holm1979"]
    if any(q.alpha == q.alpha for q in analysis.questions):
        keys.append("krippendorff2011alpha")
    return keys


def _methods(analysis: RatingsAnalysis) -> str:
    participants = max(q.participants for q in analysis.questions)
    ratings = sum(q.ratings for q in analysis.questions)
    text = (f"In a rating study, {counted(participants, 'participant')} gave "
            f"{counted(ratings, 'rating')} that {was_were(ratings)} analysed."
            f"{exclusions_and_decisions(analysis.exclusions, analysis.decisions)} Each "
            "model's mean opinion score (MOS) is the "
            "mean of its ratings, and its z-MOS the mean after each participant's ratings are "
            "standardised (their mean subtracted, divided by their standard deviation); both "
            f"with {analysis.confidence * 100:g} % percentile bootstrap intervals from "
            f"{counted(analysis.resamples, 'resample')} of the participants (seed {analysis.seed}; "
            "distances from the estimate widened by sqrt(n/(n − 1))). Each pair "
            "of models was compared by a two-sided Wilcoxon "
            "signed-rank test (Wilcoxon 1945) of their per-item mean ratings over the items "
            "both were rated on, Holm-corrected over the pairs (Holm 1979). Agreement "
            "between participants is Krippendorff's α for interval data (Krippendorff 2011; "
            "each output a unit, a participant's repeated ratings of it averaged).")
    if any(q.correlations for q in analysis.questions):
        text += (" Each metric's agreement with the ratings is the correlation of its "
                 "value with each output's MOS — Spearman's ρ, Kendall's τ-b and Pearson's "
                 "r, a metric where lower is better negated so that a positive value is "
                 "agreement — with percentile bootstrap intervals over items "
                 "(`agreement.csv`).")
    return (text + f" Analysed with likeness {__version__}; the references are in "
            f"references.bib ({', '.join(_citations(analysis))}).\n")


def _disagreeing(stimuli: dict[tuple[str, str], float], higher_better: bool,
                 values: dict[tuple[str, str], float], count: int = 3
                 ) -> list[tuple[tuple[str, str], float, float]]:
    """The rated outputs whose rank by the metric is furthest from their rank by MOS:
    ((model, item), MOS, the metric's value)."""
    shared = [s for s in stimuli if s in values and math.isfinite(values[s])]
    if len(shared) < 3:
        return []
    by_people = {s: rank for rank, s in enumerate(sorted(shared, key=lambda s: stimuli[s]))}
    by_metric = {s: rank for rank, s in enumerate(sorted(
        shared, key=lambda s: values[s] if higher_better else -values[s]))}
    worst = sorted(shared, key=lambda s: -abs(by_people[s] - by_metric[s]))[:count]
    return [(s, stimuli[s], values[s]) for s in worst]


def _page(analysis: RatingsAnalysis,
          metrics: dict[str, tuple[bool, dict[tuple[str, str], float]]],
          results: Path | None) -> str:
    """The analysis as one self-contained HTML page (the disagreeing outputs with their
    images when the results folder is given)."""
    from html import escape

    picture = results_pictures(results, 120)

    percent = f"{analysis.confidence * 100:g} %"
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>likeness: rating "
             "study</title><style>body{font-family:sans-serif;max-width:1000px;margin:2em "
             "auto}table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;"
             "border-bottom:1px solid #ddd}.bar{background:#4a7ebb;height:10px}.missing{color:"
             "#a00}img{max-width:120px}</style>"
             "</head><body><h1>Rating study</h1>",
             f"<p>{escape(_methods(analysis))}</p>"]
    for q in analysis.questions:
        scores = sorted(q.scores, key=lambda s: -s.mos)
        top = max((s.ci[1] for s in scores if math.isfinite(s.ci[1])), default=1.0) or 1.0
        parts.append(f"<h2>{escape(q.question or 'Ratings')}</h2><table><tr><th>model</th>"
                     f"<th>ratings</th><th>MOS [{percent} CI]</th><th></th><th>z-MOS "
                     f"[{percent} CI]</th></tr>")
        for s in scores:
            width = max(0.0, 200 * s.mos / top) if math.isfinite(s.mos) else 0.0
            parts.append(f"<tr><td>{escape(s.model)}</td><td>{s.ratings}</td><td>"
                         f"{_number(s.mos)} [{_number(s.ci[0])}, {_number(s.ci[1])}]</td>"
                         f"<td><div class='bar' style='width:{width:.0f}px'></div></td><td>"
                         f"{_number(s.z_mos)} [{_number(s.z_ci[0])}, {_number(s.z_ci[1])}]"
                         "</td></tr>")
        parts.append("</table><table><tr><th>first</th><th>second</th><th>items</th>"
                     "<th>mean difference</th><th>p (Holm)</th></tr>")
        parts += [f"<tr><td>{escape(p.first)}</td><td>{escape(p.second)}</td><td>{p.items}"
                  f"</td><td>{_number(p.difference)}</td><td>{_number(p.p_holm)}</td></tr>"
                  for p in q.pairs]
        parts.append("</table>")
        for metric, (count, rho, tau, r) in q.correlations.items():
            label = escape(METRICS[metric].plain_label if metric in METRICS else metric)
            parts.append(f"<h3>{label}</h3><p>{count} outputs: Spearman's ρ {_number(rho[0])} "
                         f"[{_number(rho[1][0])}, {_number(rho[1][1])}], Kendall's τ "
                         f"{_number(tau[0])} [{_number(tau[1][0])}, {_number(tau[1][1])}], "
                         f"Pearson's r {_number(r[0])} [{_number(r[1][0])}, "
                         f"{_number(r[1][1])}]. The outputs it ranks furthest from the "
                         "ratings:</p><table><tr><th>reference</th><th>output</th>"
                         f"<th>model</th><th>item</th><th>MOS</th><th>{label}</th></tr>")
            higher, values = metrics[metric]
            parts += [f"<tr><td>{picture(model, item, True)}</td><td>"
                      f"{picture(model, item, False)}</td><td>{escape(model)}</td><td>"
                      f"{escape(item)}</td><td>{_number(mos)}</td><td>{_number(value, 4)}"
                      "</td></tr>"
                      for (model, item), mos, value in _disagreeing(q.stimuli, higher, values)]
            parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def analyze_rating_study(ratings: Path, out_dir: Path | None = None, *,
                         resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
                         results: Path | None = None) -> RatingsAnalysis:
    """Analyse a ratings CSV (``likeness.results.ratings``) and, with ``out_dir``, write the
    analysis folder; ``results``: the ``compare`` (or ``style``) results folder of the same
    items and models, whose metrics' correlation with the ratings is measured.

    Raises:
        LikenessError: an unreadable or malformed ratings file, nothing left after the
            exclusions, ratings naming models or items the results folder does not hold,
            or a folder that is not the analysis's to write.
    """
    check_analysis_arguments(ratings=ratings, out_dir=out_dir, results=results,
                             resamples=resamples, confidence=confidence)
    rows, decisions = read_ratings(Path(ratings))
    if out_dir is not None:
        check_analysis_folder(Path(out_dir), "ratings", RATINGS_FILES)
    named = {(r.model, r.item) for r in rows if r.expected is None}
    metrics = (metric_values(Path(results), named, decisions, "ratings")
               if results is not None else None)
    analysis = analyze_ratings(rows, resamples=resamples, seed=seed, confidence=confidence,
                               decisions=decisions, metrics=metrics)
    if out_dir is None:
        return analysis
    folder = Path(out_dir)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "study.json", {"kind": "ratings", "status": "writing"})  # ours already
    exclusions = _csv(["participant", "reason"], [list(e) for e in analysis.exclusions])
    for name, text in (("mos.csv", _mos_csv(analysis)), ("pairwise.csv", _pairwise_csv(analysis)),
                       ("exclusions.csv", exclusions), ("agreement.csv", _agreement_csv(analysis)),
                       ("summary.md", _summary(analysis)),
                       ("summary.tex", _summary(analysis, latex=True)),
                       ("methods.md", _methods(analysis)),
                       ("report.html", _page(analysis, metrics or {},
                                             Path(results) if results is not None else None)),
                       ("references.bib", bibtex_for(_citations(analysis)))):
        with writing(folder / name):
            replace_file(folder / name, text)
    write_json(folder / "study.json", {
        "kind": "ratings", "status": "complete", "likeness_version": __version__,
        "ratings": str(ratings),
        "resamples": resamples, "seed": seed, "confidence": confidence,
        "results": str(results) if results is not None else None,
        "decisions": analysis.decisions,
        "exclusions": [{"participant": p, "reason": r} for p, r in analysis.exclusions],
        "questions": [{"question": q.question, "participants": q.participants,
                       "ratings": q.ratings,
                       "krippendorff_alpha": q.alpha if q.alpha == q.alpha else None}
                      for q in analysis.questions],
        "files": list(RATINGS_FILES)})
    return analysis
