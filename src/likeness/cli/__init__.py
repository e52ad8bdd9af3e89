"""The command line: ``likeness compare | style | fid | kid | report | weights``."""

from likeness.cli.main import main

__all__ = ["main"]
