"""Faults, retries, timeouts, targets, budgets and a lost executor: the loop's logic, exactly,
in virtual time. A failing trial never takes the search down; every row says what happened."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _virtual import vsearch

from asha_nb import space
from asha_nb.core import JobStatus
from asha_nb.errors import ExecutorLostError
from asha_nb.executors import SimulatedCrash, SimulatedExecutor
from asha_nb.runtime import Search

SP = {"k": space.choice(["ok", "raise", "none", "str", "nan", "np0d", "np1", "inf"])}


def faulty(config, resource):
    k = config["k"]
    if k == "raise":
        raise ValueError("bad config")
    if k == "none":
        return None
    if k == "str":
        return "0.5"
    if k == "nan":
        return float("nan")
    if k == "inf":
        return float("inf")
    if k == "np0d":
        return np.array(0.25 * resource)
    if k == "np1":
        return np.array([0.5])
    return float(resource)


def test_every_kind_of_bad_value_is_a_clear_row_and_the_search_goes_on():
    s = vsearch(faulty, SP, max_trials=60, max_resource=9, seed=0).run()
    assert s.state == "finished"
    df = s.results()
    by = {k: df[df.config_k == k] for k in SP["k"].options}
    assert all(len(v) for v in by.values())
    assert (by["ok"].status == "ok").all()
    r = by["raise"]
    assert (r.status == "failed").all()
    assert all("Traceback" in e and "ValueError: bad config" in e for e in r.error)
    assert all("objective returned None; it must return a number" in e for e in by["none"].error)
    assert all("objective returned '0.5' (str)" in e for e in by["str"].error)
    assert all("shape (1,)" in e and ".item()" in e for e in by["np1"].error)
    # A 0-d array is a number.
    np0 = by["np0d"]
    assert (np0.status == "ok").all() and all(v == 0.25 * r for v, r in zip(np0.value, np0.resource))
    for k in ("nan", "inf"):
        n = by[k]
        assert (n.status == "ok").all() and all(not math.isfinite(v) for v in n.value)
        assert all(e.startswith("objective returned") for e in n.error)
        assert (n.rung == 0).all(), "a non-finite value was promoted"
    assert s.best["value"] == df[df.resource == df.resource.max()].value.max()
    assert s.snapshot().n_failed == df.query("status == 'failed'").trial_id.nunique()


def test_torch_0d_tensor_is_a_number():
    import torch

    s = vsearch(lambda c, r: torch.tensor(c["x"] * r), max_trials=3, max_resource=3,
                seed=0).run()
    df = s.results()
    assert (df.status == "ok").all()
    assert all(v == pytest.approx(x * r) for v, x, r in zip(df.value, df.config_x, df.resource))


def test_retries_rerun_a_failed_attempt_and_count_attempts():
    calls = {}

    def flaky(config, resource):
        key = (config["x"], resource)
        calls[key] = calls.get(key, 0) + 1
        if calls[key] < 3:
            raise RuntimeError("transient")
        return config["x"]

    s = vsearch(flaky, max_trials=3, max_resource=1, retries=2, seed=0).run()
    df = s.results()
    assert (df.status == "ok").all() and len(df) == 3
    assert (df.attempts == 3).all() and all(v == 3 for v in calls.values())
    calls.clear()
    s = vsearch(flaky, max_trials=3, max_resource=1, retries=1, seed=5).run()
    df = s.results()
    assert (df.status == "failed").all() and (df.attempts == 2).all()
    assert all("transient" in e for e in df.error)


def test_a_crashed_worker_is_retried_like_on_a_process_pool():
    crashes = set()

    def crashy(config, resource):
        if config["x"] < 0.5 and config["x"] not in crashes:
            crashes.add(config["x"])
            raise SimulatedCrash("segfault")
        return config["x"]

    s = vsearch(crashy, max_trials=8, max_resource=1, retries=1, seed=0).run()
    df = s.results()
    assert (df.status == "ok").all()
    assert set(df[df.attempts == 2].config_x) == crashes and crashes
    s = vsearch(crashy, max_trials=8, max_resource=1, retries=0, seed=1).run()
    failed = s.results().query("status == 'failed'")
    assert len(failed) and all(e.startswith("worker crashed") for e in failed.error)


def test_job_timeout_in_virtual_time_ends_the_job_at_start_plus_timeout():
    # cost 1 per unit: rung-2 jobs of R=9 take 6 (9 - 3) > 4.5
    s = vsearch(max_trials=27, max_resource=9, n_workers=3, job_timeout=4.5, seed=0).run()
    df = s.results()
    slow = df[df.resource - df.resume_from > 4.5]
    assert len(slow) and (slow.status == "failed").all()
    assert all(e == "timed out after 4.5 s" for e in slow.error)
    assert ((slow.end - slow.start) == 4.5).all()
    assert (df[df.resource - df.resume_from <= 4.5].status == "ok").all()


def test_target_and_time_budget_end_the_search_with_their_reason():
    s = vsearch(lambda c, r: c["x"], max_trials=200, max_resource=9, target=0.99,
                seed=0).run()
    assert s.state == "finished" and s.snapshot().reason == "target reached"
    assert s.results().value.max() >= 0.99
    s = vsearch(max_resource=9, n_workers=2, time_budget=25.0, seed=0).run()
    assert s.state == "finished" and s.snapshot().reason == "time budget spent"
    df = s.results()
    assert s.snapshot().elapsed == 25.0 and (df.end <= 25.0).all()
    assert set(df[df.end == 25.0].status) <= {"ok", "interrupted"}


class LosingExecutor(SimulatedExecutor):
    """A simulated executor whose engine disappears after a few jobs (like a closed Dask
    client)."""

    def __init__(self, after: int):
        super().__init__(cost=1.0)
        self.after = after
        self.n = 0

    def submit(self, spec):
        self.n += 1
        if self.n > self.after:
            raise ExecutorLostError("the Dask client was closed")
        return super().submit(spec)


def test_a_lost_executor_ends_the_search_as_failed_with_the_reason():
    s = Search(lambda c, r: c["x"], {"x": space.uniform(0, 1)}, max_trials=20, max_resource=3,
               executor=LosingExecutor(after=5), n_workers=2, progress=False)
    s.run()
    assert s.state == "failed"
    assert s.snapshot().reason == "the Dask client was closed"
    df = s.results()
    assert (df.status == JobStatus.OK.value).sum() >= 3
    assert set(df.status) <= {"ok", "interrupted"}
