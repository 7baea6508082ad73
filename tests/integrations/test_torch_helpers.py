"""torch helpers: save/restore continuation, torch.func batching, thread caps, a search."""

from __future__ import annotations

import concurrent.futures as cf
import pickle

import numpy as np
import pytest
import torch

from asha_nb import ASHA
from asha_nb.errors import InvalidParameterError
from asha_nb.examples import torch_digits_batched, torch_digits_objective, torch_mlp
from asha_nb.executors import JobSpec
from asha_nb.executors.batched import BatchedExecutor, missing_engine_members
from asha_nb.integrations.torch import (
    BatchedTorchModel,
    DeviceRow,
    TorchBatchEngine,
    limit_threads,
    minibatch_order,
    resolve_device,
    restore,
    save,
    seeded_init,
    train_batched,
)


def test_save_restore_round_trip_pickles():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    ck = pickle.loads(pickle.dumps(save(model, opt, 7, note="x")))
    other = torch.nn.Linear(3, 2)
    opt2 = torch.optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    assert restore(ck, other, opt2) == 7
    assert torch.equal(other.weight, model.weight)
    assert torch.equal(opt2.state_dict()["state"][0]["momentum_buffer"],
                       opt.state_dict()["state"][0]["momentum_buffer"])
    assert restore(None, other, opt2) == 0
    with pytest.raises(InvalidParameterError, match="checkpoint"):
        restore({"weights": 1}, other)


