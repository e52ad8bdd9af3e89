"""Compiled kernels run on the threads torch may use, leaving its count as it was, and
short calls on one thread inside a run that shares the cores with its decoders
(``kernel_threads``), with values identical to the split calls'."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest
import torch

from likeness.metrics._fused_ssim import fused_cpu_means
from likeness.metrics.exact_sums import box_ssim_row_sums, squared_error_sum
from likeness.metrics.kernel_threads import SHORT_CALL, cores_shared, kernel_threads


def _threads_in(seconds: float) -> int:
    with kernel_threads(seconds):
        return numba.get_num_threads()


def _torchs_threads() -> int:
    """The threads a kernel splits over outside a run: torch's, at most numba's."""
    return min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)


@pytest.fixture
def every_core():
    """torch (and so the kernels) on every core numba has, for the test: ``make test``
    runs its workers on one thread each, where one thread and a split are alike."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: a call cannot be split")
    threads = torch.get_num_threads()
    torch.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    yield
    torch.set_num_threads(threads)


def test_short_calls_run_on_one_thread_only_while_the_cores_are_shared(every_core):
    every, torchs = _torchs_threads(), torch.get_num_threads()
    assert _threads_in(SHORT_CALL / 10) == every  # outside a run: split as torch's
    with cores_shared():
        assert _threads_in(SHORT_CALL / 10) == 1
        assert torch.get_num_threads() == torchs  # torch's left as they were
        assert _threads_in(SHORT_CALL * 10) == every  # long calls are split
    assert _threads_in(SHORT_CALL / 10) == every


def test_without_torch_kernels_take_the_cores_the_process_may_run_on(monkeypatch):
    """A run of pixel metrics never loads torch; numba then split each kernel over one
    thread a core of the machine: 64 threads on the 4 cores a SLURM job holds of a 64-core
    node, whatever ``OMP_NUM_THREADS`` said."""
    import os
    import sys

    most = numba.config.NUMBA_NUM_THREADS
    if most < 2:
        pytest.skip("one core: nothing to hold back")
    monkeypatch.setitem(sys.modules, "torch", None)  # as in a process that never loaded it
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # taskset -c 0
    assert _threads_in(1.0) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4 * most)))
    assert _threads_in(1.0) == most  # at most numba's
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads_in(1.0) == 1


def test_sharing_the_cores_is_said_for_one_thread(every_core):
    seen = []
    with cores_shared():
        other = threading.Thread(target=lambda: seen.append(_threads_in(SHORT_CALL / 10)))
        other.start()
        other.join()
    assert seen == [_torchs_threads()]


def test_kernels_give_the_same_values_on_one_thread_and_split(every_core):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (96, 80, 3), dtype=np.uint8)
    y = rng.integers(0, 256, (96, 80, 3), dtype=np.uint8)
    fx, fy = (torch.from_numpy(a.transpose(2, 0, 1)[None] / 255.0).contiguous()
              for a in (x, y))
    taps = tuple(np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2) / 2.6586)

    def values() -> list[np.ndarray]:
        return [np.asarray(squared_error_sum(x.reshape(-1), y.reshape(-1))),
                box_ssim_row_sums(x.reshape(96, -1), y.reshape(96, -1), 3, 7, 6.5, 58.5,
                                  49 / 48),
                *(t.numpy() for t in fused_cpu_means(fx, fy, taps, taps, None, 1e-4, 9e-4,
                                                     1.0))]

    split = values()
    with cores_shared():
        whole = values()
    for a, b in zip(split, whole, strict=True):
        assert np.array_equal(a, b)  # bit for bit


def _parallel_kernels() -> dict[tuple[str, str], object]:
    """Every parallel numba kernel of the package, by (module, name)."""
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import likeness.io
    import likeness.metrics
    import likeness.nets

    found = {}
    for package in (likeness.metrics, likeness.nets, likeness.io):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.endswith("_kernel"):
                module = importlib.import_module(f"{package.__name__}.{info.name}")
                found.update({(module.__name__, name): value
                              for name, value in vars(module).items()
                              if isinstance(value, CPUDispatcher)
                              and value.targetoptions.get("parallel")})
    return found


