"""The JAX batched engine and executor: exactness, sharding, slicing, bucketing, a full search."""

from __future__ import annotations

import concurrent.futures as cf
import itertools

import jax
import numpy as np
import pytest

from asha_nb import ASHA, Search
from asha_nb.examples import digits_mlp
from asha_nb.executors import JobSpec
from asha_nb.executors.batched import BatchedExecutor
from asha_nb.integrations.jax import BatchedModel, JaxBatchEngine, bucket_sizes

N_DEV = len(jax.local_devices())


def _cfgs(n: int, width: int = 32) -> list[dict]:
    rng = np.random.default_rng(1)
    return [{"lr": float(rng.uniform(0.02, 0.3)), "weight_decay": float(rng.uniform(0, 1e-3)),
             "momentum": float(rng.uniform(0.5, 0.95)), "width": width} for _ in range(n)]


def _leaves(ck: dict) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(ck["state"])]


def _maxdiff(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(_leaves(a), _leaves(b)))


@pytest.fixture(scope="module")
def digits():
    return digits_mlp(widths=(16, 32), n_batches=4)  # 512 training rows: fast


def test_bucket_sizes():
    assert bucket_sizes(64, 4) == (4, 8, 16, 32, 64)
    assert bucket_sizes(5, 1) == (1, 2, 4, 8)


def test_batched_equals_per_configuration(digits):
    model, _ = digits
    cfgs = _cfgs(5)
    epochs = [1, 3, 2, 3, 1]  # different lengths in one batch: chunks of min(remaining)
    eng = model.engine(8, devices=jax.local_devices()[:1])
    for i, (c, e) in enumerate(zip(cfgs, epochs)):
        eng.add(i, i, c, e)
    got = {f.key: f for f in eng.run()}
    assert sorted(got) == list(range(5))
    for i, (c, e) in enumerate(zip(cfgs, epochs)):
        value, ck = model.train_single(c, e, trial_id=i)
        assert got[i].epochs == e and got[i].checkpoint["resource"] == e
        assert _maxdiff(ck, got[i].checkpoint) < 1e-5
        assert abs(value - got[i].value) < 1e-5


def test_sharded_equals_unsharded(digits):
    assert N_DEV == 4, ("tests/integrations/conftest.py sets XLA_FLAGS="
                        "--xla_force_host_platform_device_count=4 before JAX starts; JAX started earlier")
    model, _ = digits
    cfgs = _cfgs(8)
    out = []
    for devices in (jax.local_devices()[:1], jax.local_devices()[:4]):
        eng = model.engine(8, devices=devices)
        for i, c in enumerate(cfgs):
            eng.add(i, i, c, 2)
        out.append({f.key: f for f in eng.run()})
        assert eng.batch_sizes[model.signature(cfgs[0])] == 8
        sharding = eng.state_sharding(model.signature(cfgs[0]))
        assert len(sharding.device_set) == len(devices)  # the K axis really is split
    for i in range(8):
        assert _maxdiff(out[0][i].checkpoint, out[1][i].checkpoint) < 1e-5


def test_slice_resume_is_bit_for_bit(digits):
    model, _ = digits
    cfgs = _cfgs(8)
    devs = jax.local_devices()
    # the original batch of 8 trained 5 epochs in one go
    full = model.engine(8, devices=devs)
    for i, c in enumerate(cfgs):
        full.add(i, i, c, 5)
    full_out = {f.key: f for f in full.run()}
    # the same batch trained 2 epochs; rows 2 and 5 sliced to host and resumed in a batch of 4
    part = model.engine(8, devices=devs)
    for i, c in enumerate(cfgs):
        part.add(i, i, c, 2)
    part_out = {f.key: f for f in part.run()}
    ck = part_out[5].checkpoint
    assert all(isinstance(a, np.ndarray) for a in jax.tree.leaves(ck["state"]))
    small = model.engine(4, devices=devs)
    small.add("a", 2, cfgs[2], 3, part_out[2].checkpoint)
    small.add("b", 5, cfgs[5], 3, ck)
    res = {f.key: f for f in small.run()}
    assert small.epochs_trained == 6  # 3 + 3: resumed, not retrained from zero
    for key, i in (("a", 2), ("b", 5)):
        assert res[key].checkpoint["resource"] == 5
        assert _maxdiff(res[key].checkpoint, full_out[i].checkpoint) == 0.0
        assert res[key].value == full_out[i].value
    assert _maxdiff(part_out[2].checkpoint, full_out[2].checkpoint) > 0  # it did train further


