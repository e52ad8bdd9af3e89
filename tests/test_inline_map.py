"""Short work is not handed to a pool: ``inline_or_ordered_map`` runs the first items in
the consumer's thread, timed, and keeps them there when they are short (decoding pairs
of 32×32 PNGs in threads halved ``compare``'s pairs per second), else sends the rest to
``ordered_map``'s threads — the same outcomes, in order, either way."""

from __future__ import annotations

import threading
import time

import pytest

import likeness
from likeness.evaluation.infra import inline_map
from likeness.evaluation.infra.inline_map import PROBED, inline_or_ordered_map


def _work(seconds: float):
    threads: list[int] = []

    def function(item: int) -> int:
        threads.append(threading.get_ident())
        if seconds:
            time.sleep(seconds)
        if item == 11:
            raise ValueError("eleven")
        return item * item

    return function, threads


@pytest.mark.parametrize(("seconds", "inline"), [(0.0, True), (0.003, False)])
def test_short_work_stays_in_this_thread_long_work_goes_to_threads(seconds, inline):
    function, threads = _work(seconds)
    outcomes = list(inline_or_ordered_map(function, range(20), workers=2,
                                          catch=(ValueError,)))
    assert [item for item, _, _ in outcomes] == list(range(20))
    assert [result for item, result, _ in outcomes if item != 11] == [
        i * i for i in range(20) if i != 11]
    assert str(outcomes[11][2]) == "eleven"
    assert outcomes[11][1] is None
    here = threading.get_ident()
    if inline:
        assert set(threads) == {here}
    else:  # the probe stops at the second long item after the first: the rest go to
        # the threads
        assert threads[:3] == [here] * 3
        assert here not in threads[3:]


@pytest.mark.parametrize(("reference", "inline"), [(0.01, True), (0.0001, False)])
def test_the_work_is_timed_against_the_machine_s_speed_not_in_seconds(monkeypatch, reference,
                                                                      inline):
    """3 ms of work is short on a machine whose reference inflation takes 10 ms, and long
    where it takes 0.1 ms: a threshold in seconds sent this VM's runs of 32² images to
    threads in its slow spells (1.0–1.2 s against 0.55), as it would on a slower CPU."""
    monkeypatch.setattr(inline_map, "reference_seconds", lambda: reference)
    function, threads = _work(0.003)
    list(inline_or_ordered_map(function, range(12), workers=2, catch=(ValueError,)))
    assert (set(threads) == {threading.get_ident()}) is inline


def test_the_reference_is_a_fixed_inflation_timed_at_its_best():
    payload = inline_map._reference_payload()
    assert len(payload) > 10_000  # 16 KiB of noise, deflated: real inflation work
    assert payload == inline_map._reference_payload()
    assert 0 < inline_map.reference_seconds() < 0.05


def test_one_slow_item_in_the_probe_does_not_send_the_rest_to_threads():
    """An item that paid for something done once — a kernel loaded on the way, as the PNG
    decoder's ninth image did in every process's first run — is one of the probe's
    times, not its verdict: ``compare`` of 1,000 pairs of 32² PNGs went to threads in a
    process's first run (1.33 s, against 0.51 s inline)."""
    here = threading.get_ident()
    threads: list[int] = []

    def function(item: int) -> int:
        threads.append(threading.get_ident())
        if item == 4:
            time.sleep(0.05)
        return item

    assert [r for _, r, _ in inline_or_ordered_map(function, range(30), workers=2)] == list(
        range(30))
    assert set(threads) == {here}


@pytest.mark.parametrize("count", [0, 1, 3, PROBED, PROBED + 1])
def test_any_number_of_items_and_errors_not_caught_propagate(monkeypatch, count):
    function, _ = _work(0.0)
    for below in (1e9, 0.0):  # short, or long
        monkeypatch.setattr(inline_map, "INLINE_BELOW", below)
        assert [r for _, r, _ in inline_or_ordered_map(function, range(count), workers=2)] \
            == [i * i for i in range(count)]
        with pytest.raises(ValueError, match="eleven"):
            list(inline_or_ordered_map(function, range(20), workers=2, catch=(KeyError,)))


def test_a_run_of_small_images_decodes_in_its_own_thread(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(3)
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        for index in range(2 * PROBED):
            Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
                tmp_path / folder / f"{index}.png")
    handed: list[int] = []
    original = inline_map.ordered_map
    monkeypatch.setattr(inline_map, "ordered_map",
                        lambda *args, **kwargs: handed.append(1) or original(*args, **kwargs))
    monkeypatch.setattr(inline_map, "INLINE_BELOW", 1e9)  # whatever this machine's speed
    inline = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="ssim,psnr",
                              cache=False)
    assert handed == []
    monkeypatch.setattr(inline_map, "INLINE_BELOW", 0.0)
    pooled = likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="ssim,psnr",
                              cache=False)
    assert handed == [1]
    assert [row.values for row in inline.rows] == [row.values for row in pooled.rows]
    assert len(inline.rows) == 2 * PROBED
    assert all(row.error is None for row in inline.rows)


def test_small_files_are_hashed_in_this_thread_large_ones_in_threads(tmp_path, monkeypatch):
    import hashlib

    from likeness.evaluation.infra import cache as cache_module

    threads: list[int] = []
    original = cache_module._hash_checked

    def spied(path):
        threads.append(threading.get_ident())
        return original(path)

    monkeypatch.setattr(cache_module, "_hash_checked", spied)
    files = []
    for index in range(2 * PROBED):
        files.append(tmp_path / f"{index}.bin")
        files[-1].write_bytes(bytes([index]) * 3000)
    here = threading.get_ident()
    for below, inline in ((1e9, True), (0.0, False)):
        threads.clear()
        monkeypatch.setattr(inline_map, "INLINE_BELOW", below)
        with cache_module.Cache(None) as store:
            digests, errors = store.digest_files(files, workers=2)
        assert errors == {}
        assert [digests[path] for path in files] == [
            hashlib.sha256(path.read_bytes()).hexdigest() for path in files]
        assert (set(threads) == {here}) is inline
