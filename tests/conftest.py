"""Shared fixtures: the golden set of reference values (tests/data/golden, committed with
the project: its README says how each value was made and by which reference)."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# the files that take longest (measured: --durations), collected first: ``make test``'s
# ``--dist loadfile`` hands files to its two workers in collection order, and test_ray.py
# (~4 of a ~16-minute run's minutes under load) collected near the end left one worker
# idle while the other ran it
LONGEST_FIRST = ("test_ray.py", "test_fid.py", "test_in_memory.py", "test_style.py",
                 "test_hostile.py", "test_on_device.py", "test_report.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: else as found


def _golden_dir() -> Path:
    """The committed golden set: the tests read nothing outside the repository."""
    golden = REPO / "tests" / "data" / "golden"
    if not (golden / "expected.json").is_file():
        raise RuntimeError("the golden set is missing: expected tests/data/golden in the "
                           "repository (made by the scripts in references/)")
    return golden


@dataclass
class Golden:
    """The golden set: images and the values the reference implementations gave on them."""

    root: Path
    expected: dict[str, Any]

    @property
    def pairs(self) -> list[dict[str, Any]]:
        return self.expected["pairs"]

    def image_path(self, name: str) -> Path:
        return self.root / "images" / name

    def rgb(self, name: str) -> np.ndarray:
        """8-bit RGB pixels, read as the golden generator read them."""
        with Image.open(self.image_path(name)) as image:
            return np.array(image.convert("RGB"))

    def luma(self, name: str) -> np.ndarray:
        with Image.open(self.image_path(name)) as image:
            return np.array(image.convert("L"))

    def array(self, name: str) -> np.ndarray:
        return np.load(self.root / "arrays" / f"{name}.npy")

    def arrange_models(self, root: Path, models: tuple[str, ...],
                       bases: tuple[str, ...]) -> Path:
        """``root/ref/B.png`` and ``root/M/B.png`` (the golden ``B__M.png``) for each model
        M: distortions arranged as a user arranges model outputs."""
        import shutil

        (root / "ref").mkdir(parents=True, exist_ok=True)
        for base in bases:
            shutil.copy(self.image_path(f"{base}.png"), root / "ref" / f"{base}.png")
        for model in models:
            (root / model).mkdir(exist_ok=True)
            for base in bases:
                shutil.copy(self.image_path(f"{base}__{model}.png"), root / model / f"{base}.png")
        return root


@pytest.fixture(scope="session", autouse=True)
def _own_user_cache(tmp_path_factory):
    """The runs of the tests use a cache of their own, never the developer's user cache:
    values a developer's earlier code cached would otherwise be read (and the tests'
    values left behind)."""
    before = os.environ.get("LIKENESS_CACHE_DIR")
    os.environ["LIKENESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if before is None:
        os.environ.pop("LIKENESS_CACHE_DIR", None)
    else:
        os.environ["LIKENESS_CACHE_DIR"] = before


@pytest.fixture
def tid2013_folders(tmp_path) -> tuple[Path, Path]:
    """``ref/a.png`` and ``out/a.png`` under tmp_path: TID2013's I19 reference and its
    distorted image (tests/data/matlab_pairs), a colour pair with published MATLAB values."""
    pairs = REPO / "tests" / "data" / "matlab_pairs"
    folders = (tmp_path / "ref", tmp_path / "out")
    for folder, role in zip(folders, ("reference", "distorted"), strict=True):
        folder.mkdir()
        (folder / "a.png").write_bytes((pairs / f"tid2013_I19_{role}.png").read_bytes())
    return folders


@pytest.fixture(scope="session")
def golden() -> Golden:
    root = _golden_dir()
    return Golden(root, json.loads((root / "expected.json").read_text()))


def assert_array_close(got: np.ndarray, want: np.ndarray, *, abs_tol: float,
                       rel_to_max: float) -> None:
    """|got − want| within abs_tol, and within rel_to_max of want's largest magnitude."""
    assert got.shape == want.shape
    error = float(np.max(np.abs(got - want)))
    assert error <= abs_tol, f"max abs error {error} > {abs_tol}"
    assert error <= rel_to_max * float(np.max(np.abs(want))), f"max abs error {error}"


@pytest.fixture(scope="session")
def golden_weights(golden):
    """The golden set's weights.py as a module (make_state_dict, save_checkpoint, manifest):
    the seeded stand-in checkpoints the golden network values were computed with."""
    spec = importlib.util.spec_from_file_location("golden_weights", golden.root / "weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def stand_in(golden, golden_weights, tmp_path_factory):
    """name -> path of an LPIPS stand-in backbone checkpoint, written as the real files are."""
    folder = tmp_path_factory.mktemp("stand_in")
    seed = golden.expected["lpips_seed"]
    return {name: golden_weights.save_checkpoint(name, seed, folder / f"{name}.pth")
            for name in ("alexnet", "vgg16", "squeezenet1_1", "vgg19")}


@pytest.fixture(scope="session")
def fid_weights(golden, golden_weights, tmp_path_factory):
    """Path of the stand-in pt_inception checkpoint the golden FID features were made with."""
    folder = tmp_path_factory.mktemp("fid_weights")
    return golden_weights.save_checkpoint("pt_inception", golden.expected["fid_seed"],
                                          folder / "pt_inception-2015-12-05-6726825d.pth")


@pytest.fixture
def random_inception_trunk():
    """``make(seed)``: pytorch-fid's Inception trunk with random weights and batch-norm
    statistics (variances in [0.5, 1.5]), folded for its fast route."""
    import torch

    from likeness.nets.inception import InceptionTrunk

    def make(seed: int) -> InceptionTrunk:
        torch.manual_seed(seed)
        trunk = InceptionTrunk("fid").eval()
        for name, tensor in trunk.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point():
                tensor.normal_(0, 0.05 if "conv" in name else 0.1)
        trunk.fold()
        return trunk

    return make
