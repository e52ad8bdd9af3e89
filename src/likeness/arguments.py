"""The Python API's arguments checked by kind before anything is read: a message that names
the argument, what it must be and what it got, never a ``TypeError`` from deep inside
``pathlib`` or numpy (an array given where a folder is expected, say)."""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from types import FrameType
from typing import Any

from likeness.errors import InvalidInputError, InvalidInputTypeError, ScaleWarning

__all__ = ["PATH", "check_argument_kinds", "check_data_range", "check_named_paths",
           "check_numbers", "check_path_list", "check_paths", "data_range_held_as", "described",
           "layout_hint", "outside_stacklevel", "user_stacklevel",
           "warn_of_unit_images"]

PATH = (str, os.PathLike)
_SHORT = 60  # a value's repr up to this length is shown whole
_IN_MEMORY = ("; images in memory go to likeness.compare_tensors or the metric functions "
              "(likeness.ssim, likeness.lpips, ...), features to likeness.frechet_distance")


def described(value: object) -> str:
    """``value`` as a message shows it: its repr when short, an array or tensor by its type
    and shape (never its numbers), anything else by its type and the repr's start."""
    shape = getattr(value, "shape", None)
    if shape and not isinstance(value, str | bytes):  # a scalar (shape ()) by its repr
        kind = type(value)
        return f"a {kind.__module__.split('.')[0]}.{kind.__name__} of shape {tuple(shape)}"
    text = repr(value)
    if len(text) <= _SHORT:
        return text
    return f"a {type(value).__name__} ({text[:_SHORT - 20]}...)"


def check_argument_kinds(kinds: Mapping[str, tuple[object, str, tuple[type, ...]]],
                         progress: object = None) -> None:
    """Refuse an argument of another kind: ``kinds`` maps each name to (its value, what it
    must be in words, the types accepted); ``progress`` must be callable or None.

    Raises:
        InvalidInputTypeError: naming the argument, what it must be and what it got.
    """
    for name, (value, words, accepted) in kinds.items():
        if not isinstance(value, accepted):
            raise _refusal(name, words, value)
    if progress is not None and not callable(progress):
        raise InvalidInputTypeError(f"progress must be a function (stage, done, total) or "
                                    f"None, got {described(progress)}")


def check_flags(**flags: object) -> None:
    """Refuse a flag that is not True or False (numpy's booleans too): "no", 0.5 or a list
    are truthy, and would be taken as True without a word.

    Raises:
        InvalidInputTypeError: naming the flag and what it got.
    """
    for name, flag in flags.items():
        numpy_bool = type(flag).__module__ == "numpy" and type(flag).__name__ in (
            "bool", "bool_")
        if not isinstance(flag, bool) and not numpy_bool:
            raise InvalidInputTypeError(f"{name} must be True or False, got "
                                        f"{described(flag)}")


def _refusal(name: str, words: str, value: object) -> InvalidInputTypeError:
    """The error for argument ``name`` that must be ``words`` and is ``value``: an array
    given for a path is pointed to the functions that take arrays."""
    hint = _IN_MEMORY if "path" in words and hasattr(value, "shape") else ""
    return InvalidInputTypeError(f"{name} must be {words}, got {described(value)}{hint}")


def check_paths(*, optional: tuple[str, ...] = (), **paths: object) -> None:
    """Each of ``paths`` (name → value) a path: a ``str`` or an ``os.PathLike``; the names in
    ``optional`` may also be None.

    Raises:
        InvalidInputTypeError: naming the first argument that is not.
    """
    check_argument_kinds({
        name: (value, "a path or None", (*PATH, type(None))) if name in optional
        else (value, "a path (str or os.PathLike)", PATH)
        for name, value in paths.items()})


