"""Runs within the machine's memory: what is available (the kernel's estimate, a
container's limit, CUDA's free memory), passes and kept images sized to it for the
networks that read images at their own size, and a pair too large for all of it refused in
words — not a process the kernel kills (16 DIV2K pairs through LPIPS-VGG took 24 GB and
were killed on this 23 GB machine before)."""

from __future__ import annotations

import dataclasses
import os
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

import likeness
import likeness.evaluation.engines.network_values as network_values
import likeness.evaluation.sets.extractor as extractor_module
from likeness.cli import main
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.infra.memory import available_bytes, fitting, memory_needed

MEMINFO = "MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n"


def _root(tmp_path, meminfo=MEMINFO, cgroup=None):
    (tmp_path / "proc").mkdir(parents=True, exist_ok=True)
    if meminfo is not None:
        (tmp_path / "proc" / "meminfo").write_text(meminfo)
    for name, text in (cgroup or {}).items():
        path = tmp_path / "sys" / "fs" / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_available_memory_is_the_kernels_estimate_within_a_containers_limit(tmp_path):
    assert available_bytes(root=_root(tmp_path / "plain")) == 20000000 * 1024
    unlimited = {"memory.max": "max\n", "memory.current": "123\n"}
    assert available_bytes(root=_root(tmp_path / "v2-max", cgroup=unlimited)) == 20000000 * 1024
    limited = {"memory.max": f"{8 * 2**30}\n", "memory.current": f"{3 * 2**30}\n"}
    assert available_bytes(root=_root(tmp_path / "v2", cgroup=limited)) == 5 * 2**30
    v1 = {"memory/memory.limit_in_bytes": f"{4 * 2**30}\n",
          "memory/memory.usage_in_bytes": f"{2**30}\n"}
    assert available_bytes(root=_root(tmp_path / "v1", cgroup=v1)) == 3 * 2**30
    v1_unlimited = {"memory/memory.limit_in_bytes": "9223372036854771712\n",
                    "memory/memory.usage_in_bytes": "5\n"}
    assert available_bytes(root=_root(tmp_path / "v1-max", cgroup=v1_unlimited)) == (
        20000000 * 1024)
    over = {"memory.max": "100\n", "memory.current": "200\n"}
    assert available_bytes(root=_root(tmp_path / "over", cgroup=over)) == 0


def test_without_proc_half_the_physical_memory_is_taken(tmp_path):
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert available_bytes(root=_root(tmp_path, meminfo=None)) == physical // 2


def test_this_machine_has_memory_available():
    assert 0 < available_bytes() <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize(("each", "budget", "most", "expected"), [
    (10, 100, 16, 10), (10, 1000, 16, 16), (1000, 10, 16, 1), (0, 10, 16, 16),
    (10, None, 16, 16), (10, 0, 16, 1)])
def test_fitting_counts_what_goes_into_a_budget(each, budget, most, expected):
    assert fitting(each, budget, most) == expected


def test_a_pair_too_large_is_said_in_gibibytes_with_what_to_do():
    pair = "a pair of 7680x4320 images"
    assert memory_needed("LPIPS", 2 * 2**30, pair, 3 * 2**30) is None
    assert memory_needed("LPIPS", 2 * 2**30, pair, None) is None
    assert "about 2.0 MiB of memory" in memory_needed("LPIPS", 2 * 2**20, pair, 2**20)
    why = memory_needed("LPIPS v0.1 VGG16", 2 * 2**30, pair, 2**30)
    assert why == ("LPIPS v0.1 VGG16 needs about 2.0 GiB of memory for a pair of 7680x4320 "
                   "images, more than the 1.0 GiB available: free memory, compare smaller "
                   "images, or use a machine with more memory")


