"""``likeness study analyze``: a 2AFC study's judgments analysed into a folder — scores per
model with confidence intervals (``scores.csv``), pairwise preference tests
(``pairwise.csv``), the excluded participants and why (``exclusions.csv``), each metric's
agreement with the participants when a results folder is given (``agreement.csv``; two
metrics' difference in it, ``agreement_differences.csv``), Markdown and LaTeX tables
(``summary.md``, ``summary.tex``), a methods paragraph (``methods.md``), a page
(``report.html``: the scores, each metric's agreement and where it disagrees most with the
participants, with the images) and the record (``study.json``).

The folder is new, empty, or one this command wrote before (its ``study.json``): then its
files are replaced.  A folder holding anything else is refused; no file is written through
a symbolic link (each is written to a temporary file and renamed).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from likeness._version import __version__
from likeness.documents import file_bytes, file_text, json_document
from likeness.errors import LikenessError
from likeness.evaluation.catalog.bibtex import bibtex_for
from likeness.evaluation.catalog.metric_spec import latex_escape, pdflatex_note
from likeness.evaluation.catalog.registry import METRICS
from likeness.io import replace_file, text_of
from likeness.results.html import read_results_folder
from likeness.results.reliability import MetricValues
from likeness.results.study import StudyAnalysis, analyze, read_judgments
from likeness.results.tables import markdown_text
from likeness.runs.folder import write_json, writing
from likeness.runs.report import study_report
from likeness.runs.single import check_analysis_arguments
from likeness.wording import counted, was_were

__all__ = ["STUDY_FILES", "analyze_study", "cell", "check_analysis_folder", "csv_text",
           "exclusions_and_decisions", "metric_values"]

STUDY_FILES = ("judgments.csv", "scores.csv", "pairwise.csv", "exclusions.csv", "agreement.csv",
               "agreement_differences.csv", "summary.md", "summary.tex", "methods.md",
               "references.bib", "report.html", "study.json")


def check_analysis_folder(out_dir: Path, kind: str = "study",
                          files: tuple[str, ...] = STUDY_FILES) -> None:
    """Refuse an analysis folder that is not new, empty or one this analysis (``kind`` in
    its ``study.json``) wrote before, and any of ``files`` that is a symbolic link."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise LikenessError(f"{out_dir} is not a folder: choose a folder for the analysis")
    if not out_dir.exists():
        return
    record = out_dir / "study.json"
    ours = False
    if record.is_file() and not record.is_symlink():
        try:
            ours = json_document(file_text(record)).get("kind") == kind
        except (ValueError, OSError, AttributeError):
            ours = False
    try:
        present = [p.name for p in out_dir.iterdir()]
    except OSError as error:
        raise LikenessError(f"cannot read the folder {out_dir} ({error.strerror or error}); "
                            "choose a folder likeness can read and write") from None
    others = [name for name in present if name not in files]
    if not ours and present:
        raise LikenessError(f"{out_dir} holds files likeness's study analysis did not write; "
                            "choose an empty or new folder")
    if others:
        raise LikenessError(f"{out_dir} holds other files besides a study analysis "
                            f"({', '.join(sorted(others)[:5])}); choose another folder")
    for name in files:
        if (out_dir / name).is_symlink():
            raise LikenessError(f"{out_dir / name} is a symbolic link: likeness does not "
                                "write through links; remove it")


