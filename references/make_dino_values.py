"""Pinned DINO ViT-S/16 CLS features from timm's VisionTransformer, with the DINO
repository's evaluation transform from torchvision.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_dino_values.py

The stand-in checkpoint (tests/vit_stand_ins.py, ``make_dino_state_dict``, seed 13; the
key names of ``dino_deitsmall16_pretrain.pth``, which timm's ``VisionTransformer`` shares)
with 2 layers and with the published 12 is loaded into ``VisionTransformer(img_size=224,
patch_size=16, embed_dim=384, depth, num_heads=6, mlp_ratio=4, qkv_bias=True,
num_classes=0, norm_layer=LayerNorm(eps=1e-6))``; the feature is ``forward_features(x)[:,
0]`` (the CLS token after the final norm, as the DINO repository's ``forward`` returns
it).  Images: the golden images (one cropped to 256×221) through ``Resize(256,
interpolation=3)``, ``CenterCrop(224)``, ``ToTensor``, ``Normalize`` (ImageNet), as the
repository's ``eval_linear.py`` and ``eval_knn.py`` build them.  Writes
tests/data/dino_values.json.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from importlib.metadata import version
from pathlib import Path

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torchvision import transforms

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))
from vit_stand_ins import golden_image, make_dino_state_dict  # noqa: E402

SEED = 13
IMAGES = ["astronaut", "chelsea", "coffee", "rocket", "small_gray", "astronaut-221",
          "astronaut__stylized", "coffee__jpeg"]


def main() -> None:
    transform = transforms.Compose([
        transforms.Resize(256, interpolation=3), transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    pixels = torch.stack([transform(golden_image(name)) for name in IMAGES])
    values: dict = {"images": IMAGES, "seed": SEED,
                    "pixel_sums": pixels.double().sum(dim=(2, 3)).tolist()}
    for depth in (2, 12):
        model = VisionTransformer(img_size=224, patch_size=16, embed_dim=384, depth=depth,
                                  num_heads=6, mlp_ratio=4, qkv_bias=True, num_classes=0,
                                  norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval()
        model.load_state_dict(make_dino_state_dict(SEED, depth))
        with torch.no_grad():
            features = model.forward_features(pixels)[:, 0]
        values[f"features_{depth}"] = features.double().tolist()
    values["sources"] = {name: version(name) for name in ("timm", "torch", "torchvision",
                                                           "pillow")}
    (DATA / "dino_values.json").write_text(json.dumps(values) + "\n")
    print("wrote", DATA / "dino_values.json")


if __name__ == "__main__":
    main()
