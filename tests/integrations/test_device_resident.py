"""Rows and checkpoints of the JAX engine stay on the device: handles, pool, spill, journal."""

from __future__ import annotations

import gc
import pickle

import cloudpickle
import jax
import numpy as np
import pytest

from asha_nb import ASHA, Search
from asha_nb.examples import digits_mlp
from asha_nb.integrations.jax import DeviceCheckpoint


def _cfgs(n: int, width: int = 16) -> list[dict]:
    rng = np.random.default_rng(2)
    return [{"lr": float(rng.uniform(0.02, 0.3)), "weight_decay": float(rng.uniform(0, 1e-3)),
             "momentum": float(rng.uniform(0.5, 0.95)), "width": width} for _ in range(n)]


def _leaves(state) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(state)]


def _same(a, b) -> bool:
    return all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b)))


@pytest.fixture(scope="module")
def model():
    return digits_mlp(widths=(16, 32), n_batches=2)[0]


def _straight(model, cfgs, epochs, devices, first_id=0):
    # the default buckets and training block of an engine of that capacity (a row's bits
    # depend on the block it trains in: the engines compared with this one have the same)
    eng = model.engine(len(cfgs), devices=devices)
    for i, c in enumerate(cfgs, first_id):
        eng.add(i, i, c, epochs)
    return {f.key: f for f in eng.run()}


class _CountGets:
    def __init__(self, monkeypatch):
        self.n = 0
        real = jax.device_get

        def counted(x):
            self.n += 1
            return real(x)

        monkeypatch.setattr(jax, "device_get", counted)


@pytest.mark.parametrize("n_dev", [1, 4])
def test_promoted_rows_are_gathered_on_the_device_bit_for_bit(model, monkeypatch, n_dev):
    devices = jax.local_devices()[:n_dev]
    cfgs = _cfgs(8)
    full = _straight(model, cfgs, 9, devices)
    eng = model.engine(8, devices=devices)
    gets = _CountGets(monkeypatch)
    for i, c in enumerate(cfgs):
        eng.add(("a", i), i, c, 3)
    first = {f.key[1]: f for f in eng.run()}
    for i in (1, 4, 6):  # promoted: 6 more epochs from the handle
        ck = first[i].checkpoint
        assert isinstance(ck, DeviceCheckpoint) and ck.on_device and ck["resource"] == 3
        eng.add(("b", i), i, cfgs[i], 6, ck)
    second = {f.key[1]: f for f in eng.run()}
    # no state crossed to the host: only the values of each chunk (np.asarray)
    assert gets.n == 0 and eng.rows_to_host == 0 and eng.rows_from_host == 0
    assert eng.epochs_trained == 8 * 3 + 3 * 6
    for i in (1, 4, 6):
        assert second[i].checkpoint["resource"] == 9
        assert second[i].value == full[i].value
        assert _same(second[i].checkpoint["state"], full[i].checkpoint["state"])
    assert eng.rows_to_host == 3  # the 3 states of this engine read by the comparison above


def test_handles_work_where_dict_checkpoints_do(model):
    devices = jax.local_devices()[:1]
    cfgs = _cfgs(2)
    out = _straight(model, cfgs, 3, devices)
    ck = out[0].checkpoint
    # pickled (journal, process pools): the dict form, state in host memory
    for dumps in (pickle.dumps, cloudpickle.dumps):
        plain = pickle.loads(dumps(ck))
        assert type(plain) is dict and plain["resource"] == 3 and plain["trial_id"] == 0
        assert all(isinstance(a, np.ndarray) for a in jax.tree.leaves(plain["state"]))
        assert _same(plain["state"], ck["state"])
    # the unbatched path continues from a handle and from its pickled dict alike
    v1, c1 = model(cfgs[0], 5, ck)
    v2, c2 = model(cfgs[0], 5, pickle.loads(pickle.dumps(ck)))
    assert v1 == v2 and _same(c1["state"], c2["state"]) and c1["resource"] == 5
    # another engine loads it from host memory, and continues exactly
    other = model.engine(2, devices=devices)
    other.add("x", 0, cfgs[0], 6, ck)
    (res,) = other.run()
    assert other.rows_from_host == 1
    assert _same(res.checkpoint["state"], _straight(model, cfgs, 9, devices)[0].checkpoint["state"])


def test_pool_slots_are_freed_when_handles_die(model):
    eng = model.engine(4, devices=jax.local_devices()[:1])
    cfgs = _cfgs(4)
    for i, c in enumerate(cfgs):
        eng.add(i, i, c, 1)
    out = eng.run()
    sig = model.signature(cfgs[0])
    assert eng.stats["pool_used"][sig] == 4
    del out[:2]
    gc.collect()
    assert eng.stats["pool_used"][sig] == 2
    out.clear()
    gc.collect()
    assert eng.stats["pool_used"][sig] == 0


