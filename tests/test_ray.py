"""The Ray engine on a multi-node Ray cluster on this machine: the same outputs as the
local engine, a node lost mid-run, a restarted run that repeats nothing.

Needs the ``ray`` extra (``pip install 'likeness-metrics[ray]'``); ``.ci/run`` installs it and sets
``LIKENESS_REQUIRE_RAY=1`` so that CI always runs these; elsewhere they are skipped with a
one-line notice when Ray is absent.
"""

from __future__ import annotations

import csv
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness

MODELS = ("blur", "noise")
BASES = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(scope="module")
def cluster():
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        if os.environ.get("LIKENESS_REQUIRE_RAY") == "1":
            pytest.fail("Ray is required here (LIKENESS_REQUIRE_RAY=1) but not installed")
        pytest.skip("Ray not installed: Ray engine tests skipped "
                    "(pip install 'likeness-metrics[ray]')")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
        nodes.wait_for_nodes()
        ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    import torch

    # the driver on two threads, a Ray worker's own count one: the actors must take the
    # driver's for its values (make test runs its workers on one thread each)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield nodes, workers
    torch.set_num_threads(threads)
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture
def folders(golden, tmp_path):
    return golden.arrange_models(tmp_path, MODELS, BASES)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _run(folders, engine, out, weights, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 4-image sets: singular covariances
        return likeness.compare(folders / "ref", [folders / m for m in MODELS],
                                metrics="ssim,psnr,ms-ssim,lpips,fid,kid",
                                kid_subset_size=None, weights=weights, out_dir=out,
                                cache=False, batch_size=1, engine=engine, **extra)


def _weights_folders():
    return {path.name for path in Path(tempfile.gettempdir()).glob("likeness-weights-*")}


def test_ray_equals_the_local_engine(cluster, folders, stand_in, fid_weights, capfd):
    weights = {"alexnet": str(stand_in["alexnet"]), "pt_inception": str(fid_weights)}
    _run(folders, "local", folders / "local", weights)
    before = _weights_folders()
    capfd.readouterr()
    _run(folders, "ray", folders / "ray", weights)
    assert "deprecated" not in capfd.readouterr().err  # Ray Data's words for our call
    # the actors wrote the checkpoints to one folder of files named by their hashes, which
    # later actors and runs reuse (a copy per actor, never removed, filled CI's disk)
    assert _weights_folders() - before <= {f"likeness-weights-{os.getuid()}"}
    local, on_ray = _rows(folders / "local" / "per_image.csv"), _rows(
        folders / "ray" / "per_image.csv")
    assert on_ray == local  # every value, error and note, bit for bit
    assert not (folders / "ray" / "shards").exists()  # merged into per_image.csv
    local_summary = _rows(folders / "local" / "summary.csv")
    ray_summary = _rows(folders / "ray" / "summary.csv")
    for a, b in zip(local_summary, ray_summary, strict=True):
        assert (a["model"], a["metric"], a["n"]) == (b["model"], b["metric"], b["n"])
        if a["metric"] in ("fid", "kid"):  # features from other batch compositions
            assert float(b["mean"]) == pytest.approx(float(a["mean"]), rel=1e-5, abs=1e-8)
        else:
            assert a == b
    assert _rows(folders / "ray" / "comparisons.csv") == _rows(
        folders / "local" / "comparisons.csv")


def _many_pairs(root, count):
    rng = np.random.default_rng(3)
    for folder in ("ref", "out"):
        (root / folder).mkdir()
    for index in range(count):
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "ref" / f"{index:03d}.png")
        noisy = np.clip(pixels + rng.normal(0, 8, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / "out" / f"{index:03d}.png")


def test_a_lost_node_still_gives_every_row_once(cluster, tmp_path, stand_in):
    nodes, workers = cluster
    _many_pairs(tmp_path, 40)
    weights = {"alexnet": str(stand_in["alexnet"])}
    progress = []
    outcome = {}

    def run():
        outcome["results"] = likeness.compare(
            tmp_path / "ref", tmp_path / "out", metrics="ssim,lpips", weights=weights,
            cache=False, engine="ray", batch_size=1, out_dir=tmp_path / "results",
            progress=lambda stage, done, total: progress.append(done))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 180
    while (not progress or max(progress) < 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    nodes.remove_node(workers.pop())  # a node lost mid-run
    workers.append(nodes.add_node(num_cpus=1))
    thread.join(timeout=600)
    assert not thread.is_alive()
    results = outcome["results"]
    assert [r.reference for r in results.rows] == [f"{i:03d}.png" for i in range(40)]
    assert all(r.error is None and set(r.values) == {"ssim", "lpips_alex"}
               for r in results.rows)
    rows = _rows(tmp_path / "results" / "per_image.csv")
    assert len(rows) == 40
    assert len({r["reference"] for r in rows}) == 40
    local = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="ssim,lpips",
                             weights=weights, cache=False, batch_size=1)
    assert [r.values for r in local.rows] == [r.values for r in results.rows]


def test_a_restarted_run_repeats_nothing(cluster, folders, stand_in, monkeypatch):
    import likeness.evaluation.engines.ray_engine as ray_engine

    weights = {"alexnet": str(stand_in["alexnet"])}
    arguments = {"metrics": "ssim,lpips", "weights": weights, "cache": False,
                 "engine": "ray", "out_dir": folders / "results", "batch_size": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ray's own deprecation warnings, passed on once
        first = likeness.compare(folders / "ref", [folders / m for m in MODELS], **arguments)
    assert not any(r.cached for r in first.rows)
    shipped = []
    original = ray_engine._ship_weights
    monkeypatch.setattr(ray_engine, "_ship_weights",
                        lambda *a: shipped.append(1) or original(*a))
    again = likeness.compare(folders / "ref", [folders / m for m in MODELS], **arguments)
    assert all(r.cached for r in again.rows)
    assert shipped == []  # nothing left to compute: no job was sent to the cluster
    assert [r.values for r in again.rows] == [r.values for r in first.rows]


def test_missing_ray_is_one_line_with_the_install_command(monkeypatch, folders):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(likeness.LikenessError, match=r"pip install 'likeness-metrics\[ray\]'"):
        likeness.compare(folders / "ref", folders / "blur", engine="ray", cache=False)


def test_hostile_pairs_are_the_same_row_errors_on_ray(cluster, tmp_path, stand_in):
    # an image smaller than SSIM's window and a broken file: row errors, not crashes
    rng = np.random.default_rng(5)
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            tmp_path / folder / "fine.png")
        Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)).save(
            tmp_path / folder / "tiny.png")
    (tmp_path / "out" / "broken.png").write_text("not an image")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
        tmp_path / "ref" / "broken.png")
    rows = {}
    for engine in ("local", "ray"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's own deprecation notices
            results = likeness.compare(tmp_path / "ref", tmp_path / "out",
                                       metrics="ssim,lpips", cache=False, engine=engine,
                                       weights={"alexnet": str(stand_in["alexnet"])})
        rows[engine] = [(r.test, r.values, r.error) for r in results.rows]
    assert rows["ray"] == rows["local"]
    errors = {test: error for test, _, error in rows["ray"]}
    assert "smaller than SSIM's 7x7 window" in errors["tiny.png"]
    assert "not an image file" in errors["broken.png"]
    assert errors["fine.png"] is None


def test_a_node_that_decodes_otherwise_is_refused_not_cached(cluster, folders, fid_weights,
                                                            monkeypatch, tmp_path):
    """A node whose Pillow (or libjpeg, OpenCV) is not the driver's would give other values
    and cache them as the driver's decoders' (the nodes here share one environment: the
    driver says it has another Pillow)."""
    from likeness.evaluation.engines import ray_engine
    from likeness.io import decoder_facts

    monkeypatch.setattr(ray_engine, "decoder_facts",
                        lambda: {**decoder_facts(), "Pillow": "0.0-driver"})
    cache = tmp_path / "cache.sqlite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ray's own deprecation notices
        with pytest.raises(likeness.LikenessError) as refused:
            likeness.compare(folders / "ref", folders / MODELS[0], metrics="ssim,fid",
                             cache=cache, engine="ray",
                             weights={"pt_inception": str(fid_weights)})
    assert str(refused.value).startswith(
        "a Ray node decodes images with other libraries than this machine (Pillow "
        "0.0-driver on this machine, ")
    assert str(refused.value).endswith(
        "install the same versions of likeness, Pillow and opencv-python-headless on every "
        "node of the cluster, or run without --engine ray")
    import sqlite3

    with sqlite3.connect(cache) as connection:
        assert connection.execute("SELECT count(*) FROM entries").fetchone() == (0,)


def test_every_decoding_task_and_actor_on_a_node_that_decodes_otherwise_refuses():
    """The pairs' decoding tasks, the set images' (a run of set metrics alone) and the item
    actors, which decode the style images themselves."""
    import pickle

    _ray_exceptions()
    from likeness.evaluation.engines.ray_engine import ItemActor, _decode_group, _prepare_batch
    from likeness.io import decoder_facts

    other = {**decoder_facts(), "libjpeg-turbo": "2.0.0"}
    refused = pytest.raises(likeness.LikenessError, match=r"\(libjpeg-turbo 2\.0\.0 on this "
                                                          r"machine, [^ ]+ on the node ")
    with refused:
        _decode_group({"payload": pickle.dumps(([], [], None, {}, other))})
    with refused:
        _prepare_batch({"payload": pickle.dumps({"extractor": None, "files": [],
                                                 "decoders": other})})
    with refused:
        ItemActor(options=None, blobs={}, device="cpu", roles=("reference", "test"),
                  threads=1, batch_size=1, decoders=other)


def test_a_file_name_that_is_not_utf8_reaches_the_results_on_ray(cluster, tmp_path):
    # the rows streamed to Parquet shards: Arrow's strings are UTF-8, and the name's
    # lone surrogate ended the run in "surrogates not allowed"
    odd = os.fsdecode(b"odd\xff.png")
    rng = np.random.default_rng(6)
    try:
        for folder in ("ref", "out"):
            (tmp_path / folder).mkdir()
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / folder / odd)
    except UnicodeError:
        pytest.skip("this filesystem refuses names that are not UTF-8")
    tables = {}
    for engine in ("local", "ray"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's own deprecation notices
            likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="ssim", cache=False,
                             engine=engine, out_dir=tmp_path / engine)
        tables[engine] = (tmp_path / engine / "per_image.csv").read_text()
    assert "odd\\udcff.png" in tables["ray"]
    assert tables["ray"] == tables["local"]


