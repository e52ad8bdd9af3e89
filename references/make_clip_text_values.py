"""Pinned CLIP values for both towers: tokens, preprocessed images, image and text
embeddings, CLIPScore, CLIP-S and directional similarity, from transformers, open_clip's
tokenizer, torchvision's transform and torchmetrics.

Run in the reference environment (references/reference-env.sh; add ``pip install
--no-deps open_clip_torch ftfy wcwidth``), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_clip_text_values.py

- **Tokens**: open_clip 3.3.0's ``SimpleTokenizer`` (OpenAI's tokenizer: ftfy, HTML
  unescaping, truncation to 77 keeping the end token) and transformers' ``CLIPTokenizer``
  (with ftfy installed; its ``vocab.json``/``merges.txt`` written from the same
  ``bpe_simple_vocab_16e6.txt.gz`` as OpenAI's ``SimpleTokenizer`` builds its vocabulary;
  ``padding="max_length", truncation=True``).
- **Images** (the golden images, one cropped to 256×221 so that its centre crop falls
  between pixels): OpenAI's transform (torchvision ``Resize(224, BICUBIC)``,
  ``CenterCrop(224)``, ``ToTensor``, ``Normalize``) and ``CLIPImageProcessorPil`` (224,
  Pillow bicubic, centre crop, CLIP's mean and std: transformers 4's default
  ``CLIPImageProcessor``; transformers 5's default resizes with torchvision's antialiased
  bicubic instead — its embeddings' largest difference is recorded): per image the channel
  sums and 64 seeded pixels.
- **Model**: ``CLIPModel(CLIPConfig)`` of ViT-B/32 shapes (tests/vit_stand_ins.py,
  ``make_clip_state_dict``, seed 11) with 2 + 2 layers, and with the full 12 + 12
  (the published architecture); ``get_image_features`` of the processor's pixels and
  ``get_text_features`` of the HF tokens, each divided by its L2 norm.
- **Scores**: torchmetrics 1.9.0 ``CLIPScore(model_name_or_path=<a callable returning the
  2-layer stand-in — its features as tensors, which transformers 5 no longer returns — and
  its CLIPProcessor>)`` on uint8 images and the prompts (its aggregate); CLIP-S as
  Hessel et al.'s ``clipscore.py`` computes it (``2.5 · max(cos, 0)``, captions prefixed
  with "A photo depicts ", OpenAI's transform and tokenizer); directional similarity as
  InstructPix2Pix's ``ClipSimilarity`` (cosine of the image-embedding difference and the
  text-embedding difference).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torchvision import transforms
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPProcessor,
    CLIPTokenizer,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BPE = ROOT / "src" / "likeness" / "data" / "clip" / "bpe_simple_vocab_16e6.txt.gz"
sys.path.insert(0, str(ROOT / "tests"))
from vit_stand_ins import golden_image, make_clip_state_dict  # noqa: E402

SEED = 11
PROMPTS = [
    "A photo of an astronaut.",
    "a cat lying on a sofa, 4k, highly detailed!!",
    "Café naïve façade — déjà vu",
    "Tom & Jerry &amp; friends",
    "  lots   of\twhitespace\n here ",
    "UPPERCASE and MiXeD CaSe",
    "emoji 🚀✨ and numbers 12345",
    "it's, they're, we'll, I'd",
    "中文 日本語 한국어",
    "an oil painting " + "very " * 90 + "long",
    "a <|endoftext|> inside",
]
IMAGES = ["astronaut", "chelsea", "coffee", "rocket", "small_gray", "astronaut-221"]
DIRECTIONS = [("astronaut", "astronaut__stylized", "a photo", "an oil painting"),
              ("coffee", "coffee__hue", "a photo of coffee", "a purple photo of coffee"),
              ("rocket", "rocket__blur", "a sharp photo", "a blurry photo")]


def simple_tokenizer():
    """open_clip's SimpleTokenizer, its module loaded alone (the package imports more)."""
    spec = importlib.util.find_spec("open_clip")
    path = Path(spec.submodule_search_locations[0]) / "tokenizer.py"
    module_spec = importlib.util.spec_from_file_location("open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["open_clip_tokenizer"] = module
    module_spec.loader.exec_module(module)
    return module.SimpleTokenizer(bpe_path=str(BPE))


def hf_tokenizer(folder: Path) -> CLIPTokenizer:
    """CLIPTokenizer over the vocabulary OpenAI's SimpleTokenizer builds from the file."""
    merges = gzip.decompress(BPE.read_bytes()).decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    module = sys.modules["open_clip_tokenizer"]
    singles = list(module.bytes_to_unicode().values())
    vocabulary = singles + [s + "</w>" for s in singles] + ["".join(m.split()) for m in merges]
    vocabulary += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocabulary)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                         pad_token="<|endoftext|>")


