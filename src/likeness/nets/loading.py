"""Loading a published checkpoint into one of likeness's networks."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from likeness.errors import WeightsError

__all__ = ["load_matching_weights", "load_state_dict"]


def load_matching_weights(module: nn.Module, state: dict[str, Any], source: str,
                          network: str) -> None:
    """Load the entries of ``state`` that ``module`` has; the checkpoint's other keys
    (classifier, ``fc``, auxiliary heads) are ignored.

    Raises:
        WeightsError: a key the network needs is missing or has another shape.
    """
    own = module.state_dict()
    missing = [key for key in own if key not in state]
    if missing:
        raise WeightsError(f"{source} lacks {len(missing)} key(s) that {network} needs, "
                           f"e.g. {', '.join(missing[:3])}; is it a {network} checkpoint?")
    for key, tensor in own.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(f"{source}: {key} has shape {tuple(state[key].shape)}, "
                               f"{network} needs {tuple(tensor.shape)}")
    module.load_state_dict({key: state[key] for key in own})


def _why_unloadable(error: Exception) -> str:
    """torch's reason in one line: its safe loader's refusal is pages long and asks the
    reader to file an issue with torch."""
    text = str(error)
    if "Weights only load failed" in text:
        return ("it holds Python objects beyond tensors, which the safe loader "
                "(torch.load(weights_only=True)) refuses to run")
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first if len(first) <= 200 else first[:200] + "…"


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint safely (``torch.load(weights_only=True)``) onto the CPU.

    Raises:
        WeightsError: the file is not a loadable state dict.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise WeightsError(f"{path}: not a loadable checkpoint ({_why_unloadable(error)}); "
                           "use the published file, or fetch it again") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state
