"""A hypothesis state machine steers a search in virtual time with every control call at random
moments. Reproducible and shrinkable: a failure shrinks to the shortest sequence of steps.

After every step: the promotion rule held at every promotion, no worker runs two jobs at once,
every row is consistent with the trial table and the snapshot, stopped trials are never promoted
later. At the end: the search finishes, and replaying the same steps gives the same rows.
"""

from __future__ import annotations

import math

from _virtual import InvariantChecker, check_no_double_booking, rows, vsearch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from asha_nb.core import TrialStatus


def objective(config, resource):
    return config["x"] * math.log1p(resource)


class SteeredSearch(RuleBasedStateMachine):
    @initialize(eta=st.sampled_from([2, 3]), workers=st.integers(1, 4),
                stragglers=st.sampled_from([0.0, 0.3]))
    def build(self, eta, workers, stragglers):
        self.args = dict(max_trials=24, max_resource=eta ** 2, reduction_factor=eta,
                         n_workers=workers, seed=0, stragglers=stragglers)
        self.eta = eta
        self.steps: list[tuple[str, object]] = []
        self.search = vsearch(objective, **self.args)
        self.checker = InvariantChecker(eta)
        self.search.subscribe(self.checker)
        self.stopped_at: dict[int, float] = {}
        self.now = 0.0

    def apply(self, name, arg):
        s = self.search
        if name == "advance":
            self.now += arg
            s.run(until=self.now)
        elif name == "stop_trial":
            s.stop_trial(arg)
        elif name == "add_trial":
            s.add_trial({"x": arg})
        elif name == "pause":
            s.pause()
        elif name == "resume":
            s.resume()
        elif name == "set_n_workers":
            s.set_n_workers(arg)

    def step(self, name, arg):
        self.steps.append((name, arg))
        self.apply(name, arg)

    def alive(self):
        return not self.search.state.is_terminal

    @precondition(alive)
    @rule(dt=st.floats(0.25, 6.0))
    def advance(self, dt):
        self.step("advance", dt)

    @precondition(lambda self: self.alive() and self.search.scheduler.n_trials > 0)
    @rule(pick=st.integers(0, 10_000))
    def stop_trial(self, pick):
        tid = pick % self.search.scheduler.n_trials
        self.stopped_at.setdefault(tid, self.now)
        self.step("stop_trial", tid)

    @precondition(alive)
    @rule(x=st.floats(0, 1))
    def add_trial(self, x):
        self.step("add_trial", x)

    @precondition(alive)
    @rule()
    def pause(self):
        self.step("pause", None)

    @precondition(alive)
    @rule()
    def resume(self):
        self.step("resume", None)

    @precondition(alive)
    @rule(n=st.integers(1, 4))
    def set_n_workers(self, n):
        self.step("set_n_workers", n)

    @rule()
    def read_results(self):
        """Reading never changes anything (and is always possible, even after the end)."""
        before = rows(self.search)
        self.search.snapshot()
        _ = self.search.trials
        assert rows(self.search) == before

    @invariant()
    def consistent(self):
        s = self.search
        assert self.checker.errors == []
        check_no_double_booking(s)
        recs = s.records()
        snap = s.snapshot()
        assert snap.n_jobs == len(recs)
        running = [r for r in recs if r.status.value == "running"]
        assert len(running) == snap.busy_workers
        # A trial stopped at time t gets no job that starts after t.
        for r in recs:
            t = self.stopped_at.get(r.trial_id)
            if t is not None and r.start is not None:
                assert r.start <= t, f"trial {r.trial_id} stopped at {t} got a job at {r.start}"
        counts = snap.trial_counts
        assert sum(counts.values()) == s.scheduler.n_trials

    def teardown(self):
        s = self.search
        if not hasattr(self, "search"):
            return
        if not s.state.is_terminal:
            s.resume()
            s.run()
        assert s.state in ("finished", "stopped")
        assert TrialStatus.PAUSED.value not in set(s.trials.status)
        # Replaying the same steps on a fresh search gives the same rows, byte for byte.
        replay = SteeredSearch.__new__(SteeredSearch)
        replay.search = vsearch(objective, **self.args)
        replay.now = 0.0
        for name, arg in self.steps:
            replay.apply(name, arg)
        if not replay.search.state.is_terminal:
            replay.search.resume()
            replay.search.run()
        assert rows(replay.search) == rows(s)


TestSteeredSearch = SteeredSearch.TestCase
TestSteeredSearch.settings = settings(max_examples=30, stateful_step_count=16, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