def test_a_metric_registered_in_the_driver_is_computed_on_ray(cluster, tmp_path):
    """register_metric adds to the driver's catalogue only: the workers' own import of
    likeness did not know the metric, and the run ended in "the Ray cluster could not
    finish the run (ActorDiedError …)"; the run's entries now travel with the actors."""
    def absolute_error(pair, settings):  # local: pickled by value, as a notebook's is
        return float(np.mean(np.abs(pair.reference.astype(np.float64) - pair.test)))

    likeness.register_metric(likeness.MetricSpec(
        "mae_on_ray", "lower", "mean absolute error", pixels=absolute_error,
        scale_dependent=True, citations=("vanderwalt2014skimage",)))
    rng = np.random.default_rng(8)
    for name in ("a", "b"):
        pixels = rng.integers(0, 250, (24, 32, 3), dtype=np.uint8)
        for folder, offset in (("ref", 0), ("out", 3)):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(pixels + np.uint8(offset)).save(tmp_path / folder / f"{name}.png")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's own deprecation notices
            results = likeness.compare(tmp_path / "ref", tmp_path / "out",
                                       metrics="ssim,mae_on_ray", cache=False, engine="ray")
    finally:
        likeness.unregister_metric("mae_on_ray")
    assert [row.error for row in results.rows] == [None, None]
    assert [row.values["mae_on_ray"] for row in results.rows] == [3.0, 3.0]  # closed form


