"""The dashboard: controls, what it shows against what the search recorded, the running-trials
list, pauses, stuck workers, the static snapshot. Searches in virtual time are exact and
instant; control calls scheduled with ``search.at(t)`` let a test look at the dashboard at an
exact moment of a search (their futures' callbacks run on the loop thread at that time)."""

from __future__ import annotations

import base64
import math
import re
import threading

import ipywidgets as w
import pytest
from _polling import until as _until
from IPython.core.interactiveshell import InteractiveShell

from asha_nb import space
from asha_nb.core.types import JobStatus
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search
from asha_nb.runtime.events import RunningJobInfo, SearchState
from asha_nb.viz.charts import BEST_ANY
from asha_nb.widgets import Dashboard

from ._gated import gated_search
from .conftest import job, shown, shown_one


@pytest.fixture
def dash(fake_search):
    d = Dashboard(fake_search, start_timer=False)
    yield d
    d.close()


def _objective(config, resource):
    return config["x"] * (1 - 1 / (resource + 1))


def _virtual(**kw):
    opts = dict(max_trials=40, max_resource=27, reduction_factor=3, n_workers=4, seed=0,
                executor=SimulatedExecutor(cost=1.0), progress=False)
    opts.update(kw)
    return Search(_objective, {"x": space.uniform(0, 1)}, **opts)


# ------------------------------------------------------------------ controls
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
    assert dash.controls.layout.display == "none"  # a search that ended has no controls
    assert shown_one(dash.status.value, "asha-state") == "stopped"


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


def test_a_config_outside_the_space_is_refused_with_the_search_s_error():
    s = Search(_objective, {"x": space.uniform(0, 1)}, max_trials=5, max_resource=9,
               progress=False)
    d = Dashboard(s, start_timer=False)
    d.form["x"].max = 5.0
    d.form["x"].value = 3.0
    d.add_button.click()
    msg = d.message.value
    assert "add_trial failed" in msg and "InvalidParameterError" in msg and "#d62728" in msg
    assert "x" in msg and "3" in msg
    assert s.scheduler.n_trials == 0
    d.close()


