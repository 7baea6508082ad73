"""The throttle bounds front-end messages whatever the trial rate, and its own cost (fake clock,
no sleeps)."""

from __future__ import annotations

import pytest

from asha_nb.core.types import JobStatus
from asha_nb.runtime.events import SearchState
from asha_nb.widgets import Dashboard
from asha_nb.widgets._sync import count_messages
from asha_nb.widgets._throttle import Throttle

from .conftest import job, shown_one


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_flushes_at_most_once_per_interval():
    clock = FakeClock()
    flushes: list[float] = []
    th = Throttle(lambda: flushes.append(clock.now), interval=0.25, clock=clock)
    for i in range(10_000):
        clock.now = i * 1e-3  # 10^4 events over 10 s
        th.notify()
        th.tick()
    assert len(flushes) <= 10 / 0.25 + 1
    assert all(b - a >= 0.25 for a, b in zip(flushes, flushes[1:]))
    th.notify()
    assert th.flush_now() and len(flushes) <= 42


def test_throttle_does_not_flush_without_events():
    clock = FakeClock()
    calls = []
    th = Throttle(lambda: calls.append(1), interval=0.1, clock=clock)
    for i in range(100):
        clock.now = i
        th.tick()
    assert calls == []


def test_an_expensive_flush_stretches_the_interval_to_the_duty_limit():
    clock = FakeClock()
    calls = []

    def flush():
        calls.append(clock.now)
        clock.now += 0.1  # this flush "takes" 0.1 s

    th = Throttle(flush, interval=0.25, clock=clock, pending=lambda: True, max_duty=0.02)
    for i in range(2000):
        clock.now = max(clock.now, i * 0.01)  # 20 s of ticks every 10 ms
        th.tick()
    assert th.gap == pytest.approx(0.1 / 0.02)
    # 0.1 s of work per flush, at most 2 % of the time: one flush every 5 s
    assert all(b - a >= 5.0 - 1e-9 for a, b in zip(calls, calls[1:]))
    assert th.busy_seconds <= 0.02 * clock.now + 0.1


def test_dashboard_sends_bounded_messages_and_every_row_once(fake_search):
    clock = FakeClock()
    dash = Dashboard(fake_search, interval=0.25, start_timer=False, clock=clock, max_duty=None)
    n = 10_000
    with count_messages(keep_contents=True) as log:
        for i in range(n):
            clock.now = i * 1e-3  # 10^4 jobs in 10 fake seconds
            fake_search.elapsed = clock.now + 0.5
            fake_search.put(job(i, i, i % 4, i * 1e-3, i * 1e-3 + 0.5, value=0.5 + i * 1e-6))
            dash._throttle.tick()
        dash.flush()
    seconds = n * 1e-3
    # <= 10 messages per second of (fake) time, whatever the trial rate
    assert len(log) <= 10 * seconds
    assert dash._throttle.n_flushes <= seconds / 0.25 + 3
    # only new rows are sent: every job exactly once, across all messages
    updates = [m["content"] for m in log.contents if m.get("method") == "custom"]
    job_ids = [r["job_id"] for c in updates for r in c.get("append", {}).get("jobs", [])]
    assert sorted(job_ids) == list(range(n))
    starts = [c["start"]["jobs"] for c in updates if "jobs" in c.get("append", {})]
    assert starts == sorted(starts)
    dash.close()


def test_dashboard_sends_nothing_once_the_final_state_is_shown(fake_search):
    clock = FakeClock()
    fake_search.put(job(0, 0, 0, 0.0, 1.0))
    fake_search.state = SearchState.FINISHED
    dash = Dashboard(fake_search, start_timer=False, clock=clock)
    fake_search.put(job(1, 1, 1, 1.0, 2.0, status=JobStatus.FAILED))  # late: not polled
    with count_messages() as log:
        for i in range(100):
            clock.now = 10 + i
            dash._throttle.tick()
        dash.flush()
    assert len(log) == 0
    assert [r["job_id"] for r in dash.datasets()["jobs"]] == [0]
    dash.close()


