"""CLIP's text side against its references, in the same process, on the same full-size
(12 + 12-layer ViT-B/32) stand-in weights: tokenizer throughput (prompts/s) against
transformers' CLIPTokenizer and open_clip's SimpleTokenizer, text and image towers
(texts/s, images/s) against transformers' CLIPModel, and CLIPScore end to end (images
and prompts in, the score out) against torchmetrics' CLIPScore; with the largest
difference of each.

    PYTHONPATH=src /tmp/likeness-reference/bin/python benchmarks/bench_clip_text.py [BATCH]

transformers, torchmetrics and open_clip are installed only in the reference environment
(references/reference-env.sh and the note of references/make_clip_text_values.py).  Best
of 3 after a warm-up.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from _timing import best_of

try:
    from transformers import CLIPImageProcessorPil, CLIPProcessor
except ImportError:  # `make bench` runs every script with .venv's python: skip, say why
    print("bench_clip_text: skipped, transformers is not installed here; run it with the "
          "reference environment's python (see the module docstring)")
    sys.exit(0)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "references"))
from make_clip_text_values import (  # noqa: E402
    PROMPTS,
    TensorFeatures,
    hf_tokenizer,
    model,
    simple_tokenizer,
)

from likeness.metrics.clip_scores import clip_t_aggregate  # noqa: E402
from likeness.nets.clip import ClipModel  # noqa: E402
from likeness.nets.clip_metrics import clip_score  # noqa: E402
from likeness.nets.clip_tokenizer import clip_tokenize  # noqa: E402
from vit_stand_ins import make_clip_state_dict, save_safetensors  # noqa: E402


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    print(f"threads: torch {torch.get_num_threads()}; batch {batch}; 12 + 12-layer "
          "ViT-B/32 stand-ins")
    prompts = [PROMPTS[i % 9] + f" number {i}" for i in range(200)]
    openai = simple_tokenizer()
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = hf_tokenizer(Path(folder))
        ours_best, _, _ = best_of(lambda: clip_tokenize(prompts, too_long="truncate",
                                                        cleaning="huggingface"), 3)
        hf_best, _, _ = best_of(lambda: tokenizer(prompts, padding="max_length",
                                                  max_length=77, truncation=True), 3)
        oc_best, _, _ = best_of(lambda: openai(prompts, context_length=77), 3)
        print(f"tokenizer, 200 prompts: transformers {200 / hf_best:8.0f}/s, open_clip "
              f"{200 / oc_best:8.0f}/s, likeness {200 / ours_best:8.0f}/s (ratio to "
              f"transformers {hf_best / ours_best:4.2f}x, to open_clip "
              f"{oc_best / ours_best:4.2f}x)")
        theirs = model(12, 12)
        path = save_safetensors(make_clip_state_dict(11, 12, 12), Path(folder) / "m.safetensors")
        ours = ClipModel("vit-b32", weights=path)
        tokens = torch.tensor(clip_tokenize(prompts[:batch], too_long="truncate",
                                            cleaning="huggingface"))
        hf_tokens = tokenizer(prompts[:batch], padding="max_length", max_length=77,
                              truncation=True, return_tensors="pt")["input_ids"]
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(batch, 3, 224, 224, generator=generator)
        with torch.inference_mode():
            for label, reference, mine, count in (
                    ("text tower", lambda: theirs.get_text_features(input_ids=hf_tokens)
                     .pooler_output, lambda: ours.encode_texts(tokens), batch),
                    ("image tower", lambda: theirs.get_image_features(pixel_values=images)
                     .pooler_output, lambda: ours.encode_images(images), batch)):
                ref_best, _, want = best_of(reference, 3)
                our_best, _, got = best_of(mine, 3)
                want = want / want.norm(dim=-1, keepdim=True)
                print(f"{label}: transformers {count / ref_best:6.1f}/s, likeness "
                      f"{count / our_best:6.1f}/s, ratio {ref_best / our_best:4.2f}x, max "
                      f"|diff| {float((got - want).abs().max()):.1e}")
        from torchmetrics.multimodal.clip_score import CLIPScore

        pictures = [np.asarray(Image.open(p).convert("RGB").resize((300, 200)))
                    for p in sorted((ROOT / "tests" / "data" / "golden" / "images")
                                    .glob("*.png"))[:batch]]
        captions = prompts[:len(pictures)]
        processor = CLIPProcessor(image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}),
            tokenizer=tokenizer)
        metric = CLIPScore(model_name_or_path=lambda: (TensorFeatures(theirs), processor))
        tensors = [torch.from_numpy(p).permute(2, 0, 1) for p in pictures]

        def reference_score() -> float:
            metric.reset()
            metric.update(tensors, captions)
            return float(metric.compute())

        def our_score() -> float:
            return clip_t_aggregate(clip_score(pictures, captions, convention="torchmetrics",
                                               model=ours), "torchmetrics")

        ref_best, _, want = best_of(reference_score, 3)
        our_best, _, got = best_of(our_score, 3)
        print(f"CLIPScore, {len(pictures)} images 300×200: torchmetrics {ref_best:.3f} s, "
              f"likeness {our_best:.3f} s, ratio {ref_best / our_best:4.2f}x, |diff| "
              f"{abs(got - want):.1e}")


if __name__ == "__main__":
    main()