def test_removed_rows_and_compaction(digits):
    model, _ = digits
    cfgs = _cfgs(8)
    # blocks of 1 row, so that the buckets 1, 2, 4, 8 exist (the default block on a CPU,
    # 16 rows per device, would leave only the bucket 8 here)
    eng = model.engine(8, devices=jax.local_devices()[:1], compact_after=0, train_block=1)
    assert eng.buckets == (1, 2, 4, 8)
    for i, c in enumerate(cfgs):
        eng.add(i, i, c, 3 if i < 2 else 1)
    first = eng.step()
    assert sorted(f.key for f in first) == list(range(2, 8))
    assert eng.remove(1) and not eng.remove(1)
    (last,) = eng.run()
    assert last.key == 0
    sig = model.signature(cfgs[0])
    assert eng.batch_sizes[sig] == 1  # compacted to the smallest bucket holding one row


def _run_search(executor, model, sched, n_workers):
    """Tiny driver of the executor contract (the runtime's Search is tested below too)."""
    executor.start(model, n_workers)
    inflight: dict = {}
    ckpts: dict = {}
    trained = 0
    try:
        while not sched.is_finished:
            while len(inflight) < n_workers:
                job = sched.next_job()
                if job is None:
                    break
                ck = ckpts.get(job.trial_id) if job.resume_from > 0 else None
                spec = JobSpec(job.job_id, job.trial_id, dict(job.config), job.rung,
                               job.resource, job.resume_from, ck)
                inflight[executor.submit(spec).future] = job
            done, _ = cf.wait(list(inflight), timeout=30, return_when=cf.FIRST_COMPLETED)
            assert done, "executor made no progress"
            for fut in done:
                job = inflight.pop(fut)
                out = fut.result()
                assert out.error is None, out.error
                assert out.checkpoint["resource"] == job.resource
                trained += job.resource - job.resume_from
                ckpts[job.trial_id] = out.checkpoint
                sched.report(job, out.value)
    finally:
        executor.shutdown(wait=True)
    return trained


def test_asha_search_compiles_a_bounded_number_of_programs():
    model, space = digits_mlp(widths=(16, 32), n_batches=4)
    sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3, max_trials=243, seed=0)
    # blocks of 1 row: buckets 1, 2, 4, 8, 16 (with the default, 16 rows, only 16)
    ex = BatchedExecutor(devices=jax.local_devices()[:1], compact_after=0, train_block=1)
    trained = _run_search(ex, model, sched, n_workers=16)
    assert sched.snapshot().rungs[0].n_results == 243
    # every epoch the engine trained was needed: promotions resumed from their checkpoints
    assert ex.engine.epochs_trained == trained
    # bound, even when compacting eagerly: 2 static groups (widths) x 5 buckets 1, 2, 4, 8, 16
    # -- without buckets every live-row count (1..16) could compile; one program per bucket
    # (new rows initialised, checkpoints gathered and stored inside it); the pools never grew,
    # no checkpoint came from or went to the host
    assert ex.engine.buckets == (1, 2, 4, 8, 16)
    counts = model.program_counts()
    assert set(counts) == {"batch", "zeros"}  # no pool grow, store or take programs
    assert sum(counts.values()) == model.n_compiles + model.n_cache_hits
    assert 2 <= counts["batch"] <= 2 * 5
    # zero rows made on the device: a new batch's base (one per bucket) and the first pool
    assert counts["zeros"] <= 2 * (5 + 1)


