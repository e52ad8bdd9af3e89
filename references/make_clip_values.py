"""Pinned CLIP ViT-L/14-336 image embeddings from transformers, with CMMD's preprocessing.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_clip_values.py

The stand-in checkpoint (tests/vit_stand_ins.py, seed 5, 2 layers, ViT-L/14-336 shapes and
the Hugging Face file's key names) is loaded into
``CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=1024, intermediate_size=4096,
num_hidden_layers=2, num_attention_heads=16, image_size=336, patch_size=14,
projection_dim=768))``.  Images: the golden RGB images read as google-research/cmmd's
``io_util`` reads them (the centred square crop, Pillow bicubic to 336×336, float32 / 255),
normalised with CLIP's mean and std; the embedding is ``image_embeds`` divided by its
L2 norm.  Writes tests/data/clip_embeddings.npy and clip_values.json, and
clip_embeddings_24.npy: the full-size (24-layer) stand-in on the first two images.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))
from vit_stand_ins import make_clip_vision_state_dict  # noqa: E402

SEED, DEPTH = 5, 2
MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
STD = np.array([0.26862954, 0.26130258, 0.27577711])


def cmmd_read(path: Path) -> np.ndarray:
    """io_util._read_image with reshape_to=336, then / 255."""
    with Image.open(path) as image:
        image.load()
        width, height = image.size
        side = min(width, height)
        top, left = (height - side) // 2, (width - side) // 2
        square = image.convert("RGB").crop((left, top, left + side, top + side))
        resized = square.resize((336, 336), resample=Image.BICUBIC)
    return np.asarray(resized).astype(np.float32) / 255.0


def reference_model(depth: int) -> CLIPVisionModelWithProjection:
    config = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096,
                              num_hidden_layers=depth, num_attention_heads=16, image_size=336,
                              patch_size=14, projection_dim=768)
    model = CLIPVisionModelWithProjection(config).eval()
    state = make_clip_vision_state_dict(SEED, depth)
    state.pop("logit_scale")
    missing = model.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys, missing
    assert all("position_ids" in key for key in missing.missing_keys), missing
    return model


def embed(model: CLIPVisionModelWithProjection, path: Path) -> np.ndarray:
    normalised = ((cmmd_read(path) - MEAN) / STD).astype(np.float32)
    batch = torch.from_numpy(normalised).permute(2, 0, 1)[None]
    with torch.no_grad():
        embedding = model(pixel_values=batch).image_embeds[0]
    return (embedding / torch.linalg.vector_norm(embedding)).numpy()


def main() -> None:
    model = reference_model(DEPTH)
    names = []
    for path in sorted((GOLDEN / "images").glob("*.png")):
        with Image.open(path) as image:
            if image.mode == "RGB":
                names.append(path.name)
    embeddings = [embed(model, GOLDEN / "images" / name) for name in names]
    np.save(DATA / "clip_embeddings.npy", np.stack(embeddings).astype(np.float32))
    # the full-size network (24 layers, ~1.2 GB of stand-in weights) on the first two images
    full = reference_model(24)
    np.save(DATA / "clip_embeddings_24.npy",
            np.stack([embed(full, GOLDEN / "images" / name) for name in names[:2]]))
    (DATA / "clip_values.json").write_text(json.dumps({
        "reference": f"transformers {version('transformers')} CLIPVisionModelWithProjection, "
                     "CMMD io_util preprocessing (centred square crop, Pillow bicubic 336, "
                     f"/255, CLIP mean/std); stand-in seed {SEED}, {DEPTH} layers "
                     "(tests/vit_stand_ins.py)",
        "seed": SEED, "depth": DEPTH, "images": names}, indent=1) + "\n")
    print(len(names), "images")


if __name__ == "__main__":
    main()