# ------------------------------------------------------------------ what it shows
def test_every_number_matches_the_search():
    """A finished search: the status line, the trial counts, the best values, the rung table
    and every chart row equal what search.results(), search.trials and snapshot() say."""
    s = _virtual(max_trials=60, n_workers=5).run()
    d = Dashboard(s, start_timer=False)
    page = d.status.value
    snap = s.snapshot()
    assert shown_one(page, "asha-state") == "finished" == str(snap.state)
    assert float(shown_one(page, "asha-elapsed")) == pytest.approx(snap.elapsed, abs=0.05)
    assert int(shown_one(page, "asha-busy")) == snap.busy_workers == 0
    assert int(shown_one(page, "asha-workers")) == snap.n_workers == 5
    assert int(shown_one(page, "asha-jobs")) == snap.n_jobs == len(s.results())
    assert int(shown_one(page, "asha-started")) == snap.n_started == 60
    counts = s.trials["status"].value_counts().to_dict()
    for st in ("running", "paused", "completed", "stopped", "failed"):
        assert int(shown_one(page, f"asha-trials-{st}")) == counts.get(st, 0), st
    assert counts.get("paused", 0) == 0  # a finished search has no trial waiting
    res = s.results()
    ok = res[res.status == "ok"]
    best_any = ok.loc[ok.value.idxmax()]
    assert float(shown_one(page, "asha-best-any")) == pytest.approx(best_any.value, rel=1e-3)
    assert int(shown_one(page, "asha-best-any-trial")) == best_any.trial_id
    assert float(shown_one(page, "asha-best-any-resource")) == best_any.resource
    assert (snap.best_any_value, snap.best_any_trial) == (best_any.value, best_any.trial_id)
    top = ok[ok.resource == 27]
    best_top = top.loc[top.value.idxmax()]
    assert float(shown_one(page, "asha-best")) == pytest.approx(best_top.value, rel=1e-3)
    assert int(shown_one(page, "asha-best-trial")) == best_top.trial_id == s.best["trial_id"]
    assert float(shown_one(page, "asha-best-resource")) == 27 == s.best["resource"]
    x = s.best["config"]["x"]
    assert shown_one(page, "asha-best-config") == f"x={x:.4g}"
    # the rung table is the scheduler's
    assert [int(v) for v in shown(page, "asha-r-results")] == [r.n_results for r in snap.rungs]
    assert [int(v) for v in shown(page, "asha-r-promoted")] == [r.n_promoted for r in snap.rungs]
    assert [float(v) for v in shown(page, "asha-r-resource")] == [r.resource for r in snap.rungs]
    assert shown(page, "asha-r-cutoff") == [
        "\u2013" if r.cutoff is None else f"{r.cutoff:.4g}" for r in snap.rungs]
    for r in snap.rungs[:-1]:  # the cutoff: worst value inside the rung's top 1/eta
        vals = sorted(ok[ok.rung == r.rung].value, reverse=True)
        assert r.cutoff == vals[len(vals) // 3 - 1]
    assert [int(v) for v in shown(page, "asha-r-results")] == list(
        ok.groupby("rung").size().sort_index())
    # the charts' rows are the records
    data = d.datasets()
    jobs = sorted(data["jobs"], key=lambda r: r["job_id"])
    assert all(r["end"] is not None for r in jobs)  # nothing runs any more
    assert [(r["job_id"], r["worker"], r["start"], r["end"], r["status"]) for r in jobs] == [
        (int(j), int(wk), float(a), float(b), st) for j, wk, a, b, st in
        zip(res.job_id, res.worker, res.start, res.end, res.status)]
    assert sorted((r["trial_id"], r["resource"], r["value"]) for r in data["results"]) == sorted(
        zip(ok.trial_id, ok.resource, ok.value))
    assert d.chart.signals["now"] == snap.elapsed
    assert data["pauses"] == []
    assert len(data["workers"]) == 5
    d.close()


def test_best_so_far_series_are_the_running_bests():
    s = _virtual(max_trials=80, n_workers=3, seed=3).run()
    d = Dashboard(s, start_timer=False)
    best = d.datasets()["best"]
    res = s.results()
    order = {j: i for i, j in enumerate(s.finished_job_ids())}
    ok = res[res.status == "ok"].copy()
    ok["order"] = ok.job_id.map(order)
    ok = ok.sort_values("order")

    def running_best(frame):
        out, cur = [], -math.inf
        for _, r in frame.iterrows():
            if r.value > cur:
                cur = r.value
                out.append((r.end, int(r.trial_id), r.value))
        return out

    any_rows = [(r["time"], r["trial_id"], r["value"]) for r in best if r["series"] == BEST_ANY]
    assert any_rows == running_best(ok)
    top_rows = [(r["time"], r["trial_id"], r["value"]) for r in best
                if r["series"] == d.best_max_label]
    assert top_rows == running_best(ok[ok.resource == 27])
    assert d.best_max_label == "best at max resource 27"
    tail = {r["series"]: r["value"] for r in d.datasets()["tail"]}
    assert tail == {BEST_ANY: any_rows[-1][2], d.best_max_label: top_rows[-1][2]}
    assert top_rows[-1][2] == s.best["value"]
    d.close()


def test_a_paused_search_keeps_counting_and_shows_the_pause():
    s = _virtual()
    d = Dashboard(s, start_timer=False)
    seen = {}

    def look(name):
        def cb(_future):
            d.flush()
            seen[name] = (d.last_snapshot, d.status.value, d.datasets(), d.chart.signals["now"])
        return cb

    s.at(10).pause().add_done_callback(look("paused"))
    s.at(16).set_n_workers(4).add_done_callback(look("later"))
    s.at(20).resume().add_done_callback(look("resumed"))
    s.run()
    snap, page, data, now = seen["later"]
    assert snap.state == SearchState.PAUSED and snap.elapsed == 16 and snap.paused_since == 10
    assert shown_one(page, "asha-state") == "paused"
    assert float(shown_one(page, "asha-elapsed")) == 16.0  # the clock runs on while paused
    assert float(shown_one(page, "asha-paused-for")) == 6.0
    assert now == 16.0  # the charts' time axis ends now
    assert data["pauses"] == [{"start": 10.0, "end": None}]
    snap, page, data, now = seen["resumed"]
    # the past pause stays drawn: from paused_since to the poll that saw the resume
    assert snap.state == SearchState.RUNNING and data["pauses"] == [{"start": 10.0, "end": 20.0}]
    assert shown(page, "asha-paused-for") == []
    d.close()


def test_running_jobs_are_drawn_to_now_and_listed_with_a_stop_button():
    s = _virtual(n_workers=4)
    d = Dashboard(s, start_timer=False)
    seen = {}

    def look(_future):
        d.flush()
        seen["at"] = (d.last_snapshot, d.datasets(), d.chart.running, s.records())

    s.at(7.5).set_n_workers(4).add_done_callback(look)
    s.run()
    snap, data, panel, records = seen["at"]
    running = [r for r in records if r.status is JobStatus.RUNNING]
    assert len(running) == snap.busy_workers == 4
    live = [r for r in data["jobs"] if r["end"] is None]  # drawn to "now"
    assert sorted(r["job_id"] for r in live) == sorted(r.job_id for r in running)
    assert all(r["start"] <= 7.5 and r["state"] == "running" for r in live)
    finished = [r for r in data["jobs"] if r["end"] is not None]
    assert sorted(r["job_id"] for r in finished) == sorted(
        r.job_id for r in records if r.end is not None)
    # the list: one row per running job, from snapshot().running, with how long it has run
    assert panel["title"] == "Running jobs (4)"
    assert sorted((r["trial_id"], r["worker"]) for r in panel["rows"]) == sorted(
        (r.trial_id, r.worker) for r in snap.running)
    starts = {r.trial_id: r.start for r in snap.running}
    for row in panel["rows"]:
        assert row["running_for"] == pytest.approx(7.5 - starts[row["trial_id"]], abs=0.05)
        assert row["stuck"] is False
    d.close()


def test_the_stop_button_of_a_running_row_stops_that_trial():
    s, d, gate = gated_search(max_trials=20)
    try:
        d.flush()
        rows = d.chart.running["rows"]
        assert len(rows) == 2
        target = rows[0]["trial_id"]
        # what the row's button sends from the browser
        d.chart._handle_custom_msg({"type": "stop_trial", "trial_id": target}, [])
        assert f"stop of trial {target} requested" in d.message.value
        assert _until(lambda: s.trials.set_index("trial_id").loc[target, "status"] == "stopped")
    finally:
        gate.set()
        s.stop()
        s.wait(30)
        d.close()


def test_a_stuck_worker_is_visible():
    """A thread past its timeout cannot be killed: it is recorded as failed at once, but its
    worker stays busy; the dashboard draws it in red to "now" and says so."""
    gate = threading.Event()

    def hang(config, resource):
        gate.wait(20)
        return 0.5

    s = Search(hang, {"x": space.uniform(0, 1)}, max_trials=2, min_resource=1, max_resource=3,
               n_workers=1, job_timeout=0.2, seed=0, progress=False)
    d = Dashboard(s, start_timer=False)
    s.start()
    try:
        assert _until(lambda: s.snapshot().stuck_workers == 1)
        d.flush()
        page = d.status.value
        assert int(shown_one(page, "asha-stuck")) == 1 == d.last_snapshot.stuck_workers
        live = [r for r in d.datasets()["jobs"] if r["end"] is None]
        assert len(live) == 1 and live[0]["state"] == "stuck" and live[0]["status"] == "failed"
        assert d.chart.running["rows"][0]["stuck"] is True
        assert "timed out" in page  # the failure is listed
    finally:
        gate.set()
        s.wait(30)
        d.flush()
        d.close()


def test_learning_curve_axis_runs_from_min_to_max_resource():
    s = _virtual(max_trials=10)
    d = Dashboard(s, start_timer=False)
    curves = d.chart.spec["vconcat"][0]["hconcat"][0]
    enc = [layer["encoding"]["x"] for layer in curves["layer"]]
    for x in enc:
        assert x["scale"]["domain"] == [1.0, 27.0] and x["scale"]["type"] == "log"
        assert x["axis"]["values"] == [1.0, 3.0, 9.0, 27.0]
    d.close()


def test_intermediate_values_extend_the_learning_curves_live(dash, fake_search):
    fake_search.reported[7] = [(1, 0.1), (2, 0.2)]
    dash.flush()
    fake_search.reported[7].append((3, 0.3))
    fake_search.reported[7].append((3, 0.3))  # a value reported twice is drawn once
    dash.flush()
    rows = [r for r in dash.datasets()["results"] if r["trial_id"] == 7]
    assert [(r["resource"], r["value"]) for r in rows] == [(1, 0.1), (2, 0.2), (3, 0.3)]
    assert all(r["rung"] == -1 for r in rows)


def test_failures_are_red_and_stay_visible(dash, fake_search):
    fake_search.put(job(0, 3, 0, 0.0, 1.0, status=JobStatus.FAILED, value=None,
                        error="Traceback ...\nValueError: boom"))
    fake_search.counts = {"failed": 1}
    dash.flush()
    page = dash.status.value
    assert "trial 3 (rung 0): ValueError: boom" in page and "#d62728" in page
    for i in range(1, 6):  # later jobs do not remove it
        fake_search.put(job(i, 10 + i, i % 4, float(i), float(i) + 0.5))
        dash.flush()
    assert "ValueError: boom" in dash.status.value
    failed = [r for r in dash.datasets()["jobs"] if r["status"] == "failed"]
    assert [r["trial_id"] for r in failed] == [3]


def test_job_statuses_use_the_search_s_vocabulary():
    s = _virtual(max_trials=30, time_budget=20).run()  # ends with jobs interrupted
    d = Dashboard(s, start_timer=False)
    statuses = {r["status"] for r in d.datasets()["jobs"]}
    assert statuses == set(s.results().status)
    assert statuses <= {st.value for st in JobStatus}
    assert "interrupted" in statuses
    # trial counts: the words and numbers of search.trials
    counts = s.trials.status.value_counts().to_dict()
    page = d.status.value
    assert "paused" not in counts
    for st in ("running", "paused", "completed", "stopped", "failed"):
        assert int(shown_one(page, f"asha-trials-{st}")) == counts.get(st, 0), st
    d.close()


# ------------------------------------------------------------------ static snapshot
def test_the_output_becomes_a_static_snapshot_when_the_search_ends(monkeypatch):
    import IPython.display as ipd

    shown_bundles, updates = [], []
    monkeypatch.setattr(ipd, "display", lambda obj, raw=False, display_id=None, **kw:
                        shown_bundles.append((obj, display_id)))
    monkeypatch.setattr(ipd, "update_display", lambda obj, raw=False, display_id=None, **kw:
                        updates.append((obj, display_id)))
    monkeypatch.setattr(InteractiveShell, "initialized", classmethod(lambda cls: True))
    s = _virtual(max_trials=20)
    d = Dashboard(s, start_timer=False)
    d._ipython_display_()
    (live, display_id), = shown_bundles
    assert "application/vnd.jupyter.widget-view+json" in live and display_id
    assert updates == []
    s.run()
    d.flush()
    (static, same_id), = updates
    assert same_id == display_id
    assert "application/vnd.jupyter.widget-view+json" not in static
    page = static["text/html"]
    assert "asha-dashboard-static" in page and "data:image/svg+xml;base64," in page
    svg = base64.b64decode(re.search(r"data:image/svg\+xml;base64,([^']+)", page).group(1))
    assert svg.startswith(b"<svg") and b"Worker timeline" in svg
    assert shown_one(page, "asha-state") == "finished"
    assert int(shown_one(page, "asha-jobs")) == len(s.results())
    d.flush()  # nothing more once the final state is shown
    assert len(updates) == 1
    # the live view is gone: its widget models are closed, so a saved notebook keeps only the
    # snapshot (no 0.9 MB bundle and rows per chart model in its widget state)
    assert d.chart.comm is None and d.widget.comm is None and d.status.comm is None
    # where a closed model's last state is kept anyway (nbconvert --execute), it is small
    assert len(d.chart._esm) < 100
    assert "asha-dashboard-static" in d.static_html()  # exports still work
    # a dashboard displayed after the end shows the snapshot at once
    late = Dashboard(s, start_timer=False)
    late._ipython_display_()
    bundle, _ = shown_bundles[-1]
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    assert "data:image/svg+xml;base64," in bundle["text/html"]
    d.close()
    late.close()


def test_no_update_is_printed_once_the_shell_that_showed_it_is_gone(capsys):
    shell = InteractiveShell.instance()
    s = _virtual(max_trials=20)
    d = Dashboard(s, start_timer=False)
    shell.display_pub.publish = lambda *a, **kw: None  # a front-end that takes the live view
    d._ipython_display_()
    InteractiveShell.clear_instance()  # e.g. the interpreter running the notebook exits
    capsys.readouterr()
    s.run()
    d.flush()  # the last poll would update the display; without a shell IPython prints it
    assert capsys.readouterr().out == ""
    d.close()


def test_static_snapshot_of_a_large_search_embeds_a_png(monkeypatch):
    import asha_nb.widgets._export as mod

    monkeypatch.setattr(mod, "SVG_MARK_LIMIT", 10)
    s = _virtual(max_trials=20).run()
    d = Dashboard(s, start_timer=False)
    page = d.static_html()
    assert "data:image/png;base64," in page and "data:image/svg" not in page
    d.close()


# ------------------------------------------------------------------ real searches
def _failing(config, resource):
    if config["x"] > 0.9:
        raise ValueError("x too large")
    return config["x"] * resource


def test_real_search_end_to_end_without_front_end():
    s = Search(_failing, {"x": space.uniform(0, 1)}, max_trials=60, max_resource=9,
               n_workers=2, seed=0, progress=False)
    d = Dashboard(s, start_timer=False)
    s.start()
    assert s.wait(60)
    d.flush()
    res = s.results()
    assert len(d.datasets()["jobs"]) == len(res)
    assert len(d.datasets()["results"]) == int((res.status == "ok").sum())
    assert shown_one(d.status.value, "asha-state") == "finished"
    assert "x too large" in d.status.value  # failures visible
    # a dashboard attached after the fact shows the whole past
    late = Dashboard(s, start_timer=False)
    assert len(late.datasets()["jobs"]) == len(res)
    assert late.datasets()["best"] == d.datasets()["best"]
    d.close()
    late.close()


def test_real_search_controls_and_timer():
    gate = threading.Event()

    def slow(config, resource):
        gate.wait(10)
        return config["x"]

    s = Search(slow, {"x": space.uniform(0, 1)}, max_trials=50, max_resource=9, n_workers=2,
               seed=0, progress=False)
    d = Dashboard(s, interval=0.05)  # with its timer thread
    s.start()
    d.pause_button.click()
    d.add_button.click()
    assert "added trial" in d.message.value
    gate.set()
    d.stop_button.click()
    d.wait_controls()
    assert s.wait(30)
    assert _until(lambda: not d._throttle.running)  # the timer ends after the final poll
    assert s.state == "stopped"
    assert shown_one(d.status.value, "asha-state") == "stopped"
    assert d.controls.layout.display == "none"
    assert int(shown_one(d.status.value, "asha-jobs")) == len(s.results())
    d.close()


def test_fake_running_rows_and_cap(dash, fake_search):
    fake_search.running = tuple(RunningJobInfo(i, i, 0, 1, i, 0.1 * i) for i in range(20))
    fake_search.n_workers = 20
    fake_search.elapsed = 5.0
    dash.flush()
    panel = dash.chart.running
    assert panel["title"] == "Running jobs (20)" and len(panel["rows"]) == 12
    assert panel["more"] == 8
    assert panel["rows"][0]["running_for"] == 5.0


def test_a_search_shown_as_the_last_expression_of_a_cell():
    """``asha_nb.Search`` displays its dashboard (the lead's subclass delegates to it): live
    while it runs, the static snapshot once it has ended."""
    import asha_nb

    s = asha_nb.Search(_objective, {"x": space.uniform(0, 1)}, max_trials=10, max_resource=9,
                       n_workers=2, seed=0, executor=SimulatedExecutor(cost=1.0),
                       progress=False)
    live = s._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in live
    s.run()
    final = s._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" not in final
    assert shown_one(final["text/html"], "asha-state") == "finished"
    s.dashboard().close()
