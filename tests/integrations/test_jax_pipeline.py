"""Pipelined chunks (``pipeline_depth``), the row queue beyond ``capacity`` (``batch_size``),
and ``freeze_gc`` of the batched executor."""

from __future__ import annotations

import gc

import jax
import numpy as np
import pytest

from asha_nb import ASHA, Search
from asha_nb.errors import InvalidParameterError, InvalidTypeError
from asha_nb.examples import digits_mlp
from asha_nb.executors import JobSpec
from asha_nb.executors.batched import BatchedExecutor


@pytest.fixture(scope="module")
def digits():
    return digits_mlp(widths=(16,), n_batches=2)


def _cfgs(n: int, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"lr": float(rng.uniform(0.02, 0.3)), "weight_decay": float(rng.uniform(0, 1e-3)),
             "momentum": float(rng.uniform(0.5, 0.95)), "width": 16} for _ in range(n)]


def _leaves(ck) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(ck["state"])]


def _drive(eng, cfgs, first, later):
    """Add rows ``first`` (epochs), then after each step one more row per finished row (epochs
    from ``later``, in turn) until ``later`` is used up; step until every row has finished.
    Returns ``{key: Finished}`` and the number of chunks in flight after each step."""
    out, inflight = {}, []
    for key, e in enumerate(first):
        eng.add(key, key, cfgs[key], e)
    nxt = len(first)
    todo = list(later)
    while eng.n_active or eng._inflight:
        for f in eng.step():
            out[f.key] = f
            if todo:
                eng.add(nxt, nxt, cfgs[nxt], todo.pop(0))
                nxt += 1
        inflight.append(len(eng._inflight))
    return out, inflight


FIRST, LATER = [1, 1, 3, 3, 5, 2, 2, 1], [1, 2, 1, 4, 1, 1]


def test_pipelined_chunks_give_the_same_rows_bit_for_bit(digits):
    model, _ = digits
    cfgs = _cfgs(len(FIRST) + len(LATER))
    one = model.engine(8, devices=jax.local_devices()[:1], pipeline_depth=1)
    two = model.engine(8, devices=jax.local_devices()[:1])  # the default: 2
    want, in1 = _drive(one, cfgs, FIRST, LATER)
    got, in2 = _drive(two, cfgs, FIRST, LATER)
    assert sorted(got) == sorted(want) == list(range(len(cfgs)))
    assert max(in1) == 0  # one chunk at a time: read as soon as it is dispatched
    assert max(in2) == 1  # the next chunk is on the device while a step returns its rows
    for key in want:
        assert got[key].value == want[key].value
        assert got[key].checkpoint["resource"] == want[key].checkpoint["resource"]
        for a, b in zip(_leaves(got[key].checkpoint), _leaves(want[key].checkpoint)):
            np.testing.assert_array_equal(a, b)
    assert two.epochs_trained == one.epochs_trained == sum(FIRST) + sum(LATER)


def test_intermediate_values_carry_the_resource_they_were_evaluated_at(digits):
    model, _ = digits
    cfgs = _cfgs(2)
    eng = model.engine(4, devices=jax.local_devices()[:1], progress_interval=0, train_block=1)
    eng.add(0, 0, cfgs[0], 1)
    eng.add(1, 1, cfgs[1], 3)
    eng.step()  # chunk 1 (1 epoch) read; chunk 2 (row 1's 2nd epoch) already dispatched
    assert len(eng._inflight) == 1
    seen = eng.progress()
    assert list(seen) == [1] and seen[1][0] == 1  # evaluated after epoch 1, not 2
    ref = model.engine(4, devices=jax.local_devices()[:1])
    ref.add(0, 1, cfgs[1], 1)
    assert seen[1][1] == ref.run()[0].value


def test_rows_beyond_the_capacity_queue_and_train_as_usual(digits):
    model, _ = digits
    cfgs = _cfgs(12, seed=3)
    epochs = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]
    small = model.engine(4, devices=jax.local_devices()[:1], buckets=(4,))
    for i, (c, e) in enumerate(zip(cfgs, epochs)):
        small.add(i, i, c, e)
    got, order = {}, []
    while small.n_active or small._inflight:
        live = sum(g.n_placed() for g in small._groups.values())
        assert live <= 4  # never more rows in the batch than the capacity
        for f in small.step():
            got[f.key] = f
            order.append(f.key)
    assert sorted(got) == list(range(12)) and small.epochs_trained == sum(epochs)
    assert order.index(0) < order.index(4)  # the queue is first come, first served
    ref = model.engine(4, devices=jax.local_devices()[:1], buckets=(4,))
    for i in (4, 8, 10):  # the same rows trained alone in a batch of 4
        ref.add(i, i, cfgs[i], epochs[i])
    want = {f.key: f for f in ref.run()}
    for i in want:
        assert got[i].value == want[i].value
        for a, b in zip(_leaves(got[i].checkpoint), _leaves(want[i].checkpoint)):
            np.testing.assert_array_equal(a, b)


