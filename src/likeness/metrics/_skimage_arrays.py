"""The arguments of scikit-image's metric functions as it reads them: arrays of numbers of
one shape, their dtypes' ranges and the float type computed in (``skimage_compat``)."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from likeness.arguments import check_data_range
from likeness.errors import InvalidInputError, InvalidInputTypeError
from likeness.metrics._arrays import detached

__all__ = ["check_has_pixels", "checked_data_range", "dtype_range", "float_type_of",
           "same_shape_arrays"]


def dtype_range(dtype: np.dtype) -> tuple[float, float]:
    """scikit-image's ``dtype_range``: the integer type's limits, (-1, 1) for floats."""
    if dtype == np.bool_:
        return 0, 1
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    if np.issubdtype(dtype, np.floating):
        return -1, 1
    raise InvalidInputTypeError(
        f"unsupported image dtype {dtype}; pass integer or floating-point arrays")


def float_type_of(*dtypes: np.dtype) -> np.dtype:
    """scikit-image's ``_supported_float_type``: float32/64 kept, float16 promoted, rest float64."""
    chosen: list[np.dtype] = []
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        if dtype.kind == "c":
            raise InvalidInputError("complex valued input is not supported")
        if dtype in (np.float32, np.float16):
            chosen.append(np.dtype(np.float32))
        else:
            chosen.append(np.dtype(np.float64))
    return np.result_type(*chosen)


def same_shape_arrays(**images: Any) -> list[np.ndarray]:
    """The images as arrays of numbers of one shape (scikit-image's ``np.asarray`` and shape
    check); a torch tensor read as NumPy reads it, one needing its gradient refused; an
    array of the other byte order (a FITS or big-endian TIFF reader's ``>u2``) in this
    machine's, the same values: the compiled kernels take native arrays only (numba's
    TypingError on ``>u2`` before)."""
    arrays = [np.asarray(detached(image, name)) for name, image in images.items()]
    if not all(array.dtype.kind in "biufc" for array in arrays):
        raise InvalidInputTypeError(
            f"unsupported image dtype {' and '.join(sorted({str(a.dtype) for a in arrays}))}; "
            "pass integer or floating-point arrays")
    arrays = [array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
              for array in arrays]
    if not all(arrays[0].shape == array.shape for array in arrays[1:]):
        shapes = " vs ".join(str(array.shape) for array in arrays)
        raise InvalidInputError(f"Input images must have the same dimensions ({shapes}).")
    return arrays


def check_has_pixels(image: np.ndarray) -> None:
    """scikit-image gives NaN (MSE) or numpy's reduction error (PSNR) here."""
    if image.size == 0:
        raise InvalidInputError(f"images of shape {image.shape} hold no pixels: there is "
                                "nothing to compare")


def checked_data_range(data_range: Any) -> Any:
    """None, or ``data_range`` checked to be a finite positive number (``check_data_range``)
    and kept as given where it is a real number — its type is the precision scikit-image
    computes the constants in (a float32 range gives float32 constants) — else as a float."""
    if data_range is None:
        return None
    checked = check_data_range(data_range)
    return data_range if isinstance(data_range, Real) else checked
