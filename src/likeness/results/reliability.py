"""How far participants agree with one another: Krippendorff's α for nominal data
(Krippendorff 2011, "Computing Krippendorff's alpha-reliability"), the statistic the
``krippendorff`` package computes with ``level_of_measurement="nominal"``.

Each unit (in a 2AFC study: one item and one pair of models) holds the values the coders
(participants) gave it; units with fewer than two values carry no information about
agreement and are left out.  With the coincidence matrix o_ck = Σ_u (number of c–k pairs of
values in u) / (m_u − 1) and n_c = Σ_k o_ck, n = Σ_c n_c:
α = 1 − (n − 1) Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k.  1 is perfect agreement, 0 agreement at
chance, below 0 systematic disagreement; undefined (NaN) when fewer than two values are
paired or a single value occurs throughout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["krippendorff_alpha_nominal"]


def krippendorff_alpha_nominal(units: Iterable[Sequence[str]]) -> float:
    """Krippendorff's α of nominal values, one sequence of values per unit."""
    coincidences: dict[tuple[str, str], float] = {}
    for values in units:
        if len(values) < 2:
            continue
        counts = Counter(values)
        weight = 1.0 / (len(values) - 1)
        for c, count_c in counts.items():
            for k, count_k in counts.items():
                pairs = count_c * (count_k - 1) if c == k else count_c * count_k
                coincidences[(c, k)] = coincidences.get((c, k), 0.0) + pairs * weight
    totals: dict[str, float] = {}
    for (c, _), value in coincidences.items():
        totals[c] = totals.get(c, 0.0) + value
    n = sum(totals.values())
    observed = sum(value for (c, k), value in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n <= 1 or expected == 0:
        return float("nan")
    return 1.0 - (n - 1) * observed / expected
