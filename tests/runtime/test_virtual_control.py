"""Every control call, exactly, in virtual time: stop_trial, add_trial, pause/resume,
set_n_workers, stop, scheduled with search.at(t) or applied between run(until=...) steps."""

from __future__ import annotations

import pytest
from _virtual import InvariantChecker, check_no_double_booking, rows, vsearch

from asha_nb import space
from asha_nb.core import JobStatus, Stopped, StopReason, TrialStatus
from asha_nb.errors import (
    InvalidParameterError,
    InvalidTypeError,
    SearchStateError,
    SearchStateWarning,
)
from asha_nb.runtime.events import ControlApplied, JobStarted


def test_stop_trial_at_a_virtual_time_stops_its_running_job_then():
    s = vsearch(max_trials=6, max_resource=9, n_workers=2, seed=0, cost=2.0)
    stopped = s.at(3.0).stop_trial(1)
    s.run()
    assert stopped.result() is None
    df = s.results()
    rec = df[(df.trial_id == 1)].iloc[0]
    # Trial 1's rung-0 job ran on worker 1 from t=0 to t=2 (cost 2), its promotion is not
    # possible yet; it is stopped at t=3: never promoted afterwards.
    assert (df[df.trial_id == 1].rung == 0).all()
    assert rec.status == JobStatus.OK.value
    assert s.trials.set_index("trial_id").status[1] == TrialStatus.STOPPED.value
    # A trial stopped while its job runs: the job ends at that time, status stopped.
    s2 = vsearch(max_trials=4, max_resource=9, n_workers=2, seed=0, cost=2.0)
    s2.at(1.0).stop_trial(0)
    s2.run()
    r0 = s2.results().query("trial_id == 0").iloc[0]
    assert r0.status == "stopped" and r0.start == 0.0 and r0.end == 1.0 and r0.value is None
    events = []
    s3 = vsearch(max_trials=4, max_resource=9, n_workers=2, seed=0, cost=2.0)
    s3.subscribe(events.append)
    s3.at(1.0).stop_trial(0)
    s3.run()
    assert Stopped(0, 0, StopReason.USER, 0) in events


def test_add_trial_at_a_virtual_time_enters_rung_0_with_the_next_free_worker():
    s = vsearch(max_resource=9, n_workers=2, seed=0, max_jobs=40)
    fut = s.at(2.5).add_trial({"x": 0.999})
    s.run()
    tid = fut.result()
    df = s.results()
    first = df[df.trial_id == tid].sort_values("rung").iloc[0]
    # Jobs cost 1 per unit: workers free up at integer times; the next one after 2.5 is t=3.
    assert first.rung == 0 and first.start == 3.0 and first.config_x == 0.999
    assert (df.status == "ok").all()
    # With x = 0.999 the added trial is the best: it climbs to the top rung.
    assert df[df.trial_id == tid].rung.max() == 2


def test_add_trial_refuses_values_outside_the_space_unless_check_false():
    s = vsearch({"x": space.uniform(0, 1)} and None or (lambda c, r: c["x"]),
                {"lr": space.loguniform(1e-3, 1), "layers": space.randint(1, 4)},
                max_trials=4, max_resource=3, n_workers=1, seed=0)
    with pytest.raises(InvalidParameterError, match="lr=-5.0.*loguniform"):
        s.add_trial({"lr": -5.0})
    with pytest.raises(InvalidParameterError, match="layers=99"):
        s.add_trial({"layers": 99})
    with pytest.raises(InvalidTypeError, match="config must be a dict"):
        s.add_trial(None)
    with pytest.raises(InvalidTypeError, match="config must be a dict"):
        s.add_trial([("lr", 0.1)])
    tid = s.add_trial({"lr": 5.0}, check=False)
    s.run()
    assert s.results().query(f"trial_id == {tid}").config_lr.iloc[0] == 5.0


def test_pause_and_resume_at_virtual_times():
    events = []
    s = vsearch(max_trials=20, max_resource=9, n_workers=2, seed=0)
    s.subscribe(events.append)
    s.at(4.0).pause()
    s.at(10.0).resume()
    s.run()
    starts = [e.time for e in events if isinstance(e, JobStarted)]
    assert not [t for t in starts if 4.0 < t < 10.0], "a job started while paused"
    assert any(t == 10.0 for t in starts)
    controls = [(e.command, e.time) for e in events if isinstance(e, ControlApplied)]
    assert controls == [("pause", 4.0), ("resume", 10.0)]
    assert s.state == "finished"


