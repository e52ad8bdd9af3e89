"""Loading a published checkpoint into one of likeness's networks."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from torch import nn

from likeness.errors import WeightsError
from likeness.io import standing_in
from likeness.wording import counted

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
        raise WeightsError(f"{source} lacks {counted(len(missing), 'key')} that {network} needs, "
                           f"e.g. {', '.join(missing[:3])}; is it a checkpoint of {network}?")
    for key, tensor in own.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(f"{source}: {key} has shape {tuple(state[key].shape)}, "
                               f"{network} needs {tuple(tensor.shape)}")
    module.load_state_dict({key: state[key] for key in own})


def _why_unloadable(error: Exception) -> str:
    """torch's reason in one line: its safe loader's refusal is pages long and asks the
    reader to file an issue with torch, whether the file holds objects it refuses or no
    pickle at all."""
    text = str(error)
    if refused := re.search(r"Unsupported global: GLOBAL (\S+)", text):
        return (f"it holds Python objects beyond tensors ({refused.group(1)}), which the "
                "safe loader (torch.load(weights_only=True)) refuses to run")
    if isinstance(error, EOFError) or "Weights only load failed" in text or (
            "PytorchStreamReader failed" in text):
        return ("its bytes are not those of a whole torch checkpoint: empty, cut short, "
                "damaged or another format")
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first if len(first) <= 200 else first[:200] + "…"


_SAFETENSORS_TYPES = {"F64": "float64", "F32": "float32", "F16": "float16",
                      "BF16": "bfloat16", "I64": "int64", "I32": "int32", "I16": "int16",
                      "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def _safetensors_header(path: str | os.PathLike[str]) -> tuple[int, dict[str, Any]] | None:
    """(the header's length, the header) of a safetensors file; None for another format."""
    with open(path, "rb") as file:
        prefix = file.read(8)
        if len(prefix) < 8:
            return None
        length = int.from_bytes(prefix, "little")
        if not 2 <= length <= 100_000_000:
            return None
        header = file.read(length)
    if not header.startswith(b"{"):
        return None
    try:
        parsed = json.loads(header)
    except (ValueError, RecursionError):  # (JSON nested past Python's stack)
        return None
    return (length, parsed) if isinstance(parsed, dict) else None


def _load_safetensors(path: str | os.PathLike[str], length: int,
                      header: dict[str, Any]) -> dict[str, Any]:
    """The tensors of a safetensors file (the format of Hugging Face's
    ``model.safetensors``: an 8-byte little-endian header length, a JSON header of names,
    dtypes, shapes and byte offsets, then the raw little-endian data)."""
    import torch

    with open(path, "rb") as file:
        file.seek(8 + length)
        data = bytearray(file.read())
    state = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = getattr(torch, _SAFETENSORS_TYPES[entry["dtype"]])
            start, end = (int(v) for v in entry["data_offsets"])
            shape = [int(v) for v in entry["shape"]]
            size = torch.empty((), dtype=dtype).element_size()
            count = (end - start) // size
            if not 0 <= start <= end <= len(data) or count != math.prod(shape):
                raise ValueError("its offsets do not match its shape")
            tensor = torch.frombuffer(data, dtype=dtype, count=count, offset=start)
        except (KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{path}: a damaged safetensors file ({name}: {error}); fetch "
                               "it again") from None
        state[name] = tensor.reshape(shape).clone()
    return state


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint safely onto the CPU: a safetensors file, or a torch file with
    ``torch.load(weights_only=True)``.

    Raises:
        WeightsError: the file is not a loadable state dict.
    """
    import torch

    try:
        safetensors = _safetensors_header(path)
    except OSError as error:
        raise WeightsError(f"{path}: cannot be read ({error.strerror or error})") from None
    if safetensors is not None:
        return _load_safetensors(path, *safetensors)
    try:
        # a file, not its path: torch.load sends a path named .safetensors to the
        # safetensors package (not a dependency) whatever its bytes; they decide here
        with open(path, "rb") as handle:
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        if stand_in := standing_in(path):
            raise WeightsError(f"{path}: {stand_in}") from None
        named = (" (named .safetensors, but its first bytes are no safetensors header "
                 "either)" if os.fspath(path).lower().endswith(".safetensors") else "")
        raise WeightsError(f"{path}: not a loadable checkpoint ({_why_unloadable(error)})"
                           f"{named}; use the published file, or fetch it again") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state
