"""How the runtime loop waits: in wall time on one inbox, or in virtual time from event to
event.

:class:`Drivers` is the part of :class:`~asha_nb.runtime._loop.Loop` that decides what happens
next. With a real executor (:meth:`Drivers.run_real`) the loop thread blocks on one inbox that
receives finished jobs and control requests, and wakes for deadlines (time budget, job
timeouts, scheduled calls); an executor whose futures resolve on its own worker threads lets a
worker complete its job and hand out the next one itself (:meth:`Drivers.on_done_inline`), one
thread at a time under the driver lock. With a
:class:`~asha_nb.executors.SimulatedExecutor` (:meth:`Drivers.run_virtual`) the loop jumps its
virtual clock to the next finishing job, scheduled call or end of budget.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from ..clock import VirtualClock

if TYPE_CHECKING:  # pragma: no cover
    from collections import deque

    from ..clock import Clock
    from ..core import Job, Scheduler
    from ..executors import BaseExecutor, RunningJob
    from ._commands import Request

__all__ = ["Drivers", "WAKE"]

WAKE = object()  #: put in the inbox to wake a blocked loop (a control request arrived)


class Drivers:
    """Mixin of the loop: its two drivers, wall time and virtual time."""

    if TYPE_CHECKING:  # the loop's state the drivers work on (set in Loop.__init__)
        scheduler: Scheduler
        executor: BaseExecutor
        clock: Clock
        inflight: dict[int, RunningJob]
        pending: deque[tuple[Job, int]]
        requests: queue.SimpleQueue[Request]
        inbox: queue.SimpleQueue[Any]
        scheduled: list[tuple[float, int, Request]]
        driver_lock: threading.Lock
        driver: int | None
        driving: bool
        background: bool
        paused: bool
        paused_since: float | None
        paused_total: float
        virtual: bool
        stalled: bool
        end_reason: str | None
        started_at: float | None
        time_budget: float | None
        max_jobs: int | None
        n_issued: int
        _last_reports: float

        def complete(self, fl: RunningJob) -> None: ...
        def fill(self) -> None: ...
        def apply(self, req: Request) -> None: ...
        def apply_requests(self) -> None: ...
        def schedule(self, req: Request) -> None: ...
        def request_end(self, reason: str, *, stopped: bool = False,
                        failed: bool = False) -> None: ...
        def expire_timeouts(self) -> None: ...
        def next_timeout_in(self) -> float | None: ...
        def drain_reports(self) -> None: ...
        def refresh_snapshot(self, force: bool = False) -> None: ...

    def budget_deadline(self) -> float | None:
        """When the time budget runs out, on the search's clock. In virtual time the time
        spent paused does not count (a paused simulation has no wall clock pushing it on)."""
        if self.time_budget is None or self.started_at is None:
            return None
        deadline = self.started_at + self.time_budget
        if self.virtual:
            deadline += self.paused_total
            if self.paused and self.paused_since is not None:
                deadline += max(0.0, self.clock.now() - self.paused_since)
        return deadline

    def check_end(self) -> None:
        if self.end_reason is not None:
            return
        deadline = self.budget_deadline()
        if deadline is not None and self.clock.now() >= deadline:
            self.request_end("time budget spent")

    def idle_end(self) -> bool:
        """Nothing runs or waits: end if the scheduler finished (True), else keep waiting."""
        if self.pending and not self.paused:
            return False
        if self.scheduler.is_finished and not self.pending:
            self.request_end("scheduler finished")
            return True
        if self.max_jobs is not None and self.n_issued >= self.max_jobs and not self.pending:
            self.request_end("job limit reached")
            return True
        return False

    def pump(self) -> None:
        """Complete what finished, apply control requests, refill the workers (driver lock
        held), until nothing is left to do now."""
        inbox = self.inbox
        while True:
            while not inbox.empty():
                item = inbox.get_nowait()
                if item is not WAKE:
                    self.complete(item)
            if not self.requests.empty() or self.scheduled:
                self.apply_requests()
            if not self.paused and self.end_reason is None:
                self.fill()
            if inbox.empty():
                return

    def on_done_inline(self, fl: RunningJob) -> None:
        """A job's future resolved on an executor's own worker thread: when the loop is not
        busy, complete it and hand out the next job right here, with no thread handoff (the
        driver lock keeps one thread at a time in the loop's state)."""
        if not self.driver_lock.acquire(blocking=False):
            self.inbox.put(fl)  # the loop (or another worker) is driving: it will see it
            return
        try:
            if not self.driving:
                self.inbox.put(fl)
                return
            self.driver = threading.get_ident()
            self.complete(fl)
            self.pump()
            if not self.inflight or self.end_reason is not None:
                self.inbox.put(WAKE)  # the loop thread decides what an idle search does
        finally:
            self.driver = None
            self.driver_lock.release()

    def run_real(self) -> None:
        inbox = self.inbox
        item: Any = None
        lock = self.driver_lock
        while True:
            with lock:
                self.driver = threading.get_ident()
                try:
                    if item is not None and item is not WAKE:
                        self.complete(item)
                    self.pump()
                    self.check_end()
                    if self.end_reason is not None:
                        self.driving = False
                        return
                    self.expire_timeouts()
                    if not self.inflight and self.idle_end():
                        item = None
                        continue
                    mono = time.monotonic()
                    if mono - self._last_reports >= 0.05 and self.inflight:
                        self._last_reports = mono
                        self.drain_reports()
                    self.refresh_snapshot()
                    wait = 0.1 if self.inflight else 0.25
                    now = self.clock.now()
                    for t in (self.budget_deadline(),
                              self.scheduled[0][0] if self.scheduled else None):
                        if t is not None:
                            wait = min(wait, max(0.0, t - now))
                    t_out = self.next_timeout_in()
                    if t_out is not None:
                        wait = min(wait, t_out)
                finally:
                    self.driver = None
            try:
                item = inbox.get(timeout=wait) if wait > 0 else inbox.get_nowait()
            except queue.Empty:
                item = None

    def run_virtual(self, until: float | None = None) -> bool:
        """Jump from event to event in virtual time. At equal times a finishing job comes
        first, then scheduled control calls, then the end of the time budget. Returns ``True``
        when the search ended, ``False`` when the clock reached ``until`` first."""
        ex: Any = self.executor
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        requests = self.requests
        scheduled = self.scheduled
        while True:
            if not requests.empty() or (scheduled and scheduled[0][0] <= clock.t):
                self.apply_requests()
            if self.end_reason is not None:
                return True
            # Paused time does not run out the budget: while paused, its end moves with the
            # clock, and a paused search with nothing running waits for a control call.
            deadline = None if self.paused else self.budget_deadline()
            if not self.paused and (deadline is None or clock.t < deadline):
                self.fill()  # no job starts at the very end of the budget
            t_next = ex.next_time()
            t_sched = scheduled[0][0] if scheduled else None
            if until is not None:
                first = min((t for t in (t_next, t_sched, deadline) if t is not None),
                            default=None)
                if first is None or first > until:
                    if first is None and not self.pending and self.scheduler.is_finished:
                        self.request_end("scheduler finished")
                        continue
                    clock.advance_to(max(clock.t, until))
                    return False
            if t_next is not None and (t_sched is None or t_next <= t_sched) and (
                    deadline is None or t_next <= deadline):
                self.complete(self.inflight[ex.pop().spec.job_id])
                if self.background:
                    self.refresh_snapshot()
                continue
            if t_next is None and self.idle_end():
                continue  # finished: calls scheduled later fail, as in real time
            if t_sched is not None and (deadline is None or t_sched <= deadline):
                clock.advance_to(max(clock.t, t_sched))
                continue
            if deadline is not None and (t_next is not None or not self.idle_end()):
                clock.advance_to(max(clock.t, deadline))
                self.request_end("time budget spent")
                continue
            if t_next is not None or self.end_reason is not None:
                continue
            if self.idle_end():
                continue
            if self.background:  # another thread may still steer it
                self.refresh_snapshot(force=True)
                req = requests.get()
                if req.at is None or req.at <= clock.t:
                    self.apply(req)
                else:
                    self.schedule(req)
                continue
            self.stalled = True
            self.request_end("nothing can run: the search is paused and no control call is "
                             "scheduled to resume it" if self.paused else
                             "nothing can run: the scheduler hands out no job and no control "
                             "call is scheduled", stopped=True)
        return True  # pragma: no cover - the loop above only returns
