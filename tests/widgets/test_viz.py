"""Chart specs built from known data (asha_nb.viz is pure: data in, Vega-Lite out)."""

from __future__ import annotations

import pytest

from asha_nb import SHA, simulate, viz
from asha_nb.synthetic import SyntheticBenchmark

alt = pytest.importorskip("altair")


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


def test_timeline_has_one_bar_per_job_coloured_by_rung(sim):
    spec = viz.timeline_chart(sim.timeline, n_workers=3).to_dict()
    rows = spec["datasets"]["jobs"]
    assert len(rows) == sim.n_jobs == 16 + 4 + 1
    bar = spec["layer"][0]
    assert bar["mark"]["type"] == "bar"
    assert bar["encoding"]["color"]["field"] == "rung"
    assert bar["encoding"]["x"]["field"] == "start"
    assert bar["encoding"]["y"]["field"] == "worker"
    assert spec["data"] == {"name": "jobs"}
    assert [r["job_id"] for r in rows] == sim.timeline["job_id"]


def test_timeline_renders_one_rect_per_job(sim):
    vlc = pytest.importorskip("vl_convert")
    spec = viz.timeline_chart(sim.timeline, n_workers=3).to_dict()
    svg = vlc.vegalite_to_svg(spec)
    # each bar is one path in the "mark-rect" group
    group = svg.split('class="mark-rect')[1].split("</g>")[0]
    assert group.count("<path") == sim.n_jobs


def test_learning_curve_rows_equal_inputs():
    rows = [{"trial_id": t, "rung": r, "resource": 3**r, "value": 0.1 * t + r}
            for t in range(5) for r in range(2 if t < 2 else 1)]
    spec = viz.learning_curve_chart(rows).to_dict()
    assert spec["datasets"]["results"] == rows
    # the promoted highlight is computed in the chart from the highest rung per trial
    jagg = _walk(spec, "joinaggregate")
    assert jagg and jagg[0][0]["op"] == "max" and jagg[0][0]["field"] == "rung"


def test_to_records_cleans_nan_and_columns():
    recs = viz.to_records({"a": [1, 2], "b": [float("nan"), float("inf")]})
    assert recs == [{"a": 1, "b": None}, {"a": 2, "b": None}]
    assert viz.to_records([{"a": 1, "z": 2}], columns=["a", "b"]) == [{"a": 1, "b": None}]


def test_lesson_chart_declares_time_param_once_and_filters_on_it(sim):
    rows = [dict(r, scheduler="SHA") for r in viz.to_records(sim.timeline)]
    spec = viz.lesson_chart(rows, schedulers=("SHA",), n_workers=3, x_max=sim.makespan,
                            time_value=5.0).to_dict()
    params = _walk(spec, "params")
    names = [p["name"] for ps in params for p in ps]
    assert names.count("t") == 1
    filters = [f for f in _walk(spec, "filter") if isinstance(f, str)]
    assert any("datum.start < t" in f for f in filters)
    assert len(spec["datasets"]["lesson"]) == sim.n_jobs


def test_best_so_far_and_with_data():
    chart = viz.best_so_far_chart()
    spec = viz.with_data(chart, {"best": [{"time": 1.0, "value": 0.5, "trial_id": 0}]})
    assert spec["datasets"]["best"] == [{"time": 1.0, "value": 0.5, "trial_id": 0}]
    assert spec["layer"][0]["mark"]["interpolate"] == "step-after"
