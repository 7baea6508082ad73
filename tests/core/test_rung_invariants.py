"""Hypothesis property tests of the rung invariants, against an independent brute-force model."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asha_nb import ASHA, SHA, AsyncHyperband, Hyperband, space
from asha_nb.core import TrialStatus

SPACE = {"x": space.uniform(0, 1), "k": space.choice(["a", "b"])}


def order_key(value: float, tid: int, mode: str):
    """Independent re-statement of the ranking: best first, NaN/inf worst, older trial first."""
    if not math.isfinite(value):
        return (1, 0.0, tid)
    return (0, -value if mode == "max" else value, tid)


class Model:
    """Brute-force bookkeeping of what the scheduler was told, per bracket and rung."""

    def __init__(self, mode: str):
        self.mode = mode
        self.results: dict[tuple[int, int], dict[int, float]] = {}
        self.promoted: dict[tuple[int, int], set[int]] = {}
        self.n_reports = 0
        self.continued: set[tuple[int, int, int]] = set()

    def top(self, bracket: int, rung: int, k: int) -> list[int]:
        res = self.results.get((bracket, rung), {})
        return [t for t in sorted(res, key=lambda t: order_key(res[t], t, self.mode))][:k]


values = st.one_of(
    st.floats(-10, 10, allow_nan=False),
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(float("-inf")),
    st.integers(-3, 3).map(float),  # ties
)

ops = st.lists(
    st.tuples(st.sampled_from(["next", "next", "next", "report", "report", "report", "fail",
                               "stop", "add"]),
              st.integers(0, 10_000), values),
    min_size=1, max_size=250,
)


def drive(sched, operations, model: Model, eta: int):
    """Apply random operations; check the promotion invariants at each step."""
    out: list = []
    seen_jobs = []
    for op, pick, value in operations:
        if op == "next":
            job = sched.next_job()
            if job is None:
                continue
            seen_jobs.append((job.job_id, job.trial_id, job.rung, job.resource))
            b = job.bracket
            resources = sched.rung_resources[b]
            # Resources exactly r * eta**(s + k) capped at R, resume_from the rung below.
            assert job.resource == resources[job.rung]
            assert job.resume_from == (resources[job.rung - 1] if job.rung else 0)
            if job.rung > 0:
                k = job.rung - 1
                if getattr(sched, "type", "") == "stopping":
                    assert (b, k, job.trial_id) in model.continued, "continued without a decision"
                assert job.trial_id in model.results.get((b, k), {}), "promoted without a result"
                assert math.isfinite(model.results[(b, k)][job.trial_id]), "promoted a NaN/inf"
                assert job.trial_id not in model.promoted.setdefault((b, k), set()), "promoted twice"
                if getattr(sched, "type", "promotion") == "promotion" and isinstance(sched, (ASHA, AsyncHyperband)):
                    n = len(model.results[(b, k)])
                    assert job.trial_id in model.top(b, k, n // eta), "promoted from outside top n/eta"
                model.promoted[(b, k)].add(job.trial_id)
            out.append(job)
        elif op == "report" and out:
            job = out.pop(pick % len(out))
            events = sched.report(job, value)
            model.n_reports += 1
            res = model.results.setdefault((job.bracket, job.rung), {})
            assert job.trial_id not in res
            res[job.trial_id] = value
            kinds = [type(e).__name__ for e in events]
            if getattr(sched, "type", "") == "stopping" and job.rung < len(sched.rung_resources[job.bracket]) - 1:
                # Decided at report time: continue iff finite and rank < max(1, floor(n/eta)).
                rank = model.top(job.bracket, job.rung, len(res)).index(job.trial_id)
                keep = math.isfinite(value) and rank < max(1, len(res) // eta)
                assert kinds[-1] == ("Promoted" if keep else "Stopped"), (kinds, rank, len(res))
                if keep:
                    model.continued.add((job.bracket, job.rung, job.trial_id))
        elif op == "fail" and out:
            job = out.pop(pick % len(out))
            sched.fail(job, RuntimeError("boom"))
        elif op == "stop" and sched.n_trials:
            tid = pick % sched.n_trials
            sched.stop_trial(tid)
            out = [j for j in out if j.trial_id != tid]
            # A stopped trial's running job would be killed by the runtime; we drop it.
        elif op == "add":
            try:
                sched.add_trial({"x": (pick % 100) / 100})
            except Exception as exc:  # only SHA/Hyperband may refuse (rung 0 closed)
                assert isinstance(sched, (SHA, Hyperband)), exc
    return seen_jobs


def check_final(sched, model: Model):
    snap = sched.snapshot()
    # Every reported value lands in exactly one rung entry.
    assert sum(r.n_results for r in snap.rungs) == model.n_reports
    for t in snap.trials:
        for rung, v in t.values:
            mv = model.results[(t.bracket, rung)][t.trial_id]
            assert (math.isnan(mv) and math.isnan(v)) or mv == v
    # Promoted counts agree with what was handed out.
    for r in snap.rungs:
        handed_out = len(model.promoted.get((r.bracket, r.rung), set()))
        if isinstance(sched, (SHA, Hyperband)):
            # Decided at the barrier, handed out later.
            assert r.n_promoted >= handed_out
        elif getattr(sched, "type", "") == "stopping":  # decided at report, handed out later
            assert r.n_promoted == sum(1 for b, k, _ in model.continued if (b, k) == (r.bracket, r.rung))
            assert r.n_promoted >= handed_out
        else:
            assert r.n_promoted == handed_out
    # Trial ids are consecutive from 0.
    assert [t.trial_id for t in snap.trials] == list(range(len(snap.trials)))


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(operations=ops, eta=st.integers(2, 4), mode=st.sampled_from(["max", "min"]),
       s=st.integers(0, 1), seed=st.integers(0, 2**16))
def test_asha_promotion_invariants(operations, eta, mode, s, seed):
    sched = ASHA(SPACE, min_resource=1, max_resource=eta**3, reduction_factor=eta,
                 early_stopping_rate=s, mode=mode, max_trials=40, seed=seed)
    model = Model(mode)
    drive(sched, operations, model, eta)
    check_final(sched, model)


@SETTINGS
@given(operations=ops, eta=st.integers(2, 4), mode=st.sampled_from(["max", "min"]),
       seed=st.integers(0, 2**16))
def test_asha_stopping_invariants(operations, eta, mode, seed):
    sched = ASHA(SPACE, min_resource=1, max_resource=eta**3, reduction_factor=eta, mode=mode,
                 max_trials=40, type="stopping", seed=seed)
    model = Model(mode)
    drive(sched, operations, model, eta)
    check_final(sched, model)


@SETTINGS
@given(operations=ops, seed=st.integers(0, 2**16), mode=st.sampled_from(["max", "min"]))
def test_sha_and_hyperband_invariants(operations, seed, mode):
    for sched in (SHA(SPACE, n_configs=12, min_resource=1, max_resource=9, reduction_factor=3,
                      mode=mode, seed=seed),
                  Hyperband(SPACE, min_resource=1, max_resource=9, reduction_factor=3,
                            mode=mode, seed=seed)):
        model = Model(mode)
        drive(sched, operations, model, 3)
        check_final(sched, model)


@SETTINGS
@given(operations=ops, seed=st.integers(0, 2**16),
       bracket_mode=st.sampled_from(["aggressive", "standard", "conservative"]))
# Found by hypothesis: a user-added trial was issued into a bracket already at its cap.
@example(operations=[("next", 59, -math.inf)] + [("next", 0, math.nan)] * 4
         + [("next", 6725, math.nan), ("add", 128, math.nan), ("next", 758, math.inf)],
         seed=31779, bracket_mode="standard")
def test_async_hyperband_invariants(operations, seed, bracket_mode):
    sched = AsyncHyperband(SPACE, min_resource=1, max_resource=27, reduction_factor=3,
                           bracket_mode=bracket_mode, max_trials=50, max_concurrent=6, seed=seed)
    model = Model("max")
    drive(sched, operations, model, 3)
    check_final(sched, model)
    running_per_bracket: dict[int, int] = {}
    for job in sched.running_jobs():
        running_per_bracket[job.bracket] = running_per_bracket.get(job.bracket, 0) + 1
    caps = [b.max_concurrent for b in sched._brackets]
    assert all(running_per_bracket.get(i, 0) <= c for i, c in enumerate(caps))


@SETTINGS
@given(operations=ops, seed=st.integers(0, 2**16))
def test_same_seed_same_job_sequence(operations, seed):
    runs = []
    for _ in range(2):
        sched = ASHA(SPACE, min_resource=1, max_resource=27, reduction_factor=3, max_trials=30,
                     seed=seed)
        seq = drive(sched, operations, Model("max"), 3)
        runs.append((seq, [t.config for t in sched.snapshot().trials]))
    assert runs[0] == runs[1]


def test_stopping_type_small_rung_rule():
    """While a rung has fewer than eta results, only a new best continues."""
    sched = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=9, reduction_factor=3,
                 type="stopping", seed=0)
    jobs = [sched.next_job() for _ in range(3)]
    ev0 = sched.report(jobs[0], 0.5)   # first result: best so far -> continues
    ev1 = sched.report(jobs[1], 0.4)   # n=2 < eta, not best -> stopped
    ev2 = sched.report(jobs[2], 0.9)   # n=3, top floor(3/3)=1 -> new best continues
    assert type(ev0[-1]).__name__ == "Promoted"
    assert type(ev1[-1]).__name__ == "Stopped"
    assert type(ev2[-1]).__name__ == "Promoted"
    nxt = sched.next_job()
    assert (nxt.trial_id, nxt.rung, nxt.resume_from) == (0, 1, 1)  # continuation first
    assert sched.trial(1).status is TrialStatus.STOPPED


@pytest.mark.parametrize("eta", [2, 3, 4])
def test_asha_one_worker_grows_bottom_rung_until_eta_results(eta):
    sched = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=eta**2,
                 reduction_factor=eta, seed=1)
    rungs = []
    for _ in range(eta + 1):
        job = sched.next_job()
        rungs.append(job.rung)
        sched.report(job, job.config["x"])
    assert rungs == [0] * eta + [1]
    # The promoted one is the best of the first eta.
    snap = sched.snapshot()
    best0 = max(range(eta), key=lambda t: snap.trials[t].values[0][1])
    assert snap.trials[best0].rung == 1


def test_nan_and_inf_rank_worst():
    sched = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=4, reduction_factor=2,
                 mode="max", seed=0)
    a, b = sched.next_job(), sched.next_job()
    sched.report(a, float("inf"))
    sched.report(b, -5.0)
    job = sched.next_job()
    assert job.rung == 1 and job.trial_id == b.trial_id
    sched_min = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=4,
                     reduction_factor=2, mode="min", seed=0)
    a, b = sched_min.next_job(), sched_min.next_job()
    sched_min.report(a, float("nan"))
    sched_min.report(b, 1e9)
    assert sched_min.next_job().trial_id == b.trial_id


@pytest.mark.parametrize("eta", [2, 3, 4])
@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("workers", [1, 3, 8])
def test_asha_invariants_random_completion_order(eta, mode, workers):
    """Many trials, W jobs in flight, completion in random order: invariants at every step."""
    import numpy as np

    rng = np.random.default_rng(eta * 100 + workers)
    sched = ASHA(SPACE, min_resource=1, max_resource=eta**3, reduction_factor=eta, mode=mode,
                 max_trials=150, seed=eta)
    model = Model(mode)
    ops = []
    for _ in range(2000):
        ops.append(("next", 0, 0.0))
        if rng.random() < 1 / max(1, workers // 2):
            ops.append(("report", int(rng.integers(0, 1000)), float(np.round(rng.normal(), 1))))
    drive(sched, ops, model, eta)
    assert sum(model.promoted.get((0, k), set()) != set() for k in range(3)) >= 2  # promotions happened
    check_final(sched, model)
