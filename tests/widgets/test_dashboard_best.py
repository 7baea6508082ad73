"""Property: the dashboard's "best so far" never gets worse, over random searches.

Searches run in virtual time (instant and exact) with an objective whose value can fall as the
resource grows, so the incumbent (best at the highest resource reached, ``search.best``) does
get worse at times: the chart must not follow it. The dashboard polls the search at random
moments while it runs (callbacks of control calls scheduled with ``search.at``), as its timer
would, and at the end.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asha_nb import ASHA, SHA, Hyperband, space
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search
from asha_nb.viz.charts import BEST_ANY
from asha_nb.widgets import Dashboard

SPACE = {"x": space.uniform(0, 1), "y": space.uniform(0, 6)}


def objective(config, resource):
    # crossing curves: the best configuration at a small resource is not the best at a large
    return config["x"] + 0.5 * math.sin(config["y"] * math.log(resource + 1))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["asha", "sha", "hyperband"]),
    mode=st.sampled_from(["max", "min"]),
    eta=st.sampled_from([2, 3, 4]),
    n_trials=st.integers(1, 50),
    n_workers=st.integers(1, 6),
    stragglers=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 10_000),
    polls=st.lists(st.floats(0.5, 200.0), max_size=6),
)
def test_best_so_far_never_gets_worse(kind, mode, eta, n_trials, n_workers, stragglers, seed,
                                      polls):
    kw = dict(min_resource=1, max_resource=16, reduction_factor=eta, mode=mode, seed=seed)
    if kind == "asha":
        sched = ASHA(SPACE, max_trials=n_trials, **kw)
    elif kind == "sha":
        sched = SHA(SPACE, n_configs=n_trials, **kw)
    else:
        sched = Hyperband(SPACE, **kw)
    s = Search(objective, scheduler=sched, n_workers=n_workers, progress=False,
               executor=SimulatedExecutor(cost=1.0, straggler_probability=stragglers,
                                          seed=seed))
    d = Dashboard(s, start_timer=False)
    for t in sorted(polls):
        s.at(t).set_n_workers(n_workers).add_done_callback(lambda _f: d.flush())
    s.run()
    d.flush()

    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    best = d.datasets()["best"]
    series = {BEST_ANY: [], d.best_max_label: []}
    for row in best:
        series[row["series"]].append(row)
    for name, rows in series.items():
        for prev, cur in zip(rows, rows[1:]):
            assert cur["time"] >= prev["time"], name
            assert better(cur["value"], prev["value"]), (name, prev, cur)

    # and each series is the running best of what search.results() recorded
    res = s.results()
    order = {j: i for i, j in enumerate(s.finished_job_ids())}
    ok = res[res.status == "ok"].copy()
    ok["order"] = ok.job_id.map(order)
    ok = ok.sort_values("order")

    def running_best(frame):
        out, cur = [], None
        for v, tid, end in zip(frame.value, frame.trial_id, frame.end):
            if cur is None or better(v, cur):
                cur = v
                out.append((end, int(tid), v))
        return out

    assert [(r["time"], r["trial_id"], r["value"]) for r in series[BEST_ANY]] == \
        running_best(ok)
    assert [(r["time"], r["trial_id"], r["value"]) for r in series[d.best_max_label]] == \
        running_best(ok[ok.resource == sched.max_resource])
    tail = {r["series"]: r["value"] for r in d.datasets()["tail"]}
    assert tail == {name: rows[-1]["value"] for name, rows in series.items() if rows}
    d.close()
