"""torch helpers: save/restore continuation, torch.func batching, thread caps, a search."""

from __future__ import annotations

import concurrent.futures as cf
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from asha_nb import ASHA  # noqa: E402
from asha_nb.executors import JobSpec  # noqa: E402
from asha_nb.executors.jax_batched import JaxBatchExecutor  # noqa: E402
from asha_nb.integrations.torch import (  # noqa: E402
    BatchedTorchModel,
    _mlp,
    _perm,
    _seeded_init,
    digits_batched,
    digits_objective,
    limit_threads,
    restore,
    save,
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
    with pytest.raises(ValueError):
        restore({"weights": 1}, other)


def test_checkpoint_continuation_equals_uninterrupted_training():
    objective, _ = digits_objective()
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
    m = digits_batched()
    cfgs = [{"lr": 0.03 * (i + 1), "weight_decay": 1e-4 * i, "momentum": 0.5 + 0.1 * i,
             "width": 64} for i in range(4)]
    rows, acc = train_batched(m, cfgs, 2)
    assert acc.shape == (4,)
    x, y = m.data["x_train"], m.data["y_train"]
    for i, c in enumerate(cfgs):
        mod = _seeded_init(_mlp(64), 0 * 7919 + i)
        opt = torch.optim.SGD(mod.parameters(), lr=c["lr"], momentum=c["momentum"],
                              weight_decay=c["weight_decay"])
        for e in range(2):
            perm = _perm(1408, 0, i, e)
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
    objective, space = digits_objective()
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
    m = digits_batched()
    sched = ASHA({"lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9, "width": 64},
                 min_resource=1, max_resource=3, reduction_factor=3, max_trials=6, seed=0)
    ex = JaxBatchExecutor(m)
    ex.start(m, 6)
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
