"""The ``likeness`` command group: exit codes, signals, the last line of defence."""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from likeness._version import __version__

if TYPE_CHECKING:
    pass

from likeness.cli.output import say
from likeness.errors import interruption

SEED = click.IntRange(0, 2**32 - 1)  # as both of numpy's generators take them


class NumberRange(click.FloatRange):
    """A ``click.FloatRange`` that refuses NaN (which passes every bound's comparison)."""

    name = "float range"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


_KEPT = "values already stored in the cache or a results folder are kept, so a re-run resumes"


class _Stopped(SystemExit):
    """A signal that ends the run as Ctrl-C does (exit code 128 + its number)."""

    def __init__(self, number: int) -> None:
        super().__init__(128 + number)
        self.signal_name = signal.Signals(number).name


def _stop(number: int, frame: object) -> None:
    raise _Stopped(number)


class Commands(click.Group):
    """The command group, with a last line of defence: an exception no command turned into
    a message (a bug) is one line on stderr and exit code 1, not a traceback
    (``LIKENESS_DEBUG=1`` shows the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        from likeness.cli.output import cli_words
        from likeness.errors import callers_words

        def in_command_words(text: str) -> str:
            current = click.get_current_context(silent=True)
            return cli_words(text, (current.info_name if current else None) or "compare")

        from likeness.switches import check_switches

        try:
            check_switches()  # a switch set to a word it does not take: refused, not guessed
            # what runs store (per_image.csv, run.json, methods.md) names this command's
            # options, not Python arguments
            with callers_words(in_command_words):
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (KeyboardInterrupt, _Stopped) as stopped:
            _end_interrupted(stopped)
        except Exception as error:
            if (wrapped := interruption(error)) is not None:  # by a compiled extension
                _end_interrupted(wrapped)
            if os.environ.get("LIKENESS_DEBUG"):
                raise
            ran_out = _out_of_resources(error)
            if isinstance(error, ValueError):  # bad input a library below us refused
                say("error", f"{error}")
            elif ran_out:
                say("error", ran_out)
            else:
                say("error", f"unexpected {type(error).__name__}: {error} (a bug in "
                              "likeness: please report it; LIKENESS_DEBUG=1 shows the "
                              "traceback)")
            sys.exit(1)


def _end_interrupted(interrupt: BaseException) -> NoReturn:
    """Say that Ctrl-C (click would say "Aborted!") or a stop signal (SIGTERM, SIGHUP: a job
    scheduler, a closed terminal) ended the run, and exit with its code."""
    if isinstance(interrupt, _Stopped):
        say("error", f"stopped by {interrupt.signal_name}: {_KEPT}")
        raise interrupt
    if isinstance(interrupt, KeyboardInterrupt):
        say("error", f"interrupted (Ctrl-C): {_KEPT}")
        sys.exit(130)
    raise interrupt  # another SystemExit: its own code


def _out_of_resources(error: Exception) -> str:
    """What to do when the machine, not likeness, ran out: memory, or space on a disk that a
    command writes where it does not say so itself (the results folder and the cache do);
    empty for any other error."""
    kept = _KEPT
    if isinstance(error, MemoryError):
        return ("out of memory (MemoryError): free memory, use a smaller --batch-size where the "
                f"command takes one, or a machine with more memory; {kept}")
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {error.filename}" if error.filename else ""
        return f"no space left on the device{where} ({error.strerror}): free some space; {kept}"
    return ""


class MetricsOption(click.Option):
    """``--metrics``: its help lists every metric the command accepts, read from the
    registry when help is shown (so that starting the command imports no registry)."""

    def __init__(self, *args: Any, command: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_name = command

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from likeness.evaluation.catalog.registry import DEFAULT_METRICS, metrics_help

        default = ",".join(m.replace("_", "-") for m in DEFAULT_METRICS[self.command_name])
        self.help = f"{metrics_help(self.command_name)}  [default: {default}]"
        return super().get_help_record(ctx)


def metrics_option(command: str) -> Any:
    """The ``--metrics`` option of ``command``; its default is the registry's
    ``DEFAULT_METRICS[command]``."""
    def default() -> str:
        from likeness.evaluation.catalog.registry import DEFAULT_METRICS

        return ",".join(DEFAULT_METRICS[command])

    return click.option("--metrics", "metrics", cls=MetricsOption, command=command,
                        default=default)


def decoding_options(command: Any) -> Any:
    """``--workers`` and ``--decoding``: how a command decodes its files."""
    command = click.option(
        "--decoding", type=click.Choice(["auto", "threads", "processes"]), default="auto",
        show_default=True,
        help="Decode files in --workers threads or in --workers processes (auto: threads on "
             "the CPU; on CUDA one process per core but one, or half the cores' threads "
             "where no shared memory serves or the files are few).")(command)
    return click.option(
        "--workers", type=click.IntRange(1, 64), default=4, show_default=True,
        help="Decoding (and hashing) threads, or processes with --decoding processes (a "
             "CUDA run with --decoding auto takes more: see --decoding, and hashes with as "
             "many threads).")(command)


def prompt_options(command: Any) -> Any:
    """``--clip-t-convention`` and ``--source-prompt``: how the metrics that read prompts
    (CLIP-T, the directional similarity) read them."""
    from likeness.evaluation.catalog.defaults import CONVENTIONS

    command = click.option(
        "--source-prompt", default=None, metavar="TEXT",
        help="clip-direction's source prompt (what the references show) for every item; "
             "else a source_prompt column, or a sidecar .txt beside each reference.")(command)
    return click.option(
        "--clip-t-convention", type=click.Choice(CONVENTIONS["clip_t_convention"]),
        default="hessel", show_default=True,
        help="CLIP-T as Hessel et al.'s CLIP-S (2.5·max(cos, 0), ViT-B/32, 'A photo "
             "depicts ' prefix), torchmetrics' CLIPScore (100·cos, ViT-L/14) or the plain "
             "cosine (ViT-B/32). Each image's prompt: a prompt column of --pairs/--triplets, "
             "else IMAGE.txt beside it, else beside its reference.")(command)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="likeness")
def main() -> None:
    """Measure how alike images are: SSIM, MS-SSIM, PSNR, LPIPS, FID, KID, exactly as the
    reference implementations do."""
    # SIGTERM ends the run like Ctrl-C: the results folder's record says "interrupted"
    # instead of "running", and a re-run resumes
    for name in ("SIGTERM", "SIGHUP"):  # a closed terminal ends the run like SIGTERM
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)
    # a file a decoder cannot decode is said by likeness, once, in its row and on the
    # terminal; OpenCV's, Pillow's and libtiff's own messages would add noise, naming no file
    from likeness.io.decoders import quiet_decoders  # (Pillow: not for --help alone)

    quiet_decoders()
    # a file name that is not valid UTF-8 is printed escaped, never a UnicodeEncodeError
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
