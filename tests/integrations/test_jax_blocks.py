"""``train_block``: a chunk trains only its live rows, in blocks of a fixed size, so a row's
results never depend on the bucket, its slot or the other rows (bit for bit)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from asha_nb.errors import InvalidParameterError
from asha_nb.examples import digits_mlp
from asha_nb.integrations._jax_common import default_train_block


@pytest.fixture(scope="module")
def model():
    return digits_mlp(widths=(16,), n_batches=2)[0]


def _cfgs(n: int, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"lr": float(rng.uniform(0.02, 0.3)), "weight_decay": float(rng.uniform(0, 1e-3)),
             "momentum": float(rng.uniform(0.5, 0.95)), "width": 16} for _ in range(n)]


def _leaves(ck) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(ck["state"])]


def _same(a, b) -> bool:
    """Every leaf of the two checkpoints' states equal, bit for bit."""
    return all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b), strict=True))


@pytest.mark.parametrize("n_dev", [1, 4])
def test_chunks_train_only_the_live_blocks(model, n_dev):
    block = 4 if n_dev == 1 else 8
    # chunks of 1, 4, 4, 4 epochs with 32, 12, 6, 2 live rows in a bucket of 32
    epochs = [1] * 20 + [5] * 6 + [9] * 4 + [13] * 2
    eng = model.engine(32, devices=jax.local_devices()[:n_dev], buckets=(32,), train_block=block)
    assert eng.train_block == block
    for i, (c, e) in enumerate(zip(_cfgs(len(epochs)), epochs)):
        eng.add(i, i, c, e)
    got = {f.key: f for f in eng.run()}
    assert sorted(got) == list(range(32)) and eng.epochs_trained == sum(epochs)
    blocks = [-(-live // block) for live in (32, 12, 6, 2)]
    assert eng.stats["slot_epochs"] == sum(b * block * n for b, n in zip(blocks, (1, 4, 4, 4)))
    assert eng.stats["slot_epochs"] < 32 * 13  # every slot, every chunk (before train_block)
    for i, e in enumerate(epochs):  # the same training as one configuration alone, up to rounding
        assert got[i].checkpoint["resource"] == e
    value, ck = model.train_single(_cfgs(32)[30], 13, trial_id=30)
    assert abs(value - got[30].value) < 1e-5
    for a, b in zip(_leaves(ck), _leaves(got[30].checkpoint)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_dev", [1, 4])
def test_a_row_continues_bit_for_bit_in_any_bucket_slot_and_company(model, n_dev):
    devs = jax.local_devices()[:n_dev]
    block = 4 * n_dev
    me, others = _cfgs(1, seed=11)[0], _cfgs(40, seed=12)
    # the reference: row 7 trained 5 epochs straight, in slot 0 of a 16-row bucket, with 9
    # neighbours that all train as long
    ref = model.engine(16, devices=devs, buckets=(16,), train_block=block)
    ref.add("me", 7, me, 5)
    for j in range(9):
        ref.add(j, 100 + j, others[j], 5)
    want = {f.key: f for f in ref.run()}["me"]
    # 2 epochs in a 32-row bucket, after 13 other rows (slot 13), which finish at other times
    a = model.engine(32, devices=devs, buckets=(32,), train_block=block)
    for j in range(13):
        a.add(j, 200 + j, others[10 + j], 1 + j % 4)
    a.add("me", 7, me, 2)
    first = {f.key: f for f in a.run()}["me"]
    assert not _same(first.checkpoint, want.checkpoint)  # it did train further below
    # then 3 more in the same engine (its checkpoint stays on the device), in another slot:
    # the rows added first take the slots the finished rows left
    for j in range(5):
        a.add(("b", j), 300 + j, others[25 + j], 3 + j)
    a.add("me again", 7, me, 3, first.checkpoint)
    same_engine = {f.key: f for f in a.run()}["me again"]
    # ... and 3 more in another engine with 64-row buckets, from a host copy of the state
    host = {"state": jax.tree.map(np.asarray, first.checkpoint["state"]), "resource": 2,
            "trial_id": 7}
    b = model.engine(64, devices=devs, buckets=(block, 64), train_block=block)
    for j in range(2):
        b.add(j, 400 + j, others[30 + j], 1)
    b.add("me", 7, me, 3, host)
    other_engine = {f.key: f for f in b.run()}["me"]
    assert b.rows_from_host == 1 and a.rows_from_host == 0
    for got in (same_engine, other_engine):
        assert got.checkpoint["resource"] == 5
        assert _same(got.checkpoint, want.checkpoint)
        assert got.value == want.value


def test_one_program_per_bucket_whatever_the_live_rows(model):
    n0 = model.program_counts().get("batch", 0)
    for epochs in ([1, 2, 3], [3, 2, 1, 1, 5, 1, 1, 2, 2]):
        eng = model.engine(16, devices=jax.local_devices()[:1], buckets=(16,), train_block=2)
        for i, (c, e) in enumerate(zip(_cfgs(len(epochs)), epochs)):
            eng.add(i, i, c, e)
        eng.run()
    assert model.program_counts()["batch"] - n0 == 1  # the block count is an argument


def test_default_block_and_buckets(model):
    one, four = jax.local_devices()[:1], jax.local_devices()[:4]
    # on a CPU: 16 rows per device, no more than an eighth of the largest bucket (at least a
    # row per device); the buckets are multiples
    eng = model.engine(256, devices=one)
    assert eng.train_block == 16 and eng.buckets == (16, 32, 64, 128, 256)
    eng.set_capacity(300)  # the block stays; new buckets are multiples of it
    assert eng.train_block == 16 and eng.buckets == (16, 32, 64, 128, 256, 512)
    eng = model.engine(64, devices=one)
    assert eng.train_block == 8 and eng.buckets == (8, 16, 32, 64)
    assert model.engine(8, devices=one).buckets == (1, 2, 4, 8)
    eng = model.engine(256, devices=four)
    assert eng.train_block == 32 and eng.buckets == (32, 64, 128, 256)
    assert model.engine(8, devices=four).train_block == 4
    assert model.engine(8, devices=one, buckets=(8, 12)).train_block == 4  # divides both
    assert model.engine(8, devices=one, train_block=3).buckets == (3, 6, 12)
    # on accelerators: the largest bucket (one block, the whole batch)
    assert default_train_block(1024, 1, cpu=False) == 1024
    assert default_train_block(1000, 8, cpu=False) == 1024
    assert default_train_block(64, 1, cpu=False, buckets=(32, 64)) == 32


@pytest.mark.parametrize(("options", "match"), [
    ({"train_block": 0}, "train_block must be None or a positive multiple of the device count 1, got 0"),
    ({"train_block": 2.0}, "train_block must be .* got 2.0"),
    ({"train_block": True}, "train_block must be .* got True"),
    ({"train_block": 8, "buckets": (8, 12)},
     r"buckets must be multiples of train_block=8 .* got \(8, 12\)"),
    ({"buckets": (8, 0)}, r"buckets must be positive .* got \(8, 0\)"),
])
def test_bad_block_options(model, options, match):
    with pytest.raises(InvalidParameterError, match=match):
        model.engine(8, devices=jax.local_devices()[:1], **options)


def test_block_must_split_over_the_devices(model):
    with pytest.raises(InvalidParameterError, match="multiple of the device count 4, got 6"):
        model.engine(8, devices=jax.local_devices()[:4], train_block=6)
