"""The accelerator's paths, run on the CPU: pixel metrics in batches (``DeviceBatches``,
``MetricSpec.on_device``), decoding in processes (``ordered_map(processes=True)``), the
plain-PNG decoder, batched LPIPS distances and pytorch-fid's input made from decoded
integers.  On CUDA the same code runs on the GPU (benchmarks/bench_cuda.py compares its
values with the CPU's there)."""

from __future__ import annotations

import io
import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import likeness
from likeness.errors import ImageLoadError, InvalidInputError
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.engines.compute import ItemComputer
from likeness.evaluation.engines.on_device import DeviceBatches
from likeness.evaluation.infra.pipeline import WorkerDiedError, ordered_map
from likeness.evaluation.items.prepare import PreparedPair
from likeness.evaluation.items.settings import ExecutionOptions, RunSettings
from likeness.io import load_image
from likeness.io.plain_png import decode_plain_png
from likeness.metrics.exact_sums import true_divide

PAIRS = Path(__file__).resolve().parent / "data" / "matlab_pairs"
ON_DEVICE = [name for name, spec in METRICS.items() if spec.on_device is not None]
SETTINGS = [{}, {"convention": "matlab"}, {"ssim_convention": "wang2004"},
            {"ssim_convention": "pytorch-msssim"}, {"ssim_convention": "torchmetrics"},
            {"ms_ssim_convention": "piq"}, {"ms_ssim_convention": "torchmetrics"},
            {"ms_ssim_convention": "matlab-wtd-sum"}]


class _Outcome:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.errors: dict[str, str] = {}


def _tid_pairs() -> list[PreparedPair]:
    """TID2013 crops: even and odd sizes, colour, gray, 16-bit."""
    reference = np.asarray(Image.open(PAIRS / "tid2013_I19_reference.png"))
    distorted = np.asarray(Image.open(PAIRS / "tid2013_I19_distorted.png"))
    pairs = []
    for top, left, height, width in ((0, 0, 192, 256), (37, 11, 191, 253)):
        crop = (slice(top, top + height), slice(left, left + width))
        pairs.append(PreparedPair(reference[crop], distorted[crop], 255.0, ()))
    pairs.append(PreparedPair(reference[:200, :240, :1].copy(), distorted[:200, :240, :1].copy(),
                              255.0, ()))
    pairs.append(PreparedPair(reference[:160, :200].astype(np.uint16) * 257,
                              distorted[:160, :200].astype(np.uint16) * 257, 65535.0, ()))
    return pairs


def _on_device(settings: RunSettings, pairs: list[PreparedPair], metrics: list[str]
               ) -> tuple[list[_Outcome], list[str]]:
    outcomes = [_Outcome() for _ in pairs]
    batches = DeviceBatches("cpu", settings)
    on_cpu: list[str] = []
    for outcome, pair in zip(outcomes, pairs, strict=True):
        for metric in metrics:
            assert batches.defer(outcome, metric, pair)

    def fallback(deferred):
        on_cpu.append(deferred.metric)
        try:
            deferred.outcome.values[deferred.metric] = METRICS[deferred.metric].pixels(
                deferred.pair, settings)
        except Exception as error:  # noqa: BLE001 - recorded, as the engine does
            deferred.outcome.errors[deferred.metric] = str(error)

    batches.compute(fallback)
    return outcomes, on_cpu


@pytest.mark.parametrize("conventions", SETTINGS, ids=lambda s: ",".join(
    f"{k}={v}" for k, v in s.items()) or "defaults")
def test_every_pixel_metric_in_batches_equals_its_value_pair_by_pair(conventions):
    settings = RunSettings(metrics=tuple(ON_DEVICE), **conventions)
    pairs = _tid_pairs()
    outcomes, _ = _on_device(settings, pairs, ON_DEVICE)
    for outcome, pair in zip(outcomes, pairs, strict=True):
        for metric in ON_DEVICE:
            try:
                want = METRICS[metric].pixels(pair, settings)
            except Exception:  # noqa: BLE001 - the batch path must fail it too
                want = None
            if want is None:
                assert metric in outcome.errors, metric
                assert metric not in outcome.values, metric
                continue
            got = outcome.values[metric]
            if metric == "mse":  # exact int64 sums: the CPU's value, bit for bit
                assert got == want
            else:
                assert got == pytest.approx(want, rel=1e-12, abs=1e-14), metric


def test_integer_ssim_and_psnr_take_the_exact_sums():
    """scikit-image's SSIM of 8-bit images: the same window map, summed in another order;
    PSNR: the CPU's MSE exactly, its log10 within an ulp."""
    settings = RunSettings(metrics=("ssim", "psnr"))
    pairs = _tid_pairs()[:2]
    outcomes, on_cpu = _on_device(settings, pairs, ["ssim", "psnr"])
    assert on_cpu == []
    for outcome, pair in zip(outcomes, pairs, strict=True):
        assert outcome.values["ssim"] == pytest.approx(METRICS["ssim"].pixels(pair, settings),
                                                       rel=2e-15)
        assert outcome.values["psnr"] == pytest.approx(METRICS["psnr"].pixels(pair, settings),
                                                       rel=2e-15)


def test_a_pair_the_device_cannot_compute_gets_the_cpu_error():
    """Images smaller than the window: the device hands them back, and the CPU's own error
    is the item's — the batch they were in changes nothing."""
    settings = RunSettings(metrics=("ssim", "ms_ssim"))
    tiny = PreparedPair(np.zeros((5, 6, 3), np.uint8), np.ones((5, 6, 3), np.uint8), 255.0, ())
    outcomes, on_cpu = _on_device(settings, [tiny], ["ssim", "ms_ssim"])
    assert sorted(on_cpu) == ["ms_ssim", "ssim"]
    assert "7x7" in outcomes[0].errors["ssim"]
    assert "MS-SSIM" in outcomes[0].errors["ms_ssim"]


