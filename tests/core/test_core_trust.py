"""Issue 10 item 7 and issue 9 item 3 in the core: non-finite values are never promoted, the top
rung trains max_resource, a too-short range is an error, every call reports the events it
causes (next_job and add_trial included), close() ends waiting trials."""

from __future__ import annotations

import math

import pytest

from asha_nb import ASHA, SHA, AsyncHyperband, Hyperband, space
from asha_nb.core import (
    Promoted,
    Stopped,
    StopReason,
    TrialCreated,
    TrialStatus,
    rung_resources,
)
from asha_nb.errors import InvalidParameterError

SPACE = {"x": space.uniform(0, 1)}
NAN = float("nan")


def test_range_too_short_for_one_reduction_is_an_error_that_says_so():
    with pytest.raises(InvalidParameterError, match="too short.*max_resource would never"):
        ASHA(SPACE, min_resource=1, max_resource=2, reduction_factor=3)
    with pytest.raises(InvalidParameterError, match="max_resource >= 3"):
        rung_resources(1, 2, 3, 0)
    # One rung exactly at max_resource is fine (a plain random search) ...
    assert rung_resources(5, 5, 3, 0) == [5]
    # ... and so is a range of exactly one reduction.
    assert rung_resources(1, 3, 3, 0) == [1, 3]


@pytest.mark.parametrize("make", [
    lambda: ASHA(SPACE, min_resource=1, max_resource=100, reduction_factor=3, max_trials=90,
                 seed=0),
    lambda: SHA(SPACE, n_configs=27, min_resource=1, max_resource=100, reduction_factor=3,
                seed=0),
    lambda: Hyperband(SPACE, min_resource=1, max_resource=100, reduction_factor=3, seed=0),
    lambda: AsyncHyperband(SPACE, min_resource=1, max_resource=100, reduction_factor=3,
                           max_trials=300, seed=0),
])
def test_top_rung_of_every_bracket_trains_max_resource(make):
    sched = make()
    assert all(r[-1] == 100 for r in sched.rung_resources)
    assert sched.top_resource == 100
    trained = set()
    while not sched.is_finished:
        job = sched.next_job()
        if job is None:
            break
        trained.add(job.resource)
        sched.report(job, job.config["x"])
    assert 100 in trained


def _drive(sched, value_of):
    jobs = []
    while not sched.is_finished:
        job = sched.next_job()
        if job is None:
            break
        jobs.append(job)
        sched.report(job, value_of(job))
    return jobs