def test_every_network_of_images_at_their_own_size_is_sized():
    """A network whose memory grows with its images' pixels carries a measured figure;
    the others read a fixed input size."""
    own_size = {"lpips_alex", "lpips_vgg", "lpips_squeeze", "dists", "vgg19", "art_inception"}
    assert {name for name, spec in NETWORKS.items() if spec.bytes_per_pixel} == own_size
    assert all(NETWORKS[name].resize in (None, "native") for name in own_size)
    # the item networks' lone pair: at most what a pair takes in a chunk
    pairs = {name: spec for name, spec in NETWORKS.items() if spec.pair_bytes}
    assert set(pairs) == own_size - {"art_inception"}
    assert all(0 < spec.pair_bytes <= spec.bytes_per_pixel for spec in pairs.values())


def test_every_pixel_metric_is_sized():
    pixel = [name for name, spec in METRICS.items() if spec.kind == "pixel"]
    assert [name for name in pixel if METRICS[name].bytes_per_pixel < 50] == []


def _pairs(count, side=48):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (count, 3, side, side), dtype=np.uint8)
    noise = rng.integers(-30, 31, x.shape)
    return x, np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def passes(monkeypatch):
    """The batch size of every network pass."""
    sizes: list[int] = []
    encode = Networks.encode

    def counted(self, name, unit):
        sizes.append(int(unit.shape[0]))
        return encode(self, name, unit)

    monkeypatch.setattr(Networks, "encode", counted)
    return sizes


def _available(monkeypatch, module, images, pixels=48 * 48, network="lpips_alex"):
    """Pretend ``images`` images of ``pixels`` pixels fill the available memory, for
    ``module``."""
    each = NETWORKS[network].bytes_per_pixel * pixels
    monkeypatch.setattr(module, "available_bytes", lambda device="cpu": images * each)


def test_passes_and_kept_references_fit_the_memory_with_the_same_values(
        stand_in, monkeypatch, passes):
    x, y = _pairs(6)
    weights = {"alexnet": stand_in["alexnet"]}
    whole = likeness.compare_tensors(x, y, metrics="lpips", weights=weights, device="cpu")
    assert passes == [6, 6]  # the references in one pass, then the tests
    passes.clear()
    _available(monkeypatch, network_values, 8)  # a quarter: 2 images
    sized = likeness.compare_tensors(x, y, metrics="lpips", weights=weights, device="cpu")
    assert passes == [2, 2] * 3  # two references kept at a time, their tests two a pass
    got = [row.values["lpips_alex"] for row in sized]
    np.testing.assert_allclose(got, [row.values["lpips_alex"] for row in whole], rtol=1e-5)
    assert all(row.error is None for row in sized)


def test_a_pair_larger_than_the_memory_is_its_items_error(stand_in, monkeypatch, passes):
    x, y = _pairs(2)
    _available(monkeypatch, network_values, 1)
    rows = likeness.compare_tensors(x, y, metrics="psnr,lpips", device="cpu",
                                    weights={"alexnet": stand_in["alexnet"]})
    assert passes == []
    for row in rows:
        assert "psnr" in row.values  # the pixel metrics are computed
        assert "lpips_alex: LPIPS v0.1 AlexNet needs about 0.4 MiB of memory for a pair of " \
               "48x48 images, more than the 0.3 MiB available" in row.error


