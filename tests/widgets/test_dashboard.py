"""Dashboard state after control clicks and events, against a fake and the real Search."""

from __future__ import annotations

import ipywidgets as w
import pytest

from asha_nb.core.types import ResultRecorded, TrialFailed
from asha_nb.runtime.events import JobFinished, StateChanged
from asha_nb.widgets import Dashboard


@pytest.fixture
def dash(fake_search):
    d = Dashboard(fake_search, start_timer=False)
    yield d
    d.close()


def test_buttons_call_the_search(dash, fake_search):
    dash.pause_button.click()
    assert fake_search.calls[-1] == ("pause", None)
    dash.flush()
    assert dash.pause_button.disabled and not dash.resume_button.disabled
    dash.resume_button.click()
    assert fake_search.calls[-1] == ("resume", None)
    dash.trial_input.value = 7
    dash.stop_trial_button.click()
    assert fake_search.calls[-1] == ("stop_trial", 7)
    dash.stop_button.click()
    dash.wait_controls()
    assert fake_search.calls[-1] == ("stop", None)
    dash.flush()
    assert dash.stop_button.disabled and dash.add_button.disabled
    assert "stopped" in dash.status.value


def test_add_trial_form_is_generated_from_the_space(dash, fake_search):
    form = dash.form
    assert isinstance(form["lr"], w.FloatLogSlider)
    assert isinstance(form["x"], w.FloatSlider)
    assert isinstance(form["n"], w.IntSlider) and form["n"].max == 4
    assert isinstance(form["act"], w.Dropdown)
    assert "fixed" not in form
    form["act"].value = "tanh"
    form["n"].value = 2
    dash.add_button.click()
    name, config = fake_search.calls[-1]
    assert name == "add_trial" and config["act"] == "tanh" and config["n"] == 2
    assert set(config) == {"lr", "x", "n", "act"}
    assert "added trial 99" in dash.message.value


def test_control_errors_show_in_red(dash, fake_search):
    def boom(_tid):
        raise RuntimeError("no such trial")

    fake_search.stop_trial = boom
    dash.stop_trial_button.click()
    assert "no such trial" in dash.message.value and "#d62728" in dash.message.value


def test_intermediate_values_extend_the_learning_curves_live(dash, fake_search):
    from asha_nb.runtime.events import IntermediateValue

    for epoch in (1, 2, 3):
        fake_search.emit(IntermediateValue(0, 7, epoch, 0.1 * epoch, float(epoch)))
    fake_search.emit(IntermediateValue(0, 7, 3, 0.3, 3.0))  # a duplicate is sent once
    dash.flush()
    rows = [r for r in dash.chart.rows("results") if r["trial_id"] == 7]
    assert [(r["resource"], r["value"]) for r in rows] == [(1, 0.1), (2, 0.2), (3, 0.1 * 3)]
    assert all(r["rung"] == -1 for r in rows)


def test_failures_are_red_and_stay_visible(dash, fake_search):
    fake_search.n_failed = 1
    fake_search.emit(JobFinished(0, 3, 0, 1, 0, 0.0, 1.0, "failed", None, "ValueError: boom"))
    fake_search.emit(TrialFailed(3, 0, 0, "ValueError: boom"))
    dash.flush()
    assert "trial 3" in dash.status.value and "ValueError: boom" in dash.status.value
    for i in range(5):  # later events do not remove it
        fake_search.emit(ResultRecorded(10 + i, 10 + i, 0, 1, 0.5))
        dash.flush()
    assert "ValueError: boom" in dash.status.value and "#d62728" in dash.status.value
    assert dash.chart.rows("jobs")[0]["status"] == "failed"


def test_status_line_and_rung_table(dash, fake_search):
    fake_search.n_started = 12
    fake_search.best = (4, 0.875)
    fake_search.emit(StateChanged("running", 1.0))
    dash.flush()
    v = dash.status.value
    assert "12</span> started" in v and "0.875" in v and "trial 4" in v
    assert v.count("<tr>") == 3  # header + 2 rungs
    assert dash.chart.rows("best") == [{"time": 1.0, "value": 0.875, "trial_id": 4}]


def test_static_fallback(dash, fake_search):
    fake_search.emit(JobFinished(0, 0, 0, 1, 0, 0.0, 1.0, "ok", 0.5))
    fake_search.emit(ResultRecorded(0, 0, 0, 1, 0.5))
    page = dash.static_html()
    assert "asha-rungs" in page and "<svg" in page
    bundle = dash._repr_mimebundle_()
    assert "text/html" in bundle and "application/vnd.jupyter.widget-view+json" in bundle


def _objective(config, resource):
    if config["x"] > 0.9:
        raise ValueError("x too large")
    return config["x"] * resource


def test_real_search_end_to_end_without_front_end():
    from asha_nb import space
    from asha_nb.runtime import Search

    s = Search(_objective, {"x": space.uniform(0, 1)}, max_trials=60, max_resource=9,
               n_workers=2, seed=0, progress=False)
    d = Dashboard(s, start_timer=False)
    s.start()
    s.wait(60)
    d.flush()
    res = s.results()
    done = res[res["status"].isin(["ok", "failed", "stopped"])]
    assert len(d.chart.rows("jobs")) == len(done)
    assert len(d.chart.rows("results")) == int((res["status"] == "ok").sum())
    assert "finished" in d.status.value
    assert "x too large" in d.status.value  # failures visible
    # a dashboard attached after the fact back-fills from search.results()
    late = Dashboard(s, start_timer=False)
    assert len(late.chart.rows("jobs")) == len(done)
    d.close()
    late.close()


def test_real_search_controls():
    import threading

    from asha_nb import space
    from asha_nb.runtime import Search

    gate = threading.Event()

    def slow(config, resource):
        gate.wait(10)
        return config["x"]

    s = Search(slow, {"x": space.uniform(0, 1)}, max_trials=50, max_resource=9, n_workers=2,
               seed=0, progress=False)
    d = Dashboard(s, start_timer=False)
    s.start()
    d.pause_button.click()
    d.add_button.click()
    assert "added trial" in d.message.value
    gate.set()
    d.stop_button.click()
    d.wait_controls()
    assert s.wait(30)
    d.flush()
    assert s.state == "stopped"
    assert "stopped" in d.status.value and d.stop_button.disabled
    d.close()