def test_asha_never_promotes_a_non_finite_value():
    sched = ASHA(SPACE, min_resource=1, max_resource=9, reduction_factor=3, max_trials=12,
                 seed=0)
    jobs = _drive(sched, lambda job: NAN)
    assert all(j.rung == 0 for j in jobs), "an all-NaN rung promoted a NaN trial"
    assert sched.rungs[0].n_promoted == 0
    # inf and -inf too, with finite values around: only finite values climb.
    sched = ASHA(SPACE, min_resource=1, max_resource=9, reduction_factor=3, max_trials=30,
                 seed=1)
    bad = {}

    def value(job):
        if job.rung == 0 and job.trial_id % 3 == 0:
            bad[job.trial_id] = (NAN, math.inf, -math.inf)[job.trial_id % 9 // 3]
            return bad[job.trial_id]
        return job.config["x"]

    jobs = _drive(sched, value)
    promoted = {j.trial_id for j in jobs if j.rung > 0}
    assert promoted and not promoted & set(bad)


def test_sha_barrier_never_promotes_a_non_finite_value():
    sha = SHA(SPACE, n_configs=9, min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    jobs = _drive(sha, lambda job: NAN)
    assert [j.rung for j in jobs] == [0] * 9
    assert sha.is_finished
    snap = {t.trial_id: t.status for t in sha.snapshot().trials}
    assert set(snap.values()) == {TrialStatus.STOPPED}


def test_next_job_and_add_trial_report_the_events_they_cause():
    sched = ASHA(SPACE, min_resource=1, max_resource=9, reduction_factor=3, max_trials=9, seed=0)
    created, promoted = [], []
    reported_promotions = []
    while not sched.is_finished:
        events = []
        job = sched.next_job(events)
        if job is None:
            break
        created += [e for e in events if isinstance(e, TrialCreated)]
        promoted += [e for e in events if isinstance(e, Promoted)]
        if job.rung > 0:
            reported_promotions.append((job.trial_id, job.rung - 1, job.rung))
        else:
            assert [e.trial_id for e in events] == [job.trial_id]
        sched.report(job, job.config["x"])
    assert [e.trial_id for e in created] == list(range(9))
    assert all(e.source == "sampled" and e.config == sched.trial_config(e.trial_id)
               for e in created)
    assert [(e.trial_id, e.from_rung, e.to_rung) for e in promoted] == reported_promotions
    # The class docstring's run: rungs of 9, 4 and 1 results -> 4 + 1 promotions.
    assert [r.n_results for r in sched.snapshot().rungs] == [9, 4, 1]
    assert len(promoted) == 5
    events = []
    sched2 = ASHA(SPACE, min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    tid = sched2.add_trial({"x": 0.5}, events=events)
    assert events == [TrialCreated(tid, {"x": 0.5}, 0, "user")]


def test_status_counts_follow_every_transition():
    sched = SHA(SPACE, n_configs=9, min_resource=1, max_resource=9, reduction_factor=3, seed=2)
    def check():
        brute = {s: 0 for s in TrialStatus}
        for t in sched.snapshot().trials:
            brute[t.status] += 1
        assert sched.status_counts() == brute
    while not sched.is_finished:
        job = sched.next_job()
        check()
        if job is None:
            break
        if job.trial_id == 4:
            sched.fail(job, "boom")
        else:
            sched.report(job, job.config["x"])
        check()
        if job.trial_id == 2 and job.rung == 0:
            sched.stop_trial(sched.n_trials - 1)
            check()


def test_close_stops_waiting_and_running_trials_with_reason_end_and_hands_out_nothing():
    sched = ASHA(SPACE, min_resource=1, max_resource=9, reduction_factor=3, max_trials=20,
                 seed=0)
    running = [sched.next_job() for _ in range(4)]
    for job in running[:3]:
        sched.report(job, job.config["x"])
    queued = sched.add_trial({"x": 0.9})
    events = sched.close()
    stopped = {e.trial_id for e in events}
    assert all(isinstance(e, Stopped) and e.reason is StopReason.END for e in events)
    assert stopped == {job.trial_id for job in running} | {queued}
    assert sched.next_job() is None and sched.is_closed and sched.is_finished
    assert sched.status_counts()[TrialStatus.RUNNING] == 0
    # The job that was still out can report late: its value is kept (never promoted), and its
    # trial, which nothing will promote any more, stays stopped.
    late = sched.report(running[3], 0.5)
    assert [type(e).__name__ for e in late] == ["ResultRecorded"]
    assert sched.trial(running[3].trial_id).values == ((0, 0.5),)
    assert sched.trial(running[3].trial_id).status is TrialStatus.STOPPED
    assert sched.status_counts()[TrialStatus.PAUSED] == 0


def test_close_keeps_not_promoted_apart_from_stopped():
    """At the end, a trial waiting for a promotion was not promoted; one the user or the rung
    rule stopped, or one waiting for a job, is stopped (issue 17 item 7)."""
    from asha_nb.core import ASHA, StopReason, TrialStatus

    s = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=9, reduction_factor=3,
             max_trials=6, seed=0)
    jobs = [s.next_job() for _ in range(5)]
    for j in jobs[:3]:
        s.report(j, j.config["x"])  # paused: waiting for a promotion
    s.stop_trial(jobs[3].trial_id)  # stopped by the user while running
    s.add_trial({"x": 0.5})  # pending: never ran
    events = s.close()
    status = {t.trial_id: t.status for t in s.snapshot().trials}
    assert [status[j.trial_id] for j in jobs[:3]] == [TrialStatus.NOT_PROMOTED] * 3
    assert status[jobs[3].trial_id] is TrialStatus.STOPPED  # the user's stop
    assert status[jobs[4].trial_id] is TrialStatus.STOPPED  # its job was out at the end
    assert status[5] is TrialStatus.STOPPED  # the user's trial never got a job
    assert {e.reason for e in events} == {StopReason.END}
    assert s.status_counts()[TrialStatus.NOT_PROMOTED] == 3
