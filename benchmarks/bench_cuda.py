# ruff: noqa: E501, E701, E702, E402, B023, B905  (a one-off check run on a lent GPU machine)
"""CPU against CUDA values and CUDA throughput of likeness's networks (stand-in weights).

    python benchmarks/bench_cuda.py      (on a machine with a CUDA GPU)

Prints, for each network, the largest difference between the CPU's and the GPU's values
(after ``resolve_device("cuda")`` turned TensorFloat-32 off, as every run on CUDA does) and
the GPU's throughput in full float32; then ``compare`` on 64 pairs of 512² PNGs.
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _timing import stand_in_weights
from likeness import LPIPS, InceptionFeatures
from likeness.nets.backbones import build_backbone
from likeness.nets.dists import DISTS
from likeness.nets.lpips import load_backbone_weights
from likeness.nets.weights import load_state_dict

stand_in = stand_in_weights()
root = Path(tempfile.mkdtemp())
w = {n: str(stand_in.save_checkpoint(n, 1, root / f"{n}.pth")) for n in ("alexnet", "vgg16", "squeezenet1_1", "vgg19", "pt_inception")}
print(torch.__version__, torch.cuda.get_device_name(0))
rng = np.random.default_rng(0)
def images(n, side):
    return torch.from_numpy(rng.uniform(0, 1, (n, 3, side, side)).astype(np.float32))
def sync(): torch.cuda.synchronize()
def rate(f, count, reps=5):
    f(); sync(); t = time.perf_counter()
    for _ in range(reps): f()
    sync(); return count * reps / (time.perf_counter() - t)
from likeness.evaluation.device import resolve_device

print("tf32 before", torch.backends.cudnn.allow_tf32, resolve_device("cuda"), "after", torch.backends.cudnn.allow_tf32)
with torch.inference_mode():
    for net, key in (("alex", "alexnet"), ("vgg", "vgg16"), ("squeeze", "squeezenet1_1")):
        m = LPIPS(net=net, backbone_weights=w[key])
        x, y = images(8, 256), images(8, 256)
        cpu = m(x, y, normalize=True).flatten()
        g = m.cuda(); xc, yc = x.cuda(), y.cuda()
        gpu = g(xc, yc, normalize=True).flatten().cpu()
        d = float((cpu - gpu).abs().max())
        X, Y = images(64, 512).cuda(), images(64, 512).cuda()
        r = rate(lambda: g(X, Y, normalize=True), 64)
        print(f"lpips_{net}: max |cpu-cuda| {d:.1e} (values ~{float(cpu.mean()):.3f}); 512² pairs/s {r:.0f}")
    m = DISTS(backbone_weights=w["vgg16"])
    x, y = images(4, 256), images(4, 256)
    cpu = m(x, y).flatten(); g = m.cuda(); gpu = g(x.cuda(), y.cuda()).flatten().cpu()
    X, Y = images(32, 256).cuda(), images(32, 256).cuda()
    print(f"dists: max |cpu-cuda| {float((cpu-gpu).abs().max()):.1e}; 256² pairs/s {rate(lambda: g(X, Y), 32):.0f}")
    f = InceptionFeatures(weights=w["pt_inception"])
    x = images(8, 299)
    cpu = f(x); g = f.cuda(); gpu = g(x.cuda()).cpu()
    X = images(128, 299).cuda()
    print(f"fid inception: max |cpu-cuda| / max |feature| {float((cpu-gpu).abs().max()/cpu.abs().max()):.1e}; 299² images/s {rate(lambda: g(X), 128):.0f}")
    v = build_backbone("vgg19"); load_backbone_weights(v, load_state_dict(w["vgg19"]), "vgg19"); v.eval()
    x = images(2, 256)
    cpu = v.forward_taps(x, (1, 6, 11, 20, 22, 29)); g = v.cuda(); gpu = g.forward_taps(x.cuda(), (1, 6, 11, 20, 22, 29))
    rel = max(float((a - b.cpu()).abs().max() / a.abs().max()) for a, b in zip(cpu, gpu))
    X = images(32, 256).cuda()
    print(f"vgg19 taps: max rel |cpu-cuda| {rel:.1e}; 256² images/s {rate(lambda: g.forward_taps(X, (1, 6, 11, 20, 22, 29)), 32):.0f}")
# the whole job on files
from PIL import Image

from likeness import compare

data = root / "data"
for folder in ("ref", "out"):
    (data / folder).mkdir(parents=True)
    for i in range(64):
        Image.fromarray((rng.uniform(0, 255, (512, 512, 3))).astype(np.uint8)).save(data / folder / f"{i:03d}.png")
opts = dict(metrics="ssim,psnr,lpips", weights={"alexnet": w["alexnet"]}, cache=False)
res_cpu = compare(data / "ref", data / "out", device="cpu", **opts)
compare(data / "ref", data / "out", device="cuda", **opts)
t = time.perf_counter(); res = compare(data / "ref", data / "out", device="cuda", **opts); el = time.perf_counter() - t
diff = max(abs(a.values["lpips_alex"] - b.values["lpips_alex"]) for a, b in zip(res_cpu.rows, res.rows))
print(f"compare ssim,psnr,lpips 64 pairs 512² PNG on cuda: {64/el:.1f} pairs/s; lpips max |cpu-cuda| {diff:.1e}; ssim equal {all(a.values['ssim']==b.values['ssim'] for a,b in zip(res_cpu.rows,res.rows))}")
