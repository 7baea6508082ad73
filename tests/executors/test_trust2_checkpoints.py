"""Issue 15 item 3: a checkpoint that cannot be pickled no longer costs the value on executors
whose jobs run in other processes: the value is kept, the checkpoint dropped, and the row's
note says why (the thread executor keeps such a checkpoint in memory)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
import threading

import cloudpickle
import pytest

from asha_nb import Search, space

cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = {"x": space.uniform(0.0, 1.0)}


def with_lock(config, resource, checkpoint):
    return config["x"] * resource, threading.Lock()


def counting(config, resource, checkpoint):
    done = 0 if checkpoint is None else checkpoint["resource"]
    return config["x"] * resource + done, {"resource": resource}


def search(objective, executor):
    s = Search(objective, SPACE, executor=executor, n_workers=2, max_trials=4, max_resource=3,
               reduction_factor=3, seed=1, progress=False)
    s.start()
    assert s.wait(timeout=180), "the search did not end"
    assert str(s.state) == "finished", s.snapshot().reason
    return s


@pytest.fixture(params=["process", "user-process-pool"])
def executor(request):
    if request.param == "process":
        yield "process"
    else:
        with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool


def test_a_checkpoint_that_cannot_be_pickled_keeps_the_value(executor):
    s = search(with_lock, executor)
    rows = s.records()
    assert rows and all(r.status.value == "ok" for r in rows), rows
    for r in rows:
        assert r.value == pytest.approx(r.config["x"] * r.resource)
        assert "checkpoint not kept" in r.error and "pickle" in r.error, r.error
    assert s.best is not None


def test_a_picklable_checkpoint_still_reaches_the_next_rung(executor):
    s = search(counting, executor)
    rows = s.records()
    assert all(r.status.value == "ok" and r.error is None for r in rows), rows
    promoted = [r for r in rows if r.rung > 0]
    assert promoted
    for r in promoted:  # it resumed from its previous rung's checkpoint
        assert r.value == pytest.approx(r.config["x"] * r.resource + r.resume_from)
