"""The published checkpoint files likeness loads: where each comes from, its hash and its
licence (``REGISTRY``).  ``likeness.nets.weights`` finds, fetches and verifies them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REGISTRY", "Checkpoint", "published_as"]


@dataclass(frozen=True)
class Checkpoint:
    """A published checkpoint file."""

    name: str
    file_name: str
    url: str  # "": import-only (the authors publish it behind a page: ``page``)
    sha256: str | None  # full hash where it is known
    sha256_prefix: str | None  # else the prefix published in the file name
    licence: str
    description: str
    page: str = ""  # where a person fetches an import-only file

    def hash_description(self) -> str:
        if self.sha256:
            return f"SHA-256 {self.sha256}"
        if self.sha256_prefix:
            return f"SHA-256 starting with {self.sha256_prefix}"
        return ("no published hash (the SHA-256 of the first verified download or import is "
                "recorded)")

    def matches(self, digest: str) -> bool:
        if self.sha256:
            return digest == self.sha256
        if self.sha256_prefix:
            return digest.startswith(self.sha256_prefix)
        return True


_TORCHVISION = "https://download.pytorch.org/models/"
REGISTRY: dict[str, Checkpoint] = {
    checkpoint.name: checkpoint
    for checkpoint in (
        Checkpoint("alexnet", "alexnet-owt-7be5be79.pth", _TORCHVISION + "alexnet-owt-7be5be79.pth",
                   None, "7be5be79", "BSD-3-Clause (torchvision)",
                   "AlexNet, ImageNet (torchvision); LPIPS-alex backbone"),
        Checkpoint("vgg16", "vgg16-397923af.pth", _TORCHVISION + "vgg16-397923af.pth",
                   None, "397923af", "BSD-3-Clause (torchvision)",
                   "VGG16, ImageNet (torchvision); LPIPS-vgg backbone"),
        Checkpoint("vgg19", "vgg19-dcbb9e9d.pth", _TORCHVISION + "vgg19-dcbb9e9d.pth",
                   None, "dcbb9e9d", "BSD-3-Clause (torchvision)",
                   "VGG19, ImageNet (torchvision); style metrics"),
        Checkpoint("squeezenet1_1", "squeezenet1_1-b8a52dc0.pth",
                   _TORCHVISION + "squeezenet1_1-b8a52dc0.pth", None, "b8a52dc0",
                   "BSD-3-Clause (torchvision)",
                   "SqueezeNet 1.1, ImageNet (torchvision); LPIPS-squeeze backbone"),
        Checkpoint("pt_inception", "pt_inception-2015-12-05-6726825d.pth",
                   "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth", None, "6726825d",
                   "Apache-2.0 (pytorch-fid)", "FID Inception-v3 (pytorch-fid)"),
        Checkpoint("dinov2_vitl14", "dinov2_vitl14_pretrain.pth",
                   "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/"
                   "dinov2_vitl14_pretrain.pth", None, None, "Apache-2.0 (DINOv2)",
                   "DINOv2 ViT-L/14 (torch.hub); FD_DINOv2's encoder"),
        Checkpoint("clip_vit_l14_336", "clip-vit-large-patch14-336-pytorch_model.bin",
                   "https://huggingface.co/openai/clip-vit-large-patch14-336/resolve/main/"
                   "pytorch_model.bin", None, None, "MIT (OpenAI CLIP)",
                   "CLIP ViT-L/14 at 336 px (Hugging Face); CMMD's encoder"),
        Checkpoint("clip_vit_b32", "clip-vit-base-patch32-model.safetensors",
                   "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/"
                   "model.safetensors", None, None, "MIT (OpenAI CLIP)",
                   "CLIP ViT-B/32 (Hugging Face); CLIP-S (Hessel et al. 2021), CLIP-I, CLIP-T"),
        Checkpoint("clip_vit_l14", "clip-vit-large-patch14-model.safetensors",
                   "https://huggingface.co/openai/clip-vit-large-patch14/resolve/main/"
                   "model.safetensors", None, None, "MIT (OpenAI CLIP)",
                   "CLIP ViT-L/14 (Hugging Face); torchmetrics' CLIPScore"),
        Checkpoint("dino_vits16", "dino_deitsmall16_pretrain.pth",
                   "https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/"
                   "dino_deitsmall16_pretrain.pth", None, None, "Apache-2.0 (DINO)",
                   "DINO ViT-S/16 (torch.hub); DreamBooth's DINO score"),
        Checkpoint("csd_vit_l", "csd_vit_l.pth", "", None, None, "MIT (CSD)",
                   "CSD ViT-L (Somepalli et al. 2024): the CSD style descriptor",
                   page="the link of the CSD repository's README "
                        "(https://github.com/learn2phoenix/CSD: a Google Drive file, "
                        "checkpoint.pth)"),
        Checkpoint("laion_aesthetic", "sac+logos+ava1-l14-linearMSE.pth",
                   "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/"
                   "main/sac+logos+ava1-l14-linearMSE.pth", None, None,
                   "Apache-2.0 (improved-aesthetic-predictor)",
                   "LAION aesthetic predictor v2: the MLP head on CLIP ViT-L/14 embeddings"),
        Checkpoint("art_inception", "art_inception.pth",
                   "https://huggingface.co/matthias-wright/art_inception/resolve/main/"
                   "art_inception.pth", None, None, "see the model card (ArtFID)",
                   "ArtFID's art-trained Inception-v3"),
    )
}


def published_as(digest: str) -> list[Checkpoint]:
    """The checkpoints whose published hash a file of SHA-256 ``digest`` has (a file given
    for one network may be another's)."""
    return [c for c in REGISTRY.values() if (c.sha256 or c.sha256_prefix) and c.matches(digest)]