def test_every_kernel_runs_on_torchs_threads_and_leaves_them_as_they_were(
        random_inception_trunk, monkeypatch):
    """numba splits a kernel over one thread a core whatever torch was allowed, and its
    OpenMP layer sets the calling thread's OpenMP thread count, which torch reads: after
    a kernel, ``torch.set_num_threads(1)`` (or ``OMP_NUM_THREADS=1``: a SLURM job, a
    decoding process, a Ray actor) had silently become one thread a core, and torch's
    values that depend on how its threads split a sum changed with it (FID's input,
    1.8e-7).  Every parallel kernel goes through ``kernel_threads`` now, which also puts
    numba's count back (a caller's own kernels keep theirs)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: numba and torch cannot disagree on the threads")
    from likeness.metrics import fsim, gmsd, haarpsi

    seen: dict[str, list[int]] = {}
    kernels = _parallel_kernels()
    for (module, name), kernel in kernels.items():
        def spy(*args, _kernel=kernel, _name=name):
            seen.setdefault(_name, []).append(numba.get_num_threads())
            return _kernel(*args)
        monkeypatch.setattr(f"{module}.{name}", spy)  # the callers import it when called
    rng = np.random.default_rng(5)
    # float64, and large enough after the metrics' downsampling: the compiled maps
    x, y = (rng.integers(0, 256, (1, 3, 320, 352), dtype=np.uint8) for _ in range(2))
    fx, fy = (torch.from_numpy(a / 255.0) for a in (x, y))
    volume = torch.rand(1, 1, 12, 40, 40, dtype=torch.float64)
    taps = tuple(np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2) / 2.6586)
    trunk = random_inception_trunk(3)  # Winograd's tile transforms
    loss_x = fx.clone().requires_grad_()
    calls = [
        lambda: squared_error_sum(x.reshape(-1), y.reshape(-1)),
        lambda: box_ssim_row_sums(x[0, 0], y[0, 0], 1, 7, 6.5, 58.5, 49 / 48),
        lambda: fused_cpu_means(fx, fy, taps, taps, None, 1e-4, 9e-4, 1.0),
        lambda: fused_cpu_means(volume, volume.flip(2), taps[3:8], taps[3:8], taps[3:8],
                                1e-4, 9e-4, 1.0),
        lambda: gmsd.gmsd(fx, fy),
        lambda: haarpsi.haarpsi(fx, fy),
        lambda: fsim.fsim(loss_x, fy).backward(),
        lambda: trunk(torch.rand(1, 3, 299, 299)),
    ]
    threads, numbas = torch.get_num_threads(), numba.get_num_threads()
    try:
        torch.set_num_threads(1)
        numba.set_num_threads(2)  # the caller's own kernels: not the calls' count
        after = []
        for call in calls:
            call()
            after.append((torch.get_num_threads(), numba.get_num_threads()))
        with cores_shared():  # a run's short call: numba's count set to one and back
            squared_error_sum(x[0, 0, :8].reshape(-1), y[0, 0, :8].reshape(-1))
        after.append((torch.get_num_threads(), numba.get_num_threads()))
    finally:
        torch.set_num_threads(threads)
        numba.set_num_threads(numbas)
    assert after == [(1, 2)] * (len(calls) + 1)  # the threads as the caller set them
    assert set(seen) == {name for _, name in kernels}  # each one called
    assert {name: set(counts) for name, counts in seen.items()} == {
        name: {1} for name in seen}  # on no more threads than torch may use


def test_ctrl_c_that_numba_hands_back_wrapped_is_raised_as_itself():
    """Ctrl-C while a compiled kernel ran came out of ``likeness.fsim`` as "SystemError:
    CPUDispatcher(…) returned a result with an exception set" about one time in ten (a
    notebook's interrupt said that); the KeyboardInterrupt behind it is raised instead.
    A SystemError with no interrupt behind it is left as it is."""
    def kernel_interrupted():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("CPUDispatcher(<function phase_sums>) returned a result "
                              "with an exception set") from interrupt

    with pytest.raises(KeyboardInterrupt), kernel_threads():
        kernel_interrupted()
    with pytest.raises(SystemError, match="no interrupt"), kernel_threads():
        raise SystemError("no interrupt")
