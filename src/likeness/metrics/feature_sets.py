"""Set metrics of two feature sets beyond FID and KID, pure maths on (N, D) arrays, in
bounded memory (distances in blocks of rows, never the whole N × N matrix):

- **precision, recall, density, coverage** (Kynkäänniemi et al. 2019; Naeem et al. 2020)
  exactly as the prdc package 0.2 computes them, ties included: Euclidean distances as
  scikit-learn's ``pairwise_distances`` computes them — −2 a·b, then + ‖a‖², then + ‖b‖²
  in float64, clipped at 0; for float32 features (what encoders give) the squared
  distances are rounded to float32 and their square roots taken in float32, as
  scikit-learn's upcast route does, so that points at equal distance compare equal as in
  prdc; a set's distance to itself 0 on the diagonal (and the two sets' distances too
  when they are one array, as scikit-learn sets it) — each point's radius the distance
  to its k-th nearest neighbour within its own set (the (k + 1)-th smallest distance,
  itself included);
  precision: the share of fake points inside some real point's ball; recall: the share of
  real points inside some fake point's ball; density: the mean number of real balls a
  fake point is in, over k; coverage: the share of real points whose nearest fake point
  lies inside their ball (all comparisons strict).
- **Vendi score** (Friedman & Dieng 2023), q = 1, cosine kernel: exp of the Shannon
  entropy of the eigenvalues of K / n for K the cosine similarities of the rows — computed
  as the eigenvalues of the d × d matrix XᵀX / n of the unit rows (the same non-zero
  eigenvalues), as vendi-score's ``score_dual``; equal to its ``score_X``.
- **CMMD** (Jayasumana et al. 2024): 1000 × the biased MMD² with the Gaussian RBF kernel
  exp(−‖a − b‖² / (2 · 10²)), as google-research/cmmd's ``distance.py`` defines it, in
  float64 (in float32 the formula loses ~11 % on near sets).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from likeness.errors import InvalidInputError
from likeness.metrics._arrays import feature_matrices
from likeness.wording import counted

__all__ = ["CMMD_SCALE", "CMMD_SIGMA", "check_neighbour_sizes", "cmmd",
           "coverage_density_precision_recall", "vendi"]

CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0
_BLOCK_ELEMENTS = 2**24  # one block of distances: 16 M float64 values, 128 MB


def _blocks(rows: int, columns: int) -> Iterator[slice]:
    step = max(1, _BLOCK_ELEMENTS // max(columns, 1))
    for start in range(0, rows, step):
        yield slice(start, min(rows, start + step))


# prdc calls scikit-learn's pairwise_distances with n_jobs=8, which computes the products
# with 8 even column slices; the same slices give the same bits
_PRDC_JOBS = 8


def _even_slices(count: int, parts: int) -> Iterator[slice]:
    """scikit-learn's ``gen_even_slices``: ``parts`` slices of sizes differing by one."""
    start = 0
    for index in range(parts):
        size = count // parts + (1 if index < count % parts else 0)
        if size:
            yield slice(start, start + size)
            start += size


def _squared_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _distances(a: np.ndarray, b: np.ndarray, a_norms: np.ndarray, b_norms: np.ndarray,
               diagonal_from: int | None = None, single: bool = False) -> np.ndarray:
    """Euclidean distances of a block of rows of one set to all rows of another, as
    scikit-learn computes them (the operations in its order; ``single``: rounded to float32
    before the square root, its route for float32 features); ``diagonal_from``: a's first
    row's index when b is a's own set (its self-distances are set to 0)."""
    if single:  # rounded to float32 below: the product's last float64 bits do not matter
        squared = -2.0 * (a @ b.T)
    else:
        squared = np.empty((a.shape[0], b.shape[0]))
        for part in _even_slices(b.shape[0], _PRDC_JOBS):
            # never a @ a.T: numpy computes that product by another BLAS routine (syrk),
            # whose last bits differ, and a float64 tie at a radius would not stay a tie
            squared[:, part] = -2.0 * (a @ b[part].T)
    squared += a_norms[:, None]
    squared += b_norms[None, :]
    if single:
        squared = squared.astype(np.float32)
    np.maximum(squared, 0, out=squared)
    distances = np.sqrt(squared)
    if diagonal_from is not None:
        rows = np.arange(a.shape[0])
        distances[rows, rows + diagonal_from] = 0.0
    return distances


def _radii(x: np.ndarray, norms: np.ndarray, k: int, single: bool) -> np.ndarray:
    """Each point's distance to its k-th nearest neighbour in its own set."""
    radii = np.empty(x.shape[0], np.float32 if single else np.float64)
    for block in _blocks(x.shape[0], x.shape[0]):
        distances = _distances(x[block], x, norms[block], norms, diagonal_from=block.start,
                               single=single)
        radii[block] = np.partition(distances, k, axis=1)[:, k]
    return radii