def check_path_list(name: str, value: object) -> None:
    """``value`` a path, a list of paths or None (a model's folder each, say).

    Raises:
        InvalidInputTypeError: naming the argument, or its item, that is not.
    """
    if value is None or isinstance(value, PATH):
        return
    if not isinstance(value, Sequence):
        raise _refusal(name, "a path, a list of paths or None", value)
    check_paths(**{f"{name}[{index}]": item for index, item in enumerate(value)})


def check_named_paths(name: str, value: object, *, optional: bool = True) -> None:
    """``value`` a mapping of names (str) to paths, or (where ``optional``) None.

    Raises:
        InvalidInputTypeError: naming the argument, or its entry, that is not.
    """
    if value is None and optional:
        return
    if not isinstance(value, Mapping):
        raise _refusal(name, "a mapping of names to paths" + (", or None" if optional else ""),
                       value)
    for key, path in value.items():
        check_argument_kinds({f"each key of {name}": (key, "text", (str,)),
                              f"{name}[{key!r}]": (path, "a path (str or os.PathLike)", PATH)})


def layout_hint(shape: tuple[int, ...], name: str = "x", *, numpy: bool = False) -> str:
    """How to pass the image ``name`` of ``shape`` as an (N, C, H, W) batch, where its
    shape says it is laid out otherwise — channels last, or one image without its batch
    axis — in torch's words or NumPy's ("" when it says nothing)."""
    channels_last = shape[-1:] in ((1,), (3,))
    turn = f"{name}.transpose" if numpy else f"{name}.permute"
    if len(shape) == 4 and channels_last and shape[1] not in (1, 3, 4):
        return f"; {shape} looks like an (N, H, W, C) batch: pass {turn}(0, 3, 1, 2)"
    if len(shape) == 3 and channels_last and shape[0] not in (1, 3, 4):
        return f"; {shape} looks like one (H, W, C) image: pass {turn}(2, 0, 1)[None]"
    if len(shape) in (2, 3):
        return (f"; for one {'(C, H, W)' if len(shape) == 3 else '(H, W)'} image, add the "
                f"missing axes: {name}[None]" + ("" if len(shape) == 3 else "[None]"))
    return ""


def check_data_range(data_range: object) -> float:
    """``data_range`` as a float: a finite positive number — a Python or NumPy number, or
    an array or tensor of one value (``torch.tensor(255.0)``, as training code holds it).

    Raises:
        InvalidInputTypeError: a bool, text, None, several values.
        InvalidInputError: not finite, or not positive.
    """
    value = _one_number(data_range)
    if value is None:
        raise InvalidInputTypeError(f"data_range must be a number (255 for 8-bit values, 1.0 "
                                    f"for [0, 1]), got {described(data_range)}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(
            f"data_range must be finite and positive, got {value:g}; it is the distance "
            "between the smallest and largest possible values (255 for 8-bit images, 1.0 for "
            "[0, 1])")
    return value


