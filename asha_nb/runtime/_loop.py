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

import concurrent.futures as cf
import heapq
import logging
import math
import numbers
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ..clock import Clock, VirtualClock
from ..core import Event, Job, JobStatus, Scheduler, TrialStatus
from ..errors import ExecutorLostError, SearchStateError
from ..executors import BaseExecutor, JobOutcome, JobSpec, RunningJob
from ._commands import HANDLERS, JOURNALED_CONTROLS, Command, Request
from ._records import RecordStore
from .events import (
    ControlApplied,
    IntermediateValue,
    JobFinished,
    JobStarted,
    RunningJobInfo,
    SearchSnapshot,
    SearchState,
    StateChanged,
)
from .journal import Journal

__all__ = ["Loop", "Flight", "describe_exception", "to_value"]

logger = logging.getLogger("asha_nb.runtime")

_INF = float("inf")
_NINF = float("-inf")
_WAKE = object()  # put in the inbox to wake a blocked loop (a control request arrived)
_SNAPSHOT_EVERY = 0.05  # seconds of wall time between two snapshot refreshes
_NONE_MSG = (
    "objective returned None; it must return a number, or (value, checkpoint) for the "
    "checkpoint form"
)


class Flight:
    """A job out on a worker (loop-thread state)."""

    __slots__ = ("job", "running", "worker", "start", "attempt", "submitted", "user_stopped",
                 "timed_out", "streamed")

    def __init__(self, job: Job, running: RunningJob, worker: int, start: float, attempt: int,
                 submitted: float):
        self.job = job
        self.running = running
        self.worker = worker
        self.start = start
        self.attempt = attempt
        self.submitted = submitted  # monotonic wall time (0 in virtual time)
        self.user_stopped = False
        self.timed_out: str | None = None  # the error recorded when its timeout passed
        self.streamed = False


def describe_exception(exc: BaseException, timeout: float | None) -> str:
    """A one-line description of why a job's future raised."""
    name = type(exc).__name__
    if name == "ProcessExpired":
        return f"worker crashed (exit code {getattr(exc, 'exitcode', '?')})"
    if name in ("KilledWorker", "TerminatedWorkerError", "BrokenProcessPool", "SimulatedCrash"):
        return f"worker crashed ({name}: {exc})"
    if isinstance(exc, (TimeoutError, cf.TimeoutError)):
        return f"timed out after {timeout:g} s" if timeout is not None else f"timed out ({exc})"
    if isinstance(exc, cf.CancelledError):
        return "cancelled"
    return f"{name}: {exc}"


def to_value(raw: Any) -> tuple[float | None, str | None]:
    """The objective's raw return value as a float, or ``(None, error message)``."""
    if type(raw) is float:
        return raw, None
    if raw is None:
        return None, _NONE_MSG
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        return float(raw), None
    shape = getattr(raw, "shape", None)
    if shape is not None and callable(getattr(raw, "item", None)):
        if tuple(shape) == ():
            try:
                item = raw.item()
            except Exception as exc:  # noqa: BLE001 - reported as the job's error
                return None, f"objective returned a 0-d {type(raw).__name__} whose .item() failed: {exc}"
            if isinstance(item, numbers.Real) and not isinstance(item, bool):
                return float(item), None
        return None, (f"objective returned a {type(raw).__name__} of shape {tuple(shape)}; it "
                      "must return one number (e.g. float(loss) or loss.item())")
    return None, (f"objective returned {raw!r:.100} ({type(raw).__name__}); it must return a "
                  "number, or (value, checkpoint) for the checkpoint form")