def check_neighbour_sizes(real: int, fake: int, k: int) -> None:
    """Refuse sets of these sizes, in which an image has no k-th neighbour besides itself
    (also called before any feature is computed, with the counts of the files found).

    Raises:
        InvalidInputError: a set of k images or fewer.
    """
    for name, count in (("real", real), ("fake", fake)):
        if count <= k:
            raise InvalidInputError(
                f"the {name} set has {counted(count, 'image')}; k-nearest-neighbour metrics "
                f"with k = {k} need more than {k}")


def coverage_density_precision_recall(real: np.ndarray, fake: np.ndarray,
                                      k: int) -> dict[str, float]:
    """prdc's four values for one k (see the module docs); inputs (N, D): float32 features
    are compared at float32 precision, as prdc compares them; any other dtype in float64.

    Raises:
        ValueError: a set with k points or fewer (no k-th neighbour besides itself).
    """
    one_array = real is fake  # scikit-learn zeroes the diagonal of an array with itself
    real_array, fake_array = feature_matrices(real=real, fake=fake)
    single = real_array.dtype == np.float32 and fake_array.dtype == np.float32
    real, fake = real_array.astype(np.float64), fake_array.astype(np.float64)
    check_neighbour_sizes(real.shape[0], fake.shape[0], k)
    real_norms, fake_norms = _squared_norms(real), _squared_norms(fake)
    real_radii = _radii(real, real_norms, k, single)
    fake_radii = _radii(fake, fake_norms, k, single)
    inside_count = np.zeros(fake.shape[0], dtype=np.int64)  # real balls holding each fake
    recalled = np.zeros(real.shape[0], dtype=bool)
    nearest_fake = np.empty(real.shape[0], real_radii.dtype)
    for block in _blocks(real.shape[0], fake.shape[0]):
        distances = _distances(real[block], fake, real_norms[block], fake_norms,
                               diagonal_from=block.start if one_array else None,
                               single=single)
        inside_count += (distances < real_radii[block, None]).sum(axis=0)
        recalled[block] = (distances < fake_radii[None, :]).any(axis=1)
        nearest_fake[block] = distances.min(axis=1)
    return {"precision": float((inside_count > 0).mean()),
            "recall": float(recalled.mean()),
            "density": float((1.0 / k) * inside_count.mean()),
            "coverage": float((nearest_fake < real_radii).mean())}


def vendi(features: np.ndarray) -> float:
    """The Vendi score (q = 1, cosine kernel) of one set of features (N, D).

    Raises:
        ValueError: an empty set or a zero feature vector (no cosine similarity).
    """
    x = feature_matrices(features=features)[0].astype(np.float64, copy=False)
    if x.shape[0] == 0:
        raise InvalidInputError("the Vendi score of an empty set is undefined")
    lengths = np.sqrt(_squared_norms(x))
    if np.any(lengths == 0):
        raise InvalidInputError("a feature vector is zero: its cosine similarity is undefined")
    unit = x / lengths[:, None]
    second_moment = np.zeros((x.shape[1], x.shape[1]))
    for block in _blocks(x.shape[0], x.shape[1]):
        second_moment += unit[block].T @ unit[block]
    eigenvalues = np.linalg.eigvalsh(second_moment / x.shape[0])
    positive = eigenvalues[eigenvalues > 0]
    return float(math.exp(-(positive * np.log(positive)).sum()))


def _mean_kernel(a: np.ndarray, b: np.ndarray, a_norms: np.ndarray,
                 b_norms: np.ndarray) -> float:
    gamma = 1.0 / (2.0 * CMMD_SIGMA**2)
    total = 0.0
    for block in _blocks(a.shape[0], b.shape[0]):
        squared = -2.0 * (a[block] @ b.T) + a_norms[block, None] + b_norms[None, :]
        total += math.fsum(np.exp(-gamma * squared).sum(axis=1))
    return total / (a.shape[0] * b.shape[0])


def cmmd(reference: np.ndarray, test: np.ndarray) -> float:
    """CMMD of two embedding sets (N, D), (M, D) (see the module docs), float64.

    Raises:
        ValueError: an empty set.
    """
    x, y = (array.astype(np.float64, copy=False) for array in
            feature_matrices(reference=reference, test=test))
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise InvalidInputError("CMMD needs two non-empty sets")
    x_norms, y_norms = _squared_norms(x), _squared_norms(y)
    return CMMD_SCALE * (_mean_kernel(x, x, x_norms, x_norms)
                         + _mean_kernel(y, y, y_norms, y_norms)
                         - 2.0 * _mean_kernel(x, y, x_norms, y_norms))
