"""The JAX engine evaluates the rows that finish, and every row only now and then."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from asha_nb.errors import InvalidParameterError
from asha_nb.examples import digits_mlp
from asha_nb.executors import JobSpec
from asha_nb.executors.batched import BatchedExecutor
from asha_nb.integrations._jax_common import block_counts, eval_blocks
from asha_nb.integrations.jax import JaxBatchEngine


@pytest.fixture(scope="module")
def model():
    return digits_mlp(widths=(16,), n_batches=4)[0]


def _cfgs(n: int) -> list[dict]:
    rng = np.random.default_rng(3)
    return [{"lr": float(rng.uniform(0.02, 0.3)), "weight_decay": float(rng.uniform(0, 1e-3)),
             "momentum": float(rng.uniform(0.5, 0.95)), "width": 16} for _ in range(n)]


def _leaves(ck) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(ck["state"])]


EPOCHS = [1, 1, 1, 1, 3, 3, 3, 3]  # the first chunk (1 epoch) finishes half of the rows
# the tests that count evaluations per step run one chunk at a time (``pipeline_depth=1``);
# tests/integrations/test_jax_pipeline.py checks that pipelined chunks give the same values


def _fill(eng, cfgs) -> None:
    for i, (c, e) in enumerate(zip(cfgs, EPOCHS)):
        eng.add(i, i, c, e)


def test_a_chunk_evaluates_only_the_rows_that_finish_and_their_values_are_unchanged(model):
    cfgs = _cfgs(8)
    # the reference: every row evaluated after every chunk (the engine before the option)
    ref = model.engine(8, devices=jax.local_devices()[:1], pipeline_depth=1, progress_interval=0)
    _fill(ref, cfgs)
    want = {f.key: f for f in ref.run()}
    assert ref.stats["full_evaluations"] == 1  # the last chunk: every row finishes

    eng = model.engine(8, devices=jax.local_devices()[:1], pipeline_depth=1, progress_interval=None)
    _fill(eng, cfgs)
    first = eng.step()
    assert sorted(f.key for f in first) == [0, 1, 2, 3]
    assert eng.stats["rows_evaluated"] == 4 and eng.stats["full_evaluations"] == 0
    assert eng.progress() == {}  # no intermediate values
    got = {f.key: f for f in first + eng.run()}
    assert eng.stats["rows_evaluated"] == 8 and eng.progress() == {}
    assert sorted(got) == list(range(8))
    for i in range(8):
        # the same batch, the same program up to the evaluation: exactly the same value
        assert got[i].value == want[i].value
        assert got[i].checkpoint["resource"] == EPOCHS[i]
        for a, b in zip(_leaves(got[i].checkpoint), _leaves(want[i].checkpoint)):
            np.testing.assert_array_equal(a, b)
    # and the per-configuration path agrees (vmapped vs single programs: not bit for bit)
    for i in (0, 5):
        value, _ = model.train_single(cfgs[i], EPOCHS[i], trial_id=i)
        assert abs(value - got[i].value) < 1e-5


def test_progress_interval_0_evaluates_every_row_after_every_chunk(model):
    cfgs = _cfgs(8)
    eng = model.engine(8, devices=jax.local_devices()[:1], pipeline_depth=1, progress_interval=0)
    _fill(eng, cfgs)
    first = {f.key: f for f in eng.step()}
    assert eng.stats["rows_evaluated"] == 8 and eng.stats["full_evaluations"] == 1
    going = eng.progress()
    assert sorted(going) == [4, 5, 6, 7] and all(r == 1 for r, _ in going.values())
    # an intermediate value is the value that row would finish with after 1 epoch
    one = model.engine(8, devices=jax.local_devices()[:1], progress_interval=None)
    for i, c in enumerate(cfgs):
        one.add(i, i, c, 1)
    once = {f.key: f.value for f in one.run()}
    assert all(going[i][1] == once[i] for i in (4, 5, 6, 7))
    assert all(first[i].value == once[i] for i in (0, 1, 2, 3))
    eng.run()  # the last chunk finishes every row: only those are evaluated
    assert eng.stats["rows_evaluated"] == 8 + 4


def test_every_row_is_evaluated_once_per_progress_interval(model):
    now = [0.0]
    eng = JaxBatchEngine(model, 8, devices=jax.local_devices()[:1], progress_interval=10.0,
                         clock=lambda: now[0], pipeline_depth=1)
    for i, c in enumerate(_cfgs(8)):
        eng.add(i, i, c, 5 if i else 1)
    seen = []
    for t in (0.0, 5.0, 12.0, 15.0, 30.0):  # chunks of 1 epoch
        now[0] = t
        eng.step(max_epochs=1)
        seen.append(sorted(eng.progress()))
    full = list(range(1, 8))
    # t=0: the first chunk; t=12: 10 s later; t=30: every row finishes, none goes on
    assert seen == [full, [], full, [], []]
    assert eng.stats["full_evaluations"] == 2
    # t=0: every row (row 0, finished, among them); t=12: every row; t=30: rows 1-7
    assert eng.stats["rows_evaluated"] == 8 + 8 + 7


@pytest.mark.parametrize("bad", [-1, "1", True, float("nan")])
def test_bad_progress_interval(model, bad):
    with pytest.raises(InvalidParameterError, match="progress_interval"):
        model.engine(4, progress_interval=bad)


@pytest.mark.parametrize("interval", [0, None])
def test_intermediate_reports_through_the_executor(model, interval):
    ex = BatchedExecutor(devices=jax.local_devices()[:1], max_chunk=1, progress_interval=interval)
    ex.start(model, 4)
    try:
        cfgs = _cfgs(2)
        jobs = [ex.submit(JobSpec(i, i, c, 0, 3, 0)) for i, c in enumerate(cfgs)]
        outs = [j.future.result(timeout=60) for j in jobs]
        assert all(o.error is None and o.value is not None for o in outs)
        reports = ex.drain_reports()
    finally:
        ex.shutdown(wait=True)
    if interval is None:
        assert reports == []
    else:  # after epochs 1 and 2 of both jobs, each reported once
        assert sorted((r.job_id, r.resource) for r in reports) == [(0, 1), (0, 2), (1, 1), (1, 2)]


def test_finished_rows_are_evaluated_in_few_blocks():
    for size in (1, 2, 8, 16, 64, 256, 1024):
        blocks = eval_blocks(size)
        assert blocks[-1] == 1 and all(a > b for a, b in zip(blocks, blocks[1:]))
        for n in range(size):
            counts = block_counts(n, blocks)
            assert int(np.dot(counts, blocks)) == n  # exactly the finished rows
            assert all(c <= 7 for c in counts[:-1])  # a few blocks of each size
            assert counts[-1] < (blocks[-2] if len(blocks) > 1 else 8)


def test_the_finished_rows_of_a_sharded_batch_are_evaluated_alone(model):
    assert len(jax.local_devices()) == 4  # tests/integrations/conftest.py: 4 fake CPU devices
    cfgs = _cfgs(8)
    ref = model.engine(8, devices=jax.local_devices()[:1], progress_interval=0)
    _fill(ref, cfgs)
    want = {f.key: f.value for f in ref.run()}
    eng = model.engine(8, devices=jax.local_devices(), progress_interval=None)
    _fill(eng, cfgs)
    first = eng.step()
    assert sorted(f.key for f in first) == [0, 1, 2, 3] and eng.stats["rows_evaluated"] == 4
    got = {f.key: f.value for f in first + eng.run()}
    assert eng.stats["rows_evaluated"] == 8 and eng.stats["full_evaluations"] == 0
    assert all(abs(got[i] - want[i]) < 1e-5 for i in range(8))  # sharded: as in test_jax_batched
