"""Reading a statistics file (``.npz`` with ``mu`` and ``sigma``, pytorch-fid's format) as
an untrusted input: one validator for the command line, ``fid()`` and the Accumulator.

Checked, in this order, each refusal a ``LikenessError`` naming the file: the file's size;
that it is a readable zip archive; each array's header (read before its data, so that a
header claiming a huge shape allocates nothing) — a numeric float dtype, never Python
objects (``allow_pickle`` is never set), ``mu`` a vector and ``sigma`` a square matrix of
its length, the length the encoder gives; the data itself (a damaged archive's CRC);
finite values; ``sigma`` symmetric and positive semi-definite, as a covariance is, within
``COVARIANCE_TOLERANCE`` (1e-6) of its largest magnitude (so that float32 files and
covariances of fewer images than dimensions pass); the optional ``count`` a non-negative
integer and ``likeness_settings`` a JSON object.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from likeness.documents import special_file_kind
from likeness.errors import LikenessError
from likeness.io import standing_in
from likeness.metrics.fid import COVARIANCE_TOLERANCE

__all__ = ["MAX_STATISTICS_BYTES", "read_statistics_file"]

# a 4096-dimensional covariance in float64 is 128 MiB; nothing likeness reads is larger
MAX_STATISTICS_BYTES = 512 * 2**20
TOLERANCE = COVARIANCE_TOLERANCE


def _header(archive: zipfile.ZipFile, name: str, source: Path) -> tuple[tuple[int, ...], Any]:
    """(shape, dtype) of ``name`` in the archive, read from its .npy header alone."""
    try:
        with archive.open(name) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise LikenessError(f"{source}: '{name}' is not a readable .npy array ({error}); "
                            "recompute the statistics file") from None
    return shape, dtype


def read_statistics_file(path: str | os.PathLike[str], dims: int | None = None, *,
                         definite: bool = True
                         ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(mu, sigma) in float64 and the other fields (``count``, ``likeness_settings``
    decoded) of a statistics file, validated (see the module docs; ``definite=False``
    leaves out the eigenvalue check, 0.5 s at 2048², to a later full read: a run checking
    its inputs before the checkpoint does not pay it twice).

    Args:
        dims: the feature length of the run's encoder (2048 for pytorch-fid's Inception);
            None accepts any.

    Raises:
        LikenessError: the file is not a valid statistics file, naming it and why.
    """
    source = Path(path)
    try:
        status = source.stat()
    except OSError as error:
        raise LikenessError(f"{source}: cannot read the statistics file "
                            f"({error.strerror or error})") from None
    if (kind := special_file_kind(status.st_mode)) is not None:  # a FIFO: no size, no end
        raise LikenessError(f"{source}: {kind}, not a statistics file; likeness reads only "
                            "regular files")
    size = status.st_size
    if size == 0:
        raise LikenessError(f"{source}: the statistics file is empty")
    if size > MAX_STATISTICS_BYTES:
        raise LikenessError(f"{source}: {size} bytes, more than a statistics file holds "
                            f"({MAX_STATISTICS_BYTES} at most); is it the right file?")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        if stand_in := standing_in(source):
            raise LikenessError(f"{source}: {stand_in}") from None
        raise LikenessError(f"{source}: not a readable .npz statistics file ({error}); "
                            "write one with likeness fid DIR --save-stats FILE.npz") from None
    with archive:
        members = {Path(n).stem: n for n in archive.namelist() if n.endswith(".npy")}
        if "mu" not in members or "sigma" not in members:
            found = ", ".join(sorted(members)) or "none"
            raise LikenessError(f"{source}: a statistics file needs arrays 'mu' and 'sigma' "
                                f"(pytorch-fid's format); found {found}")
        shapes = {}
        for name, member in members.items():
            shape, dtype = _header(archive, member, source)
            if dtype.hasobject:
                raise LikenessError(f"{source}: '{name}' holds Python objects, which are "
                                    "never loaded (allow_pickle stays off)")
            if name in ("mu", "sigma") and dtype.kind != "f":
                raise LikenessError(f"{source}: '{name}' is of type {dtype}, not floating "
                                    "point; a statistics file holds float mean and covariance")
            claimed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
            stored = archive.getinfo(member).file_size
            if claimed > min(stored, MAX_STATISTICS_BYTES):
                raise LikenessError(f"{source}: '{name}' claims shape {shape} ({claimed} "
                                    f"bytes) but holds {stored}: the file is damaged or "
                                    "forged; recompute it")
            shapes[name] = shape
        _check_shapes(source, shapes["mu"], shapes["sigma"], dims)
        arrays = {name: _read(archive, member, source) for name, member in members.items()}
    mu, sigma = arrays["mu"].astype(np.float64), arrays["sigma"].astype(np.float64)
    _check_values(source, mu, sigma, definite)
    return mu, sigma, _extra_fields(source, arrays)


