"""Encoder throughput: likeness's DINOv2 ViT-L/14 and CLIP ViT-L/14-336 image towers
against transformers' Dinov2Model and CLIPVisionModelWithProjection, and DINO ViT-S/16
against timm's VisionTransformer, and CSD ViT-L against the authors' CSD_CLIP (with
CSD_REPO=a checkout of learn2phoenix/CSD), in the same process, on the same full-size
stand-in weights (24 layers; DINO 12), images/s and the largest difference.

    PYTHONPATH=src CSD_REPO=CSD/ /tmp/likeness-reference/bin/python \
        benchmarks/bench_encoders.py [BATCH]

transformers is installed only in the reference environment (references/reference-env.sh).
Best of 3 after a warm-up, one batch of preprocessed images (default 4).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

from _timing import best_of

try:
    from transformers import (
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
        Dinov2Config,
        Dinov2Model,
    )
except ImportError:  # `make bench` runs every script with .venv's python: skip, say why
    print("bench_encoders: skipped, transformers is not installed here; run it with the "
          "reference environment's python (see the module docstring)")
    sys.exit(0)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "references"))
from make_dinov2_values import hub_interpolation, to_transformers  # noqa: E402

from likeness.nets.clip import ClipImageEncoder  # noqa: E402
from likeness.nets.dinov2 import DinoV2  # noqa: E402
from vit_stand_ins import (  # noqa: E402
    make_dino_state_dict,
    save_clip_checkpoint,
    save_dinov2_checkpoint,
)


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    print(f"threads: torch {torch.get_num_threads()}; batch {batch}; 24-layer stand-ins")
    generator = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        from transformers.models.dinov2 import modeling_dinov2

        modeling_dinov2.Dinov2Embeddings.interpolate_pos_encoding = hub_interpolation
        path = save_dinov2_checkpoint(1, Path(folder) / "dinov2.pth", depth=24)
        ours = DinoV2(path)
        theirs = Dinov2Model(Dinov2Config(hidden_size=1024, num_hidden_layers=24,
                                          num_attention_heads=16, intermediate_size=4096,
                                          image_size=518, patch_size=14,
                                          layer_norm_eps=1e-6)).eval()
        theirs.load_state_dict(to_transformers(torch.load(path, weights_only=True), 24))
        images = torch.randn(batch, 3, 224, 224, generator=generator)
        with torch.inference_mode():
            ref_best, _, want = best_of(lambda: theirs(pixel_values=images).pooler_output, 3)
            our_best, _, got = best_of(lambda: ours(images), 3)
        print(f"dinov2_vitl14 224²: transformers {batch / ref_best:5.2f} images/s, likeness "
              f"{batch / our_best:5.2f} images/s, ratio {ref_best / our_best:4.2f}x, max "
              f"|diff| {float((got - want).abs().max()):.1e} of {float(want.abs().max()):.2f}")
        path = save_clip_checkpoint(1, Path(folder) / "clip.bin", depth=24)
        ours_clip = ClipImageEncoder(path)
        theirs_clip = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
            num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)).eval()
        state = torch.load(path, weights_only=True)
        state.pop("logit_scale")
        theirs_clip.load_state_dict(state, strict=False)
        images = torch.randn(batch, 3, 336, 336, generator=generator)

        def reference() -> torch.Tensor:
            embeds = theirs_clip(pixel_values=images).image_embeds
            return embeds / torch.linalg.vector_norm(embeds, dim=-1, keepdim=True)

        with torch.inference_mode():
            ref_best, _, want = best_of(reference, 3)
            our_best, _, got = best_of(lambda: ours_clip(images), 3)
        print(f"clip_vit_l14_336 336²: transformers {batch / ref_best:5.2f} images/s, "
              f"likeness {batch / our_best:5.2f} images/s, ratio {ref_best / our_best:4.2f}x, "
              f"max |diff| {float((got - want).abs().max()):.1e}")
        from functools import partial

        from timm.models.vision_transformer import VisionTransformer

        from likeness.nets.dino import Dino

        path = Path(folder) / "dino.pth"
        torch.save(make_dino_state_dict(1, 12), path)
        ours_dino = Dino(path)
        theirs_dino = VisionTransformer(img_size=224, patch_size=16, embed_dim=384, depth=12,
                                        num_heads=6, qkv_bias=True, num_classes=0,
                                        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).eval()
        theirs_dino.load_state_dict(torch.load(path, weights_only=True))
        images = torch.randn(batch, 3, 224, 224, generator=generator)
        with torch.inference_mode():
            ref_best, _, want = best_of(lambda: theirs_dino.forward_features(images)[:, 0], 3)
            our_best, _, got = best_of(lambda: ours_dino(images), 3)
        print(f"dino_vits16 224²: timm {batch / ref_best:5.2f} images/s, likeness "
              f"{batch / our_best:5.2f} images/s, ratio {ref_best / our_best:4.2f}x, max "
              f"|diff| {float((got - want).abs().max()):.1e}")
        _csd(batch, Path(folder), generator)


def _csd(batch: int, folder: Path, generator: torch.Generator) -> None:
    """CSD ViT-L (24 layers) against the authors' CSD_CLIP on OpenAI's clip ViT, when
    CSD_REPO names a checkout of learn2phoenix/CSD (references/make_csd_values.py)."""
    import os

    repo = os.environ.get("CSD_REPO")
    if not repo:
        print("csd_vit_l: skipped, set CSD_REPO to a checkout of learn2phoenix/CSD")
        return
    from make_csd_values import authors_csd

    from likeness.nets.csd import Csd
    from vit_stand_ins import make_csd_state_dict

    checkpoint = make_csd_state_dict(1, 24)
    torch.save(checkpoint, folder / "csd.pth")
    ours = Csd(folder / "csd.pth")
    theirs = authors_csd(Path(repo), checkpoint, 24)
    images = torch.randn(batch, 3, 224, 224, generator=generator)
    with torch.inference_mode():
        ref_best, _, want = best_of(lambda: theirs(images)[2], 3)
        our_best, _, got = best_of(lambda: ours(images), 3)
    print(f"csd_vit_l 224²: the authors' CSD_CLIP {batch / ref_best:5.2f} images/s, likeness "
          f"{batch / our_best:5.2f} images/s, ratio {ref_best / our_best:4.2f}x, max |diff| "
          f"{float((got - want).abs().max()):.1e}")


if __name__ == "__main__":
    main()