def test_a_full_pool_spills_the_oldest_to_host_and_continuation_stays_exact(model):
    devices = jax.local_devices()[:1]
    cfgs = _cfgs(12)
    full = {}
    for wave in range(3):  # the reference, in batches of 4 too (XLA's CPU code may differ by size)
        full.update(_straight(model, cfgs[4 * wave:4 * wave + 4], 4, devices, 4 * wave))
    probe = model.engine(4, devices=devices)
    row_bytes = probe._new_group("probe", {"width": 16}).pool.row_bytes
    eng = model.engine(4, devices=devices, max_pool_bytes=8 * row_bytes)  # two batches of 4
    handles = {}
    for wave in range(3):  # 12 checkpoints kept alive in a pool of 8 rows
        for i in range(4 * wave, 4 * wave + 4):
            eng.add(i, i, cfgs[i], 2)
        handles.update({f.key: f.checkpoint for f in eng.run()})
    assert eng.rows_spilled >= 4 and eng.stats["pool_rows"][model.signature(cfgs[0])] == 8
    spilled = [i for i, h in handles.items() if not h.on_device]
    assert 0 in spilled and 11 not in spilled  # the oldest went first
    for i in (0, 11):  # a spilled handle and one on the device, both continue exactly
        eng.add(("more", i), i, cfgs[i], 2, handles[i])
    res = {f.key[1]: f for f in eng.run()}
    for i in (0, 11):
        assert res[i].value == full[i].value
        assert _same(res[i].checkpoint["state"], full[i].checkpoint["state"])


def test_a_pool_cap_below_two_batches_is_refused(model):
    from asha_nb.errors import InvalidParameterError

    eng = model.engine(4, devices=jax.local_devices()[:1], max_pool_bytes=1000)
    with pytest.raises(InvalidParameterError, match="max_pool_bytes"):
        eng.add(0, 0, _cfgs(1)[0], 1)
    with pytest.raises(InvalidParameterError, match="pool_fraction"):
        model.engine(4, pool_fraction=0)


def test_static_groups_interleave_and_match_their_own_runs(model):
    devices = jax.local_devices()[:1]
    a, b = _cfgs(4, 16), _cfgs(4, 32)
    eng = model.engine(4, devices=devices)
    for i in range(4):
        eng.add(("a", i), i, a[i], 2)
        eng.add(("b", i), i, b[i], 2)
    first = eng.step()  # both groups were dispatched; the first one's rows come back
    assert eng.n_chunks == 2  # the second group's chunk runs while the first one's is read
    assert len(first) == 4 and eng.n_active == 4
    got = {f.key: f for f in first + eng.run()}
    assert eng.n_active == 0 and len(got) == 8
    for tag, cfgs in (("a", a), ("b", b)):
        alone = _straight(model, cfgs, 2, devices)
        for i in range(4):
            assert got[(tag, i)].value == alone[i].value


def test_journal_resume_of_a_batched_search(tmp_path):
    model, space = digits_mlp(widths=(16,), n_batches=2)

    def search(**kw):
        sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3, max_trials=27,
                     seed=3)
        return Search(model, scheduler=sched, executor="batched", n_workers=8, progress=False,
                      **kw)

    whole = search().run().results()
    journal = tmp_path / "j.jsonl"
    part = search(journal=journal, max_jobs=30).run()
    assert len(part.results()) < len(whole)  # stopped by max_jobs, ASHA had more to do
    files = sorted((tmp_path / "j.jsonl.checkpoints").glob("*.pkl"))
    assert files
    blob = cloudpickle.loads(files[0].read_bytes())["checkpoint"]
    assert type(blob) is dict and all(isinstance(a, np.ndarray)
                                      for a in jax.tree.leaves(blob["state"]))
    resumed = Search.from_journal(journal, model, executor="batched", max_jobs=None).run()
    assert resumed.state == "finished"
    got = resumed.results()
    ok = got[got["status"].astype(str).str.contains("ok")]
    assert (ok["resume_from"] > 0).any()  # promotions continued from the journal's checkpoints
    ref = {(r.trial_id, r.resource): r.value for r in whole.itertuples()}
    matched = [(r.trial_id, r.resource) for r in ok.itertuples() if (r.trial_id, r.resource) in ref]
    assert len(matched) >= len(ok) // 2
    for r in ok.itertuples():  # a trial's value at a resource never depends on the batch
        if (r.trial_id, r.resource) in ref:
            assert r.value == ref[(r.trial_id, r.resource)]
