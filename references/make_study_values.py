"""Bradley–Terry strengths from ``choix``, and JOD scores from a transcription of
``pwcmp``'s ``pw_scale.m``, for likeness's study analysis.

Run in the reference environment (references/reference-env.sh, which installs choix and
krippendorff),
never by the test suite:

    /tmp/likeness-reference/bin/python references/make_study_values.py

Simulated 2AFC judgments (numpy's default_rng with the seeds below; the judgments are
stored with the values, and the tests read them from there): for each dataset the
(winner, loser) index pairs and ``choix.ilsr_pairwise(n, data, alpha=0)`` (maximum
likelihood, no prior, log strengths normalised to mean zero).  ``pw_scale_m`` below
transcribes ``pw_scale.m`` (github.com/mantiuk/pwcmp, MIT; ``use_prior`` = 1, its default)
statement by statement with loops, as MATLAB runs it, and minimises with SciPy's BFGS (``fminunc``'s
quasi-Newton) to a gradient below 1e-10.  Writes tests/data/study_values.json with choix's
and SciPy's versions.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import choix
import krippendorff
import numpy as np
from scipy import optimize
from scipy.special import comb
from scipy.stats import binom, norm

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "study_values.json"
# (seed, true log-strengths, judgments): dense, sparse, many models, lopsided
# (the 400- and 600-judgment sets give pairs over 30 comparisons: pw_scale's binopdf terms;
# the lopsided one unanimous pairs: its prior's moved answers)
DATASETS = [(0, [0.0, 0.5, 1.0, -0.7, 0.3], 400), (1, [0.2, -0.2], 30),
            (2, [1.5, 0.9, 0.4, 0.0, -0.3, -0.8, -1.2, -2.0], 600),
            (3, [2.0, 0.0, -1.0], 60), (4, [3.0, 0.0, -3.0, 0.5], 40)]


def simulated_judgments(seed: int, strengths: list[float], count: int) -> list[list[int]]:
    generator = np.random.default_rng(seed)
    theta = np.asarray(strengths)
    pairs = []
    for _ in range(count):
        i, j = generator.choice(theta.size, 2, replace=False)
        first_wins = generator.random() < 1 / (1 + np.exp(theta[j] - theta[i]))
        pairs.append([int(i), int(j)] if first_wins else [int(j), int(i)])
    return pairs


def pw_scale_m(d: np.ndarray, use_prior: bool = True) -> np.ndarray:
    """pw_scale.m, its connected-graph path: Q with the first condition at 0."""
    n_cond = d.shape[0]
    d_sum = d + d.T
    nnz_d = d_sum > 0
    nnz_bino = (d_sum <= 30) & nnz_d
    nnz_gauss = (d_sum > 30) & nnz_d
    nk = np.zeros((n_cond, n_cond))
    for ii in range(n_cond):
        for jj in range(n_cond):
            if nnz_bino[ii, jj]:
                nk[ii, jj] = comb(d_sum[jj, ii], d[ii, jj], exact=True)

    def column_major(matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.array([matrix[i, j] for j in range(n_cond) for i in range(n_cond)
                         if mask[i, j]])

    def exp_prob(q_trunc: np.ndarray) -> float:
        q = np.concatenate([[0.0], q_trunc])
        sigma_cdf = 1.4826
        dd = np.array([[q[i] - q[j] for j in range(n_cond)] for i in range(n_cond)])
        pd = norm.cdf(dd, 0, sigma_cdf)
        dt = d.T
        p1 = (column_major(nk, nnz_bino) * column_major(pd, nnz_bino) ** column_major(d, nnz_bino)
              * (1 - column_major(pd, nnz_bino)) ** column_major(dt, nnz_bino))
        p2 = binom.pmf(column_major(d, nnz_gauss), column_major(d_sum, nnz_gauss),
                       column_major(pd, nnz_gauss))
        likelihood = np.maximum(np.concatenate([p1, p2]), 1e-200)
        if not use_prior:
            return float(-np.sum(np.log(likelihood)))
        rows = []
        for ii in range(n_cond):
            for jj in range(n_cond):
                n = d[ii, jj] + d[jj, ii]
                if n > 0:
                    k2, indmin = min((d[ii, jj], 1), (d[jj, ii], 2))
                    if k2 == 0:  # noqa: SIM108 - as pw_scale.m writes it
                        k = d[ii, jj] - 1 if indmin == 2 else 1
                    else:
                        k = d[ii, jj]
                    p = norm.cdf(column_major(dd, nnz_bino | nnz_gauss), 0, sigma_cdf)
                    prob = float(comb(n, k, exact=True)) * p**k * (1 - p) ** (n - k)
                    rows.append(prob / prob.sum())
        a = np.array(rows)
        prior = a.sum(axis=0) / a.sum()
        return float(-np.sum(np.log(likelihood * prior)))

    result = optimize.minimize(exp_prob, np.zeros(n_cond - 1), method="BFGS",
                               options={"gtol": 1e-10, "maxiter": 10_000})
    return np.concatenate([[0.0], result.x])


def main() -> None:
    records = []
    for seed, strengths, count in DATASETS:
        pairs = simulated_judgments(seed, strengths, count)
        try:
            theirs = [float(v) for v in choix.ilsr_pairwise(
                len(strengths), pairs, alpha=0.0, tol=1e-12, max_iter=10_000)]
        except ValueError:  # no maximum-likelihood value: a model never lost or never won
            theirs = None
        wins = np.zeros((len(strengths), len(strengths)), dtype=int)
        for winner, loser in pairs:
            wins[winner, loser] += 1
        records.append({"seed": seed, "strengths": strengths, "count": count,
                        "judgments": pairs, "bradley_terry": theirs,
                        "jod": [float(v) for v in pw_scale_m(wins)],
                        "jod_without_prior": [float(v) for v in pw_scale_m(wins, False)]})
    agreement = []
    for seed in (0, 1, 2):
        generator = np.random.default_rng(seed)
        # 6 participants × 30 units, values from 3 models, 30 % missing; the first half
        # copied from participant 0 where given (agreement above chance)
        data = generator.integers(0, 3, (6, 30)).astype(float)
        data[generator.random(data.shape) < 0.3] = np.nan
        data[:, :15] = np.where(np.isnan(data[:, :15]), np.nan, data[0:1, :15])
        units = [[f"m{int(v)}" for v in data[:, u] if not np.isnan(v)] for u in range(30)]
        agreement.append({"units": units, "alpha": float(krippendorff.alpha(
            reliability_data=data, level_of_measurement="nominal"))})
    interval = []
    for seed in (10, 11, 12):
        generator = np.random.default_rng(seed)
        # 6 participants rating 30 outputs on 1–5: a shared quality plus each one's noise,
        # 30 % missing (MOS studies: Krippendorff's α for interval data)
        quality = generator.integers(1, 6, 30)
        data = np.clip(quality + generator.integers(-1, 2, (6, 30)), 1, 5).astype(float)
        data[generator.random(data.shape) < 0.3] = np.nan
        units = [[float(v) for v in data[:, u] if not np.isnan(v)] for u in range(30)]
        interval.append({"units": units, "alpha": float(krippendorff.alpha(
            reliability_data=data, level_of_measurement="interval"))})
    OUT.write_text(json.dumps({"reference": f"choix {version('choix')}, "
                                            "ilsr_pairwise(alpha=0, tol=1e-12); pw_scale.m "
                                            f"transcribed, SciPy {version('scipy')} BFGS",
                               "datasets": records, "krippendorff": agreement,
                               "krippendorff_interval": interval,
                               "krippendorff_reference": f"krippendorff "
                                                         f"{version('krippendorff')}"})
                   + "\n")


if __name__ == "__main__":
    main()
