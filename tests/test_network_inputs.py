"""What every network module's forward takes (``likeness.nets.inputs.network_batch``), and
the tensor checks of the pixel metrics: inputs a network or metric cannot take are one
``InvalidInputError`` naming what to pass, never torch's error from inside a layer; float64
and 16-bit floats are computed in the network's precision (the same values as float32)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.errors import ImageTooSmallError, InvalidInputError, InvalidInputTypeError
from vit_stand_ins import (
    make_aesthetic_state_dict,
    make_clip_state_dict,
    make_clip_vision_state_dict,
    make_csd_state_dict,
    make_dino_state_dict,
    save_clip_checkpoint,
    save_dinov2_checkpoint,
    save_safetensors,
)

SEED = 3


def _partner(images: Any) -> Any:
    """What a pair metric compares ``images`` with: the same values mirrored (whatever
    ``images`` is, so that the check of ``images`` itself speaks first)."""
    return images.flip(-1) if isinstance(images, torch.Tensor) else images


def _build(kind: str, folder: Path, golden: Any, golden_weights: Any, stand_in: dict,
           fid_weights: Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], int, bool]:
    """(the network's forward on one batch, the side it takes, whether that side is the
    only one) for each public network module, built from stand-in weights."""
    from likeness.nets.aesthetic import AestheticPredictor
    from likeness.nets.clip import ClipImageEncoder, ClipModel
    from likeness.nets.csd import Csd
    from likeness.nets.dino import Dino
    from likeness.nets.dinov2 import DinoV2
    from likeness.nets.dists import DISTS
    from likeness.nets.inception_features import ArtInceptionFeatures, InceptionFeatures

    if kind == "lpips":
        lpips = likeness.LPIPS(backbone_weights=stand_in["alexnet"])
        return (lambda x: lpips(x, _partner(x), normalize=True)), 48, False
    if kind == "dists":
        dists = DISTS(backbone_weights=stand_in["vgg16"])
        return (lambda x: dists(x, _partner(x))), 48, False
    if kind == "inception":
        return InceptionFeatures(weights=fid_weights), 48, False
    if kind == "art_inception":
        path = golden_weights.save_checkpoint("art_inception", SEED, folder / "art.pth")
        return ArtInceptionFeatures(weights=path), 80, False
    if kind == "dino":
        torch.save(make_dino_state_dict(SEED, 1), folder / "dino.pth")
        return Dino(folder / "dino.pth"), 224, True
    if kind == "dinov2":
        return DinoV2(save_dinov2_checkpoint(SEED, folder / "dinov2.pth", depth=1)), 28, False
    if kind == "csd":
        torch.save(make_csd_state_dict(SEED, 1), folder / "csd.pth")
        return Csd(folder / "csd.pth"), 224, True
    if kind == "clip_images":
        model = ClipModel("vit-b32", weights=save_safetensors(make_clip_state_dict(SEED, 1, 1),
                                                              folder / "clip.safetensors"))
        return model.encode_images, model.image_size, True
    if kind == "clip_encoder":
        return ClipImageEncoder(save_clip_checkpoint(SEED, folder / "clip.bin", depth=1)), \
            336, True
    assert kind == "aesthetic"
    head = folder / "head.pth"
    torch.save(make_aesthetic_state_dict(SEED), head)
    clip = save_safetensors(make_clip_vision_state_dict(SEED, 1, positions=16 * 16 + 1),
                            folder / "clip-l14.safetensors")
    return AestheticPredictor(head, clip), 224, True


NETWORKS = ["lpips", "dists", "inception", "art_inception", "dino", "dinov2", "csd",
            "clip_images", "clip_encoder", "aesthetic"]


@pytest.fixture(scope="module", params=NETWORKS)
def network(request, tmp_path_factory, golden, golden_weights, stand_in, fid_weights):
    folder = tmp_path_factory.mktemp(request.param)
    return (request.param,
            *_build(request.param, folder, golden, golden_weights, stand_in, fid_weights))


def test_every_network_refuses_what_it_cannot_take_in_one_clear_error(network):
    kind, forward, side, fixed = network
    x = torch.rand(2, 3, side, side)
    with torch.no_grad():
        assert torch.equal(forward(x.double()), forward(x))  # in the network's float32
        assert torch.equal(forward(x.half()), forward(x.half().float()))
        for integer in ((x * 255).to(torch.uint8), x > 0.5):
            with pytest.raises(InvalidInputTypeError, match="floating-point"):
                forward(integer)
        with pytest.raises(InvalidInputError, match=r"add the missing axes: images\[None\]"):
            forward(x[0])
        with pytest.raises(InvalidInputError, match=r"looks like an \(N, H, W, C\) batch: "
                                                    r"pass images.permute\(0, 3, 1, 2\)"):
            forward(x.permute(0, 2, 3, 1))  # channels last, as NumPy and PIL lay them out
        with pytest.raises(InvalidInputError, match=r"\(N, 3, H, W\)"):
            forward(x[:, :1])
        with pytest.raises(InvalidInputError, match=r"\(N, 3, H, W\)"):
            forward(x[:, :, :0])
        with pytest.raises(InvalidInputError, match="meta tensors"):
            forward(x.to("meta"))
        with pytest.raises(InvalidInputTypeError, match="torch tensor"):
            forward(x.numpy())
        if fixed:
            with pytest.raises(InvalidInputError, match=f"takes {side}×{side} inputs"):
                forward(x[..., :side - 1])
        if kind not in ("lpips", "dists"):  # encoders: no image, no feature
            assert forward(x[:0]).shape[0] == 0


def test_networks_of_images_in_0_1_warn_of_8_bit_values_and_nan(network):
    """LPIPS, DISTS and both Inceptions take images in [0, 1] as given (a loss, FID's
    features): [0, 255] images or NaN gave values with no word for DISTS and the
    Inceptions (LPIPS warned).  The encoders take their own preparation's output."""
    kind, forward, side, _ = network
    if kind not in ("lpips", "dists", "inception", "art_inception"):
        pytest.skip("takes prepared inputs (dino_input, clip_input, ...), not images")
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(5))
    spoilt = x.clone()
    spoilt[0, 1, 2, 3] = float("nan")
    with torch.no_grad():
        with pytest.warns(UserWarning, match=r"expects inputs in \[0, 1\] but got values in "
                                             r"\[[0-9.e-]+, 2[0-9.]+\]") as record:
            forward(x * 255)
        assert [w.filename for w in record] == [__file__]  # the caller's line
        with pytest.warns(UserWarning, match="got NaN or infinite inputs, so its") as record:
            forward(spoilt)
        assert [w.filename for w in record] == [__file__]


