"""FID and KID: the Inception network against pytorch-fid's features, the distances against
pytorch-fid's and the golden values, closed forms, and whole folders end to end.

Golden values (tests/data/golden/README.md): ``fid_features.npy`` are pytorch-fid 0.3.0
``InceptionV3([3])`` features with ``make_state_dict("pt_inception", fid_seed)``;
``frechet_xy`` is its ``calculate_frechet_distance``; ``kid_xy`` the unbiased MMD².
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from scipy import linalg

from likeness import (
    InceptionFeatures,
    InvalidInputError,
    LikenessError,
    __version__,
    compare,
    evaluate_style,
    fid,
    frechet_distance,
    kid,
    kid_folders,
)
from likeness.cli import main
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.infra.cache import Cache
from likeness.evaluation.sets.features import (
    FeatureExtractor,
    load_statistics,
    save_statistics,
    set_features,
)
from likeness.metrics.fid import feature_statistics, frechet_distance_of_features
from likeness.nets.inception_features import clean_resize, fid_input


@pytest.fixture(scope="module")
def network(fid_weights):
    return InceptionFeatures(weights=fid_weights)


def _unit_batch(golden, names):
    from likeness.io import load_image

    return torch.stack([fid_input(load_image(golden.image_path(n)).pixels) for n in names])


def _assert_features_close(got, want):
    error = float(np.abs(got - want).max())
    assert error <= 1e-4 * float(np.abs(want).max()), error


def test_features_match_pytorch_fid(golden, network):
    names = golden.expected["fid_feature_order"]
    want = golden.array("fid_features")
    with torch.inference_mode():
        got = network.features_of_resized(_unit_batch(golden, names)).numpy()
    assert got.shape == (len(names), 2048)
    _assert_features_close(got, want)


def test_forward_resizes_inside_the_network_as_pytorch_fid(golden, network):
    """(N, 3, H, W) in [0, 1] of any size: the module resizes; same values as fid_input."""
    names = golden.expected["fid_feature_order"][:3]
    images = [torch.from_numpy(golden.rgb(n)).permute(2, 0, 1).float() / 255 for n in names]
    assert len({tuple(i.shape) for i in images}) == 1
    with torch.inference_mode():
        got = network(torch.stack(images)).numpy()
    _assert_features_close(got, golden.array("fid_features")[:3])



def test_inputs_the_network_cannot_take_are_one_clear_error(network):
    """Integer images are not in [0, 1] (the user divides by 255, as pytorch-fid's loader
    does); an empty side has nothing to resize; float64 and float16 are computed in the
    network's float32."""
    x = torch.rand(2, 3, 40, 36)
    with torch.no_grad():
        with pytest.raises(InvalidInputError, match="pass images.float\\(\\) / 255"):
            network((x * 255).to(torch.uint8))
        with pytest.raises(InvalidInputError, match="at least a pixel"):
            network(x[:, :, :0])
        assert torch.equal(network(x.double()), network(x))
        assert torch.equal(network(x.half()), network(x.half().float()))

def test_folded_route_equals_the_layer_by_layer_route(golden, network):
    x = _unit_batch(golden, golden.expected["fid_feature_order"][:2])
    with torch.inference_mode():
        fast = network.trunk(2 * x - 1).numpy()
        plain = network.trunk.reference_forward(2 * x - 1).numpy()
    _assert_features_close(fast, plain)


def test_state_dict_keys_are_pytorch_fids(golden_weights, network):
    published = {e["key"] for e in golden_weights.manifest("pt_inception")}
    own = set(network.trunk.state_dict())
    assert own == {k for k in published if not k.startswith("fc.")}


def test_gradients_flow_through_the_layer_by_layer_route(network):
    x = torch.rand(1, 3, 80, 80, requires_grad=True)
    network(x).sum().backward()
    assert x.grad is not None
    assert float(x.grad.abs().sum()) > 0


def test_wrong_checkpoint_is_refused(stand_in):
    with pytest.raises(LikenessError, match="lacks .* key"):
        InceptionFeatures(weights=stand_in["alexnet"])


def test_fid_input_identity_at_299_and_16_bit_scaling():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (299, 299, 3), dtype=np.uint8)
    tensor = fid_input(pixels)
    assert torch.equal(tensor, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    deep = pixels.astype(np.uint16) * 257
    assert torch.allclose(fid_input(deep), tensor, atol=1e-7)
    with pytest.raises(ValueError, match="RGB"):
        fid_input(pixels[:, :, :1])


def test_clean_resize_is_pillow_bicubic_per_float_channel():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    got = clean_resize(pixels)
    for c in range(3):
        plane = Image.fromarray(pixels[:, :, c].astype(np.float32), mode="F")
        want = np.asarray(plane.resize((299, 299), Image.Resampling.BICUBIC)).clip(0, 255)
        np.testing.assert_allclose(got[:, :, c], want / 255, rtol=0, atol=1e-7)
    assert not np.allclose(got, fid_input(pixels).permute(1, 2, 0).numpy(), atol=1e-3)


# --- distances ------------------------------------------------------------------------


def _pytorch_fid_way(mu1, sigma1, mu2, sigma2):
    """calculate_frechet_distance's arithmetic: scipy sqrtm of the product."""
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)


