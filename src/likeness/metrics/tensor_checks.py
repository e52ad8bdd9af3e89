"""The one input check of every batched torch metric: types, dtypes, shapes, the data range
and the values, each refusal an ``InvalidInputError`` (a ``LikenessError``) that says what
to do.

What is accepted, what is converted:
- torch tensors only (a list, an array: refused, naming the conversion);
- floating tensors keep their dtype; bfloat16, float16 and the 8-bit floats are computed
  in float32 (exactly their values; FFTs and the kernels have no 16-bit floats on the
  CPU); integer tensors in float64 (exact for 8- and 16-bit values); boolean and complex
  tensors are refused, and so are sparse, oneDNN-blocked, quantized and nested ones
  (``to_dense()``, ``dequantize()``, ``torch.stack(x.unbind())``: ``dense_values``, which
  the tensor rows and network inputs share);
- (N, C, H, W) batches (or (N, C, T, H, W) volumes where allowed) of one shape, one dtype
  and one device (not the meta device), at least one image, one channel and one pixel;
- a finite, positive ``data_range`` (a number, not a bool);
- values finite and within [0, data_range] (checked without gradient: the check never
  changes what autograd sees) — as piq refuses them, so that uint8-valued floats passed
  with ``data_range=1`` are caught instead of compared at the wrong scale.  The other
  slip, floating images in [0, 1] passed with ``data_range=255`` (or any range above 1),
  cannot be refused (a very dark image is legitimate) and is computed as asked, with a
  ``ScaleWarning`` that says what it means.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from likeness.arguments import check_data_range, layout_hint, warn_of_unit_images
from likeness.errors import InvalidInputError, InvalidInputTypeError

__all__ = ["check_data_range", "check_gray_or_rgb_pairs", "check_image_batches",
           "dense_values", "mark_values_checked", "refuse_nested", "tensor_version"]

# the attribute a tensor checked once carries: (its version counter, the data range)
_CHECKED = "_likeness_values_checked"


def dense_values(tensor: Tensor, name: str) -> Tensor:
    """``tensor`` as an ordinary (strided, unquantized) tensor whose dtype NumPy and torch's
    CPU operations take: 8-bit floats (``torch.float8_*``) as float32, exactly their values;
    a sparse, oneDNN-blocked or quantized tensor refused with what to pass instead (torch's
    own operations failed on them with "Could not run 'aten::aminmax' …")."""
    refuse_nested(tensor, name)
    if tensor.layout != torch.strided:
        kind = "sparse" if "sparse" in str(tensor.layout) else "oneDNN-blocked" if (
            "mkldnn" in str(tensor.layout)) else "non-strided"
        raise InvalidInputTypeError(f"{name} is a {kind} tensor ({tensor.layout}); pass its "
                                    f"dense values: {name}.to_dense()")
    if tensor.is_quantized:
        raise InvalidInputTypeError(f"{name} is a quantized {tensor.dtype} tensor; pass its "
                                    f"values: {name}.dequantize()")
    if tensor.is_floating_point() and tensor.dtype.itemsize == 1:
        return tensor.to(torch.float32)
    return tensor


def refuse_nested(tensor: Tensor, name: str) -> None:
    """A nested tensor (images of several sizes) refused with what to pass instead: torch
    itself failed on its shape with "Internal error: NestedTensorImpl doesn't support
    sizes. Please file an issue."."""
    if tensor.is_nested:
        raise InvalidInputTypeError(
            f"{name} is a nested tensor; pass (N, C, H, W) batches of one image size: "
            f"torch.stack({name}.unbind()) for images of one size, or each image in a call "
            "of its own")


def _as_computable(tensor: Tensor, name: str) -> Tensor:
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise InvalidInputTypeError(f"{name} is a {tensor.dtype} tensor; pass real image "
                                    "values (float, or integers such as uint8)")
    tensor = dense_values(tensor, name)
    if tensor.dtype in (torch.bfloat16, torch.float16):
        return tensor.to(torch.float32)
    return tensor if tensor.is_floating_point() else tensor.to(torch.float64)


def tensor_version(tensor: Tensor) -> int | None:
    """The tensor's version counter (in-place writes advance it), or None for an inference
    tensor (made under ``torch.inference_mode``), which keeps none: reading it raises
    "Inference tensors do not track version counter"."""
    return None if tensor.is_inference() else tensor._version


