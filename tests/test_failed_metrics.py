"""Every metric of the registry × every way it can fail × every interface that writes a
results folder: the folder is complete (tables, BibTeX, methods, run.json, report), each
failure is an error row naming its cause, the methods paragraph names the metric that
failed, and nothing ends in a traceback.

Faults: the checkpoint is missing (offline, empty caches), the checkpoint is corrupt
(``weights={NAME: garbage}``), and the metric itself raises an unexpected exception (a
pixel or set metric's function, a network's builder).  Interfaces: the command line
(``--out-dir --html``, in process through click's ``CliRunner``) and Python
(``out_dir=`` then ``write_report``).
"""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from likeness.cli import main
from likeness.evaluation.catalog import networks as networks_module
from likeness.evaluation.catalog.networks import NETWORKS
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines import set_runs as sets_module
from likeness.evaluation.items.image_set import ImageSet
from likeness.runs.folder import RUN_FILES

STYLE_ONLY = [m for m, spec in METRICS.items() if "compare" not in spec.commands]
NETWORKED = [m for m in METRICS if METRICS[m].network or METRICS[m].needs]
CASES = ([(m, "missing") for m in NETWORKED] + [(m, "corrupt") for m in NETWORKED]
         + [(m, "raising") for m in METRICS])


def _checkpoints(metric: str) -> tuple[str, ...]:
    """Every checkpoint file the metric's network loads (the aesthetic head: two)."""
    spec = METRICS[metric]
    if spec.features is not None:
        return NETWORKS[spec.features.network].checkpoints
    return NETWORKS[spec.set_network or ""].checkpoints


