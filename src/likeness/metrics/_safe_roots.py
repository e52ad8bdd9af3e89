"""Square roots and fractional powers whose gradient is finite at zero.

``sqrt(v)`` and ``v ** p`` (0 < p < 1) have an infinite derivative at v = 0, and autograd
multiplies it by the zero that usually follows (the gradient of a sum of squares at a flat
pixel): NaN, which then spreads through every mean to the whole image.  A flat region —
an exactly constant block, or two identical images' deviation — is where that happens.
These functions compute the same values bit for bit (forward: ``torch.sqrt``,
``torch.pow``) and give the zero subgradient at v = 0; elsewhere the gradient is torch's
own formula.  Without autograd they are the plain operations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["safe_pow", "safe_sqrt"]


class _SafeSqrt(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, value: Tensor) -> Tensor:
        result = torch.sqrt(value)
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (result,) = ctx.saved_tensors
        return torch.where(result > 0, grad / (2 * result), torch.zeros_like(grad))


class _SafePow(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, value: Tensor, exponent: float) -> Tensor:
        ctx.save_for_backward(value)
        ctx.exponent = exponent
        return torch.pow(value, exponent)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (value,) = ctx.saved_tensors
        derivative = ctx.exponent * torch.pow(value, ctx.exponent - 1)
        return torch.where(value != 0, grad * derivative, torch.zeros_like(grad)), None


def safe_sqrt(value: Tensor) -> Tensor:
    """``torch.sqrt(value)``, with a zero gradient where the value is 0."""
    if not (torch.is_grad_enabled() and value.requires_grad):
        return torch.sqrt(value)
    return _SafeSqrt.apply(value)


def safe_pow(value: Tensor, exponent: float) -> Tensor:
    """``torch.pow(value, exponent)`` for 0 < exponent < 1, with a zero gradient where
    the value is 0."""
    if not (torch.is_grad_enabled() and value.requires_grad):
        return torch.pow(value, exponent)
    return _SafePow.apply(value, exponent)
