"""Every metric at its own precision, whatever autocast its caller runs under.

``torch.autocast`` (mixed-precision training and evaluation code: ``with
torch.autocast("cuda"):``, or ``"cpu"`` with bfloat16) makes convolutions, matrix products
and some reductions run in 16-bit floats.  A metric computed there is another number:
measured on a 2-core CPU under bfloat16 autocast, GMSD moved by 9 %, IW-SSIM by 29 %, MDSI
by 4 %, LPIPS by 0.4 %; under float16 FSIM, VSI, HaarPSI and MDSI became NaN, and the
Inception features refused the dtype with a bare ``TypeError``.  Each public metric
function, network module and run entry point is therefore decorated with
``without_autocast``: inside it autocast is off for every device type that has it on,
and on again after it (autocast is per thread, so a run's worker threads start without
it).  The inputs keep their dtype; a 16-bit tensor a caller passes is still computed as
the metric says (in float32: ``tensor_checks``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

__all__ = ["autocast_off", "without_autocast"]

# the device types whose autocast a caller can turn on (torch.amp's own list, less "meta")
_DEVICE_TYPES = ("cpu", "cuda", "xpu", "mps", "hpu", "xla", "ipu", "mtia", "maia",
                 "privateuseone")

_Function = TypeVar("_Function", bound=Callable[..., Any])


# torch's own quick test (torch.utils.checkpoint uses it): 0.2 µs against 3 µs for asking
# each device type, so a metric of a small image pays nothing when autocast is off
_any_enabled = getattr(torch._C, "_is_any_autocast_enabled", lambda: True)


def _enabled_device_types() -> list[str]:
    if not _any_enabled():
        return []
    enabled = []
    for device in _DEVICE_TYPES:
        try:
            if torch.is_autocast_enabled(device):
                enabled.append(device)
        except RuntimeError:  # a device type this build of torch does not know
            continue
    return enabled


@contextlib.contextmanager
def autocast_off() -> Iterator[None]:
    """Within the block, autocast is off for each device type the caller has it on."""
    enabled = _enabled_device_types()
    if not enabled:
        yield
        return
    with contextlib.ExitStack() as stack:
        for device in enabled:
            stack.enter_context(torch.autocast(device_type=device, enabled=False))
        yield


def without_autocast(function: _Function) -> _Function:
    """``function`` run inside ``autocast_off`` (its signature and documentation kept)."""
    @functools.wraps(function)
    def computed_as_defined(*args: Any, **kwargs: Any) -> Any:
        if not _any_enabled():
            return function(*args, **kwargs)
        with autocast_off():
            return function(*args, **kwargs)

    return computed_as_defined  # type: ignore[return-value]