def test_checkpoint_continuation_equals_uninterrupted_training():
    objective, _ = torch_digits_objective()
    cfg = {"lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9, "width": 64}
    v_full, ck_full = objective(cfg, 4)
    v1, ck1 = objective(cfg, 1)
    v4, ck4 = objective(cfg, 4, ck1)
    assert objective.epochs_trained == 4 + 1 + 3  # the promotion trained 3 epochs, not 4
    assert ck4["epoch"] == 4
    for k in ck_full["model"]:
        assert torch.allclose(ck_full["model"][k], ck4["model"][k], atol=1e-6)
    assert abs(v_full - v4) < 1e-6


def test_torch_func_batched_equals_loop():
    m = torch_digits_batched()
    cfgs = [{"lr": 0.03 * (i + 1), "weight_decay": 1e-4 * i, "momentum": 0.5 + 0.1 * i,
             "width": 64} for i in range(4)]
    rows, acc = train_batched(m, cfgs, 2)
    assert acc.shape == (4,)
    x, y = m.data["x_train"], m.data["y_train"]
    for i, c in enumerate(cfgs):
        mod = seeded_init(torch_mlp(64), 0 * 7919 + i)
        opt = torch.optim.SGD(mod.parameters(), lr=c["lr"], momentum=c["momentum"],
                              weight_decay=c["weight_decay"])
        for e in range(2):
            perm = minibatch_order(1408, 0, i, e)
            for b in range(11):
                idx = perm[b * 128:(b + 1) * 128]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(mod(x[idx]), y[idx]).backward()
                opt.step()
        for name, p in mod.named_parameters():
            assert torch.allclose(p.detach(), rows[i]["params"][name], atol=1e-5), name


def test_limit_threads_restores():
    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_torch_promotion_search_resumes_and_learns():
    """ASHA over the per-trial torch objective on a thread pool, promotions resume."""
    objective, space = torch_digits_objective()
    sched = ASHA(space, min_resource=1, max_resource=9, reduction_factor=3, max_trials=18, seed=0)
    ckpts: dict = {}
    needed = 0
    with limit_threads(1), cf.ThreadPoolExecutor(2) as pool:
        inflight: dict = {}
        while not sched.is_finished:
            while len(inflight) < 2:
                job = sched.next_job()
                if job is None:
                    break
                ck = ckpts.get(job.trial_id) if job.resume_from > 0 else None
                assert job.resume_from == 0 or ck is not None
                inflight[pool.submit(objective, dict(job.config), job.resource, ck)] = job
            done, _ = cf.wait(list(inflight), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                job = inflight.pop(fut)
                value, ck = fut.result()
                assert ck["epoch"] == job.resource
                ckpts[job.trial_id] = ck
                needed += job.resource - job.resume_from
                sched.report(job, value)
    assert objective.epochs_trained == needed  # never retrained from zero
    best = sched.best()
    assert best is not None and best[1] >= 0.9 and best[2] == 9


def test_torch_batched_model_on_the_batch_executor():
    m = torch_digits_batched()
    sched = ASHA({"lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9, "width": 64},
                 min_resource=1, max_resource=3, reduction_factor=3, max_trials=6, seed=0)
    ex = BatchedExecutor(m)
    ex.start(m, 6)
    assert isinstance(ex.engine, TorchBatchEngine) and missing_engine_members(ex.engine) == []
    ckpts: dict = {}
    try:
        inflight: dict = {}
        while not sched.is_finished:
            while len(inflight) < 6:
                job = sched.next_job()
                if job is None:
                    break
                spec = JobSpec(job.job_id, job.trial_id, dict(job.config), job.rung, job.resource,
                               job.resume_from, ckpts.get(job.trial_id))
                inflight[ex.submit(spec).future] = job
            done, _ = cf.wait(list(inflight), timeout=60, return_when=cf.FIRST_COMPLETED)
            assert done
            for fut in done:
                job = inflight.pop(fut)
                out = fut.result()
                assert out.error is None, out.error
                ckpts[job.trial_id] = out.checkpoint
                sched.report(job, out.value)
    finally:
        ex.shutdown(wait=True)
    assert ex.engine.epochs_trained == 6 * 1 + 2 * 2  # rung 0: 6 x 1; the promotion: +2
    assert isinstance(m, BatchedTorchModel)
    assert np.isfinite(sched.best()[1])


def test_torch_engine_equals_train_batched_and_resumes():
    m = torch_digits_batched()
    cfgs = [{"lr": 0.05 * (i + 1), "weight_decay": 1e-4, "momentum": 0.9, "width": 64}
            for i in range(3)]
    ref, acc = train_batched(m, cfgs, 3)
    eng = m.engine(4)
    for i, c in enumerate(cfgs):
        eng.add(i, i, c, 1)
    first = {f.key: f for f in eng.run()}
    for i, c in enumerate(cfgs):  # promotions: 2 more epochs from the checkpoints
        eng.add(10 + i, i, c, 2, first[i].checkpoint)
    got = {f.key - 10: f for f in eng.run()}
    assert eng.epochs_trained == 3 * 1 + 3 * 2
    for i in range(3):
        assert got[i].checkpoint["resource"] == 3 and got[i].epochs == 2
        for name, p in ref[i]["params"].items():
            assert torch.allclose(got[i].checkpoint["params"][name], p, atol=1e-6), name
        assert abs(got[i].value - float(acc[i])) < 1e-6


def test_torch_engine_trains_at_most_capacity_rows_the_oldest_first():
    m = torch_digits_batched()
    cfgs = [{"lr": 0.05 * (i + 1), "weight_decay": 1e-4, "momentum": 0.9, "width": 64}
            for i in range(3)]
    eng = m.engine(2)
    for i, c in enumerate(cfgs):
        eng.add(i, i, c, 1)
    assert [f.key for f in eng.step()] == [0, 1]  # row 2 waited: capacity 2
    assert eng.n_active == 1
    (last,) = eng.step()
    alone = m.engine(2)  # the queued row trained as usual
    alone.add(2, 2, cfgs[2], 1)
    assert last.key == 2 and abs(last.value - alone.run()[0].value) < 1e-6
    assert eng.epochs_trained == 3


def test_torch_engine_rejects_bad_rows():
    eng = torch_digits_batched().engine(2)
    cfg = {"lr": 0.1, "weight_decay": 0.0, "momentum": 0.0, "width": 8}
    with pytest.raises(InvalidParameterError, match="whole number"):
        eng.add("a", 0, cfg, 0.5)
    eng.add("a", 0, cfg, 1)
    with pytest.raises(InvalidParameterError, match="twice"):
        eng.add("a", 1, cfg, 1)
    assert eng.remove("a") and not eng.remove("a") and eng.n_active == 0


def test_torch_device_is_chosen_and_checked():
    m = torch_digits_batched(device="cpu")
    assert m.device == torch.device("cpu") and m.data["x_train"].device.type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert torch_digits_batched().device.type == expected  # default: CUDA when available
    for bad in ("gpu", "cuda:99", 3.5):
        with pytest.raises(InvalidParameterError, match="device"):
            torch_digits_batched(device=bad)
        with pytest.raises(InvalidParameterError, match="device"):
            torch_digits_objective(device=bad)
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="not"):
            resolve_device("cuda")
    obj, _ = torch_digits_objective(device="cpu")
    cfg = {"lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9, "width": 16}
    v3, ck = obj(cfg, 3)
    assert ck["model"]["0.weight"].device.type == "cpu" and 0 <= v3 <= 1


def test_torch_engine_checkpoints_stay_on_its_device_and_pickle_to_cpu():
    m = torch_digits_batched(device="cpu")
    cfg = {"lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9, "width": 16}
    eng = m.engine(2)
    eng.add("a", 0, cfg, 1)
    (first,) = eng.run()
    ck = first.checkpoint
    assert isinstance(ck, DeviceRow) and ck["resource"] == 1
    assert all(t.device == m.device for t in ck["params"].values())
    plain = pickle.loads(pickle.dumps(ck))
    assert type(plain) is dict and plain["resource"] == 1
    assert all(t.device.type == "cpu" for t in plain["params"].values())
    for start in (ck, plain):  # the handle and its pickled form continue alike
        eng.add(("b", id(start)), 0, cfg, 2, start)
    a, b = eng.run()
    assert a.value == b.value
    for name in a.checkpoint["params"]:
        assert torch.equal(a.checkpoint["params"][name], b.checkpoint["params"][name])


def test_torch_engine_reports_when_rows_begin_training():
    m = torch_digits_batched()
    cfg = {"lr": 0.05, "weight_decay": 1e-4, "momentum": 0.9, "width": 64}
    eng = m.engine(1)
    eng.add("a", 0, cfg, 1)
    eng.add("b", 1, cfg, 1)
    eng.step()
    assert [k for k, _ in eng.take_started()] == ["a"]  # "b" waits for room
    eng.step()
    assert [k for k, _ in eng.take_started()] == ["b"] and eng.take_started() == []