def test_search_runtime_reaches_good_accuracy():
    model, space = digits_mlp()
    sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3, max_trials=64, seed=0)
    ex = BatchedExecutor()
    s = Search(model, scheduler=sched, executor=ex, n_workers=16, progress=False).run()
    assert s.state == "finished"
    assert s.best["value"] >= 0.9
    # one static group: with the default compaction rule, at most one training program per
    # bucket (and its init and pool programs), and programs making zero rows on the device
    counts = model.program_counts()
    assert set(counts) == {"batch", "zeros"}
    assert sum(counts.values()) == model.n_compiles + model.n_cache_hits
    assert 1 <= counts["batch"] <= len(ex.engine.buckets)
    assert counts["zeros"] <= len(ex.engine.buckets) + 1
    counts = [r.n_results for r in sched.snapshot().rungs]
    assert counts[0] == 64 and counts[-1] >= 1
    # the executor stopped: the engine let go of its batch (device memory), not of the pool
    ex.shutdown(wait=True)  # the search asked it to stop; wait for its thread to be done
    (group,) = ex.engine._groups.values()
    assert group.state is None and group.pool.arrays is not None


def test_stop_job_drops_the_row():
    model, _ = digits_mlp(n_batches=2)
    ex = BatchedExecutor(devices=jax.local_devices()[:1], max_chunk=1)
    ex.start(model, 4)
    try:
        cfgs = _cfgs(2, width=64)
        long = ex.submit(JobSpec(0, 0, cfgs[0], 0, 200, 0))
        short = ex.submit(JobSpec(1, 1, cfgs[1], 0, 1, 0))
        assert short.future.result(timeout=60).value > 0
        ex.stop_job(long)
        out = long.future.result(timeout=60)
        assert out.stopped and out.value is None
        assert ex.engine.n_active == 0
        assert ex.engine.epochs_trained < 50
    finally:
        ex.shutdown(wait=True)


def test_executor_rejects_plain_function():
    from asha_nb.errors import InvalidTypeError

    with pytest.raises(InvalidTypeError, match="BatchedModel"):
        BatchedExecutor().start(lambda c, r: 0.0, 4)


def test_custom_model_and_dynamic_hparams_do_not_recompile():
    jnp = jax.numpy
    data = {"x": np.linspace(-1, 1, 32, dtype=np.float32), "y": np.linspace(0, 2, 32, dtype=np.float32)}

    def init(key, hp):
        return {"w": jnp.zeros((hp["deg"],), jnp.float32)}

    def train_epoch(state, hp, data):
        feats = jnp.stack([data["x"] ** i for i in range(state["w"].shape[0])], 1)
        g = jax.grad(lambda w: jnp.mean((feats @ w - data["y"]) ** 2))(state["w"])
        return {"w": state["w"] - hp["lr"] * g}

    def evaluate(state, data):
        feats = jnp.stack([data["x"] ** i for i in range(state["w"].shape[0])], 1)
        return -jnp.mean((feats @ state["w"] - data["y"]) ** 2)

    model = BatchedModel(init, train_epoch, evaluate, data, dynamic=("lr",), compilation_cache=False)
    eng = model.engine(4, devices=jax.local_devices()[:1])
    for rnd in range(3):
        for i in range(4):
            eng.add((rnd, i), i, {"lr": 0.1 * (i + 1) + rnd, "deg": 2}, 2)
        eng.run()
    # one group, one bucket: one training program whatever the lr values of the rounds (and
    # the programs making the batch's and the pool's zero rows on the device)
    assert model.program_counts() == {"batch": 1, "zeros": 2}
    eng.add("d3", 0, {"lr": 0.1, "deg": 3}, 1)
    eng.run()
    assert model.program_counts() == {"batch": 2, "zeros": 4}  # a new static value: a new group


