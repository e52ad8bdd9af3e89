"""The ``likeness`` command line: parses arguments, calls the library, renders results.

Exit codes: 0 success, 1 error (including pairs that failed), 2 usage error.  One module
per command; importing them registers the commands on the group.
"""

from likeness.cli import (  # noqa: F401 - registers the commands
    compare,
    report,
    sets,
    study,
    study_analysis,
    style,
    weights,
)
from likeness.cli.app import main

__all__ = ["main"]
