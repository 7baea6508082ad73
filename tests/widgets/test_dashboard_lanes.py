"""Issue 17: the live worker timeline follows ``set_n_workers`` (lanes added and removed), every
pause stays drawn, and Stop on a running row says what happens until the job really ends."""

from __future__ import annotations

import io

import numpy as np
import pytest
import vl_convert as vlc
from _polling import until as _until
from PIL import Image

from asha_nb import space
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search
from asha_nb.viz._common import with_data
from asha_nb.widgets import Dashboard

from ._gated import gated_search
from .test_dashboard_timeline_pixels import TOLERANCE, colour_coverage


def _objective(config, resource):
    return config["x"] * (1 - 1 / (resource + 1))


def _virtual(**kw):
    opts = dict(max_trials=80, max_resource=27, reduction_factor=3, n_workers=2, seed=0,
                executor=SimulatedExecutor(cost=1.0), progress=False)
    opts.update(kw)
    return Search(_objective, {"x": space.uniform(0, 1)}, **opts)


def _timeline_domain(spec):
    track = spec["vconcat"][1]["layer"][0]
    return track["encoding"]["y"]["scale"]["domain"], track["encoding"]["y"]["axis"]["values"]


def _live_timeline_png(d: Dashboard) -> np.ndarray:
    """The worker timeline exactly as the live widget draws it: the spec the widget holds now
    (``d.chart.spec``) with the rows it was sent, dark text on white."""
    spec = with_data(d.chart.spec, d.datasets())
    timeline = {k: v for k, v in spec.items() if k not in ("vconcat", "resolve", "spacing")}
    timeline.update(spec["vconcat"][1])
    timeline["config"] = dict(timeline.get("config", {}), background="white")
    timeline["params"] = [{"name": "now", "value": d.chart.signals["now"]}]
    png = vlc.vegalite_to_png(timeline, scale=1)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


