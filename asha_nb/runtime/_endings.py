"""What happens to a job once it is out: its end, its timeout, its late value.

A resolved future is first *classified* (:func:`classify`: what kind of end it is, pure), then
*written* by one :class:`JobEndings` writer per kind: the scheduler call (journaled before it
acts), the job's record marked in place, the best-so-far histories, the events. Only the
thread driving the loop runs it.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from ..clock import Clock
from ..core import Event, JobStatus
from ..errors import ExecutorLostError
from ..executors import BaseExecutor, JobOutcome, RunningJob
from ..executors._pickled import PickledCheckpoint, local_outcome
from ._best import BestTracker
from ._bus import EventBus
from ._journaled import SchedulerCalls
from ._records import RecordStore
from ._slots import Retries, Timeouts, Workers
from ._snapshot import Snapshots
from ._values import describe_exception, to_value
from .events import IntermediateValue, JobFinished

__all__ = ["Ending", "Verdict", "classify", "JobEndings"]

logger = logging.getLogger("asha_nb.runtime")

_NAN = float("nan")
_STOPPED_BY_USER = "stopped by user"


class Ending(enum.Enum):
    """What kind of end a job had (what :func:`classify` says about a resolved future)."""

    OK = "ok"  #: a value: it goes to the scheduler
    FAILED = "failed"  #: the objective raised, its worker crashed or its value is no number
    RETRY = "retry"  #: failed, and may run again
    LOST = "lost"  #: its executor is gone: the job runs again on resume, the search fails
    LATE = "late"  #: it already failed at its timeout: what came late is only kept
    STOPPED = "stopped"  #: its trial was stopped while it ran
    STOPPED_AFTER_END = "stopped_after_end"  #: stopped, but it ran to its end: value kept
    STALE = "stale"  #: already handled (a callback after the search ended)


class Verdict(NamedTuple):
    """A classified end: its kind, the outcome (if one came), its value and error."""

    ending: Ending
    outcome: JobOutcome | None = None
    value: float | None = None
    error: str | None = None


def classify(fl: RunningJob, may_retry: bool, timeout: float | None) -> Verdict:
    """What kind of end the resolved job ``fl`` had (never raises, changes nothing)."""
    outcome: JobOutcome | None = None
    exc: BaseException | None = None
    try:
        outcome = fl.future.result()
    except BaseException as e:  # noqa: BLE001 - becomes the job's error
        exc = e
    else:
        if type(outcome.value) is float and outcome.error is None and (
                fl.timed_out is None and not fl.user_stopped):
            return Verdict(Ending.OK, outcome, outcome.value, None)  # the common case
    if isinstance(exc, ExecutorLostError):
        return Verdict(Ending.LOST, None, None, str(exc))
    value: float | None = None
    error: str | None = None
    if exc is not None:
        error = describe_exception(exc, timeout)
    elif outcome is not None and outcome.error is not None:
        error = outcome.error
    elif outcome is not None:
        value, error = to_value(outcome.value)
    if fl.timed_out is not None:
        return Verdict(Ending.LATE, outcome, value, error)
    if fl.user_stopped:
        ran_to_end = value is not None and (outcome is None or not outcome.stopped)
        return Verdict(Ending.STOPPED_AFTER_END if ran_to_end else Ending.STOPPED, outcome,
                       value, error)
    if error is not None:
        retryable = (exc is not None and "crashed" in error) or (
            outcome is not None and outcome.error is not None)
        return Verdict(Ending.RETRY if retryable and may_retry else Ending.FAILED, outcome,
                       None, error)
    return Verdict(Ending.OK, outcome, value, None)


class JobEndings:
    """The writer of jobs' ends; owns what the ends leave behind: each trial's last
    checkpoint and learning curve, the order jobs ended in, the count of ends.

    Parameters
    ----------
    clock, executor, calls, store, workers, retries, timeouts, best, bus
        The loop's collaborators this writer updates.
    snaps
        The loop's snapshots (marked dirty when what they show changed).
    request_end
        ``request_end(reason, failed=...)`` of the loop (an executor lost, a target reached).
    lock
        The loop's lock (a late value arrives on another thread after the loop ended).
    virtual
        Whether the search runs in virtual time.
    """

    def __init__(self, clock: Clock, executor: BaseExecutor, calls: SchedulerCalls,
                 store: RecordStore, workers: Workers, retries: Retries, timeouts: Timeouts,
                 best: BestTracker, bus: EventBus, snaps: Snapshots, *,
                 request_end: Callable[..., None], lock: threading.RLock,
                 virtual: bool) -> None:
        self.clock = clock
        self.executor = executor
        self.calls = calls
        self.store = store
        self.workers = workers
        self.retries = retries
        self.timeouts = timeouts
        self.best = best
        self.bus = bus
        self.request_end = request_end
        self.snaps = snaps
        self.lock = lock
        self.virtual = virtual
        self.checkpoints: dict[int, tuple[float, Any]] = {}  # trial id -> (resource, ckpt)
        self.ckpt_notes: dict[int, str] = {}  # job id -> why its checkpoint was not used
        self.curves: dict[int, list[tuple[float, float]]] = {}
        self.finished_ids: list[int] = []  # job ids in the order their jobs ended
        self.n_done = 0  # futures that resolved
        self.n_seen = 0  # futures that reached complete() (handled before or not)
        self._write: dict[Ending, Callable[[RunningJob, Verdict, float], None]] = {
            Ending.OK: self._ok, Ending.FAILED: self._failed, Ending.RETRY: self._retry,
            Ending.LOST: self._lost, Ending.LATE: self._late, Ending.STOPPED: self._stopped,
            Ending.STOPPED_AFTER_END: self._stopped_after_end,
        }

    # ------------------------------------------------------------------ a job goes out
    def checkpoint_for(self, job_id: int, trial_id: int, resume_from: float) -> Any:
        """The checkpoint a job resuming ``trial_id`` from ``resume_from`` starts from."""
        if resume_from <= 0:
            return None
        if trial_id not in self.checkpoints:
            try:
                loaded = self.calls.load_checkpoint(trial_id)
            except Exception as exc:  # noqa: BLE001 - only this trial is affected
                note = (f"checkpoint of trial {trial_id} could not be loaded "
                        f"({type(exc).__name__}: {exc}); it retrained from scratch")
                logger.warning("asha_nb: %s", note)
                self.ckpt_notes[job_id] = note
                loaded = None
            if loaded is not None:
                self.checkpoints[trial_id] = loaded
        entry = self.checkpoints.get(trial_id)
        if entry is None or entry[0] != resume_from:
            return None
        return entry[1]

    # ------------------------------------------------------------------ a job ends
    def complete(self, fl: RunningJob) -> None:
        """Classify the end of ``fl`` (its future resolved), then write it."""
        workers = self.workers
        self.n_seen += 1
        if workers.inflight.get(fl.spec.job.job_id) is not fl:
            return  # already handled (e.g. a callback after the search ended)
        # an attempt that failed may run again while it is below the retries allowed
        verdict = classify(fl, fl.attempt < self.retries.retries, self.timeouts.job_timeout)
        outcome = verdict.outcome
        intermediate = outcome is not None and outcome.intermediate
        if intermediate and not self.virtual:
            self.drain_reports()  # values streamed before the end go first
        workers.release(fl)
        now = self.clock.now()
        self.n_done += 1
        self.snaps.dirty = True
        if intermediate and not fl.streamed:
            assert outcome is not None
            job = fl.spec.job
            curve = self.curves.setdefault(job.trial_id, [])
            for r, v in outcome.intermediate:
                curve.append((r, v))
                if self.bus.listening:
                    self.bus.publish(IntermediateValue(job.job_id, job.trial_id, r, v, now))
        ending = verdict.ending
        if ending is Ending.OK:  # the common case, without a lookup in the table
            self._ok(fl, verdict, now)
        else:
            self._write[ending](fl, verdict, now)

    def _ok(self, fl: RunningJob, v: Verdict, now: float) -> None:
        job = fl.spec.job
        value = v.value
        outcome = v.outcome
        assert value is not None and outcome is not None
        notes = [] if value - value == 0.0 else [f"objective returned {value!r}"]  # finite?
        if outcome.checkpoint is not None and type(outcome.checkpoint) is PickledCheckpoint:
            outcome = local_outcome(outcome)  # an executor left it pickled
        if outcome.note is not None:  # e.g. a checkpoint that could not leave its process
            notes.append(outcome.note)
            logger.warning("asha_nb: trial %s: %s", job.trial_id, outcome.note)
        if outcome.checkpoint is not None:
            self.checkpoints[job.trial_id] = (job.resource, outcome.checkpoint)
            try:
                self.calls.save_checkpoint(job.trial_id, job.resource, outcome.checkpoint, now)
            except Exception as e:  # noqa: BLE001 - only this trial is affected
                saved = (f"checkpoint not saved ({type(e).__name__}: {e}); a resumed "
                         "search retrains this trial from scratch")
                notes.append(saved)
                logger.warning("asha_nb: trial %s: %s", job.trial_id, saved)
        if fl.note is not None:
            notes.append(fl.note)
        if self.virtual:
            started: float | None = fl.start
        elif outcome.duration > 0:  # the worker's own measure (see started_time)
            started = max(now - outcome.duration, fl.start)
        else:
            started = self.started_time(fl, outcome, now)
        events = self.calls.report(job, value, now, started)
        self.best.track(job.trial_id, job.resource, value, now)
        self.finished_ids.append(job.job_id)
        note = "; ".join(notes) if notes else None
        self.store.finish_ok(job.job_id, now, value, note, _NAN if started is None else started)
        if self.bus.listening:
            self._publish_end(fl, JobStatus.OK, value, note, now, events)
        if self.best.target is not None and self.best.reached(value):
            self.request_end("target reached")

    def _failed(self, fl: RunningJob, v: Verdict, now: float) -> None:
        assert v.error is not None
        started = self.started_time(fl, v.outcome, now)
        events = self.calls.fail(fl.spec.job, v.error, now, started)
        self._finish(fl, v, JobStatus.FAILED, None, v.error, now, events, started)

    def _retry(self, fl: RunningJob, v: Verdict, now: float) -> None:
        job = fl.spec.job
        self.store.set_started(job.job_id, self.started_time(fl, v.outcome, now))
        self.retries.retry(job, fl.attempt)
        self.store.mark(job.job_id, JobStatus.RETRYING, end=now, error=v.error)
        if self.bus.listening:
            self.bus.publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource,
                                         fl.spec.worker, fl.start, now, JobStatus.RETRYING,
                                         None, v.error, job.bracket))

    def _lost(self, fl: RunningJob, v: Verdict, now: float) -> None:
        job = fl.spec.job
        self.store.set_started(job.job_id, self.started_time(fl, None, now))
        self.retries.put_back(job, fl.attempt)
        self.store.mark(job.job_id, JobStatus.INTERRUPTED, end=now, error=v.error)
        self.request_end(v.error or "executor lost", failed=True)

    def _late(self, fl: RunningJob, v: Verdict, now: float) -> None:
        job = fl.spec.job
        self.store.set_started(job.job_id, self.started_time(fl, v.outcome, now))
        note = fl.timed_out or ""
        if v.value is not None:
            note += (f"; the job could not be killed and returned {v.value!r} at "
                     f"{now:.3f} s (kept here, not used by the scheduler)")
            self.calls.late_value(job, v.value, now)
        self.store.mark(job.job_id, end=now, value=v.value, error=note)

    def _stopped_after_end(self, fl: RunningJob, v: Verdict, now: float) -> None:
        # It ran to the end anyway: its rung keeps the value (never promoted).
        job = fl.spec.job
        assert v.value is not None
        started = self.started_time(fl, v.outcome, now)
        events = self.calls.report(job, v.value, now, started)
        self.best.track(job.trial_id, job.resource, v.value, now)
        self._finish(fl, v, JobStatus.STOPPED, v.value, None, now, events, started)

    def _stopped(self, fl: RunningJob, v: Verdict, now: float) -> None:
        note = None if v.value is None else (
            "stopped before the end of its job: a partial value, not recorded in the rung")
        started = self.started_time(fl, v.outcome, now)
        events = self.calls.fail(fl.spec.job, _STOPPED_BY_USER, now, started)
        self._finish(fl, v, JobStatus.STOPPED, v.value, note, now, events, started)

    def _finish(self, fl: RunningJob, v: Verdict, status: JobStatus, value: float | None,
                error: str | None, now: float, events: list[Event],
                started: float | None) -> None:
        job = fl.spec.job
        self.store.set_started(job.job_id, started)
        if fl.note is not None:
            error = fl.note if error is None else f"{error}; {fl.note}"
        self.finished_ids.append(job.job_id)
        self.store.mark(job.job_id, status, end=now, value=value, error=error)
        if self.bus.listening:
            self._publish_end(fl, status, value, error, now, events)

    def _publish_end(self, fl: RunningJob, status: JobStatus, value: float | None,
                     error: str | None, now: float, events: list[Event]) -> None:
        job = fl.spec.job
        self.bus.publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource,
                                     fl.spec.worker, fl.start, now, status, value, error,
                                     job.bracket))
        self.bus.publish_all(events)

    def started_time(self, fl: RunningJob, outcome: JobOutcome | None,
                     now: float) -> float | None:
        """When the job's objective really began, on the search's clock (``None``: unknown).

        From the worker's own measure of the objective's run (``outcome.duration``) where an
        outcome came back, else from the moment the executor saw it start
        (``RunningJob.started_at``); never before the job was handed out. In virtual time a
        job starts when it is handed out.
        """
        if self.virtual:
            return fl.start
        if outcome is not None and outcome.duration > 0:
            t = now - outcome.duration
        elif fl.started_at is not None:
            t = now - (time.monotonic() - fl.started_at)
        else:
            return None
        return t if t > fl.start else fl.start

    # ------------------------------------------------------------------ while jobs run
    def drain_reports(self) -> None:
        """Take the intermediate values the executor received since the last call."""
        for rep in self.executor.drain_reports():
            fl = self.workers.inflight.get(rep.job_id)
            if fl is None:
                continue  # the job already ended; its outcome carried the values
            fl.streamed = True
            self.curves.setdefault(rep.trial_id, []).append((rep.resource, rep.value))
            if self.bus.listening:
                self.bus.publish(IntermediateValue(rep.job_id, rep.trial_id, rep.resource,
                                                   rep.value, self.clock.now()))

    def expire_timeouts(self) -> None:
        """Record jobs past their timeout as failed (executors that do not enforce it)."""
        for fl in self.timeouts.expired(self.workers):
            job = fl.spec.job
            now = self.clock.now()
            error = self.timeouts.error()
            fl.timed_out = error
            started = self.started_time(fl, None, now)
            self.store.set_started(job.job_id, started)
            events = self.calls.fail(job, error, now, started)
            self.store.mark(job.job_id, JobStatus.FAILED, end=None, value=None, error=error)
            if self.bus.listening:
                self._publish_end(fl, JobStatus.FAILED, None, error, now, events)
            self.executor.stop_job(fl)  # kill, or set the cooperative stop flag
            self.snaps.dirty = True

    def late_result(self, fl: RunningJob) -> None:
        """A job that was still running when the search ended returned: keep its value."""
        try:
            outcome = fl.future.result()
        except BaseException:  # noqa: BLE001 - killed or cancelled: nothing came
            return
        value, _ = to_value(outcome.value) if outcome.error is None else (None, None)
        if value is None:
            return
        with self.lock:
            self.store.mark(fl.spec.job.job_id, value=value, end=self.clock.now(),
                            note=f"returned {value!r} after the search ended (kept here, not "
                                 "used by the scheduler)")
