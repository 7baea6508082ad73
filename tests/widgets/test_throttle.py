"""The throttle bounds front-end messages whatever the event rate (fake clock, no sleeps)."""

from __future__ import annotations

from asha_nb.core.types import ResultRecorded
from asha_nb.runtime.events import JobFinished
from asha_nb.widgets import Dashboard
from asha_nb.widgets._sync import count_messages
from asha_nb.widgets._throttle import Throttle


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


def test_dashboard_coalesces_10k_events_into_bounded_messages(fake_search):
    clock = FakeClock()
    dash = Dashboard(fake_search, interval=0.25, start_timer=False, clock=clock)
    n = 10_000
    with count_messages(keep_contents=True) as log:
        for i in range(n):
            clock.now = i * 1e-3  # 10^4 events in 10 fake seconds
            fake_search.n_started = i + 1
            fake_search.emit(JobFinished(i, i, 0, 1, i % 4, i * 1e-3, i * 1e-3 + 0.5, "ok", 0.5))
            fake_search.emit(ResultRecorded(i, i, 0, 1, 0.5))
            dash._throttle.tick()
        dash.flush()
    seconds = n * 1e-3
    # <= 10 messages per second of (fake) time, whatever the trial rate
    assert len(log) <= 10 * seconds
    assert dash._throttle.n_flushes <= seconds / 0.25 + 3
    # only new rows are sent: every row exactly once, across all append messages
    appended = [m["content"] for m in log.contents if m.get("method") == "custom"]
    job_ids = [r["job_id"] for c in appended for r in c["rows"].get("jobs", [])]
    assert sorted(job_ids) == list(range(n))
    starts = [c["start"]["jobs"] for c in appended if "jobs" in c["rows"]]
    assert starts == sorted(starts) and starts[0] == 0
    dash.close()


def test_dashboard_sends_nothing_when_idle(fake_search):
    clock = FakeClock()
    dash = Dashboard(fake_search, start_timer=False, clock=clock)
    with count_messages() as log:
        for i in range(100):
            clock.now = 10 + i
            dash._throttle.tick()
    assert len(log) == 0
    dash.close()