def test_frechet_matches_the_golden_value(golden):
    x, y = golden.array("frechet_x"), golden.array("frechet_y")
    got = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0),
                           np.cov(y, rowvar=False))
    assert got == pytest.approx(golden.expected["frechet_xy"], rel=1e-6)
    assert frechet_distance_of_features(x, y) == pytest.approx(got, rel=1e-9)


def test_frechet_matches_the_pytorch_fid_arithmetic_on_random_statistics():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 40))
    y = rng.normal(size=(250, 40)) @ rng.normal(size=(40, 40)) * 0.3 + 0.5
    stats = (*feature_statistics(x), *feature_statistics(y))
    assert frechet_distance(*stats) == pytest.approx(_pytorch_fid_way(*stats), rel=1e-9)


def test_frechet_closed_forms():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(30, 30))
    sigma = a @ a.T + np.eye(30)
    mu1, mu2 = rng.normal(size=30), rng.normal(size=30)
    # equal covariances: only the means differ
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
        float((mu1 - mu2) @ (mu1 - mu2)), rel=1e-9)
    assert frechet_distance(mu1, sigma, mu1, sigma) == pytest.approx(0.0, abs=1e-8)
    # isotropic Gaussians: (s1 - s2)² per dimension
    assert frechet_distance(mu1, 4 * np.eye(30), mu1, 9 * np.eye(30)) == pytest.approx(30.0)
    # symmetric in its arguments
    other = sigma + np.diag(np.arange(30.0))
    assert frechet_distance(mu1, sigma, mu2, other) == pytest.approx(
        frechet_distance(mu2, other, mu1, sigma), rel=1e-10)


def test_singular_covariances_give_a_real_value_and_a_warning(golden):
    features = golden.array("fid_features")
    order = {n: i for i, n in enumerate(golden.expected["fid_feature_order"])}
    sets = golden.expected["fid_sets"]
    a = features[[order[n] for n in sets["a"]]]
    b = features[[order[n] for n in sets["b"]]]
    with pytest.warns(UserWarning, match="singular"):
        via_features = frechet_distance_of_features(a, b)
    with pytest.warns(UserWarning, match="singular"):
        stats = (*feature_statistics(a), *feature_statistics(b))
    via_statistics = frechet_distance(*stats)
    assert isinstance(via_statistics, float)
    # pytorch-fid's sqrtm is itself ill-conditioned here: the README says compare loosely
    assert via_features == pytest.approx(sets["fid"], rel=1e-4)
    assert via_statistics == pytest.approx(sets["fid"], rel=1e-4)


def test_a_set_of_one_image_is_refused_by_name_not_by_scipy():
    """One row has no covariance: ``frechet_distance_of_features`` raised scipy's "A has a
    NaN entry" after a division by zero."""
    x, y = np.random.default_rng(0).normal(size=(1, 8)), np.random.default_rng(1).normal(
        size=(5, 8))
    said = "needs at least 2 images in each set for their covariance, got 1 and 5"
    with pytest.raises(InvalidInputError, match=said):
        frechet_distance_of_features(x, y)
    with pytest.raises(InvalidInputError, match="got 1$"):
        feature_statistics(x)


def test_frechet_refuses_bad_statistics():
    with pytest.raises(ValueError, match="covariances must be"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(2), np.full((2, 2), np.nan), np.zeros(2), np.eye(2))


def test_kid_matches_the_golden_value(golden):
    x, y = golden.array("frechet_x"), golden.array("frechet_y")
    mean, std = kid(x, y, subset_size=None)
    assert mean == pytest.approx(golden.expected["kid_xy"], rel=1e-6)
    assert std == 0.0


def _mmd2_equal_sizes(x, y):
    """torch-fidelity's unbiased estimator for equal subset sizes, written out."""
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    m = x.shape[0]
    off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return off - 2 * kxy.sum() / (m * m)


def test_kid_subsets_are_drawn_as_torch_fidelity_draws_them():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 16)), rng.normal(size=(30, 16)) + 0.2
    mean, std = kid(x, y, subset_size=10, subsets=7, seed=11)
    draw = np.random.RandomState(11)
    values = []
    for _ in range(7):
        xs = x[draw.choice(40, 10, replace=False)]
        ys = y[draw.choice(30, 10, replace=False)]
        values.append(_mmd2_equal_sizes(xs, ys))
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert std == pytest.approx(np.std(values), rel=1e-12)
    assert kid(x, y, subset_size=10, subsets=7, seed=11) == (mean, std)
    assert kid(x, y, subset_size=10, subsets=7, seed=12) != (mean, std)


