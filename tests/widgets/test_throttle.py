"""The throttle bounds front-end messages whatever the trial rate, and its own cost (fake clock,
no sleeps)."""

from __future__ import annotations

import pytest

from asha_nb.core.types import JobStatus
from asha_nb.runtime.events import SearchState
from asha_nb.widgets import Dashboard
from asha_nb.widgets._sync import count_messages
from asha_nb.widgets._throttle import Throttle

from .conftest import job


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
