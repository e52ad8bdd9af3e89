"""LPIPS against the lpips package's values (tests/data/golden, lpips 0.1.4 v0.1), with the
stand-in backbones of tests/data/golden/weights.py loaded through likeness's own loader."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from likeness import LPIPS, ImageTooSmallError, InvalidInputError, WeightsError, compare_files
from likeness.cli import main
from likeness.nets.backbones import build_backbone

TORCHVISION_NAMES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


def _signed(golden, name):
    pixels = torch.from_numpy(golden.rgb(name)).permute(2, 0, 1)[None].float()
    return pixels / 255 * 2 - 1


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_lpips_matches_the_lpips_package(golden, stand_in, net):
    metric = LPIPS(net=net, backbone_weights=stand_in[TORCHVISION_NAMES[net]])
    assert metric.weights.source == "user-supplied"
    for pair in golden.pairs:
        value = metric(_signed(golden, pair["reference"]), _signed(golden, pair["test"]))
        assert value.shape == (1, 1, 1, 1)
        assert value.item() == pytest.approx(pair["lpips"][net], abs=1e-5), pair["test"]


def test_spatial_map_matches_the_lpips_package(golden, stand_in):
    metric = LPIPS(net="alex", spatial=True, backbone_weights=stand_in["alexnet"])
    pair = golden.pairs[0]
    got = metric(_signed(golden, pair["reference"]), _signed(golden, pair["test"]))
    want = golden.array("lpips_alex_spatial")
    assert tuple(got.shape) == want.shape
    assert float(np.abs(got.numpy() - want).max()) <= 1e-5


def test_normalize_takes_unit_range_inputs(golden, stand_in):
    metric = LPIPS(net="alex", backbone_weights=stand_in["alexnet"])
    pair = golden.pairs[1]
    x, y = _signed(golden, pair["reference"]), _signed(golden, pair["test"])
    torch.testing.assert_close(metric((x + 1) / 2, (y + 1) / 2, normalize=True), metric(x, y))


def test_properties_identity_symmetry_and_batch(golden, stand_in):
    metric = LPIPS(net="alex", backbone_weights=stand_in["alexnet"])
    pair = golden.pairs[0]
    x, y = _signed(golden, pair["reference"]), _signed(golden, pair["test"])
    assert metric(x, x).item() == 0.0
    assert metric(x, y).item() == pytest.approx(metric(y, x).item(), rel=1e-5)
    batched = metric(torch.cat([x, x, y]), torch.cat([y, x, x])).flatten()
    torch.testing.assert_close(batched, torch.stack(
        [metric(x, y).flatten()[0], metric(x, x).flatten()[0], metric(y, x).flatten()[0]]),
        atol=1e-6, rtol=1e-5)


def test_gradients_reach_the_inputs_and_weights_stay_frozen(golden, stand_in):
    metric = LPIPS(net="squeeze", backbone_weights=stand_in["squeezenet1_1"])
    x = _signed(golden, "coffee.png").requires_grad_(True)
    y = _signed(golden, "coffee__blur.png")
    metric(x, y).sum().backward()
    assert x.grad is not None
    assert x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in metric.parameters())


def test_out_of_range_inputs_warn(golden, stand_in):
    metric = LPIPS(net="alex", backbone_weights=stand_in["alexnet"])
    x = torch.from_numpy(golden.rgb("coffee.png")).permute(2, 0, 1)[None].float()
    with pytest.warns(UserWarning, match=r"expects inputs in \[-1, 1\].*normalize=True"):
        metric(x, x)
    with pytest.warns(UserWarning, match=r"expects inputs in \[0, 1\]"):
        metric(x / 255 * 2 - 1, x / 255 * 2 - 1, normalize=True)


def test_nan_or_infinite_inputs_warn_that_the_distance_is_nan(golden, stand_in):
    """They passed the range check (a comparison with NaN is false) without a word."""
    metric = LPIPS(net="alex", backbone_weights=stand_in["alexnet"])
    x = _signed(golden, "coffee.png")
    for bad in (float("nan"), float("inf"), -float("inf")):
        damaged = x.clone()
        damaged[0, 1, 5, 7] = bad
        with pytest.warns(UserWarning, match="NaN or infinite inputs, so its distances are NaN"):
            assert metric(x, damaged).isnan().all()


def test_the_lpips_function_refuses_what_is_not_a_tensor():
    """It read ``x.device`` first: AttributeError: 'list' object has no attribute 'device'."""
    from likeness import InvalidInputTypeError, lpips

    for value, words in [([[0.5]], r"x must be an \(N, 3, H, W\) torch tensor, got \[\[0\.5\]\]"),
                         (np.zeros((1, 3, 8, 8)), "x must be .* got a numpy.ndarray of shape")]:
        with pytest.raises(InvalidInputTypeError, match=words):
            lpips(value, torch.zeros(1, 3, 8, 8))
    with pytest.raises(InvalidInputTypeError, match="y must be .* got None"):
        lpips(torch.zeros(1, 3, 8, 8), None)


def test_checkpoint_keys_are_checked(tmp_path, stand_in):
    state = torch.load(stand_in["alexnet"], weights_only=True)
    state["classifier.1.weight"] = torch.zeros(4096, 9216)  # real files carry it: ignored
    torch.save(state, tmp_path / "with_classifier.pth")
    LPIPS(net="alex", backbone_weights=tmp_path / "with_classifier.pth")
    del state["features.3.weight"]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match=r"features\.3\.weight"):
        LPIPS(net="alex", backbone_weights=tmp_path / "missing.pth")
    state = torch.load(stand_in["alexnet"], weights_only=True)
    state["features.0.weight"] = torch.zeros(32, 3, 11, 11)
    torch.save(state, tmp_path / "misshapen.pth")
    with pytest.raises(WeightsError, match=r"features\.0\.weight has shape \(32, 3, 11, 11\)"):
        LPIPS(net="alex", backbone_weights=tmp_path / "misshapen.pth")
    with pytest.raises(WeightsError, match="is it a checkpoint of vgg16"):
        LPIPS(net="vgg", backbone_weights=stand_in["alexnet"])


def test_state_dict_keys_equal_torchvision_names(golden):
    import json

    for name in ("alexnet", "vgg16", "vgg19", "squeezenet1_1"):
        manifest = json.loads((golden.root / "manifests" / f"{name}.json").read_text())
        want = {entry["key"]: tuple(entry["shape"]) for entry in manifest}
        got = {k: tuple(v.shape) for k, v in build_backbone(name).state_dict().items()}
        assert got == want


def test_missing_weights_error_says_what_to_do(golden, tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("LIKENESS_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsError, match=r"likeness weights import alexnet-owt-7be5be79\.pth"):
        LPIPS(net="alex")


def test_compare_files_and_cli_compute_lpips(golden, stand_in, tmp_path):
    pair = golden.pairs[2]
    a, b = golden.image_path(pair["reference"]), golden.image_path(pair["test"])
    values = compare_files(a, b, metrics=["lpips", "lpips-vgg"], device="cpu",
                           weights={"alexnet": str(stand_in["alexnet"]),
                                    "vgg16": str(stand_in["vgg16"])})
    assert values["lpips_alex"] == pytest.approx(pair["lpips"]["alex"], abs=1e-5)
    assert values["lpips_vgg"] == pytest.approx(pair["lpips"]["vgg"], abs=1e-5)

    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    shutil.copy(a, ref / "x.png")
    shutil.copy(b, out / "x.png")
    result = CliRunner().invoke(main, [
        "compare", str(ref), str(out), "--metrics", "lpips-squeeze,ssim", "--device", "cpu",
        "--weights", f"squeezenet1_1={stand_in['squeezenet1_1']}", "--out",
        str(tmp_path / "r.csv")])
    assert result.exit_code == 0, result.output
    header, row = (tmp_path / "r.csv").read_text().splitlines()[:2]
    assert header.startswith("reference,test,lpips_squeeze,ssim")
    assert float(row.split(",")[2]) == pytest.approx(pair["lpips"]["squeeze"], abs=1e-5)


def test_gray_images_are_replicated_for_lpips_and_recorded(golden, stand_in, tmp_path):
    result = CliRunner().invoke(main, [
        "compare", str(golden.image_path("small_gray.png")),
        str(golden.image_path("small_gray__blur.png")), "--metrics", "lpips",
        "--weights", f"alexnet={stand_in['alexnet']}", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "gray replicated to RGB for LPIPS" in result.stderr


def test_bad_weights_option_is_a_usage_error(golden):
    result = CliRunner().invoke(main, [
        "compare", str(golden.image_path("coffee.png")), str(golden.image_path("coffee.png")),
        "--weights", "resnet=x.pth"])
    assert result.exit_code == 2


def test_missing_weights_fail_each_pair_without_rebuilding(golden, tmp_path, monkeypatch):
    import likeness.nets.lpips as lpips_module
    from likeness import compare_folders

    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("LIKENESS_WEIGHTS_DIR", raising=False)
    builds = []
    original_init = lpips_module.LPIPS.__init__

    def counting_init(self, *args, **kwargs):
        builds.append(kwargs)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(lpips_module.LPIPS, "__init__", counting_init)
    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    for name in ("astronaut", "coffee"):
        shutil.copy(golden.image_path(f"{name}.png"), ref / f"{name}.png")
        shutil.copy(golden.image_path(f"{name}__blur.png"), out / f"{name}.png")
    result = compare_folders(ref, out, metrics="ssim,lpips", device="cpu")
    assert len(builds) == 0  # the weights are resolved once, before any network is built
    assert all("likeness weights import" in row.error for row in result.rows)
    assert all("ssim" in row.values for row in result.rows)


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_input_gradients_match_the_lpips_package(stand_in, net):
    # pinned by references/make_lpips_gradients.py (lpips 0.1.4, torch 2.13.0 CPU, the
    # golden stand-in backbones): LPIPS as a training loss
    from pathlib import Path

    pinned = np.load(Path(__file__).parent / "data" / "lpips_gradients.npz")
    metric = LPIPS(net=net, backbone_weights=stand_in[TORCHVISION_NAMES[net]])
    x = torch.from_numpy(pinned["x"]).requires_grad_(True)
    metric(x, torch.from_numpy(pinned["y"])).sum().backward()
    want = pinned[f"grad_{net}"]
    error = np.abs(x.grad.numpy() - want).max()
    assert error <= 1e-4 * np.abs(want).max()
    with torch.inference_mode():  # no gradient asked for: the fast layout, same value
        fast = metric(torch.from_numpy(pinned["x"]), torch.from_numpy(pinned["y"]))
    assert fast.sum().item() == pytest.approx(
        metric(torch.from_numpy(pinned["x"]), torch.from_numpy(pinned["y"])).sum().item(),
        rel=1e-5)


def test_gradients_take_the_lpips_layout_and_values_the_fast_one(stand_in):
    # lpips runs its backbone on contiguous (N, C, H, W) tensors: a training loss gets its
    # kernels (and so its float32 gradients); no gradient asked for, channels-last is faster
    metric = LPIPS(net="vgg", backbone_weights=stand_in["vgg16"])
    layouts: list[bool] = []

    def record(module, inputs, output):
        layouts.append(inputs[0].is_contiguous())

    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    hook = metric.backbone.features[0].register_forward_hook(record)
    with torch.inference_mode():
        metric(x, y)
    hook.remove()
    assert layouts == [False]  # channels-last
    layouts.clear()
    copy = metric._backbone_for_gradients()
    copy.features[0].register_forward_hook(record)
    metric(x.requires_grad_(True), y).sum().backward()
    assert layouts == [True]
    with torch.no_grad():  # changed in place (as load_state_dict does): copied again
        metric.backbone.features[0].weight.mul_(2)
    assert metric._backbone_for_gradients() is not copy


def test_distances_without_a_gradient_equal_lpips_own_operations():
    """No gradient asked for: one ``vector_norm`` pass and the square taken in place;
    with one: lpips' operations.  Same values either way (an all-zero feature vector
    included), and the features passed in are left as they were."""
    from likeness.metrics.lpips import lpips_from_features, unit_normalize

    torch.manual_seed(0)
    fx, fy = torch.randn(2, 8, 5, 6).relu(), torch.randn(2, 8, 5, 6).relu()
    fx[0, :, 1, 2] = 0
    heads = [torch.rand(1, 8, 1, 1)]
    kept = fx.clone(), fy.clone()
    with torch.no_grad():
        fast = lpips_from_features([fx], [fy], heads)
        normalized = unit_normalize(fx)
    assert torch.equal(fx, kept[0])
    assert torch.equal(fy, kept[1])
    graph = lpips_from_features([fx.clone().requires_grad_(True)], [fy], heads)
    assert graph.requires_grad
    torch.testing.assert_close(fast, graph.detach(), rtol=1e-6, atol=0)

    def lpips_way(f):
        return f / (torch.sqrt(torch.sum(f**2, dim=1, keepdim=True)) + 1e-10)

    torch.testing.assert_close(normalized, lpips_way(fx), rtol=1e-6, atol=1e-7)
    want = (((lpips_way(fx) - lpips_way(fy)) ** 2).mean((2, 3), keepdim=True)
            * heads[0]).sum(1, keepdim=True)
    torch.testing.assert_close(fast, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_inputs_the_network_cannot_take_are_one_clear_error(stand_in, net):
    """Images smaller than the layers LPIPS reads (the least side, from their geometry: a
    side one pixel less fails in torch itself), an empty batch; float64 images are computed
    in the network's precision, as float16 ones already were."""
    from likeness.nets.backbones import smallest_side
    from likeness.nets.lpips import LPIPS_NETS

    backbone_name, taps = LPIPS_NETS[net]
    metric = LPIPS(net=net, backbone_weights=stand_in[backbone_name])
    need = smallest_side(list(metric.backbone.features)[:max(taps) + 1])
    x = torch.rand(2, 3, need, need + 3) * 2 - 1
    y = (x * 0.9).clamp(-1, 1)
    with torch.no_grad():
        metric(x, y)
        # in the words the pixel metrics use, as a run's row shows it
        with pytest.raises(ImageTooSmallError, match=f"at least {need} px a side .*; these "
                           f"are {need + 3}x{need - 1}"):
            metric(x[:, :, :need - 1], y[:, :, :need - 1])
        with pytest.raises(InvalidInputError, match="at least one image"):
            metric(x[:0], y[:0])
        assert torch.equal(metric(x.double(), y.double()), metric(x, y))
        with pytest.raises(RuntimeError):  # the network itself: one pixel less fails
            torch.nn.Sequential(*list(metric.backbone.features)[:max(taps) + 1])(
                x[:, :, :need - 1])


def test_lpips_switches_are_true_or_false(stand_in):
    """``spatial="no"`` returned the per-pixel maps, ``normalize="no"`` rescaled [0, 1]
    images (any text is true); ``version=0.1`` (a number, which the lpips package takes as
    well) was refused as "got 0.1".  The switches take True or False (NumPy's too)."""
    import numpy as np

    from likeness import LPIPS, InvalidInputTypeError

    with pytest.raises(InvalidInputTypeError, match="spatial must be True or False, got 'no'"):
        LPIPS(net="alex", spatial="no", backbone_weights=stand_in["alexnet"])
    model = LPIPS(net="alex", version=0.1, backbone_weights=stand_in["alexnet"])
    assert model.version == "0.1"
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for value in ("no", None, 1):
        with pytest.raises(InvalidInputTypeError, match="normalize must be True or False"):
            model(x, x * 0.9, normalize=value)
    assert torch.equal(model(x, x * 0.9, normalize=np.bool_(True)),
                       model(x, x * 0.9, normalize=True))