def test_kid_is_symmetric_and_near_zero_for_one_distribution():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(150, 8))
    assert kid(x, y, subset_size=None)[0] == pytest.approx(kid(y, x, subset_size=None)[0])
    assert abs(kid(x, y, subset_size=None)[0]) < 0.05
    assert kid(x, y + 1.0, subset_size=None)[0] > 0.5


def test_kid_subset_larger_than_a_set_says_what_to_pass():
    x = np.zeros((20, 4))
    with pytest.raises(ValueError, match=r"20 and 20 images; pass subset_size=20 or smaller"):
        kid(x, x, subset_size=1000)


# --- folders --------------------------------------------------------------------------


@pytest.fixture
def fid_folders(golden, tmp_path):
    sets = golden.expected["fid_sets"]
    folders = {}
    for label in ("a", "b"):
        folder = tmp_path / label
        folder.mkdir()
        for name in sets[label]:
            shutil.copy(golden.image_path(name), folder / name)
        folders[label] = folder
    return folders


def test_fid_of_folders_matches_pytorch_fid_and_caches(golden, fid_weights, fid_folders,
                                                       tmp_path):
    database = tmp_path / "cache.sqlite"
    with pytest.warns(UserWarning, match="singular") as warned:
        first = fid(fid_folders["a"], fid_folders["b"], weights=fid_weights, cache=database)
    # each small set by its folder, once ("a set has 4 images" said neither which nor once)
    assert sorted(str(w.message).split(": the set has")[0] for w in warned
                  if "singular" in str(w.message)) == sorted(map(str, fid_folders.values()))
    assert first.value == pytest.approx(golden.expected["fid_sets"]["fid"], rel=1e-4)
    assert [s.cached for s in first.sets] == [0, 0]
    assert first.settings["resize"] == "pytorch-fid"
    assert first.settings["weights_source"] == "user-supplied"
    with pytest.warns(UserWarning, match="singular"):
        second = fid(fid_folders["a"], fid_folders["b"], weights=fid_weights, cache=database)
    assert [s.cached for s in second.sets] == [4, 20]
    assert second.value == first.value
    # features equal the golden ones, in the folder's (sorted) order
    order = {n: i for i, n in enumerate(golden.expected["fid_feature_order"])}
    want = golden.array("fid_features")[[order[n] for n in second.sets[1].files]]
    _assert_features_close(second.sets[1].features, want)


def test_fid_walks_each_folder_once(fid_weights, fid_folders, tmp_path, monkeypatch):
    """The check that no file reaches both sets through a link reads the folders' files;
    the sets are built from that same scan, not a second one."""
    import likeness.io.files as files_module

    walked: list[str] = []
    walk = files_module._walk

    def counting(folder, *args, **kwargs):
        walked.append(str(folder))
        return walk(folder, *args, **kwargs)

    monkeypatch.setattr(files_module, "_walk", counting)
    with pytest.warns(UserWarning, match="singular"):
        fid(fid_folders["a"], fid_folders["b"], weights=fid_weights, cache=False)
    assert sorted(walked) == sorted([str(fid_folders["a"]), str(fid_folders["b"])])


def test_a_second_fid_run_does_not_hash_its_checkpoint_again(fid_weights, fid_folders,
                                                              tmp_path, monkeypatch):
    import likeness.evaluation.infra.cache as cache_module
    import likeness.nets.weights as weights_module

    monkeypatch.setattr(cache_module, "RACY_SECONDS", 0.0)  # the stand-in was just written
    hashed: list[Path] = []
    original = cache_module.file_digest
    monkeypatch.setattr(cache_module, "file_digest",
                        lambda path: (hashed.append(Path(path)), original(path))[1])
    monkeypatch.setattr(weights_module, "file_sha256", lambda path: pytest.fail(
        f"{path} hashed outside the run's cache"))
    database = tmp_path / "cache.sqlite"
    for run in range(2):  # each as a new process: nothing remembered in memory
        monkeypatch.setattr(weights_module, "_hashed", {})
        with pytest.warns(UserWarning, match="singular"):
            result = fid(fid_folders["a"], fid_folders["b"], weights=fid_weights,
                         cache=database)
        assert (Path(fid_weights) in hashed) == (run == 0)
        assert result.settings["weights_sha256"] == original(fid_weights)
        hashed.clear()


def test_a_fid_record_says_how_its_features_were_computed(fid_weights, fid_folders,
                                                         tmp_path):
    database = tmp_path / "cache.sqlite"
    records = []
    for _ in range(2):  # computed, then every feature from the cache
        with pytest.warns(UserWarning, match="singular"):
            result = fid(fid_folders["a"], fid_folders["b"], weights=fid_weights,
                         cache=database, device="cpu", workers=2, decoding="threads")
        records.append(result.record())
    assert [r["device"] for r in records] == ["cpu", None]
    assert records[0]["arguments"] == {"device": "cpu", "decoding": "threads", "workers": 2,
                                       "batch_size": 32}
    assert records[0]["versions"]["likeness"] == __version__
    assert records[0]["settings"] == records[1]["settings"]  # what the features depend on