def _poly_model(**kw):
    jnp = jax.numpy
    data = {"x": np.linspace(-1, 1, 16, dtype=np.float32), "y": np.linspace(0, 2, 16, dtype=np.float32)}

    def init(key, hp):
        return {"w": jax.random.normal(key, (3,))}

    def train_epoch(state, hp, data):
        feats = jnp.stack([data["x"] ** i for i in range(3)], 1)
        g = jax.grad(lambda w: jnp.mean((feats @ w - data["y"]) ** 2))(state["w"])
        return {"w": state["w"] - hp["lr"] * g}

    def evaluate(state, data):
        feats = jnp.stack([data["x"] ** i for i in range(3)], 1)
        return -jnp.mean((feats @ state["w"] - data["y"]) ** 2)

    return BatchedModel(init, train_epoch, evaluate, data, dynamic=("lr",), **kw)


class _Proportional(JaxBatchEngine):
    """An engine whose saving estimate is that of training every slot: an epoch costs in
    proportion to the bucket (the rule's input before chunks trained only the live blocks)."""

    def _saved(self, size, fit, n_live):
        return 1 - fit / size


def _sizes(compact_after, engine=_Proportional):
    """Batch size after each of three 1-epoch chunks, with a fake clock (every chunk: 1 s),
    one chunk at a time (``pipeline_depth=1``: each step runs and reads one chunk).

    8 rows in bucket 8 (blocks of 1 row: buckets 1, 2, 4, 8): 7 finish after the first chunk;
    then a 2-epoch row joins the one left.
    """
    model = _poly_model()
    eng = engine(model, 8, devices=jax.local_devices()[:1], compact_after=compact_after,
                 clock=itertools.count(0.0, 1.0).__next__, train_block=1, pipeline_depth=1)
    for i in range(8):
        eng.add(i, i, {"lr": 0.1}, 2 if i == 0 else 1)
    sizes = []
    for added in (True, False, False):
        eng.step()
        sizes.append(eng.batch_sizes[model.signature({"lr": 0.1})])
        if added:
            eng.add(8, 8, {"lr": 0.1}, 2)
    assert eng.n_active == 0 and eng.epochs_trained == 7 + 2 + 2
    return sizes


def test_a_smaller_bucket_compiles_only_when_it_pays():
    # After chunk 1 one row is left in bucket 8: 0.875 s lost (1 s x 7/8 empty). Before chunk 2
    # two rows fit bucket 2, whose longest still needs 2 epochs: 1 s x 6/8 x 2 = 1.5 s to come.
    # Before chunk 3 one row: lost 0.875 + 0.875, to come 1 s x 7/8 x 1 epoch.
    assert _sizes(2.5) == [8, 8, 1]  # 1.75 + 0.875 = 2.625 >= 2.5: bucket 1 pays before chunk 3
    assert _sizes(3.0) == [8, 8, 8]  # never reaches 3 s: no smaller program is compiled
    assert _sizes(2.0) == [8, 2, 2]  # 0.875 + 1.5 >= 2 before chunk 2; then 0.5 + 0.5 < 2
    assert _sizes(0) == [8, 2, 1]  # compact as soon as the rows fit
    assert _sizes(float("inf")) == [8, 8, 8]


def test_live_blocks_leave_nothing_for_a_smaller_bucket_to_save():
    # the chunks train only the live rows' blocks, in any bucket: a smaller bucket saves no
    # training, so it is compiled only with compact_after=0 (the numbers above: all 8)
    for after in (2.0, 2.5, 3.0, float("inf")):
        assert _sizes(after, JaxBatchEngine) == [8, 8, 8]
    assert _sizes(0, JaxBatchEngine) == [8, 2, 1]


def test_bad_engine_arguments():
    from asha_nb.errors import InvalidParameterError

    model = _poly_model()
    with pytest.raises(InvalidParameterError, match="compact_after"):
        model.engine(4, compact_after=-1)
    with pytest.raises(InvalidParameterError, match="buckets"):
        model.engine(4, devices=jax.local_devices()[:1], buckets=(1, 2))
    eng = model.engine(4, devices=jax.local_devices()[:1])
    with pytest.raises(InvalidParameterError, match="whole number"):
        eng.add("a", 0, {"lr": 0.1}, 1.5)
    eng.add("a", 0, {"lr": 0.1}, 1)
    with pytest.raises(InvalidParameterError, match="twice"):
        eng.add("a", 1, {"lr": 0.1}, 1)