def lane_shares(img: np.ndarray, n_rows: int, n_rungs: int) -> list[float]:
    """Coloured share of each worker lane along its grey track, top lane first. A lane is a
    band of rows with track or job colour; along its middle row, runs of such pixels split by
    at most 2 anti-aliased pixels (a dark job against the grey) are one track."""
    sat = img.max(axis=2) - img.min(axis=2)
    val = img.max(axis=2)
    track = ((sat < 8) & (val > 150) & (val < 235)) | (sat >= 30)
    counts = track.sum(axis=1)
    rows = np.flatnonzero(counts >= 0.4 * counts.max())
    bands = [b for b in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1) if len(b) >= 3]
    assert len(bands) == n_rows, f"found {len(bands)} worker lanes, expected {n_rows}"
    shares = []
    for band in bands:
        mid = track[band[len(band) // 2]]
        edges = np.flatnonzero(np.diff(np.r_[0, mid.astype(int), 0]))
        runs: list[list[int]] = []
        for a, b in zip(edges[::2], edges[1::2]):
            if runs and a - runs[-1][1] <= 2:
                runs[-1][1] = b
            else:
                runs.append([a, b])
        a, b = max(runs, key=lambda r: r[1] - r[0])
        shares.append(float(colour_coverage(img[band[0]:band[-1] + 1, a:b], n_rungs).mean()))
    return shares


def test_timeline_lanes_follow_set_n_workers():
    """2 workers, 4 from t = 5, 1 from t = 30: the live chart gets a lane for every worker when
    it is added; a removed worker's lane ends when it was removed; its jobs stay drawn."""
    s = _virtual()
    d = Dashboard(s, start_timer=False)
    seen = {}

    def look(name):
        def cb(_future):
            d.flush()
            seen[name] = (d.spec_rows, _timeline_domain(d.chart.spec),
                          [dict(r) for r in d.datasets()["workers"]], s.snapshot())
        return cb

    s.at(5).set_n_workers(4).add_done_callback(look("added"))
    s.at(30).set_n_workers(1).add_done_callback(look("removed"))
    s.run()
    rows, (domain, ticks), lanes, snap = seen["added"]
    assert snap.n_workers == 4
    assert rows == 4 and domain == [-0.5, 3.5] and ticks == [0, 1, 2, 3]
    assert lanes == [{"worker": 0, "from": 0.0, "to": None}, {"worker": 1, "from": 0.0, "to": None},
                     {"worker": 2, "from": 5.0, "to": None}, {"worker": 3, "from": 5.0, "to": None}]
    rows, (domain, _), lanes, snap = seen["removed"]
    assert rows == 4 and domain == [-0.5, 3.5]  # the removed lanes keep their past
    assert [(r["worker"], r["to"]) for r in lanes] == [(0, None), (1, 30.0), (2, 30.0),
                                                       (3, 30.0)]
    d.flush()
    res = s.results()
    assert set(res.worker) == {0, 1, 2, 3}
    shown = {(r["job_id"], r["worker"]) for r in d.datasets()["jobs"]}
    assert shown == set(zip(res.job_id, res.worker))
    assert all(w < d.spec_rows for _, w in shown)
    d.close()


def test_live_timeline_pixels_after_set_n_workers():
    """The live spec (what the browser draws), rendered: 4 worker rows after set_n_workers(4),
    each row's colour equal to its worker's busy share of the time its lane existed."""
    s = _virtual(max_trials=60)
    d = Dashboard(s, start_timer=False)
    s.at(5).set_n_workers(4).add_done_callback(lambda _f: d.flush())
    s.run()
    d.flush()
    now = s.snapshot().elapsed
    res = s.results()
    start = {0: 0.0, 1: 0.0, 2: 5.0, 3: 5.0}
    expected = [float((g.end - g.start).sum() / (now - start[w]))
                for w, g in res.groupby("worker")]
    got = lane_shares(_live_timeline_png(d), 4, 4)
    for w in range(4):
        assert got[w] == pytest.approx(expected[w], abs=TOLERANCE), (w, got, expected)
    d.close()


def test_every_pause_stays_drawn():
    """Two pauses, the second one still on when the search ends: both bands stay, the second
    ends with the search."""
    s = _virtual(max_trials=30)
    d = Dashboard(s, start_timer=False)
    for t, call in ((4, "pause"), (6, "resume"), (9, "pause"), (12, "resume"), (14, "pause")):
        getattr(s.at(t), call)().add_done_callback(lambda _f: d.flush())
    s.at(20).stop().add_done_callback(lambda _f: d.flush())
    s.run()
    d.flush()
    assert d.datasets()["pauses"] == [{"start": 4.0, "end": 6.0}, {"start": 9.0, "end": 12.0},
                                      {"start": 14.0, "end": 20.0}]
    d.close()


def _end(s, gate):
    gate.set()
    if not s.snapshot().state.is_terminal:
        s.stop()
    s.wait(30)


def test_stop_on_a_running_row_says_stopping_until_the_job_ends():
    """A plain objective on threads cannot be interrupted: after Stop its row says
    "stopping…" and why, on every poll, until its job really ends; the list's title and the
    status line's trial counts agree (one job of a stopped trial still runs)."""
    s, d, gate = gated_search()
    try:
        d.flush()
        target = d.chart.running["rows"][0]["trial_id"]
        d.chart._handle_custom_msg({"type": "stop_trial", "trial_id": target}, [])
        assert "runs until it really ends" in d.message.value
        assert _until(lambda: s.snapshot().trial_counts["stopped"] == 1)  # the next snapshot
        for _ in range(3):  # not only the first poll: the row keeps saying it
            d.flush()
            panel = d.chart.running
            row = next(r for r in panel["rows"] if r["trial_id"] == target)
            assert row["stopping"] is True
            assert "thread worker cannot be interrupted" in row["why"]
            assert panel["title"] == "Running jobs (2: 1 of a stopped trial, still running)"
            assert s.snapshot().trial_counts["running"] == 1
            assert "stopping&hellip;" in d._running_html()
        other = [r for r in d.chart.running["rows"] if r["trial_id"] != target]
        assert other and "stopping" not in other[0]
        gate.set()
        s.wait(30)
        d.flush()
        assert d.chart.running["rows"] == [] and d.feed.stopping == {}
    finally:
        _end(s, gate)
        d.close()


def test_stop_trial_from_another_cell_marks_the_row_stopping_too():
    """``search.stop_trial()`` called from Python (not the row's button): the row says
    "stopping…" as well, from the snapshot's ``stopping`` flag, until the job ends."""
    s, d, gate = gated_search()
    try:
        target = s.snapshot().running[0].trial_id
        s.stop_trial(target)
        assert _until(lambda: any(r.stopping for r in s.snapshot().running))
        d.flush()
        rows = {r["trial_id"]: r for r in d.chart.running["rows"]}
        assert rows[target]["stopping"] is True
        assert "cannot be interrupted" in rows[target]["why"]
        assert not any(r.get("stopping") for t, r in rows.items() if t != target)
        assert d.feed.stopping == {}  # nothing clicked: the flag came from the search
        gate.set()
        s.wait(30)
        d.flush()
        assert d.chart.running["rows"] == []
    finally:
        _end(s, gate)
