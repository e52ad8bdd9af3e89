"""Seeded stand-in weights for ViT checkpoints: DINOv2 with the key pattern and shapes of
``dinov2_vitl14_pretrain.pth`` (ViT-L/14: width 1024, MLP 4096, 37×37 + 1 positions), and
CLIP's image tower with those of ``openai/clip-vit-large-patch14-336``'s
``pytorch_model.bin`` (width 1024, MLP 4096, 24×24 + 1 positions, projection 768), each
with a chosen depth (the published files have 24 layers; tests use 2).  NumPy's
``default_rng``, so the same seed gives the same tensors everywhere; used by the tests
and by references/make_dinov2_values.py and make_clip_values.py, which load them into
``transformers``' models."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch


def make_dinov2_state_dict(seed: int, depth: int = 2, width: int = 1024,
                           hidden: int = 4096, positions: int = 37 * 37 + 1
                           ) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)

    def tensor(*shape: int, scale: float, centre: float = 0.0) -> torch.Tensor:
        return torch.from_numpy((centre + scale * rng.standard_normal(shape)).astype(np.float32))

    state = {"cls_token": tensor(1, 1, width, scale=0.02),
             "pos_embed": tensor(1, positions, width, scale=0.02),
             "mask_token": tensor(1, width, scale=0.02),
             "patch_embed.proj.weight": tensor(width, 3, 14, 14, scale=(3 * 14 * 14) ** -0.5),
             "patch_embed.proj.bias": tensor(width, scale=0.02)}
    state.update(_vit_blocks(tensor, depth, width, hidden, layer_scale=True))
    state["norm.weight"] = tensor(width, scale=0.1, centre=1.0)
    state["norm.bias"] = tensor(width, scale=0.02)
    return state


def _vit_blocks(tensor: Any, depth: int, width: int, hidden: int,
                layer_scale: bool) -> dict[str, torch.Tensor]:
    """The blocks of a DINO-family ViT, drawn in the keys' order (DINOv2 with layer
    scale, DINO without)."""
    state: dict[str, torch.Tensor] = {}
    for block in range(depth):
        prefix = f"blocks.{block}."
        state.update({
            prefix + "norm1.weight": tensor(width, scale=0.1, centre=1.0),
            prefix + "norm1.bias": tensor(width, scale=0.02),
            prefix + "attn.qkv.weight": tensor(3 * width, width, scale=width ** -0.5),
            prefix + "attn.qkv.bias": tensor(3 * width, scale=0.02),
            prefix + "attn.proj.weight": tensor(width, width, scale=width ** -0.5),
            prefix + "attn.proj.bias": tensor(width, scale=0.02)})
        if layer_scale:
            state[prefix + "ls1.gamma"] = tensor(width, scale=0.05, centre=0.3)
        state.update({
            prefix + "norm2.weight": tensor(width, scale=0.1, centre=1.0),
            prefix + "norm2.bias": tensor(width, scale=0.02),
            prefix + "mlp.fc1.weight": tensor(hidden, width, scale=width ** -0.5),
            prefix + "mlp.fc1.bias": tensor(hidden, scale=0.02),
            prefix + "mlp.fc2.weight": tensor(width, hidden, scale=hidden ** -0.5),
            prefix + "mlp.fc2.bias": tensor(width, scale=0.02)})
        if layer_scale:
            state[prefix + "ls2.gamma"] = tensor(width, scale=0.05, centre=0.3)
    return state


def save_dinov2_checkpoint(seed: int, path: str | Path, depth: int = 2) -> Path:
    path = Path(path)
    torch.save(make_dinov2_state_dict(seed, depth), path)
    return path


def _clip_layers(tensor: Any, prefix: str, depth: int, width: int,
                 hidden: int) -> dict[str, torch.Tensor]:
    state = {}
    for layer in range(depth):
        name = f"{prefix}encoder.layers.{layer}."
        for part in ("q_proj", "k_proj", "v_proj", "out_proj"):
            state[name + f"self_attn.{part}.weight"] = tensor(width, width, scale=width ** -0.5)
            state[name + f"self_attn.{part}.bias"] = tensor(width, scale=0.02)
        state.update({
            name + "layer_norm1.weight": tensor(width, scale=0.1, centre=1.0),
            name + "layer_norm1.bias": tensor(width, scale=0.02),
            name + "layer_norm2.weight": tensor(width, scale=0.1, centre=1.0),
            name + "layer_norm2.bias": tensor(width, scale=0.02),
            name + "mlp.fc1.weight": tensor(hidden, width, scale=width ** -0.5),
            name + "mlp.fc1.bias": tensor(hidden, scale=0.02),
            name + "mlp.fc2.weight": tensor(width, hidden, scale=hidden ** -0.5),
            name + "mlp.fc2.bias": tensor(width, scale=0.02)})
    return state


def make_clip_vision_state_dict(seed: int, depth: int = 2, width: int = 1024,
                                hidden: int = 4096, positions: int = 24 * 24 + 1,
                                projection: int = 768) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)

    def tensor(*shape: int, scale: float, centre: float = 0.0) -> torch.Tensor:
        return torch.from_numpy((centre + scale * rng.standard_normal(shape)).astype(np.float32))

    prefix = "vision_model."
    state = {prefix + "embeddings.class_embedding": tensor(width, scale=0.02),
             prefix + "embeddings.patch_embedding.weight":
                 tensor(width, 3, 14, 14, scale=(3 * 14 * 14) ** -0.5),
             prefix + "embeddings.position_embedding.weight": tensor(positions, width,
                                                                     scale=0.02),
             prefix + "pre_layrnorm.weight": tensor(width, scale=0.1, centre=1.0),
             prefix + "pre_layrnorm.bias": tensor(width, scale=0.02)}
    state.update(_clip_layers(tensor, prefix, depth, width, hidden))
    state[prefix + "post_layernorm.weight"] = tensor(width, scale=0.1, centre=1.0)
    state[prefix + "post_layernorm.bias"] = tensor(width, scale=0.02)
    state["visual_projection.weight"] = tensor(projection, width, scale=width ** -0.5)
    state["logit_scale"] = torch.tensor(4.6052)  # a text-tower key the image tower ignores
    return state


def save_clip_checkpoint(seed: int, path: str | Path, depth: int = 2) -> Path:
    path = Path(path)
    torch.save(make_clip_vision_state_dict(seed, depth), path)
    return path


# ViT-B/32 (openai/clip-vit-base-patch32): the image tower 768 wide, MLP 3072, 32-pixel
# patches at 224 px (7×7 + 1 positions); the text tower 512 wide, MLP 2048, 77 positions,
# CLIP's 49,408 tokens; both projected to 512
CLIP_B32 = {"width": 768, "hidden": 3072, "patch": 32, "positions": 7 * 7 + 1,
            "text_width": 512, "text_hidden": 2048, "projection": 512}


def make_clip_state_dict(seed: int, depth: int = 2, text_depth: int = 2,
                         shape: dict[str, int] = CLIP_B32) -> dict[str, torch.Tensor]:
    """Both towers of a CLIP checkpoint with the keys of the Hugging Face files."""
    rng = np.random.default_rng(seed)

    def tensor(*size: int, scale: float, centre: float = 0.0) -> torch.Tensor:
        return torch.from_numpy((centre + scale * rng.standard_normal(size)).astype(np.float32))

    width, patch, text_width = shape["width"], shape["patch"], shape["text_width"]
    vision, text = "vision_model.", "text_model."
    state = {vision + "embeddings.class_embedding": tensor(width, scale=0.02),
             vision + "embeddings.patch_embedding.weight":
                 tensor(width, 3, patch, patch, scale=(3 * patch * patch) ** -0.5),
             vision + "embeddings.position_embedding.weight":
                 tensor(shape["positions"], width, scale=0.02),
             vision + "pre_layrnorm.weight": tensor(width, scale=0.1, centre=1.0),
             vision + "pre_layrnorm.bias": tensor(width, scale=0.02)}
    state.update(_clip_layers(tensor, vision, depth, width, shape["hidden"]))
    state[vision + "post_layernorm.weight"] = tensor(width, scale=0.1, centre=1.0)
    state[vision + "post_layernorm.bias"] = tensor(width, scale=0.02)
    state["visual_projection.weight"] = tensor(shape["projection"], width, scale=width ** -0.5)
    state[text + "embeddings.token_embedding.weight"] = tensor(49408, text_width, scale=0.02)
    state[text + "embeddings.position_embedding.weight"] = tensor(77, text_width, scale=0.01)
    state.update(_clip_layers(tensor, text, text_depth, text_width, shape["text_hidden"]))
    state[text + "final_layer_norm.weight"] = tensor(text_width, scale=0.1, centre=1.0)
    state[text + "final_layer_norm.bias"] = tensor(text_width, scale=0.02)
    state["text_projection.weight"] = tensor(shape["projection"], text_width,
                                             scale=text_width ** -0.5)
    state["logit_scale"] = torch.tensor(4.6052)
    return state


def save_safetensors(state: dict[str, torch.Tensor], path: str | Path) -> Path:
    """``state`` as a safetensors file (the format's header and little-endian data,
    written here so that the tests need no other package)."""
    names = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for key, value in state.items():
        data = value.contiguous().numpy().tobytes()
        header[key] = {"dtype": names[value.dtype], "shape": list(value.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    path = Path(path)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
    return path


def make_dino_state_dict(seed: int, depth: int = 2, width: int = 384, hidden: int = 1536,
                         patch: int = 16, positions: int = 14 * 14 + 1
                         ) -> dict[str, torch.Tensor]:
    """DINO ViT-S/16 (``dino_deitsmall16_pretrain.pth``): width 384, MLP 1536, 16-pixel
    patches, 14×14 + 1 positions; the published file has 12 layers."""
    rng = np.random.default_rng(seed)

    def tensor(*shape: int, scale: float, centre: float = 0.0) -> torch.Tensor:
        return torch.from_numpy((centre + scale * rng.standard_normal(shape)).astype(np.float32))

    state = {"cls_token": tensor(1, 1, width, scale=0.02),
             "pos_embed": tensor(1, positions, width, scale=0.02),
             "patch_embed.proj.weight": tensor(width, 3, patch, patch,
                                               scale=(3 * patch * patch) ** -0.5),
             "patch_embed.proj.bias": tensor(width, scale=0.02)}
    state.update(_vit_blocks(tensor, depth, width, hidden, layer_scale=False))
    state["norm.weight"] = tensor(width, scale=0.1, centre=1.0)
    state["norm.bias"] = tensor(width, scale=0.02)
    return state


GOLDEN_IMAGES = Path(__file__).resolve().parent / "data" / "golden" / "images"


def golden_image(name: str) -> Any:
    """A golden image as RGB (Pillow); ``astronaut-221`` is astronaut.png's top 256×221,
    whose centre crops fall between pixels."""
    from PIL import Image

    if name == "astronaut-221":
        with Image.open(GOLDEN_IMAGES / "astronaut.png") as image:
            return image.convert("RGB").crop((0, 0, 256, 221))
    with Image.open(GOLDEN_IMAGES / f"{name}.png") as image:
        return image.convert("RGB")


def make_csd_state_dict(seed: int, depth: int = 2, width: int = 1024, hidden: int = 4096,
                        patch: int = 14, positions: int = 16 * 16 + 1,
                        projection: int = 768) -> dict[str, Any]:
    """CSD ViT-L (``CSD_CLIP``) as the authors' training script saves it:
    ``{"model_state_dict": {"module.backbone.…", "module.last_layer_style", …}}`` — OpenAI
    CLIP's ViT-L/14 image tower (width 1024, MLP 4096, 14-pixel patches, 16×16 + 1
    positions; the published file has 24 layers) without its projection, and the style and
    content heads (1024 × 768)."""
    rng = np.random.default_rng(seed)

    def tensor(*shape: int, scale: float, centre: float = 0.0) -> torch.Tensor:
        return torch.from_numpy((centre + scale * rng.standard_normal(shape)).astype(np.float32))

    def norm(name: str) -> dict[str, torch.Tensor]:
        return {name + ".weight": tensor(width, scale=0.1, centre=1.0),
                name + ".bias": tensor(width, scale=0.02)}

    state = {"backbone.class_embedding": tensor(width, scale=0.02),
             "backbone.positional_embedding": tensor(positions, width, scale=0.02),
             "backbone.conv1.weight": tensor(width, 3, patch, patch,
                                             scale=(3 * patch * patch) ** -0.5),
             **norm("backbone.ln_pre")}
    for block in range(depth):
        prefix = f"backbone.transformer.resblocks.{block}."
        state.update({
            prefix + "attn.in_proj_weight": tensor(3 * width, width, scale=width ** -0.5),
            prefix + "attn.in_proj_bias": tensor(3 * width, scale=0.02),
            prefix + "attn.out_proj.weight": tensor(width, width, scale=width ** -0.5),
            prefix + "attn.out_proj.bias": tensor(width, scale=0.02),
            **norm(prefix + "ln_1"),
            prefix + "mlp.c_fc.weight": tensor(hidden, width, scale=width ** -0.5),
            prefix + "mlp.c_fc.bias": tensor(hidden, scale=0.02),
            prefix + "mlp.c_proj.weight": tensor(width, hidden, scale=hidden ** -0.5),
            prefix + "mlp.c_proj.bias": tensor(width, scale=0.02),
            **norm(prefix + "ln_2")})
    state.update(norm("backbone.ln_post"))
    state["last_layer_style"] = tensor(width, projection, scale=width ** -0.5)
    state["last_layer_content"] = tensor(width, projection, scale=width ** -0.5)
    return {"model_state_dict": {"module." + key: value for key, value in state.items()},
            "epoch": 1}


def make_aesthetic_state_dict(seed: int, width: int = 768) -> dict[str, torch.Tensor]:
    """The LAION aesthetic predictor's MLP (``sac+logos+ava1-l14-linearMSE.pth``'s keys
    ``layers.{0,2,4,6,7}``: 768 → 1024 → 128 → 64 → 16 → 1), centred near AVA's 5."""
    rng = np.random.default_rng(seed)
    state = {}
    widths = ((width, 1024), (1024, 128), (128, 64), (64, 16), (16, 1))
    for position, (inputs, outputs) in zip((0, 2, 4, 6, 7), widths, strict=True):
        state[f"layers.{position}.weight"] = torch.from_numpy(
            (rng.standard_normal((outputs, inputs)) * inputs ** -0.5).astype(np.float32))
        state[f"layers.{position}.bias"] = torch.from_numpy(
            (rng.standard_normal(outputs) * 0.02 + (5.0 if outputs == 1 else 0.0))
            .astype(np.float32))
    return state
