"""``python -m likeness``: the ``likeness`` command."""

from likeness.cli import main

main(prog_name="likeness")
