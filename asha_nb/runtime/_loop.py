"""The one runtime loop: it drives a pure scheduler over an executor, in wall or virtual time.

One trial's path through the layers, each hop in one module:

1. :meth:`Loop.fill` asks ``scheduler.next_job(events)`` (core) for a free worker slot; the core
   samples a configuration and reports ``TrialCreated`` / ``Promoted``.
2. The journal (:mod:`asha_nb.runtime.journal`) appends the call before anything acts on it.
3. :meth:`Loop.submit` builds a :class:`~asha_nb.executors.JobSpec` and hands it to the
   executor (:mod:`asha_nb.executors`); the job's record becomes ``running``.
4. The executor's future resolves to a :class:`~asha_nb.executors.JobOutcome`
   (:mod:`asha_nb.executors._worker` ran the objective); :meth:`Loop.complete` validates the
   value, journals it and calls ``scheduler.report`` (or ``fail``); the record becomes ``ok``.
5. Readers (``search.results()``, the dashboard, the progress bar) see the immutable records
   (:mod:`asha_nb.runtime._records`) and snapshots; subscribers get the events.

Time comes from a clock (:mod:`asha_nb.clock`). With a real executor the loop blocks on one
inbox that receives finished jobs and control requests; with
:class:`~asha_nb.executors.SimulatedExecutor` it jumps the virtual clock from one finishing job
(or scheduled control call, or time budget) to the next, so ``simulate()`` is this loop.
"""

from __future__ import annotations

import heapq
import logging
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from ..clock import Clock
from ..core import Event, Job, JobStatus, Scheduler
from ..errors import ExecutorLostError, SearchStateError
from ..executors import BaseExecutor, JobSpec, RunningJob
from ._commands import HANDLERS, JOURNALED_CONTROLS, Command, Request
from ._drivers import WAKE, Drivers
from ._jobs import JobEndings
from ._journaled import scheduler_calls
from ._records import RecordStore
from ._snapshot import build_snapshot
from .events import ControlApplied, JobStarted, SearchSnapshot, SearchState, StateChanged
from .journal import Journal

__all__ = ["Loop"]

logger = logging.getLogger("asha_nb.runtime")

def _call_with(fn: Callable[[Any], Any], arg: Any, _future: Any) -> None:
    """A future's done callback that calls ``fn(arg)`` (the future itself is not needed)."""
    fn(arg)


_SNAPSHOT_EVERY = 0.05  # seconds of wall time between two snapshot refreshes