def test_dinov2_takes_squares_of_whole_patches(tmp_path):
    from likeness.nets.dinov2 import DinoV2

    model = DinoV2(save_dinov2_checkpoint(SEED, tmp_path / "dinov2.pth", depth=1))
    with torch.no_grad():
        assert model(torch.rand(1, 3, 42, 42)).shape == (1, 1024)
        for height, width in ((42, 28), (30, 30)):
            with pytest.raises(InvalidInputError, match="multiple of 14"):
                model(torch.rand(1, 3, height, width))


def test_art_inception_needs_75_pixels_a_side_as_torch_does(golden_weights, tmp_path):
    """ArtFID reads images at their own size: 74 pixels fail in torch's own layers, so they
    are refused first, with the least side."""
    from likeness.nets.inception_features import (
        ART_INCEPTION_SMALLEST_SIDE,
        ArtInceptionFeatures,
    )

    network = ArtInceptionFeatures(golden_weights.save_checkpoint("art_inception", SEED,
                                                                  tmp_path / "art.pth"))
    side = ART_INCEPTION_SMALLEST_SIDE
    with torch.no_grad():
        assert network(torch.rand(1, 3, side, 2 * side)).shape == (1, 2048)
        # width x height, as every size in a run's messages (it said height x width)
        with pytest.raises(ImageTooSmallError, match=f"at least {side}x{side} pixels, got "
                                                     f"{2 * side}x{side - 1}$"):
            network(torch.rand(1, 3, side - 1, 2 * side))
        with pytest.raises(RuntimeError):  # the network itself
            network.trunk(torch.rand(1, 3, side - 1, 2 * side))