def test_compare_says_which_pairs_are_too_large_and_goes_on(stand_in, monkeypatch, golden,
                                                            tmp_path):
    golden.arrange_models(tmp_path, ("blur",), ("astronaut", "coffee"))
    ref, out = tmp_path / "ref", tmp_path / "blur"
    monkeypatch.setattr(network_values, "available_bytes", lambda device="cpu": 2**20)
    result = CliRunner().invoke(main, [
        "compare", str(ref), str(out), "--metrics", "ssim,lpips", "--weights",
        f"alexnet={stand_in['alexnet']}", "--no-cache", "--out-dir", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert "needs about" in result.output
    assert "MiB of memory for a pair of" in result.output
    assert "Traceback" not in result.output
    per_image = (tmp_path / "run" / "per_image.csv").read_text()
    assert "needs about" in per_image


def test_art_inception_passes_fit_the_memory_with_the_same_features(
        golden_weights, tmp_path, monkeypatch):
    from likeness.evaluation.sets.extractor import FeatureExtractor

    path = golden_weights.save_checkpoint("art_inception", 3, tmp_path / "art.pth")
    extractor = FeatureExtractor(path, device="cpu", network="art_inception")
    batch = [np.random.default_rng(i).random((3, 96, 80), dtype=np.float32)
             for i in range(5)]
    sizes: list[int] = []
    features = extractor.spec.features

    def counted(network, inputs):
        sizes.append(int(inputs.shape[0]))
        return features(network, inputs)

    monkeypatch.setattr(extractor, "spec", dataclasses.replace(extractor.spec,
                                                               features=counted))
    whole = extractor.features(batch)
    _available(monkeypatch, extractor_module, 4, pixels=96 * 80, network="art_inception")
    sized = extractor.features(batch)  # half the memory: 2 images a pass
    assert sizes == [5, 2, 2, 1]
    np.testing.assert_allclose(sized, whole, rtol=1e-5, atol=1e-6)


def test_a_pixel_metric_refuses_a_pair_larger_than_the_memory(monkeypatch, tmp_path, golden):
    """Checked only where a pair could matter (256 MiB by the metric's figure): here a
    pair of 2,000 × 1,000 (IW-SSIM's 660 bytes a pixel: 1.2 GiB) against 1 GiB."""
    import likeness.evaluation.engines.compute as compute

    reads: list[str] = []

    def available(device="cpu"):
        reads.append(device)
        return 2**30

    monkeypatch.setattr(compute, "available_bytes", available)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, 3, 1000, 2000), dtype=np.uint8)
    rows = likeness.compare_tensors(x, x[:, :, ::-1].copy(), metrics="psnr,iw-ssim",
                                    device="cpu")
    assert rows[0].values.keys() == {"psnr"}  # PSNR's 75 bytes a pixel: not checked
    assert reads == ["cpu"]
    assert rows[0].error == (
        "iw_ssim: IW-SSIM needs about 1.2 GiB of memory for a pair of 2000x1000 images, "
        "more than the 1.0 GiB available: free memory, compare smaller images, or use a "
        "machine with more memory")
    reads.clear()
    small = likeness.compare_tensors(x[:, :, :64, :64], x[:, :, :64, :64], metrics="iw-ssim")
    assert reads == []
    assert small[0].error is not None  # IW-SSIM's own minimum side, not the memory
    assert "memory" not in small[0].error


def test_the_reports_lpips_map_of_a_pair_too_large_is_missing_with_why(
        stand_in, monkeypatch, golden, tmp_path):
    from likeness.evaluation.engines import maps

    # a report shows pairs from three on
    golden.arrange_models(tmp_path, ("blur",), ("astronaut", "coffee", "chelsea"))
    ref, out = tmp_path / "ref", tmp_path / "blur"
    result = likeness.compare(ref, out, metrics="ssim,lpips", out_dir=tmp_path / "run",
                              weights={"alexnet": str(stand_in["alexnet"])}, cache=False)
    monkeypatch.setattr(maps, "available_bytes", lambda device="cpu": 2**20)
    report = likeness.write_report(result.out_dir)
    page = report.read_text(encoding="utf-8")
    assert "LPIPS (alex) maps unavailable: LPIPS v0.1 AlexNet needs about " in page
    assert "MiB of memory for a pair of " in page
    assert "images, more than the 1.0 MiB available" in page


def test_a_convention_that_takes_more_memory_is_sized_by_its_own_figure(monkeypatch):
    import likeness.evaluation.engines.compute as compute

    monkeypatch.setattr(compute, "available_bytes", lambda device="cpu": 500 * 2**20)
    x = np.zeros((1, 3, 2000, 2000), dtype=np.uint8)
    assert METRICS["ssim"].memory_per_pixel(SimpleNamespace(ssim_convention="wang2004")) == 165
    plain = likeness.compare_tensors(x, x, metrics="ssim")  # 75 bytes a pixel: 286 MiB
    assert plain[0].error is None
    gaussian = likeness.compare_tensors(x, x, metrics="ssim", ssim_convention="wang2004")
    assert "SSIM needs about 629.4 MiB of memory for a pair of 2000x2000 images" in (
        gaussian[0].error)


