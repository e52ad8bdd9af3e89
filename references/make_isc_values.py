"""Pinned Inception Score inputs and values from torch-fidelity.

Run in the reference environment (references/reference-env.sh), never by the test suite:

    /tmp/likeness-reference/bin/python references/make_isc_values.py

torch-fidelity's ``FeatureExtractorInceptionV3`` (its TF1-style bilinear resize to 299 of
uint8 images, (x − 128) / 128, the FID Inception, logits without the final bias) loaded
with the golden stand-in ``pt_inception`` checkpoint (``make_state_dict("pt_inception",
seed=expected["fid_seed"])``, the same file format as torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth``), on the 20 golden RGB images (sorted by
name; Pillow → RGB → uint8), then ``isc_features_to_metric`` with its defaults (10 splits,
shuffled with seed 2020).  Writes tests/data/isc_values.json and isc_logits.npy.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.metric_isc import isc_features_to_metric

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
DATA = ROOT / "tests" / "data"


def golden_rgb_images() -> list[str]:
    """The golden 8-bit RGB images, sorted (the set the pinned values are of)."""
    names = []
    for path in sorted((GOLDEN / "images").glob("*.png")):
        with Image.open(path) as image:
            if image.mode == "RGB":
                names.append(path.name)
    return names


def main() -> None:
    spec = importlib.util.spec_from_file_location("golden_weights", GOLDEN / "weights.py")
    weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(weights)
    seed = json.loads((GOLDEN / "expected.json").read_text())["fid_seed"]
    names = golden_rgb_images()
    with tempfile.TemporaryDirectory() as folder:
        path = weights.save_checkpoint("pt_inception", seed, Path(folder) / "pt.pth")
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["logits_unbiased"],
                                                feature_extractor_weights_path=str(path))
    extractor.eval()
    logits = []
    with torch.no_grad():
        for name in names:
            with Image.open(GOLDEN / "images" / name) as image:
                pixels = np.asarray(image.convert("RGB"))
            batch = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].contiguous()
            logits.append(extractor(batch)[0][0].numpy())
    logits_array = np.stack(logits).astype(np.float32)
    np.save(DATA / "isc_logits.npy", logits_array)
    score = isc_features_to_metric(torch.from_numpy(logits_array))
    document = {"reference": f"torch-fidelity {version('torch-fidelity')} "
                             "FeatureExtractorInceptionV3('inception-v3-compat', "
                             "['logits_unbiased']) with the golden stand-in pt_inception "
                             f"(seed {seed}), isc_features_to_metric defaults",
                "images": names, "inception_score_mean": score["inception_score_mean"],
                "inception_score_std": score["inception_score_std"]}
    # the score's maths on logits of a confident classifier (the stand-in's are near uniform)
    random_logits = (np.random.default_rng(7).normal(size=(500, 1008)) * 3).astype(np.float32)
    spread = isc_features_to_metric(torch.from_numpy(random_logits))
    document["random_logits"] = {"generator": "default_rng(7).normal(size=(500, 1008)) * 3, "
                                              "float32",
                                 "inception_score_mean": spread["inception_score_mean"],
                                 "inception_score_std": spread["inception_score_std"]}
    (DATA / "isc_values.json").write_text(json.dumps(document, indent=1) + "\n")
    print(len(names), score)


if __name__ == "__main__":
    main()
