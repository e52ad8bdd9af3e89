"""Pinned DINOv2 ViT-L/14 features from transformers' Dinov2Model, with dgm-eval's
preprocessing and the hub code's position-embedding interpolation.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_dinov2_values.py

The stand-in checkpoint (tests/vit_stand_ins.py, seed 3, 2 blocks, ViT-L shapes and the
hub's key names) is converted to transformers' key names and loaded into
``Dinov2Model(Dinov2Config(hidden_size=1024, num_hidden_layers=2, num_attention_heads=16,
intermediate_size=4096, image_size=518, patch_size=14, layer_norm_eps=1e-6))``; its
``interpolate_pos_encoding`` is replaced by the hub code's (bicubic with scale factor
(16 + 0.1)/37).  Images: the golden RGB images, Pillow → RGB → torchvision
``Resize((224, 224), BICUBIC)``, ``ToTensor``, ``Normalize`` with ImageNet's mean and std
(dgm-eval's ``DINOv2Encoder.transform``); the feature is ``pooler_output`` (the CLS token
after the final LayerNorm).  Writes tests/data/dinov2_features.npy and dinov2_values.json, and
dinov2_features_24.npy: the full-size (24-block) stand-in on the first two images.
"""

from __future__ import annotations

import json
import math
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as TF
from PIL import Image
from transformers import Dinov2Config, Dinov2Model
from transformers.models.dinov2 import modeling_dinov2

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))
from vit_stand_ins import make_dinov2_state_dict  # noqa: E402

SEED, DEPTH = 3, 2


def hub_interpolation(self, embeddings: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """dinov2/models/vision_transformer.py's interpolate_pos_encoding (offset 0.1)."""
    positions = self.position_embeddings
    count = embeddings.shape[1] - 1
    known = positions.shape[1] - 1
    if count == known and height == width:
        return positions
    side = int(math.sqrt(known))
    patches = positions[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
    scale_h, scale_w = (height // 14 + 0.1) / side, (width // 14 + 0.1) / side
    patches = F.interpolate(patches, scale_factor=(scale_h, scale_w), mode="bicubic",
                            antialias=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, -1, positions.shape[-1])
    return torch.cat([positions[:, :1], patches.to(positions.dtype)], dim=1)


def to_transformers(state: dict[str, torch.Tensor], depth: int = DEPTH
                    ) -> dict[str, torch.Tensor]:
    out = {"embeddings.cls_token": state["cls_token"],
           "embeddings.mask_token": state["mask_token"],
           "embeddings.position_embeddings": state["pos_embed"],
           "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
           "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
           "layernorm.weight": state["norm.weight"], "layernorm.bias": state["norm.bias"]}
    for block in range(depth):
        hub, hf = f"blocks.{block}.", f"encoder.layer.{block}."
        q, k, v = state[hub + "attn.qkv.weight"].chunk(3)
        qb, kb, vb = state[hub + "attn.qkv.bias"].chunk(3)
        out.update({
            hf + "norm1.weight": state[hub + "norm1.weight"],
            hf + "norm1.bias": state[hub + "norm1.bias"],
            hf + "attention.q_proj.weight": q, hf + "attention.q_proj.bias": qb,
            hf + "attention.k_proj.weight": k, hf + "attention.k_proj.bias": kb,
            hf + "attention.v_proj.weight": v, hf + "attention.v_proj.bias": vb,
            hf + "attention.o_proj.weight": state[hub + "attn.proj.weight"],
            hf + "attention.o_proj.bias": state[hub + "attn.proj.bias"],
            hf + "layer_scale1.lambda1": state[hub + "ls1.gamma"],
            hf + "norm2.weight": state[hub + "norm2.weight"],
            hf + "norm2.bias": state[hub + "norm2.bias"],
            hf + "mlp.fc1.weight": state[hub + "mlp.fc1.weight"],
            hf + "mlp.fc1.bias": state[hub + "mlp.fc1.bias"],
            hf + "mlp.fc2.weight": state[hub + "mlp.fc2.weight"],
            hf + "mlp.fc2.bias": state[hub + "mlp.fc2.bias"],
            hf + "layer_scale2.lambda1": state[hub + "ls2.gamma"]})
    return out


def reference_model(depth: int) -> Dinov2Model:
    modeling_dinov2.Dinov2Embeddings.interpolate_pos_encoding = hub_interpolation
    config = Dinov2Config(hidden_size=1024, num_hidden_layers=depth, num_attention_heads=16,
                          intermediate_size=4096, image_size=518, patch_size=14,
                          layer_norm_eps=1e-6, hidden_act="gelu")
    model = Dinov2Model(config).eval()
    model.load_state_dict(to_transformers(make_dinov2_state_dict(SEED, depth), depth))
    return model


def main() -> None:
    model = reference_model(DEPTH)
    transform = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor(),
                            TF.Normalize(np.array([0.485, 0.456, 0.406]),
                                         np.array([0.229, 0.224, 0.225]))])
    names = []
    for path in sorted((GOLDEN / "images").glob("*.png")):
        with Image.open(path) as image:
            if image.mode == "RGB":
                names.append(path.name)
    features = []
    with torch.no_grad():
        for name in names:
            with Image.open(GOLDEN / "images" / name) as image:
                batch = transform(image.convert("RGB"))[None].float()
            features.append(model(pixel_values=batch).pooler_output[0].numpy())
    np.save(DATA / "dinov2_features.npy", np.stack(features).astype(np.float32))
    # the full-size network (24 blocks, ~1.2 GB of stand-in weights) on the first two images
    full = reference_model(24)
    with torch.no_grad():
        full_features = [full(pixel_values=transform(Image.open(GOLDEN / "images" / name)
                                                     .convert("RGB"))[None].float())
                         .pooler_output[0].numpy() for name in names[:2]]
    np.save(DATA / "dinov2_features_24.npy", np.stack(full_features).astype(np.float32))
    (DATA / "dinov2_values.json").write_text(json.dumps({
        "reference": f"transformers {version('transformers')} Dinov2Model (hub "
                     "interpolation patched in), torchvision "
                     f"{version('torchvision')} dgm-eval transform; stand-in seed {SEED}, "
                     f"{DEPTH} blocks (tests/vit_stand_ins.py)",
        "seed": SEED, "depth": DEPTH, "images": names}, indent=1) + "\n")
    print(len(names), "images")


if __name__ == "__main__":
    main()
