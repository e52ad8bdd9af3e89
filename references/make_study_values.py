"""Bradley–Terry strengths from ``choix`` for likeness's study analysis.

Run in the reference environment (references/reference-env.sh, which installs choix),
never by the test suite:

    /tmp/likeness-reference/bin/python references/make_study_values.py

Simulated 2AFC judgments (numpy's default_rng with the seeds below; the tests rebuild the
same judgments with ``simulated_judgments``): for each dataset the (winner, loser) index
pairs and ``choix.ilsr_pairwise(n, data, alpha=0)`` (maximum likelihood, no prior, log
strengths normalised to mean zero).  Writes tests/data/study_values.json with choix's
version.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import choix
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "study_values.json"
# (seed, true log-strengths, judgments): dense, sparse, many models, lopsided
DATASETS = [(0, [0.0, 0.5, 1.0, -0.7, 0.3], 400), (1, [0.2, -0.2], 30),
            (2, [1.5, 0.9, 0.4, 0.0, -0.3, -0.8, -1.2, -2.0], 600),
            (3, [2.0, 0.0, -1.0], 60)]


def simulated_judgments(seed: int, strengths: list[float], count: int) -> list[list[int]]:
    generator = np.random.default_rng(seed)
    theta = np.asarray(strengths)
    pairs = []
    for _ in range(count):
        i, j = generator.choice(theta.size, 2, replace=False)
        first_wins = generator.random() < 1 / (1 + np.exp(theta[j] - theta[i]))
        pairs.append([int(i), int(j)] if first_wins else [int(j), int(i)])
    return pairs


def main() -> None:
    records = []
    for seed, strengths, count in DATASETS:
        pairs = simulated_judgments(seed, strengths, count)
        theirs = choix.ilsr_pairwise(len(strengths), pairs, alpha=0.0, tol=1e-12,
                                     max_iter=10_000)
        records.append({"seed": seed, "strengths": strengths, "count": count,
                        "judgments": pairs, "bradley_terry": [float(v) for v in theirs]})
    OUT.write_text(json.dumps({"reference": f"choix {version('choix')}, "
                                            "ilsr_pairwise(alpha=0, tol=1e-12)",
                               "datasets": records}) + "\n")


if __name__ == "__main__":
    main()
