"""CLIP's text tower, tokenizer and preprocessing, and the CLIP scores of the torch API,
against values pinned from transformers, open_clip's tokenizer, torchvision's transform
and torchmetrics' CLIPScore (references/make_clip_text_values.py; tests/data/
clip_text_values.json names the versions) on stand-in weights of ViT-B/32's shapes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from likeness.errors import InvalidInputError, WeightsError
from likeness.metrics.clip_scores import clip_t_aggregate
from likeness.nets.clip import ClipModel, clip_preprocess
from likeness.nets.clip_metrics import (
    clip_directional_similarity,
    clip_image_similarity,
    clip_score,
)
from likeness.nets.clip_tokenizer import END, clip_tokenize
from vit_stand_ins import (
    golden_image,
    make_clip_state_dict,
    make_clip_vision_state_dict,
    save_safetensors,
)

DATA = Path(__file__).parent / "data"
VALUES = json.loads((DATA / "clip_text_values.json").read_text(encoding="utf-8"))
PROMPTS = VALUES["tokens"]["prompts"]
SEED = 11


def _image(name: str) -> np.ndarray:
    return np.asarray(golden_image(name))


IMAGES = [_image(name) for name in VALUES["images"]]


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "model.safetensors"
    return ClipModel("vit-b32", weights=save_safetensors(make_clip_state_dict(SEED), path))


@pytest.mark.parametrize("number", range(len(PROMPTS)))
def test_tokens_equal_hugging_face_and_openai(number):
    prompt = PROMPTS[number]
    huggingface = clip_tokenize(prompt, too_long="truncate", cleaning="huggingface")[0]
    assert [t if t else END for t in huggingface] == VALUES["tokens"]["huggingface"][number]
    if "<|endoftext|>" not in prompt:  # open_clip 3.3 splits the written token
        openai = clip_tokenize(prompt, too_long="truncate")[0]
        assert openai == VALUES["tokens"]["openai"][number]


def test_html_entities_are_unescaped_by_openai_only():
    openai = clip_tokenize("Tom &amp; Jerry")[0]
    huggingface = clip_tokenize("Tom &amp; Jerry", cleaning="huggingface")[0]
    assert openai == clip_tokenize("Tom & Jerry")[0]
    assert huggingface != openai


def test_a_long_prompt_is_refused_truncated_or_cut_as_asked():
    long = PROMPTS[9]
    with pytest.raises(InvalidInputError, match="more than the 77 CLIP reads"):
        clip_tokenize(long)
    truncated = clip_tokenize(long, too_long="truncate")[0]
    cut = clip_tokenize(long, too_long="cut")[0]
    assert truncated[-1] == END
    assert truncated[:76] == cut[:76]
    assert END not in cut
    with pytest.raises(InvalidInputError, match="prompt must be text"):
        clip_tokenize([3])  # type: ignore[list-item]


@pytest.mark.parametrize("convention", ["openai", "huggingface"])
def test_preprocessing_equals_the_references(convention):
    pixels = torch.stack([clip_preprocess(image, 224, convention) for image in IMAGES])
    expected = VALUES["pixels"][convention]
    np.testing.assert_allclose(pixels.double().sum(dim=(2, 3)).numpy(), expected["sums"],
                               rtol=0, atol=1e-3)
    probes = [[float(p[c, y, x]) for c, y, x in VALUES["probes"]] for p in pixels]
    np.testing.assert_allclose(probes, expected["probes"], rtol=0, atol=1e-6)


def test_the_crop_of_an_odd_margin_differs_by_one_pixel_between_conventions():
    odd = IMAGES[VALUES["images"].index("astronaut-221")]
    openai, huggingface = (clip_preprocess(odd, 224, c) for c in ("openai", "huggingface"))
    assert not torch.equal(openai, huggingface)
    # 256×221 → 259×224: a margin of 35; OpenAI's crop starts at round(17.5) = 18,
    # Hugging Face's at 17
    assert torch.equal(openai[:, :, :-1], huggingface[:, :, 1:])


def _embeddings(model: ClipModel) -> tuple[np.ndarray, np.ndarray]:
    pixels = torch.stack([clip_preprocess(image, 224, "huggingface") for image in IMAGES])
    tokens = torch.tensor(clip_tokenize(PROMPTS, too_long="truncate", cleaning="huggingface"))
    with torch.no_grad():
        return model.encode_images(pixels).numpy(), model.encode_texts(tokens).numpy()


def test_both_towers_equal_transformers(stand_in):
    images, texts = _embeddings(stand_in)
    expected = VALUES["embeddings_2_2"]
    np.testing.assert_allclose(images, expected["images"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(texts, expected["texts"], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_the_full_architecture_equals_transformers(tmp_path):
    """ViT-B/32's 12 + 12 layers (the published architecture)."""
    path = save_safetensors(make_clip_state_dict(SEED, 12, 12), tmp_path / "model.safetensors")
    images, texts = _embeddings(ClipModel("vit-b32", weights=path))
    expected = VALUES["embeddings_12_12"]
    np.testing.assert_allclose(images, expected["images"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(texts, expected["texts"], rtol=0, atol=1e-6)


def test_a_torch_checkpoint_loads_like_the_safetensors_file(tmp_path, stand_in):
    path = tmp_path / "pytorch_model.bin"
    torch.save(make_clip_state_dict(SEED), path)
    images, texts = _embeddings(ClipModel("vit-b32", weights=path))
    expected_images, expected_texts = _embeddings(stand_in)
    assert np.array_equal(images, expected_images)
    assert np.array_equal(texts, expected_texts)


def test_clipscore_equals_torchmetrics(stand_in):
    captions = VALUES["torchmetrics"]["captions"]
    values = clip_score(IMAGES[:len(captions)], captions, convention="torchmetrics",
                        model=stand_in)
    assert clip_t_aggregate(values, "torchmetrics") == pytest.approx(
        VALUES["torchmetrics"]["score"], abs=1e-5)
    # 100 × float32 cosines: measured 6e-8 off on an AVX2 CPU, 1.8e-6 on an AVX-512 one
    # (AMD EPYC Zen 4), i.e. 1.8e-8 of the cosine; the other CLIP tests hold cosines to 1e-6


def test_clip_s_equals_hessels_script(stand_in):
    captions = VALUES["hessel"]["captions"]
    values = clip_score(IMAGES[:len(captions)], captions, convention="hessel", model=stand_in)
    np.testing.assert_allclose(values.numpy(), VALUES["hessel"]["per_image"], rtol=0,
                               atol=1e-6)


def test_clip_t_cosine_and_clip_i_are_the_embeddings_cosines(stand_in):
    expected = np.array(VALUES["embeddings_2_2"]["images"])
    first, second = IMAGES[:3], IMAGES[3:6]
    pairs = clip_image_similarity(first, second, model=stand_in, preprocessing="huggingface")
    np.testing.assert_allclose(pairs.numpy(), np.sum(expected[:3] * expected[3:6], axis=1),
                               rtol=0, atol=1e-6)
    cosine = clip_score(IMAGES[:2], PROMPTS[:2], convention="cosine", model=stand_in)
    hessel = clip_score(IMAGES[:2], ["A photo depicts " + p for p in PROMPTS[:2]],
                        convention="cosine", model=stand_in)
    np.testing.assert_allclose(2.5 * hessel.clamp(min=0).numpy(),
                               VALUES["hessel"]["per_image"][:2], rtol=0, atol=1e-6)
    assert cosine.shape == (2,)


def test_directional_similarity_equals_instructpix2pix(stand_in):
    cases = VALUES["direction"]["cases"]
    values = clip_directional_similarity([_image(c[0]) for c in cases],
                                         [_image(c[1]) for c in cases],
                                         [c[2] for c in cases], [c[3] for c in cases],
                                         model=stand_in)
    np.testing.assert_allclose(values.numpy(), VALUES["direction"]["values"], rtol=0,
                               atol=1e-6)


def test_float_tensors_are_read_as_eight_bit_images(stand_in):
    batch = torch.from_numpy(np.stack(IMAGES[:2]) if IMAGES[0].shape == IMAGES[1].shape
                             else np.stack([IMAGES[0], IMAGES[0]])).permute(0, 3, 1, 2)
    from_uint8 = clip_score(batch, PROMPTS[:2], model=stand_in)
    from_float = clip_score(batch.float() / 255, PROMPTS[:2], model=stand_in, data_range=1.0)
    assert torch.equal(from_uint8, from_float)


@pytest.mark.parametrize(("call", "words"), [
    (lambda m: clip_score(IMAGES[:2], PROMPTS[:1], model=m), "1 prompt for 2 images"),
    (lambda m: clip_score(IMAGES[:1], [""], model=m), "non-empty text"),
    (lambda m: clip_score(IMAGES[:1], PROMPTS[9:10], convention="cosine", model=m),
     "more than the 77"),
    (lambda m: clip_score(IMAGES[:1], PROMPTS[:1], convention="mean", model=m),
     "convention must be one of"),
    (lambda m: clip_score(torch.rand(1, 3, 32, 32), PROMPTS[:1], model=m), "need data_range"),
    (lambda m: clip_score(torch.rand(1, 3, 32, 32) * 2, PROMPTS[:1], model=m,
                          data_range=1.0), "outside"),
    (lambda m: clip_image_similarity(IMAGES[:2], IMAGES[:1], model=m), "give pairs"),
    (lambda m: clip_score(IMAGES[:1], PROMPTS[:1], preprocessing="timm", model=m),
     "preprocessing must be one of"),
])
def test_bad_inputs_are_refused_with_what_to_do(stand_in, call, words):
    with pytest.raises(InvalidInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(stand_in)


def test_a_model_built_for_images_only_skips_the_text_tower(tmp_path):
    weights = save_safetensors(make_clip_state_dict(SEED), tmp_path / "clip.safetensors")
    images_only = ClipModel("vit-b32", weights=weights, text=False)
    both = ClipModel("vit-b32", weights=weights)
    pixels = torch.stack([clip_preprocess(IMAGES[0], 224, "openai")])
    with torch.no_grad():
        assert torch.equal(images_only.encode_images(pixels), both.encode_images(pixels))
    assert sum(p.numel() for p in images_only.parameters()) < \
        sum(p.numel() for p in both.parameters()) / 1.5
    with pytest.raises(InvalidInputError, match="built without its text tower"):
        images_only.encode_texts(torch.tensor(clip_tokenize(PROMPTS[:1])))


def test_an_image_tower_alone_cannot_score_text(tmp_path):
    path = tmp_path / "vision.bin"
    torch.save(make_clip_vision_state_dict(5), path)
    with pytest.raises(WeightsError, match="has no text tower"):
        ClipModel("vit-b32", weights=path)


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsError, match="clip_vit_b32") as raised:
        clip_score(IMAGES[:1], PROMPTS[:1])
    assert "likeness weights" in str(raised.value)


def test_clip_i_in_a_compare_run_is_the_cosine_of_each_pair(tmp_path, stand_in):
    from click.testing import CliRunner

    from likeness.cli import main

    weights = save_safetensors(make_clip_state_dict(SEED), tmp_path / "clip.safetensors")
    samples = Path(__file__).resolve().parents[1] / "samples"
    result = CliRunner().invoke(main, [
        "compare", str(samples / "reference"), str(samples / "jpeg"), str(samples / "stylized"),
        "--metrics", "clip_i", "--weights", f"clip_vit_b32={weights}", "--out-dir",
        str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "run" / "per_image.csv").read_text().splitlines()[1:]
    names = ("astronaut", "coffee", "rocket")
    for model in ("jpeg", "stylized"):
        def read(folder, name):
            with Image.open(samples / folder / f"{name}.png") as image:
                return np.asarray(image.convert("RGB"))

        expected = clip_image_similarity([read("reference", n) for n in names],
                                         [read(model, n) for n in names], model=stand_in)
        found = [float(row.split(",")[3]) for row in rows if row.startswith(model + ",")]
        # the run encodes its images in other batches: float32 rounding apart
        np.testing.assert_allclose(found, expected.numpy(), rtol=0, atol=1e-7)
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "CLIP-I [@ruiz2023dreambooth]" in methods
    assert "ruiz2023dreambooth" in (tmp_path / "run" / "references.bib").read_text()


def test_clip_i_without_its_checkpoint_is_an_error_row_saying_what_to_do(tmp_path,
                                                                        monkeypatch):
    from click.testing import CliRunner

    from likeness.cli import main

    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    samples = Path(__file__).resolve().parents[1] / "samples"
    result = CliRunner().invoke(main, [
        "compare", str(samples / "reference"), str(samples / "jpeg"), "--metrics", "clip_i,psnr",
        "--out-dir", str(tmp_path / "run"), "--no-cache"])
    assert "run `likeness weights import clip-vit-base-patch32-model.safetensors`" \
        in result.output
    assert "--weights clip_vit_b32=PATH" in result.output
    methods = (tmp_path / "run" / "methods.md").read_text()
    assert "CLIP-I (`clip_i`) was requested but could not be computed" in methods
    assert "PSNR" in methods
