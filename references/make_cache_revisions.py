"""likeness's own values of every pixel metric under every convention it takes, with the
revision of its arithmetic: the snapshot ``tests/test_cache_revisions.py`` compares against.

Not a reference implementation's values — the guard of the cache: values are cached under
a key that holds the metric's ``MetricSpec.revision``, so a release that changes a value
without bumping the revision would serve an earlier release's cached values as its own.
The test recomputes these values and fails, naming the metric, when one changed while its
revision did not.  After a deliberate change: bump ``revision=`` in the metric's catalog
entry, then run (with the project's environment, not the reference one)

    .venv/bin/python references/make_cache_revisions.py

Pair: TID2013's I19 (tests/data/matlab_pairs, 512×384 colour).  Writes
tests/data/cache_revisions.json.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import likeness
from likeness.evaluation.catalog.defaults import CONVENTIONS
from likeness.evaluation.catalog.registry import METRICS

ROOT = Path(__file__).resolve().parents[1]
PAIR = (ROOT / "tests" / "data" / "matlab_pairs" / "tid2013_I19_reference.png",
        ROOT / "tests" / "data" / "matlab_pairs" / "tid2013_I19_distorted.png")
OUT = ROOT / "tests" / "data" / "cache_revisions.json"


def pixel_metrics() -> list[str]:
    """The metrics computed from pixels alone in a compare run."""
    return sorted(name for name, spec in METRICS.items()
                  if spec.pixels is not None and "compare" in spec.commands)


def settings_of(metric: str) -> Iterator[dict[str, str]]:
    """Every combination of the named conventions the metric's values depend on."""
    names = [name for name in METRICS[metric].key_settings if name in CONVENTIONS]
    for values in itertools.product(*(CONVENTIONS[name] for name in names)):
        yield dict(zip(names, values, strict=True))


def label(settings: dict[str, str]) -> str:
    return ",".join(f"{name}={value}" for name, value in settings.items()) or "-"


def values_of(metric: str) -> dict[str, float | str]:
    """{settings label: the value, or the error's class name where it has none}."""
    values: dict[str, float | str] = {}
    for settings in settings_of(metric):
        try:
            values[label(settings)] = likeness.compare_files(*PAIR, metrics=metric,
                                                             **settings)[metric]
        except likeness.LikenessError as error:
            values[label(settings)] = type(error).__name__
    return values


def main() -> None:
    snapshot = {metric: {"revision": METRICS[metric].revision, "values": values_of(metric)}
                for metric in pixel_metrics()}
    OUT.write_text(json.dumps({"pair": [path.name for path in PAIR], "likeness":
                               likeness.__version__, "metrics": snapshot}, indent=1) + "\n")


if __name__ == "__main__":
    main()