class Loop(JobEndings, Drivers):
    """All mutable state of a search, driven by :meth:`run`.

    Once the loop runs, only its thread touches this object (other threads go through
    :meth:`post`). Before it runs, the facade applies control calls directly.
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
        self.virtual = bool(getattr(executor, "virtual", False))
        self.n_workers = n_workers
        self.journal = journal
        #: The loop's one way to the scheduler: journaled when there is a journal.
        self.calls = scheduler_calls(scheduler, clock, journal)
        self.time_budget = time_budget
        self.target = target
        self.job_timeout = job_timeout
        self.retries = retries
        self.max_jobs = max_jobs
        self.mode = scheduler.mode

        self.store = RecordStore(scheduler.rung_resources, scheduler.trial_config)
        self.inflight: dict[int, RunningJob] = {}
        self.free: list[int] = list(range(n_workers))  # heap of free worker slots
        self.pending: deque[tuple[Job, int]] = deque()  # (job, attempt) to (re)run first
        self.checkpoints: dict[int, tuple[float, Any]] = {}
        self.ckpt_notes: dict[int, str] = {}  # job id -> why its checkpoint was not used
        self.curves: dict[int, list[tuple[float, float]]] = {}
        self.requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: One thread at a time drives the loop (mutates the scheduler and the records): the
        #: loop thread, or an executor's worker thread completing its job inline.
        self.driver_lock = threading.Lock()
        self.driver: int | None = None
        self.driving = True  # False once the loop ended: inline completions stop
        self.inline = bool(getattr(executor, "inline_completion", False))
        self.scheduled: list[tuple[float, int, Request]] = []
        self._seq = 0
        self.subscribers: list[Callable[[Any], None]] = []
        self.listening = False
        self.fast = not self.calls.journaled  # no journal and no subscriber: the lean path
        self.lock = threading.RLock()

        self.state = SearchState.CREATED
        self.paused = False
        self.paused_since: float | None = None
        self.paused_total = 0.0  # search-clock seconds spent paused (this session)
        self.end_reason: str | None = None
        self.end_state = SearchState.FINISHED
        self.reason = ""
        self.stalled = False
        self.background = False  # True when run on a thread that readers may post to
        self.started_at: float | None = None  # search time at which this session started
        self.ended_at: float | None = None
        self.n_issued = 0
        self.n_done = 0  # futures that resolved
        self.n_retried = 0  # of which attempts that failed and run again
        self.finished_ids: list[int] = []  # job ids in the order their jobs ended
        self.incumbents: list[tuple[float, int, float, float]] = []
        self.best_any: list[tuple[float, int, float, float]] = []  # (time, trial, value, resource)
        self._inc: tuple[int, float, float] | None = None
        self._inc_key: tuple[float, float] | None = None  # (resource, signed value)
        self._best_any_signed: float | None = None
        self._sign = -1.0 if self.mode == "max" else 1.0
        self._snapshot: SearchSnapshot | None = None
        self._snap_time = -1.0
        self._dirty = True
        self._last_reports = 0.0
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        with self.lock:
            self.subscribers = [*self.subscribers, callback]
            self.listening = True
            self.fast = False

        def unsubscribe() -> None:
            with self.lock:
                self.subscribers = [c for c in self.subscribers if c is not callback]
                self.listening = bool(self.subscribers)
                self.fast = not self.listening and not self.calls.journaled

        return unsubscribe

    def publish(self, event: Any) -> None:
        for cb in self.subscribers:
            try:
                cb(event)
            except Exception:
                logger.exception("asha_nb: subscriber %r raised on %r", cb, event)

    def publish_all(self, events: list[Event]) -> None:
        if self.listening:
            for ev in events:
                self.publish(ev)

    def set_state(self, state: SearchState, reason: str = "") -> None:
        with self.lock:
            self.state = state
        self._dirty = True
        now = self.clock.now()
        self.calls.state(state, now)
        if self.listening:
            self.publish(StateChanged(state, now, reason))

    # ------------------------------------------------------------------ control (loop thread)
    def is_driving(self) -> bool:
        """Whether the calling thread is the one driving the loop right now."""
        return self.driver == threading.get_ident()

    def post(self, req: Request) -> None:
        """Queue a request for the loop (any thread) and wake it."""
        self.requests.put(req)
        self.inbox.put(WAKE)

    def schedule(self, req: Request) -> None:
        """Keep a request until the search's clock reaches ``req.at``."""
        assert req.at is not None
        self._seq += 1
        heapq.heappush(self.scheduled, (req.at, self._seq, req))
        self._dirty = True

    def apply(self, req: Request) -> None:
        """Apply one request and settle its future."""
        if req.future.done():  # cancelled by its caller
            return
        try:
            result = HANDLERS[req.command](self, **req.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            req.future.set_exception(exc)
            return
        if req.command is not Command.READ_TRIALS:
            now = self.clock.now()
            if req.command in JOURNALED_CONTROLS:
                self.calls.control(req.command, req.args, now)
            if self.listening:
                self.publish(ControlApplied(str(req.command), dict(req.args), now, result))
            self._dirty = True
        req.future.set_result(result)

    def apply_requests(self) -> None:
        reqs = self.requests
        while not reqs.empty():
            try:
                req = reqs.get_nowait()
            except queue.Empty:
                break
            if req.at is not None and req.at > self.clock.now():
                self.schedule(req)
            else:
                self.apply(req)
        sched = self.scheduled
        while sched and sched[0][0] <= self.clock.now():
            self.apply(heapq.heappop(sched)[2])

    def request_end(self, reason: str, *, stopped: bool = False, failed: bool = False) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.end_state = (SearchState.FAILED if failed else
                              SearchState.STOPPED if stopped else SearchState.FINISHED)

    # ------------------------------------------------------------------ handing out jobs
    def fill(self) -> None:
        """Give every free worker slot a job (retries and restored jobs first)."""
        calls = self.calls
        inflight = self.inflight
        free = self.free
        while free and len(inflight) < self.n_workers and self.end_reason is None:
            if self.pending:
                job, attempt = self.pending.popleft()
                calls.retry(job, attempt, self.clock.now())
                self.submit(job, attempt)
                continue
            if self.max_jobs is not None and self.n_issued >= self.max_jobs:
                return
            events: list[Event] | None = [] if self.listening else None
            new_job = calls.next_job(events)
            if new_job is None:
                return
            job = new_job
            self.n_issued += 1
            if events:
                self.publish_all(events)
            self.submit(job, 0)

    def checkpoint_for(self, job: Job) -> Any:
        if job.resume_from <= 0:
            return None
        tid = job.trial_id
        if tid not in self.checkpoints:
            try:
                loaded = self.calls.load_checkpoint(tid)
            except Exception as exc:  # noqa: BLE001 - only this trial is affected
                note = (f"checkpoint of trial {tid} could not be loaded ({type(exc).__name__}: "
                        f"{exc}); it retrained from scratch")
                logger.warning("asha_nb: %s", note)
                self.ckpt_notes[job.job_id] = note
                loaded = None
            if loaded is not None:
                self.checkpoints[tid] = loaded
        entry = self.checkpoints.get(tid)
        if entry is None or entry[0] != job.resume_from:
            return None
        return entry[1]

    def submit(self, job: Job, attempt: int) -> None:
        worker = heapq.heappop(self.free)
        spec = JobSpec.of(job, self.checkpoint_for(job) if job.resume_from > 0 else None,
                          self.job_timeout, worker)
        now = self.clock.now()
        self.calls.job_started(job, worker, now)
        try:
            fl = self.executor.submit(spec)
        except ExecutorLostError as exc:
            heapq.heappush(self.free, worker)
            self.pending.appendleft((job, attempt))
            if job.job_id == len(self.store):  # handed out, never ran: it runs on resume
                self.store.set(job.job_id, job.trial_id, job.rung, job.bracket,
                               JobStatus.INTERRUPTED, error=str(exc))
            self.request_end(str(exc), failed=True)
            return
        fl.start = now
        fl.attempt = attempt
        if self.job_timeout is not None:
            fl.submitted = time.monotonic()
        if self.ckpt_notes:
            fl.note = self.ckpt_notes.pop(job.job_id, None)
        self.inflight[job.job_id] = fl
        self.store.start(job.job_id, job.trial_id, job.rung, job.bracket, worker, now,
                         attempt + 1)
        self._dirty = True
        if self.inline:
            fl.future.add_done_callback(partial(_call_with, self.on_done_inline, fl))
        elif not self.virtual:
            fl.future.add_done_callback(partial(_call_with, self.inbox.put, fl))
        if self.listening:
            self.publish(JobStarted(job.job_id, job.trial_id, job.rung, job.resource,
                                    job.resume_from, worker, now, job.bracket))

    # ------------------------------------------------------------------ jobs that ended
    def begin(self) -> None:
        """Start the executor and the clock of this session."""
        self.executor.start(self.objective, self.n_workers)
        self.started_at = self.clock.now()
        self.set_state(SearchState.PAUSED if self.paused else SearchState.RUNNING)
        if self.paused:
            self.paused_since = self.started_at

    def run(self, until: float | None = None) -> bool:
        """Run the loop on the calling thread until the search ends (returns ``True``), or, in
        virtual time, until the clock reaches ``until`` (returns ``False``; call again to go
        on)."""
        try:
            if self.started_at is None:
                self.begin()
            if self.virtual:
                if not self.run_virtual(until):
                    self.refresh_snapshot(force=True)
                    return False
            else:
                self.run_real()
            self.finish(self.end_state, self.end_reason or "")
        except BaseException as exc:  # noqa: BLE001 - the loop reports its own crash
            self.fail(exc)
        return True

    def fail(self, exc: BaseException) -> None:
        """The loop itself failed: end the search as failed, with the reason."""
        if isinstance(exc, RuntimeError) and "after shutdown" in str(exc) and (
                sys.is_finalizing() or threading.main_thread().is_alive() is False):
            reason = "the interpreter is exiting"
        else:
            logger.exception("asha_nb: search loop failed")
            reason = f"{type(exc).__name__}: {exc}"
        self.error = exc
        try:
            self.finish(SearchState.FAILED, reason)
        except BaseException:
            logger.exception("asha_nb: cleanup after loop failure failed")
            with self.lock:
                self.state = SearchState.FAILED

    def finish(self, state: SearchState, reason: str) -> None:
        now = self.clock.now()
        ex = self.executor
        for fl in list(self.inflight.values()):
            if fl.timed_out is None:
                status = JobStatus.STOPPED if fl.user_stopped else JobStatus.INTERRUPTED
                self.store.mark(fl.job.job_id, status, end=now)
            try:
                ex.stop_job(fl)
            except Exception:
                logger.exception("asha_nb: stop_job failed")
        late = list(self.inflight.values())
        self.inflight.clear()
        try:
            ex.shutdown(wait=False)
        finally:
            events = self.scheduler.close()
            self.publish_all(events)
            self.ended_at = now
            with self.lock:
                self.state = state
                self.reason = reason
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
            self.calls.state(state, now)
            self.calls.close()
            self._dirty = True
            self.refresh_snapshot(force=True)
            if self.listening:
                self.publish(StateChanged(state, now, reason))
            for fl in late:  # a job that returns after the end still leaves its value
                if not self.virtual:
                    fl.future.add_done_callback(partial(_call_with, self.late_result, fl))

    # ------------------------------------------------------------------ snapshots
    def refresh_snapshot(self, force: bool = False) -> None:
        if not (force or self._dirty):
            return
        mono = time.monotonic()
        if not force and mono - self._snap_time < _SNAPSHOT_EVERY:
            return
        self._snap_time = mono
        self._dirty = False
        snap = self.build_snapshot()
        with self.lock:
            self._snapshot = snap

    def build_snapshot(self) -> SearchSnapshot:
        return build_snapshot(self)

    def snapshot(self) -> SearchSnapshot:
        with self.lock:
            snap = self._snapshot
        if snap is None:
            snap = self.build_snapshot()
        return snap