def config(depth: int, text_depth: int) -> CLIPConfig:
    return CLIPConfig(
        text_config={"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048,
                     "num_hidden_layers": text_depth, "num_attention_heads": 8,
                     "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                     "eos_token_id": 2, "bos_token_id": 0, "pad_token_id": 1},
        vision_config={"hidden_size": 768, "intermediate_size": 3072,
                       "num_hidden_layers": depth, "num_attention_heads": 12,
                       "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu"},
        projection_dim=512)


def model(depth: int, text_depth: int) -> CLIPModel:
    built = CLIPModel(config(depth, text_depth)).eval()
    missing, unexpected = built.load_state_dict(make_clip_state_dict(SEED, depth, text_depth),
                                                strict=False)
    assert all("position_ids" in key for key in missing), missing
    assert not unexpected, unexpected
    return built


class TensorFeatures(torch.nn.Module):
    """The model as torchmetrics 1.9.0 expects it: transformers 5's ``get_*_features``
    return output objects (the projected features as ``pooler_output``), torchmetrics
    divides them by their norm as tensors."""

    def __init__(self, wrapped: CLIPModel) -> None:
        super().__init__()
        self.wrapped, self.config = wrapped, wrapped.config

    def get_image_features(self, *args, **kwargs):
        return self.wrapped.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs):
        return self.wrapped.get_text_features(*args, **kwargs).pooler_output


def unit(x) -> np.ndarray:
    """Unit vectors of features (transformers 5 returns the projected features as the
    ``pooler_output`` of an output object)."""
    x = getattr(x, "pooler_output", x)
    return (x / x.norm(dim=-1, keepdim=True)).double().numpy()


def main() -> None:
    openai_tokenizer = simple_tokenizer()
    folder = Path(tempfile.mkdtemp())
    tokenizer = hf_tokenizer(folder)
    openai_tokens = openai_tokenizer(PROMPTS, context_length=77).tolist()
    hf_tokens = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True,
                          return_tensors="pt")["input_ids"]
    processor = CLIPImageProcessorPil(size={"shortest_edge": 224},
                                      crop_size={"height": 224, "width": 224})
    fast = CLIPImageProcessor(size={"shortest_edge": 224},
                              crop_size={"height": 224, "width": 224})
    openai_transform = transforms.Compose([
        transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize((0.48145466, 0.4578275, 0.40821073),
                             (0.26862954, 0.26130258, 0.27577711))])
    images = {name: golden_image(name) for name in IMAGES}
    hf_pixels = processor([images[n] for n in IMAGES], return_tensors="pt")["pixel_values"]
    fast_pixels = fast([images[n] for n in IMAGES], return_tensors="pt")["pixel_values"]
    openai_pixels = torch.stack([openai_transform(images[n]) for n in IMAGES])
    rng = np.random.default_rng(0)
    probes = rng.integers(0, 224, size=(64, 3)) % np.array([3, 224, 224])
    values: dict = {"tokens": {"prompts": PROMPTS, "openai": openai_tokens,
                               "huggingface": hf_tokens.tolist()},
                    "images": IMAGES, "probes": probes.tolist(), "pixels": {}}
    for name, pixels in (("openai", openai_pixels), ("huggingface", hf_pixels)):
        values["pixels"][name] = {
            "sums": pixels.double().sum(dim=(2, 3)).tolist(),
            "probes": [[float(p[c, y, x]) for c, y, x in probes] for p in pixels]}
    for depth, text_depth in ((2, 2), (12, 12)):
        built = model(depth, text_depth)
        with torch.no_grad():
            image_embeddings = unit(built.get_image_features(pixel_values=hf_pixels))
            text_embeddings = unit(built.get_text_features(input_ids=hf_tokens))
            fast_embeddings = unit(built.get_image_features(pixel_values=fast_pixels))
        values[f"embeddings_{depth}_{text_depth}"] = {
            "images": image_embeddings.tolist(), "texts": text_embeddings.tolist(),
            "torchvision_backend_difference": float(np.abs(fast_embeddings
                                                           - image_embeddings).max())}
    built = model(2, 2)
    from torchmetrics.multimodal.clip_score import CLIPScore

    clip_processor = CLIPProcessor(image_processor=processor, tokenizer=tokenizer)
    metric = CLIPScore(model_name_or_path=lambda: (TensorFeatures(built), clip_processor))
    captions = PROMPTS[:len(IMAGES)]
    uint8 = [torch.from_numpy(np.asarray(images[n])).permute(2, 0, 1) for n in IMAGES]
    metric.update(uint8, captions)
    values["torchmetrics"] = {"captions": captions, "score": float(metric.compute())}
    prefixed = openai_tokenizer(["A photo depicts " + c for c in captions],
                                context_length=77)
    with torch.no_grad():
        image_features = unit(built.get_image_features(pixel_values=openai_pixels))
        text_features = unit(built.get_text_features(input_ids=prefixed))
    cosine = np.sum(image_features * text_features, axis=1)
    values["hessel"] = {"captions": captions, "per_image": (2.5 * np.clip(cosine, 0, None))
                        .tolist()}
    directions = []
    for source, edited, before, after in DIRECTIONS:
        pixels = torch.stack([openai_transform(golden_image(source)),
                              openai_transform(golden_image(edited))])
        with torch.no_grad():
            features = unit(built.get_image_features(pixel_values=pixels))
            texts = unit(built.get_text_features(input_ids=openai_tokenizer([before, after],
                                                                             context_length=77)))
        image_direction, text_direction = features[1] - features[0], texts[1] - texts[0]
        directions.append(float(image_direction @ text_direction
                                / np.linalg.norm(image_direction) / np.linalg.norm(text_direction)))
    values["direction"] = {"cases": DIRECTIONS, "values": directions}
    values["sources"] = {name: version(name) for name in ("transformers", "torchmetrics",
                                                           "open_clip_torch", "torch", "ftfy",
                                                           "torchvision", "pillow")}
    (DATA / "clip_text_values.json").write_text(json.dumps(values, ensure_ascii=False) + "\n")
    print("wrote", DATA / "clip_text_values.json")


if __name__ == "__main__":
    main()