def test_a_stylization_too_small_for_art_inception_is_left_out_and_said(tmp_path,
                                                                        golden_weights):
    """A file one set network cannot read (here too small for ArtFID's Inception, which
    does not resize) is left out of that set and listed, in the terminal, run.json and the
    methods paragraph; the pixel metrics still compare it."""
    rng = np.random.default_rng(0)
    folders = {name: tmp_path / name for name in ("content", "style", "out")}
    for folder in folders.values():
        folder.mkdir()

    def save(path: Path, side: int) -> None:
        Image.fromarray((rng.random((side, side, 3)) * 255).astype(np.uint8)).save(path)

    for content in range(3):
        save(folders["content"] / f"c{content}.png", 50 if content == 0 else 96)
    for style in range(2):
        save(folders["style"] / f"s{style}.png", 96)
        for content in range(3):
            save(folders["out"] / f"c{content}__s{style}.png", 50 if content == 0 else 96)
    weights = golden_weights.save_checkpoint("art_inception", SEED, tmp_path / "art.pth")
    result = CliRunner().invoke(main, [
        "style", "--content", str(folders["content"]), "--style", str(folders["style"]),
        "--stylized", str(folders["out"]), "--metrics", "fid-art,ssim",
        "--weights", f"art_inception={weights}", "--out-dir", str(tmp_path / "results")])
    assert result.exit_code == 1, result.output  # files left out: as any run with errors
    assert "out/c0__s0.png: ArtFID's Inception reads images at their own size" in result.output
    record = json.loads((tmp_path / "results" / "run.json").read_text(encoding="utf-8"))
    left_out = sorted(error["file"] for error in record["file_errors"])
    assert left_out == ["out: out/c0__s0.png", "out: out/c0__s1.png"]
    assert record["pairs_succeeded"] == 6  # SSIM compares the small ones too
    methods = (tmp_path / "results" / "methods.md").read_text(encoding="utf-8")
    assert ("2 files could not be read, or not by a set metric's network, and are "
            "left out") in methods


def test_clip_text_tower_refuses_what_is_not_token_ids(tmp_path):
    from likeness.nets.clip import ClipModel
    from likeness.nets.clip_tokenizer import clip_tokenize

    model = ClipModel("vit-b32", weights=save_safetensors(make_clip_state_dict(SEED, 1, 1),
                                                          tmp_path / "clip.safetensors"))
    tokens = torch.tensor(clip_tokenize(["a cat", "a dog"]))
    with torch.no_grad():
        full = model.encode_texts(tokens)
        assert torch.equal(model.encode_texts(tokens[:, :10]), full)  # causal: ends inside
        assert model.encode_texts(tokens[:0]).shape == (0, full.shape[1])
        for wrong in (tokens.float(), tokens[0], tokens.tolist()):
            with pytest.raises(InvalidInputTypeError, match="integer tensor of token ids"):
                model.encode_texts(wrong)
        with pytest.raises(InvalidInputError, match="1 to 77 tokens"):
            model.encode_texts(torch.cat([tokens, tokens], dim=1))
        with pytest.raises(InvalidInputError, match=r"token ids must lie in \[0, 49408\)"):
            model.encode_texts(tokens - 1000)


def test_image_functions_refuse_no_images_or_images_without_pixels(tmp_path):
    from likeness.nets.clip import ClipModel

    model = ClipModel("vit-b32", weights=save_safetensors(make_clip_state_dict(SEED, 1, 1),
                                                          tmp_path / "clip.safetensors"))
    images = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="no images given"):
        likeness.clip_score(images[:0], [], model=model)
    with pytest.raises(InvalidInputError, match="has no pixels"):
        likeness.clip_image_similarity(images[:, :0], images[:, :0], model=model)