def csv_text(rows: list[list[Any]]) -> str:
    """Rows as CSV text."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def cell(value: float) -> str:
    """A number as a CSV cell: exact, or empty for NaN (no value)."""
    return repr(value) if value == value else ""  # NaN (no value): an empty cell


def _scores(analysis: StudyAnalysis) -> str:
    low, high = _bounds(analysis)
    rows: list[list[Any]] = [["question", "model", "judgments", "wins", "bradley_terry",
                              f"bradley_terry_{low}", f"bradley_terry_{high}", "jod",
                              f"jod_{low}", f"jod_{high}"]]
    for question in analysis.questions:
        for model in question.ranking:
            ci, jod_ci = question.ci[model], question.jod_ci[model]
            rows.append([question.question, model, question.counts[model],
                         question.wins[model], cell(question.bradley_terry[model]),
                         cell(ci[0]), cell(ci[1]), cell(question.jod[model]),
                         cell(jod_ci[0]), cell(jod_ci[1])])
    return csv_text(rows)


def _bounds(analysis: StudyAnalysis) -> tuple[str, str]:
    percent = analysis.confidence * 100
    label = f"{percent:g}"
    return f"ci{label}_low", f"ci{label}_high"


def _pairwise(analysis: StudyAnalysis) -> str:
    rows: list[list[Any]] = [["question", "first", "second", "judgments", "first_wins",
                              "first_win_rate", "p_value", "p_holm"]]
    for question in analysis.questions:
        for test in question.pairs:
            rows.append([question.question, test.first, test.second, test.n, test.first_wins,
                         repr(test.first_wins / test.n), repr(test.p_value),
                         repr(test.p_holm)])
    return csv_text(rows)


def _summary(analysis: StudyAnalysis) -> str:
    percent = f"{analysis.confidence * 100:g} %"
    lines = []
    for question in analysis.questions:
        title = f"## {markdown_text(question.question)}" if question.question else "## Scores"
        lines += [title, "", f"{counted(question.judgments, 'judgment')} by "
                  f"{counted(question.participants, 'participant')}.  Bradley–Terry "
                  "log-strengths (mean 0) and JOD scores "
                  f"({markdown_text(question.models[0])} at 0; 1 JOD = 75 % preference), with "
                  f"{percent} bootstrap intervals over participants.", "",
                  "| model | Bradley–Terry | CI | JOD | CI | wins / judgments |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for model in question.ranking:
            low, high = question.ci[model]
            jod_low, jod_high = question.jod_ci[model]
            lines.append(f"| {markdown_text(model)} | "
                         f"{_number(question.bradley_terry[model], 3)} | "
                         f"[{_number(low, 3)}, {_number(high, 3)}] | "
                         f"{_number(question.jod[model], 3)} | "
                         f"[{_number(jod_low, 3)}, {_number(jod_high, 3)}] | "
                         f"{question.wins[model]} / {question.counts[model]} |")
        agreement = (f"Agreement between participants: Krippendorff's α = "
                     f"{_number(question.alpha, 3)}" if question.alpha == question.alpha
                     else "Agreement between participants: no item and pair was judged by "
                          "two participants (Krippendorff's α undefined)")
        if question.repeats:
            agreement += (f"; {counted(question.repeats, 'repeated trial')}, "
                          f"{_number(question.consistency * 100, 1)} % answered as before")
        if question.metrics:
            lines += ["", "| metric | 2AFC score | CI | judgments |", "| --- | --- | --- | --- |"]
            for name, (score, (lo, hi), _, scored) in question.metrics.items():
                lines.append(f"| {METRICS[name].label if name in METRICS else name} | "
                             f"{_number(score, 3)} | [{_number(lo, 3)}, {_number(hi, 3)}] | "
                             f"{scored} |")
            for d in question.metric_differences:
                lines.append(f"| {markdown_text(d.first)} − {markdown_text(d.second)} | "
                             f"{_number(d.difference, 3)} | "
                             f"[{_number(d.interval[0], 3)}, {_number(d.interval[1], 3)}] | "
                             f"p (Holm) {d.p_holm:.3g} |")
        lines += ["", agreement + ".", "",
                  "| pair | win rate of the first | judgments | p (Holm) |",
                  "| --- | --- | --- | --- |"]
        for test in question.pairs:
            lines.append(f"| {markdown_text(test.first)} vs {markdown_text(test.second)} | "
                         f"{_number(test.first_wins / test.n, 3)} | {test.n} | "
                         f"{test.p_holm:.3g} |")
        lines.append("")
    return "\n".join(lines)


def _latex(analysis: StudyAnalysis) -> str:
    """One booktabs table per question: each model's scores with their intervals."""
    lines = ["% likeness study table; needs \\usepackage{booktabs}",
             *pdflatex_note([model for q in analysis.questions for model in q.ranking])]
    for question in analysis.questions:
        if question.question:
            lines.append(f"% {latex_escape(question.question)}")
        lines += ["\\begin{tabular}{lccc}", "\\toprule",
                  "Model & Bradley--Terry & JOD & Wins / judgments \\\\", "\\midrule"]
        for model in question.ranking:
            bt, (bt_low, bt_high) = question.bradley_terry[model], question.ci[model]
            jod, (jod_low, jod_high) = question.jod[model], question.jod_ci[model]
            cells = [f"{bt:.2f} [{bt_low:.2f}, {bt_high:.2f}]" if bt == bt else "--",
                     f"{jod:.2f} [{jod_low:.2f}, {jod_high:.2f}]" if jod == jod else "--"]
            lines.append(f"{latex_escape(model)} & {cells[0]} & {cells[1]} & "
                         f"{question.wins[model]} / {question.counts[model]} \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def _citations(analysis: StudyAnalysis) -> list[str]:
    keys = ["bradley1952", "thurstone1927", "perezortiz2017pwcmp", "holm1979"]
    if any(q.alpha == q.alpha for q in analysis.questions):
        keys.append("krippendorff2011alpha")
    if any(q.metrics for q in analysis.questions):
        keys.append("zhang2018lpips")
    return keys


def exclusions_and_decisions(exclusions: list[tuple[str, str]], decisions: list[str]) -> str:
    """A methods paragraph's sentences on the participants excluded and the decisions
    taken reading the study's file (each starting with a space)."""
    excluded = (f" {counted(len(exclusions), 'participant')} {was_were(len(exclusions))} excluded ("
                + "; ".join(f"{who}: {why}" for who, why in exclusions) + ")."
                if exclusions else " No participant was excluded.")
    decided = (" " + "; ".join(d[0].upper() + d[1:] for d in decisions) + "."
               if decisions else "")
    return excluded + decided


def _methods(analysis: StudyAnalysis) -> str:
    participants = max(q.participants for q in analysis.questions)
    judgments = sum(q.judgments for q in analysis.questions)
    undefined = sum(q.resamples_undefined for q in analysis.questions)
    return (f"In a two-alternative forced-choice study, {counted(participants, 'participant')} "
            f"made {counted(judgments, 'judgment')} that {was_were(judgments)} analysed."
            f"{exclusions_and_decisions(analysis.exclusions, analysis.decisions)} Each model's "
            "score is its Bradley–Terry log-strength estimated by maximum likelihood "
            "(Bradley & Terry 1952; mean zero over the models) and its Thurstone Case V score "
            "(Thurstone 1927) in JOD units (1 JOD = 75 % preference), computed as pwcmp's "
            "pw_scale computes it with its distance prior (Perez-Ortiz & Mantiuk 2017), each with "
            f"{analysis.confidence * 100:g} % percentile bootstrap intervals from "
            f"{counted(analysis.resamples, 'resample')} of the participants (seed {analysis.seed}"
            + ("; distances from the estimate widened by sqrt(n/(n − 1))")
            + (f"; {counted(undefined, 'resample')} that could not be scaled left out"
               if undefined else "")
            + "). Each pair of models was compared by an exact two-sided binomial test of "
            "its win rate against 0.5, Holm-corrected over the pairs (Holm 1979). "
            + _agreement_sentence(analysis) +
            f"Analysed with likeness {__version__}; the references are in references.bib "
            f"({', '.join(_citations(analysis))}).\n")


def metric_values(results: Path, named: set[tuple[str, str]], decisions: list[str],
                  what: str = "judgments") -> MetricValues:
    """Each per-pair metric's values per (model, item) from a results folder, checked
    against the (model, item) pairs the study names; a metric without any value there (it
    failed in that run: a missing checkpoint) is left out, and ``decisions`` says so."""
    record, pairs, _, _ = read_results_folder(results)
    names = [m for m in record["settings"]["metrics"] if m in METRICS
             and METRICS[m].kind != "set" and METRICS[m].better in ("higher", "lower")]
    models = {pair.model for pair in pairs}
    items = {pair.reference for pair in pairs}
    unknown_models = sorted({model for model, _ in named} - models)
    unknown_items = sorted({item for _, item in named} - items)
    if unknown_models or unknown_items:
        raise LikenessError(
            f"the {what} name what {results} does not hold: "
            + "; ".join(part for part in (
                f"models {', '.join(unknown_models[:5])}" if unknown_models else "",
                f"items {', '.join(unknown_items[:5])}" if unknown_items else "") if part)
            + f" (its models: {', '.join(sorted(models))}; an item is a reference file's "
            "path as per_image.csv writes it)")
    found: MetricValues = {}
    for name in names:
        values = {(pair.model, pair.reference): pair.values[name] for pair in pairs
                  if name in pair.values}
        if values:
            found[name] = (METRICS[name].better == "higher", values)
        else:
            decisions.append(f"{METRICS[name].label} (`{name}`) has no values in {results} "
                             "(it failed in that run): not compared with the participants")
    return found


def _agreement_csv(analysis: StudyAnalysis) -> str:
    low, high = _bounds(analysis)
    rows: list[list[Any]] = [["question", "metric", "judgments", "two_afc",
                              f"two_afc_{low}", f"two_afc_{high}", "human_ceiling",
                              "spearman", f"spearman_{low}", f"spearman_{high}", "kendall",
                              f"kendall_{low}", f"kendall_{high}"]]
    for question in analysis.questions:
        for name, (score, (lo, hi), ceiling, scored) in question.metrics.items():
            rho, rho_ci, tau, tau_ci = question.correlations.get(
                name, (float("nan"), (float("nan"),) * 2, float("nan"), (float("nan"),) * 2))
            rows.append([question.question, name, scored, cell(score), cell(lo), cell(hi),
                         cell(ceiling), cell(rho), cell(rho_ci[0]), cell(rho_ci[1]),
                         cell(tau), cell(tau_ci[0]), cell(tau_ci[1])])
    return csv_text(rows)


def _differences_csv(analysis: StudyAnalysis) -> str:
    low, high = _bounds(analysis)
    rows: list[list[Any]] = [["question", "first", "second", "difference", f"difference_{low}",
                              f"difference_{high}", "p_value", "p_holm"]]
    for question in analysis.questions:
        for d in question.metric_differences:
            rows.append([question.question, d.first, d.second, cell(d.difference),
                         cell(d.interval[0]), cell(d.interval[1]), repr(d.p_value),
                         repr(d.p_holm)])
    return csv_text(rows)


def _agreement_sentence(analysis: StudyAnalysis) -> str:
    alphas = [q.alpha for q in analysis.questions if q.alpha == q.alpha]
    sentence = ("Agreement between participants was measured by Krippendorff's α for nominal "
                "data (Krippendorff 2011; a unit is an item and a pair of models): "
                + ", ".join(_number(a, 3) for a in alphas) + ". ") if alphas else ""
    for question in analysis.questions:
        scores = [f"{METRICS[name].label if name in METRICS else name} "
                  f"{_number(score, 3)} [{_number(lo, 3)}, {_number(hi, 3)}]"
                  for name, (score, (lo, hi), _, _) in question.metrics.items()]
        if scores:
            ceiling = next(iter(question.metrics.values()))[2]
            sentence += ("Each metric's agreement with the participants is its 2AFC score "
                         "(Zhang et al. 2018: the share of judgments in which it prefers the "
                         "model the participant chose; bootstrap intervals over items): "
                         + "; ".join(scores)
                         + (f"; two participants agree in {_number(ceiling, 3)} of "
                            "their judgments of the same item and pair (the human ceiling). "
                            if ceiling == ceiling else ". "))
            if question.metric_differences:
                sentence += ("Two metrics' scores were compared by a paired bootstrap over "
                             "items (two-sided, Holm-corrected; `agreement_differences.csv`). ")
            sentence += ("The rank correlation between each metric's mean over the judged "
                         "items and the models' Bradley–Terry scores (Spearman's ρ, Kendall's "
                         "τ-b, bootstrap intervals over items) is in `agreement.csv`. ")
    repeats = sum(q.repeats for q in analysis.questions)
    if repeats:
        same = sum(q.repeats * q.consistency for q in analysis.questions if q.repeats) / repeats
        sentence += (f"Of {counted(repeats, 'repeated trial')}, {_number(same * 100, 1)} % "
                     "gave the participant's earlier answer. ")
    return sentence


def analyze_study(judgments: Path, out_dir: Path | None = None, *, resamples: int = 2000,
                  seed: int = 0, confidence: float = 0.95, jod_zero: str | None = None,
                  results: Path | None = None, keep_judgments: str | None = None
                  ) -> StudyAnalysis:
    """Analyse a judgments CSV (see ``likeness.results.study``) and, with ``out_dir``,
    write the analysis folder; ``jod_zero``: the model at 0 on the JOD scale (default: the
    first model of the file); ``results``: the ``compare`` results folder of the same
    items and models, whose metrics' agreement with the participants is measured;
    ``keep_judgments``: where the judgments came from (a study folder's export): the file
    is then copied into the folder as ``judgments.csv``.

    Raises:
        LikenessError: an unreadable or malformed judgments file, nothing left after the
            exclusions, models no comparison connects, judgments naming models or items the
            results folder does not hold, or a folder that is not the analysis's to write.
    """
    check_analysis_arguments(judgments=judgments, out_dir=out_dir, results=results,
                             keep_judgments=keep_judgments, resamples=resamples,
                             confidence=confidence, jod_zero=jod_zero)
    rows, decisions = read_judgments(Path(judgments))
    if out_dir is not None:
        check_analysis_folder(Path(out_dir))
    named = {(model, j.item) for j in rows if not j.expected  # checks are not scored
             for model in (j.a, j.b)}
    metrics = (metric_values(Path(results), named, decisions) if results is not None
               else None)
    analysis = analyze(rows, resamples=resamples, seed=seed, confidence=confidence,
                       decisions=decisions, jod_zero=jod_zero, metrics=metrics)
    if out_dir is None:
        return analysis
    folder = Path(out_dir)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "study.json", {"kind": "study", "status": "writing"})  # ours already
    exclusions = csv_text([["participant", "reason"], *map(list, analysis.exclusions)])
    excluded = {participant for participant, _ in analysis.exclusions}
    scored: dict[str, list[tuple[str, str, str, str]]] = {}
    for j in rows:
        if j.participant not in excluded and not j.expected:
            scored.setdefault(j.question, []).append((j.item, j.a, j.b, j.choice))
    page = study_report(analysis, scored, metrics or {},
                        Path(results) if results is not None else None,
                        _methods(analysis).strip())
    for name, text in (("scores.csv", _scores(analysis)), ("pairwise.csv", _pairwise(analysis)),
                       ("exclusions.csv", exclusions), ("agreement.csv", _agreement_csv(analysis)),
                       ("agreement_differences.csv", _differences_csv(analysis)),
                       ("summary.md", _summary(analysis)), ("summary.tex", _latex(analysis)),
                       ("methods.md", _methods(analysis)), ("report.html", page),
                       ("references.bib", bibtex_for(_citations(analysis))),
                       *((("judgments.csv", text_of(file_bytes(judgments))),)
                         if keep_judgments else ())):
        with writing(folder / name):
            replace_file(folder / name, text)
    write_json(folder / "study.json", {
        "kind": "study", "status": "complete", "likeness_version": __version__,
        "judgments": keep_judgments or str(judgments),
        "resamples": resamples, "seed": seed, "confidence": confidence,
        "jod_zero": jod_zero, "results": str(results) if results is not None else None,
        "decisions": analysis.decisions,
        "exclusions": [{"participant": p, "reason": r} for p, r in analysis.exclusions],
        "questions": [{"question": q.question, "models": q.models, "judgments": q.judgments,
                       "participants": q.participants,
                       "krippendorff_alpha": q.alpha if q.alpha == q.alpha else None,
                       "repeated_trials": q.repeats,
                       "consistency": q.consistency if q.repeats else None,
                       "resamples_undefined": q.resamples_undefined}
                      for q in analysis.questions],
        "files": list(STUDY_FILES)})
    return analysis
