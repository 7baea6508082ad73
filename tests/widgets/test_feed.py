"""The dashboard's model on its own (:class:`asha_nb.widgets._feed.DashboardFeed`): what changed
since the last frame, as plain data, with no widget library imported."""

from __future__ import annotations

import subprocess
import sys

from asha_nb.core.types import JobStatus
from asha_nb.runtime.events import SearchState
from asha_nb.widgets._feed import DashboardFeed

from .conftest import job


def test_each_finished_job_is_sent_once_and_running_jobs_are_replaced(fake_search):
    feed = DashboardFeed(fake_search)
    fake_search.put(job(0, 0, 0, 0.0, 1.0, value=0.3))
    fake_search.put(job(1, 1, 1, 0.5, None, status=JobStatus.RUNNING, value=None))
    frame = feed.poll(force=True)
    assert [r["job_id"] for r in frame.chart["append"]["jobs"]] == [0]
    assert [r["job_id"] for r in frame.chart["volatile"]["jobs"]] == [1]
    assert frame.chart["append"]["results"] == [
        {"trial_id": 0, "rung": 0, "resource": 1, "value": 0.3}]

    again = feed.poll(force=True)  # nothing changed: nothing appended, job 1 still running
    assert again.chart["append"] == {"jobs": [], "results": [], "best": []}
    assert [r["job_id"] for r in again.chart["volatile"]["jobs"]] == [1]

    fake_search.put(job(1, 1, 1, 0.5, 2.0, value=0.7))
    done = feed.poll(force=True)
    assert [r["job_id"] for r in done.chart["append"]["jobs"]] == [1]
    assert done.chart["volatile"]["jobs"] == []
    assert done.n_rows is None and not done.terminal


def test_unforced_poll_within_the_duty_reads_only_the_snapshot(fake_search):
    now = [100.0]
    feed = DashboardFeed(fake_search, clock=lambda: now[0], max_duty=0.02)
    feed.poll(force=True)
    for i in range(500):
        fake_search.put(job(i, i, i % 4, 0.0, 1.0))
    lazy = feed.poll()  # 500 new records right after a read: too dear now
    assert set(lazy.chart) == {"running"}
    now[0] += 10.0  # MAX_CHART_LAG later the records are read whatever they cost
    assert len(feed.poll().chart["append"]["jobs"]) == 500


def test_the_last_frame_is_terminal_and_new_workers_ask_for_new_rows(fake_search):
    feed = DashboardFeed(fake_search)
    assert feed.poll(force=True).n_rows is None  # 4 workers: the spec has 4 rows
    fake_search.n_workers = 6
    assert feed.poll(force=True).n_rows == 6
    fake_search.state = SearchState.FINISHED
    assert feed.poll().terminal


def test_the_model_imports_no_widget_or_chart_library():
    code = ("import sys, asha_nb.widgets._feed, asha_nb.widgets._html, asha_nb._view;"
            "print(sorted(m for m in ('ipywidgets', 'anywidget', 'altair', 'IPython')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