class Loop:
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
        self.time_budget = time_budget
        self.target = target
        self.job_timeout = job_timeout
        self.retries = retries
        self.max_jobs = max_jobs
        self.mode = scheduler.mode

        self.store = RecordStore(scheduler.rung_resources, scheduler.trial_config)
        self.inflight: dict[int, Flight] = {}
        self.free: list[int] = list(range(n_workers))  # heap of free worker slots
        self.pending: deque[tuple[Job, int]] = deque()  # (job, attempt) to (re)run first
        self.checkpoints: dict[int, tuple[float, Any]] = {}
        self.curves: dict[int, list[tuple[float, float]]] = {}
        self.requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.scheduled: list[tuple[float, int, Request]] = []
        self._seq = 0
        self.subscribers: list[Callable[[Any], None]] = []
        self.listening = False
        self.fast = journal is None  # no journal and no subscriber: the lean path
        self.lock = threading.RLock()

        self.state = SearchState.CREATED
        self.paused = False
        self.paused_since: float | None = None
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
                self.fast = not self.listening and self.journal is None

        return unsubscribe

    def publish(self, event: Any) -> None:
        for cb in self.subscribers:
            try:
                cb(event)
            except Exception:  # noqa: BLE001 - a subscriber never breaks the loop
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
        if self.journal is not None and self.journal.is_open:
            self.journal.append("state", time=now, text=str(state))
        if self.listening:
            self.publish(StateChanged(state, now, reason))

    # ------------------------------------------------------------------ control (loop thread)
    def post(self, req: Request) -> None:
        """Queue a request for the loop (any thread) and wake it."""
        self.requests.put(req)
        self.inbox.put(_WAKE)

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
            if self.journal is not None and req.command in JOURNALED_CONTROLS:
                self.journal.append("control", time=now, text=str(req.command),
                                    data=dict(req.args))
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

    def stop_trial(self, trial_id: int) -> None:
        j = self.journal
        if j is not None:
            j.append("stop_trial", time=self.clock.now(), trial_id=trial_id)
        events = self.scheduler.stop_trial(trial_id)
        for fl in self.inflight.values():
            if fl.job.trial_id == trial_id and not fl.user_stopped and fl.timed_out is None:
                fl.user_stopped = True
                self.executor.stop_job(fl.running)
        for job, attempt in [p for p in self.pending if p[0].trial_id == trial_id]:
            self.pending.remove((job, attempt))
            rec = self.store.get(job.job_id)
            self.store.put(rec._replace(status=JobStatus.STOPPED))
        self.publish_all(events)

    def add_trial(self, config: Mapping[str, Any], *, check: bool = True) -> int:
        sched = self.scheduler
        if self.journal is not None:
            # The call is journaled before it acts; a refused config raises the same way on replay.
            self.journal.append("add_trial", time=self.clock.now(), trial_id=sched.n_trials,
                                data={"config": dict(config), "check": check})
        events: list[Event] | None = [] if self.listening else None
        tid = sched.add_trial(config, check=check, events=events)
        if events:
            self.publish_all(events)
        return tid

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            self.paused_since = self.clock.now()
            if self.state is SearchState.RUNNING:
                self.set_state(SearchState.PAUSED)
        else:
            self.paused_since = None
            if self.state is SearchState.PAUSED:
                self.set_state(SearchState.RUNNING)

    def request_end(self, reason: str, *, stopped: bool = False, failed: bool = False) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.end_state = (SearchState.FAILED if failed else
                              SearchState.STOPPED if stopped else SearchState.FINISHED)

    def set_n_workers(self, n_workers: int) -> None:
        old = self.n_workers
        self.n_workers = n_workers
        busy = {fl.worker for fl in self.inflight.values()}
        self.free = [w for w in range(n_workers) if w not in busy]
        heapq.heapify(self.free)
        if n_workers != old:
            self.executor.resize(n_workers)

    # ------------------------------------------------------------------ handing out jobs
    def fill(self) -> None:
        """Give every free worker slot a job (retries and restored jobs first)."""
        sched = self.scheduler
        inflight = self.inflight
        free = self.free
        j = self.journal
        while free and len(inflight) < self.n_workers and self.end_reason is None:
            if self.pending:
                job, attempt = self.pending.popleft()
                if j is not None:
                    j.append("retry", time=self.clock.now(), job_id=job.job_id,
                             trial_id=job.trial_id, text=str(attempt))
                self.submit(job, attempt)
                continue
            if self.max_jobs is not None and self.n_issued >= self.max_jobs:
                return
            events: list[Event] | None = [] if self.listening else None
            job = sched.next_job(events)
            if job is None:
                return
            self.n_issued += 1
            if j is not None:
                j.append("next_job", time=self.clock.now(), job_id=job.job_id,
                         trial_id=job.trial_id, rung=job.rung, value=float(job.resource),
                         data=dict(job.config))
            if events:
                self.publish_all(events)
            self.submit(job, 0)

    def checkpoint_for(self, job: Job) -> Any:
        if job.resume_from <= 0:
            return None
        tid = job.trial_id
        if tid not in self.checkpoints and self.journal is not None:
            try:
                loaded = self.journal.load_checkpoint(tid)
            except Exception as exc:  # noqa: BLE001 - only this trial is affected
                logger.warning("asha_nb: checkpoint of trial %s cannot be loaded (%s: %s); "
                               "it restarts from scratch", tid, type(exc).__name__, exc)
                loaded = None
            if loaded is not None:
                self.checkpoints[tid] = loaded
        entry = self.checkpoints.get(tid)
        if entry is None or entry[0] != job.resume_from:
            return None
        return entry[1]

    def submit(self, job: Job, attempt: int) -> None:
        worker = heapq.heappop(self.free)
        spec = JobSpec(job.job_id, job.trial_id, job.config, job.rung, job.resource,
                       job.resume_from,
                       self.checkpoint_for(job) if job.resume_from > 0 else None,
                       self.job_timeout, worker)
        now = self.clock.now()
        if self.journal is not None:
            self.journal.append("job_started", time=now, job_id=job.job_id,
                                trial_id=job.trial_id, text=str(worker))
        try:
            running = self.executor.submit(spec)
        except ExecutorLostError as exc:
            heapq.heappush(self.free, worker)
            self.pending.appendleft((job, attempt))
            if job.job_id == len(self.store):  # handed out, never ran: it runs on resume
                self.store.set(job.job_id, job.trial_id, job.rung, job.bracket,
                               JobStatus.INTERRUPTED, error=str(exc))
            self.request_end(str(exc), failed=True)
            return
        fl = Flight(job, running, worker, now, attempt, 0.0 if self.virtual else time.monotonic())
        self.inflight[job.job_id] = fl
        self.store.set(job.job_id, job.trial_id, job.rung, job.bracket, JobStatus.RUNNING,
                       worker, now, None, None, None, attempt + 1)
        self._dirty = True
        if not self.virtual:
            inbox = self.inbox
            running.future.add_done_callback(lambda _f, fl=fl: inbox.put(fl))
        if self.listening:
            self.publish(JobStarted(job.job_id, job.trial_id, job.rung, job.resource,
                                    job.resume_from, worker, now, job.bracket))

    # ------------------------------------------------------------------ jobs that ended
    def drain_reports(self) -> None:
        for rep in self.executor.drain_reports():
            fl = self.inflight.get(rep.job_id)
            if fl is None:
                continue  # the job already ended; its outcome carried the values
            fl.streamed = True
            self.curves.setdefault(rep.trial_id, []).append((rep.resource, rep.value))
            if self.listening:
                self.publish(IntermediateValue(rep.job_id, rep.trial_id, rep.resource,
                                               rep.value, self.clock.now()))

    def release(self, fl: Flight) -> None:
        if fl.worker < self.n_workers:
            heapq.heappush(self.free, fl.worker)

    def complete(self, fl: Flight) -> None:
        """Handle a job whose future resolved (loop thread)."""
        job = fl.job
        if self.inflight.get(job.job_id) is not fl:
            return  # already handled (e.g. a callback after the search ended)
        if self.fast and fl.timed_out is None and not fl.user_stopped:
            fut: Any = fl.running.future
            outcome_ = fut.outcome if self.virtual else None
            if outcome_ is not None and outcome_.error is None and not outcome_.intermediate \
                    and outcome_.checkpoint is None and type(outcome_.value) is float:
                # The common case of a simulation: a plain value, nothing else to record.
                value = outcome_.value
                del self.inflight[job.job_id]
                if fl.worker < self.n_workers:
                    heapq.heappush(self.free, fl.worker)
                now = self.clock.t  # type: ignore[attr-defined]
                self.n_done += 1
                self._dirty = True
                self.scheduler.report(job, value)
                if value == value and value not in (_INF, _NINF):
                    self.track_best(job.trial_id, job.resource, value, now)
                    note = None
                else:
                    note = f"objective returned {value!r}"
                self.finished_ids.append(job.job_id)
                self.store.set(job.job_id, job.trial_id, job.rung, job.bracket, JobStatus.OK,
                               fl.worker, fl.start, now, value, note, fl.attempt + 1)
                if self.target is not None:
                    self.check_target(value)
                return
        outcome: JobOutcome | None = None
        exc: BaseException | None = None
        try:
            outcome = fl.running.future.result()
        except BaseException as e:  # noqa: BLE001 - becomes the job's error
            exc = e
        if outcome is not None and outcome.intermediate and not self.virtual:
            self.drain_reports()  # values streamed before the end go first
        del self.inflight[job.job_id]
        self.release(fl)
        now = self.clock.now()
        self.n_done += 1
        self._dirty = True
        if outcome is not None and outcome.intermediate and not fl.streamed:
            curve = self.curves.setdefault(job.trial_id, [])
            for r, v in outcome.intermediate:
                curve.append((r, v))
                if self.listening:
                    self.publish(IntermediateValue(job.job_id, job.trial_id, r, v, now))
        if isinstance(exc, ExecutorLostError):
            self.pending.appendleft((job, fl.attempt))
            self.store.put(self.store.get(job.job_id)._replace(status=JobStatus.INTERRUPTED,
                                                               end=now, error=str(exc)))
            self.request_end(str(exc), failed=True)
            return
        value: float | None = None
        error: str | None = None
        if exc is not None:
            error = describe_exception(exc, self.job_timeout)
        elif outcome is not None and outcome.error is not None:
            error = outcome.error
        elif outcome is not None:
            value, error = to_value(outcome.value)
        sched = self.scheduler
        j = self.journal

        if fl.timed_out is not None:  # already failed at its deadline: keep what came late
            rec = self.store.get(job.job_id)
            note = fl.timed_out
            if value is not None:
                note += (f"; the job could not be killed and returned {value!r} at "
                         f"{now:.3f} s (kept here, not used by the scheduler)")
            self.store.put(rec._replace(end=now, value=value, error=note))
            if j is not None and j.is_open and value is not None:
                j.append("late_value", time=now, job_id=job.job_id, trial_id=job.trial_id,
                         value=value)
            return

        if fl.user_stopped:
            if value is not None and (outcome is None or not outcome.stopped):
                if j is not None:
                    j.append("report", time=now, job_id=job.job_id, trial_id=job.trial_id,
                             value=value)
                events = sched.report(job, value)
                self.track_best(job.trial_id, job.resource, value, now)
            else:
                if j is not None:
                    j.append("fail", time=now, job_id=job.job_id, trial_id=job.trial_id,
                             text="stopped by user")
                events = sched.fail(job, "stopped by user")
            self.finish_job(fl, JobStatus.STOPPED, value, None, now, events)
            return

        if error is not None:
            retryable = (exc is not None and "crashed" in error) or (
                outcome is not None and outcome.error is not None)
            if retryable and fl.attempt < self.retries:
                self.n_retried += 1
                self.pending.appendleft((job, fl.attempt + 1))
                self.store.put(self.store.get(job.job_id)._replace(
                    status=JobStatus.RETRYING, end=now, error=error))
                if self.listening:
                    self.publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource,
                                             fl.worker, fl.start, now, JobStatus.RETRYING, None,
                                             error, job.bracket))
                return
            if j is not None:
                j.append("fail", time=now, job_id=job.job_id, trial_id=job.trial_id, text=error)
            events = sched.fail(job, error)
            self.finish_job(fl, JobStatus.FAILED, None, error, now, events)
            return

        assert value is not None and outcome is not None
        note = None if math.isfinite(value) else f"objective returned {value!r}"
        if outcome.checkpoint is not None:
            self.checkpoints[job.trial_id] = (job.resource, outcome.checkpoint)
            if j is not None:
                try:
                    j.save_checkpoint(job.trial_id, job.resource, outcome.checkpoint, time=now)
                except Exception as e:  # noqa: BLE001 - only this trial is affected
                    note = (f"checkpoint not saved ({type(e).__name__}: {e}); a resumed search "
                            "retrains this trial from scratch")
                    logger.warning("asha_nb: trial %s: %s", job.trial_id, note)
        if j is not None:
            j.append("report", time=now, job_id=job.job_id, trial_id=job.trial_id, value=value)
        events = sched.report(job, value)
        self.track_best(job.trial_id, job.resource, value, now)
        self.finish_job(fl, JobStatus.OK, value, note, now, events)
        if self.target is not None:
            self.check_target(value)

    def check_target(self, value: float) -> None:
        target = self.target
        if target is not None and math.isfinite(value):
            if (value >= target) if self.mode == "max" else (value <= target):
                self.request_end("target reached")

    def finish_job(self, fl: Flight, status: JobStatus, value: float | None, error: str | None,
                   now: float, events: list[Event]) -> None:
        job = fl.job
        self.finished_ids.append(job.job_id)
        self.store.set(job.job_id, job.trial_id, job.rung, job.bracket, status, fl.worker,
                       fl.start, now, value, error, fl.attempt + 1)
        if self.listening:
            self.publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource, fl.worker,
                                     fl.start, now, status, value, error, job.bracket))
            self.publish_all(events)

    def track_best(self, trial_id: int, resource: float, value: float, now: float) -> None:
        """Keep the incumbent history and the best-at-any-rung history up to date (O(1) unless
        the new value can change the incumbent)."""
        if not math.isfinite(value):
            return
        signed = self._sign * value
        if self._best_any_signed is None or signed < self._best_any_signed:
            self._best_any_signed = signed
            self.best_any.append((now, trial_id, value, resource))
        key = self._inc_key
        if key is not None and (resource < key[0] or (resource == key[0] and signed > key[1])):
            return
        best = self.scheduler.best()
        if best is not None and best != self._inc:
            self._inc = best
            self._inc_key = (best[2], self._sign * best[1])
            self.incumbents.append((now, best[0], best[1], best[2]))

    def expire_timeouts(self) -> None:
        """Record jobs past their timeout as failed (executors that do not enforce it)."""
        timeout = self.job_timeout
        if timeout is None or self.executor.handles_timeouts:
            return
        mono = time.monotonic()
        for fl in list(self.inflight.values()):
            if fl.timed_out is not None or fl.user_stopped:
                continue
            t0 = fl.running.started_at if fl.running.started_at is not None else fl.submitted
            if mono - t0 < timeout:
                continue
            job = fl.job
            now = self.clock.now()
            error = f"timed out after {timeout:g} s"
            fl.timed_out = error
            if self.journal is not None:
                self.journal.append("fail", time=now, job_id=job.job_id, trial_id=job.trial_id,
                                    text=error)
            events = self.scheduler.fail(job, error)
            self.store.set(job.job_id, job.trial_id, job.rung, job.bracket, JobStatus.FAILED,
                           fl.worker, fl.start, None, None, error, fl.attempt + 1)
            if self.listening:
                self.publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource,
                                         fl.worker, fl.start, now, JobStatus.FAILED, None, error,
                                         job.bracket))
                self.publish_all(events)
            self.executor.stop_job(fl.running)  # kill, or set the cooperative stop flag
            self._dirty = True

    def next_timeout_in(self) -> float | None:
        timeout = self.job_timeout
        if timeout is None or self.executor.handles_timeouts:
            return None
        mono = time.monotonic()
        waits = [timeout - (mono - (fl.running.started_at if fl.running.started_at is not None
                                    else fl.submitted))
                 for fl in self.inflight.values() if fl.timed_out is None and not fl.user_stopped]
        return max(0.0, min(waits)) if waits else None

    # ------------------------------------------------------------------ the loop
    def budget_deadline(self) -> float | None:
        if self.time_budget is None or self.started_at is None:
            return None
        return self.started_at + self.time_budget

    def check_end(self) -> None:
        if self.end_reason is not None:
            return
        deadline = self.budget_deadline()
        if deadline is not None and self.clock.now() >= deadline:
            self.request_end("time budget spent")

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
        except BaseException:  # noqa: BLE001
            logger.exception("asha_nb: cleanup after loop failure failed")
            with self.lock:
                self.state = SearchState.FAILED

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

    def run_real(self) -> None:
        inbox = self.inbox
        while True:
            self.apply_requests()
            self.check_end()
            if self.end_reason is not None:
                return
            if not self.paused:
                self.fill()
            self.expire_timeouts()
            if not self.inflight and self.idle_end():
                continue
            mono = time.monotonic()
            if mono - self._last_reports >= 0.05 and self.inflight:
                self._last_reports = mono
                self.drain_reports()
            self.refresh_snapshot()
            wait = 0.1 if self.inflight else 0.25
            now = self.clock.now()
            for t in (self.budget_deadline(), self.scheduled[0][0] if self.scheduled else None):
                if t is not None:
                    wait = min(wait, max(0.0, t - now))
            t_out = self.next_timeout_in()
            if t_out is not None:
                wait = min(wait, t_out)
            try:
                item = inbox.get(timeout=wait) if wait > 0 else inbox.get_nowait()
            except queue.Empty:
                continue
            while True:
                if item is not _WAKE:
                    self.complete(item)
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break

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
            if not self.paused:
                self.fill()
            t_next = ex.next_time()
            deadline = self.budget_deadline()
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
            self.request_end("nothing can run: the scheduler hands out no job and no control "
                             "call is scheduled", stopped=True)
        return True  # pragma: no cover - the loop above only returns

    def finish(self, state: SearchState, reason: str) -> None:
        now = self.clock.now()
        ex = self.executor
        for fl in list(self.inflight.values()):
            rec = self.store.get(fl.job.job_id)
            if fl.timed_out is None:
                status = JobStatus.STOPPED if fl.user_stopped else JobStatus.INTERRUPTED
                self.store.put(rec._replace(status=status, end=now))
            try:
                ex.stop_job(fl.running)
            except Exception:  # noqa: BLE001
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
            if self.journal is not None and self.journal.is_open:
                self.journal.append("state", time=now, text=str(state))
                self.journal.close()
            self._dirty = True
            self.refresh_snapshot(force=True)
            if self.listening:
                self.publish(StateChanged(state, now, reason))
            for fl in late:  # a job that returns after the end still leaves its value
                if not self.virtual:
                    fl.running.future.add_done_callback(lambda _f, fl=fl: self.late_result(fl))

    def late_result(self, fl: Flight) -> None:
        """A job that was still running when the search ended returned: keep its value."""
        try:
            outcome = fl.running.future.result()
        except BaseException:  # noqa: BLE001 - killed or cancelled: nothing came
            return
        value, _ = to_value(outcome.value) if outcome.error is None else (None, None)
        if value is None:
            return
        with self.lock:
            rec = self.store.get(fl.job.job_id)
            note = (f"returned {value!r} after the search ended (kept here, not used by the "
                    "scheduler)")
            self.store.put(rec._replace(value=value, end=self.clock.now(),
                                        error=(rec.error + "; " + note) if rec.error else note))

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
        sched = self.scheduler
        counts = sched.status_counts()
        best = sched.best()
        best_cfg = None if best is None else dict(sched.trial_config(best[0]))
        any_ = self.best_any[-1] if self.best_any else None
        state = self.state
        if self.started_at is None:
            elapsed = 0.0
        elif self.ended_at is not None:
            elapsed = self.ended_at
        else:
            elapsed = self.clock.now()
        running = tuple(
            RunningJobInfo(fl.job.job_id, fl.job.trial_id, fl.job.rung, fl.job.resource,
                           fl.worker, fl.start, fl.timed_out is not None)
            for fl in self.inflight.values()
        )
        return SearchSnapshot(
            state=state,
            elapsed=elapsed,
            n_workers=self.n_workers,
            busy_workers=len(self.inflight),
            n_started=sched.n_trials - sched.n_queued,
            n_finished=counts[TrialStatus.PAUSED] + counts[TrialStatus.COMPLETED],
            n_stopped=counts[TrialStatus.STOPPED],
            n_failed=counts[TrialStatus.FAILED],
            best_value=None if best is None else best[1],
            best_trial=None if best is None else best[0],
            best_config=best_cfg,
            best_resource=None if best is None else best[2],
            rungs=sched.rung_snapshots(),
            mode=self.mode,
            paused_since=self.paused_since if self.paused and not state.is_terminal else None,
            stuck_workers=sum(1 for r in running if r.stuck),
            trial_counts={str(k): v for k, v in counts.items()},
            n_jobs=len(self.store),
            n_jobs_done=self.n_done - self.n_retried,
            best_any_value=None if any_ is None else any_[2],
            best_any_trial=None if any_ is None else any_[1],
            best_any_resource=None if any_ is None else any_[3],
            running=running,
            reason=self.reason,
        )

    def snapshot(self) -> SearchSnapshot:
        with self.lock:
            snap = self._snapshot
        if snap is None:
            snap = self.build_snapshot()
        return snap
