"""Stop and resume in virtual time: exact (issue 10, "fault tests to keep").

A journaled search run by :class:`~asha_nb.executors.SimulatedExecutor` is stopped at a virtual
time (``search.at(t).stop()``) and continued with ``Search.from_journal(path, objective,
executor=SimulatedExecutor(...))``. With one worker the order of the scheduler calls does not
depend on when jobs finish, so the resumed search must end with exactly the rungs of an
uninterrupted one; stopped between two jobs, even the timeline is the same. With several
workers a job cut by the stop runs again from its start, so the timeline shifts: there the
invariants are checked (nothing lost or changed, no result twice, no rung skipped).
"""

from __future__ import annotations

import math

import pytest

from asha_nb import space
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search

SP = {"x": space.uniform(0.0, 1.0), "depth": space.randint(1, 6)}
OPTS = dict(max_trials=30, max_resource=27, reduction_factor=3, seed=3, progress=False)
COLUMNS = ["job_id", "trial_id", "rung", "resource", "value", "status", "worker", "start",
           "end", "error", "bracket", "config_x", "config_depth"]


def objective(config, resource, checkpoint):
    value = round(config["x"] * (1 - 1 / (resource + config["depth"])), 9)
    if config["depth"] == 5 and resource >= 9:
        value = float("nan")  # a diverged run: recorded, never promoted
    return value, {"r": resource}


def _sim() -> SimulatedExecutor:
    return SimulatedExecutor(cost=1.0)


def _rungs(search) -> dict[int, list[tuple[int, float]]]:
    out: dict[int, list[tuple[int, float]]] = {}
    for r in search.records():
        if r.status == "ok":
            out.setdefault(r.rung, []).append((r.trial_id, repr(r.value)))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _check_invariants(search, kept: dict[int, tuple]) -> None:
    recs = search.records()
    ok = [(r.trial_id, r.rung) for r in recs if r.status == "ok"]
    assert len(ok) == len(set(ok)), "a (trial, rung) is ok twice"
    ok_finite = {(r.trial_id, r.rung) for r in recs
                 if r.status == "ok" and r.value is not None and math.isfinite(r.value)}
    for r in recs:
        if r.rung > 0:
            assert (r.trial_id, r.rung - 1) in ok_finite, f"trial {r.trial_id} skipped a rung"
    now = {r.job_id: (r.trial_id, r.rung, repr(r.value), r.start, r.end) for r in recs}
    assert {j: now[j] for j in kept} == kept, "a result seen before the stop was lost or changed"
    assert {r.status for r in recs} <= {"ok", "failed"}
    assert search.snapshot().n_started == OPTS["max_trials"]


def _stopped(path, stop_at: float, n_workers: int):
    s = Search(objective, SP, journal=path, executor=_sim(), n_workers=n_workers, **OPTS)
    s.at(stop_at).stop()
    s.run()
    assert s.state == "stopped"
    kept = {r.job_id: (r.trial_id, r.rung, repr(r.value), r.start, r.end)
            for r in s.records() if r.status == "ok"}
    return s, kept


@pytest.mark.parametrize("stop_at", [0.5, 7.0, 17.0, 33.5, 60.0, 95.25])
def test_one_worker_resumes_to_the_same_rungs(tmp_path, stop_at):
    ref = Search(objective, SP, executor=_sim(), n_workers=1, **OPTS).run()
    assert stop_at < ref.snapshot().elapsed
    path = tmp_path / "v.sqlite"
    _, kept = _stopped(path, stop_at, 1)
    r = Search.from_journal(path, objective, executor=_sim())
    assert r.virtual and r.state == "created"
    r.run()
    assert r.state == "finished"
    assert _rungs(r) == _rungs(ref)
    _check_invariants(r, kept)


def test_one_worker_stopped_between_jobs_replays_the_whole_timeline(tmp_path):
    ref = Search(objective, SP, executor=_sim(), n_workers=1, **OPTS).run()
    boundaries = sorted({r.end for r in ref.records()})
    stop_at = boundaries[len(boundaries) // 2]  # a job ends here; the next one has not begun
    path = tmp_path / "v.sqlite"
    _stopped(path, stop_at, 1)
    r = Search.from_journal(path, objective, executor=_sim()).run()
    got, want = r.results()[COLUMNS], ref.results()[COLUMNS]
    assert len(got) == len(want)
    assert got.astype(str).to_dict("records") == want.astype(str).to_dict("records")
    assert r.snapshot().elapsed == ref.snapshot().elapsed


def test_stopped_and_resumed_many_times_still_matches(tmp_path):
    ref = Search(objective, SP, executor=_sim(), n_workers=1, **OPTS).run()
    path = tmp_path / "v.sqlite"
    s, kept = _stopped(path, 5.5, 1)
    for stop_at in (12.0, 30.5, 31.0, 70.0):
        s = Search.from_journal(path, objective, executor=_sim())
        s.at(stop_at).stop()
        s.run()
        assert s.state == "stopped"
        _check_invariants_partial(s, kept)
        kept = {r.job_id: (r.trial_id, r.rung, repr(r.value), r.start, r.end)
                for r in s.records() if r.status == "ok"}
    r = Search.from_journal(path, objective, executor=_sim()).run()
    assert r.state == "finished"
    assert _rungs(r) == _rungs(ref)
    _check_invariants(r, kept)


def _check_invariants_partial(search, kept: dict[int, tuple]) -> None:
    now = {r.job_id: (r.trial_id, r.rung, repr(r.value), r.start, r.end)
           for r in search.records()}
    assert {j: now[j] for j in kept} == kept


@pytest.mark.parametrize("stop_at", [2.5, 11.0, 24.0, 33.5])
def test_four_workers_keep_every_result_and_finish(tmp_path, stop_at):
    path = tmp_path / "v.sqlite"
    _, kept = _stopped(path, stop_at, 4)
    assert kept
    r = Search.from_journal(path, objective, executor=_sim()).run()
    assert r.state == "finished"
    _check_invariants(r, kept)
    assert r.n_workers == 4
    # Each result is the objective's value for that trial and resource: nothing mixed up.
    for rec in r.records():
        want, _ = objective(rec.config, rec.resource, None)
        assert repr(rec.value) == repr(want)


def test_when_jobs_began_survives_the_journal(tmp_path):
    """``results().started`` (when each objective really began) of the jobs that ended before
    the stop is the same after ``from_journal``; a non-finite value (depth 5) keeps its own
    exact self in the journal instead, so its start is unknown after a resume."""
    path = tmp_path / "s.sqlite"
    s = Search(objective, SP, executor=_sim(), n_workers=3, journal=path, **OPTS)
    s.at(40.0).stop()
    s.run()
    before = s.results().set_index("job_id")
    ended = before[before.status.isin(["ok", "failed", "stopped"])]
    assert len(ended) > 5
    r = Search.from_journal(path, objective, executor=_sim())
    after = r.results().set_index("job_id").loc[ended.index]
    finite = ended.value.map(lambda v: v is not None and math.isfinite(v))
    assert (after.started[finite] == ended.started[finite]).all()
    assert not after.started[finite].isna().any()
    assert after.started[~finite].isna().all()
