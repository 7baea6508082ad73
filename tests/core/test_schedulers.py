"""Behaviour of SHA, ASHA, Hyperband and AsyncHyperband beyond the random invariants."""

from __future__ import annotations

import pytest

from asha_nb import ASHA, SHA, AsyncHyperband, Hyperband, space
from asha_nb.core import TrialStatus, rung_resources
from asha_nb.core.hyperband import bracket_max_trials, bracket_rungs
from asha_nb.errors import SearchStateError

SPACE = {"x": space.uniform(0, 1)}


def run_sequential(sched, f=lambda job: job.config["x"]):
    jobs = []
    while not sched.is_finished:
        job = sched.next_job()
        assert job is not None, "a sequential run never waits"
        jobs.append(job)
        sched.report(job, f(job))
    return jobs


def test_seed_001_sha_table():
    """64 configurations, reduction factor 4: 64/16/4/1 jobs at resources 1/4/16/64."""
    sha = SHA(SPACE, n_configs=64, min_resource=1, max_resource=64, reduction_factor=4, seed=1)
    jobs = run_sequential(sha)
    per_rung = {}
    for j in jobs:
        per_rung.setdefault(j.rung, set()).add(j.resource)
    assert [sum(1 for j in jobs if j.rung == k) for k in range(4)] == [64, 16, 4, 1]
    assert [per_rung[k] for k in range(4)] == [{1}, {4}, {16}, {64}]
    # The survivors of each rung are its top quarter.
    snap = sha.snapshot()
    rung0 = {t.trial_id: dict(t.values)[0] for t in snap.trials}
    rung1_ids = {j.trial_id for j in jobs if j.rung == 1}
    assert rung1_ids == set(sorted(rung0, key=rung0.get, reverse=True)[:16])
    winner = [j.trial_id for j in jobs if j.rung == 3][0]
    assert sha.trial(winner).status is TrialStatus.COMPLETED
    assert sha.best()[0] == winner