def test_a_compare_run_of_a_set_metric_records_where_it_computed(fid_weights, fid_folders,
                                                                 tmp_path):
    devices = []
    for _ in range(2):  # computed, then every feature from the cache
        with pytest.warns(UserWarning, match="singular"):
            results = compare(fid_folders["a"], fid_folders["b"], metrics="fid",
                              weights={"pt_inception": str(fid_weights)},
                              device="cpu", cache=tmp_path / "cache.sqlite")
        devices.append(results.record["device"])
    assert devices == ["cpu", None]


def test_fid_of_models_with_sets_of_different_sizes_shows_each_n_and_no_best(
        fid_weights, fid_folders, tmp_path):
    """FID is biased by a set's size: models whose sets differ in size get their n beside
    the value, no model bold as the best, and the note, methods and record say why."""
    smaller = tmp_path / "smaller"
    smaller.mkdir()
    for path in sorted(fid_folders["b"].iterdir())[:12]:
        shutil.copy(path, smaller / path.name)
    with pytest.warns(UserWarning, match="singular"):
        results = compare(fid_folders["a"], [fid_folders["b"], smaller], metrics="fid",
                          weights={"pt_inception": str(fid_weights)}, device="cpu",
                          out_dir=tmp_path / "run", cache=False)
    assert results.record["uneven_sets"] == {"fid": {"b": 20, "smaller": 12}}
    markdown = (tmp_path / "run" / "summary.md").read_text()
    assert "(n=20)" in markdown
    assert "(n=12)" in markdown
    assert "FID: the models' sets differ in size (n: images)" in markdown
    assert "\\textbf" not in (tmp_path / "run" / "summary.tex").read_text()
    assert ("FID is computed on sets of different sizes (`b` 20, `smaller` 12 images)"
            in (tmp_path / "run" / "methods.md").read_text())


def test_a_growing_folder_costs_only_its_new_images(golden, fid_weights, fid_folders):
    extractor = FeatureExtractor(weights=fid_weights)
    with Cache(None) as cache:
        first = set_features(fid_folders["b"], extractor, cache)
        shutil.copy(golden.image_path("chelsea.png"), fid_folders["b"] / "new.png")
        # a renamed copy is a cache hit too: the key is the content
        shutil.copy(golden.image_path("rocket__blur.png"), fid_folders["b"] / "zz_copy.png")
        grown = set_features(fid_folders["b"], extractor, cache)
    assert first.count == 20
    assert grown.count == 22
    assert grown.cached == 21


def test_batches_in_flight_give_each_image_its_features_and_the_progress(fid_weights,
                                                                         fid_folders):
    # a batch is read back after the next one is launched (one on the device while the
    # next is made ready): the features, the cache and the progress as one at a time
    extractor = FeatureExtractor(weights=fid_weights)
    seen = []
    with Cache(None) as cache:
        small = set_features(fid_folders["b"], extractor, cache, batch_size=3,
                             progress=lambda done, total: seen.append((done, total)))
    with Cache(None) as cache:
        whole = set_features(fid_folders["b"], extractor, cache, batch_size=32)
        assert set_features(fid_folders["b"], extractor, cache).cached == 20
    assert small.files == whole.files
    _assert_features_close(small.features, whole.features)
    assert seen[0] == (0, 20)
    assert seen[-1] == (20, 20)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    read = extractor.launch([])
    assert read().shape == (0, 2048)


def test_failures_decisions_and_mixed_sizes(golden, fid_weights, tmp_path):
    folder = tmp_path / "mixed"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(golden.image_path("astronaut.png"), folder / "a.png")
    shutil.copy(golden.image_path("chelsea.png"), folder / "nested" / "b.png")  # other size
    Image.open(golden.image_path("coffee.png")).convert("L").save(folder / "gray.png")
    (folder / "broken.png").write_bytes(b"not an image")
    extractor = FeatureExtractor(weights=fid_weights)
    with Cache(None) as cache:
        result = set_features(folder, extractor, cache)
    assert result.files == ["a.png", "gray.png", "nested/b.png"]
    assert [name for name, _ in result.errors] == ["broken.png"]
    assert result.decisions == {"gray replicated to RGB": 1}
    # the gray image's features are those of its RGB replica
    with torch.inference_mode():
        gray = np.asarray(Image.open(folder / "gray.png").convert("RGB"))
        want = extractor.network.features_of_resized(fid_input(gray)[None]).numpy()
    _assert_features_close(result.features[1:2], want)



