"""Every feature network, item and set alike, as one record each: the checkpoint its
weights come from, how it is built, how an image becomes its input, what it returns, and
how results name it.

Item networks (LPIPS, DISTS, VGG19, CLIP ViT-B/32 and ViT-L/14, DINO ViT-S/16) give the
layer outputs that the item metrics of the registry consume (``encode``); every metric
that needs the same network shares one pass per image. Text networks (CLIP's text towers)
give the embeddings of an item's prompts (``encode_texts``), each prompt encoded once. Set
networks (the Inception networks, DINOv2, CLIP) give one feature vector per image
(``features``), and ``network_input`` turns a decoded image — from a file or from a tensor
in memory, the one preparation of both routes — into their input.

torch and the networks are imported only when a network is built or an image prepared,
so a run of pixel metrics never loads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from likeness.errors import InvalidInputError

__all__ = ["NETWORKS", "NetworkSpec", "VGG_TAPS", "network_input", "set_network_names"]

VGG_TAPS = (1, 6, 11, 20, 22, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# the decisions a set network's preparation records (counted per set)
GRAY_TO_RGB = "gray replicated to RGB"
SIXTEEN_BIT_SCALED = "16-bit scaled to [0, 1] by 65535"
SIXTEEN_BIT_HIGH_BYTE = ("16-bit reduced to its high byte, as Pillow reads it (the uint8 input "
                         "of torch-fidelity, dgm-eval and CMMD)")
FLOAT_ROUNDED = "floating-point images rounded to 8 bits for the uint8 networks"


@dataclass(frozen=True)
class NetworkSpec:
    """How to build a network, feed it and read it.

    Attributes:
        checkpoint: the weights registry name whose file (and hash) its outputs depend on;
            ``also``: the others it loads (the aesthetic head's CLIP).
        build: (checkpoint path or None, device) → the module, ready for inference; with
            ``also``: ({checkpoint name: path or None}, device).
        label: how results and statistics files name it.
        encode: item networks: (module, (N, 3, H, W) float32 in [0, 1]) → layer outputs.
        encode_texts: text networks: (module, prompts, too_long, cleaning) → (N, D) unit
            embeddings (``clip_tokenize``'s ``too_long`` and ``cleaning``).
        max_batch: item networks: the most images per pass (None: the run's batch size);
            VGG19's early layers are large, so the style metrics encode one at a time.
        prepare: set networks: (an (H, W, 3) RGB image: uint8, uint16 — or uint8 only for
            ``eight_bit`` networks — or float32 in [0, 1]; the run's resize convention) →
            the network's (3, h, w) input.
        features: set networks: (module, (N, 3, h, w) batch of inputs) → (N, dims).
        dims: set networks: the feature length of the published checkpoint.
        resize: set networks: the resize convention it always uses (None: the run's
            ``fid_resize``, pytorch-fid's or clean-fid's).
        eight_bit: set networks fed uint8 images, as their reference implementations.
        bytes_per_pixel: networks that read images at their own size: the most memory one
            image of a pass takes, per pixel (float32 on the CPU: the largest figure of
            ``benchmarks/measure_memory.py`` plus a fifth); 0: a fixed input size.
            ``pair_bytes``: what a lone pair takes per pixel of its images (the figure of
            one pair, plus a fifth), which a pair too large for the memory is refused by.
        methods_note: what a methods paragraph says of its input when a metric uses it.
        revision: of its arithmetic, in the cache keys of its outputs from 2 on (bumped
            when a release changes them, as ``MetricSpec.revision``).
    """

    name: str
    checkpoint: str
    build: Callable[[Any, str], Any]
    label: str
    encode: Callable[[Any, Any], list[Any]] | None = None
    encode_texts: Callable[[Any, list[str], str, str], Any] | None = None
    max_batch: int | None = None
    prepare: Callable[[np.ndarray, str], Any] | None = None
    features: Callable[[Any, Any], Any] | None = None
    dims: int = 0
    resize: str | None = None
    eight_bit: bool = False
    bytes_per_pixel: int = 0
    pair_bytes: int = 0
    methods_note: str = ""
    also: tuple[str, ...] = ()
    revision: int = 1

    @property
    def checkpoints(self) -> tuple[str, ...]:
        """Every checkpoint whose file its outputs depend on."""
        return (self.checkpoint, *self.also)

    @property
    def kind(self) -> str:
        """``"item"`` (layer outputs of an item's images), ``"text"`` (an item's prompts'
        embeddings) or ``"set"`` (one vector per image of a set)."""
        if self.encode is not None:
            return "item"
        return "text" if self.encode_texts is not None else "set"


@dataclass(frozen=True)
class _LpipsBuilder:
    """LPIPS of one backbone (a picklable builder: Ray ships the records to its workers)."""

    net: str

    def __call__(self, weights: Any, device: str) -> Any:
        from likeness.nets.lpips import LPIPS

        return LPIPS(net=self.net, backbone_weights=weights).to(device)


def _encode_lpips(network: Any, unit: Any) -> list[Any]:
    return list(network.encode(unit * 2 - 1))


def _build_vgg19(weights: Any, device: str) -> Any:
    import torch

    from likeness.nets.backbones import build_backbone
    from likeness.nets.loading import load_state_dict
    from likeness.nets.lpips import load_backbone_weights
    from likeness.nets.weights import resolve

    resolved = resolve("vgg19", weights)
    network = build_backbone("vgg19")
    load_backbone_weights(network, load_state_dict(resolved.path), str(resolved.path))
    network.requires_grad_(False).eval().to(device)
    network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return network


def _encode_vgg19(network: Any, unit: Any) -> list[Any]:
    import torch

    mean = torch.tensor(_IMAGENET_MEAN, device=unit.device).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, device=unit.device).view(1, 3, 1, 1)
    normalised = ((unit - mean) / std).contiguous(memory_format=torch.channels_last)
    return list(network.forward_taps(normalised, VGG_TAPS))


def _build_dists(weights: Any, device: str) -> Any:
    from likeness.nets.dists import DISTS

    return DISTS(backbone_weights=weights).to(device)


def _encode_dists(network: Any, unit: Any) -> list[Any]:
    return list(network.encode(unit))


@dataclass(frozen=True)
class _ClipBuilder:
    """One CLIP tower of one model (picklable: Ray ships the records to its workers)."""

    model: str
    tower: str  # "image" or "text"

    def __call__(self, weights: Any, device: str) -> Any:
        from likeness.nets.clip import ClipModel

        image = self.tower == "image"
        return ClipModel(self.model, weights, image=image, text=not image).to(device)


@dataclass(frozen=True)
class _EightBitImages:
    """An item network's output of [0, 1] images read as the 8-bit files they are:
    ``likeness.nets.<module>.<function>(network, (N, H, W, 3) uint8, *arguments)``, each
    network's own preprocessing (picklable: Ray ships the records to its workers)."""

    module: str
    function: str
    arguments: tuple[Any, ...] = ()

    def __call__(self, network: Any, unit: Any) -> list[Any]:
        import importlib

        from likeness.nets.preprocess import eight_bit_images

        encode = getattr(importlib.import_module(f"likeness.nets.{self.module}"), self.function)
        return [encode(network, eight_bit_images(unit), *self.arguments)]


def _encode_clip_texts(network: Any, prompts: list[str], too_long: str,
                       cleaning: str) -> Any:
    import torch

    from likeness.nets.clip_tokenizer import clip_tokenize

    tokens = torch.tensor(clip_tokenize(prompts, too_long=too_long, cleaning=cleaning))
    return network.encode_texts(tokens.to(network.text_projection.weight.device))


def _clip_networks() -> dict[str, NetworkSpec]:
    """CLIP's image tower of ViT-B/32 (OpenAI's preprocessing: CLIP-I, CLIP-S, the
    direction) and of ViT-L/14 (Hugging Face's: torchmetrics' CLIPScore), and each
    one's text tower (the prompts)."""
    records = {}
    for model, name, title, preprocessing, whose in (
            ("vit-b32", "clip_vit_b32", "ViT-B/32", "openai", "OpenAI's preprocessing"),
            ("vit-l14", "clip_vit_l14", "ViT-L/14", "huggingface",
             "Hugging Face's CLIPImageProcessor")):
        records[name] = NetworkSpec(
            name, name, _ClipBuilder(model, "image"),
            f"CLIP {title} normalised image embedding",
            encode=_EightBitImages("clip", "clip_embeddings", (preprocessing,)),
            methods_note=f"CLIP {title} reads each image at 8 bits as {whose} does: the "
                         "shorter side resized to 224 pixels (Pillow bicubic), the "
                         "centred 224×224 crop.")
        records[f"{name}_text"] = NetworkSpec(
            f"{name}_text", name, _ClipBuilder(model, "text"),
            f"CLIP {title} normalised text embedding", encode_texts=_encode_clip_texts)
    return records


def _build_aesthetic(weights: Any, device: str) -> Any:
    from likeness.nets.aesthetic import AestheticPredictor

    return AestheticPredictor(weights["laion_aesthetic"], weights["clip_vit_l14"]).to(device)


@dataclass(frozen=True)
class _Built:
    """A network's builder: ``likeness.nets.<module>.<cls>(weights=...)`` on a device
    (picklable: Ray ships the records to its workers)."""

    module: str
    cls: str

    def __call__(self, weights: Any, device: str) -> Any:
        import importlib

        from likeness.evaluation.infra.memory import keep_freed_memory

        keep_freed_memory()  # see likeness.evaluation.infra.memory
        network = getattr(importlib.import_module(f"likeness.nets.{self.module}"), self.cls)
        return network(weights=weights).to(device)


def _called(network: Any, inputs: Any) -> Any:
    return network(inputs)


def _fid_features(network: Any, inputs: Any) -> Any:
    return network.features_of_resized(inputs)


def _fid_prepare(pixels: np.ndarray, resize: str) -> Any:
    """pytorch-fid's input: [0, 1] at 299×299 (bilinear in the network, or clean-fid's
    Pillow bicubic); floats in [0, 1] as given, integers divided by their range."""
    import torch

    from likeness.nets.inception_features import FID_SIZE, clean_resize, fid_input

    if pixels.dtype.kind != "f":
        return fid_input(np.ascontiguousarray(pixels), resize)
    unit = np.ascontiguousarray(pixels, dtype=np.float32)
    if resize == "clean":
        return torch.from_numpy(clean_resize(unit * np.float32(255), 255.0)).permute(2, 0, 1)
    image = torch.from_numpy(unit).permute(2, 0, 1)
    if tuple(image.shape[1:]) == (FID_SIZE, FID_SIZE):  # bilinear to the same size
        return image
    import torch.nn.functional as F

    return F.interpolate(image[None], size=(FID_SIZE, FID_SIZE), mode="bilinear",
                         align_corners=False)[0]


def _unit_prepare(pixels: np.ndarray, resize: str) -> Any:
    """[0, 1] at the image's own size (ArtFID's Inception), which must be large enough."""
    import torch

    from likeness.nets.inception_features import check_art_inception_size

    check_art_inception_size(*pixels.shape[:2])
    if pixels.dtype.kind == "f":
        unit = np.ascontiguousarray(pixels, dtype=np.float32)
    else:
        scale = np.float32(65535.0 if pixels.dtype == np.uint16 else 255.0)
        unit = np.ascontiguousarray(pixels).astype(np.float32) / scale
    return torch.from_numpy(unit).permute(2, 0, 1)


@dataclass(frozen=True)
class _EightBitInput:
    """A uint8 network's input: ``likeness.nets.<module>.<function>(pixels)`` (picklable)."""

    module: str
    function: str

    def __call__(self, pixels: np.ndarray, resize: str) -> Any:
        import importlib

        convert = getattr(importlib.import_module(f"likeness.nets.{self.module}"),
                          self.function)
        return convert(np.ascontiguousarray(pixels))


NETWORKS: dict[str, NetworkSpec] = {
    **{f"lpips_{net}": NetworkSpec(f"lpips_{net}", backbone, _LpipsBuilder(net),
                                   f"LPIPS v0.1 {label}", encode=_encode_lpips,
                                   bytes_per_pixel=per_pixel, pair_bytes=pair)
       for net, backbone, label, per_pixel, pair in (
           ("alex", "alexnet", "AlexNet", 145, 100), ("vgg", "vgg16", "VGG16", 1810, 1320),
           ("squeeze", "squeezenet1_1", "SqueezeNet 1.1", 495, 360))},
    "vgg19": NetworkSpec("vgg19", "vgg19", _build_vgg19, "VGG19 (ImageNet)",
                         encode=_encode_vgg19, max_batch=1, bytes_per_pixel=850,
                         pair_bytes=850,
                         methods_note="VGG19 features are taken from ImageNet-normalised "
                                      "images at their own size."),
    "dists": NetworkSpec("dists", "vgg16", _build_dists, "DISTS VGG16 (L2 pooling)",
                         encode=_encode_dists, bytes_per_pixel=1080, pair_bytes=1080),
    **_clip_networks(),
    "csd_vit_l": NetworkSpec("csd_vit_l", "csd_vit_l", _Built("csd", "Csd"),
                             "CSD ViT-L style descriptor (Somepalli et al. 2024)",
                             encode=_EightBitImages("csd", "csd_descriptors"),
                             methods_note="CSD reads each image at 8 bits through its "
                                          "authors' evaluation transform: the shorter side "
                                          "resized to 224 pixels (Pillow bicubic), the "
                                          "centred 224×224 crop."),
    "laion_aesthetic": NetworkSpec("laion_aesthetic", "laion_aesthetic", _build_aesthetic,
                                   "LAION aesthetic predictor v2 on CLIP ViT-L/14",
                                   encode=_EightBitImages("aesthetic", "aesthetic_scores"),
                                   also=("clip_vit_l14",),
                                   methods_note="The aesthetic predictor's CLIP reads each "
                                                "image at 8 bits as OpenAI's preprocessing "
                                                "does: the shorter side resized to 224 "
                                                "pixels (Pillow bicubic), the centred "
                                                "224×224 crop."),
    "dino_vits16": NetworkSpec("dino_vits16", "dino_vits16", _Built("dino", "Dino"),
                               "DINO ViT-S/16 CLS token (torch.hub model)",
                               encode=_EightBitImages("dino", "dino_unit_features"),
                               methods_note="DINO reads each image at 8 bits through the "
                                            "DINO repository's evaluation transform: the "
                                            "shorter side resized to 256 pixels (Pillow "
                                            "bicubic), the centred 224×224 crop."),
    "pt_inception": NetworkSpec("pt_inception", "pt_inception",
                                _Built("inception_features", "InceptionFeatures"),
                                "pytorch-fid Inception-v3 pool3", prepare=_fid_prepare,
                                features=_fid_features, dims=2048),
    "art_inception": NetworkSpec("art_inception", "art_inception",
                                 _Built("inception_features", "ArtInceptionFeatures"),
                                 "ArtFID art-trained Inception-v3 pool3",
                                 prepare=_unit_prepare, features=_called, dims=2048,
                                 resize="native", bytes_per_pixel=130),
    "isc_inception": NetworkSpec("isc_inception", "pt_inception",
                                 _Built("inception_logits", "InceptionLogits"),
                                 "torch-fidelity Inception-v3 logits_unbiased",
                                 prepare=_EightBitInput("inception_logits", "isc_input"),
                                 features=_called, dims=1008, resize="tf1-bilinear",
                                 eight_bit=True),
    "dinov2_vitl14": NetworkSpec("dinov2_vitl14", "dinov2_vitl14",
                                 _Built("dinov2", "DinoV2"),
                                 "DINOv2 ViT-L/14 CLS token (torch.hub model)",
                                 prepare=_EightBitInput("dinov2", "dinov2_input"),
                                 features=_called, dims=1024, resize="pillow-bicubic-224",
                                 eight_bit=True),
    "clip_vit_l14_336": NetworkSpec("clip_vit_l14_336", "clip_vit_l14_336",
                                    _Built("clip", "ClipImageEncoder"),
                                    "CLIP ViT-L/14-336 normalised image embedding",
                                    prepare=_EightBitInput("clip", "clip_input"),
                                    features=_called, dims=768,
                                    resize="square-crop-pillow-bicubic-336", eight_bit=True),
}


def set_network_names() -> list[str]:
    """The networks that give one feature vector per image (set metrics)."""
    return [name for name, spec in NETWORKS.items() if spec.kind == "set"]


def network_input(network: str, pixels: np.ndarray, resize: str) -> tuple[Any, tuple[str, ...]]:
    """One decoded image (H, W, C) — from a file or a tensor in memory — as set network
    ``network``'s input, and the decisions taken: gray replicated to RGB; for the uint8
    networks 16-bit reduced to its high byte (as Pillow reads 16-bit files) and floats in
    [0, 1] rounded to 8-bit levels; for the others 16-bit scaled by 65535."""
    spec = NETWORKS[network]
    if spec.prepare is None:
        raise InvalidInputError(f"{network} is not a set network; choose from "
                                f"{', '.join(set_network_names())}")
    decisions: list[str] = []
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
        decisions.append(GRAY_TO_RGB)
    if spec.eight_bit and pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
        decisions.append(SIXTEEN_BIT_HIGH_BYTE)
    elif spec.eight_bit and pixels.dtype.kind == "f":
        pixels = np.round(pixels.astype(np.float64) * 255).astype(np.uint8)
        decisions.append(FLOAT_ROUNDED)
    elif pixels.dtype == np.uint16:
        decisions.append(SIXTEEN_BIT_SCALED)
    return spec.prepare(pixels, spec.resize or resize), tuple(decisions)
