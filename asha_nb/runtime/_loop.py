"""The one runtime loop's state: a pure scheduler, an executor, and the collaborators that own
the rest of a search.

One trial's path through the layers, each hop in one module:

1. :meth:`Loop.fill` asks the scheduler for a job for a free worker slot through
   :class:`~asha_nb.runtime._journaled.SchedulerCalls` (``next_job``, journaled first when the
   search has a journal); the core samples a configuration (a :class:`~asha_nb.core.Job`).
2. :meth:`Loop.submit` hands ``JobSpec(job, checkpoint, timeout, worker)`` to the executor
   (:mod:`asha_nb.executors`), which returns the one outstanding-job object,
   :class:`~asha_nb.executors.RunningJob`; the job's record becomes ``running``.
3. The worker runs the objective (:mod:`asha_nb.executors._worker`) and the future resolves to
   a :class:`~asha_nb.executors.JobOutcome`.
4. :class:`~asha_nb.runtime._endings.JobEndings` classifies the end and writes it: the
   scheduler call (``report`` / ``fail``, journaled first), the record marked in place
   (:mod:`asha_nb.runtime._records`), the best-so-far histories, the events.

Who owns what: :class:`~asha_nb.runtime._slots.Workers` (free slots, jobs out),
:class:`~asha_nb.runtime._slots.Retries` and :class:`~asha_nb.runtime._slots.Timeouts`,
:class:`~asha_nb.runtime._best.BestTracker`, :class:`~asha_nb.runtime._records.RecordStore`,
:class:`~asha_nb.runtime._bus.EventBus`, :class:`~asha_nb.runtime._snapshot.Snapshots`. How
the loop waits (wall or virtual time) is :mod:`asha_nb.runtime._drivers`; control requests
are applied by :mod:`asha_nb.runtime._commands`.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ..clock import Clock
from ..core import Event, Job, JobStatus, Scheduler
from ..errors import ExecutorLostError, SearchStateError
from ..executors import BaseExecutor, JobSpec, RunningJob
from ._best import BestTracker
from ._bus import EventBus
from ._endings import JobEndings
from ._journaled import scheduler_calls
from ._records import RecordStore
from ._requests import WAKE, Request
from ._slots import Retries, Timeouts, Workers
from ._snapshot import Snapshots, build_snapshot
from .events import JobStarted, SearchSnapshot, SearchState, StateChanged
from .journal import Journal

__all__ = ["Loop", "LoopMode"]

logger = logging.getLogger("asha_nb.runtime")


def _call_with(fn: Callable[[Any], Any], arg: Any, _future: Any) -> None:
    """A future's done callback that calls ``fn(arg)`` (the future itself is not needed)."""
    fn(arg)


class LoopMode(enum.Enum):
    """How the loop is driven (set by :mod:`asha_nb.runtime._drivers`)."""

    #: Virtual time on the caller's thread (``run()``, ``simulate()``): nobody else looks.
    VIRTUAL = "virtual"
    #: Virtual time on the search's own thread (``start()``): other threads may steer it.
    VIRTUAL_BACKGROUND = "virtual_background"
    #: Wall time: finished jobs wake the loop thread through its inbox.
    QUEUED = "queued"
    #: Wall time: a worker thread completes its own job and hands out the next one.
    INLINE = "inline"
    #: The loop no longer drives (it ended): late completions only go to the inbox.
    ENDED = "ended"