def test_the_basicsr_and_matlab_ssim_conventions_stay_on_the_cpu():
    pair = _tid_pairs()[2]
    for convention in ("basicsr", "matlab"):
        settings = RunSettings(metrics=("ssim",), ssim_convention=convention)
        outcomes, on_cpu = _on_device(settings, [pair], ["ssim"])
        assert on_cpu == ["ssim"]
        assert outcomes[0].values["ssim"] == METRICS["ssim"].pixels(pair, settings)


def test_true_divide_rounds_once():
    numerator = torch.arange(1, 10_000, dtype=torch.float64) * 7.3
    want = numerator.numpy() / 255.0
    assert np.array_equal(true_divide(numerator, 255.0).numpy(), want)
    assert np.array_equal(true_divide(255.0, numerator).numpy(), 255.0 / numerator.numpy())


def test_an_item_computer_with_a_pixel_device_gives_the_cpu_outcomes(tid2013_folders):
    from likeness.evaluation.items.plan import Item

    reference, test = tid2013_folders
    item = Item("out", reference / "a.png", test / "a.png", "a.png", "a.png")
    metrics = ("ssim", "psnr", "mse", "ms_ssim", "gmsd")
    settings = RunSettings(metrics=metrics)
    image, other = load_image(item.reference), load_image(item.test)
    results = []
    for device in (None, "cpu"):
        computer = ItemComputer(metrics, settings, Networks("cpu"), pixel_device=device)
        assert computer.batches_pixels == (device is not None)
        results.append(computer.compute([([item], _decoded(image, other))])[0])
    plain, batched = results
    assert batched.notes == plain.notes
    assert batched.errors == plain.errors
    assert batched.values["mse"] == plain.values["mse"]
    for metric in metrics:
        assert batched.values[metric] == pytest.approx(plain.values[metric], rel=1e-12)


def test_images_shared_on_the_device_give_the_same_outcomes(tid2013_folders, stand_in):
    # the wiring a CUDA run makes (one copy of each image for the pixel metrics and the
    # networks, inputs made a batch at a time), run on the CPU
    from likeness.evaluation.engines.on_device import DeviceImages
    from likeness.evaluation.items.plan import Item

    reference, test = tid2013_folders
    (test / "b.png").write_bytes((reference / "a.png").read_bytes())
    items = [Item("out", reference / "a.png", test / name, "a.png", name)
             for name in ("a.png", "b.png")]
    metrics = ("ssim", "psnr", "lpips_alex")
    settings = RunSettings(metrics=metrics)
    decoded = _decoded(load_image(items[0].reference), load_image(items[0].test))
    decoded.tests.append(load_image(items[1].test))
    results = []
    for shared in (False, True):
        computer = ItemComputer(metrics, settings,
                                Networks("cpu", {"alexnet": str(stand_in["alexnet"])}),
                                pixel_device="cpu", batch_size=4)
        if shared:
            computer.images = DeviceImages("cpu")
            computer.device_batches.images = computer.images
            computer.network_stage.images = computer.images
        results.append(computer.compute([(items, decoded)]))
        assert not shared or not computer.images._kept  # let go after the computation
    for plain, together in zip(*results, strict=True):
        assert together.errors == plain.errors == {}
        assert together.values == plain.values
    assert results[1][1].values["lpips_alex"] == 0.0  # the reference against itself


def test_a_batch_s_distances_are_read_back_when_collected(tid2013_folders, stand_in):
    # what lets a run queue the next batch before reading this one back
    from likeness.evaluation.engines.network_values import NetworkStage, Pending
    from likeness.evaluation.items.prepare import prepare_pair

    reference, test = tid2013_folders
    pair = prepare_pair(load_image(reference / "a.png"), load_image(test / "a.png"))
    networks = Networks("cpu", {"alexnet": str(stand_in["alexnet"])})
    stage = NetworkStage(["lpips_alex"], RunSettings(metrics=("lpips_alex",)), networks, 4, {})
    outcomes = [_Outcome(), _Outcome()]
    collect = stage.compute([Pending(outcome, None, pair, 0) for outcome in outcomes])
    assert [o.values for o in outcomes] == [{}, {}]
    collect()
    assert outcomes[0].values["lpips_alex"] == outcomes[1].values["lpips_alex"] > 0
    assert outcomes[0].errors == {}


def test_device_batches_let_go_of_their_own_images():
    settings = RunSettings(metrics=("psnr",))
    batches = DeviceBatches("cpu", settings)
    outcome = _Outcome()
    pixels = np.zeros((8, 8, 3), np.uint8)
    batches.defer(outcome, "psnr", PreparedPair(pixels, pixels + 1, 255.0, ()))
    batches.compute(lambda deferred: None)
    assert outcome.values["psnr"] == pytest.approx(48.1308036086791)
    assert not batches.images._kept


def _decoded(reference, test):
    from likeness.evaluation.engines.compute import Decoded

    return Decoded(reference, [test])


# decoding in processes -------------------------------------------------------------------

def _square(value: int) -> int:
    if value == 3:
        raise InvalidInputError("three")
    return value * value


def _die_on_five(value: int) -> int:
    if value == 5:
        os._exit(1)  # a decoder crashing: the worker process dies
    return value


def test_processes_keep_the_order_and_return_errors():
    results = list(ordered_map(_square, range(8), workers=2, processes=True))
    assert [item for item, _, _ in results] == list(range(8))
    assert [value for _, value, error in results if error is None] == [
        0, 1, 4, 16, 25, 36, 49]
    assert isinstance(results[3][2], InvalidInputError)


def _image_of(value: int):
    from likeness.evaluation.engines.compute import Decoded

    pixels = np.full((300, 200, 3), value, np.uint8)
    small = np.full((4, 4), value, np.uint16)
    return Decoded(InvalidInputError("kept as it is"), [pixels, (small, pixels[:, :, 0])])


def _shared_files():
    from likeness.evaluation.infra.shared_arrays import SHARED_FOLDER

    return sorted(SHARED_FOLDER.glob(f"likeness-{os.getpid()}-*"))


