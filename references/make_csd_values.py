"""Pinned CSD style and content descriptors from the authors' ``CSD/model.py``, and LAION
aesthetic scores from ``improved-aesthetic-predictor``'s ``simple_inference.py`` steps.

Run in the reference environment (references/reference-env.sh), never by the test suite,
with a checkout of https://github.com/learn2phoenix/CSD (commit 3a9df32, "Adding
disclaimer"; ``git clone`` it, or ``git archive`` a mirror):

    /tmp/likeness-reference/bin/python references/make_csd_values.py --csd-repo CSD/

**CSD.**  ``CSD.model.CSD_CLIP("vit_large", "default")`` is built as the authors build it,
except that ``clip.load("ViT-L/14")`` (a download) returns a model whose ``visual`` is
OpenAI CLIP's own ``clip.model.VisionTransformer(224, 14, 1024, depth, 16, 768)``; the
stand-in checkpoint (tests/vit_stand_ins.py, ``make_csd_state_dict``, seed 17: the
training script's ``{"model_state_dict": {"module.…"}}``) is loaded as ``main_sim.py``
loads it (``convert_state_dict``, ``load_state_dict(strict=False)``: no key missing or
unexpected), with 2 layers and with the published 24.  Images: the golden images (one
cropped to 256×221) through ``CSD.loss_utils.transforms_branch0``; the descriptors are
``forward``'s ``style_output`` and ``content_output``.

**Aesthetic.**  transformers' ``CLIPVisionModelWithProjection`` (ViT-L/14 at 224: width
1024, 16 heads, MLP 4096, projection 768) loaded with ``make_clip_vision_state_dict``
(seed 19, 16×16 + 1 positions, 2 layers), images through OpenAI CLIP's own preprocessing
(``clip.clip._transform(224)``, what ``clip.load`` returns), ``image_embeds`` normalised by
``simple_inference.py``'s ``normalized`` (NumPy), then its ``MLP``'s layers (written out
here: the class needs pytorch_lightning) with ``make_aesthetic_state_dict`` (seed 23).

Writes tests/data/csd_values.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))
from vit_stand_ins import (  # noqa: E402
    golden_image,
    make_aesthetic_state_dict,
    make_clip_vision_state_dict,
    make_csd_state_dict,
)

CSD_SEED, CLIP_SEED, HEAD_SEED = 17, 19, 23
IMAGES = ["astronaut", "chelsea", "coffee", "rocket", "small_gray", "astronaut-221",
          "astronaut__stylized", "coffee__jpeg"]


def authors_csd(repo: Path, checkpoint: dict, layers: int) -> nn.Module:
    """The authors' ``CSD_CLIP("vit_large")`` with OpenAI CLIP's own ViT-L/14 image tower
    of ``layers`` blocks (``clip.load`` would download it), loaded from ``checkpoint`` as
    ``main_sim.py`` loads it."""
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    import clip
    from clip.model import VisionTransformer

    def load(name: str, *args: object, **kwargs: object) -> tuple[object, None]:
        assert name == "ViT-L/14"
        model = types.SimpleNamespace(visual=VisionTransformer(
            input_resolution=224, patch_size=14, width=1024, layers=layers, heads=16,
            output_dim=768))
        return model, None

    clip.load = load  # the authors' constructor calls clip.load("ViT-L/14")
    from CSD.model import CSD_CLIP
    from CSD.utils import convert_state_dict

    model = CSD_CLIP("vit_large", "default").eval()
    message = model.load_state_dict(convert_state_dict(checkpoint["model_state_dict"]),
                                    strict=False)
    assert not message.missing_keys, message
    assert not message.unexpected_keys, message
    return model


def _csd_values(repo: Path) -> dict:
    sys.path.insert(0, str(repo))
    from CSD.loss_utils import transforms_branch0

    pixels = torch.stack([transforms_branch0(golden_image(name)) for name in IMAGES])
    values: dict = {"pixel_sums": pixels.double().sum(dim=(2, 3)).tolist()}
    for layers in (2, 24):
        model = authors_csd(repo, make_csd_state_dict(CSD_SEED, layers), layers)
        with torch.no_grad():
            _, content, style = model(pixels)
        values[f"style_{layers}"] = style.double().tolist()
        values[f"content_{layers}"] = content.double().tolist()
    return values


def _normalized(a: np.ndarray, axis: int = -1, order: int = 2) -> np.ndarray:
    """``simple_inference.py``'s ``normalized``."""
    l2 = np.atleast_1d(np.linalg.norm(a, order, axis))
    l2[l2 == 0] = 1
    return a / np.expand_dims(l2, axis)


def _aesthetic_values() -> dict:
    from clip.clip import _transform
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=2,
                              num_attention_heads=16, image_size=224, patch_size=14,
                              projection_dim=768, hidden_act="quick_gelu",
                              layer_norm_eps=1e-5)
    vision = CLIPVisionModelWithProjection(config).eval()
    state = make_clip_vision_state_dict(CLIP_SEED, 2, positions=16 * 16 + 1)
    state.pop("logit_scale")
    vision.load_state_dict(state, strict=False)
    head = nn.Sequential(nn.Linear(768, 1024), nn.Dropout(0.2), nn.Linear(1024, 128),
                         nn.Dropout(0.2), nn.Linear(128, 64), nn.Dropout(0.1),
                         nn.Linear(64, 16), nn.Linear(16, 1)).eval()
    head.load_state_dict({key.removeprefix("layers."): value for key, value in
                          make_aesthetic_state_dict(HEAD_SEED).items()})
    preprocess = _transform(224)
    pixels = torch.stack([preprocess(golden_image(name)) for name in IMAGES])
    with torch.no_grad():
        features = vision(pixel_values=pixels).image_embeds
        embedding = _normalized(features.numpy())
        scores = head(torch.from_numpy(embedding).float())[:, 0]
    return {"scores": scores.double().tolist(),
            "pixel_sums": pixels.double().sum(dim=(2, 3)).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csd-repo", type=Path, required=True,
                        help="a checkout of learn2phoenix/CSD (commit 3a9df32)")
    arguments = parser.parse_args()
    values: dict = {"images": IMAGES, "seeds": {"csd": CSD_SEED, "clip": CLIP_SEED,
                                                 "head": HEAD_SEED}}
    values["csd"] = _csd_values(arguments.csd_repo.resolve())
    values["aesthetic"] = _aesthetic_values()
    values["sources"] = {"CSD": "learn2phoenix/CSD 3a9df32 (CSD/model.py, loss_utils.py)",
                         **{name: version(name) for name in (
                             "openai-clip", "transformers", "torch", "torchvision", "pillow")}}
    (DATA / "csd_values.json").write_text(json.dumps(values) + "\n")
    print("wrote", DATA / "csd_values.json")


if __name__ == "__main__":
    main()
