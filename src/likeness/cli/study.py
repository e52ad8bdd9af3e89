"""``likeness study create | serve | offline | export``: a 2AFC study made from the user's
folders, handed out to participants, and its answers exported (``study analyze``:
``study_analysis``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from likeness.cli.app import SEED, NumberRange, main
from likeness.cli.output import output_file, say, stderr_console
from likeness.errors import LikenessError
from likeness.wording import counted


@main.group()
def study() -> None:
    """User studies: create a two-alternative forced-choice (2AFC) study from your folders,
    serve it to participants (or run it offline), export and analyse the judgments."""


def fail(error: Exception, command: str) -> NoReturn:
    say("error", str(error), f"study {command}")
    sys.exit(1)


def _text_file(path: Path | None, option: str) -> str | None:
    from likeness.io import stat_regular_file, text_of

    if path is None:
        return None
    try:
        stat_regular_file(path)  # a FIFO or a device would hang or never end
        return text_of(path.read_bytes())
    except UnicodeDecodeError as error:
        problem = (f"{path} is not UTF-8 text (byte 0x{error.object[error.start]:02x}); save "
                   "it as UTF-8, or UTF-16 with a byte-order mark")
    except OSError as error:
        problem = f"{path} cannot be read ({error.strerror or error})"
    except LikenessError as error:
        problem = str(error)
    raise click.BadParameter(problem, param_hint=option)


@study.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", "model_items", multiple=True, metavar="NAME=DIR",
              help="A model's outputs under a name of your choice (repeatable).")
@click.option("--content", type=click.Path(path_type=Path), default=None,
              help="A style study: the content folder (PATHS are then the stylized "
                   "folders, one per method, paired as `likeness style` pairs them).")
@click.option("--style", type=click.Path(path_type=Path), default=None,
              help="A style study: the style folder.")
@click.option("--out-dir", type=click.Path(path_type=Path), required=True,
              help="The new study folder.")
@click.option("--question", "questions", multiple=True, metavar="ID|ID=QUESTION",
              help="closer (default; a style study: style), content, style, quality, or "
                   "your own as ID=QUESTION; repeatable.")
@click.option("--title", default="Which image is better?", show_default=True)
@click.option("--instructions", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A text file of instructions (default: generated).")
@click.option("--consent", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A text file of the consent statement (default: anonymous, voluntary).")
@click.option("--per-participant", type=click.IntRange(1), default=None,
              help="Comparisons per participant (default: all; fewer: an incomplete "
                   "design that shows every comparison equally often).")
@click.option("--repeats", type=click.IntRange(0), default=2, show_default=True,
              help="Comparisons shown twice to each participant (consistency).")
@click.option("--attention-checks", type=click.IntRange(0), default=2, show_default=True,
              help="Checks per participant: an output against a degraded copy of itself.")
@click.option("--items", "max_items", type=click.IntRange(1), default=None,
              help="Draw this many items at random (default: all).")
@click.option("--ranking", is_flag=True,
              help="Participants order all the models of an item (best first) instead of "
                   "choosing one of two; exported as the pairs it implies.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--alpha", type=click.Choice(["white", "black", "drop"]), default=None,
              help="Transparent images: composite over white or black, or drop alpha.")
@click.option("--overwrite", is_flag=True, help="Replace a study folder that has no answers.")
def create(paths: tuple[Path, ...], model_items: tuple[str, ...], content: Path | None,
           style: Path | None, out_dir: Path, questions: tuple[str, ...], title: str,
           instructions: Path | None, consent: Path | None, per_participant: int | None,
           repeats: int, attention_checks: int, max_items: int | None, ranking: bool,
           seed: int, alpha: str | None, overwrite: bool) -> None:
    """Create a 2AFC study: which of two models' outputs answers the question better.

    \b
      likeness study create samples/reference samples/jpeg samples/stylized --out-dir study
      likeness study create --content c/ --style s/ out_a/ out_b/ --out-dir study
    """
    from likeness.cli.compare import parse_models
    from likeness.evaluation.items.plan import model_names
    from likeness.study import create_study

    style_study = content is not None or style is not None
    if style_study and (content is None or style is None):
        raise click.UsageError("a style study needs both --content and --style")
    reference = None
    folders = list(paths)
    if not style_study:
        if not folders:
            raise click.UsageError("give the reference folder, then two or more model folders")
        reference = folders.pop(0)
    models = dict(model_names(folders)) if folders else {}
    for name, folder in parse_models(model_items).items():
        if name in models:
            raise click.BadParameter(f"model {name!r} given twice", param_hint="--model")
        models[name] = folder
    if len(models) < 2:
        raise click.UsageError("a 2AFC study compares at least two models: give two or more "
                               "model folders (or --model NAME=DIR)")
    try:
        created = create_study(
            out_dir, models, reference=reference, content=content, style=style,
            questions=questions or (("style",) if style_study else ("closer",)), title=title,
            instructions=_text_file(instructions, "--instructions"),
            consent=_text_file(consent, "--consent"), seed=seed,
            per_participant=per_participant, repeats=repeats,
            attention_checks=attention_checks, max_items=max_items, ranking=ranking,
            alpha=alpha, overwrite=overwrite)
    except LikenessError as error:
        fail(error, "create")
    for decision in created.manifest["decisions"]:
        say("note", decision, "study create")
    design = created.design
    stderr_console().print(
        f"study written to {out_dir}: {counted(len(design.items), 'item')}, "
        f"{counted(len(design.models), 'model')}, "
        f"{counted(design.trials_per_participant, 'trial')} per participant; serve it with "
        f"`likeness study serve {out_dir}`", highlight=False, markup=False)


@study.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              callback=lambda context, option, host: (
                  host[1:-1] if host.startswith("[") and host.endswith("]") else host),
              help="The address to listen on (0.0.0.0: every network interface; an IPv6 "
                   "address with or without its brackets).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--database", default=None, metavar="URL",
              help="postgresql://… to share the answers between several servers "
                   "(default: answers.sqlite in the study folder).")
@click.option("--rate", type=NumberRange(0), default=50.0, show_default=True,
              help="Requests per second per address (0: no limit).")
@click.option("--burst", type=click.IntRange(1), default=500, show_default=True,
              help="Requests an address may send at once beyond --rate.")
@click.option("--max-participants", type=click.IntRange(1), default=None,
              help="Refuse new participants beyond this many.")
@click.option("--trusted-proxies", default="127.0.0.1", show_default=True, metavar="IPS",
              help="Reverse proxies (comma-separated addresses or networks) whose "
                   "X-Forwarded-For names each participant's address for --rate; '' "
                   "trusts none.")
def serve(folder: Path, host: str, port: int, database: str | None, rate: float, burst: int,
          max_participants: int | None, trusted_proxies: str) -> None:
    """Serve a study to participants in their browsers until Ctrl-C.

    \b
      likeness study serve study --port 8000
    """
    from likeness.study import open_study
    from likeness.study.store import open_store

    try:
        from likeness.study.server import check_address
        from likeness.study.server import serve as serve_app
    except ImportError:
        fail(LikenessError("serving a study needs Starlette and uvicorn: pip install "
                            "'likeness-metrics[study]'"), "serve")
    try:
        check_address(host, port)
        opened = open_study(folder)
        store = open_store(folder, opened.study_id, database)
        token = opened.admin_token()
    except LikenessError as error:
        fail(error, "serve")
    console = stderr_console()
    shown = ("localhost" if host in ("127.0.0.1", "0.0.0.0", "::")
             else f"[{host}]" if ":" in host else host)  # an IPv6 address, as URLs write it
    for line in (f"participants: http://{shown}:{port}/",
                 f"admin: http://{shown}:{port}/admin?token={token}",
                 f"answers: {database or folder / 'answers.sqlite'} (Ctrl-C stops the server; "
                 "every answer given is kept)"):
        console.print(line, highlight=False, markup=False)
    try:
        serve_app(opened, store, host=host, port=port, rate=rate, burst=burst,
                  max_participants=max_participants, trusted_proxies=trusted_proxies)
    except OSError as error:
        fail(LikenessError(f"cannot listen on {host}:{port} ({error.strerror or error}): "
                            "choose another --port"), "serve")
    except (KeyboardInterrupt, SystemExit) as stop:  # uvicorn re-raises the signal it ends on
        if isinstance(stop, SystemExit) and not (isinstance(stop.code, int) and stop.code > 128):
            raise  # uvicorn's own exit (a failed start), not a signal's
    finally:
        store.close()
    console.print("server stopped; every answer given is kept", highlight=False, markup=False)


@study.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=output_file("--out", ".html", ".htm"), help="The HTML file to write.")
@click.option("--slots", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="Design slots in the file (a participant opening FILE#slot=K gets slot "
                   "K, otherwise one at random).")
def offline(folder: Path, out: Path, slots: int) -> None:
    """Write the study as one self-contained HTML file: participants open it, answer, and
    send back the answers file it downloads (for `likeness study export --offline`)."""
    from likeness.study import open_study
    from likeness.study.pages import offline_form

    try:
        html = offline_form(open_study(folder), slots)
        from likeness.io import replace_file

        replace_file(out, html)  # atomically, never through a link or into a FIFO
    except LikenessError as error:
        fail(error, "offline")
    except OSError as error:
        fail(LikenessError(f"cannot write {out} ({error.strerror or error})"), "offline")
    stderr_console().print(f"offline form written to {out} ({len(html) // 1024} KiB)",
                           highlight=False, markup=False)


@study.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=output_file("--out", ".csv"),
              help="The judgments CSV to write (what `likeness study analyze` reads).")
@click.option("--offline", "offline_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An answers file of the offline form (repeatable).")
@click.option("--database", default=None, metavar="URL",
              help="The postgresql://… database the study was served with.")
def export(folder: Path, out: Path, offline_files: tuple[Path, ...],
           database: str | None) -> None:
    """Write every answer (served and offline) as the judgments `study analyze` reads.

    Columns: participant, item, a, b, choice, question, trial, rt_ms, expected, kind,
    source; a ranking becomes the pairs it implies.
    """
    rows = export_answers(folder, out, offline_files, database, "export")
    people = len({row["participant"] for row in rows})
    stderr_console().print(f"{counted(len(rows), 'judgment')} of "
                           f"{counted(people, 'participant')} written to {out}; analyse "
                           f"{'it' if len(rows) == 1 else 'them'} with `likeness study "
                           f"analyze --judgments {out} --out-dir …`",
                           highlight=False, markup=False)


def export_answers(folder: Path, out: Path, offline_files: tuple[Path, ...], database: str | None,
            command: str) -> list[dict[str, str]]:
    """The study's answers written to ``out`` as judgments (the rows); decisions said."""
    from likeness.study import open_study
    from likeness.study.export import judgments, judgments_csv
    from likeness.study.folder import ANSWERS_FILE
    from likeness.study.handouts import unread_answers
    from likeness.study.store import open_store

    decisions: list[str] = []
    store = None
    try:
        opened = open_study(folder)
        has_answers = database is not None or (folder / ANSWERS_FILE).exists()
        store = open_store(folder, opened.study_id, database) if has_answers else None
        rows = judgments(opened, store, offline_files, decisions)
        unread = unread_answers(folder, None if store is None or database is None
                                else store.where)
        if not rows:
            raise LikenessError(f"{folder} has no answers yet (serve it, or give --offline "
                                "answer files)" if unread is None
                                else f"no answers read from {folder}: {unread}")
        if unread is not None:
            decisions.append(f"answers left out: {unread}")
        from likeness.io import replace_file

        replace_file(out, judgments_csv(rows))
    except LikenessError as error:
        fail(error, command)
    except OSError as error:
        fail(LikenessError(f"cannot write {out} ({error.strerror or error})"), command)
    finally:
        if store is not None:
            store.close()
    for decision in decisions:
        say("note", decision, f"study {command}")
    return rows