def test_images_from_processes_come_through_shared_slots():
    results = list(ordered_map(_image_of, range(3), workers=2, processes=True))
    for value, (item, decoded, error) in zip(range(3), results, strict=True):
        assert item == value
        assert error is None
        assert str(decoded.reference) == "kept as it is"
        pixels, (small, plane) = decoded.tests
        assert np.array_equal(pixels, np.full((300, 200, 3), value, np.uint8))
        assert np.array_equal(plane, pixels[:, :, 0])
        assert small.dtype == np.uint16
        assert np.array_equal(small, np.full((4, 4), value, np.uint16))
        # a slice that is not contiguous, and a small array, come through the pipe
        assert [_where(a) for a in (pixels, plane, small)] == ["slot", "pipe", "pipe"]
    assert _shared_files() == []


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm here")
def test_images_come_through_files_where_no_slot_serves(monkeypatch):
    from likeness.evaluation.infra.shared_slots import SharedSlots

    monkeypatch.setattr(SharedSlots, "create", classmethod(lambda cls, count: None))
    results = list(ordered_map(_image_of, range(3), workers=2, processes=True))
    assert [int(decoded.tests[0][0, 0, 0]) for _, decoded, _ in results] == [0, 1, 2]
    assert [_where(decoded.tests[0]) for _, decoded, _ in results] == ["file"] * 3
    assert _shared_files() == []  # each file's name removed once mapped


def _where(array) -> str:
    """How an array came from a decoding process: in a slot of the pool's shared mapping,
    in a mapped file of its own, or through the pipe."""
    import mmap

    from likeness.evaluation.infra.shared_slots import Lease

    while array is not None:
        if isinstance(getattr(array, "_lease", None), Lease):
            return "slot"
        if isinstance(array, mmap.mmap):
            return "file"
        array = array.obj if isinstance(array, memoryview) else getattr(array, "base", None)
    return "pipe"


def test_images_go_through_the_pipes_where_shared_memory_cannot_be_written(monkeypatch,
                                                                          tmp_path):
    from likeness.evaluation.infra import shared_arrays
    from likeness.evaluation.infra.shared_slots import SharedSlots

    monkeypatch.setattr(SharedSlots, "create", classmethod(lambda cls, count: None))
    monkeypatch.setattr(shared_arrays, "SHARED_FOLDER", tmp_path / "missing")
    results = list(ordered_map(_image_of, range(2), workers=2, processes=True))
    assert [int(decoded.tests[0][0, 0, 0]) for _, decoded, _ in results] == [0, 1]
    assert [_where(decoded.tests[0]) for _, decoded, _ in results] == ["pipe"] * 2


def test_files_a_dead_worker_left_are_removed():
    from likeness.evaluation.infra.shared_arrays import SHARED_FOLDER, remove_leftovers

    if not SHARED_FOLDER.is_dir():
        pytest.skip("no /dev/shm here")
    left = SHARED_FOLDER / f"likeness-{os.getpid()}-left"
    left.write_bytes(b"x")
    remove_leftovers(os.getpid())
    assert not left.exists()


def test_a_dying_worker_fails_only_its_own_item():
    results = list(ordered_map(_die_on_five, range(10), workers=2, window=3, processes=True))
    assert [item for item, _, _ in results] == list(range(10))
    for item, value, error in results:
        if item == 5:
            assert isinstance(error, WorkerDiedError)
            assert "died while reading this file alone" in str(error)
        else:
            assert error is None
            assert value == item


def test_a_submission_carries_a_chunk_of_items_with_two_chunks_a_worker_in_the_window():
    from likeness.evaluation.infra.pipeline import MOST_A_CHUNK, chunk_size

    assert chunk_size(15, 2 * 15 + 64) == 3  # a CUDA run's compare on 16 cores
    assert chunk_size(2, 2 * 2 + 16) == MOST_A_CHUNK == 4
    assert chunk_size(2, 8) == 2
    assert chunk_size(2, 3) == chunk_size(1, 1) == 1


def test_items_in_chunks_keep_their_order_their_own_errors_and_their_slots():
    results = list(ordered_map(_image_of_or_error, range(10), workers=1, window=8,
                               processes=True))  # chunks of 4
    assert [item for item, _, _ in results] == list(range(10))
    for item, decoded, error in results:
        if item == 3:
            assert isinstance(error, InvalidInputError)
            assert str(error) == "three"
            # raised in a worker: its traceback's text comes back as the cause
            assert "_image_of_or_error" in str(error.__cause__)
        else:
            assert error is None
            assert np.array_equal(decoded.tests[0], np.full((300, 200, 3), item, np.uint8))
            assert _where(decoded.tests[0]) == "slot"


def _image_of_or_error(value: int):
    if value == 3:
        raise InvalidInputError("three")
    return _image_of(value)


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle this")


class _Unrebuildable(Exception):
    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")


def _errors_that_cannot_travel(value: int) -> int:
    if value == 2:
        raise _Unpicklable("a lock inside")
    if value == 4:
        raise _Unrebuildable("x.png", "bad")  # pickled, but not unpickled: args differ
    return value


def test_an_error_that_cannot_travel_comes_back_named_and_fails_only_its_item():
    results = list(ordered_map(_errors_that_cannot_travel, range(6), workers=1, window=8,
                               processes=True))
    assert [value for _, value, error in results if error is None] == [0, 1, 3, 5]
    assert [(type(results[i][2]), str(results[i][2])) for i in (2, 4)] == [
        (RuntimeError, "_Unpicklable: a lock inside"),
        (RuntimeError, "_Unrebuildable: x.png: bad")]


def test_an_error_outside_catch_stops_the_run_at_its_turn():
    stream = ordered_map(_square, range(8), workers=1, window=8, catch=(OSError,),
                         processes=True)
    assert [next(stream)[0] for _ in range(3)] == [0, 1, 2]
    with pytest.raises(InvalidInputError, match="three"):
        next(stream)


