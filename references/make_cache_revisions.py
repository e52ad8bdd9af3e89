"""likeness's own values of every pixel metric under every convention it takes, with the
revision of its arithmetic: the snapshot ``tests/test_cache_revisions.py`` compares against.

Not a reference implementation's values — the guard of the cache: values are cached under
a key that holds the metric's ``MetricSpec.revision``, so a release that changes a value
without bumping the revision would serve an earlier release's cached values as its own.
The test recomputes these values and fails, naming the metric, when one changed while its
revision did not.  After a deliberate change: bump ``revision=`` in the metric's catalog
entry, then run (with the project's environment, not the reference one)

    .venv/bin/python references/make_cache_revisions.py

Pair: TID2013's I19 (tests/data/matlab_pairs, 512×384 colour).  The LPIPS metrics run on
the golden set's seeded stand-in backbones (tests/data/golden/weights.py, its
``lpips_seed``), with their network's revision beside theirs.  Writes
tests/data/cache_revisions.json.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import likeness
from likeness.evaluation.catalog.defaults import CONVENTIONS
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS

ROOT = Path(__file__).resolve().parents[1]
PAIR = (ROOT / "tests" / "data" / "matlab_pairs" / "tid2013_I19_reference.png",
        ROOT / "tests" / "data" / "matlab_pairs" / "tid2013_I19_distorted.png")
OUT = ROOT / "tests" / "data" / "cache_revisions.json"
GOLDEN = ROOT / "tests" / "data" / "golden"
# the network metrics with stand-in weights in the golden set: metric -> its checkpoint
STAND_IN_METRICS = {"lpips_alex": "alexnet", "lpips_vgg": "vgg16",
                    "lpips_squeeze": "squeezenet1_1"}


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


def stand_in_weights(folder: Path) -> dict[str, Path]:
    """The golden set's stand-in checkpoints of ``STAND_IN_METRICS``, written in folder."""
    spec = importlib.util.spec_from_file_location("golden_weights", GOLDEN / "weights.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seed = json.loads((GOLDEN / "expected.json").read_text())["lpips_seed"]
    return {name: module.save_checkpoint(name, seed, folder / f"{name}.pth")
            for name in STAND_IN_METRICS.values()}


def network_value(metric: str, weights: Mapping[str, Path]) -> float:
    checkpoint = STAND_IN_METRICS[metric]
    return likeness.compare_files(*PAIR, metrics=metric,
                                  weights={checkpoint: str(weights[checkpoint])})[metric]


def network_revision(metric: str) -> int:
    return NETWORKS[metric].revision


def main() -> None:
    snapshot = {metric: {"revision": METRICS[metric].revision, "values": values_of(metric)}
                for metric in pixel_metrics()}
    with tempfile.TemporaryDirectory() as folder:
        weights = stand_in_weights(Path(folder))
        networks = {metric: {"revision": METRICS[metric].revision,
                             "network_revision": network_revision(metric),
                             "value": network_value(metric, weights)}
                    for metric in STAND_IN_METRICS}
    OUT.write_text(json.dumps({"pair": [path.name for path in PAIR], "likeness":
                               likeness.__version__, "metrics": snapshot,
                               "network_metrics": networks}, indent=1) + "\n")


if __name__ == "__main__":
    main()
