"""Chart specs built from known data (asha_nb.viz is pure: data in, Vega-Lite out)."""

from __future__ import annotations

import re

import pytest
import vl_convert as vlc

from asha_nb import SHA, simulate, viz
from asha_nb.synthetic import SyntheticBenchmark
from asha_nb.viz import charts


@pytest.fixture(scope="module")
def sim():
    bench = SyntheticBenchmark()
    sched = SHA(bench.space, n_configs=16, min_resource=1, max_resource=16, reduction_factor=4,
                seed=0)
    return simulate(sched, bench, n_workers=3, seed=0)


def _walk(spec, key):
    """All values of ``key`` anywhere in a nested spec."""
    out = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key:
                out.append(v)
            out.extend(_walk(v, key))
    elif isinstance(spec, list):
        for v in spec:
            out.extend(_walk(v, key))
    return out


def test_timeline_has_one_borderless_bar_per_job_coloured_by_rung(sim):
    spec = viz.timeline_chart(sim.timeline, n_workers=3, n_rungs=3).to_dict()
    rows = spec["datasets"]["jobs"]
    assert len(rows) == sim.n_jobs == 16 + 4 + 1
    bars = [lay for lay in spec["layer"] if lay["mark"]["type"] == "bar"]
    ok = bars[0]
    assert ok["encoding"]["color"]["field"] == "rung"
    assert ok["encoding"]["x"]["field"] == "start"
    assert ok["encoding"]["y"]["field"] == "worker"
    # no border: a border would eat every job narrower than itself
    for bar in bars:
        assert bar["mark"].get("strokeWidth", 0) == 0 and "stroke" not in bar["encoding"]
    # rung 0 light, the top rung dark (the promotion view's colours)
    assert ok["encoding"]["color"]["scale"]["range"] == viz._common.rung_palette(3)
    assert [r["job_id"] for r in rows] == sim.timeline["job_id"]


def test_timeline_renders_one_rect_per_job(sim):
    spec = viz.timeline_chart(sim.timeline, n_workers=3).to_dict()
    svg = vlc.vegalite_to_svg(spec)
    groups = re.findall(r'<g class="mark-rect role-mark[^"]*"[^>]*?(?:/>|>(.*?)</g>)', svg, re.S)
    assert len(groups) == 2  # finished jobs, failed jobs
    assert sum(g.count("<path") for g in groups) == sim.n_jobs


def test_learning_curve_rows_equal_inputs():
    rows = [{"trial_id": t, "rung": r, "resource": 3**r, "value": 0.1 * t + r}
            for t in range(5) for r in range(2 if t < 2 else 1)]
    spec = viz.learning_curve_chart(rows).to_dict()
    assert spec["datasets"]["results"] == rows
    # the promoted highlight is computed in the chart from the highest rung per trial
    jagg = _walk(spec, "joinaggregate")
    assert jagg and {"op": "max", "field": "rung", "as": "max_rung"} in jagg[0]


def test_to_records_cleans_nan_and_columns():
    recs = viz.to_records({"a": [1, 2], "b": [float("nan"), float("inf")]})
    assert recs == [{"a": 1, "b": None}, {"a": 2, "b": None}]
    assert viz.to_records([{"a": 1, "z": 2}], columns=["a", "b"]) == [{"a": 1, "b": None}]


def test_best_so_far_and_with_data():
    chart = viz.best_so_far_chart()
    spec = viz.with_data(chart, {"best": [{"time": 1.0, "value": 0.5, "trial_id": 0}]})
    assert spec["datasets"]["best"] == [{"time": 1.0, "value": 0.5, "trial_id": 0}]
    assert spec["layer"][0]["mark"]["interpolate"] == "step-after"


def test_dashboard_chart_axes_follow_the_search_and_the_page():
    spec = charts.dashboard_chart(mode="min", n_workers=3, resources=[1, 3, 9, 27],
                                  max_resource=27, now=12.5)
    assert spec["params"] == [{"name": "now", "value": 12.5}]
    # time axes end at "now" (the whole elapsed time), resources run from min to max
    xs = [x for x in _walk(spec, "x") if isinstance(x, dict) and "scale" in x]
    time_x = [x for x in xs if x.get("field") in ("start", "time")]
    assert time_x and all(x["scale"]["domain"] == [0, {"expr": "now"}] for x in time_x)
    res_x = [x for x in xs if x.get("field") == "resource"]
    assert res_x and all(x["scale"]["domain"] == [1.0, 27.0] for x in res_x)
    titles = [t for t in _walk(spec, "title") if isinstance(t, str)]
    assert "value (lower is better)" in titles and "best value (lower is better)" in titles
    # text and guides take the page's colour; no background of its own
    assert spec["config"]["background"] == "transparent"
    assert spec["config"]["axis"]["labelColor"] == "currentColor"
    svg = vlc.vegalite_to_svg(spec)  # renders with empty datasets
    assert "currentColor" in svg
    assert "best at max resource 27" in svg and "best at any rung" in svg
