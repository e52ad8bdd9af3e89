"""The version of likeness: its one source (pyproject.toml reads it from here)."""

__version__ = "0.2.0"
# the distribution's name on the package index ("likeness" there is another project);
# the import name and the command stay ``likeness``
DISTRIBUTION = "likeness-metrics"