class Loop:
    """All state of a search, owned by small collaborators; driven by
    :func:`~asha_nb.runtime._drivers.drive`.

    Once the loop runs, only the thread driving it touches this object (other threads go
    through :meth:`post`). Before it runs, the facade applies control calls directly.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        objective: Callable[..., Any],
        executor: BaseExecutor,
        clock: Clock,
        *,
        n_workers: int,
        journal: Journal | None,
        time_budget: float | None,
        target: float | None,
        job_timeout: float | None,
        retries: int,
        max_jobs: int | None,
    ):
        self.scheduler = scheduler
        self.objective = objective
        self.executor = executor
        self.clock = clock
        self.journal = journal
        self.mode = scheduler.mode
        self.time_budget = time_budget
        self.max_jobs = max_jobs
        self.n_issued = 0
        if clock.virtual:
            self.run_mode = LoopMode.VIRTUAL
        else:
            inline = bool(getattr(executor, "inline_completion", False))
            self.run_mode = LoopMode.INLINE if inline else LoopMode.QUEUED
        #: Called with each job that went out once its future resolves (set by the driver).
        self.on_done: Callable[[RunningJob], None] | None = None

        #: The loop's one way to the scheduler: journaled when there is a journal.
        self.calls = scheduler_calls(scheduler, clock, journal)
        self.lock = threading.RLock()
        self.bus = EventBus()
        self.snaps = Snapshots(self.build_snapshot)
        self.store = RecordStore(scheduler.rung_resources, scheduler.trial_config)
        self.workers = Workers(n_workers)
        self.retries = Retries(retries)
        self.timeouts = Timeouts(job_timeout, executor)
        self.best = BestTracker(self.mode, scheduler.best, target)
        self.endings = JobEndings(clock, executor, self.calls, self.store, self.workers,
                                  self.retries, self.timeouts, self.best, self.bus,
                                  self.snaps, request_end=self.request_end, lock=self.lock,
                                  virtual=clock.virtual)
        self.requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self.scheduled: list[tuple[float, int, Request]] = []  # heap of requests for later
        self._seq = itertools.count()
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: One thread at a time drives the loop (mutates the scheduler and the records): the
        #: loop thread, or an executor's worker thread completing its job inline.
        self.driver_lock = threading.Lock()
        self.driver: int | None = None

        self.state = SearchState.CREATED
        self.paused = False
        self.paused_since: float | None = None
        self.paused_total = 0.0  # search-clock seconds spent paused (this session)
        self.end_reason: str | None = None
        self.end_state = SearchState.FINISHED
        self.reason = ""
        self.stalled = False
        self.started_at: float | None = None  # search time at which this session started
        self.ended_at: float | None = None
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ read by the facade
    @property
    def virtual(self) -> bool:
        """Whether the search runs in virtual time."""
        return self.clock.virtual

    @property
    def n_workers(self) -> int:
        """Number of jobs kept in flight."""
        return self.workers.n_workers

    # ------------------------------------------------------------------ events and state
    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for each event; returns an unsubscriber."""
        return self.bus.subscribe(callback)

    def set_state(self, state: SearchState, reason: str = "") -> None:
        with self.lock:
            self.state = state
        self.snaps.touch()
        now = self.clock.now()
        self.calls.state(state, now)
        if self.bus.listening:
            self.bus.publish(StateChanged(state, now, reason))

    def is_driving(self) -> bool:
        """Whether the calling thread is the one driving the loop right now."""
        return self.driver == threading.get_ident()

    def post(self, req: Request) -> None:
        """Queue a request for the loop (any thread) and wake it."""
        self.requests.put(req)
        self.inbox.put(WAKE)

    def request_end(self, reason: str, *, stopped: bool = False, failed: bool = False) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.end_state = (SearchState.FAILED if failed else
                              SearchState.STOPPED if stopped else SearchState.FINISHED)

    # ------------------------------------------------------------------ handing out jobs
    def fill(self) -> None:
        """Give every free worker slot a job (retries and restored jobs first)."""
        calls = self.calls
        workers = self.workers
        inflight = workers.inflight
        pending = self.retries.pending
        while workers.free and len(inflight) < workers.n_workers and self.end_reason is None:
            if pending:
                job, attempt = pending.popleft()
                calls.retry(job, attempt, self.clock.now())
                self.submit(job, attempt)
                continue
            if self.max_jobs is not None and self.n_issued >= self.max_jobs:
                return
            listening = self.bus.listening
            events: list[Event] | None = [] if listening else None
            job_ = calls.next_job(events)
            if job_ is None:
                return
            self.n_issued += 1
            if events:
                self.bus.publish_all(events)
            self.submit(job_, 0)

    def submit(self, job: Job, attempt: int) -> None:
        workers = self.workers
        worker = heapq.heappop(workers.free)
        checkpoint = None if job.resume_from <= 0 else self.endings.checkpoint_for(
            job.job_id, job.trial_id, job.resume_from)
        spec = JobSpec.of(job, checkpoint, self.timeouts.job_timeout, worker)
        now = self.clock.now()
        self.calls.job_started(job, worker, now)
        try:
            fl = self.executor.submit(spec)
        except ExecutorLostError as exc:
            self.workers.give_back(worker)
            self.retries.put_back(job, attempt)
            if job.job_id == len(self.store):  # handed out, never ran: it runs on resume
                self.store.set(job.job_id, job.trial_id, job.rung, job.bracket,
                               JobStatus.INTERRUPTED, error=str(exc))
            self.request_end(str(exc), failed=True)
            return
        fl.start = now
        fl.attempt = attempt
        if self.timeouts.job_timeout is not None:
            fl.submitted = time.monotonic()
        notes = self.endings.ckpt_notes
        if notes:
            fl.note = notes.pop(job.job_id, None)
        workers.inflight[job.job_id] = fl
        self.store.start(job.job_id, job.trial_id, job.rung, job.bracket, worker, now,
                         attempt + 1)
        self.snaps.dirty = True
        if self.on_done is not None:
            fl.future.add_done_callback(partial(_call_with, self.on_done, fl))
        if self.bus.listening:
            self.bus.publish(JobStarted(job.job_id, job.trial_id, job.rung, job.resource,
                                        job.resume_from, worker, now, job.bracket))

    # ------------------------------------------------------------------ life cycle
    def begin(self) -> None:
        """Start the executor and the clock of this session."""
        self.executor.start(self.objective, self.workers.n_workers)
        self.started_at = self.clock.now()
        self.set_state(SearchState.PAUSED if self.paused else SearchState.RUNNING)
        if self.paused:
            self.paused_since = self.started_at

    def finish(self, state: SearchState, reason: str) -> None:
        """End the session: stop what runs, close the scheduler and the journal, settle the
        requests still waiting."""
        now = self.clock.now()
        ex = self.executor
        late = list(self.workers.running())
        for fl in late:
            if fl.timed_out is None:
                status = JobStatus.STOPPED if fl.user_stopped else JobStatus.INTERRUPTED
                self.store.mark(fl.spec.job.job_id, status, end=now)
                # it did begin (if the executor saw it: a queued batched job may not have)
                self.store.set_started(fl.spec.job.job_id,
                                       self.endings.started_time(fl, None, now))
            try:
                ex.stop_job(fl)
            except Exception:
                logger.exception("asha_nb: stop_job failed")
        self.workers.inflight.clear()
        try:
            ex.shutdown(wait=False)
        finally:
            self.bus.publish_all(self.scheduler.close())
            self.ended_at = now
            with self.lock:
                self.state = state
                self.reason = reason
                self._refuse_requests(state, now)
            self.calls.state(state, now)
            self.calls.close()
            self.snaps.refresh(force=True)
            if self.bus.listening:
                self.bus.publish(StateChanged(state, now, reason))
            if not self.virtual:  # a job that returns after the end still leaves its value
                for fl in late:
                    fl.future.add_done_callback(partial(_call_with, self.endings.late_result,
                                                        fl))

    def _refuse_requests(self, state: SearchState, now: float) -> None:
        while not self.requests.empty():  # commands that raced with the end
            try:
                req = self.requests.get_nowait()
            except queue.Empty:
                break
            if not req.future.done():
                req.future.set_exception(SearchStateError(
                    f"cannot {req.command}: the search is {state}"))
        for _, _, req in self.scheduled:
            if not req.future.done():
                req.future.set_exception(SearchStateError(
                    f"cannot {req.command} at t={req.at}: the search ended ({state}) "
                    f"at t={now:.3f}"))
        self.scheduled.clear()

    def schedule(self, req: Request) -> None:
        """Keep a request until the search's clock reaches ``req.at``."""
        assert req.at is not None
        heapq.heappush(self.scheduled, (req.at, next(self._seq), req))
        self.snaps.dirty = True

    # ------------------------------------------------------------------ snapshots
    def build_snapshot(self) -> SearchSnapshot:
        if self.started_at is None:
            elapsed = 0.0
        elif self.ended_at is not None:
            elapsed = self.ended_at
        else:
            elapsed = self.clock.now()
        any_ = self.best.best_any
        return build_snapshot(
            self.scheduler, list(self.workers.inflight.values()), state=self.state,
            elapsed=elapsed, n_workers=self.workers.n_workers, mode=self.mode,
            paused_since=self.paused_since if self.paused else None, reason=self.reason,
            n_jobs=len(self.store), n_jobs_done=self.endings.n_done - self.retries.n_retried,
            best_any=any_[-1] if any_ else None)

    def snapshot(self) -> SearchSnapshot:
        """The latest snapshot (readers on any thread)."""
        return self.snaps.latest()
