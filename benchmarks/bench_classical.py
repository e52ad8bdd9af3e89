"""The classical full-reference metrics against piq's and pyiqa's own code (PSNR also
against torchmetrics'), run in this
process on one 512×384 RGB pair: likeness in float64 on [0, 255] values (the arithmetic
its folder runs use), the references on float32 tensors in [0, 1] (the way their users
call them: ``ToTensor``'s dtype) and in float64.

    references/reference-env.sh /tmp/likeness-reference  # piq, pyiqa, torchmetrics
    /tmp/likeness-reference/bin/pip install -c constraints.txt numba isal filelock rich click
    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_classical.py

(piq and pyiqa need the reference environment's patched torchvision, which does not load
in the project's.)  Prints, per metric, each timing (median of 9, likeness and the
reference called in turn after one warm-up call each, so that the machine's slow spells
fall on both), likeness's speed as a multiple of the reference's (in float32, and in
float64 where the reference takes it; then likeness called as the references are, on
float32 tensors in [0, 1], against the reference in float32), and the values (likeness's
convention "piq" against piq; VIF, NLPD and CW-SSIM follow their authors' MATLAB code, as
pyiqa ports it, so their values differ where pyiqa departs).  An argument such as
``1024x768`` resizes the pair (bicubic) first; other arguments name the metrics to run.
With ``PSNR`` or ``FSIM`` named, also that metric as a loss (forward and backward)
against piq (``bench_losses``).  Then BasicSR's SSIM and PSNR against the ``basicsr``
convention (``bench_basicsr``; ``BasicSR`` as an argument runs only those).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import likeness
from _timing import alternating

ROOT = Path(__file__).resolve().parents[1]
PAIR = (ROOT / "tests" / "data" / "matlab_pairs" / "tid2013_I19_reference.png",
        ROOT / "tests" / "data" / "matlab_pairs" / "tid2013_I19_distorted.png")
REPEATS = 9


def arguments() -> tuple[set[str], tuple[int, int] | None]:
    """The metrics named on the command line (none: all), and the (width, height) an
    argument such as ``1024x768`` asks the pair resized to."""
    sizes = [a for a in sys.argv[1:] if re.fullmatch(r"\d+x\d+", a)]
    names = set(sys.argv[1:]) - set(sizes)
    if not sizes:
        return names, None
    width, height = sizes[-1].split("x")
    return names, (int(width), int(height))


def tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """(distorted, reference) as (1, 3, H, W) float64 tensors of 0–255 values, resized
    (bicubic, PIL) to the size an argument names."""
    _, size = arguments()
    images = [Image.open(path).convert("RGB") for path in PAIR]
    arrays = [np.asarray(i.resize(size, Image.Resampling.BICUBIC) if size else i,
                         dtype=np.float64) for i in images]
    reference, distorted = (torch.from_numpy(a).permute(2, 0, 1)[None].contiguous()
                            for a in arrays)
    return distorted, reference


def main() -> None:
    try:
        import piq
        import pyiqa
        import torchmetrics  # noqa: F401
    except ImportError as missing:  # the project's environment (make bench): say how
        print(f"bench_classical: skipped ({missing}); run it with the reference environment, "
              "as its docstring says")
        return
    torch.set_grad_enabled(False)
    x, y = tensors()
    unit = {torch.float32: (x.float() / 255, y.float() / 255),
            torch.float64: (x / 255, y / 255)}

    def pyiqa_metric(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        metric = pyiqa.create_metric(name, device="cpu")
        return lambda a, b: metric(a, b)

    from torchmetrics.functional.image import peak_signal_noise_ratio

    cases: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "PSNR": (likeness.psnr,
                 lambda a, b: piq.psnr(a, b, data_range=1.0)),
        "PSNR (torchmetrics)": (likeness.psnr,
                                lambda a, b: peak_signal_noise_ratio(a, b, data_range=1.0)),
        "FSIM (colour)": (likeness.fsim,
                          lambda a, b: piq.fsim(a, b, data_range=1.0)),
        "VIFp": (likeness.vif_p,
                 lambda a, b: piq.vif_p(a, b, data_range=1.0)),
        "GMSD": (likeness.gmsd,
                 lambda a, b: piq.gmsd(a, b, data_range=1.0)),
        "MS-GMSD": (likeness.multi_scale_gmsd,
                    lambda a, b: piq.multi_scale_gmsd(a, b, data_range=1.0)),
        "HaarPSI": (likeness.haarpsi,
                    lambda a, b: piq.haarpsi(a, b, data_range=1.0)),
        "MDSI": (likeness.mdsi,
                 lambda a, b: piq.mdsi(a, b, data_range=1.0)),
        "VSI": (likeness.vsi,
                lambda a, b: piq.vsi(a, b, data_range=1.0)),
        "DSS": (likeness.dss,
                lambda a, b: piq.dss(a, b, data_range=1.0)),
        "SR-SIM": (likeness.srsim,
                   lambda a, b: piq.srsim(a, b, data_range=1.0)),
        "IW-SSIM": (likeness.information_weighted_ssim,
                    lambda a, b: piq.information_weighted_ssim(a, b, data_range=1.0)),
        "VIF (pyiqa)": (likeness.vif, pyiqa_metric("vif")),
        "NLPD (pyiqa)": (likeness.nlpd,
                         pyiqa_metric("nlpd")),
        "CW-SSIM (pyiqa)": (likeness.cw_ssim,
                            pyiqa_metric("cw_ssim")),
    }
    only, _ = arguments()
    print(f"torch threads {torch.get_num_threads()}; one {x.shape[-1]}x{x.shape[-2]} RGB pair; "
          f"median of {REPEATS}, in turn")
    for name, (ours_metric, theirs_call) in cases.items():
        if only and name.split(" ")[0] not in only:
            continue
        ours_call = functools.partial(ours_metric, x, y, data_range=255.0)
        single, ours, theirs_value, value = alternating(
            functools.partial(theirs_call, *unit[torch.float32]), ours_call, REPEATS)
        try:
            double, ours_again, _, _ = alternating(
                functools.partial(theirs_call, *unit[torch.float64]), ours_call, REPEATS)
            in_float64 = f"{double * 1e3:7.1f} ms ({double / ours_again:5.2f}x)"
        except RuntimeError:  # pyiqa's filters are float32 tensors: float64 is refused
            in_float64 = "refused"
        # likeness called as the references are: float32 tensors in [0, 1]
        single_again, ours_single, _, _ = alternating(
            functools.partial(theirs_call, *unit[torch.float32]),
            functools.partial(ours_metric, *unit[torch.float32], data_range=1.0), REPEATS)
        print(f"{name:16s} likeness {ours * 1e3:7.1f} ms ({float(value):.6f}); reference "
              f"float32 {single * 1e3:7.1f} ms ({float(theirs_value):.6f}; "
              f"{single / ours:5.2f}x), "
              f"float64 {in_float64}; both float32: likeness {ours_single * 1e3:7.1f} ms "
              f"({single_again / ours_single:5.2f}x)", flush=True)


def bench_basicsr() -> None:
    """BasicSR 1.4.2's ``calculate_ssim`` and ``calculate_psnr`` on BGR uint8 arrays, as its
    users call them (4-px crop, RGB and Y), against likeness's ``basicsr`` convention on
    the same pair as a folder run prepares it (the Y channel, the crop, then the metric)."""
    try:
        from basicsr.metrics import calculate_psnr, calculate_ssim
    except ImportError as missing:
        print(f"BasicSR: skipped ({missing})")
        return
    from likeness.metrics.restoration import basicsr_ssim, basicsr_y, crop_border
    from likeness.metrics.skimage_compat import peak_signal_noise_ratio

    reference, distorted = (np.asarray(Image.open(path).convert("RGB")) for path in PAIR)
    bgr = [image[..., ::-1].copy() for image in (distorted, reference)]
    for y_channel in (False, True):
        def prepared(y_channel: bool = y_channel) -> tuple[np.ndarray, np.ndarray]:
            pair = [basicsr_y(i) if y_channel else i for i in (reference, distorted)]
            return crop_border(pair[0], 4), crop_border(pair[1], 4)

        for name, theirs, ours in (
                ("SSIM", lambda y_channel=y_channel: calculate_ssim(
                    *bgr, crop_border=4, test_y_channel=y_channel),
                 lambda: basicsr_ssim(*prepared())),
                ("PSNR", lambda y_channel=y_channel: calculate_psnr(
                    *bgr, crop_border=4, test_y_channel=y_channel),
                 lambda: peak_signal_noise_ratio(*prepared(), data_range=255))):
            their_time, our_time, want, got = alternating(theirs, ours, REPEATS)
            print(f"BasicSR {name} ({'Y' if y_channel else 'RGB'}, crop 4)  likeness "
                  f"{our_time * 1e3:6.1f} ms ({float(got):.10f}); BasicSR "
                  f"{their_time * 1e3:6.1f} ms ({float(want):.10f}; "
                  f"{their_time / our_time:5.2f}x)", flush=True)


LOSS_SHAPES = {"PSNR": ((1, 3, 768, 1024), (16, 3, 128, 128), (1, 3, 1356, 2040)),
               "FSIM": ((4, 3, 256, 256), (2, 3, 512, 512), (1, 3, 768, 1024))}


def bench_losses(names: list[str]) -> None:
    """PSNR and FSIMc as losses: forward and backward on float32 [0, 1] batches against
    piq's ``psnr`` and ``fsim`` (``reduction="sum"``), medians in turn (likeness's own
    backwards: PSNR's blocks, ``metrics/psnr.py``; FSIM's compiled phase sums,
    ``metrics/_phase_congruency_kernel.py``)."""
    import piq

    metrics = {"PSNR": (likeness.psnr, piq.psnr), "FSIM": (likeness.fsim, piq.fsim)}
    generator = torch.Generator().manual_seed(0)
    for name in names:
        ours, theirs = metrics[name]
        for shape in LOSS_SHAPES[name]:
            y = torch.rand(shape, generator=generator)
            x = (y + 0.05 * torch.randn(shape, generator=generator)).clamp(0, 1)

            def loss(metric: Callable[..., torch.Tensor], x: torch.Tensor = x,
                     y: torch.Tensor = y) -> torch.Tensor:
                leaf = x.clone().requires_grad_(True)
                metric(leaf, y, data_range=1.0).sum().backward()
                return leaf.grad

            with torch.enable_grad():
                their_time, our_time, _, _ = alternating(
                    functools.partial(loss, functools.partial(theirs, reduction="sum")),
                    functools.partial(loss, ours), REPEATS)
            print(f"{name} with a gradient, {'x'.join(map(str, shape))} float32: likeness "
                  f"{our_time * 1e3:6.1f} ms, piq {their_time * 1e3:6.1f} ms "
                  f"({their_time / our_time:5.2f}x)", flush=True)


if __name__ == "__main__":
    main()
    names, _ = arguments()
    if names and {"PSNR", "FSIM"} & set(names):
        bench_losses([name for name in ("PSNR", "FSIM") if name in names])
    if not names or "BasicSR" in names:
        bench_basicsr()
