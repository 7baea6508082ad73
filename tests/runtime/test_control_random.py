"""A second thread issues random control commands while a search runs; invariants must hold."""

from __future__ import annotations

import time

from _rt_helpers import SPACE, InvariantChecker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asha_nb.core import Stopped
from asha_nb.errors import SearchStateError
from asha_nb.runtime import Search

COMMANDS = st.lists(
    st.one_of(
        st.tuples(st.just("stop_trial"), st.integers(0, 30)),
        st.tuples(st.just("add_trial"), st.floats(0, 1)),
        st.tuples(st.just("pause"), st.none()),
        st.tuples(st.just("resume"), st.none()),
        st.tuples(st.just("set_n_workers"), st.integers(1, 3)),
        st.tuples(st.just("sleep"), st.floats(0, 0.02)),
    ),
    max_size=12,
)


def obj(trial):
    for _ in range(3):
        if trial.should_stop():
            return 0.0
        time.sleep(0.002)
    return trial.config["x"] * trial.resource


def _obj_plain(config, resource):
    time.sleep(0.004)
    return config["x"] * resource


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(commands=COMMANDS, eta=st.sampled_from([2, 3]))
def test_random_control_keeps_invariants(commands, eta):
    chk = InvariantChecker(eta)
    s = Search(_obj_plain, SPACE, max_trials=18, max_resource=eta**2, reduction_factor=eta,
               seed=0, n_workers=2, progress=False)
    s.subscribe(chk)
    s.start()
    stopped: list[int] = []
    added: dict[int, float] = {}
    try:
        for name, arg in commands:
            if name == "sleep":
                time.sleep(arg)
                continue
            try:
                if name == "stop_trial":
                    if arg < s.snapshot().n_started:
                        s.stop_trial(arg)
                        stopped.append(arg)
                elif name == "add_trial":
                    added[s.add_trial({"x": arg})] = arg
                elif name == "set_n_workers":
                    s.set_n_workers(arg)
                else:
                    getattr(s, name)()
            except SearchStateError:
                break  # the search ended under us: fine
        if s.state == "paused":
            s.resume()
    except SearchStateError:
        pass
    assert s.wait(60)
    assert s.state == "finished"
    assert chk.errors == []
    df = s.results()
    trials = s.trials.set_index("trial_id")
    for tid in stopped:
        st_ = trials.loc[tid, "status"]
        # stopped, unless it had already completed/failed before the command arrived
        assert st_ in ("stopped", "completed", "failed") or any(
            isinstance(e, Stopped) and e.trial_id == tid for e in chk.events), (tid, st_)
        assert not (df[(df.trial_id == tid)].status == "running").any()
    for tid, x in added.items():
        rows = df[df.trial_id == tid]
        if tid in stopped and rows.empty:
            continue
        assert not rows.empty, f"added trial {tid} never ran"
        assert rows.config_x.iloc[0] == x
    assert not (df.status == "running").any()
