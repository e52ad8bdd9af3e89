"""A pair's float64 tensors made once for all its pixel metrics (``tensors_shared``, as
the local engine computes a pair) and their values checked once: the same values as
each metric converting and checking its own copy, no metric writing into what the next
one reads, and a user's tensors checked on every call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import likeness
from likeness.evaluation.catalog.metric_spec import tensors_shared, torch_pair
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.items.prepare import PreparedPair
from likeness.evaluation.items.settings import RunSettings


def _pair(channels: int = 3, side: int = 200) -> PreparedPair:
    generator = np.random.default_rng(5)
    reference = generator.integers(0, 256, (side, side + 17, channels), dtype=np.uint8)
    noise = generator.integers(-20, 21, reference.shape)
    test = np.clip(reference.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return PreparedPair(reference=reference, test=test, data_range=255.0, decisions=())


PIXEL_METRICS = sorted(name for name, spec in METRICS.items() if spec.pixels is not None)


@pytest.mark.parametrize("channels", [3, 1])
def test_every_pixel_metric_gives_the_same_value_on_shared_tensors(channels):
    pair, settings = _pair(channels), RunSettings(metrics=("ssim",))
    alone, shared = {}, {}
    for name in PIXEL_METRICS:
        try:
            alone[name] = METRICS[name].pixels(pair, settings)
        except likeness.LikenessError:
            continue  # outside the metric's domain (colour only, sizes)
    assert len(alone) > 15
    with tensors_shared():
        tensors = torch_pair(pair)
        versions = [t._version for t in tensors]
        copies = [t.clone() for t in tensors]
        for name in alone:
            shared[name] = METRICS[name].pixels(pair, settings)
            # nothing the next metric reads was written to
            assert [t._version for t in tensors] == versions, name
            assert all(torch.equal(t, c) for t, c in zip(tensors, copies, strict=True)), name
        assert torch_pair(pair)[0] is tensors[0]
    assert shared == alone
    assert torch_pair(pair)[0] is not tensors[0]  # outside the block: a fresh conversion


def test_a_tensor_written_to_is_made_again():
    pair = _pair()
    with tensors_shared():
        first = torch_pair(pair)
        first[0].mul_(0)  # as a metric writing into its input would
        again = torch_pair(pair)
    assert again[0] is not first[0]
    assert float(again[0].max()) > 0


def test_values_out_of_range_are_refused_by_every_metric_inside_the_block():
    pair = _pair()
    bad = PreparedPair(reference=pair.reference.astype(np.float64),
                       test=np.full(pair.test.shape, np.nan), data_range=255.0, decisions=())
    with tensors_shared():
        for name in ("gmsd", "haarpsi", "vsi"):
            with pytest.raises(likeness.InvalidInputError, match="NaN"):
                METRICS[name].pixels(bad, RunSettings(metrics=(name,)))


def test_a_users_tensor_is_checked_on_every_call():
    """A tensor sharing a NumPy array's memory changes without torch counting it: its
    values are checked again each call, never remembered."""
    values = np.random.default_rng(0).random((1, 1, 64, 64))
    tensor = torch.from_numpy(values)
    likeness.gmsd(tensor, tensor.clone())
    values[0, 0, 3, 3] = np.nan
    with pytest.raises(likeness.InvalidInputError, match="NaN"):
        likeness.gmsd(tensor, tensor.clone())