def test_a_live_search_updates_the_clock_but_resends_no_rows(fake_search):
    clock = FakeClock()
    fake_search.put(job(0, 0, 0, 0.0, 1.0))
    dash = Dashboard(fake_search, start_timer=False, clock=clock, max_duty=None)
    with count_messages(keep_contents=True) as log:
        for i in range(1, 41):
            clock.now = i * 0.25
            fake_search.elapsed = 1.0 + clock.now  # paused or waiting: only time passes
            dash._throttle.tick()
    updates = [m["content"] for m in log.contents if m.get("method") == "custom"]
    assert len(updates) == 40 and len(log) <= 2 * 40
    assert all("append" not in u for u in updates)
    assert [u["signals"]["now"] for u in updates] == [1.0 + 0.25 * i for i in range(1, 41)]
    dash.close()


def test_no_second_has_more_than_ten_messages(fake_search):
    """A steady stream of jobs for 10 (fake) seconds, then the end: count the messages sent in
    every one-second window (the end hides the controls: one more message, not five)."""
    clock = FakeClock()
    dash = Dashboard(fake_search, start_timer=False, clock=clock)
    sent_at: list[float] = []
    jid = 0
    with count_messages() as log:
        for step in range(1, 1101):  # ticks every 10 ms
            clock.now = step * 0.01
            for _ in range(3):
                fake_search.put(job(jid, jid, jid % 4, clock.now - 0.05, clock.now))
                jid += 1
            fake_search.elapsed = clock.now
            if step == 1000:
                fake_search.state = SearchState.FINISHED
            before = len(log)
            dash._throttle.tick()
            sent_at += [clock.now] * (len(log) - before)
    assert dash._final and sent_at
    windows = [sum(1 for t in sent_at if a <= t < a + 1.0) for a in
               [x * 0.01 for x in range(0, 1100)]]
    assert max(windows) <= 10, max(windows)
    assert dash.controls.layout.display == "none"
    dash.close()


def test_charts_are_paced_when_records_arrive_faster_than_they_can_be_drawn(fake_search):
    """16,000 job records per (fake) second: reading them all on every tick would cost the
    search more than its 2 % share, so the status line stays current while the charts are
    read only when the share allows, and at least every MAX_CHART_LAG seconds."""
    from asha_nb.widgets.dashboard import MAX_CHART_LAG

    clock = FakeClock()
    dash = Dashboard(fake_search, start_timer=False, clock=clock)
    jid = 0
    chart_times = []
    for tick in range(1, 49):  # 12 s of ticks every 0.25 s
        clock.now = tick * 0.25
        for _ in range(2000):
            fake_search.put(job(jid, jid, jid % 4, clock.now - 1e-4, clock.now))
            jid += 1
        fake_search.elapsed = clock.now
        dash._throttle.tick()
        page = dash.status.value
        assert shown_one(page, "asha-elapsed") == f"{clock.now:.1f}"
        assert int(shown_one(page, "asha-jobs")) == jid  # the status line is always current
        chart_times.append(dash.chart.signals.get("now", 0.0))
    lags = [t * 0.25 - c for t, c in zip(range(1, 49), chart_times)]
    assert max(lags) <= MAX_CHART_LAG + 0.25
    assert max(lags) > 1.0  # the charts did wait
    assert len(set(chart_times)) <= 4  # read a few times, not 48
    assert lags[-1] > 1.0 and "charts as of" in dash.status.value  # and it says so
    dash.flush()  # an explicit poll reads everything
    assert sorted(r["job_id"] for r in dash.datasets()["jobs"]) == list(range(jid))
    assert dash.chart.signals["now"] == clock.now
    assert "charts as of" not in dash.status.value
    dash.close()