def test_a_file_whose_content_another_file_has_is_counted_and_said(fid_weights, fid_folders):
    """As pytorch-fid counts files (its statistics over every file), with a decision."""
    from likeness.evaluation.sets.features import SAME_CONTENT_TWICE

    folder = fid_folders["b"]
    first = sorted(folder.iterdir())[0]
    shutil.copy(first, folder / f"copy-{first.name}")
    shutil.copy(first, folder / f"another-{first.name}")
    extractor = FeatureExtractor(weights=fid_weights)
    with Cache(None) as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        image_set = set_features(folder, extractor, cache)
    assert image_set.count == 22
    assert image_set.decisions[SAME_CONTENT_TWICE] == 2
    rows = {name: row for name, row in zip(image_set.files, image_set.features, strict=True)}
    np.testing.assert_array_equal(rows[f"copy-{first.name}"], rows[first.name])

def test_statistics_files_round_trip_and_pytorch_fid_format(fid_weights, fid_folders,
                                                             tmp_path):
    extractor = FeatureExtractor(weights=fid_weights)
    with Cache(None) as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        image_set = set_features(fid_folders["b"], extractor, cache)
        saved = save_statistics(image_set, tmp_path / "b.npz")
    with pytest.warns(UserWarning, match="20 images for 2048-dimensional"):  # the count
        loaded = load_statistics(saved, extractor.settings)
    for got, want in zip(loaded.statistics(), image_set.statistics(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.count == 20
    # pytorch-fid's own files hold only mu and sigma
    plain = tmp_path / "plain.npz"
    np.savez(plain, mu=loaded.statistics()[0], sigma=loaded.statistics()[1])
    assert "pytorch-fid" in load_statistics(plain, extractor.settings).settings["note"]
    # statistics made with another resize convention are refused
    other = {**extractor.settings, "resize": "clean"}
    with pytest.raises(LikenessError, match="resize='pytorch-fid'.*'clean'"):
        load_statistics(saved, other)  # refused before the small-set warning
    bad = tmp_path / "bad.npz"
    np.savez(bad, mean=np.zeros(3))
    with pytest.raises(LikenessError, match="'mu' and 'sigma'"):
        load_statistics(bad)


def test_fid_of_two_statistics_files_needs_no_checkpoint(tmp_path, monkeypatch):
    """Nothing is encoded: the distance of two statistics files is arithmetic, and a
    machine without the encoder's weights (offline) gave "downloading … failed"."""
    rng = np.random.default_rng(3)
    settings = {"network": NETWORKS["pt_inception"].label, "weights": "pt_inception",
                "weights_sha256": "ab" * 32, "alpha": None}
    statistics = {}
    for name, resize in (("a", "pytorch-fid"), ("b", "pytorch-fid"), ("clean", "clean")):
        # positive definite (a singular one takes an eigendecomposition more: seconds)
        mu, sigma = rng.normal(size=2048) + (name == "b"), np.diag(rng.uniform(0.5, 2, 2048))
        statistics[name] = (mu, sigma)
        recorded = {**settings, "resize": resize, "count": 40}
        np.savez(tmp_path / f"{name}.npz", mu=mu, sigma=sigma, count=np.int64(40),
                 likeness_settings=np.array(json.dumps(recorded)))
        np.savez(tmp_path / f"plain_{name}.npz", mu=mu, sigma=sigma)  # pytorch-fid's own
    want = frechet_distance(*statistics["a"], *statistics["b"])
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))
    runner = CliRunner()
    for a, b in (("a", "b"), ("plain_a", "plain_b"), ("a", "plain_b")):
        result = runner.invoke(main, ["fid", str(tmp_path / f"{a}.npz"),
                                      str(tmp_path / f"{b}.npz")])
        assert result.exit_code == 0, result.output
        assert float(result.stdout.split()[-1]) == pytest.approx(want, rel=1e-8)  # printed
    assert "images not counted in the file" in result.stderr  # not "0 images"
    mixed = runner.invoke(main, ["fid", str(tmp_path / "a.npz"), str(tmp_path / "clean.npz")])
    assert mixed.exit_code == 1
    assert "was computed with --resize clean but this run uses --resize pytorch-fid" in (
        " ".join(mixed.stderr.split()))
    other = runner.invoke(main, ["fid", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
                                 "--encoder", "dinov2"])
    assert other.exit_code == 1
    assert "2048-dimensional features" in other.stderr


def test_kid_folders_and_its_errors(golden, fid_weights, fid_folders, tmp_path):
    result = kid_folders(fid_folders["a"], fid_folders["b"], subset_size=None,
                         weights=fid_weights, cache=False)
    a, b = result.sets
    assert result.mean == pytest.approx(kid(a.features, b.features, subset_size=None)[0])
    assert result.settings["kid_subset_size"] is None
    with pytest.raises(LikenessError, match="4 and 20 images"):
        kid_folders(fid_folders["a"], fid_folders["b"], weights=fid_weights, cache=False)
    stats = tmp_path / "a.npz"
    np.savez(stats, mu=np.zeros(2048), sigma=np.eye(2048))
    with pytest.raises(LikenessError, match="KID needs per-image features"):
        kid_folders(stats, fid_folders["b"], weights=fid_weights, cache=False)