@pytest.fixture(scope="module")
def style_weights(golden, golden_weights, tmp_path_factory):
    import json

    seed = json.loads((golden.root / "style.json").read_text())["seed"]
    folder = tmp_path_factory.mktemp("style_weights")
    return {name: str(golden_weights.save_checkpoint(name, seed, folder / f"{name}.pth"))
            for name in ("alexnet", "vgg19", "pt_inception", "art_inception")}


def test_style_on_ray_equals_the_local_engine(cluster, golden, style_weights, tmp_path):
    # the command line's --engine ray against the local engine through the API: every
    # per-triplet value bit for bit, set metrics within 1e-8
    from click.testing import CliRunner

    from likeness.cli import main

    root = golden.root / "style"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a small style set: singular covariances
        local = likeness.evaluate_style(root / "content", root / "style", root / "stylized",
                                        weights=style_weights, cache=False,
                                        out_dir=tmp_path / "local")
    arguments = ["style", "--content", str(root / "content"), "--style", str(root / "style"),
                 "--stylized", str(root / "stylized"), "--engine", "ray", "--no-cache",
                 "--out-dir", str(tmp_path / "ray")]
    for name, path in style_weights.items():
        arguments += ["--weights", f"{name}={path}"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert _rows(tmp_path / "ray" / "per_image.csv") == _rows(
        tmp_path / "local" / "per_image.csv")
    local_summary = _rows(tmp_path / "local" / "summary.csv")
    ray_summary = _rows(tmp_path / "ray" / "summary.csv")
    assert len(local_summary) == len(ray_summary) == len(local.metrics)
    for a, b in zip(local_summary, ray_summary, strict=True):
        assert (a["method"], a["metric"], a["n"]) == (b["method"], b["metric"], b["n"])
        assert float(b["mean"]) == pytest.approx(float(a["mean"]), rel=0, abs=1e-8)
    assert not (tmp_path / "ray" / "shards").exists()


def test_set_metrics_on_ray_are_the_local_values_within_1e_8(cluster, folders, fid_weights):
    weights = {"pt_inception": str(fid_weights)}
    values = {}
    for engine in ("local", "ray"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 4-image sets: singular covariances
            results = likeness.compare(folders / "ref", [folders / m for m in MODELS],
                                       metrics="fid,kid,precision,recall,vendi,"
                                               "inception_score",
                                       kid_subset_size=None, weights=weights, cache=False,
                                       engine=engine)
        values[engine] = [(r.model, r.metric, r.value, r.std, r.error)
                          for r in results.set_rows]
    for a, b in zip(values["local"], values["ray"], strict=True):
        assert a[:2] == b[:2]
        assert a[4] == b[4]  # the same refusals (4 images: no Inception Score)
        if a[2] is not None:
            assert b[2] == pytest.approx(a[2], rel=0, abs=1e-8)


def test_the_content_encoders_on_ray_equal_the_local_engine(cluster, folders, tmp_path):
    """CLIP-I, CLIP-T, the directional similarity, the DINO score, CSD and the aesthetic
    score (item networks fed 8-bit crops, prompts from sidecar files, a network of two
    checkpoints) on Ray: every value the local engine's (batches of one image on both)."""
    import torch

    from vit_stand_ins import (
        make_aesthetic_state_dict,
        make_clip_state_dict,
        make_clip_vision_state_dict,
        make_csd_state_dict,
        make_dino_state_dict,
        save_safetensors,
    )

    for name, state in (("dino.pth", make_dino_state_dict(13)),
                        ("csd.pth", make_csd_state_dict(17)),
                        ("head.pth", make_aesthetic_state_dict(23))):
        torch.save(state, tmp_path / name)
    weights = {"clip_vit_b32": str(save_safetensors(make_clip_state_dict(11),
                                                    tmp_path / "clip.safetensors")),
               "dino_vits16": str(tmp_path / "dino.pth"),
               "csd_vit_l": str(tmp_path / "csd.pth"),
               "laion_aesthetic": str(tmp_path / "head.pth"),  # a network of two checkpoints
               "clip_vit_l14": str(save_safetensors(
                   make_clip_vision_state_dict(19, 2, positions=16 * 16 + 1),
                   tmp_path / "clip-l14.safetensors"))}
    for number, image in enumerate(sorted((folders / "ref").iterdir())):
        image.with_suffix(".txt").write_text(f"a photo of image {number}", encoding="utf-8")
    for image in (folders / MODELS[1]).iterdir():
        image.with_suffix(".txt").write_text(f"a noisy {image.stem}", encoding="utf-8")
    for engine in ("local", "ray"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's own deprecation warnings
            likeness.compare(folders / "ref", [folders / m for m in MODELS],
                             metrics="clip_i,dino,clip_t,clip_direction,csd,aesthetic",
                             weights=weights,
                             out_dir=folders / engine, cache=False, batch_size=1,
                             engine=engine, source_prompt="a photo")
    local = _rows(folders / "local" / "per_image.csv")
    assert _rows(folders / "ray" / "per_image.csv") == local
    assert all(row["error"] == "" and float(row["dino"]) <= 1 for row in local)
    assert {row["prompt"].split()[1] for row in local} == {"photo", "noisy"}


def test_shipped_checkpoints_are_one_verified_file_per_hash(tmp_path, monkeypatch):
    import hashlib

    from likeness.evaluation.engines.ray_cluster import materialise_weights

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    blob = b"checkpoint bytes" * 1000
    sha256 = hashlib.sha256(blob).hexdigest()
    first = materialise_weights({"alexnet": (blob, sha256)})["alexnet"]
    assert Path(first).read_bytes() == blob
    assert Path(first).name == f"{sha256}.pth"
    assert materialise_weights({"alexnet": (blob, sha256)})["alexnet"] == first
    Path(first).write_bytes(b"damaged")  # a file that fails its hash is written anew
    assert Path(materialise_weights({"alexnet": (blob, sha256)})["alexnet"]).read_bytes() == blob
    assert [p.name for p in Path(first).parent.iterdir()] == [f"{sha256}.pth"]  # no .part left
    with pytest.raises(likeness.LikenessError, match="alexnet arrived corrupted"):
        materialise_weights({"alexnet": (blob + b"!", sha256)})


def test_a_weights_folder_that_is_not_this_users_is_not_used(tmp_path, monkeypatch):
    import hashlib

    from likeness.evaluation.engines.ray_cluster import materialise_weights

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"likeness-weights-{os.getuid()}").symlink_to(elsewhere)
    blob = b"weights"
    path = Path(materialise_weights({"vgg": (blob, hashlib.sha256(blob).hexdigest())})["vgg"])
    assert path.read_bytes() == blob
    assert not list(elsewhere.iterdir())
    assert path.parent.name.startswith("likeness-weights-")
    assert not path.parent.is_symlink()


def _ray_exceptions():
    if os.environ.get("LIKENESS_REQUIRE_RAY") != "1":
        pytest.importorskip("ray", reason="Ray not installed")
    import ray.exceptions

    return ray.exceptions


@pytest.mark.parametrize(("failure", "advice"), [
    ("OutOfDiskError", "free disk space on the nodes"),
    ("ObjectStoreFullError", "larger one"),
    ("OutOfMemoryError", "smaller --batch-size N"),
])
def test_a_cluster_out_of_resources_is_one_line_that_says_what_to_do(
        folders, monkeypatch, failure, advice):
    exceptions = _ray_exceptions()
    from likeness.cli import main

    def out_of(*_):
        raise getattr(exceptions, failure)("a node says so")

    monkeypatch.setattr("likeness.evaluation.engines.ray_engine.connect", out_of)
    result = CliRunner().invoke(main, ["compare", str(folders / "ref"), str(folders / "blur"),
                                       "--metrics", "ssim", "--engine", "ray", "--no-cache"])
    assert result.exit_code == 1
    assert f"error: the Ray cluster ran out of resources ({failure})" in result.output
    assert advice in result.output
    assert "a re-run resumes" in result.output
    assert "bug" not in result.output


def test_cluster_failures_name_the_cluster_and_leave_likeness_bugs_as_they_are():
    exceptions = _ray_exceptions()
    from likeness.evaluation.engines.ray_cluster import cluster_failures

    ray = SimpleNamespace(exceptions=exceptions)
    task = exceptions.RayTaskError("decode", "Traceback ...", exceptions.OutOfDiskError())
    with pytest.raises(likeness.LikenessError, match=r"out of resources \(OutOfDiskError\)"), \
            cluster_failures(ray):
        raise task  # Ray Data reports a node out of disk as a failed task
    with pytest.raises(likeness.LikenessError,
                       match=r"could not finish the run \(NodeDiedError: node 3 died\)"), \
            cluster_failures(ray):
        raise exceptions.NodeDiedError("node 3 died")
    bug = exceptions.RayTaskError("compute", "Traceback ...", ZeroDivisionError("oops"))
    with pytest.raises(exceptions.RayTaskError), cluster_failures(ray):
        raise bug  # an exception of likeness's own code in a task: reported as a bug
    # a task that refused its input: Ray Data keeps the refusal only in the traceback's text
    refusal = exceptions.RayTaskError(
        "decode", "Traceback ...\nlikeness.errors.LikenessError: a node refused it\nThe "
                  "above exception was the direct cause of the following exception:",
        exceptions.UserCodeException("UDF failed to process a data block."))
    with pytest.raises(likeness.LikenessError, match="^a node refused it$"), \
            cluster_failures(ray):
        raise refusal


def _closed_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unconnected_ray():
    """Ray as connect() sees it before any ray.init, whether or not this process has
    joined the test cluster; ray.init must not be reached when the address is refused."""
    pytest.importorskip("ray")

    def init(**kwargs):
        raise AssertionError("ray.init must not be reached: Ray retries for 13 minutes")

    return SimpleNamespace(is_initialized=lambda: False, init=init)


@pytest.mark.parametrize(("address", "environment", "expected"), [
    ("127.0.0.1:{port}", None, r"no Ray cluster answers at address='127\.0\.0\.1:\d+' "
     r"\([\d.]+:\d+: Connection refused\): start the cluster .*without an address, a local"),
    ("ray://127.0.0.1:{port}", None, r"answers at address='ray://127\.0\.0\.1:\d+' "
     r"\(127\.0\.0\.1:\d+: Connection refused\)"),
    (None, "127.0.0.1:{port}", r"answers at RAY_ADDRESS=127\.0\.0\.1:\d+ .*unset RAY_ADDRESS"),
    ("127.0.0.1:{port}", "127.0.0.1:1", r"answers at address='127\.0\.0\.1:\d+' "),
    ("nonsense", None, r"address='nonsense' is not a Ray cluster address: give HOST:PORT"),
    ("auto", None, r"no running Ray cluster found for address='auto': start one"),
    ("auto", "127.0.0.1:{port}",
     r"answers at address='auto' \(RAY_ADDRESS=127\.0\.0\.1:\d+\) \([\d.]+:\d+: Connection"),
    (None, None, r"answers at the cluster `ray start` last started on this machine "
     r"\([\d.]+:\d+: Connection refused\): start it again .* `ray stop`"),
])
def test_a_cluster_that_does_not_answer_is_one_error_in_seconds(
        tmp_path, monkeypatch, address, environment, expected):
    from likeness.evaluation.engines.ray_cluster import connect

    ray = _unconnected_ray()
    port = _closed_port()
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # no cluster started here, or a stale one
    from ray._private import services  # and none running (the test cluster is, for "auto")

    monkeypatch.setattr(services, "find_gcs_addresses", list)
    if address is None and environment is None:
        (tmp_path / "ray").mkdir()
        (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")
    if environment is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", environment.format(port=port))
    started = time.monotonic()
    with pytest.raises(likeness.LikenessError, match=expected):
        connect(ray, address and address.format(port=port))
    assert time.monotonic() - started < 15
    assert os.environ.get("RAY_ADDRESS") == (environment and environment.format(port=port))


def test_a_cluster_that_does_not_answer_is_named_in_the_options_words(tmp_path, monkeypatch,
                                                                       folders):
    from likeness.cli import main

    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as before any ray.init
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = CliRunner().invoke(main, ["compare", str(folders / "ref"), str(folders / "blur"),
                                       "--no-cache", "--engine", "ray", "--address",
                                       f"127.0.0.1:{_closed_port()}"])
    assert result.exit_code == 1, result.output
    assert "no Ray cluster answers at --address 127.0.0.1:" in result.output
    assert "Traceback" not in result.output


def test_a_running_cluster_passes_the_probe_and_a_port_of_another_service_does_not(
        cluster, monkeypatch):
    """Ray retries a port that is open but not its head's (the dashboard's, 8265, is the
    usual mix-up) for 13 minutes too: the probe speaks gRPC's greeting first."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from ray._private import services

    from likeness.evaluation.engines.ray_cluster import connect

    nodes, _ = cluster
    joined = []
    ray = SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: joined.append(kw))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    connect(ray, nodes.address)
    assert [call["address"] for call in joined] == [nodes.address]
    # a head that answers but refuses the driver: Ray's own words say not why (a token)

    def refused(**kwargs):
        raise ConnectionError(f"Failed to connect to Ray cluster at {nodes.address}")

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(likeness.LikenessError, match=r"the Ray head at address='.+' answers, "
                       r"but joining it failed \(Failed to connect .*\): if the cluster uses "
                       r"token authentication .* set RAY_AUTH_MODE=token"):
        connect(SimpleNamespace(is_initialized=lambda: False, init=refused), nodes.address)

    class Page(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    web = HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    # Ray connects to this node's address for 127.0.0.1; the test server is on loopback
    monkeypatch.setattr(services, "resolve_ip_for_localhost", lambda host: host)
    try:
        with pytest.raises(likeness.LikenessError, match=r"127\.0\.0\.1:\d+: something "
                           r"listens there that does not speak gRPC, as Ray's head does"):
            connect(_unconnected_ray(), f"127.0.0.1:{web.server_address[1]}")
    finally:
        web.shutdown()
        web.server_close()
