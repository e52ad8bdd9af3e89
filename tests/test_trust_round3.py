"""Never silently wrong, round 3: one regression test per hostile case of the third sweep
(files changed during a run, ties at the nearest-neighbour radii, hostile statistics
files, out-of-range tensors, results written where they must not be, metric domains,
faults)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from PIL import Image

import likeness
from likeness.runs import execute as execute_module


def _save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(8)
    for index in range(4):
        base = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        _save(tmp_path / "ref" / f"{index}.png", base)
        noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        _save(tmp_path / "out" / f"{index}.png", noisy)
    return tmp_path


# -- 1. a file changed between hashing and decoding ------------------------------------------

def test_a_file_rewritten_during_a_run_never_poisons_the_cache(pairs, monkeypatch):
    cache = pairs / "cache.sqlite"
    truth = likeness.compare(pairs / "ref", pairs / "out", cache=False)
    original = {p: p.read_bytes() for p in (pairs / "out").iterdir()}
    hash_files = execute_module.hash_files

    def hash_then_rewrite(*args, **kwargs):
        hashed = hash_files(*args, **kwargs)
        for name in ("0.png", "1.png"):  # rewritten with their reference's bytes
            (pairs / "out" / name).write_bytes((pairs / "ref" / name).read_bytes())
        return hashed

    monkeypatch.setattr(execute_module, "hash_files", hash_then_rewrite)
    with pytest.warns(likeness.runs.folder.RunWarning):
        during = likeness.compare(pairs / "ref", pairs / "out", cache=cache)
    changed = [row for row in during.rows if row.test in ("0.png", "1.png")]
    assert all("changed during the run" in row.error for row in changed)
    assert all("ssim" not in row.values for row in changed)
    monkeypatch.undo()
    for path, data in original.items():  # the old bytes back: the old hashes again
        path.write_bytes(data)
    again = likeness.compare(pairs / "ref", pairs / "out", cache=cache)
    assert [r.values for r in again.rows] == [r.values for r in truth.rows]


def test_load_image_refuses_bytes_other_than_those_hashed(pairs):
    path = pairs / "ref" / "0.png"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert likeness.load_image(path, expect_sha256=digest).pixels.shape == (32, 32, 3)
    with pytest.raises(likeness.ImageLoadError, match="changed during the run"):
        likeness.load_image(path, expect_sha256="0" * 64)


def test_a_settled_file_rewritten_during_a_run_is_refused_and_the_others_not_rehashed(
        pairs, monkeypatch):
    """Files that last changed clearly before they were hashed (here: at once, the racy
    window set to nothing) are decoded without hashing their bytes again while they keep
    the stamp they were hashed at; a file rewritten since has another stamp: hashed, and
    refused."""
    import likeness.evaluation.infra.cache as cache_module

    monkeypatch.setattr(cache_module, "RACY_SECONDS", 0.0)
    hashed = []
    sha256 = hashlib.sha256  # hashlib's own: numba's cache hashes its sources too
    monkeypatch.setattr(hashlib, "sha256", lambda data=b"": (
        hashed.append(bytes(data[:4])), sha256(data))[1])
    hash_files = execute_module.hash_files

    def hash_then_rewrite(*args, **kwargs):
        found = hash_files(*args, **kwargs)
        assert set(found[0].settled) == set(found[0])  # every file settled
        path = pairs / "out" / "0.png"
        data = path.read_bytes()  # the same size, other bytes
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        return found

    monkeypatch.setattr(execute_module, "hash_files", hash_then_rewrite)
    with pytest.warns(likeness.runs.folder.RunWarning):
        during = likeness.compare(pairs / "ref", pairs / "out", cache=pairs / "c.sqlite",
                                  workers=1)
    assert ["changed during the run" in (row.error or "") for row in during.rows] == [
        True, False, False, False]
    assert hashed.count(b"\x89PNG") == 1  # the rewritten file alone


def test_set_features_read_settled_files_without_hashing_them_again(pairs, fid_weights,
                                                                    monkeypatch):
    import likeness.evaluation.infra.cache as cache_module

    monkeypatch.setattr(cache_module, "RACY_SECONDS", 0.0)
    sha256 = hashlib.sha256  # hashlib's own: numba's cache hashes its sources too

    def images_not_hashed(data=b""):
        assert bytes(data[:4]) != b"\x89PNG", "a settled file hashed again"
        return sha256(data)

    monkeypatch.setattr(hashlib, "sha256", images_not_hashed)
    with pytest.warns(UserWarning, match="singular"):
        result = likeness.fid(pairs / "ref", pairs / "out", weights=fid_weights,
                              device="cpu", cache=False, decoding="threads")
    assert [image_set.count for image_set in result.sets] == [4, 4]


def test_load_image_trusts_the_stamp_a_file_was_hashed_at_and_no_other(pairs):
    import time

    from likeness.io import file_stamp

    path = pairs / "ref" / "0.png"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    stamp = file_stamp(path.stat())
    # kept since it was hashed: its bytes are not hashed again (a wrong hash goes unseen)
    assert likeness.load_image(path, expect_sha256="0" * 64, hashed_stamp=stamp)
    elsewhere = (stamp[0], stamp[1], stamp[2], stamp[3] + 1, stamp[4])  # another inode
    with pytest.raises(likeness.ImageLoadError, match="changed during the run"):
        likeness.load_image(path, expect_sha256="0" * 64, hashed_stamp=elsewhere)
    time.sleep(0.05)  # past the file system clock's tick
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, same inode
    with pytest.raises(likeness.ImageLoadError, match="changed during the run"):
        likeness.load_image(path, expect_sha256=digest, hashed_stamp=stamp)


# -- 3. hostile statistics files -------------------------------------------------------------

def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _covariance(dims, seed=0):
    x = np.random.default_rng(seed).normal(size=(3 * dims, dims))
    return np.cov(x, rowvar=False)


def _hostile_statistics(folder):
    """name -> (file, what the refusal says)."""
    dims = 8
    good = _npz(folder / "good.npz", mu=np.zeros(dims), sigma=_covariance(dims))
    data = good.read_bytes()
    files = {
        "empty": (folder / "empty.npz", "empty"),
        "truncated": (folder / "truncated.npz", "not a readable .npz"),
        "crc": (folder / "crc.npz", "damaged|not a readable"),
        "not_psd": (_npz(folder / "not_psd.npz", mu=np.zeros(dims),
                         sigma=np.diag([1.0] * (dims - 1) + [-1.0])), "positive semi-definite"),
        "asymmetric": (_npz(folder / "asym.npz", mu=np.zeros(dims),
                            sigma=_covariance(dims) + np.triu(np.ones((dims, dims)), 1)),
                       "not symmetric"),
        "boolean_sigma": (_npz(folder / "bool.npz", mu=np.zeros(dims),
                               sigma=np.eye(dims, dtype=bool)), "not floating point"),
        "integer_mu": (_npz(folder / "int.npz", mu=np.zeros(dims, dtype=np.int64),
                            sigma=np.eye(dims)), "not floating point"),
        "other_dims": (_npz(folder / "dims.npz", mu=np.zeros(4), sigma=np.eye(4)),
                       "4-dimensional features, but this run's encoder gives 8"),
        "shapes": (_npz(folder / "shapes.npz", mu=np.zeros(dims), sigma=np.eye(dims + 1)),
                   "square matrix of its length"),
        "nan": (_npz(folder / "nan.npz", mu=np.full(dims, np.nan), sigma=np.eye(dims)),
                "NaN"),
        "objects": (folder / "objects.npz", "Python objects"),
        "count_type": (_npz(folder / "count.npz", mu=np.zeros(dims), sigma=np.eye(dims),
                            count=np.array("many")), "'count' must be one non-negative"),
        "bad_json": (_npz(folder / "json.npz", mu=np.zeros(dims), sigma=np.eye(dims),
                          likeness_settings=np.array("{not json")), "not the JSON object"),
        "huge_header": (folder / "huge.npz", "claims shape"),
    }
    files["empty"][0].write_bytes(b"")
    files["truncated"][0].write_bytes(data[: len(data) // 2])
    damaged = bytearray(data)
    damaged[len(damaged) // 3] ^= 0xFF  # inside sigma's data: its CRC fails
    files["crc"][0].write_bytes(bytes(damaged))
    np.savez(files["objects"][0], mu=np.zeros(dims), sigma=np.eye(dims),
             extra=np.array([{"a": 1}], dtype=object))
    import zipfile

    with zipfile.ZipFile(files["huge_header"][0], "w") as archive:
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
        for name, shape in (("mu", (8_000_000,)), ("sigma", (8_000_000, 8_000_000))):
            stream = __import__("io").BytesIO()
            np.lib.format.write_array_header_1_0(stream, {**header, "shape": shape})
            archive.writestr(f"{name}.npy", stream.getvalue() + b"\0" * 64)
    return files


def test_every_hostile_statistics_file_is_refused_naming_it(tmp_path):
    from likeness.evaluation.sets.features import load_statistics

    for name, (path, says) in _hostile_statistics(tmp_path).items():
        for dims in (8, None):  # None: any feature length (the header check still holds)
            if name == "other_dims" and dims is None:
                continue
            with pytest.raises(likeness.LikenessError, match=says) as raised:
                load_statistics(path, dims=dims)
            assert str(path) in str(raised.value), name



def test_a_positive_definite_statistics_file_needs_no_eigenvalues(tmp_path, monkeypatch):
    """A covariance of more images than dimensions is positive definite: its Cholesky
    factor proves it in a third of the eigenvalues' time (0.5 s at 2048²); a singular one
    (fewer images) is still accepted by its eigenvalues, a negative one refused."""
    from likeness.evaluation.sets.features import load_statistics

    rng = np.random.default_rng(4)
    definite = np.cov(rng.normal(size=(40, 8)), rowvar=False)
    singular = np.diag([1.0] * 7 + [0.0])  # a feature that never varies
    for name, sigma in (("definite", definite), ("singular", singular)):
        np.savez(tmp_path / f"{name}.npz", mu=np.zeros(8), sigma=sigma)
    eigenvalues = np.linalg.eigvalsh
    asked = []
    monkeypatch.setattr(np.linalg, "eigvalsh",
                        lambda matrix: asked.append(len(matrix)) or eigenvalues(matrix))
    load_statistics(tmp_path / "definite.npz", dims=8)
    assert asked == []
    load_statistics(tmp_path / "singular.npz", dims=8)
    assert asked == [8]

def test_frechet_distance_refuses_what_is_not_a_covariance():
    sigma = _covariance(6)
    with pytest.raises(likeness.LikenessError, match="not positive semi-definite"):
        likeness.frechet_distance(np.zeros(6), sigma, np.zeros(6), np.diag([1.0] * 5 + [-1]))
    with pytest.raises(likeness.LikenessError, match="not symmetric"):
        likeness.frechet_distance(np.zeros(6), sigma + np.triu(np.ones((6, 6)), 1),
                                  np.zeros(6), sigma)
    assert likeness.frechet_distance(np.zeros(6), sigma, np.zeros(6), sigma) == pytest.approx(
        0.0, abs=1e-9)


def test_the_command_line_names_the_statistics_file(tmp_path, fid_weights):
    from click.testing import CliRunner

    from likeness.cli import main

    files = _hostile_statistics(tmp_path)
    good = _npz(tmp_path / "good2048.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    for name, (path, _) in files.items():
        result = CliRunner().invoke(main, ["fid", str(path), str(good), "--weights",
                                           str(fid_weights), "--no-cache"])
        assert result.exit_code == 1, (name, result.output)
        assert str(path) in result.output, name
        assert "a bug in likeness" not in result.output, name


# -- 4. torch functions refuse what they cannot take ---------------------------------------

def _classical():
    from likeness.metrics import dss, fsim, gmsd, haarpsi, iw_ssim, mdsi, srsim, vif, vsi

    return {"gmsd": gmsd.gmsd, "ms_gmsd": gmsd.ms_gmsd, "vif_p": vif.vif_p, "mdsi": mdsi.mdsi,
            "haarpsi": haarpsi.haarpsi, "fsim": fsim.fsim, "fsimc": fsim.fsimc,
            "sr_sim": srsim.sr_sim, "vsi": vsi.vsi, "dss": dss.dss, "iw_ssim": iw_ssim.iw_ssim}


def _torch_functions():
    from likeness.metrics import ms_ssim, psnr, ssim

    return {**_classical(), "ssim": ssim.ssim, "ms_ssim": ms_ssim.ms_ssim, "psnr": psnr.psnr}


@pytest.mark.parametrize("name", sorted(_torch_functions()))
def test_every_torch_metric_refuses_bad_inputs_with_a_likeness_error(name):
    import torch

    function = _torch_functions()[name]
    x = torch.rand(1, 3, 176, 176, dtype=torch.float64)
    y = (x * 0.9).clamp(0, 1)
    one_nan = x.clone()
    one_nan[0, 0, 0, 0] = float("nan")
    cases = {
        "values 255x outside data_range": ((x * 255, y * 255), {"data_range": 1.0}),
        "one NaN pixel": ((one_nan, y), {"data_range": 1.0}),
        "negative values": ((x - 0.5, y), {"data_range": 1.0}),
        "infinite data range": ((x, y), {"data_range": float("inf")}),
        "zero data range": ((x, y), {"data_range": 0.0}),
        "lists": ((x.tolist(), y.tolist()), {"data_range": 1.0}),
        "no channel": ((x[:, :0], y[:, :0]), {"data_range": 1.0}),
        "boolean": ((x > 0.5, y > 0.5), {"data_range": 1.0}),
    }
    for args, kwargs in cases.values():  # every case refused, each a LikenessError
        with pytest.raises(likeness.LikenessError):
            function(*args, **kwargs)


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", sorted(_torch_functions()))
def test_16_bit_floats_are_computed_in_float32(name, half):
    import torch

    function = _torch_functions()[name]
    x = torch.rand(1, 3, 176, 176).to(getattr(torch, half))
    y = (x.float() * 0.9).to(getattr(torch, half))
    got = function(x, y, data_range=1.0)
    want = function(x.float(), y.float(), data_range=1.0)
    assert torch.equal(got, want)
    with pytest.raises(likeness.InvalidInputError, match="no image, no channel or no pixel"):
        function(x[:0], y[:0], data_range=1.0)  # an empty batch


def test_ssim_of_a_volume_without_channels_is_refused():
    import torch

    with pytest.raises(likeness.InvalidInputError, match="empty axis"):
        likeness.ssim(torch.rand(1, 0, 11, 32, 32), torch.rand(1, 0, 11, 32, 32),
                      data_range=1.0)


def test_compare_tensors_and_the_accumulator_refuse_with_likeness_errors(fid_weights):
    import torch

    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(likeness.LikenessError, match="data_range must be finite and positive"):
        likeness.compare_tensors(x, x, data_range=float("inf"))
    with pytest.raises(likeness.LikenessError, match="crop_border"):
        likeness.compare_tensors(x, x, data_range=1.0, crop_border=1.5)
    results = likeness.compare_tensors(x.to(torch.bfloat16), x.to(torch.bfloat16),
                                       data_range=1.0)
    assert results[0].values["ssim"] == pytest.approx(1.0)
    accumulator = likeness.Accumulator("fid", weights=fid_weights)
    with pytest.raises(likeness.InvalidInputTypeError, match="real must be True"):
        accumulator.update(x, real=None)
    with pytest.raises(TypeError):  # also a TypeError, as Python code expects
        accumulator.update(x, real="yes")


# -- 5. results written only as files likeness created ------------------------------------

def _foreign_database(path):
    import sqlite3

    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE mine (x INTEGER)")
        connection.execute("INSERT INTO mine VALUES (42)")
    connection.close()


def _tables(path):
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()


def test_a_planted_link_is_never_written_through(pairs):
    out = pairs / "run"
    likeness.compare(pairs / "ref", pairs / "out", out_dir=out, cache=False)
    precious = pairs / "precious.txt"
    precious.write_text("mine")
    (out / "summary.md").unlink()
    (out / "summary.md").symlink_to(precious)
    with pytest.raises(likeness.LikenessError, match="symbolic link"):
        likeness.compare(pairs / "ref", pairs / "out", out_dir=out, cache=False)
    assert precious.read_text() == "mine"
    # a link under the name of a temporary file is not followed either
    fresh = pairs / "fresh"
    fresh.mkdir()
    for name in ("per_image.csv.tmp", "run.json.tmp", "summary.md.tmp"):
        (fresh / name).symlink_to(precious)
    likeness.compare(pairs / "ref", pairs / "out", out_dir=fresh, cache=False,
                     overwrite=True)
    assert precious.read_text() == "mine"
    assert not (fresh / "summary.md").is_symlink()


def test_another_tools_run_and_database_are_never_touched(pairs):
    from click.testing import CliRunner

    from likeness.cli import main

    other = pairs / "other"
    other.mkdir()
    (other / "run.json").write_text('{"tool": "another", "settings": {}}')
    _foreign_database(other / "progress.sqlite")
    for overwrite in ([], ["--overwrite"]):
        result = CliRunner().invoke(main, ["compare", str(pairs / "ref"), str(pairs / "out"),
                                           "--out-dir", str(other), "--no-cache", *overwrite])
        assert result.exit_code == 1
        assert "likeness did not write" in result.output
        assert "--overwrite" not in result.output
        assert "differing" not in result.output
    assert _tables(other / "progress.sqlite") == {"mine"}
    alone = pairs / "alone"
    alone.mkdir()
    _foreign_database(alone / "progress.sqlite")
    with pytest.raises(likeness.LikenessError, match="likeness did not write"):
        likeness.compare(pairs / "ref", pairs / "out", out_dir=alone, overwrite=True)
    assert _tables(alone / "progress.sqlite") == {"mine"}


def test_the_users_own_files_are_never_replaced(pairs):
    home = pairs / "home"
    home.mkdir()
    (home / "references.bib").write_text("@book{mine}")
    (home / "summary.tex").write_text("my thesis")
    (home / "notes.txt").write_text("notes")
    with pytest.raises(likeness.LikenessError, match="never replaces files it did not write"):
        likeness.compare(pairs / "ref", pairs / "out", out_dir=home, overwrite=True)
    assert (home / "references.bib").read_text() == "@book{mine}"
    assert (home / "summary.tex").read_text() == "my thesis"
    beside = pairs / "beside"  # other files, none of the run's names: beside them
    beside.mkdir()
    (beside / "notes.txt").write_text("notes")
    with pytest.raises(likeness.LikenessError, match="pass overwrite=True"):
        likeness.compare(pairs / "ref", pairs / "out", out_dir=beside)
    likeness.compare(pairs / "ref", pairs / "out", out_dir=beside, overwrite=True)
    assert (beside / "notes.txt").read_text() == "notes"


def test_overwrite_removes_only_the_files_of_the_run_it_replaces(pairs):
    out = pairs / "run"
    likeness.compare(pairs / "ref", pairs / "out", out_dir=out, cache=False)
    (out / "mine.txt").write_text("kept")
    likeness.compare(pairs / "ref", pairs / "out", metrics="psnr", out_dir=out, cache=False,
                     overwrite=True)
    assert (out / "mine.txt").read_text() == "kept"
    assert "ssim" not in (out / "per_image.csv").read_text()


def test_an_out_dir_name_too_long_is_one_clear_message(pairs):
    from click.testing import CliRunner

    from likeness.cli import main

    result = CliRunner().invoke(main, ["compare", str(pairs / "ref"), str(pairs / "out"),
                                       "--out-dir", str(pairs / ("x" * 300)), "--no-cache"])
    assert result.exit_code == 1
    assert "a bug in likeness" not in result.output
    assert "File name too long" in result.output or "too long" in result.output


# -- 6. metric domains: a refusal with the reason, or the metric's defined value ---------------

@pytest.mark.parametrize("name", sorted(_classical()))
@pytest.mark.parametrize("size", [(1, 64), (2, 64), (9, 9), (24, 24), (31, 31), (40, 80),
                                  (176, 176)])
def test_classical_metrics_are_finite_or_refused_with_the_reason(name, size):
    import torch

    x = torch.rand(1, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = x * 0.8 + 0.1
    try:
        value = _classical()[name](x, y, data_range=1.0)
    except (likeness.ImageTooSmallError, likeness.UnsupportedImageError) as error:
        reason = str(error)
        value = None
    if value is None:  # a refusal says why
        assert "px" in reason or "needs" in reason
    else:
        assert torch.isfinite(value).all(), (name, size, value)


def test_constant_images_have_their_defined_values():
    import torch

    from likeness.metrics.haarpsi import haarpsi
    from likeness.metrics.iw_ssim import iw_ssim

    black = torch.zeros(1, 3, 176, 176, dtype=torch.float64)
    assert float(haarpsi(black, black)[0]) == pytest.approx(1.0, abs=1e-12)  # piq: +inf
    assert float(iw_ssim(black, black)[0]) == 1.0  # piq: a singular-matrix error
    with pytest.raises(likeness.UnsupportedImageError, match="flat"):
        iw_ssim(black, torch.ones_like(black))
    for name, function in _classical().items():
        value = float(function(black, black)[0])
        assert math.isfinite(value), name


def test_dss_below_eleven_blocks_is_refused_not_nan(pairs):
    import torch

    from likeness.metrics.dss import dss

    with pytest.raises(likeness.ImageTooSmallError, match="11 whole blocks"):
        dss(torch.rand(1, 1, 24, 24), torch.rand(1, 1, 24, 24))
    assert torch.isfinite(dss(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))).all()


def test_a_non_finite_pixel_metric_is_not_blamed_on_weights():
    from likeness.evaluation.catalog.registry import invalid_values

    values = {"gmsd": float("nan"), "lpips_alex": float("nan")}
    reasons = invalid_values(values)
    assert "checkpoint" not in reasons["gmsd"]
    assert "checkpoint" in reasons["lpips_alex"]


def test_a_pair_outside_a_domain_is_a_row_error_with_the_reason(tmp_path):
    rng = np.random.default_rng(4)
    for folder in ("ref", "out"):
        _save(tmp_path / folder / "small.png", rng.integers(0, 256, (24, 24, 3), np.uint8))
    results = likeness.compare(tmp_path / "ref", tmp_path / "out",
                               metrics="psnr,dss,vif_p,fsim", cache=False)
    row = results.rows[0]
    assert "dss: DSS needs images of at least 8 px" not in row.error
    assert "dss: DSS pools the lowest 5%" in row.error
    assert "vif_p: VIFp needs images of at least 41 px a side" in row.error
    assert set(row.values) == {"psnr", "fsim"}


# -- 7. faults: a run.json that tells the truth --------------------------------------------

def _record(folder):
    import json

    return json.loads((folder / "run.json").read_text())


def test_sighup_leaves_the_record_interrupted_and_no_journal(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(1)
    for index in range(300):  # long enough to be interrupted (several seconds)
        base = rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)
        _save(tmp_path / "ref" / f"{index}.png", base)
        _save(tmp_path / "out" / f"{index}.png", base // 2)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "likeness.cli", "compare", str(tmp_path / "ref"),
               str(tmp_path / "out"), "--metrics", "ssim,ms-ssim", "--no-cache",
               "--workers", "1", "--out-dir", str(run)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if (run / "progress.sqlite").exists() and (run / "run.json").exists():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGHUP)
    process.communicate(timeout=60)
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert not (run / "progress.sqlite-wal").exists()


def test_a_full_disk_leaves_the_record_failed_not_running(pairs, monkeypatch):
    import errno

    from likeness.runs import folder as folder_module

    def full(path, text, **kwargs):  # the results fail; so does the record's new copy
        raise OSError(errno.ENOSPC, "No space left on device")

    out = pairs / "run"
    out.mkdir()
    original = folder_module.replace_file
    calls = []

    def first_record_then_full(path, text, **kwargs):
        calls.append(path.name)
        if len(calls) == 1:  # the run's first record ("running") is written
            return original(path, text, **kwargs)
        return full(path, text, **kwargs)

    monkeypatch.setattr(folder_module, "replace_file", first_record_then_full)
    with pytest.raises(likeness.StorageError, match="No space left"):
        likeness.compare(pairs / "ref", pairs / "out", out_dir=out, cache=False)
    record = _record(out)
    assert record["status"] == "failed"
    assert "No space left" in record["error"]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_corrupt_cache_is_said_on_the_terminal_and_in_the_record(pairs):
    from click.testing import CliRunner

    from likeness.cli import main

    cache = pairs / "cache.sqlite"
    likeness.compare(pairs / "ref", pairs / "out", cache=cache)
    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) // 2])  # half-truncated
    result = CliRunner().invoke(main, ["compare", str(pairs / "ref"), str(pairs / "out"),
                                       "--cache", str(cache), "--out-dir", str(pairs / "run")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output
    assert "corrupt" in result.output
    assert any("corrupt" in w for w in _record(pairs / "run")["warnings"])


def test_a_truncated_per_image_csv_gives_no_partial_report(pairs):
    out = pairs / "run"
    likeness.compare(pairs / "ref", pairs / "out", out_dir=out, cache=False)
    lines = (out / "per_image.csv").read_text().splitlines(keepends=True)
    (out / "per_image.csv").write_text("".join(lines[:3]))
    with pytest.raises(likeness.LikenessError, match="per_image.csv changed since the run "
                                                     "wrote it"):
        likeness.write_report(out)
    record = json.loads((out / "run.json").read_text())
    # a folder written before run.json kept the tables' hashes (and its own)
    del record["tables_sha256"], record["record_sha256"]
    (out / "run.json").write_text(json.dumps(record))
    with pytest.raises(likeness.LikenessError, match="holds 2 rows but run.json records 4"):
        likeness.write_report(out)


def test_an_interrupted_report_is_not_listed_in_a_complete_record(pairs, monkeypatch):
    from click.testing import CliRunner

    import likeness.runs.report as report_module
    from likeness.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "build_report", interrupted)
    out = pairs / "run"
    CliRunner().invoke(main, ["compare", str(pairs / "ref"), str(pairs / "out"), "--out-dir",
                              str(out), "--html", "--no-cache"])
    record = _record(out)
    assert record["status"] == "complete"
    assert "report.html" not in record["files"]
    assert all((out / name).is_file() for name in record["files"])
    monkeypatch.undo()
    likeness.write_report(out)
    assert "report.html" in _record(out)["files"]


def test_special_paths_are_named_for_what_they_are(tmp_path):
    import os

    from click.testing import CliRunner

    from likeness.cli import main

    for folder in ("content", "style", "out"):
        _save(tmp_path / folder / "a.png", np.zeros((16, 16, 3), np.uint8))
    os.mkfifo(tmp_path / "out" / "fifo.png")
    (tmp_path / "triplets.csv").write_text("content,style,stylized\na.png,a.png,fifo.png\n")
    with pytest.raises(likeness.PairingError, match="FIFO"):
        likeness.evaluate_style(tmp_path / "content", tmp_path / "style", tmp_path / "out",
                                triplets=tmp_path / "triplets.csv", cache=False)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "loop"),
                                       str(tmp_path / "out" / "a.png")])
    assert result.exit_code == 2
    assert "symbolic link loop" in result.output


def test_the_cli_writes_cli_words_in_rows_and_report(pairs):
    from click.testing import CliRunner

    from likeness.cli import main

    rng = np.random.default_rng(0)
    _save(pairs / "ref" / "gray.png", rng.integers(0, 256, (32, 32), dtype=np.uint8))
    _save(pairs / "out" / "gray.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    out = pairs / "run"
    CliRunner().invoke(main, ["compare", str(pairs / "ref"), str(pairs / "out"), "--out-dir",
                              str(out), "--html", "--no-cache"])
    for name in ("per_image.csv", "report.html"):  # run.json holds no row's error
        text = (out / name).read_text()
        assert "--gray" in text, name
        assert "gray=True" not in text, name


def test_a_record_cut_short_by_a_full_disk_is_still_likenesss(pairs):
    out = pairs / "run"
    out.mkdir()
    (out / "run.json").write_text('{\n "likeness_version": "0.2.0",\n "sta')
    with pytest.raises(likeness.LikenessError, match="pass overwrite=True"):
        likeness.compare(pairs / "ref", pairs / "out", out_dir=out, cache=False)
    again = likeness.compare(pairs / "ref", pairs / "out", out_dir=out, cache=False,
                             overwrite=True)
    assert again.record["status"] == "complete"