def _save(path, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    # large enough for every metric's domain (IW-SSIM: 161 px): the faults are the failures
    Image.fromarray(rng.integers(0, 256, (176, 176, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def folders(tmp_path):
    """Two compare pairs, and one style triplet."""
    for index in range(2):
        _save(tmp_path / "ref" / f"{index}.png", index)
        _save(tmp_path / "out" / f"{index}.png", index + 10)
    _save(tmp_path / "content" / "c.png", 20)
    _save(tmp_path / "style" / "s.png", 21)
    _save(tmp_path / "stylized" / "c__s.png", 22)
    return tmp_path


class _Boom(RuntimeError):
    pass


def _raise(*args, **kwargs):
    raise _Boom("boom: a failure inside the metric")


def _random_features(files, names, source, extractor, cache, **options):
    rng = np.random.default_rng(len(files))
    return ImageSet(source=source, files=[names[f] for f in files],
                    features=rng.standard_normal((len(files), extractor.dims)).astype(np.float32),
                    settings=extractor.settings)


@pytest.fixture
def fault(request, folders, monkeypatch):
    """Set up the fault; return (metric, extra weights, the words the error must contain)."""
    metric, kind = request.param
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    monkeypatch.setenv("LIKENESS_WEIGHTS_DIR", str(folders / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(folders / "no-torch"))
    for name in (metric, *METRICS[metric].needs):  # 2 images: sizes refuse KID & co. first
        if METRICS[name].set_sizes is not None:  # (tests/test_fid.py); the fault is tested
            monkeypatch.setitem(METRICS, name, dataclasses.replace(METRICS[name],
                                                                   set_sizes=None))
    weights = {}
    if kind == "missing":
        from likeness.nets.weights import REGISTRY

        import_only = any(not REGISTRY[c].url for m in (metric, *METRICS[metric].needs)
                          if METRICS[m].network for c in _checkpoints(m))
        cause = "likeness does not download it" if import_only else "LIKENESS_OFFLINE is set"
    elif kind == "corrupt":
        garbage = folders / "garbage.pth"
        garbage.write_bytes(b"not a checkpoint at all")
        weights = {c: str(garbage) for m in (metric, *METRICS[metric].needs)
                   if METRICS[m].network for c in _checkpoints(m)}
        cause = "not a loadable checkpoint"
    else:
        cause = "boom"
        spec = METRICS[metric]
        targets = [metric, *spec.needs]
        # the checkpoints resolve (user-supplied files are hashed, not loaded), the sets'
        # features are stand-ins: the failure is the metric's own
        dummy = folders / "dummy.pth"
        dummy.write_bytes(b"never loaded")
        weights = {c: str(dummy) for m in targets if METRICS[m].network
                   for c in _checkpoints(m)}
        monkeypatch.setattr(sets_module, "features_of_files", _random_features)
        for name in targets:
            own = METRICS[name]
            if own.pixels is not None:
                monkeypatch.setitem(METRICS, name, dataclasses.replace(own, pixels=_raise))
            elif own.set_value is not None:
                monkeypatch.setitem(METRICS, name, dataclasses.replace(own, set_value=_raise))
            elif own.features is not None:
                network = NETWORKS[own.features.network]
                monkeypatch.setitem(networks_module.NETWORKS, own.features.network,
                                    dataclasses.replace(network, build=_raise))
    return metric, weights, cause


def _run_cli(metric, weights, folders, out):
    if metric in STYLE_ONLY:
        arguments = ["style", "--content", str(folders / "content"), "--style",
                     str(folders / "style"), "--stylized", str(folders / "stylized")]
    else:
        arguments = ["compare", str(folders / "ref"), str(folders / "out")]
    arguments += ["--metrics", metric, "--out-dir", str(out), "--html", "--no-cache"]
    for name, path in weights.items():
        arguments += ["--weights", f"{name}={path}"]
    return CliRunner().invoke(main, arguments)


def _run_python(metric, weights, folders, out):
    if metric in STYLE_ONLY:
        results = likeness.evaluate_style(folders / "content", folders / "style",
                                          folders / "stylized", metrics=metric, out_dir=out,
                                          weights=weights, cache=False)
    else:
        results = likeness.compare(folders / "ref", folders / "out", metrics=metric,
                                   out_dir=out, weights=weights, cache=False)
    likeness.write_report(out)
    return results


def _check_folder(out, metric, cause, words):
    for name in (*RUN_FILES, "report.html"):
        assert (out / name).is_file(), name
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete"
    failure = record["metric_failures"][metric]
    assert failure["computed"] == 0
    assert cause in failure["reason"]
    if METRICS[metric].kind == "set":
        errors = [e["error"] for e in record["set_errors"] if e["metric"] == metric]
    else:
        with open(out / "per_image.csv", newline="", encoding="utf-8") as handle:
            errors = [row["error"] for row in csv.DictReader(handle)]
    assert errors
    assert all(f"{metric}: " in e or METRICS[metric].kind == "set" for e in errors)
    assert all(cause in e for e in errors)
    methods = (out / "methods.md").read_text()
    assert f"(`{metric}`) was requested but could not be computed" in methods
    for name in ("per_image.csv", "run.json", "methods.md"):
        text = (out / name).read_text()
        for wrong in words:
            assert wrong not in text, (name, wrong)


@pytest.mark.parametrize("fault", CASES, indirect=True, ids=[f"{m}-{k}" for m, k in CASES])
def test_a_failed_metric_still_writes_a_complete_results_folder(fault, folders):
    metric, weights, cause = fault
    result = _run_cli(metric, weights, folders, folders / "cli")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "a bug in likeness" not in result.output
    assert "report written to" in result.output
    # the command line's words, never Python's, in what it writes
    _check_folder(folders / "cli", metric, cause, ["weights={", "overwrite=True"])
    with pytest.warns(likeness.runs.folder.RunWarning):
        results = _run_python(metric, weights, folders, folders / "python")
    assert results.record["metric_failures"][metric]["computed"] == 0
    _check_folder(folders / "python", metric, cause, ["--weights"])


def _interrupted(*args, **kwargs):
    """Ctrl-C as it comes back from numba's dispatcher (FSIM's kernels): the handler's
    KeyboardInterrupt at the end of SystemErrors' causes."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("<built-in method sum> returned a result with an exception "
                              "set") from interrupt
    except SystemError as inner:
        raise SystemError("CPUDispatcher(<function phase_sums>) returned a result with an "
                          "exception set") from inner


def test_ctrl_c_inside_a_compiled_kernel_stops_the_run(folders, monkeypatch):
    """Ctrl-C arriving while numba ran FSIM's kernel (one in ten, measured) became that
    pair's FSIM error, "SystemError: CPUDispatcher(…) returned a result with an exception
    set": the run went on to the end, and the error was cached, so the re-run reported it
    again.  The interrupt is found behind the error and stops the run, as Ctrl-C does
    anywhere else; so for a network that fails to build."""
    monkeypatch.setitem(METRICS, "ssim", dataclasses.replace(METRICS["ssim"],
                                                             pixels=_interrupted))
    with pytest.raises(KeyboardInterrupt):
        likeness.compare(folders / "ref", folders / "out", metrics="psnr,ssim",
                         out_dir=folders / "python", cache=False)
    assert json.loads((folders / "python" / "run.json").read_text())["status"] == \
        "interrupted"
    result = CliRunner().invoke(main, ["compare", str(folders / "ref"), str(folders / "out"),
                                       "--metrics", "ssim", "--no-cache"])
    assert result.exit_code == 130, result.output
    assert "interrupted (Ctrl-C)" in result.output
    assert "SystemError" not in result.output
    monkeypatch.setitem(networks_module.NETWORKS, "lpips_alex", dataclasses.replace(
        NETWORKS["lpips_alex"], build=_interrupted))
    dummy = folders / "dummy.pth"
    dummy.write_bytes(b"never loaded")
    with pytest.raises(KeyboardInterrupt):
        likeness.compare(folders / "ref", folders / "out", metrics="lpips-alex",
                         cache=False, weights={"alexnet": dummy})


def test_a_failure_of_the_machine_or_of_likeness_is_computed_again(folders, monkeypatch):
    """A metric's failure was cached whatever it was: an unexpected exception (a fault, a
    bug) stayed the pair's error in every later run with the same cache.  Only likeness's
    own refusals of the item (LikenessError) are cached now."""
    cache = folders / "cache.sqlite"
    monkeypatch.setitem(METRICS, "ssim", dataclasses.replace(METRICS["ssim"], pixels=_raise))
    first = likeness.compare(folders / "ref", folders / "out", metrics="ssim,psnr",
                             cache=cache)
    assert all("boom" in (row.error or "") for row in first.rows)
    monkeypatch.undo()
    second = likeness.compare(folders / "ref", folders / "out", metrics="ssim,psnr",
                              cache=cache)
    assert all(row.error is None and 0 < row.values["ssim"] < 1 for row in second.rows)
