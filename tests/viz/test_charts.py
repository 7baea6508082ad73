"""Chart specs built from known data (asha_nb.viz is pure: data in, Vega-Lite out)."""

from __future__ import annotations

import re

import pytest
import vl_convert as vlc

from asha_nb import SHA, simulate, viz
from asha_nb.synthetic import SyntheticBenchmark
from asha_nb.viz import charts, timeline


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


def _lanes_spec(sim, **kw):
    from asha_nb.viz.data import idle_intervals

    jobs = sim.timeline
    rows = [dict(zip(jobs, vals)) for vals in zip(*jobs.values())]
    horizon = max(r["end"] for r in rows)
    spec = timeline.worker_lanes_chart(rows, idle_intervals(rows, 3, horizon), time=None,
                                       n_workers=3, horizon=horizon, n_rungs=3, **kw)
    return rows, spec


def test_lesson_lanes_have_one_borderless_bar_per_job_coloured_by_rung(sim):
    rows, spec = _lanes_spec(sim)
    assert len(spec["datasets"]["lesson_jobs"]) == sim.n_jobs == 16 + 4 + 1
    bars = next(lay for lay in spec["layer"] if lay["name"].endswith("_jobs"))
    assert bars["encoding"]["color"]["field"] == "rung"
    assert bars["encoding"]["x"]["field"] == "start"
    # no border: a border would eat every job narrower than itself
    assert bars["mark"].get("strokeWidth", 0) == 0 and "stroke" not in bars["encoding"]
    # rung 0 light, the top rung dark: the one palette of every view
    assert bars["encoding"]["color"]["scale"]["range"] == viz._common.rung_palette(3)
    svg = vlc.vegalite_to_svg(spec)
    group = re.search(r'<g class="mark-rect role-mark lanes_jobs_marks"[^>]*>(.*?)</g>', svg,
                      re.S)
    assert group.group(1).count("<path") == sim.n_jobs


def test_one_timeline_builder_for_the_dashboard_and_the_lesson(sim, monkeypatch):
    """The dashboard's timeline and the lesson's lanes come from the same builder, with the
    same palette and the same lane geometry (a lane is centred on its worker number)."""
    calls = []
    real = timeline.worker_timeline

    def spy(**kw):
        calls.append(kw["style"])
        return real(**kw)

    monkeypatch.setattr(timeline, "worker_timeline", spy)
    dash = charts.dashboard_chart(n_workers=3, resources=[1, 4, 16])
    _, lanes = _lanes_spec(sim)
    assert calls == ["sliced", "exact"]
    dash_rects = [lay for lay in _walk(dash, "layer")[-1] if "y2" in lay["encoding"]]
    lane_rects = [lay for lay in lanes["layer"] if "y2" in lay["encoding"]]
    for lay in dash_rects + lane_rects:
        assert lay["encoding"]["y"]["scale"]["domain"] == [-0.5, 2.5]
        assert lay["encoding"]["y"]["scale"]["reverse"] is True
    sliced = next(lay for lay in dash_rects if lay["encoding"].get("color"))
    assert sliced["encoding"]["color"]["scale"]["range"][:3] == viz._common.rung_palette(3)


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