def test_sets_are_checked_before_the_checkpoint_is_resolved(fid_folders, tmp_path,
                                                            monkeypatch):
    """A missing or empty folder, a damaged statistics file and a KID subset larger than a
    set were said only after the Inception checkpoint was resolved: downloaded (100 MB)
    first, or, offline, hidden behind "checkpoint 'pt_inception' … is not in …"."""
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    (tmp_path / "damaged.npz").write_bytes(b"PK\x03\x04 cut short")
    a = fid_folders["a"]
    for call, words in [
            (lambda: fid(a, tmp_path / "missing"), "missing: no such folder or file"),
            (lambda: fid(a, tmp_path / "empty"), "empty: no images found (searched "
             "recursively); skipped: 1 not in an image format likeness reads (notes.txt)"),
            (lambda: fid(a, tmp_path / "damaged.npz"), "damaged.npz: not a readable .npz"),
            (lambda: fid(a, a / "astronaut.png"), "astronaut.png: not a folder"),
            (lambda: kid_folders(a, fid_folders["b"]), "subset_size=1000 is larger than a "
             "set: the sets have 4 and 20 images"),
            (lambda: kid_folders(a, a, subset_size=8), "the sets have 4 and 4 images")]:
        with pytest.raises(LikenessError) as raised:
            call()
        assert words in str(raised.value)
        assert "checkpoint" not in str(raised.value)
    result = CliRunner().invoke(main, ["kid", str(a), str(fid_folders["b"])])
    assert result.exit_code == 1
    assert "KID --subset-size 1000 is larger than a set" in result.stderr
    # a weights path that is no file is an argument: said before the folders are walked
    with pytest.raises(LikenessError, match="nope.pth: no such checkpoint file"):
        fid(a, tmp_path / "missing", weights=tmp_path / "nope.pth")


def test_compare_and_style_check_set_sizes_before_any_feature(fid_folders, golden,
                                                              tmp_path, monkeypatch):
    """In `compare` and `style` a set metric the sets' sizes rule out (KID's subsets above a
    set's size, k neighbours among 4 images, FID∞ below 5,000) was refused only after both
    sets' features were computed — a checkpoint resolved, downloaded or, offline, said
    missing in its place.  Now the files are counted first: the rows say the sizes, the
    network is not run, and a strict run stops before any pair."""
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))
    reference = fid_folders["a"]
    model = tmp_path / "model"
    shutil.copytree(reference, model)
    results = compare(reference, model, metrics="ssim,kid,density", cache=False)
    errors = {row.metric: row.error for row in results.set_rows}
    assert errors == {
        "kid": "KID subset_size=1000 is larger than a set: the sets have 4 and 4 images; "
               "pass subset_size=4 or smaller, or subset_size=None to use the whole sets once",
        "density": "the real set has 4 images; k-nearest-neighbour metrics with k = 5 need "
                   "more than 5"}
    assert [row.n for row in results.set_rows] == [4, 4]
    assert all("ssim" in row.values for row in results.rows)
    with pytest.raises(LikenessError, match=r"model: kid: KID subset_size=1000 is larger") as stop:
        compare(reference, model, metrics="ssim,kid", cache=False, strict=True)
    assert "checkpoint" not in str(stop.value)
    result = CliRunner().invoke(main, ["compare", str(reference), str(model), "--metrics",
                                       "kid", "--no-cache", "--kid-subset-size", "8"])
    assert result.exit_code == 1
    assert "KID --kid-subset-size 8 is larger than a set" in result.stderr
    assert "checkpoint" not in result.stderr
    # plain FID would run here (and the style protocol's other metrics): FID∞ alone refused
    root = golden.root / "style"
    style_results = evaluate_style(root / "content", root / "style", root / "stylized",
                                   metrics="art_fid", art_fid_mode="infinity", cache=False)
    assert {row.metric: row.error for row in style_results.set_rows} == {
        "art_fid": "needs fid_art: FID∞ needs at least 5000 stylized images to extrapolate "
                   "from, got 8; use the plain mode (ArtFID's 'art_fid' mode), which is what "
                   "ArtFID computes below that anyway"}


def test_clean_convention_is_recorded_and_changes_the_features(fid_weights, fid_folders):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = fid(fid_folders["a"], fid_folders["b"], weights=fid_weights, cache=False)
        clean = fid(fid_folders["a"], fid_folders["b"], weights=fid_weights, cache=False,
                    resize="clean")
    assert clean.settings["resize"] == "clean"
    assert not np.allclose(clean.sets[0].features, plain.sets[0].features)


