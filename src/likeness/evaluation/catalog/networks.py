"""The feature networks item metrics share: each built once per run, on first use.

A network here is "features of an image at named layers": it takes a batch of [0, 1] RGB
images (N, 3, H, W) and returns the layer outputs the registry's metrics consume.  Every
metric that needs the same network shares one pass per image (LPIPS, DISTS, or the VGG19
style metrics CFSD, Gram, AdaIN and the content loss).

torch and the networks are imported only when a network is built, so a run of pixel
metrics never loads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from likeness.errors import LikenessError, describe_failure

__all__ = ["NETWORKS", "RUN_WEIGHTS_ARGUMENT", "FeatureNetwork", "Networks", "VGG_TAPS"]

VGG_TAPS = (1, 6, 11, 20, 22, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class FeatureNetwork:
    """How to build a network and encode images with it.

    Attributes:
        checkpoint: the weights registry name whose file (and hash) the features depend on.
        build: (checkpoint path or None, device) → the module, ready for inference.
        encode: (module, (N, 3, H, W) float32 in [0, 1]) → list of layer outputs.
        max_batch: the most images per pass (None: the run's batch size); VGG19's early
            layers are large, so the style metrics encode one image at a time.
    """

    name: str
    checkpoint: str
    build: Callable[[str | None, str], Any]
    encode: Callable[[Any, Any], list[Any]]
    max_batch: int | None = None


def _build_lpips(net: str) -> Callable[[str | None, str], Any]:
    def build(weights: str | None, device: str) -> Any:
        from likeness.nets.lpips import LPIPS

        return LPIPS(net=net, backbone_weights=weights).to(device)

    return build


def _encode_lpips(network: Any, unit: Any) -> list[Any]:
    return list(network.encode(unit * 2 - 1))


def _build_vgg19(weights: str | None, device: str) -> Any:
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


def _build_dists(weights: str | None, device: str) -> Any:
    from likeness.nets.dists import DISTS

    return DISTS(backbone_weights=weights).to(device)


def _encode_dists(network: Any, unit: Any) -> list[Any]:
    return list(network.encode(unit))


NETWORKS: dict[str, FeatureNetwork] = {
    **{f"lpips_{net}": FeatureNetwork(f"lpips_{net}", backbone, _build_lpips(net),
                                      _encode_lpips)
       for net, backbone in (("alex", "alexnet"), ("vgg", "vgg16"), ("squeeze", "squeezenet1_1"))},
    "vgg19": FeatureNetwork("vgg19", "vgg19", _build_vgg19, _encode_vgg19, max_batch=1),
    "dists": FeatureNetwork("dists", "vgg16", _build_dists, _encode_dists),
}


# how a run (compare, style, compare_files, compare_tensors) is given checkpoint files
RUN_WEIGHTS_ARGUMENT = "weights={'NAME': PATH}"


class Networks:
    """The networks of one run on one device, each built once; a network that failed to
    build (missing weights, say) is not retried for every image.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (already resolved).
        weights: {checkpoint name: path} supplied by the user.
    """

    def __init__(self, device: str = "cpu", weights: Mapping[str, str] | None = None) -> None:
        self.device = device
        self.weights = dict(weights or {})
        self.failed: dict[str, str] = {}
        self._built: dict[str, Any] = {}
        self._hashes: dict[str, str] = {}

    def get(self, name: str) -> Any:
        """The built network ``name`` (a key of ``NETWORKS``).

        Raises:
            LikenessError: its weights are missing or unusable (remembered).
        """
        if name in self.failed:
            raise LikenessError(self.failed[name])
        if name not in self._built:
            spec = NETWORKS[name]
            from likeness.nets.weights import passing_weights_as

            try:
                with passing_weights_as(RUN_WEIGHTS_ARGUMENT):
                    self._built[name] = spec.build(self.weights.get(spec.checkpoint),
                                                   self.device)
            except Exception as error:  # noqa: BLE001 - any failure to build: remembered
                self.failed[name] = describe_failure(error)
                raise LikenessError(self.failed[name]) from error
        return self._built[name]

    def weights_hash(self, name: str) -> str:
        """The SHA-256 of the checkpoint ``name`` would load (part of the cache keys), or
        ``"unavailable"`` when it cannot be resolved (then ``failed`` says why)."""
        if name not in self._hashes:
            from likeness.nets.weights import passing_weights_as, resolve

            checkpoint = NETWORKS[name].checkpoint
            try:
                with passing_weights_as(RUN_WEIGHTS_ARGUMENT):
                    self._hashes[name] = resolve(checkpoint,
                                                 self.weights.get(checkpoint)).sha256
            except LikenessError as error:
                self.failed[name] = str(error)
                self._hashes[name] = "unavailable"
        return self._hashes[name]

    def encode(self, name: str, unit: Any) -> list[Any]:
        """Layer outputs of ``unit`` ((N, 3, H, W) in [0, 1]) through network ``name``."""
        import torch

        network = self.get(name)
        with torch.inference_mode():
            return NETWORKS[name].encode(network, unit.to(self.device))