def data_range_held_as(data_range: float, dtype: Any) -> float:
    """The largest value a NumPy ``dtype`` may hold within the range: data_range itself,
    or its nearest value in ``dtype`` where that is larger (1e-30 in float32 is
    1.0000000031710769e-30, and an image scaled to it holds that value)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind != "f" or dtype.itemsize >= 8:
        return data_range
    with np.errstate(over="ignore"):
        return max(data_range, float(np.asarray(data_range).astype(dtype)))


def warn_of_unit_images(highest: float, data_range: float) -> None:
    """A ``ScaleWarning`` where floating images' largest value, ``highest``, is within
    (0, 1] but the data range passed is above 1: images in [0, 1] with 8-bit's range
    (SSIM near 1, PSNR 20·log10(data_range) dB too high).  Black images say nothing; nor
    does a metric a run calls (the run has said it, or decided the range itself)."""
    if not 0 < highest <= 1 < data_range:
        return
    level = user_stacklevel()
    if level is not None:
        warnings.warn(
            f"the images' values all lie within [0, 1] (the largest is {highest:.4g}) but "
            f"data_range={data_range:g}: images in [0, 1] need data_range=1.0; with "
            f"{data_range:g} their SSIM is near 1 and their PSNR "
            f"{20 * math.log10(data_range):.1f} dB too high.  The value is computed as "
            "asked; if the images really are that dark, filter likeness.ScaleWarning",
            ScaleWarning, stacklevel=level)


_PACKAGE = os.path.join(str(Path(__file__).resolve().parent), "")  # with its separator
# where the metric functions and networks live: a call through other likeness code (a run,
# the command line) is the run's, which speaks for itself
_METRIC_CODE = tuple(os.path.join(_PACKAGE, folder, "") for folder in ("metrics", "nets"))


def outside_stacklevel() -> int:
    """For a ``warnings.warn`` in the function that calls this one: the ``stacklevel`` of
    the first frame outside likeness (and torch's ``nn.Module.__call__``), the caller's own
    line — a fixed level pointed into ``caller_modes.py`` once the modes' wrapper came
    between (``compare_files``' decisions, SSIM's unfiltered axis)."""
    level = _stacklevel(1, quiet_in_runs=False)
    assert level is not None
    return level


def user_stacklevel() -> int | None:
    """For a ``warnings.warn`` in the function that calls this one, on behalf of its own
    caller: ``outside_stacklevel``'s level — or None where that caller was reached through
    other likeness code than the metrics' and networks' (a run, which speaks for
    itself)."""
    return _stacklevel(2, quiet_in_runs=True)


def _stacklevel(start: int, *, quiet_in_runs: bool) -> int | None:
    """The walk of both, outward past likeness's frames and torch's module calls, from
    ``start``: 1, the function that warns; 2, its caller (whose own caller is checked)."""
    frame: FrameType | None = sys._getframe(start + 1)  # past this and the public helper
    level = start
    while frame is not None and _on_the_way(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
        name = "" if frame is None else frame.f_code.co_filename
        if quiet_in_runs and name.startswith(_PACKAGE) and not name.startswith(_METRIC_CODE):
            return None
    return level


def _on_the_way(filename: str) -> bool:
    """Whether a frame lies between the user's line and a warning: likeness's own, or
    torch's ``nn.Module.__call__`` (a loss module called)."""
    return filename.startswith(_PACKAGE) or filename.endswith(_MODULE_CALL)


_MODULE_CALL = os.path.join("torch", "nn", "modules", "module.py")


def _one_number(value: object) -> float | None:
    """A real number's value, or that of an array or tensor holding one; else None."""
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    numel = getattr(value, "numel", None)  # a tensor's count; an array's is its size
    count = numel() if callable(numel) else getattr(value, "size", None)
    item = getattr(value, "item", None)
    if count != 1 or not callable(item):
        return None
    try:
        number = item()
    except (TypeError, ValueError, RuntimeError):
        return None
    return None if isinstance(number, bool) or not isinstance(number, Real) else float(number)


def check_numbers(options: Mapping[str, object], *, integers: Sequence[str] = (),
                  positive: Sequence[str] = ()) -> None:
    """Refuse a metric option (``options``: name → value) that is not a finite number (or
    an integer, for those named in ``integers``; above 0, for those named in ``positive``:
    a similarity's constant, which keeps flat regions from 0 / 0, a width), before it
    reaches arithmetic that would say "'<' not supported between 'str' and 'int'", or give
    NaN; None is refused too: pass the option's default instead.

    Raises:
        InvalidInputTypeError: a bool, text, None, a list…; a float where an integer is due.
        InvalidInputError: NaN or an infinity; 0 or less where it must be positive.
    """
    for name, value in options.items():
        kind, words = (Integral, "an integer") if name in integers else (Real, "a number")
        if isinstance(value, bool) or not isinstance(value, kind):
            raise InvalidInputTypeError(f"{name} must be {words}, got {described(value)}")
        if not math.isfinite(value):
            raise InvalidInputError(f"{name} must be finite, got {value}")
        if name in positive and value <= 0:
            raise InvalidInputError(f"{name} must be positive, got {value}")