def test_cli_fid_and_kid_end_to_end(golden, fid_weights, fid_folders, tmp_path):
    runner = CliRunner()
    cache = str(tmp_path / "cache.sqlite")
    out = tmp_path / "fid.json"
    stats = tmp_path / "a.npz"
    result = runner.invoke(main, ["fid", str(fid_folders["a"]), str(fid_folders["b"]),
                                  "--weights", str(fid_weights), "--cache", cache,
                                  "--out", str(out), "--save-stats", str(stats)])
    assert result.exit_code == 0, result.output
    value = float(result.stdout.split()[-1])
    assert value == pytest.approx(golden.expected["fid_sets"]["fid"], rel=1e-4)
    assert "singular" in result.stderr
    record = json.loads(out.read_text())
    assert record["fid"] == pytest.approx(value, rel=1e-6)
    assert [s["count"] for s in record["sets"]] == [4, 20]
    assert stats.is_file()

    from_stats = runner.invoke(main, ["fid", str(stats), str(fid_folders["b"]),
                                      "--weights", str(fid_weights), "--cache", cache])
    assert from_stats.exit_code == 0, from_stats.output
    assert float(from_stats.stdout.split()[-1]) == pytest.approx(value, rel=1e-4)

    too_big = runner.invoke(main, ["kid", str(fid_folders["a"]), str(fid_folders["b"]),
                                   "--weights", str(fid_weights), "--cache", cache])
    assert too_big.exit_code == 1
    assert "--subset-size 4" in too_big.stderr
    ok = runner.invoke(main, ["kid", str(fid_folders["a"]), str(fid_folders["b"]),
                              "--weights", str(fid_weights), "--cache", cache,
                              "--subset-size", "all"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("KID\t")
    assert "±" not in ok.stdout  # the whole sets once: one value, no spread (was "± 0")
    spread = runner.invoke(main, ["kid", str(fid_folders["a"]), str(fid_folders["b"]),
                                  "--weights", str(fid_weights), "--cache", cache,
                                  "--subset-size", "3", "--subsets", "4",
                                  "--out", str(tmp_path / "kid.json")])
    assert spread.exit_code == 0, spread.output
    assert re.match(r"KID\t\S+\t± \S+\n$", spread.stdout)
    assert json.loads((tmp_path / "kid.json").read_text())["kid_std"] > 0

    (fid_folders["b"] / "broken.png").write_bytes(b"\x89PNG broken")
    broken = runner.invoke(main, ["fid", str(fid_folders["a"]), str(fid_folders["b"]),
                                  "--weights", str(fid_weights), "--cache", cache])
    assert broken.exit_code == 1
    assert "broken.png" in broken.stderr
    assert broken.stdout.startswith("FID\t")


def test_fid_and_kid_decode_in_processes(golden, fid_weights, fid_folders):
    """``decoding="processes"`` (a CUDA run's default) against threads, on the CPU, for both
    commands and from the command line.  Not bit for bit: here each image's input is
    resized by torch's bilinear interpolation in the decoder, whose rounding follows how
    many threads share it (one in a decoding process, the run's in a decoding thread):
    1.8e-7 apart.  On CUDA pytorch-fid's input is made on the device either way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 4 images: a singular covariance
        runs = {decoding: fid(fid_folders["a"], fid_folders["b"], weights=fid_weights,
                              cache=False, workers=2, decoding=decoding)
                for decoding in ("threads", "processes")}
    for first, second in zip(runs["threads"].sets, runs["processes"].sets, strict=True):
        np.testing.assert_allclose(first.features, second.features, rtol=1e-5, atol=1e-6)
    assert runs["processes"].value == pytest.approx(runs["threads"].value, rel=1e-6)
    assert runs["processes"].value == pytest.approx(golden.expected["fid_sets"]["fid"],
                                                    rel=1e-4)
    with pytest.raises(InvalidInputError, match="decoding must be one of"):
        fid(fid_folders["a"], fid_folders["b"], weights=fid_weights, decoding="gpu")

    runner = CliRunner()
    for command in ("fid", "kid"):
        args = [command, str(fid_folders["a"]), str(fid_folders["b"]), "--weights",
                str(fid_weights), "--no-cache", "--workers", "2", "--decoding", "processes"]
        done = runner.invoke(main, args + (["--subset-size", "all"] if command == "kid"
                                           else []))
        assert done.exit_code == 0, done.output
        if command == "fid":
            assert float(done.stdout.split()[-1]) == pytest.approx(runs["processes"].value,
                                                                   rel=1e-9)
        refused = runner.invoke(main, args[:-1] + ["gpu"])
        assert refused.exit_code == 2
        assert "--decoding" in refused.output


def test_a_fully_cached_folder_never_loads_torch(fid_weights, fid_folders, tmp_path):
    database = tmp_path / "cache.sqlite"
    with Cache(database) as cache:
        set_features(fid_folders["b"], FeatureExtractor(weights=fid_weights), cache)
    script = ("import sys\n"
              "from likeness.evaluation.infra.cache import Cache\n"
              "from likeness.evaluation.sets.features import FeatureExtractor, set_features\n"
              f"with Cache({str(database)!r}) as cache:\n"
              f"    found = set_features({str(fid_folders['b'])!r}, "
              f"FeatureExtractor(weights={str(fid_weights)!r}), cache)\n"
              "print(found.cached, 'torch' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["20", "False"]


@pytest.mark.parametrize(("arguments", "message"), [
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"batch_size": 1.5}, "batch_size must be a whole number, got 1.5"),
    ({"workers": "4"}, "workers must be a whole number, got '4'"),
    # every image failed on it, then "FID needs at least 2 images, the set has 0"
    ({"alpha": "transparent"}, "alpha must be None or one of 'white', 'black', 'drop'"),
    ({"cache": 0}, "cache must be True, False, None, a path or a Cache, got 0"),
    ({"weights": 5}, "weights must be a path or None, got 5"),
    ({"progress": "bar"}, "progress must be a function (stage, done, total) or None")])
def test_fid_and_kid_arguments_are_checked_before_any_image_is_read(fid_folders, fid_weights,
                                                                    arguments, message):
    for function in (fid, kid_folders):
        with pytest.raises(LikenessError, match=re.escape(message)):
            function(fid_folders["a"], fid_folders["b"],
                     **{"weights": fid_weights, "cache": False, **arguments})
    with pytest.raises(LikenessError, match="save_stats must be a path, a list of paths or "
                                            "None, got 5"):
        fid(fid_folders["a"], save_stats=5)


def test_statistics_files_that_would_replace_one_another_or_an_input_are_refused(
        fid_folders, fid_weights, tmp_path, monkeypatch):
    """--save-stats given one file twice wrote the second set over the first and said
    both were written; a statistics file named as the other set's input was replaced."""
    import likeness.runs.fid as fid_module

    def never(*args, **kwargs):
        raise AssertionError("refused before any image is read")

    monkeypatch.setattr(fid_module, "_load_sets", never)
    stats = tmp_path / "a.npz"
    stats.write_bytes(b"")
    same = tmp_path / "sub" / ".." / "x.npz"
    (tmp_path / "sub").mkdir()
    with pytest.raises(LikenessError, match=re.escape(
            f"save_stats names {tmp_path / 'x.npz'} and {same}, one file")):
        fid(fid_folders["a"], fid_folders["b"], save_stats=[tmp_path / "x.npz", same],
            weights=fid_weights, cache=False)
    for sources, targets in (((stats, fid_folders["b"]), [tmp_path / "y.npz", stats]),
                             ((stats, None), [stats])):
        with pytest.raises(LikenessError, match=re.escape(
                f"save_stats {stats} is the input {stats}: its statistics would replace it")):
            fid(*sources, save_stats=targets, weights=fid_weights, cache=False)
    result = CliRunner().invoke(main, ["fid", str(fid_folders["a"]), str(fid_folders["b"]),
                                       "--save-stats", str(tmp_path / "x.npz"),
                                       "--save-stats", str(same), "--no-cache"])
    assert result.exit_code == 1
    assert "error: --save-stats names" in result.stderr


def test_a_set_holding_the_other_sets_images_is_said(fid_weights, fid_folders, tmp_path):
    """Reference images copied among a model's outputs (a data leak, a script that copied
    the wrong folder): FID falls, comparing the sets with their own images there, and no
    word said it — in `fid`, `kid` and a compare run's set metrics."""
    leaked = sorted(fid_folders["a"].iterdir())[:2]
    for path in leaked:
        shutil.copy(path, fid_folders["b"] / f"copied_{path.name}")
    said = ("the same bytes as an image of the {} set (counted in both: the sets are "
            "compared with their own images there)")
    with pytest.warns(UserWarning, match="singular"):
        result = fid(fid_folders["a"], fid_folders["b"], weights=fid_weights, cache=False)
    assert result.sets[1].decisions == {said.format(fid_folders["a"]): 2}
    assert result.sets[0].decisions == {}
    with pytest.warns(UserWarning, match="singular"):
        results = compare(fid_folders["a"], fid_folders["b"], metrics="fid",
                          weights={"pt_inception": str(fid_weights)}, device="cpu",
                          cache=tmp_path / "cache.sqlite")
    assert results.record["decisions"] == {
        f"b set: 2 images: {said.format('reference')}": 1}
    result = CliRunner().invoke(main, ["compare", str(fid_folders["a"]), str(fid_folders["b"]),
                                       "--metrics", "fid", "--weights",
                                       f"pt_inception={fid_weights}", "--device", "cpu",
                                       "--cache", str(tmp_path / "cache.sqlite")])
    assert f"note: b set: 2 images: {said.format('reference')}" in " ".join(
        result.output.split())  # (a set's decisions were in methods.md alone)
    with pytest.warns(UserWarning, match="singular"):
        alone = fid(fid_folders["a"], fid_folders["a"], weights=fid_weights, cache=False)
    assert alone.sets[1].decisions == {}  # a set with itself, as asked: nothing to say