def test_sha_barrier_is_real():
    sha = SHA(SPACE, n_configs=9, min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    jobs = [sha.next_job() for _ in range(9)]
    assert sha.next_job() is None  # all of rung 0 handed out, none reported
    for j in jobs[:8]:
        sha.report(j, j.config["x"])
        assert sha.next_job() is None, "must wait at the barrier while rung 0 is incomplete"
    assert not sha.is_finished
    events = sha.report(jobs[8], jobs[8].config["x"])
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("Promoted") == 3 and kinds.count("Stopped") == 6
    nxt = sha.next_job()
    assert nxt is not None and nxt.rung == 1 and nxt.resume_from == 1


def test_sha_barrier_counts_failed_and_stopped_members():
    sha = SHA(SPACE, n_configs=4, min_resource=1, max_resource=4, reduction_factor=2, seed=0)
    jobs = [sha.next_job() for _ in range(4)]
    sha.report(jobs[0], 0.1)
    sha.fail(jobs[1], ValueError("bad"))
    sha.stop_trial(jobs[2].trial_id)
    assert sha.next_job() is None
    sha.report(jobs[3], 0.9)
    promoted = sha.next_job()
    assert promoted.trial_id == jobs[3].trial_id  # best eligible; 4 // 2 = 2 slots, 2 eligible
    second = sha.next_job()
    assert second.trial_id == jobs[0].trial_id
    assert sha.trial(jobs[1].trial_id).status is TrialStatus.FAILED
    assert "ValueError: bad" in sha.trial(jobs[1].trial_id).error


def test_sha_add_trial_only_while_rung0_open():
    sha = SHA(SPACE, n_configs=2, min_resource=1, max_resource=2, reduction_factor=2, seed=0)
    tid = sha.add_trial({"x": 0.5})
    assert tid == 0
    jobs = [sha.next_job() for _ in range(3)]
    assert jobs[0].trial_id == 0 and jobs[0].config["x"] == 0.5
    assert sha.next_job() is None
    for j in jobs:
        sha.report(j, j.config["x"])
    with pytest.raises(SearchStateError, match="rung 0"):
        sha.add_trial({"x": 0.1})


def test_asha_user_trial_runs_next_and_partial_config_is_completed():
    sched = ASHA({"x": space.uniform(0, 1), "y": space.choice([1, 2])}, min_resource=1,
                 max_resource=9, reduction_factor=3, seed=0)
    sched.next_job()
    tid = sched.add_trial({"x": 0.25})
    job = sched.next_job()
    assert job.trial_id == tid and job.config["x"] == 0.25 and job.config["y"] in (1, 2)
    with pytest.raises(ValueError, match="not in the search space"):
        sched.add_trial({"nope": 1})


def test_asha_stop_trial_blocks_promotion_and_keeps_late_result():
    sched = ASHA(SPACE, min_resource=1, max_resource=4, reduction_factor=2, seed=0)
    a, b = sched.next_job(), sched.next_job()
    sched.report(a, 0.9)
    sched.stop_trial(a.trial_id)  # paused at rung 0, was the best
    sched.stop_trial(b.trial_id)  # running
    events = sched.report(b, 0.5)  # the late result is kept
    assert type(events[0]).__name__ == "ResultRecorded"
    assert sched.trial(b.trial_id).status is TrialStatus.STOPPED
    assert len(sched.rungs[0]) == 2
    job = sched.next_job()
    assert job.rung == 0  # nobody promotable: the two stopped trials are blocked
    with pytest.raises(SearchStateError):
        sched.report(b, 0.5)  # reported twice


def test_asha_finishes_with_max_trials_and_promotes_top():
    sched = ASHA(SPACE, min_resource=1, max_resource=27, reduction_factor=3, max_trials=27, seed=3)
    jobs = run_sequential(sched)
    snap = sched.snapshot()
    assert [r.n_results for r in snap.rungs][0] == 27
    assert sched.is_finished and sched.next_job() is None
    assert sum(1 for j in jobs if j.rung == 3) >= 1
    # Finished means: in every rung below the top, the whole final top 1/eta was promoted
    # (ASHA may promote more: a trial promoted early can later drop out of the top set).
    promoted = {(j.rung - 1, j.trial_id) for j in jobs if j.rung > 0}
    for k, rung in enumerate(sched.rungs[:-1]):
        assert all((k, t) in promoted for t in rung.top(len(rung) // 3))
        assert rung.n_promoted >= len(rung) // 3


def test_rung_resources_formula_and_top_rung_trains_max_resource():
    assert rung_resources(1, 81, 3, 0) == [1, 3, 9, 27, 81]
    # R / r not a power of eta: the top rung still trains exactly max_resource.
    assert rung_resources(1, 100, 3, 0) == [1, 3, 9, 27, 100]
    assert rung_resources(2, 100, 3, 2) == [18, 100]
    assert rung_resources(0.5, 8, 2, 0) == [0.5, 1.0, 2.0, 4.0, 8.0]
    sched = ASHA(SPACE, min_resource=1, max_resource=1, reduction_factor=3, seed=0)
    assert sched.resources == [1]


def test_hyperband_brackets_match_the_paper():
    hb = Hyperband(SPACE, min_resource=1, max_resource=81, reduction_factor=3, seed=0)
    assert hb.bracket_sizes == [81, 34, 15, 8, 5]
    assert [r[0] for r in hb.rung_resources] == [1, 3, 9, 27, 81]
    assert all(r[-1] == 81 for r in hb.rung_resources)
    jobs = run_sequential(hb)
    per_bracket_rung = {}
    for j in jobs:
        per_bracket_rung[(j.bracket, j.rung)] = per_bracket_rung.get((j.bracket, j.rung), 0) + 1
    assert [per_bracket_rung[(0, k)] for k in range(5)] == [81, 27, 9, 3, 1]
    assert [per_bracket_rung[(1, k)] for k in range(4)] == [34, 11, 3, 1]
    assert hb.is_finished


def test_hyperband_lets_next_bracket_run_while_one_waits():
    hb = Hyperband(SPACE, min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    first = [hb.next_job() for _ in range(9)]
    assert {j.bracket for j in first} == {0}
    nxt = hb.next_job()
    assert nxt.bracket == 1  # bracket 0 waits at its barrier, bracket 1 starts


def test_async_hyperband_determined_modes():
    assert bracket_rungs("aggressive", 5) == [5]
    assert bracket_rungs("standard", 5) == [5, 4, 3]
    assert bracket_rungs("conservative", 5) == [5, 4, 3, 2, 1]
    assert bracket_max_trials(100, 4, [5, 4, 3]) == [71, 22, 7]
    for mode, n in [("aggressive", 1), ("standard", 3), ("conservative", 5)]:
        s = AsyncHyperband(SPACE, min_resource=1, max_resource=256, reduction_factor=4,
                           bracket_mode=mode, max_trials=1000, seed=0)
        assert len(s.rung_resources) == n
        assert all(r[-1] == 256 for r in s.rung_resources)
    s = AsyncHyperband.adaptive_asha(SPACE, max_length=256, max_trials=100, mode="standard",
                                     max_concurrent_trials=4, seed=0)
    assert s.mode == "min" and [b.max_concurrent for b in s._brackets] == [2, 1, 1]


def test_async_hyperband_spreads_trials_by_weight_and_respects_caps():
    s = AsyncHyperband(SPACE, min_resource=1, max_resource=81, reduction_factor=3,
                       bracket_mode="standard", max_trials=60, max_concurrent=3, seed=0)
    jobs = [s.next_job() for _ in range(5)]
    assert sum(j is not None for j in jobs) == 3  # cap of 3 over 3 brackets: 1 each
    assert sorted(j.bracket for j in jobs if j) == [0, 1, 2]
    run = [j for j in jobs if j]
    created = 3
    while not s.is_finished:
        for j in run:
            s.report(j, j.config["x"])
        run = [j for j in (s.next_job() for _ in range(3)) if j]
        created = s.n_trials
    assert created == 60
    counts = [sum(1 for t in s.snapshot().trials if t.bracket == b) for b in range(3)]
    assert counts == s.bracket_max_trials == [36, 16, 8]


def test_stop_trial_bad_id_names_the_argument():
    sched = ASHA(SPACE, min_resource=1, max_resource=9, seed=0)
    with pytest.raises(ValueError, match="trial_id"):
        sched.stop_trial(3)
    sched.next_job()
    with pytest.raises(ValueError, match="trial_id must be an existing trial id between 0 and 0"):
        sched.stop_trial(5)
    with pytest.raises(TypeError, match="trial_id"):
        sched.stop_trial("0")


def test_report_rejects_non_numbers():
    sched = ASHA(SPACE, min_resource=1, max_resource=9, seed=0)
    job = sched.next_job()
    for bad in (None, "0.5", [0.5], True):
        with pytest.raises(TypeError, match="value must be a real number"):
            sched.report(job, bad)
    sched.report(job, 0.5)