def test_a_pair_refused_for_memory_is_not_cached(stand_in, monkeypatch, golden, tmp_path):
    """Too little memory is this machine's, now: a later run with enough computes the
    value instead of reading the refusal back from the cache."""
    import likeness.evaluation.engines.compute as compute

    golden.arrange_models(tmp_path, ("blur",), ("astronaut", "coffee"))
    weights = {"alexnet": str(stand_in["alexnet"])}

    def run(name):
        result = likeness.compare(tmp_path / "ref", tmp_path / "blur", metrics="psnr,lpips",
                                  out_dir=tmp_path / name, weights=weights)
        return result.rows

    with monkeypatch.context() as patched:
        patched.setattr(network_values, "available_bytes", lambda device="cpu": 2**10)
        patched.setattr(compute, "_WORTH_CHECKING", 0)
        patched.setattr(compute, "available_bytes", lambda device="cpu": 2**10)
        refused = run("small")
    assert all("needs about" in row.error for row in refused)
    assert all(row.values == {} for row in refused)
    later = run("enough")
    assert all(row.error is None for row in later)
    assert all(set(row.values) == {"psnr", "lpips_alex"} for row in later)
    assert not any(row.cached for row in later)


@pytest.mark.parametrize("workers", [1, 2])
def test_images_decoded_ahead_stay_within_the_budget(workers):
    """Results finished ahead of a slow consumer hold ``budget`` bytes at most (the window
    of 20 would have held 20 images); without a budget, the whole window is read ahead."""
    import threading
    import time

    from likeness.evaluation.infra.pipeline import ordered_map

    image = 2**20
    lock = threading.Lock()
    held, most = [0], [0]

    def decode(index):
        with lock:
            held[0] += 1
            most[0] = max(most[0], held[0])
        return np.zeros(image, np.uint8)

    def consume(**sizing):
        held[0] = most[0] = 0
        for index, (item, result, error) in enumerate(ordered_map(
                decode, range(30), workers=workers, window=20, **sizing)):
            assert (item, error, result.nbytes) == (index, None, image)
            time.sleep(0.005)  # the computation: slower than decoding
            with lock:
                held[0] -= 1
        return most[0]

    assert consume(weigh=lambda array: array.nbytes, budget=3 * image) <= 3 + 1
    assert consume() > 10


def test_a_batch_gathers_images_up_to_the_budget_with_the_same_values(monkeypatch, golden,
                                                                       stand_in, tmp_path):
    """A run's batches close at ``--batch-size`` images or at the decoding budget's bytes,
    whichever comes first; the values are the same."""
    import likeness.evaluation.engines.local as local
    from likeness.evaluation.engines.compute import ItemComputer

    golden.arrange_models(tmp_path, ("blur", "noise"), ("astronaut", "chelsea", "coffee"))
    batches: list[int] = []
    launch = ItemComputer.launch

    def spy(self, groups):
        batches.append(len(groups))
        return launch(self, groups)

    monkeypatch.setattr(ItemComputer, "launch", spy)

    def run(name):
        batches.clear()
        rows = likeness.compare(tmp_path / "ref", [tmp_path / "blur", tmp_path / "noise"],
                                metrics="psnr,lpips", cache=False, out_dir=tmp_path / name,
                                weights={"alexnet": str(stand_in["alexnet"])}).rows
        return [(row.model, row.reference, row.values) for row in rows], list(batches)

    whole, whole_batches = run("whole")
    assert whole_batches == [3]  # 9 images, a batch of 16
    monkeypatch.setattr(local, "decoding_budget", lambda: 1)  # each group over it
    sized, sized_batches = run("sized")
    assert sized_batches == [1, 1, 1]
    assert sized == whole