def test_set_n_workers_at_a_virtual_time():
    s = vsearch(max_trials=30, max_resource=9, n_workers=1, seed=0)
    s.at(5.0).set_n_workers(3)
    s.at(20.0).set_n_workers(2)
    s.run()
    df = s.results()
    assert set(df[df.start < 5].worker) == {0}
    assert set(df[(df.start >= 5) & (df.start < 20)].worker) == {0, 1, 2}
    assert set(df[df.start >= 20].worker) <= {0, 1, 2}
    late = df[df.start >= 20 + 9]  # after every job running at t=20 has ended
    assert set(late.worker) <= {0, 1}
    check_no_double_booking(s)


def test_stop_at_a_virtual_time_interrupts_running_jobs_then():
    s = vsearch(max_resource=27, n_workers=3, seed=0)  # no max_trials
    s.at(7.5).stop()
    s.run()
    assert s.state == "stopped" and s.snapshot().elapsed == 7.5
    df = s.results()
    running = df[df.status == "interrupted"]
    assert len(running) == 3 and (running.end == 7.5).all()
    assert (running.started == running.start).all()  # they began (virtual: when handed out)
    assert (df[df.status == "ok"].end <= 7.5).all()
    with pytest.raises(SearchStateError, match="stopped"):
        s.add_trial({"x": 0.5})
    with pytest.raises(SearchStateError, match="stopped"):
        s.at(9.0).pause()


def test_a_call_scheduled_after_the_end_fails_in_its_future():
    s = vsearch(max_trials=3, max_resource=3, n_workers=3, seed=0)
    late = s.at(1000.0).add_trial({"x": 0.5})
    s.run()
    assert s.state == "finished"
    with pytest.raises(SearchStateError, match="ended"):
        late.result(timeout=1)


def test_control_argument_errors_reach_the_caller():
    s = vsearch(max_trials=3, max_resource=3, seed=0)
    with pytest.raises(InvalidParameterError, match="trial_id"):
        s.stop_trial(5)
    with pytest.raises(InvalidTypeError, match="trial_id"):
        s.stop_trial("3")
    with pytest.raises(InvalidParameterError, match="not in the search space"):
        s.add_trial({"y": 1})
    with pytest.raises(InvalidParameterError, match="n_workers"):
        s.set_n_workers(0)
    with pytest.raises(InvalidParameterError, match="time"):
        s.at(-1)
    s.run()
    assert s.state == "finished"


def test_life_cycle_errors_say_what_happened():
    s = vsearch(max_trials=3, max_resource=3, seed=0)
    s.stop()
    assert s.state == "stopped"
    with pytest.warns(SearchStateWarning, match="stopped before it started"):
        assert s.run() is s  # returned unchanged, and said so
    with pytest.raises(SearchStateError, match="stopped before it started"):
        s.start()
    s2 = vsearch(max_trials=3, max_resource=3, seed=0).run()
    with pytest.warns(SearchStateWarning, match="already ended"):
        assert s2.run() is s2  # a finished search is returned at once
    with pytest.raises(SearchStateError, match="already ran and is finished"):
        s2.start()
    s3 = vsearch(max_trials=3, max_resource=3, seed=0)
    s3.run(until=1)
    with pytest.raises(SearchStateError, match="step by step"):
        s3.start()


def test_controls_applied_between_steps_are_exact_and_reproducible():
    def plan():
        chk = InvariantChecker(eta=3)
        s = vsearch(max_trials=40, max_resource=27, n_workers=4, seed=2, stragglers=0.2)
        s.subscribe(chk)
        s.run(until=3)
        s.stop_trial(2)
        s.add_trial({"x": 0.5})
        s.run(until=8)
        s.set_n_workers(2)
        s.pause()
        s.run(until=12)
        s.resume()
        s.run()
        assert chk.errors == []
        check_no_double_booking(s)
        return s

    a, b = plan(), plan()
    assert rows(a) == rows(b)