@pytest.mark.parametrize("metric", ["ssim", "psnr", "gmsd", "vif_p", "fsim", "haarpsi"])
def test_pixel_metrics_refuse_two_dtypes_two_devices_and_meta_tensors(metric):
    """The value depends on the precision it is computed in: x and y of two dtypes are
    refused (piq fails inside a convolution; likeness computed some in one of them)."""
    function = getattr(likeness, metric)
    kwargs = {"data_range": 1.0} if metric in ("ssim", "psnr") else {}
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    y = (x * 0.9).float()
    with pytest.raises(InvalidInputTypeError, match="torch.float64 tensor and y a "
                                                    "torch.float32 one"):
        function(x, y, **kwargs)
    with pytest.raises(InvalidInputError, match="x is on meta and y on cpu"):
        function(x.to("meta"), y.double(), **kwargs)
    with pytest.raises(InvalidInputError, match="meta tensors"):
        function(x.to("meta"), y.double().to("meta"), **kwargs)
    assert torch.isfinite(torch.as_tensor(function(x, y.double(), **kwargs))).all()


def test_compare_tensors_refuses_meta_tensors():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(InvalidInputError, match="reference: meta tensors"):
        likeness.compare_tensors(x.to("meta"), x, data_range=1.0)


@pytest.mark.parametrize(("shape", "channel_axis"), [((), None), ((), -1), ((64,), -1),
                                                     ((64,), 0)])
def test_structural_similarity_without_a_spatial_axis_is_one_clear_error(shape, channel_axis):
    """scikit-image divides by zero here (ZeroDivisionError, IndexError)."""
    image = np.full(shape, 0.5)
    with pytest.raises(InvalidInputError, match="no spatial axis"):
        likeness.structural_similarity(image, image * 0.9, data_range=1.0,
                                       channel_axis=channel_axis)
    line = np.linspace(0, 1, 64)  # one spatial axis is an image to scikit-image
    assert likeness.structural_similarity(line, line, data_range=1.0) == 1.0


@pytest.mark.parametrize("function", ["mean_squared_error", "peak_signal_noise_ratio"])
def test_images_without_pixels_have_no_mse_or_psnr(function):
    """scikit-image gives NaN with two warnings (MSE) or numpy's reduction error (PSNR)."""
    empty = np.zeros((0, 0, 3))
    with pytest.raises(InvalidInputError, match="hold no pixels"):
        getattr(likeness, function)(empty, empty)


def test_every_set_networks_decisions_are_recorded_the_references_too(tmp_path, fid_weights):
    """16-bit images are scaled by 65535 for pytorch-fid's Inception and reduced to their
    high byte for DINOv2 (torch-fidelity's and dgm-eval's uint8 input): both decisions are
    recorded, for the reference set as for the model's (a run with FID alone said nothing of
    the reference set, and a second network's decisions were dropped)."""
    rng = np.random.default_rng(0)
    for name in ("ref", "out"):
        (tmp_path / name).mkdir()
        for index in range(3):
            pixels = (rng.random((32, 32)) * 65535).astype(np.uint16)
            Image.fromarray(pixels).save(tmp_path / name / f"{index}.png")
    dinov2 = save_dinov2_checkpoint(SEED, tmp_path / "dinov2.pth", depth=1)
    result = CliRunner().invoke(main, [
        "compare", str(tmp_path / "ref"), str(tmp_path / "out"), "--metrics", "fid,fd-dinov2",
        "--weights", f"pt_inception={fid_weights}", "--weights", f"dinov2_vitl14={dinov2}",
        "--out-dir", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "results" / "run.json").read_text(encoding="utf-8"))
    from likeness.evaluation.catalog.networks import SIXTEEN_BIT_HIGH_BYTE, SIXTEEN_BIT_SCALED

    for name in ("reference", "out"):
        for decision in (SIXTEEN_BIT_SCALED, SIXTEEN_BIT_HIGH_BYTE):
            assert f"{name} set: 3 images: {decision}" in record["decisions"]
