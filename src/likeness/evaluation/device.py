"""Choosing the torch device a run uses."""

from __future__ import annotations

from likeness.errors import LikenessError

__all__ = ["resolve_device"]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; ``cuda`` without CUDA is an error."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise LikenessError("device 'cuda' was asked for but torch sees no CUDA device; "
                            "use device='cpu' or device='auto'")
    return "cpu"
