"""``python -m likeness.cli``: the command line."""

from likeness.cli.main import main

main()
