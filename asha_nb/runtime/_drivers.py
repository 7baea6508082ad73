"""How the runtime loop waits: in wall time on one inbox, or in virtual time from event to
event.

:func:`drive` runs a :class:`~asha_nb.runtime._loop.Loop` to its end. With a real executor
(:func:`run_real`) the loop thread blocks on one inbox that receives finished jobs and control
requests, and wakes for deadlines (time budget, job timeouts, scheduled calls); an executor
whose futures resolve on its own worker threads lets a worker complete its job and hand out the
next one itself (:func:`on_done_inline`), one thread at a time under the driver lock. With a
:class:`~asha_nb.executors.SimulatedExecutor` (:func:`run_virtual`) the loop jumps its virtual
clock to the next finishing job, scheduled call or end of budget.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from functools import partial
from typing import Any

from ..clock import VirtualClock
from ..executors import RunningJob
from ._commands import apply, apply_requests
from ._loop import Loop, LoopMode
from ._requests import WAKE
from .events import SearchState

__all__ = ["drive", "run_real", "run_virtual", "on_done_inline"]

logger = logging.getLogger("asha_nb.runtime")

_REPORTS_EVERY = 0.05  # seconds between two drains of intermediate values


def drive(loop: Loop, until: float | None = None) -> bool:
    """Run the loop on the calling thread until the search ends (returns ``True``), or, in
    virtual time, until the clock reaches ``until`` (returns ``False``; call again to go
    on)."""
    try:
        if loop.started_at is None:
            loop.begin()
        if loop.virtual:
            if not run_virtual(loop, until):
                loop.snaps.refresh(force=True)
                return False
        else:
            if loop.run_mode is LoopMode.INLINE:
                loop.on_done = partial(on_done_inline, loop)
            else:
                loop.on_done = loop.inbox.put
            run_real(loop)
        loop.finish(loop.end_state, loop.end_reason or "")
    except BaseException as exc:  # noqa: BLE001 - the loop reports its own crash
        fail(loop, exc)
    return True


def fail(loop: Loop, exc: BaseException) -> None:
    """The loop itself failed: end the search as failed, with the reason."""
    if isinstance(exc, RuntimeError) and "after shutdown" in str(exc) and (
            sys.is_finalizing() or threading.main_thread().is_alive() is False):
        reason = "the interpreter is exiting"
    else:
        logger.exception("asha_nb: search loop failed")
        reason = f"{type(exc).__name__}: {exc}"
    loop.error = exc
    try:
        loop.finish(SearchState.FAILED, reason)
    except BaseException:
        logger.exception("asha_nb: cleanup after loop failure failed")
        with loop.lock:
            loop.state = SearchState.FAILED


def budget_deadline(loop: Loop) -> float | None:
    """When the time budget runs out, on the search's clock. In virtual time the time spent
    paused does not count (a paused simulation has no wall clock pushing it on)."""
    if loop.time_budget is None or loop.started_at is None:
        return None
    deadline = loop.started_at + loop.time_budget
    if loop.virtual:
        deadline += loop.paused_total
        if loop.paused and loop.paused_since is not None:
            deadline += max(0.0, loop.clock.now() - loop.paused_since)
    return deadline


def check_end(loop: Loop) -> None:
    if loop.end_reason is not None:
        return
    deadline = budget_deadline(loop)
    if deadline is not None and loop.clock.now() >= deadline:
        loop.request_end("time budget spent")


def idle_end(loop: Loop) -> bool:
    """Nothing runs or waits: end if the scheduler finished (True), else keep waiting."""
    pending = bool(loop.retries)
    if pending and not loop.paused:
        return False
    if loop.scheduler.is_finished and not pending:
        loop.request_end("scheduler finished")
        return True
    if loop.max_jobs is not None and loop.n_issued >= loop.max_jobs and not pending:
        loop.request_end("job limit reached")
        return True
    return False


def pump(loop: Loop) -> None:
    """Complete what finished, apply control requests, refill the workers (driver lock held),
    until nothing is left to do now."""
    inbox = loop.inbox
    endings = loop.endings
    complete = endings.complete
    while True:
        while not inbox.empty():
            item = inbox.get_nowait()
            if item is not WAKE:
                complete(item)
        if not loop.requests.empty() or loop.scheduled:
            apply_requests(loop)
        if not loop.paused and loop.end_reason is None:
            loop.fill()
        if inbox.empty():  # every result that arrived is in, every job it allows is out
            loop.executor.caught_up(endings.n_seen)
            return


def on_done_inline(loop: Loop, fl: RunningJob) -> None:
    """A job's future resolved on an executor's own worker thread: when the loop is not busy,
    complete it and hand out the next job right here, with no thread handoff (the driver lock
    keeps one thread at a time in the loop's state)."""
    if not loop.driver_lock.acquire(blocking=False):
        loop.inbox.put(fl)  # the loop (or another worker) is driving: it will see it
        return
    try:
        if loop.run_mode is not LoopMode.INLINE:
            loop.inbox.put(fl)
            return
        loop.driver = threading.get_ident()
        loop.endings.complete(fl)
        pump(loop)
        if not loop.workers.inflight or loop.end_reason is not None:
            loop.inbox.put(WAKE)  # the loop thread decides what an idle search does
    finally:
        loop.driver = None
        loop.driver_lock.release()


def run_real(loop: Loop) -> None:
    """Drive the loop in wall time until it ends (the loop thread)."""
    inbox = loop.inbox
    item: Any = None
    lock = loop.driver_lock
    endings = loop.endings
    last_reports = 0.0
    while True:
        with lock:
            loop.driver = threading.get_ident()
            try:
                if item is not None and item is not WAKE:
                    endings.complete(item)
                pump(loop)
                check_end(loop)
                if loop.end_reason is not None:
                    loop.run_mode = LoopMode.ENDED
                    return
                endings.expire_timeouts()
                if not loop.workers.inflight and idle_end(loop):
                    item = None
                    continue
                mono = time.monotonic()
                if mono - last_reports >= _REPORTS_EVERY and loop.workers.inflight:
                    last_reports = mono
                    endings.drain_reports()
                loop.snaps.refresh()
                wait = 0.1 if loop.workers.inflight else 0.25
                now = loop.clock.now()
                for t in (budget_deadline(loop),
                          loop.scheduled[0][0] if loop.scheduled else None):
                    if t is not None:
                        wait = min(wait, max(0.0, t - now))
                t_out = loop.timeouts.next_in(loop.workers)
                if t_out is not None:
                    wait = min(wait, t_out)
            finally:
                loop.driver = None
        try:
            item = inbox.get(timeout=wait) if wait > 0 else inbox.get_nowait()
        except queue.Empty:
            item = None


def run_virtual(loop: Loop, until: float | None = None) -> bool:
    """Jump from event to event in virtual time. At equal times a finishing job comes first,
    then scheduled control calls, then the end of the time budget. Returns ``True`` when the
    search ended, ``False`` when the clock reached ``until`` first."""
    ex: Any = loop.executor
    clock = loop.clock
    assert isinstance(clock, VirtualClock)
    requests = loop.requests
    scheduled = loop.scheduled
    inflight = loop.workers.inflight
    complete = loop.endings.complete
    while True:
        if not requests.empty() or (scheduled and scheduled[0][0] <= clock.t):
            apply_requests(loop)
        if loop.end_reason is not None:
            return True
        # Paused time does not run out the budget: while paused, its end moves with the
        # clock, and a paused search with nothing running waits for a control call.
        deadline = None if loop.paused else budget_deadline(loop)
        if not loop.paused and (deadline is None or clock.t < deadline):
            loop.fill()  # no job starts at the very end of the budget
        t_next = ex.next_time()
        t_sched = scheduled[0][0] if scheduled else None
        if until is not None:
            first = min((t for t in (t_next, t_sched, deadline) if t is not None),
                        default=None)
            if first is None or first > until:
                if first is None and not loop.retries and loop.scheduler.is_finished:
                    loop.request_end("scheduler finished")
                    continue
                clock.advance_to(max(clock.t, until))
                return False
        if t_next is not None and (t_sched is None or t_next <= t_sched) and (
                deadline is None or t_next <= deadline):
            complete(inflight[ex.pop().spec.job.job_id])
            if loop.run_mode is LoopMode.VIRTUAL_BACKGROUND:
                loop.snaps.refresh()
            continue
        if t_next is None and idle_end(loop):
            continue  # finished: calls scheduled later fail, as in real time
        if t_sched is not None and (deadline is None or t_sched <= deadline):
            clock.advance_to(max(clock.t, t_sched))
            continue
        if deadline is not None and (t_next is not None or not idle_end(loop)):
            clock.advance_to(max(clock.t, deadline))
            loop.request_end("time budget spent")
            continue
        if t_next is not None or loop.end_reason is not None:
            continue
        if idle_end(loop):
            continue
        if loop.run_mode is LoopMode.VIRTUAL_BACKGROUND:  # another thread may still steer it
            loop.snaps.refresh(force=True)
            req = requests.get()
            if req.at is None or req.at <= clock.t:
                apply(loop, req)
            else:
                loop.schedule(req)
            continue
        loop.stalled = True
        loop.request_end("nothing can run: the search is paused and no control call is "
                         "scheduled to resume it" if loop.paused else
                         "nothing can run: the scheduler hands out no job and no control "
                         "call is scheduled", stopped=True)
    return True  # pragma: no cover - the loop above only returns
