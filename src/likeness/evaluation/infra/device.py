"""Choosing the torch device a run uses."""

from __future__ import annotations

from likeness.errors import InvalidInputError, LikenessError

__all__ = ["resolve_device"]


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
