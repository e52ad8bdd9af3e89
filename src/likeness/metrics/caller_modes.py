"""Every metric as it is defined, whatever torch modes its caller has set.

Two of torch's per-thread modes change what a metric computes:

- ``torch.autocast`` (mixed-precision training and evaluation code: ``with
  torch.autocast("cuda"):``, or ``"cpu"`` with bfloat16) runs convolutions, matrix
  products and some reductions in 16-bit floats.  Measured on a 2-core CPU under bfloat16
  autocast, GMSD moved by 9 %, IW-SSIM by 29 %, MDSI by 4 %, LPIPS by 0.4 %; under float16
  FSIM, VSI, HaarPSI and MDSI became NaN, and the Inception features refused the dtype
  with a bare ``TypeError``.
- ``torch.set_default_device`` (or ``with torch.device(...)``) puts every tensor made
  without a device there: the constants and buffers a metric makes for itself left the
  inputs' device (on ``"meta"``, ``likeness.psnr`` returned a tensor without values).

Each public metric function, network module method and run entry point (and the
``Accumulator``'s ``update`` and ``compute``) is therefore decorated with ``as_defined``:
inside it autocast is off for every device type that has it on, and the default device
is the CPU, as for a caller who set neither; both are the caller's again after it (the
modes are per thread, so a run's worker threads start without them).  The inputs keep
their dtype and device; a 16-bit tensor a caller passes is still computed as the metric
says (in float32: ``tensor_checks``).  When neither mode is on — nearly always — the
check costs ~1 µs a call.  This module does not import torch: a run of pixel metrics
never loads it, and a caller who has not imported torch has set neither mode.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["as_defined", "caller_modes_off", "tracing"]

# the device types whose autocast a caller can turn on (torch.amp's own list, less "meta")
_DEVICE_TYPES = ("cpu", "cuda", "xpu", "mps", "hpu", "xla", "ipu", "mtia", "maia",
                 "privateuseone")

_Function = TypeVar("_Function", bound=Callable[..., Any])


def _any_autocast(torch: Any) -> bool:
    """torch's own quick test (torch.utils.checkpoint uses it): 0.2 µs against 3 µs for
    asking each device type."""
    test = getattr(torch._C, "_is_any_autocast_enabled", None)
    return True if test is None else bool(test())


def _any_function_mode(torch: Any) -> bool:
    """Whether a torch function mode is on (a default device is one): 0.07 µs against 7 µs
    for ``torch.get_default_device()``."""
    test = getattr(torch._C, "_is_torch_function_mode_enabled", None)
    return True if test is None else bool(test())


def _modes_possibly_on() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and (_any_autocast(torch) or _any_function_mode(torch))


def _autocast_device_types() -> list[str]:
    import torch

    if not _any_autocast(torch):
        return []
    enabled = []
    for device in _DEVICE_TYPES:
        try:
            if torch.is_autocast_enabled(device):
                enabled.append(device)
        except RuntimeError:  # a device type this build of torch does not know
            continue
    return enabled


def _default_device_set() -> bool:
    """Whether tensors made without a device go elsewhere than to the CPU (a default
    device is a torch function mode: without one, none is set)."""
    import torch

    return _any_function_mode(torch) and torch.get_default_device().type != "cpu"


@contextlib.contextmanager
def caller_modes_off() -> Iterator[None]:
    """Within the block, autocast is off for each device type the caller has it on, and
    tensors made without a device are made on the CPU."""
    if not _modes_possibly_on():
        yield
        return
    import torch

    autocast = _autocast_device_types()
    default_device = _default_device_set()
    with contextlib.ExitStack() as stack:
        for device in autocast:
            stack.enter_context(torch.autocast(device_type=device, enabled=False))
        if default_device:
            stack.enter_context(torch.device("cpu"))
        yield


def as_defined(function: _Function) -> _Function:
    """``function`` run inside ``caller_modes_off`` (its signature and documentation
    kept)."""
    @functools.wraps(function)
    def computed_as_defined(*args: Any, **kwargs: Any) -> Any:
        if not _modes_possibly_on():
            return function(*args, **kwargs)
        with caller_modes_off():
            return function(*args, **kwargs)

    return computed_as_defined  # type: ignore[return-value]


def tracing() -> bool:
    """Whether ``torch.compile`` is tracing this call.  The compiled kernels (numba's) are
    then left out for their torch routes: dynamo traced into numba's dispatcher on a
    process's first call and failed ("AssertionError: exception table entry start
    instruction has no offset"), and a compiled graph fuses the torch route anyway."""
    torch = sys.modules.get("torch")
    compiler = getattr(torch, "compiler", None)
    return compiler is not None and bool(compiler.is_compiling())
