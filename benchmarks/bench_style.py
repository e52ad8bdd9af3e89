"""A style-transfer protocol end to end: 20 contents × 40 styles = 800 stylized images at
256×256, every metric of ``likeness style``, with the golden set's stand-in weights.

    .venv/bin/python benchmarks/bench_style.py [--contents 20 --styles 40]

Prints the time of the whole run, of each metric run alone (each includes its own decoding
and networks, so these do not add up to the whole), and where the time goes: the measured
cost of each stage on one image or triplet, times how often the protocol needs it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from _timing import SAMPLES, best_of, stand_in_weights
from likeness.runs.style import DEFAULT_STYLE_METRICS, evaluate_style

SIDE = 256


def make_protocol(root: Path, contents: int, styles: int) -> None:
    rng = np.random.default_rng(0)
    sources = []
    for name in ("astronaut", "coffee", "rocket"):
        with Image.open(SAMPLES / "reference" / f"{name}.png") as image:
            sources.append(np.array(image.convert("RGB").resize((SIDE * 2, SIDE * 2))))
    for folder in ("content", "style", "stylized"):
        (root / folder).mkdir(parents=True)
    content_pixels = []
    for index in range(contents):
        source = sources[index % len(sources)]
        y, x = rng.integers(0, SIDE, 2)
        crop = source[y:y + SIDE, x:x + SIDE]
        content_pixels.append(crop)
        Image.fromarray(crop).save(root / "content" / f"c{index:02d}.png")
    style_pixels = []
    for index in range(styles):
        noise = rng.normal(0, 1, (SIDE // 8, SIDE // 8, 3))
        texture = np.kron(noise, np.ones((8, 8, 1)))
        tint = rng.uniform(40, 215, 3)
        pixels = np.clip(tint + 45 * texture + rng.normal(0, 12, texture.shape), 0, 255)
        style_pixels.append(pixels.astype(np.uint8))
        Image.fromarray(style_pixels[-1]).save(root / "style" / f"s{index:02d}.png")
    for c, content in enumerate(content_pixels):
        for s, style in enumerate(style_pixels):
            mixed = 0.6 * content + 0.4 * style.astype(np.float64)
            target = root / "stylized" / f"c{c:02d}__s{s:02d}.png"
            Image.fromarray(mixed.astype(np.uint8)).save(target)


def stage_costs(root: Path, weights: dict[str, str]) -> list[tuple[str, float, int]]:
    """(stage, seconds per unit, units in the protocol) measured on one image/triplet."""
    from likeness.io import load_image
    from likeness.metrics.lpips import unit_normalize
    from likeness.metrics.skimage_compat import structural_similarity
    from likeness.metrics.style import CfsdContent, adain_style_loss, gram_loss
    from likeness.nets.backbones import build_backbone
    from likeness.nets.inception_features import ArtInceptionFeatures, InceptionFeatures
    from likeness.nets.loading import load_state_dict
    from likeness.nets.lpips import LPIPS, load_backbone_weights

    path = next((root / "stylized").iterdir())
    image = load_image(path)
    x = torch.from_numpy(image.pixels).permute(2, 0, 1)[None].float() / 255
    vgg = build_backbone("vgg19")
    load_backbone_weights(vgg, load_state_dict(weights["vgg19"]), "vgg19")
    vgg.eval().to(memory_format=torch.channels_last)
    lpips = LPIPS(net="alex", backbone_weights=weights["alexnet"])
    fid_net = InceptionFeatures(weights=weights["pt_inception"])
    art_net = ArtInceptionFeatures(weights=weights["art_inception"])
    with torch.inference_mode():
        taps = vgg.forward_taps(x.contiguous(memory_format=torch.channels_last),
                                (1, 6, 11, 20, 22, 29))
        layers = [taps[i] for i in (0, 1, 2, 3, 5)]
        cfsd_content = CfsdContent(taps[2])
        counts = len(list((root / "stylized").iterdir()))
        styles = len(list((root / "style").iterdir()))
        contents = len(list((root / "content").iterdir()))
        stages = [
            ("decode one PNG", lambda: load_image(path), counts + contents + styles),
            ("VGG19 to relu5_1, one image", lambda: vgg.forward_taps(
                x.contiguous(memory_format=torch.channels_last), (1, 6, 11, 20, 22, 29)),
             counts + contents + styles),
            ("CFSD content side (float64), one content", lambda: CfsdContent(taps[2]),
             contents),
            ("CFSD per stylization (float64), one triplet",
             lambda: cfsd_content.distance(taps[2] * 1.01), counts),
            ("Gram + AdaIN maths, one triplet",
             lambda: (gram_loss(layers, layers), adain_style_loss(layers, layers)), counts),
            ("LPIPS-alex encode + normalise, one image",
             lambda: [unit_normalize(f) for f in lpips.encode(x * 2 - 1)], counts + contents),
            ("SSIM RGB + gray, one triplet", lambda: structural_similarity(
                image.pixels, image.pixels, channel_axis=-1, data_range=255), counts * 2),
            ("pytorch-fid Inception, one image", lambda: fid_net(x), counts + styles),
            ("ArtFID Inception, one image", lambda: art_net(x), counts + styles),
        ]
        return [(name, best_of(function, repeats=3)[0], units)
                for name, function, units in stages]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contents", type=int, default=20)
    parser.add_argument("--styles", type=int, default=40)
    parser.add_argument("--per-metric", action="store_true",
                        help="also time each metric alone (long)")
    arguments = parser.parse_args()
    stand_in = stand_in_weights()
    root = Path(tempfile.mkdtemp())
    weights = {name: str(stand_in.save_checkpoint(name, 1, root / f"{name}.pth"))
               for name in ("alexnet", "vgg19", "pt_inception", "art_inception")}
    data = root / "protocol"
    make_protocol(data, arguments.contents, arguments.styles)
    count = arguments.contents * arguments.styles
    print(f"threads: torch {torch.get_num_threads()}; {arguments.contents} contents x "
          f"{arguments.styles} styles = {count} stylized images of {SIDE}x{SIDE}")
    warnings.simplefilter("ignore", UserWarning)  # small sets: singular covariances
    common = {"weights": weights, "cache": False, "device": "cpu"}
    start = time.perf_counter()
    results = evaluate_style(data / "content", data / "style", data / "stylized", **common)
    total = time.perf_counter() - start
    failed = sum(1 for r in results.rows if r.error)
    print(f"all metrics: {total:7.1f} s ({count / total:5.1f} triplets/s), {failed} failed")
    if arguments.per_metric:
        for metric in DEFAULT_STYLE_METRICS:
            start = time.perf_counter()
            evaluate_style(data / "content", data / "style", data / "stylized",
                           metrics=[metric], **common)
            print(f"  {metric:13s} alone: {time.perf_counter() - start:7.1f} s")
    print("where the time goes (measured per unit x units in this protocol):")
    costs = stage_costs(data, weights)
    for name, seconds, units in sorted(costs, key=lambda c: -c[1] * c[2]):
        print(f"  {name:42s} {seconds * 1e3:8.1f} ms x {units:5d} = {seconds * units:7.1f} s")
    total_of = {name: seconds * units for name, seconds, units in costs}
    needs = {  # the stages each metric would need if it ran alone
        "lpips_alex": ["decode", "LPIPS"], "ssim, ssim_gray": ["decode", "SSIM"],
        "cfsd": ["decode", "VGG19", "CFSD"], "content_loss": ["decode", "VGG19"],
        "gram, adain_style": ["decode", "VGG19", "Gram"],
        "fid": ["decode", "pytorch-fid"], "fid_art": ["decode", "ArtFID"],
        "art_fid": ["decode", "ArtFID", "LPIPS"]}
    print("per metric, alone (sum of the stages it needs; shared stages run once together):")
    for metric, stages in needs.items():
        seconds = sum(v for name, v in total_of.items()
                      if any(name.lower().startswith(s.lower()) or s in name for s in stages))
        print(f"  {metric:20s} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
