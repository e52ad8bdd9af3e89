"""The array arguments of the NumPy metric functions (scikit-image's SSIM, PSNR and MSE; FID,
KID, precision/recall/density/coverage, Vendi, CMMD, the Inception Score): what NumPy reads
as numbers, a torch tensor read as NumPy reads it, and feature sets checked to be finite
(N, D) matrices of one D — each refusal a ``LikenessError`` naming the argument, never
NumPy's or torch's own error, and never a NaN passed on to a NaN (or, through comparisons
that NaN fails, to a plausible number) in the result."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from likeness.errors import InvalidInputError, InvalidInputTypeError

__all__ = ["detached", "feature_matrices", "real_numbers"]


def detached(value: Any, name: str) -> Any:
    """``value``, or the NumPy array of a torch tensor (copied from its device); a tensor
    that requires grad refused: these functions compute in NumPy, without autograd."""
    if not type(value).__module__.startswith("torch"):
        return value
    if getattr(value, "is_nested", False):
        raise InvalidInputTypeError(f"{name} is a nested tensor, which NumPy cannot read; "
                                    f"pass one array: {name}.unbind() gives its parts")
    if value.requires_grad:
        raise InvalidInputTypeError(
            f"{name} is a tensor that requires grad; this function computes in NumPy, "
            f"without autograd: pass {name}.detach(), or use a likeness function on tensors "
            "(likeness.ssim, likeness.psnr) for a differentiable value")
    try:
        return value.cpu().numpy()
    except (RuntimeError, TypeError, NotImplementedError) as error:
        raise InvalidInputTypeError(
            f"{name} is a {value.dtype} tensor on {value.device}, which NumPy cannot read "
            f"({error}); pass a float32 or integer tensor, or a NumPy array") from None


def real_numbers(value: Any, name: str) -> np.ndarray:
    """``value`` as an array of real numbers, its dtype kept (integers, floats, booleans); an
    object array converted to float64 where its items are numbers; text, complex values,
    None and other objects refused."""
    array = np.asarray(detached(value, name))
    if array.dtype.kind == "O" and not any(item is None for item in array.flat):
        with contextlib.suppress(TypeError, ValueError):  # None would become NaN
            array = array.astype(np.float64)
    if array.dtype.kind not in "biuf":
        raise InvalidInputTypeError(
            f"{name} must hold real numbers, got an array of dtype {array.dtype}; pass "
            "integer or floating-point arrays")
    return array


def feature_matrices(**named: Any) -> list[np.ndarray]:
    """The named feature sets as finite (N, D) arrays of one D, their dtypes kept."""
    arrays = [real_numbers(value, name) for name, value in named.items()]
    if any(array.ndim != 2 for array in arrays) or len({a.shape[1] for a in arrays}) > 1:
        names = " and ".join(named)
        shapes = " and ".join(str(array.shape) for array in arrays)
        which = "an (N, D) matrix" if len(arrays) == 1 else "(N, D) matrices of one D"
        raise InvalidInputError(f"{names} must be {which} (a row per image), got shape "
                                f"{shapes}")
    for name, array in zip(named, arrays, strict=True):
        if not np.isfinite(array).all():
            rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
            raise InvalidInputError(
                f"{name} holds NaN or infinite values (in {rows.size} of its {len(array)} "
                f"rows, the first row {rows[0]}); extract the features again, or drop those "
                "images")
    return arrays
