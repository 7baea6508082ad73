from __future__ import annotations

import asyncio
import math

import pytest
from _rt_helpers import SPACE, InvariantChecker, quick

from asha_nb import ASHA, SHA, space
from asha_nb.errors import InvalidParameterError, InvalidTypeError, SearchStateError
from asha_nb.runtime import Search
from asha_nb.runtime.events import JobFinished, StateChanged


def test_thread_run_accounts_for_all_trials():
    chk = InvariantChecker(eta=3)
    s = Search(quick, SPACE, max_trials=12, max_resource=9, seed=1, n_workers=2, progress=False)
    s.subscribe(chk)
    assert s.run() is s
    assert s.state == "finished"
    assert chk.errors == []
    df = s.results()
    assert set(df.trial_id) == set(range(12))
    assert (df.status == "ok").all()
    assert {"trial_id", "rung", "resource", "value", "status", "config_x", "worker", "start", "end",
            "error"} <= set(df.columns)
    for _, row in df.iterrows():
        assert math.isclose(row.value, row.config_x * math.log1p(row.resource))
    # one row per trial and rung; rung sizes shrink
    sizes = df.groupby("rung").size().tolist()
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 12
    assert s.best is not None and s.best["resource"] == df.resource.max()
    snap = s.snapshot()
    assert snap.state == "finished" and snap.n_finished + snap.n_stopped == 12
    assert [r.n_results for r in snap.rungs] == sizes + [0] * (len(snap.rungs) - len(sizes))
    finished = [e for e in chk.events if isinstance(e, JobFinished)]
    assert len(finished) == len(df)


def test_scheduler_instance_and_checkpoint_form():
    seen = []

    def obj(config, resource, checkpoint):
        seen.append((checkpoint, resource))
        return config["x"] * resource, resource  # checkpoint = trained-to resource

    sched = SHA(SPACE, n_configs=9, min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    s = Search(obj, scheduler=sched, n_workers=3, progress=False).run()
    assert s.state == "finished"
    assert len(s.results()) == 9 + 3 + 1
    # every promoted job resumed from the previous rung's checkpoint
    promoted = [(c, r) for c, r in seen if r > 1]
    assert promoted and all(c == r // 3 for c, r in promoted)


def test_bad_arguments_raise_at_construction():
    with pytest.raises(InvalidParameterError, match="n_workers"):
        Search(quick, SPACE, n_workers=0)
    with pytest.raises(InvalidTypeError, match="n_workers"):
        Search(quick, SPACE, n_workers="2")
    with pytest.raises(InvalidParameterError, match="reduction_factor"):
        Search(quick, SPACE, reduction_factor=1)
    with pytest.raises(InvalidParameterError, match="mode"):
        Search(quick, SPACE, mode="up")
    with pytest.raises(InvalidParameterError, match="space"):
        Search(quick)
    with pytest.raises(InvalidParameterError, match="max_trials"):
        Search(quick, scheduler=ASHA(SPACE, min_resource=1, max_resource=9), max_trials=3)
    with pytest.raises(InvalidParameterError, match="retries"):
        Search(quick, SPACE, retries=-1)
    with pytest.raises(InvalidTypeError, match="objective"):
        Search(3, SPACE)


def test_await_and_target_and_raising_subscriber(caplog):
    s = Search(lambda c, r: c["x"], {"x": space.choice([0.2, 0.95])}, max_trials=50,
               max_resource=9, target=0.9, seed=3, progress=False)
    calls = []

    def bad(ev):
        calls.append(ev)
        raise RuntimeError("boom")

    s.subscribe(bad)

    async def main():
        return await s

    assert asyncio.run(asyncio.wait_for(main(), 30)) is s
    assert s.state == "finished"
    assert any(isinstance(e, StateChanged) and e.reason == "target reached" for e in calls)
    assert s.best["value"] >= 0.9
    assert "subscriber" in caplog.text


def test_min_mode_and_time_budget():
    import time

    def slow(config, resource):
        time.sleep(0.01)
        return config["x"]

    s = Search(slow, SPACE, mode="min", time_budget=0.3, seed=0, progress=False)  # no max_trials
    s.run()
    assert s.state == "finished"
    df = s.results()
    assert len(df) > 0
    assert s.best["value"] == df[df.status == "ok"].query("resource == resource.max()").value.min()
    with pytest.raises(SearchStateError, match="finished"):
        s.pause()