def _check_shapes(source: Path, mu: tuple[int, ...], sigma: tuple[int, ...],
                  dims: int | None) -> None:
    if len(mu) != 1 or len(sigma) != 2 or sigma != (mu[0], mu[0]):
        raise LikenessError(f"{source}: 'mu' must be a vector and 'sigma' a square matrix of "
                            f"its length; found shapes {mu} and {sigma}")
    if dims is not None and mu[0] != dims:
        raise LikenessError(f"{source}: statistics of {mu[0]}-dimensional features, but this "
                            f"run's encoder gives {dims}; recompute them with the same "
                            "encoder (or choose its --encoder)")


def _read(archive: zipfile.ZipFile, member: str, source: Path) -> np.ndarray:
    try:
        with archive.open(member) as stream:
            return np.lib.format.read_array(stream, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise LikenessError(f"{source}: '{Path(member).stem}' cannot be read ({error}); the "
                            "file is damaged: recompute it") from None


def _check_values(source: Path, mu: np.ndarray, sigma: np.ndarray, definite: bool) -> None:
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise LikenessError(f"{source}: 'mu' or 'sigma' holds NaN or infinite values; "
                            "recompute the statistics")
    scale = float(np.max(np.abs(sigma))) if sigma.size else 0.0
    asymmetry = float(np.max(np.abs(sigma - sigma.T))) if sigma.size else 0.0
    if asymmetry > TOLERANCE * scale:
        raise LikenessError(f"{source}: 'sigma' is not symmetric (|Σ − Σᵀ| up to "
                            f"{asymmetry:.3g}, {asymmetry / scale:.2g} of its largest entry; "
                            f"tolerance {TOLERANCE:g}), so it is not a covariance matrix")
    if not definite or not sigma.size:
        return
    symmetric = (sigma + sigma.T) / 2
    try:  # positive definite (a covariance of more images than dimensions): a third of
        np.linalg.cholesky(symmetric)  # the eigenvalues' time proves it
        return
    except np.linalg.LinAlgError:  # semi-definite, or not: its eigenvalues say which
        pass
    lowest = float(np.linalg.eigvalsh(symmetric)[0])
    if lowest < -TOLERANCE * max(scale, np.finfo(float).tiny):
        raise LikenessError(f"{source}: 'sigma' is not positive semi-definite (an eigenvalue "
                            f"of {lowest:.3g}), so it is not a covariance matrix; pytorch-fid "
                            "would fail on it too")


def _extra_fields(source: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if "count" in arrays:
        count = arrays["count"]
        if count.shape != () or count.dtype.kind not in "iu" or int(count) < 0:
            raise LikenessError(f"{source}: 'count' must be one non-negative integer, found "
                                f"{count.dtype} of shape {count.shape}")
        extra["count"] = int(count)
    if "likeness_settings" in arrays:
        text = arrays["likeness_settings"]
        try:
            settings = json.loads(str(text)) if text.shape == () else None
        except (ValueError, RecursionError):
            settings = None
        if not isinstance(settings, dict):
            raise LikenessError(f"{source}: 'likeness_settings' is not the JSON object "
                                "likeness writes; recompute the file, or remove the field "
                                "to treat it as a pytorch-fid file")
        extra["likeness_settings"] = settings
    return extra