def check_image_batches(x: Tensor, y: Tensor, *, volumes: bool = False,
                        data_range: float | None = None) -> tuple[Tensor, Tensor]:
    """x and y checked (module docs) and returned as floating tensors.

    Args:
        volumes: also accept (N, C, T, H, W) volumes.
        data_range: when given, the values must lie within [0, data_range].

    Raises:
        InvalidInputTypeError: not tensors, boolean or complex ones, or two dtypes.
        InvalidInputError: shapes, an empty axis, two devices, meta tensors, non-finite or
            out-of-range values.
    """
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise InvalidInputTypeError(
            f"expected (N, C, H, W) torch tensors, got {type(x).__name__} and "
            f"{type(y).__name__}; convert NumPy images with torch.from_numpy(a).permute(2, "
            "0, 1)[None] (from (H, W, C)), or pass them to likeness.compare_tensors; "
            "likeness.structural_similarity, peak_signal_noise_ratio and mean_squared_error "
            "take NumPy arrays as scikit-image's do")
    refuse_nested(x, "x")
    refuse_nested(y, "y")
    allowed = (4, 5) if volumes else (4,)
    if x.ndim not in allowed or y.ndim not in allowed:
        kinds = "(N, C, H, W) batches or (N, C, T, H, W) volumes" if volumes else \
            "(N, C, H, W) batches"
        raise InvalidInputError(f"expected {kinds}, got shapes {tuple(x.shape)} and "
                                f"{tuple(y.shape)}{layout_hint(tuple(x.shape))}")
    if layout_hint(tuple(x.shape)):  # channels last: SSIM would slide over 3 columns
        raise InvalidInputError(f"expected (N, C, H, W) batches, got shapes {tuple(x.shape)} "
                                f"and {tuple(y.shape)}{layout_hint(tuple(x.shape))}")
    if x.shape != y.shape:
        raise InvalidInputError(f"images differ in shape: {tuple(x.shape)} vs "
                                f"{tuple(y.shape)}")
    if any(size == 0 for size in x.shape):
        raise InvalidInputError(f"images of shape {tuple(x.shape)} have an empty axis (no "
                                "image, no channel or no pixel): there is nothing to compare")
    if x.dtype != y.dtype:
        raise InvalidInputTypeError(f"x is a {x.dtype} tensor and y a {y.dtype} one; pass both "
                                    "in one dtype (y.to(x.dtype)): the value depends on the "
                                    "precision it is computed in")
    if x.device != y.device:
        raise InvalidInputError(f"x is on {x.device} and y on {y.device}; move both to one "
                                "device")
    if x.device.type == "meta":
        raise InvalidInputError("x and y are meta tensors: they hold no values to compare")
    stored_as = x.dtype  # bfloat16 or float16 values are computed in float32
    x, y = _as_computable(x, "x"), _as_computable(y, "y")
    if data_range is not None:
        data_range = check_data_range(data_range)
        highest = check_values(x, y, data_range, stored_as=stored_as)
        if stored_as.is_floating_point and highest is not None:
            warn_of_unit_images(highest, data_range)
    return x, y


def _held_as(data_range: float, dtype: torch.dtype) -> float:
    """The largest value of ``dtype`` the range allows: data_range itself, or its nearest
    value in ``dtype`` where that is larger (1e-30 in float32 is 1.0000000031710769e-30,
    and an image scaled to it holds that value)."""
    if not dtype.is_floating_point or dtype == torch.float64:
        return data_range
    return max(data_range, float(torch.tensor(data_range, dtype=dtype)))


def check_values(x: Tensor, y: Tensor, data_range: float, *,
                 stored_as: torch.dtype | None = None) -> float | None:
    """Refuse non-finite values and values outside [0, data_range] (as the tensors' dtype,
    or ``stored_as``, holds it): one pass over each tensor (``aminmax`` propagates NaN,
    and an infinity is its own extreme).  Returns the largest value of both, or None
    where one of them was checked before (``mark_values_checked``)."""
    highest: float | None = -math.inf
    with torch.no_grad():
        for name, tensor in (("x", x), ("y", y)):
            version = tensor_version(tensor)
            if tensor.numel() == 0 or (version is not None and getattr(
                    tensor, _CHECKED, None) == (version, data_range)):
                highest = None
                continue
            low, high = (float(value) for value in torch.aminmax(tensor))
            if not (math.isfinite(low) and math.isfinite(high)):
                raise InvalidInputError(f"{name} holds NaN or infinite values; a metric of "
                                        "them is undefined")
            if low < 0 or high > _held_as(data_range, stored_as or tensor.dtype):
                raise InvalidInputError(
                    f"{name} has values in [{low:.6g}, {high:.6g}], outside [0, data_range] = "
                    f"[0, {data_range:g}]; pass the data_range of the values (255 for 8-bit "
                    "values, 1.0 for [0, 1]), or scale them into it")
            if highest is not None:
                highest = max(highest, high)
    return highest


def mark_values_checked(x: Tensor, y: Tensor, data_range: float) -> None:
    """``check_values`` once for tensors a run made and passes to several metrics, which
    then skip it while the tensors are unchanged (their version counter, which in-place
    writes advance).  Only tensors no caller can write to another way: a user's tensor
    may share its memory with a NumPy array, whose writes torch does not count.  Inference
    tensors count no writes: they are checked at every call."""
    check_values(x, y, data_range)
    for tensor in (x, y):
        version = tensor_version(tensor)
        if version is not None:
            setattr(tensor, _CHECKED, (version, data_range))


def check_gray_or_rgb_pairs(x: Tensor, y: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """The classical metrics' inputs: two (N, 1 or 3, H, W) tensors of one shape, checked
    (module docs) and returned as floating tensors; ``data_range`` required."""
    x, y = check_image_batches(x, y, data_range=check_data_range(data_range))
    if x.shape[1] not in (1, 3):
        raise InvalidInputError(f"expected two (N, C, H, W) tensors of one shape with 1 or 3 "
                                f"channels, got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y
