"""Issue 15, item 15: ``search.trials`` and ``results()`` are built column by column (their speed
is measured in ``benchmarks/bench_runtime.py``); here, that they hold exactly what the per-trial
snapshots and the records say, for every kind of trial (in virtual time)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from _virtual import vsearch

from asha_nb import space
from asha_nb.core import ASHA, Hyperband


def objective(config, resource):
    if config["act"] == "boom" and resource > 1:
        raise RuntimeError("boom")
    if config["x"] > 0.9:
        return float("nan")
    if config["x"] < 0.05:
        return float("inf")
    return config["x"] * resource


SPACE = {"x": space.uniform(0, 1), "act": space.choice(["relu", (1, 2), "boom", np.zeros(2)])}


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a is b or a == b


def _trials_from_snapshots(search) -> pd.DataFrame:
    rows = []
    for t in search.scheduler.snapshot().trials:
        row = {"trial_id": t.trial_id, "status": t.status.value, "rung": t.rung,
               "bracket": t.bracket, "value": t.values[-1][1] if t.values else None,
               "error": t.error}
        row.update({f"config_{k}": v for k, v in t.config.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _check_trials(search) -> None:
    new, old = search.trials, _trials_from_snapshots(search)
    assert list(new.columns) == list(old.columns)
    assert len(new) == len(old)
    for col in new.columns:
        assert new[col].dtype == old[col].dtype, col
        for a, b in zip(new[col].tolist(), old[col].tolist(), strict=True):
            assert _same(a, b), (col, a, b)


def test_trials_match_the_snapshots_for_every_kind_of_trial():
    s = vsearch(objective, SPACE, max_trials=80, max_resource=9, n_workers=4, seed=3)
    s.add_trial({"x": 0.5, "act": "relu"})
    s.add_trial({"x": 7.0}, check=False)
    s.run(until=6)
    _check_trials(s)  # while it runs: pending, running, paused trials
    s.run()
    df = s.trials
    assert {"completed", "not_promoted", "failed"} <= set(df.status)
    assert df.value.isna().any() and np.isinf(df.value).any()
    _check_trials(s)


def test_trials_of_a_hyperband_search_and_of_a_search_without_any_value():
    hb = Hyperband(SPACE, min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    s = vsearch(objective, scheduler=hb, n_workers=3)
    s.run()
    assert s.trials.bracket.nunique() > 1
    _check_trials(s)
    fresh = vsearch(objective, SPACE, max_trials=4, max_resource=9, seed=0)
    fresh.add_trial({"x": 0.5})
    assert fresh.trials.value.tolist() == [None]
    _check_trials(fresh)


def test_results_config_columns_match_the_records():
    s = vsearch(objective, scheduler=ASHA(SPACE, min_resource=1, max_resource=9,
                                          reduction_factor=3, max_trials=40, seed=1))
    s.add_trial({"x": 2.0}, check=False)
    s.run()
    df = s.results()
    recs = s.records()
    assert len(df) == len(recs)
    for name in ("x", "act"):
        for got, rec in zip(df[f"config_{name}"].tolist(), recs, strict=True):
            assert _same(got, rec.config[name])
    cols = s.results(as_frame=False)
    assert isinstance(cols["config_x"], list) and len(cols["config_x"]) == len(recs)
    assert df.config_x.dtype == np.float64
    assert "config_x" not in s.results(configs=False)
