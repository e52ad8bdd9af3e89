"""Choosing the torch device a run uses, and sending it images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from likeness.errors import InvalidInputError, LikenessError

__all__ = ["resolve_device", "stacked_on_device"]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; ``cuda`` without CUDA is an error.

    A run on CUDA computes in full float32: TensorFloat-32 (on by default for cuDNN's
    convolutions on Ampere and newer GPUs) rounds the inputs of every product to 10-bit
    mantissas, which moved Inception's features by 8e-4 and VGG19's by 1e-3 of their
    largest value on an H200 — far outside the references' tolerances.  So a run turns it
    off for the process (``torch.backends.cudnn.allow_tf32`` and
    ``torch.backends.cuda.matmul.allow_tf32``).
    """
    if device not in ("auto", "cpu", "cuda"):
        raise InvalidInputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return device
    import torch

    if torch.cuda.is_available():
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        return "cuda"
    if device == "cuda":
        raise LikenessError("device 'cuda' was asked for but torch sees no CUDA device; "
                            "use device='cpu' or device='auto'")
    return "cpu"


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
