from __future__ import annotations

import threading
import time

import pytest
from _rt_helpers import SPACE, quick

from asha_nb import space
from asha_nb.errors import InvalidParameterError, SearchStateError
from asha_nb.runtime import Search
from asha_nb.runtime.events import ControlApplied, JobStarted

WAIT = 30  # generous upper bound on any wait, never a timing assertion


def _until(pred, timeout=WAIT):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def looping(trial):
    """Trial form: runs until stopped (or 20 s), reporting as it goes."""
    for step in range(2000):
        if trial.should_stop():
            return 0.0
        time.sleep(0.01)
        if step % 10 == 0:
            trial.report(float(step), step)
    return 1.0


def test_stop_trial_stops_running_job_on_threads():
    s = Search(looping, SPACE, max_trials=1, max_resource=1, n_workers=1, progress=False)
    s.start()
    _until(lambda: s.snapshot().busy_workers == 1)
    s.stop_trial(0)
    assert s.wait(WAIT)
    df = s.results()
    assert df.status.tolist() == ["stopped"]
    assert s.snapshot().n_stopped == 1
    assert s.state == "finished"


def test_add_trial_pause_resume_set_n_workers_stop():
    gate = threading.Event()

    def obj(config, resource):
        gate.wait(WAIT)
        return config["x"]

    events = []
    s = Search(obj, SPACE, n_workers=1, max_resource=1, progress=False)  # no max_trials
    s.subscribe(events.append)
    tid0 = s.add_trial({"x": 0.123})  # before start: applied directly
    assert tid0 == 0
    s.start()
    _until(lambda: s.snapshot().busy_workers == 1)
    tid = s.add_trial({"x": 0.5})
    assert tid >= 1
    s.pause()
    assert s.state == "paused"
    gate.set()
    _until(lambda: s.snapshot().busy_workers == 0)
    n_jobs = sum(isinstance(e, JobStarted) for e in events)
    time.sleep(0.2)
    assert sum(isinstance(e, JobStarted) for e in events) == n_jobs  # nothing new while paused
    s.set_n_workers(2)
    s.resume()
    assert s.state == "running"
    _until(lambda: len(s.results()) > n_jobs + 3)
    s.stop()
    assert s.state == "stopped"
    df = s.results()
    assert df.loc[df.trial_id == tid, "config_x"].iloc[0] == 0.5
    assert df.loc[df.trial_id == tid, "status"].iloc[0] == "ok"
    assert df.loc[df.trial_id == 0, "config_x"].iloc[0] == 0.123
    assert set(df.worker) <= {0, 1}
    names = [e.command for e in events if isinstance(e, ControlApplied)]
    assert names[:1] == ["add_trial"] and {"pause", "resume", "set_n_workers", "stop"} <= set(names)
    for call in (lambda: s.stop_trial(0), lambda: s.add_trial({}), s.pause, s.resume, s.stop,
                 lambda: s.set_n_workers(3)):
        with pytest.raises(SearchStateError, match="stopped"):
            call()


def test_control_argument_errors_reach_the_caller():
    s = Search(quick, SPACE, max_trials=3, max_resource=3, progress=False)
    with pytest.raises(InvalidParameterError, match="trial_id"):
        s.stop_trial(5)
    with pytest.raises(InvalidParameterError, match="not in the search space"):
        s.add_trial({"y": 1})
    with pytest.raises(InvalidParameterError, match="n_workers"):
        s.set_n_workers(0)
    s.run()
    assert s.state == "finished"


def test_stop_before_start_and_start_twice():
    s = Search(quick, {"x": space.uniform(0, 1)}, progress=False)
    s.stop()
    assert s.state == "stopped"
    with pytest.raises(SearchStateError):
        s.start()
