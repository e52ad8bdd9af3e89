"""Choosing the torch device a run uses, the float32 precision its networks compute in,
and sending it images."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from likeness.errors import InvalidInputError, LikenessError

__all__ = ["full_float32", "resolve_device", "stacked_on_device"]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; ``cuda`` without CUDA is an error."""
    if device not in ("auto", "cpu", "cuda"):
        raise InvalidInputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise LikenessError("device 'cuda' was asked for but torch sees no CUDA device; "
                            "use device='cpu' or device='auto'")
    return "cpu"


# (read, write, value in full float32) of a setting that lets float32 products round inputs
Switch = tuple[Callable[[], Any], Callable[[Any], None], Any]

_precision_lock = threading.Lock()
_precision_holders = 0  # the threads inside full_float32 now
_callers_settings: list[tuple[Switch, Any]] = []


@contextmanager
def full_float32() -> Iterator[None]:
    """Float32 convolutions and matrix products in full float32 inside, the caller's
    settings back after.

    TensorFloat-32 (on by default for cuDNN's convolutions on Ampere and newer GPUs) rounds
    the inputs of every product to 10-bit mantissas: it moved Inception's features by 8e-4
    and VGG19's by 1e-3 of their largest value on an H200, far outside the references'
    tolerances.  ``torch.set_float32_matmul_precision("medium")`` does the same with
    bfloat16 on CPUs with AMX.  A run's networks compute inside this, whatever the caller
    chose for the rest of the process — and not for the whole process, as a run did
    before: a caller training in the same process kept TF32 off after a run, and a caller
    who chose TF32 with torch's per-backend settings (``torch.backends.fp32_precision =
    "tf32"``) kept it on for the run's convolutions.

    Torch's settings are the process's, not a thread's: the first thread in sets them, the
    last one out puts the caller's back (another thread of the caller's computes in full
    float32 meanwhile).
    """
    global _precision_holders, _callers_settings
    import torch

    with _precision_lock:
        if _precision_holders == 0:
            switches = _precision_switches(torch)
            _callers_settings = [(switch, _read(switch)) for switch in switches]
            for _, write, value in switches:
                write(value)
        _precision_holders += 1
    try:
        yield
    finally:
        with _precision_lock:
            _precision_holders -= 1
            if _precision_holders == 0:
                # in the order set: an older flag rewrites the per-backend settings under it
                for (_, write, _), setting in _callers_settings:
                    if setting is not _UNREADABLE:
                        write(setting)
                _callers_settings = []


_UNREADABLE = object()


def _read(switch: Switch) -> Any:
    """The caller's value of ``switch``; torch refuses to read an older flag where the
    caller mixed it with the per-backend settings (then the settings under it are put back,
    which are what its kernels read)."""
    try:
        return switch[0]()
    except RuntimeError:
        return _UNREADABLE


def _precision_switches(torch: Any) -> list[Switch]:
    """The settings ``full_float32`` turns to full float32, in the order to set them.

    torch's older flags first (each sets the per-backend settings under it, and its
    getters check that the two agree — so inside, every getter reads full float32), then,
    from torch 2.9, the per-backend settings the kernels read: cuDNN's convolutions and
    recurrent layers, cuBLAS's and oneDNN's products, oneDNN's convolutions.
    """
    backends = torch.backends
    switches: list[Switch] = [
        (_reader(backends.cudnn, "allow_tf32"), _writer(backends.cudnn, "allow_tf32"), False),
        (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision, "highest")]
    if hasattr(backends.cuda.matmul, "fp32_precision"):
        owners = [backends.cudnn.conv, backends.cudnn.rnn, backends.cuda.matmul]
        owners += [getattr(backends.mkldnn, op) for op in ("matmul", "conv")
                   if hasattr(backends, "mkldnn") and hasattr(backends.mkldnn, op)]
        switches += [(_reader(owner, "fp32_precision"), _writer(owner, "fp32_precision"),
                      "ieee") for owner in owners]
    return switches


def _reader(owner: Any, name: str) -> Callable[[], Any]:
    return lambda: getattr(owner, name)


def _writer(owner: Any, name: str) -> Callable[[Any], None]:
    return lambda value: setattr(owner, name, value)


def stacked_on_device(arrays: Sequence[np.ndarray], device: str,
                      dtype: np.dtype[Any] | None = None) -> Any:
    """Arrays of one shape as one ``(N, *shape)`` tensor on ``device`` (an accelerator),
    their values cast to ``dtype`` where given.

    They are stacked into page-locked host memory that torch's caching allocator reuses —
    no freshly faulted pages: a fresh 100 MB stack took 200 ms on the lent H200 machine, a
    reused one 8 ms — and sent in one asynchronous copy (the allocator keeps the memory
    until the copy is done).  NumPy stacks them, in this thread: ``torch.stack`` spreads
    the copy over torch's threads, one a core, which on a CUDA run share the cores with
    the decoding processes — a copy waits for its slowest thread.  64 images of 3×512²
    bytes on this repository's 2-core AMD EPYC, both cores kept busy by other processes:
    ``torch.stack`` median 7.8 ms, worst of 30 190 ms; NumPy 5.5 and 13.5 ms (idle cores:
    torch 3.1, NumPy 4.8).
    """
    import torch

    dtype = np.dtype(dtype or arrays[0].dtype)
    host = torch.empty((len(arrays), *arrays[0].shape), pin_memory=True,
                       dtype=torch.from_numpy(np.empty(0, dtype)).dtype)
    np.stack(arrays, out=host.numpy())
    return host.to(device, non_blocking=True)