def test_no_chunk_ahead_of_mostly_empty_blocks(digits):
    model, _ = digits
    cfgs = _cfgs(8)
    # one block of the whole batch (8 rows): 1 row going on fills an eighth of it
    eng = model.engine(8, devices=jax.local_devices()[:1], train_block=8)
    for i, c in enumerate(cfgs):
        eng.add(i, i, c, 3 if i == 0 else 1)
    eng.step()
    assert len(eng._inflight) == 0 and eng.n_chunks == 1  # no chunk of 1 row in 8 ahead
    # blocks of 1 row: the row going on is a full block, dispatched ahead
    ahead = model.engine(8, devices=jax.local_devices()[:1], train_block=1)
    for i, c in enumerate(cfgs):
        ahead.add(i, i, c, 3 if i == 0 else 1)
    ahead.step()
    assert len(ahead._inflight) == 1 and ahead.n_chunks == 2


def test_a_row_of_zero_epochs_is_evaluated_not_trained(digits):
    model, _ = digits
    cfgs = _cfgs(2)
    eng = model.engine(4, devices=jax.local_devices()[:1])
    eng.add("a", 0, cfgs[0], 2)
    first = eng.run()[0]
    eng.add("zero", 0, cfgs[0], 0, first.checkpoint)  # already at its resource
    eng.add("b", 1, cfgs[1], 1)
    got = {f.key: f for f in eng.run()}  # a chunk of 0 epochs: no division by its length
    assert got["zero"].epochs == 0 and got["zero"].value == first.value
    assert got["zero"].checkpoint["resource"] == 2 and got["b"].epochs == 1


def test_bad_pipeline_depth(digits):
    model, _ = digits
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidParameterError, match="pipeline_depth"):
            model.engine(4, pipeline_depth=bad)


def test_batch_size_queues_jobs_through_the_executor(digits):
    model, space = digits
    ex = BatchedExecutor(batch_size=4, devices=jax.local_devices()[:1])
    sched = ASHA(space, min_resource=1, max_resource=3, reduction_factor=3, max_trials=12, seed=0)
    search = Search(model, scheduler=sched, executor=ex, n_workers=8, progress=False)
    search.run()
    res = search.results()
    assert (res["rung"] == 0).sum() == 12 and set(res["status"]) == {"ok"}
    assert (res["rung"] == 1).sum() >= 1  # promotions resumed from the jobs' checkpoints
    assert ex.engine is not None and ex.engine.capacity == 4  # 8 jobs handed over, 4 trained


def test_batch_size_caps_the_capacity_on_resize(digits):
    model, _ = digits
    ex = BatchedExecutor(batch_size=4, devices=jax.local_devices()[:1])
    ex.start(model, 8)
    try:
        assert ex.engine.capacity == 4
        ex.resize(2)
        ex.resize(16)
        job = ex.submit(JobSpec(0, 0, _cfgs(1)[0], 0, 1, 0))
        assert job.future.result(timeout=60).error is None
        assert ex.engine.capacity == 4 and ex.n_workers == 16  # min(batch_size, n_workers)
    finally:
        ex.shutdown(wait=True)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        BatchedExecutor(batch_size=0)


def test_freeze_gc_while_the_batching_thread_runs(digits):
    model, _ = digits
    assert gc.get_freeze_count() == 0
    ex = BatchedExecutor(devices=jax.local_devices()[:1])
    ex.start(model, 4)
    try:
        assert gc.get_freeze_count() > 0  # the heap at start is out of full collections
    finally:
        ex.shutdown(wait=True)
    assert gc.get_freeze_count() == 0  # undone when the thread stops
    off = BatchedExecutor(freeze_gc=False, devices=jax.local_devices()[:1])
    off.start(model, 4)
    try:
        assert gc.get_freeze_count() == 0
    finally:
        off.shutdown(wait=True)
    gc.freeze()  # frozen by the program itself: left as it is
    try:
        ex.start(model, 4)
        ex.shutdown(wait=True)
        assert gc.get_freeze_count() > 0  # not thawed by the executor
    finally:
        gc.unfreeze()
    with pytest.raises(InvalidTypeError, match="freeze_gc"):
        BatchedExecutor(freeze_gc=1)


def test_the_engine_reports_when_rows_begin_training(digits):
    model, _ = digits
    cfgs = _cfgs(6)
    eng = model.engine(4, devices=jax.local_devices()[:1], buckets=(4,), pipeline_depth=1)
    for i, c in enumerate(cfgs):
        eng.add(i, i, c, 1)
    assert eng.take_started() == []  # added, not yet training
    eng.step()
    first = eng.take_started()
    assert [k for k, _ in first] == [0, 1, 2, 3]  # rows 4 and 5 wait for room
    eng.step()
    assert [k for k, _ in eng.take_started()] == [4, 5]
    assert eng.take_started() == []  # each row once


def test_a_queued_job_starts_when_its_row_trains(digits):
    import time

    model, _ = digits
    cfgs = _cfgs(2)
    ex = BatchedExecutor(batch_size=1, pipeline_depth=1, devices=jax.local_devices()[:1])
    ex.start(model, 2)
    done_at = {}
    try:
        assert ex.reports_starts  # the runtime counts timeouts from the real start
        jobs = [ex.submit(JobSpec(i, i, c, 0, 1, 0)) for i, c in enumerate(cfgs)]
        jobs[0].future.add_done_callback(lambda _: done_at.setdefault(0, time.monotonic()))
        outs = [j.future.result(timeout=60) for j in jobs]
    finally:
        ex.shutdown(wait=True)
    assert all(o.error is None for o in outs)
    # job 1 waited in the queue for job 0's row: it started (and is timed) from then on
    assert jobs[1].started_at is not None and jobs[1].started_at >= done_at[0]
    assert jobs[1].started_at > jobs[0].started_at
