"""What the command line shows and writes: tables, notes, errors, progress, row files."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from likeness.wording import counted, is_are, printable, run_words

if TYPE_CHECKING:
    from rich.console import Console


# The glyphs likeness writes, in ASCII for a terminal whose encoding lacks them (a Windows
# console's cp1252 when redirected, PYTHONIOENCODING=ascii): "inf", not "\u221e".  Replaced
# before rich measures a cell, so that a table's columns stay aligned.
_ASCII_GLYPHS = {"∞": "inf", "−": "-", "±": "+/-", "×": "x", "—": "--", "–": "-", "≥": ">=",
                 "≤": "<=", "≠": "!=", "≈": "~", "…": "...", "‘": "'", "’": "'", "“": '"',
                 "”": '"', "·": "*", "→": "->", "²": "^2", "³": "^3", "µ": "u", "μ": "u",
                 "σ": "sigma", "ε": "eps", "θ": "theta", "Δ": "delta", "√": "sqrt",
                 "✓": "ok", "✗": "x", "•": "*"}


def in_encoding(text: str, encoding: str) -> str:
    """``text`` with the glyphs ``encoding`` cannot write in ASCII (``_ASCII_GLYPHS``); the
    rest as it is (the stream escapes what remains, a name's letters say)."""
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        pass
    characters = []
    for character in text:
        try:
            character.encode(encoding)
            characters.append(character)
        except (UnicodeEncodeError, LookupError):
            characters.append(_ASCII_GLYPHS.get(character, character))
    return "".join(characters)


@functools.cache
def _printable_console() -> type[Console]:
    """A rich console whose every string (messages, table cells) is shown ``printable``:
    file and model names come from the user's disk."""
    from rich.console import Console

    class PrintableConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Any:
            return super().render_str(in_encoding(printable(text), self.encoding), **kwargs)

    return PrintableConsole


def _console(**options: Any) -> Console:
    return _printable_console()(**options)


def stdout_console() -> Console:
    """Tables on stdout; wide when piped, so that columns are not wrapped."""
    return _console(soft_wrap=True, width=None if sys.stdout.isatty() else 250)


def stderr_console() -> Console:
    return _console(stderr=True, soft_wrap=True)


# The library's messages name Python arguments; the command line names its own options.
_UNAPPLIED = r"(?= changes none of this run's metrics)"  # (``settings_without_effect``)
CLI_WORDS = [
    (r"kid_subset_size=None" + _UNAPPLIED, "{subset} all"),
    *[(rf"(?<![\w-]){name}='?([\w-]+)'?" + _UNAPPLIED, rf"--{name.replace('_', '-')} \1")
      for name in ("kid_subset_size", "kid_subsets", "kid_seed", "fid_resize", "art_fid_mode",
                   "cfsd_max_pixels", "ssim_convention", "ms_ssim_convention",
                   "clip_t_convention", "convention")],
    (r"gray=True", "--gray"),
    (r"resize='reference'", "--resize reference"),
    (r"resize='(pytorch-fid|clean)' but this run uses '(pytorch-fid|clean)'",
     r"--resize \1 but this run uses --resize \2"),
    (r"alpha='(white|black|drop)'", r"--alpha \1"),
    (r"overwrite=True", "--overwrite"),
    (r"(?<![\w])address='([^']*)'", r"--address \1"),
    (r"leave the address out", "leave --address out"),
    (r"(?<![\w/.-])out_dir(?![\w/.-])", "--out-dir"),
    (r"(?<![\w/.-])save_stats(?![\w/.-])", "--save-stats"),
    (r"strict=True", "--strict"),
    (r"cache=PATH", "--cache FILE"),
    (r"cache=False", "--no-cache"),
    (r"pairs=CSV", "--pairs CSV"),
    (r"database=URL", "--database URL"),
    (r"models=\{NAME: DIR\}", "--model NAME=DIR"),
    (r"methods=\{NAME: DIR\}", "--method NAME=DIR"),
    (r"stylized=DIR", "--stylized DIR"),
    (r"triplets=CSV", "--triplets CSV"),
    (r"raise cfsd_max_pixels", "raise --cfsd-max-pixels"),
    (r"crop_border=(\d+)", r"--crop-border \1"),
    (r"a smaller crop_border", "a smaller --crop-border"),
    (r"(?<![\w-])disagree(?= needs|: )", "--disagree"),
    (r"(?<![\w-])batch_size=N", "--batch-size N"),
    (r"y_channel=True", "--y-channel"),
    (r"weights=\{'(\w+)': PATH\}", r"--weights \1=PATH"),
    (r"(?<![\w-])weights=PATH", "--weights PATH"),
    (r"device='(\w+)' or device='(\w+)'", r"--device \1 or \2"),
    (r"device='cuda' was asked for", "--device cuda was asked for"),
    (r"subset_size=None", "{subset} all"),
    (r"subset_size=(\d+)", r"{subset} \1"),
    (r"name=NAME", "--name NAME"),
    (r"source_prompt=TEXT", "--source-prompt TEXT"),
    (r"source_prompt is empty: give the words, or None",
     "--source-prompt is empty: give the words, or leave the option out"),
    (r"too_long='truncate'; CLIP-T's hessel convention", "--clip-t-convention hessel"),
]


def cli_words(text: str, command: str = "compare") -> str:
    """A library message in the command line's words (its options, not Python arguments)."""
    subset = "--subset-size" if command == "kid" else "--kid-subset-size"
    for pattern, replacement in CLI_WORDS:
        text = re.sub(pattern, replacement.replace("{subset}", subset), text)
    return text


def output_file(option: str, *suffixes: str) -> Any:
    """A click callback refusing an output file of another kind than ``suffixes``: a
    mistyped ``--out`` must not replace an image (or any other file) with a table."""
    import click

    def check(context: Any, parameter: Any, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in suffixes:
            raise click.BadParameter(f"the file must end in {' or '.join(suffixes)}, got "
                                     f"{value.name!r}", param_hint=option)
        return value

    return check


def echo(line: str) -> None:
    """One line on stdout as it is (tab-separated values for scripts), the glyphs its
    encoding lacks in ASCII, as the tables show them."""
    import click

    click.echo(in_encoding(line, getattr(sys.stdout, "encoding", None) or "utf-8"))


def say(kind: str, text: str, command: str = "compare") -> None:
    """One line on stderr: ``error:``, ``warning:`` or ``note:``, in the command line's words."""
    style = {"error": "red", "warning": "yellow"}.get(kind)
    stderr_console().print(f"{kind}: {cli_words(str(text), command)}", highlight=False,
                            markup=False, style=style)



TABLE_ROWS = 40  # pairs on the terminal when every row is written to a file as well


def print_table(results: Any, *, rows_in: str | None = None) -> None:
    """One row per pair and the mean: the run's summary, so that a metric whose values lie
    on different scales shows no mean here either.  Where the rows are written to a file
    (``rows_in``), a run of more than ``TABLE_ROWS`` pairs shows the first of them and says
    where the others are: a thousand rows are a screenful nobody reads, and took rich a
    quarter of a second to lay out."""
    from rich.table import Table

    from likeness.results.tables import format_value, label

    rows, names = results.rows, results.pair_metrics
    shown = rows if rows_in is None or len(rows) <= TABLE_ROWS else rows[:TABLE_ROWS]
    table = Table(show_edge=False)
    table.add_column("reference")
    table.add_column("test")
    for name in names:
        table.add_column(label(name), justify="right")
    for row in shown:
        table.add_row(row.reference, row.test,
                      *(format_value(name, row.values.get(name)) for name in names))
    if len(shown) < len(rows):
        table.add_row(f"… {counted(len(rows) - len(shown), 'more pair')}", "",
                      *("" for _ in names))
    table.add_section()
    means = []
    for name in names:
        summary = results.summary_of(results.models[0], name)
        mean = format_value(name, summary.mean)
        means.append(mean if summary.n == len(rows) else f"{mean} (n={summary.n})")
    table.add_row(f"mean of {counted(len(rows), 'pair')}", "", *means)
    stdout_console().print(table, highlight=False)
    if len(shown) < len(rows):  # a path is not folded into the table's column
        stdout_console().print(f"every pair's row: {rows_in}", highlight=False, markup=False,
                               soft_wrap=True)


def print_summary(results: Any) -> None:
    from rich.table import Table

    from likeness.evaluation.catalog.registry import METRICS
    from likeness.results.tables import counted_cell, label, uneven_metrics

    unit = run_words(results.kind).role
    confidence = int(round(100 * results.record.get("statistics", {}).get("confidence", 0.95)))
    table = Table(show_edge=False, title=f"mean [{confidence}% CI] per {unit}"
                  if results.pair_metrics else None)
    table.add_column(unit)
    for metric in results.metrics:
        arrow = "↑" if METRICS[metric].better == "higher" else "↓"
        table.add_column(f"{label(metric)} {arrow}", justify="right")
    uneven = uneven_metrics(results.record)
    for model in results.models:
        table.add_row(model, *(counted_cell(results.summary_of(model, metric), uneven)
                               for metric in results.metrics))
    stdout_console().print(table, highlight=False)


ERROR_LINES = 12  # error (and note) lines on the terminal; the rows hold every one


def report_rows(rows: list[Any], record: dict[str, Any]) -> None:
    """The run's notes, warnings and errors, each metric under the label of its column."""
    from likeness.evaluation.catalog.registry import METRICS
    from likeness.io.files import describe_skipped
    from likeness.results.summary import small_sample_sentences, uneven_groups
    from likeness.results.tables import label

    console = stderr_console()
    several = len({row.model for row in rows}) > 1
    noted: dict[str, list[str]] = {}
    for row in rows:  # one line per decision, not per file: the files are in per_image.csv
        for note in row.notes:
            # a decision on the reference (a style run's content) names its file, not the test's
            file = row.reference if note.startswith(("reference: ", "content: ")) else row.test
            noted.setdefault(note, []).append(f"{row.model}: {file}" if several else file)
    for note, files in list(noted.items())[:ERROR_LINES]:
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        say("note", f"{note} ({counted(len(files), 'file')}: {shown})")
    if len(noted) > ERROR_LINES:  # decisions that name sizes: one each, a screen of them
        say("note", f"and {counted(len(noted) - ERROR_LINES, 'more decision')} not shown "
                    "here: each is in its row's notes (per_image.csv, the --out file) and "
                    "methods.md")
    for decision in record.get("decisions", {}):  # the image sets' ("NAME set: …")
        if decision not in noted:
            say("note", decision)
    for metric, why in record.get("not_summarised", {}).items():
        say("warning", f"{label(metric)} is {why}")
    words = run_words(record.get("kind"))
    role, unit = words.role, words.units
    for metrics, counts in uneven_groups(record.get("uneven_pairs", {})):
        say("note", f"{', '.join(map(label, metrics))}: the means are over different {unit} ("
                    f"{', '.join(f'{model} {n}' for model, n in counts.items())}: files without "
                    f"a partner or failed {unit}); the paired comparisons use the {unit} both "
                    f"{role}s have")
    for metrics, counts in uneven_groups(record.get("uneven_sets", {})):
        say("note", f"{', '.join(map(label, metrics))}: the {role}s' sets differ in size ("
                    f"{', '.join(f'{model} {n}' for model, n in counts.items())} images), on "
                    "which a set metric depends (FID is biased by it): give every "
                    f"{role} as many images to compare them")
    for sentence in small_sample_sentences(record):
        say("note", sentence)
    for key, info in record.get("infinite_values", {}).items():
        model, _, metric = key.rpartition("/")
        count = info["count"]
        say("note", f"{model}: {label(metric)}: {counted(count, 'value')} {is_are(count)} +inf "
                    f"({info['why']}); the mean is +inf")
    for sentence in record.get("identical_outputs", []):
        say("note", sentence)
    for source, files in record.get("skipped_files", {}).items():
        say("note", f"{source}: {counted(len(files), 'file')} skipped: {describe_skipped(files)}")
    failures = [row for row in rows if row.error]
    # one line per metric and cause (a missing checkpoint fails every pair alike), with the
    # pairs it concerns; a row that failed whole (an unreadable file) has its own line
    errors: list[str] = []
    by_cause: dict[tuple[str, str], list[str]] = {}
    for row in failures:
        who = f"{row.model}: " if several else ""
        pair = f"{who}{row.reference} vs {row.test}"
        if not row.metric_errors:
            errors.append(f"{pair}: {row.error}")
        for metric, message in row.metric_errors.items():
            by_cause.setdefault((metric, message), []).append(pair)
    for error in record.get("set_errors", []):
        by_cause.setdefault((error["metric"], error["error"]), []).append(error["model"])
    for (metric, message), where in by_cause.items():
        shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3
                                         else "")
        what = role if METRICS[metric].kind == "set" else unit.removesuffix("s")
        errors.append(f"{label(metric)} failed for {counted(len(where), what)} ({shown}): "
                      f"{message}")
    said = [row.error for row in failures if not row.metric_errors]
    for error in record.get("file_errors", []):  # a pair's own line may have said it
        if not any(error["reason"] in text for text in said):
            errors.append(f"{error['file']}: {error['reason']}")
    # a folder of thousands of unreadable or too small files is not a screen of lines each
    for text in errors[:ERROR_LINES]:
        say("error", text)
    if len(errors) > ERROR_LINES:
        rest = len(errors) - ERROR_LINES
        say("error", f"and {counted(rest, 'more cause')} of failure not shown here: every "
                     f"{unit.removesuffix('s')}'s error is in its row of per_image.csv "
                     "(--out-dir) or of the --out file")
    if failures:
        from likeness.evaluation.items.rows import failed_rows_phrase

        console.print(failed_rows_phrase(rows, unit.removesuffix("s")), style="bold red")


def progress_bar(describe: Any = lambda label: f"features {Path(label).name}",
                  rate: bool = False) -> tuple[Any, Any]:
    """(report, stop): a progress bar on stderr that appears with the first report, so
    that an error raised before any work is not preceded by the blank line of a bar that
    never showed.  ``rate`` adds pairs/s (images/s for feature stages).  A checkpoint's
    download (the stage ``"download FILE"``, in bytes; a total of 0 when the server did not
    say) is shown in megabytes, with its speed."""
    from rich.progress import BarColumn, Progress, ProgressColumn, TimeRemainingColumn
    from rich.text import Text

    class Count(ProgressColumn):
        def render(self, task: Any) -> Any:
            if not task.fields.get("download"):
                return Text(f"{task.completed:.0f}/{task.total:.0f}", style="progress.download")
            total = f"/{task.total / 1e6:.1f}" if task.total else ""
            return Text(f"{task.completed / 1e6:.1f}{total} MB", style="progress.download")

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Any:
            speed = (task.finished_speed or task.speed) if task.fields.get("rate") else None
            if task.fields.get("download"):
                return Text(f"{speed / 1e6:.1f} MB/s" if speed else "",
                            style="progress.data.speed")
            unit = "pairs" if task.description in ("pairs", "triplets") else "images"
            return Text(f"{speed:.1f} {unit}/s" if speed else "", style="progress.data.speed")

    from rich.markup import escape

    columns = [BarColumn(), Count(), Rate(), TimeRemainingColumn()]
    progress = Progress("[progress.description]{task.description}", *columns,
                        console=stderr_console(), transient=True)
    tasks: dict[str, Any] = {}

    def report(label: str, done: int, total: int | None) -> None:
        if not tasks:
            progress.start()
        download = label.startswith("download ")
        if download:
            total = total or None  # unknown: a bar that pulses
        if label not in tasks:
            # a file name is neither markup nor control characters
            tasks[label] = progress.add_task(
                escape(printable(label if download else describe(label))), total=total,
                download=download, rate=rate or download)
        progress.update(tasks[label], completed=done, total=total)

    def stop() -> None:
        if tasks:
            progress.stop()

    return report, stop