def test_a_dying_worker_fails_only_its_own_item_of_a_chunk():
    results = list(ordered_map(_die_on_five, range(10), workers=1, window=8,
                               processes=True))  # 5 dies in the chunk 4–7
    assert [item for item, _, _ in results] == list(range(10))
    assert isinstance(results[5][2], WorkerDiedError)
    assert [value for item, value, error in results if item != 5] == [
        0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert all(error is None for item, _, error in results if item != 5)


def _die_on_zero(value: int) -> int:
    if value == 0:
        os._exit(1)
    return value


def _after_a_pause(count: int):
    import time

    for value in range(count):
        if value == 4:  # the worker that ran 0 is dead and its pool broken by now
            time.sleep(0.5)
        yield value


def test_items_submitted_to_a_pool_already_broken_are_run_again():
    results = list(ordered_map(_die_on_zero, _after_a_pause(10), workers=1, window=8,
                               processes=True))
    assert isinstance(results[0][2], WorkerDiedError)
    assert [(item, value, error) for item, value, error in results[1:]] == [
        (item, item, None) for item in range(1, 10)]


def test_forking_workers_from_a_process_with_threads_warns_nobody(monkeypatch):
    """Python 3.12 warns when a process with threads forks; forking the decoders is
    ordered_map's choice (as DataLoader's), not something its user can act on."""
    import warnings

    fork = os.fork

    def warning_fork():
        warnings.warn(f"This process (pid={os.getpid()}) is multi-threaded, use of fork() "
                      "may lead to deadlocks in the child.", DeprecationWarning, stacklevel=2)
        return fork()

    monkeypatch.setattr(os, "fork", warning_fork)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        results = list(ordered_map(_square, range(4), workers=2, catch=(InvalidInputError,),
                                   processes=True))
    assert [value for _, value, _ in results] == [0, 1, 4, None]
    assert [str(w.message) for w in shown] == []


def _interrupt_handler(_: int):
    import signal

    return signal.getsignal(signal.SIGINT)


def test_workers_leave_ctrl_c_to_the_run():
    import signal

    results = list(ordered_map(_interrupt_handler, range(2), workers=2, processes=True))
    assert [value for _, value, _ in results] == [signal.SIG_IGN] * 2


_INTERRUPTED_RUN = """
import sys, time
from likeness.evaluation.infra.pipeline import ordered_map

def same(value):
    return value

if __name__ == "__main__":
    try:  # the workers wait for work most of the time, as decoders do for a slow network
        for item, _, _ in ordered_map(same, range(400), workers=2, window=2, processes=True):
            if item == 0:
                print("started", flush=True)
            time.sleep(0.05)
    except KeyboardInterrupt:
        sys.exit(130)
"""


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs process groups")
def test_ctrl_c_stops_a_run_decoding_in_processes_without_tracebacks(tmp_path):
    """Ctrl-C reaches every process of the run (a terminal signals its process group): the
    run stops within a decode, and no worker prints a traceback."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(_INTERRUPTED_RUN)
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert run.stdout is not None
        assert run.stdout.readline() == "started\n"
        os.killpg(run.pid, signal.SIGINT)
        _, errors = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130
    assert "Traceback" not in errors
    assert errors == ""


def _stopped(*args, **kwargs):
    raise KeyboardInterrupt  # or SIGTERM's SystemExit: the run stops mid-way


def _while_stopping(run) -> tuple[list, list]:
    """The processes and shared-memory files left while the stop propagates (its traceback
    holds the stopped frames and their generators, as the interpreter's exit does)."""
    import multiprocessing

    try:
        run()
    except KeyboardInterrupt:  # still propagating: its frames are alive
        return multiprocessing.active_children(), _shared_files()
    raise AssertionError("the run was not stopped")


def test_a_stopped_compare_shuts_its_decoding_processes_down(tid2013_folders, monkeypatch):
    """A run stopped mid-way (Ctrl-C; SIGTERM from a scheduler, which the command line turns
    into an exit) shuts its pool down as the stop leaves the loop — not when the interpreter
    exits, when images in transit were left in /dev/shm."""
    reference, test = tid2013_folders
    for name in "bcdef":
        for folder in (reference, test):
            (folder / f"{name}.png").write_bytes((folder / "a.png").read_bytes())
    monkeypatch.setattr(ItemComputer, "launch", _stopped)
    assert _while_stopping(lambda: likeness.compare(
        reference, test, metrics="ssim,psnr", cache=False, workers=2, decoding="processes",
        batch_size=1)) == ([], [])


def test_stopped_set_features_shut_their_decoding_processes_down(tid2013_folders,
                                                                 fid_weights, monkeypatch):
    from likeness.evaluation.infra.cache import Cache
    from likeness.evaluation.sets.features import FeatureExtractor, features_of_files

    reference, _ = tid2013_folders
    files = []
    for name in "abcdef":
        files.append(reference / f"{name}.png")
        files[-1].write_bytes((reference / "a.png").read_bytes() + name.encode())
    extractor = FeatureExtractor(weights=fid_weights, device="cpu")
    monkeypatch.setattr(extractor, "launch", _stopped)
    assert _while_stopping(lambda: features_of_files(
        files, {path: path.name for path in files}, "set", extractor, Cache(None),
        batch_size=2, workers=2, decoding="processes")) == ([], [])


def test_files_of_killed_runs_are_removed(monkeypatch):
    """A run killed outright (SIGKILL, out of memory) cannot remove its images in transit;
    the next run that decodes in processes removes them — only those of processes that are
    gone, once older than a file in transit ever is."""
    import subprocess
    import sys
    import time

    from likeness.evaluation.infra import shared_arrays

    if not shared_arrays.SHARED_FOLDER.is_dir():
        pytest.skip("no /dev/shm here")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(gone.stdout)
    old = time.time() - 60
    files = {name: shared_arrays.SHARED_FOLDER / f"likeness-{owner}-{name}"
             for name, owner in (("killed", dead), ("fresh", dead), ("alive", os.getppid()))}
    try:
        for name, path in files.items():
            path.write_bytes(b"x")
            if name != "fresh":
                os.utime(path, (old, old))
        list(ordered_map(_square, range(4), workers=2, processes=True))
        assert {name for name, path in files.items() if path.exists()} == {"fresh", "alive"}
        monkeypatch.setattr(shared_arrays, "STALE_AFTER", 0.0)
        assert shared_arrays.remove_stale() == [str(files["fresh"])]
    finally:
        for path in files.values():
            path.unlink(missing_ok=True)


_TORCH_IN_WORKERS = """
import torch
from likeness.evaluation.infra.pipeline import ordered_map

def divided(size):
    return float((torch.ones(size) / 4).sum()), torch.get_num_threads()

if __name__ == "__main__":
    torch.set_num_threads(2)
    divided(10_000_000)  # the run's own thread has used OpenMP's threads before the fork
    print(sorted({value for _, value, _ in ordered_map(divided, [10_000_000] * 4, workers=2,
                                                      processes=True)}))
"""


def test_workers_compute_with_torch_after_the_run_used_its_threads(tmp_path):
    """A set network's input made in a decoding process (``FilePreparer`` off pytorch-fid's
    CUDA path) runs torch there: in a forked worker that waited for ever on OpenMP threads
    the fork did not copy, once the run's process had used them."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(_TORCH_IN_WORKERS)
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, errors = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a worker hung in a torch operation")
    finally:
        if run.poll() is None:  # the run and its hung workers
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, errors
    assert out.strip() == "[(2500000.0, 1)]"


def test_the_decoders_follow_the_device(monkeypatch):
    from likeness.evaluation.items import settings

    options = ExecutionOptions(workers=4)
    assert options.decoders("cpu", 16, 100) == (4, False)
    for usable in (True, False):
        monkeypatch.setattr(settings, "processes_share_images", lambda usable=usable: usable)
        assert options.decoders("cuda", 16, 100) == ((15, True) if usable else (8, False))
        assert options.decoders("cuda", 16, 20) == (8, False)  # too few jobs for processes
        assert options.decoders("cuda", 2, 100) == (4, False)
    threads = ExecutionOptions(workers=3, decoding="threads")
    assert threads.decoders("cuda", 16, 100) == (3, False)
    processes = ExecutionOptions(workers=3, decoding="processes")
    assert processes.decoders("cpu", 16, 100) == (3, True)
    assert processes.decoders("cpu", 16, 5) == (3, False)  # too few jobs to start them


def test_networks_resolve_their_device_when_first_needed(monkeypatch):
    """Every route to a network's device goes through resolve_device: the runs' "auto",
    and the "cuda" a Ray actor is given (it was set directly there, once)."""
    from likeness.evaluation.infra import device as device_module

    asked = []

    def resolve(device):
        asked.append(device)
        return "cpu" if device == "cpu" else "cuda"

    monkeypatch.setattr(device_module, "resolve_device", resolve)
    for requested in ("auto", "cuda"):
        networks = Networks(requested)
        assert networks.resolved_device is None  # nothing has needed it yet
        assert networks.device == networks.device == "cuda"
        assert networks.resolved_device == "cuda"
    assert asked == ["auto", "cuda"]  # once each
    cpu = Networks("cpu")
    assert cpu.resolved_device is None  # nothing computed yet, on whatever device
    assert cpu.device == "cpu"
    assert asked == ["auto", "cuda", "cpu"]


def test_forked_decoders_share_images_without_dev_shm(monkeypatch, tmp_path):
    from likeness.evaluation.infra import pipeline, shared_arrays

    monkeypatch.setattr(shared_arrays, "SHARED_FOLDER", tmp_path / "missing")
    monkeypatch.setattr(pipeline, "_forks", lambda: True)
    assert pipeline.processes_share_images()  # the slots of a mapping they inherit
    monkeypatch.setattr(pipeline, "_forks", lambda: False)
    assert not pipeline.processes_share_images()  # spawned, and no /dev/shm: pipes
    monkeypatch.setattr(shared_arrays, "SHARED_FOLDER", tmp_path)
    assert pipeline.processes_share_images()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks its workers on Linux")
def test_images_come_through_the_slots_where_dev_shm_is_missing(monkeypatch, tmp_path):
    from likeness.evaluation.infra import shared_arrays

    monkeypatch.setattr(shared_arrays, "SHARED_FOLDER", tmp_path / "missing")
    results = list(ordered_map(_image_of, range(3), workers=2, processes=True))
    assert [int(decoded.tests[0][0, 0, 0]) for _, decoded, _ in results] == [0, 1, 2]
    assert [_where(decoded.tests[0]) for _, decoded, _ in results] == ["slot"] * 3


def test_the_files_are_hashed_by_as_many_threads_as_decode_on_cuda():
    assert ExecutionOptions(workers=4).hashers("cpu", 16) == 4
    assert ExecutionOptions(workers=4).hashers("cuda", 16) == 15
    assert ExecutionOptions(workers=4).hashers("auto", 16) == 15  # not resolved for this
    assert ExecutionOptions(workers=4).hashers("cuda", 2) == 4
    assert ExecutionOptions(workers=20).hashers("cuda", 16) == 20
    assert ExecutionOptions(workers=3, decoding="threads").hashers("cuda", 16) == 3
    assert ExecutionOptions(workers=3, decoding="processes").hashers("cuda", 16) == 3


def test_compare_decoding_in_processes_gives_the_same_rows(golden, tmp_path):
    root = golden.arrange_models(tmp_path / "data", ("blur", "jpeg"), ("astronaut", "chelsea"))
    # two groups (one per reference): one process decodes both, two threads one each
    runs = [likeness.compare(root / "ref", [root / "blur", root / "jpeg"],
                             metrics="ssim,psnr", cache=False, workers=workers,
                             decoding=decoding)
            for decoding, workers in (("threads", 2), ("processes", 1))]
    threads, processes = ([(r.model, r.test, r.values, r.notes) for r in run.rows]
                          for run in runs)
    assert threads == processes


def test_an_unknown_decoding_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="decoding must be one of"):
        likeness.compare(tmp_path, tmp_path, decoding="gpu")


# the plain-PNG decoder -------------------------------------------------------------------

def _png(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (len(body).to_bytes(4, "big") + kind + body
            + zlib.crc32(kind + body).to_bytes(4, "big"))


def _png_with_filters(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG whose rows use every filter type in turn (Pillow's encoder picks
    one), filtered here as the standard says."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = pixels.reshape(height, width * channels).astype(np.int32)
    out = bytearray()
    for y in range(height):
        kind = y % 5
        row, above = rows[y], rows[y - 1] if y else np.zeros_like(rows[0])
        left = np.concatenate([np.zeros(channels, np.int32), row[:-channels]])
        corner = np.concatenate([np.zeros(channels, np.int32), above[:-channels]])
        estimate = left + above - corner
        paeth = np.where((abs(estimate - left) <= abs(estimate - above))
                         & (abs(estimate - left) <= abs(estimate - corner)), left,
                         np.where(abs(estimate - above) <= abs(estimate - corner), above,
                                  corner))
        predicted = [0, left, above, (left + above) // 2, paeth][kind]
        out.append(kind)
        out += ((row - predicted) % 256).astype(np.uint8).tobytes()
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    header = (width.to_bytes(4, "big") + height.to_bytes(4, "big")
              + bytes([8, colour, 0, 0, 0]))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(bytes(out))) + _chunk(b"IEND", b""))


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("LIKENESS_COMPILED", "1")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_the_plain_png_decoder_gives_pillows_pixels(compiled, channels):
    rng = np.random.default_rng(channels)
    for height, width in ((1, 1), (7, 3), (64, 77)):
        shape = (height, width) if channels == 1 else (height, width, channels)
        noise = rng.integers(0, 256, shape, dtype=np.uint8)
        smooth = np.cumsum(rng.integers(0, 3, shape), axis=0).astype(np.uint8)
        for pixels in (noise, smooth):
            for data in (_png_with_filters(pixels), _png(pixels), _png(pixels, optimize=True)):
                decoded = decode_plain_png(data)
                assert decoded is not None
                assert np.array_equal(decoded, np.array(Image.open(io.BytesIO(data))))


def test_pngs_written_by_libpng_decode_as_pillow_decodes_them(compiled):
    # OpenCV writes through libpng: its own choice of filter per row and zlib strategies
    # (6,000 such files, 1-4 channels, 1-69 px a side, matched Pillow when checked)
    import cv2

    rng = np.random.default_rng(5)
    strategies = (cv2.IMWRITE_PNG_STRATEGY_DEFAULT, cv2.IMWRITE_PNG_STRATEGY_FILTERED,
                  cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY, cv2.IMWRITE_PNG_STRATEGY_RLE)
    for channels in (1, 3, 4):
        for height, width in ((1, 9), (23, 31), (64, 5)):
            noise = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
            ramps = np.cumsum(rng.integers(0, 4, noise.shape), axis=1).astype(np.uint8)
            for pixels in (noise, ramps):
                image = pixels[:, :, 0] if channels == 1 else pixels
                for level, strategy in zip((0, 1, 6, 9), strategies, strict=True):
                    encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, level,
                                                           cv2.IMWRITE_PNG_STRATEGY, strategy])
                    data = encoded[1].tobytes()
                    decoded = decode_plain_png(data)
                    assert decoded is not None
                    assert np.array_equal(decoded, np.array(Image.open(io.BytesIO(data))))


def test_other_pngs_are_left_to_pillow(compiled):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert decode_plain_png(_png(pixels)) is not None
    palette = Image.fromarray(pixels).convert("P")
    for other in (_png(pixels[:, :, 0].astype(np.uint16) * 300),  # 16-bit
                  _png_of(palette), _interlaced(_png(pixels))):
        assert decode_plain_png(other) is None
    with_text = _png_with_filters(pixels)
    late_text = with_text[:-12] + _chunk(b"tEXt", b"Comment\x00late") + with_text[-12:]
    assert decode_plain_png(late_text) is None  # Pillow reads it only while decoding
    animated = with_text[:33] + _chunk(b"acTL", bytes(8)) + with_text[33:]
    assert decode_plain_png(animated) is None  # its first frame may not be the IDAT
    wrong_filter = bytearray(zlib.decompress(_idat(_png_with_filters(pixels))))
    wrong_filter[0] = 9
    assert decode_plain_png(_replace_idat(with_text, bytes(wrong_filter))) is None
    short = zlib.decompress(_idat(with_text))[:-5]
    assert decode_plain_png(_replace_idat(with_text, short)) is None


def _with_stream(data: bytes, stream: bytes) -> bytes:
    """The PNG with its IDAT's zlib stream replaced as it is (chunk checksums made anew)."""
    start = data.index(b"IDAT") - 4
    length = int.from_bytes(data[start:start + 4], "big")
    return data[:start] + _chunk(b"IDAT", stream) + data[start + 12 + length:]


def _dictionary_stream(raw: bytes) -> bytes:
    compressor = zlib.compressobj(zdict=b"a preset dictionary")
    return compressor.compress(raw) + compressor.flush()


@pytest.mark.parametrize("broken", [
    lambda stream, raw: stream[:-4] + bytes(4),  # a wrong Adler-32
    lambda stream, raw: stream[2:-4],  # raw deflate, no zlib wrapper
    lambda stream, raw: _dictionary_stream(raw),  # needs a preset dictionary
    lambda stream, raw: zlib.compress(raw[:-1]),  # one byte short
], ids=["adler32", "raw-deflate", "preset-dictionary", "short"])
def test_a_broken_stream_gets_pillows_own_error(compiled, tmp_path, monkeypatch, broken):
    pixels = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    plain = _png_with_filters(pixels)
    raw = zlib.decompress(_idat(plain))
    path = tmp_path / "broken.png"
    path.write_bytes(_with_stream(plain, broken(_idat(plain), raw)))
    assert decode_plain_png(path.read_bytes()) is None  # ISA-L's errors too: not its words
    _refused_alike_by_both_routes(path, monkeypatch)


def _refused_alike_by_both_routes(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """load_image refuses ``path`` in the same words with the fast decoder and without it
    (the words, for the caller to check; the fast decoder is on again after)."""
    monkeypatch.setenv("LIKENESS_COMPILED", "1")
    with pytest.raises(ImageLoadError) as fast:
        load_image(path)
    monkeypatch.setenv("LIKENESS_COMPILED", "0")
    with pytest.raises(ImageLoadError) as slow:
        load_image(path)
    monkeypatch.setenv("LIKENESS_COMPILED", "1")
    assert str(fast.value) == str(slow.value)
    return str(fast.value)


@pytest.mark.parametrize("between", [b"tIME", b"pHYs", b"abCd"])
def test_image_data_split_by_another_chunk_is_read_as_pillow_reads_it(compiled, tmp_path,
                                                                      monkeypatch, between):
    # IDAT chunks must follow each other: Pillow's data ends at the first other chunk, so
    # the fast decoder may not join what comes after it (it decoded such a file that
    # Pillow calls truncated: the same file read or refused by how many a run had decoded)
    pixels = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    plain = _png_with_filters(pixels)
    stream = _idat(plain)
    cut = len(stream) // 2
    split = _with_stream(plain, stream[:cut])
    end = split.index(b"IEND") - 4
    path = tmp_path / "split.png"
    path.write_bytes(split[:end] + _chunk(between, bytes(5)) + _chunk(b"IDAT", stream[cut:])
                     + split[end:])
    assert decode_plain_png(path.read_bytes()) is None
    _refused_alike_by_both_routes(path, monkeypatch)
    # any chunk after the image data is Pillow's to read: it reads a tIME there and
    # refuses a short pHYs, whichever route a run takes
    path.write_bytes(plain[:-12] + _chunk(b"tIME", bytes(7)) + plain[-12:])
    assert decode_plain_png(path.read_bytes()) is None
    assert np.array_equal(load_image(path).pixels, pixels)
    path.write_bytes(plain[:-12] + _chunk(b"pHYs", bytes(5)) + plain[-12:])
    assert decode_plain_png(path.read_bytes()) is None
    assert "pHYs" in _refused_alike_by_both_routes(path, monkeypatch)


def _interlaced(data: bytes) -> bytes:
    """The PNG with its header's interlace method set to Adam7 (Pillow writes none)."""
    header = data[16:28] + b"\x01"
    return data[:8] + _chunk(b"IHDR", header) + data[33:]


def _png_of(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _idat(data: bytes) -> bytes:
    start = data.index(b"IDAT")
    length = int.from_bytes(data[start - 4:start], "big")
    return data[start + 4:start + 4 + length]


def _replace_idat(data: bytes, raw: bytes) -> bytes:
    start = data.index(b"IDAT") - 4
    length = int.from_bytes(data[start:start + 4], "big")
    return data[:start] + _chunk(b"IDAT", zlib.compress(raw)) + data[start + 12 + length:]


def test_load_image_decodes_plain_pngs_with_the_fast_path_and_the_same_result(
        compiled, tmp_path, monkeypatch):
    pixels = np.random.default_rng(1).integers(0, 256, (33, 45, 4), dtype=np.uint8)
    path = tmp_path / "a.png"
    path.write_bytes(_png(pixels))
    assert decode_plain_png(path.read_bytes()) is not None  # the fast path takes this file
    calls = []
    import likeness.io.decode as decode

    original = decode.decode_plain_png
    monkeypatch.setattr(decode, "decode_plain_png",
                        lambda data: calls.append(1) or original(data))
    fast = load_image(path, alpha="white")
    monkeypatch.setenv("LIKENESS_COMPILED", "0")
    slow = load_image(path, alpha="white")
    assert calls == [1, 1]
    assert np.array_equal(fast.pixels, slow.pixels)
    assert fast.decisions == slow.decisions


# networks --------------------------------------------------------------------------------

def test_batched_lpips_distances_equal_the_item_by_item_ones(stand_in):
    from likeness.evaluation.catalog.feature_metrics import lpips_use
    from likeness.evaluation.engines.built_networks import Networks

    networks = Networks("cpu", {"alexnet": str(stand_in["alexnet"])})
    use = lpips_use("alex")
    module = networks.get("lpips_alex")
    images = torch.rand(6, 3, 64, 80)
    layers = networks.encode("lpips_alex", images)
    kept = [use.first([layer[i:i + 1] for layer in layers], (64, 80), None)
            for i in range(6)]
    assert use.distances is not None
    together = use.distances(kept[:3], kept[3:], module).tolist()
    one_by_one = [use.distance(a, b, module) for a, b in zip(kept[:3], kept[3:], strict=True)]
    assert together == pytest.approx(one_by_one, rel=1e-6)


def test_a_batched_use_keeps_of_each_image_what_it_keeps_alone(stand_in, monkeypatch):
    from likeness.evaluation.catalog.feature_metrics import lpips_use
    from likeness.evaluation.engines import network_values
    from likeness.evaluation.engines.network_values import NetworkStage

    monkeypatch.setattr(network_values, "_whole_passes", lambda layer: True)  # as on CUDA

    networks = Networks("cpu", {"alexnet": str(stand_in["alexnet"])})
    stage = NetworkStage(["lpips_alex"], RunSettings(metrics=("lpips_alex",)), networks, 8, {})
    use = lpips_use("alex")
    assert use.batched
    layers = list(networks.encode("lpips_alex", torch.rand(5, 3, 64, 80)))
    together = stage._kept(use.second, True, layers, 5, (64, 80))
    alone = stage._kept(use.second, False, layers, 5, (64, 80))
    for whole, single in zip(together, alone, strict=True):
        for a, b in zip(whole, single, strict=True):
            assert a.shape == b.shape
            assert torch.allclose(a, b, rtol=1e-6, atol=0)

    def fails_on_the_third(features, size, settings):
        if features[0].shape[0] > 1 or torch.equal(features[0][0], layers[0][2]):
            raise ValueError("not this one")
        return features

    kept = stage._kept(fails_on_the_third, True, layers, 5, (64, 80))
    assert [isinstance(k, ValueError) for k in kept] == [False, False, True, False, False]
    failed = RuntimeError("the pass failed")
    assert stage._kept(use.second, True, failed, 3, (64, 80)) == [failed] * 3


def test_kept_slices_are_joined_as_torch_cat_joins_them():
    from likeness.evaluation.catalog.feature_metrics import _joined

    whole = torch.rand(4, 3, 5, 6)
    other = torch.rand(1, 3, 5, 6)
    slices = [whole[i:i + 1] for i in range(4)]
    cases = (slices, slices[1:3], slices[::-1], [slices[0], slices[2]], [slices[1], other],
             [whole[:, 1:2][i:i + 1] for i in range(4)], [other] * 3)
    for parts in cases:
        assert torch.equal(_joined(parts, torch), torch.cat(parts))
    assert _joined(slices, torch).data_ptr() == whole.data_ptr()  # no copy


def test_graphed_calls_run_eagerly_off_cuda():
    from likeness.evaluation.infra.graphs import GraphedCalls

    calls = []

    def double(x):
        calls.append(tuple(x.shape))
        return 2 * x

    graphed = GraphedCalls(double)
    for _ in range(3):
        assert torch.equal(graphed(torch.ones(2, 3)), torch.full((2, 3), 2.0))
    assert calls == [(2, 3)] * 3
    assert graphed.captured == 0


def test_device_images_copies_each_array_once_and_keeps_its_values():
    from likeness.evaluation.engines.on_device import DeviceImages

    rng = np.random.default_rng(4)
    eight = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    wide = rng.integers(0, 65536, (6, 7, 1), dtype=np.uint16)
    images = DeviceImages("cpu")
    images.put([eight, eight, wide, eight[1:]])
    assert len(images._kept) == 3  # one entry per array object
    assert images.get(eight).dtype == torch.uint8
    assert images.get(wide).dtype == torch.int32  # torch computes little on uint16
    assert np.array_equal(images.get(wide).numpy(), wide.astype(np.int32))
    later = eight.copy()
    assert np.array_equal(images.get(later).numpy(), eight)  # copied when first asked
    images.clear()
    assert not images._kept


def test_fid_input_from_decoded_integers_equals_the_cpu_input(tmp_path, compiled):
    import cv2

    from likeness.evaluation.sets.extractor import FilePreparer, _on_device

    rng = np.random.default_rng(2)
    for pixels in (rng.integers(0, 256, (40, 52, 3), dtype=np.uint8),
                   rng.integers(0, 65536, (40, 52, 3), dtype=np.uint16),
                   rng.integers(0, 256, (299, 299), dtype=np.uint8)):
        path = tmp_path / "a.png"
        cv2.imwrite(str(path), pixels[:, :, ::-1] if pixels.ndim == 3 else pixels)
        raw, raw_decisions = FilePreparer("pt_inception", "pytorch-fid", None, raw=True)(
            (path, None, None))
        cpu, cpu_decisions = FilePreparer("pt_inception", "pytorch-fid", None)((path, None, None))
        assert raw_decisions == cpu_decisions
        made = _on_device([torch.from_numpy(raw)], "cpu")[0]
        assert torch.allclose(made, torch.from_numpy(cpu), rtol=0, atol=1e-7)


def test_the_command_line_decodes_in_processes(tid2013_folders, tmp_path):
    from click.testing import CliRunner

    from likeness.cli.main import main

    reference, test = tid2013_folders
    for folder in (reference, test):  # two groups: one decoding process takes both
        (folder / "b.png").write_bytes((folder / "a.png").read_bytes())
    runs = [CliRunner().invoke(main, ["compare", str(reference), str(test), "--metrics",
                                      "ssim,psnr", "--no-cache", "--out",
                                      str(tmp_path / f"{decoding}.csv"), "--decoding",
                                      decoding, "--workers", "1"])
            for decoding in ("threads", "processes")]
    assert [run.exit_code for run in runs] == [0, 0], runs[1].output
    assert (tmp_path / "threads.csv").read_text() == (tmp_path / "processes.csv").read_text()
    refused = CliRunner().invoke(main, ["compare", str(reference), str(test),
                                        "--decoding", "gpu"])
    assert refused.exit_code == 2
    assert "--decoding" in refused.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_arrays_stacked_on_the_device_keep_their_values():
    from likeness.evaluation.infra.device import stacked_on_device

    arrays = [np.full((5, 4, 3), value, np.uint16) for value in (0, 7, 65535)]
    moved = stacked_on_device(arrays, "cuda", np.dtype(np.int32))
    assert moved.device.type == "cuda"
    assert moved.dtype == torch.int32
    assert np.array_equal(moved.cpu().numpy(), np.stack(arrays).astype(np.int32))


def test_full_float32_uses_torchs_older_flags_before_its_per_backend_precisions(monkeypatch):
    """torch 2.2 to 2.8 (pyproject allows them) have no ``fp32_precision`` settings: there
    ``full_float32`` turns cuDNN's TF32 flag off and the matmul precision to "highest"
    (TF32 on CUDA, bfloat16 on CPUs with AMX), and puts both back."""
    from types import SimpleNamespace

    from likeness.evaluation.infra import device as device_module

    state = {"matmul": "medium"}
    older = SimpleNamespace(
        backends=SimpleNamespace(cuda=SimpleNamespace(matmul=SimpleNamespace()),
                                 cudnn=SimpleNamespace(allow_tf32=True)),
        get_float32_matmul_precision=lambda: state["matmul"],
        set_float32_matmul_precision=lambda value: state.update(matmul=value))
    switches = device_module._precision_switches
    monkeypatch.setattr(device_module, "_precision_switches", lambda torch: switches(older))
    with device_module.full_float32():
        assert older.backends.cudnn.allow_tf32 is False
        assert state["matmul"] == "highest"
    assert older.backends.cudnn.allow_tf32 is True
    assert state["matmul"] == "medium"
