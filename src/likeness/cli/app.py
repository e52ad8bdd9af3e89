"""The ``likeness`` command group: exit codes, signals, the last line of defence."""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    pass

from likeness.cli.output import say


class Commands(click.Group):
    """The command group, with a last line of defence: an exception no command turned into
    a message (a bug) is one line on stderr and exit code 1, not a traceback
    (``LIKENESS_DEBUG=1`` shows the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if os.environ.get("LIKENESS_DEBUG"):
                raise
            if isinstance(error, ValueError):  # bad input a library below us refused
                say("error", f"{error}")
            else:
                say("error", f"unexpected {type(error).__name__}: {error} (a bug in "
                              "likeness: please report it; LIKENESS_DEBUG=1 shows the "
                              "traceback)")
            sys.exit(1)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="likeness")
def main() -> None:
    """Measure how alike images are: SSIM, MS-SSIM, PSNR, LPIPS, FID, KID, exactly as the
    reference implementations do."""
    # SIGTERM ends the run like Ctrl-C: the results folder's record says "interrupted"
    # instead of "running", and a re-run resumes
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    # a file name that is not valid UTF-8 is printed escaped, never a UnicodeEncodeError
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
