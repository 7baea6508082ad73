"""The one runtime loop in virtual time: simulate() is Search on a SimulatedExecutor, exact and
deterministic, with the old simulator's numbers."""

from __future__ import annotations

import hashlib
import json
import pathlib

import pytest
from _virtual import InvariantChecker, check_no_double_booking, rows, vsearch

from asha_nb import ASHA, SHA, AsyncHyperband, Hyperband, simulate
from asha_nb.core import JobStatus, TrialStatus
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search
from asha_nb.synthetic import SyntheticBenchmark

BENCH = SyntheticBenchmark()
GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden_simulator.json").read_text())


def _digest(res):
    tl = res.timeline
    data = {k: [repr(bool(v)) if k == "straggler" else repr(v) for v in tl[k]] for k in sorted(tl)}
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def _case(name):
    kind, seed, p = name.rsplit("-", 2)
    seed, p = int(seed), float(p)
    kw = dict(min_resource=1, max_resource=64, reduction_factor=4)
    if kind == "sha":
        return simulate(SHA(BENCH.space, n_configs=64, seed=seed, **kw), BENCH, n_workers=10,
                        cost=1.0, straggler_probability=p, seed=seed)
    if kind == "asha-maxtime":
        return simulate(ASHA(BENCH.space, seed=seed, **kw), BENCH, n_workers=10, cost=1.0,
                        straggler_probability=p, seed=seed, max_time=80.0)
    if kind == "hb":
        return simulate(Hyperband(BENCH.space, seed=seed, min_resource=1, max_resource=27,
                                  reduction_factor=3), BENCH, n_workers=5, cost=1.0,
                        straggler_probability=p, seed=seed)
    if kind == "ahb":
        return simulate(AsyncHyperband(BENCH.space, seed=seed, min_resource=1, max_resource=81,
                                       reduction_factor=3, max_trials=300, max_concurrent=6),
                        BENCH, n_workers=8, cost=1.0, straggler_probability=p, seed=seed)
    if kind == "asha-stop":
        return simulate(ASHA(BENCH.space, seed=seed, type="stopping", max_trials=150, **kw),
                        BENCH, n_workers=10, straggler_probability=p, seed=seed,
                        checkpointing=False)
    if kind == "asha-maxjobs":
        return simulate(ASHA(BENCH.space, seed=seed, **kw), BENCH, n_workers=3,
                        straggler_probability=p, seed=seed, max_jobs=57)
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_simulate_gives_the_old_simulators_timelines(name):
    """Digests recorded with the separate simulator loop this runtime replaced (commit c201389):
    same jobs, workers, times, values and stragglers, row for row."""
    res = _case(name)
    want = GOLDEN[name]
    assert _digest(res) == want["digest"]
    assert res.n_jobs == want["n_jobs"] and repr(res.makespan) == want["makespan"]
    assert float(repr(res.utilization)) == pytest.approx(float(want["util"]), rel=1e-12)
    assert repr(res.best_over_time[-5:]) == want["best"]
    assert repr(res.time_to_max_resource) == want["t_max"]


def test_simulate_is_search_in_virtual_time():
    sched_kw = dict(min_resource=1, max_resource=27, reduction_factor=3, max_trials=60, seed=4)
    res = simulate(ASHA(BENCH.space, **sched_kw), BENCH, n_workers=6, straggler_probability=0.3,
                   seed=2)
    search = Search(BENCH.objective, scheduler=ASHA(BENCH.space, **sched_kw), n_workers=6,
                    executor=SimulatedExecutor(cost=BENCH.cost, straggler_probability=0.3,
                                               seed=2), progress=False).run()
    assert res.search is not None and rows(res.search) == rows(search)
    df = search.results()
    assert list(df.sort_values(["end", "worker"]).job_id) == res.timeline["job_id"]


def test_same_seed_same_rows_byte_for_byte():
    a = vsearch(max_trials=80, max_resource=27, n_workers=5, seed=3, stragglers=0.2, sim_seed=7)
    b = vsearch(max_trials=80, max_resource=27, n_workers=5, seed=3, stragglers=0.2, sim_seed=7)
    assert rows(a.run()) == rows(b.run())
    c = vsearch(max_trials=80, max_resource=27, n_workers=5, seed=3, stragglers=0.2, sim_seed=8)
    assert rows(c.run()) != rows(a)


def test_virtual_search_records_and_views_agree():
    chk = InvariantChecker(eta=3)
    s = vsearch(max_trials=60, max_resource=27, n_workers=4, seed=1, stragglers=0.25)
    s.subscribe(chk)
    s.run()
    assert s.state == "finished" and chk.errors == []
    check_no_double_booking(s)
    df = s.results()
    assert (df.status == JobStatus.OK.value).all()
    snap = s.snapshot()
    assert snap.n_jobs == len(df) and snap.busy_workers == 0 and snap.running == ()
    assert snap.elapsed == df.end.max()
    # The incumbent is the best value at the highest resource reached ...
    top = df[df.resource == df.resource.max()]
    assert s.best["value"] == top.value.max() and s.best["resource"] == 27
    # ... and "best so far" (any rung) never gets worse and ends at the best value seen.
    hist = s.best_history()
    assert [v for _, _, v, _ in hist] == sorted(v for _, _, v, _ in hist)
    assert hist[-1][2] == df.value.max()
    # A finished search has no trial "paused": the ones left below the top were stopped.
    statuses = set(s.trials.status)
    assert statuses <= {TrialStatus.COMPLETED.value, TrialStatus.NOT_PROMOTED.value}
    assert snap.n_finished + snap.n_stopped == 60


def test_run_until_steps_a_virtual_search():
    s = vsearch(max_trials=30, max_resource=9, n_workers=3, seed=0)
    s.run(until=5)
    assert s.state == "running" and s.snapshot().elapsed == 5.0
    assert all(r.start <= 5 for r in s.records())
    s.pause()
    s.run(until=12)
    assert s.state == "paused" and s.snapshot().paused_since == 5.0
    assert all(r.start <= 5 for r in s.records())  # nothing started while paused
    s.resume()
    s.run()
    assert s.state == "finished"
    full = vsearch(max_trials=30, max_resource=9, n_workers=3, seed=0).run()
    # The same trials and rungs ran (later, because of the pause).
    key = ["trial_id", "rung", "value"]
    assert s.results()[key].sort_values(key).values.tolist() == \
        full.results()[key].sort_values(key).values.tolist()


def test_stalled_virtual_search_ends_instead_of_hanging():
    from asha_nb import space

    sha = SHA({"x": space.uniform(0, 1)}, n_configs=3, min_resource=1, max_resource=9,
              reduction_factor=3, seed=0)
    s = vsearch(scheduler=sha, n_workers=2)
    s.pause()  # paused before it starts, nothing scheduled to resume it
    s.run()
    assert s.state == "stopped" and s.stalled
    assert "nothing can run" in s.snapshot().reason


def test_busy_workers_counts_jobs_cut_by_max_time():
    """ASHA keeps every worker busy up to the cut: jobs running at the cut count as busy."""
    kw = dict(min_resource=1, max_resource=64, reduction_factor=4, seed=0)
    res = simulate(ASHA(BENCH.space, **kw), BENCH, n_workers=10, cost=1.0, max_time=73.0)
    assert res.cut and all(start < 73.0 for _, start in res.cut)
    assert [res.busy_workers(t) for t in (0.5, 36.5, 72.5)] == [10, 10, 10]
    assert res.utilization == pytest.approx(1.0)
