"""Loading a published checkpoint into one of likeness's networks."""

from __future__ import annotations

from typing import Any

from torch import nn

from likeness.errors import WeightsError

__all__ = ["load_matching_weights"]


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
