"""``trim_empty=True``: the empty slots of a partly filled batch are not trained."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from asha_nb.errors import InvalidTypeError
from asha_nb.examples import digits_mlp
from asha_nb.integrations._jax_common import train_sizes


@pytest.fixture(scope="module")
def model():
    return digits_mlp(widths=(16,), n_batches=2)[0]


def _cfgs(n: int) -> list[dict]:
    rng = np.random.default_rng(5)
    return [{"lr": float(rng.uniform(0.02, 0.3)), "weight_decay": float(rng.uniform(0, 1e-3)),
             "momentum": float(rng.uniform(0.5, 0.95)), "width": 16} for _ in range(n)]


def _run(model, epochs, n_dev=1, **options):
    eng = model.engine(16, devices=jax.local_devices()[:n_dev], buckets=(16,), **options)
    for i, (c, e) in enumerate(zip(_cfgs(len(epochs)), epochs)):
        eng.add(i, i, c, e)
    return eng, {f.key: f for f in eng.run()}


def test_train_sizes():
    assert train_sizes(16) == (16, 8, 4, 2, 1)
    assert train_sizes(16, 4) == (16, 8, 4)
    assert train_sizes(12) == (12, 6, 3)


@pytest.mark.parametrize("n_dev", [1, 4])
def test_trimmed_chunks_train_only_the_live_rows(model, n_dev):
    # chunks of 1, 4, 4, 4 epochs with 16, 8, 4, 2 live rows
    epochs = [1] * 8 + [5] * 4 + [9] * 2 + [13] * 2
    eng, got = _run(model, epochs, n_dev, trim_empty=True)
    assert sorted(got) == list(range(16)) and eng.epochs_trained == sum(epochs)
    # the empty slots of the 16-row batch trained nothing (on 4 devices: at least one row
    # per device, so the last chunk's 2 rows train as 4)
    floor = {1: [16, 8, 4, 2], 4: [16, 8, 4, 4]}[n_dev]
    want = sum(m * n for m, n in zip(floor, (1, 4, 4, 4)))
    assert eng.stats["slot_epochs"] == want
    if n_dev == 1:
        assert eng.stats["slot_epochs"] == sum(epochs)  # the jobs' total resource
    # untrimmed, every slot trains every chunk: 16 slots x 13 epochs
    ref, want_rows = _run(model, epochs, n_dev)
    assert ref.stats["slot_epochs"] == 16 * 13 and ref.epochs_trained == sum(epochs)
    for i in range(16):  # the same training, up to rounding (XLA's code differs by size)
        assert got[i].checkpoint["resource"] == epochs[i]
        assert abs(got[i].value - want_rows[i].value) < 1e-5
        for a, b in zip(jax.tree.leaves(got[i].checkpoint["state"]),
                        jax.tree.leaves(want_rows[i].checkpoint["state"])):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_trimmed_programs_are_one_per_bucket_and_the_option_is_checked(model):
    n0 = model.program_counts().get("batch", 0)
    _run(model, [1, 2, 3], trim_empty=True)
    _run(model, [3, 2, 1, 1], trim_empty=True)
    assert model.program_counts()["batch"] - n0 <= 1  # the switch is inside the program
    with pytest.raises(InvalidTypeError, match="trim_empty must be a bool"):
        model.engine(4, trim_empty="yes")
