"""The virtual-time simulator: determinism, utilization, and the 64-configuration story."""

from __future__ import annotations

import pytest

from asha_nb import ASHA, SHA, AsyncHyperband, Hyperband, simulate
from asha_nb.synthetic import SyntheticBenchmark

BENCH = SyntheticBenchmark()
KW = dict(min_resource=1, max_resource=64, reduction_factor=4)


def sha_run(seed=0, p=0.2):
    return simulate(SHA(BENCH.space, n_configs=64, seed=seed, **KW), BENCH, n_workers=10,
                    cost=1.0, straggler_probability=p, straggler_slowdown=3.0, seed=seed)


def test_simulation_is_deterministic_for_a_seed():
    a, b = sha_run(3), sha_run(3)
    assert a.timeline == b.timeline and a.utilization == b.utilization
    c = sha_run(4)
    assert c.timeline != a.timeline


def test_timeline_rows_are_consistent():
    res = sha_run()
    tl = res.timeline
    assert res.n_jobs == 85 and res.jobs_per_rung() == {0: 64, 1: 16, 2: 4, 3: 1}
    for s, e, r, rf, strag in zip(tl["start"], tl["end"], tl["resource"], tl["resume_from"],
                                  tl["straggler"]):
        assert e - s == pytest.approx((r - rf) * (3.0 if strag else 1.0))  # checkpointing
    # No worker runs two jobs at once.
    by_worker = {}
    for w, s, e in zip(tl["worker"], tl["start"], tl["end"]):
        by_worker.setdefault(w, []).append((s, e))
    for spans in by_worker.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))
    assert res.busy_time == pytest.approx(sum(e - s for s, e in zip(tl["start"], tl["end"])))
    assert res.utilization == pytest.approx(res.busy_time / (10 * res.makespan))
    assert res.idle_time == pytest.approx(10 * res.makespan - res.busy_time)


def test_seed_001_story_idle_workers_at_higher_sha_rungs():
    """10 workers, 64 configs, eta 4: SHA leaves >= 6 workers idle while rung 2 runs."""
    res = sha_run(p=0.0)
    tl = res.timeline
    rung2 = [(s, e) for s, e, r in zip(tl["start"], tl["end"], tl["rung"]) if r == 2]
    rung3 = [(s, e) for s, e, r in zip(tl["start"], tl["end"], tl["rung"]) if r == 3]
    assert len(rung2) == 4 and len(rung3) == 1
    for s, _ in rung2:
        assert 10 - res.busy_workers(s) >= 6
    assert 10 - res.busy_workers(rung3[0][0]) == 9
    # ... and ASHA with the same workers over the same time keeps them busy.
    asha = simulate(ASHA(BENCH.space, seed=0, **KW), BENCH, n_workers=10, cost=1.0,
                    max_time=res.makespan, seed=0)
    assert min(asha.busy_workers(s) for s, _ in rung2) == 10


def test_sync_idle_share_large_async_small_with_stragglers():
    sync = sha_run(p=0.2)
    asyn = simulate(ASHA(BENCH.space, seed=0, **KW), BENCH, n_workers=10, cost=1.0,
                    straggler_probability=0.2, straggler_slowdown=3.0, max_time=sync.makespan,
                    seed=0)
    assert sync.idle_share > 0.5
    assert asyn.idle_share < 0.05
    assert asyn.n_trials > 64  # the idle time went into more configurations



def test_checkpointing_off_pays_full_resource():
    on = simulate(ASHA(BENCH.space, max_trials=32, seed=0, **KW), BENCH, n_workers=4, cost=1.0)
    off = simulate(ASHA(BENCH.space, max_trials=32, seed=0, **KW), BENCH, n_workers=4, cost=1.0,
                   checkpointing=False)
    assert off.busy_time > on.busy_time
    assert sum(off.timeline["resource"]) == pytest.approx(off.busy_time)


def test_size_dependent_cost_and_best_over_time():
    res = simulate(ASHA(BENCH.space, max_trials=80, seed=1, **KW), BENCH, n_workers=4)
    tl = res.timeline
    sched = res.scheduler
    for tid, s, e, r, rf in zip(tl["trial_id"], tl["start"], tl["end"], tl["resource"],
                                tl["resume_from"]):
        cfg = sched.trial(tid).config
        assert e - s == pytest.approx(BENCH.cost(cfg, r) - BENCH.cost(cfg, rf))
    times = [t for t, *_ in res.best_over_time]
    assert times == sorted(times) and res.best is not None
    assert res.time_to_max_resource is not None
    assert res.to_dataframe().shape == (res.n_jobs, 11)


@pytest.mark.parametrize("make", [
    lambda: Hyperband(BENCH.space, min_resource=1, max_resource=27, reduction_factor=3, seed=0),
    lambda: AsyncHyperband(BENCH.space, min_resource=1, max_resource=27, reduction_factor=3,
                           max_trials=80, seed=0),
])
def test_simulate_drives_every_scheduler_to_the_end(make):
    res = simulate(make(), BENCH, n_workers=6, straggler_probability=0.1)
    assert res.scheduler.is_finished and not res.stalled and res.n_jobs > 0


def test_simulate_bad_arguments():
    fresh = lambda: SHA(BENCH.space, n_configs=4, seed=0, **KW)
    with pytest.raises(ValueError, match="n_workers must be an integer >= 1"):
        simulate(fresh(), BENCH, n_workers=0)
    with pytest.raises(ValueError, match="straggler_probability"):
        simulate(fresh(), BENCH, straggler_probability=1.5)
    with pytest.raises(ValueError, match="straggler_slowdown"):
        simulate(fresh(), BENCH, straggler_slowdown=0.5)
    with pytest.raises(ValueError, match="run forever"):
        simulate(ASHA(BENCH.space, **KW), BENCH)
    with pytest.raises(TypeError, match="scheduler must be"):
        simulate("asha", BENCH)
    used = fresh()
    used.next_job()
    with pytest.raises(ValueError, match="fresh"):
        simulate(used, BENCH)
