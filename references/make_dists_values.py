"""Pinned DISTS values and gradients from the authors' package, DISTS_pytorch.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_dists_values.py

DISTS_pytorch builds torchvision's VGG16 with a download; here ``models.vgg16`` returns
torchvision's VGG16 loaded with the seeded stand-in backbone
(``tests/data/golden/weights.py``, ``make_state_dict("vgg16", seed=expected["lpips_seed"])``),
and the package's own ``weights.pt`` (α, β) is used.  Images as the authors' example reads
them: Pillow → RGB → ``ToTensor`` (no resize).  Pairs: the golden colour pairs and the
generated pairs of tests/data/piq_pairs (gray ones converted to RGB).  Writes
tests/data/dists_values.json, and tests/data/dists_gradient.npz: the gradient of the
summed DISTS of one 48×40 pair with respect to the test image.
"""

from __future__ import annotations

import importlib.util
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
DATA = ROOT / "tests" / "data"


def _stand_in_vgg16() -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("golden_weights", GOLDEN / "weights.py")
    weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(weights)
    seed = json.loads((GOLDEN / "expected.json").read_text())["lpips_seed"]
    model = torchvision.models.vgg16(weights=None)
    missing = model.load_state_dict(weights.make_state_dict("vgg16", seed), strict=False)
    assert not [key for key in missing.missing_keys if key.startswith("features")]
    return model


def _rgb(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torchvision.transforms.ToTensor()(image.convert("RGB")).unsqueeze(0)


def main() -> None:
    stand_in = _stand_in_vgg16()
    torchvision.models.vgg16 = lambda *args, **kwargs: stand_in
    from DISTS_pytorch import DISTS

    metric = DISTS()
    expected = json.loads((GOLDEN / "expected.json").read_text())
    pairs = [(pair["reference"], pair["test"], GOLDEN / "images" / pair["reference"],
              GOLDEN / "images" / pair["test"]) for pair in expected["pairs"]]
    pairs += [(f"piq_pairs/{path.name}", f"piq_pairs/{path.name.replace('_ref', '_test')}",
               path, path.with_name(path.name.replace("_ref", "_test")))
              for path in sorted((DATA / "piq_pairs").glob("*_ref.png"))]
    values = []
    for reference_name, test_name, reference, test in pairs:
        with Image.open(reference) as a, Image.open(test) as b:
            if a.size != b.size:
                continue
        x, y = _rgb(reference), _rgb(test)
        values.append({"reference": reference_name, "test": test_name,
                       "dists": float(metric(x, y))})
    # the gradient with respect to the test image (the loss use)
    reference, test = _rgb(pairs[0][2])[..., :48, :40], _rgb(pairs[0][3])[..., :48, :40]
    test.requires_grad_(True)
    metric(reference, test, require_grad=True).sum().backward()
    np.savez(DATA / "dists_gradient.npz", reference=reference.numpy(),
             test=test.detach().numpy(), gradient=test.grad.numpy())
    document = {"reference": f"DISTS_pytorch {version('DISTS_pytorch')} DISTS() with its "
                             f"weights.pt and torchvision {torchvision.__version__} VGG16 "
                             "holding the golden stand-in (lpips_seed); x = reference, "
                             "y = test, RGB via Pillow, ToTensor, no resize",
                "pairs": values}
    (DATA / "dists_values.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(values)} pairs written")


if __name__ == "__main__":
    main()
