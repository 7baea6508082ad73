"""What happens to a job once it is out: its end, its timeout, its late value.

:class:`JobEndings` is the part of the runtime loop (:class:`~asha_nb.runtime._loop.Loop`) that
turns a resolved future into a record and a scheduler call: it validates the objective's value,
journals the call before acting on it, retries what may be retried, records what came too late,
and keeps the best-so-far histories. Only the loop thread runs it.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import logging
import math
import numbers
import sys
import time
from typing import TYPE_CHECKING, Any

from ..core import Job, JobStatus
from ..errors import ExecutorLostError
from ..executors import JobOutcome, RunningJob
from ..executors._worker import PickledCheckpoint, local_outcome
from .events import IntermediateValue, JobFinished

if TYPE_CHECKING:  # pragma: no cover
    import threading
    from collections import deque

    from ..clock import Clock
    from ..core import Event, Scheduler
    from ..executors import BaseExecutor
    from ._journaled import SchedulerCalls
    from ._records import RecordStore

__all__ = ["JobEndings", "describe_exception", "to_value"]

logger = logging.getLogger("asha_nb.runtime")

_INF = float("inf")
_NAN = float("nan")
_NINF = float("-inf")
_NONE_MSG = (
    "objective returned None; it must return a number, or (value, checkpoint) for the "
    "checkpoint form"
)


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
    """The objective's raw return value as a float, or ``(None, error message)``; never raises
    (a value that does not fit a float, or whose conversion fails, is an error message)."""
    if type(raw) is float:
        return raw, None
    try:
        return _to_value(raw)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the job's error
        return None, (f"objective returned a {type(raw).__name__} that cannot be converted to "
                      f"a float ({type(exc).__name__}: {exc}); it must return one number")


def _too_large(raw: Any) -> str:
    text = str(raw) if not isinstance(raw, int) or raw.bit_length() < 4000 else "a huge int"
    if len(text) > 40:
        text = f"{text[:12]}...{text[-6:]} ({len(text)} characters)"
    return (f"objective returned {text} ({type(raw).__name__}), which does not fit a float "
            f"(largest: {sys.float_info.max:.3g}); it must return one number a float can hold")


def _to_value(raw: Any) -> tuple[float | None, str | None]:
    if raw is None:
        return None, _NONE_MSG
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        try:
            return float(raw), None
        except OverflowError:
            return None, _too_large(raw)
    shape = getattr(raw, "shape", None)
    if shape is not None and callable(getattr(raw, "item", None)):
        if tuple(shape) == ():
            try:
                item = raw.item()
            except Exception as exc:  # noqa: BLE001 - reported as the job's error
                return None, f"objective returned a 0-d {type(raw).__name__} whose .item() failed: {exc}"
            if isinstance(item, numbers.Real) and not isinstance(item, bool):
                try:
                    return float(item), None
                except OverflowError:
                    return None, _too_large(item)
        return None, (f"objective returned a {type(raw).__name__} of shape {tuple(shape)}; it "
                      "must return one number (e.g. float(loss) or loss.item())")
    return None, (f"objective returned {raw!r:.100} ({type(raw).__name__}); it must return a "
                  "number, or (value, checkpoint) for the checkpoint form")


class JobEndings:
    """Mixin of the loop: the end of each job (see the module docstring)."""

    if TYPE_CHECKING:  # the loop's state this mixin works on (set in Loop.__init__)
        scheduler: Scheduler
        executor: BaseExecutor
        clock: Clock
        calls: SchedulerCalls
        store: RecordStore
        inflight: dict[int, RunningJob]
        free: list[int]
        pending: deque[tuple[Job, int]]
        checkpoints: dict[int, tuple[float, Any]]
        curves: dict[int, list[tuple[float, float]]]
        finished_ids: list[int]
        incumbents: list[tuple[float, int, float, float]]
        best_any: list[tuple[float, int, float, float]]
        lock: threading.RLock
        n_workers: int
        n_done: int
        n_retried: int
        retries: int
        job_timeout: float | None
        target: float | None
        mode: str
        virtual: bool
        fast: bool
        listening: bool
        _sign: float
        _inc: tuple[int, float, float] | None
        _inc_key: tuple[float, float] | None
        _best_any_signed: float | None
        _dirty: bool
        _last_reports: float

        def publish(self, event: Any) -> None: ...
        def publish_all(self, events: list[Event]) -> None: ...
        def request_end(self, reason: str, *, stopped: bool = False,
                        failed: bool = False) -> None: ...

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

    def release(self, fl: RunningJob) -> None:
        if fl.worker < self.n_workers:
            heapq.heappush(self.free, fl.worker)

    def complete(self, fl: RunningJob) -> None:
        """Handle a job whose future resolved (loop thread)."""
        job = fl.job
        if self.inflight.get(job.job_id) is not fl:
            return  # already handled (e.g. a callback after the search ended)
        if self.fast and fl.timed_out is None and not fl.user_stopped:
            fut: Any = fl.future
            if self.virtual:
                outcome_ = fut.outcome
            else:
                try:
                    outcome_ = fut.result()
                except BaseException:  # noqa: BLE001 - the general path below says why
                    outcome_ = None
            if outcome_ is not None and outcome_.error is None and not outcome_.intermediate \
                    and outcome_.checkpoint is None and type(outcome_.value) is float \
                    and outcome_.note is None:
                # The common case: a plain value, no journal, no subscriber.
                fast_value: float = outcome_.value
                del self.inflight[job.job_id]
                if fl.worker < self.n_workers:
                    heapq.heappush(self.free, fl.worker)
                now = self.clock.now()
                if self.virtual:
                    started = fl.start
                else:
                    d = outcome_.duration
                    if d > 0:
                        started = now - d
                        if started < fl.start:
                            started = fl.start
                    else:
                        known = self.started_time(fl, None, now)
                        started = _NAN if known is None else known
                self.n_done += 1
                self._dirty = True
                self.calls.report(job, fast_value, now)
                if fast_value == fast_value and fast_value not in (_INF, _NINF):
                    self.track_best(job.trial_id, job.resource, fast_value, now)
                    note = fl.note
                else:
                    note = f"objective returned {fast_value!r}"
                self.finished_ids.append(job.job_id)
                self.store.finish_ok(job.job_id, now, fast_value, note, started)
                if self.target is not None:
                    self.check_target(fast_value)
                return
        outcome: JobOutcome | None = None
        exc: BaseException | None = None
        try:
            outcome = fl.future.result()
        except BaseException as e:  # noqa: BLE001 - becomes the job's error
            exc = e
        if outcome is not None and outcome.intermediate and not self.virtual:
            self.drain_reports()  # values streamed before the end go first
        del self.inflight[job.job_id]
        self.release(fl)
        now = self.clock.now()
        self.store.set_started(job.job_id, self.started_time(fl, outcome, now))
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
            self.store.mark(job.job_id, JobStatus.INTERRUPTED, end=now, error=str(exc))
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
        calls = self.calls

        if fl.timed_out is not None:  # already failed at its deadline: keep what came late
            note = fl.timed_out
            if value is not None:
                note += (f"; the job could not be killed and returned {value!r} at "
                         f"{now:.3f} s (kept here, not used by the scheduler)")
            self.store.mark(job.job_id, end=now, value=value, error=note)
            if value is not None:
                calls.late_value(job, value, now)
            return

        if fl.user_stopped:
            note = None
            if value is not None and (outcome is None or not outcome.stopped):
                # It ran to the end anyway: its rung keeps the value (never promoted).
                events = calls.report(job, value, now)
                self.track_best(job.trial_id, job.resource, value, now)
            else:
                if value is not None:
                    note = ("stopped before the end of its job: a partial value, not recorded "
                            "in the rung")
                events = calls.fail(job, "stopped by user", now)
            self.finish_job(fl, JobStatus.STOPPED, value, note, now, events)
            return

        if error is not None:
            retryable = (exc is not None and "crashed" in error) or (
                outcome is not None and outcome.error is not None)
            if retryable and fl.attempt < self.retries:
                self.n_retried += 1
                self.pending.appendleft((job, fl.attempt + 1))
                self.store.mark(job.job_id, JobStatus.RETRYING, end=now, error=error)
                if self.listening:
                    self.publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource,
                                             fl.worker, fl.start, now, JobStatus.RETRYING, None,
                                             error, job.bracket))
                return
            events = calls.fail(job, error, now)
            self.finish_job(fl, JobStatus.FAILED, None, error, now, events)
            return

        assert value is not None and outcome is not None
        notes = [] if math.isfinite(value) else [f"objective returned {value!r}"]
        if type(outcome.checkpoint) is PickledCheckpoint:  # an executor left it pickled
            outcome = local_outcome(outcome)
        if outcome.note is not None:  # e.g. a checkpoint that could not leave its process
            notes.append(outcome.note)
            logger.warning("asha_nb: trial %s: %s", job.trial_id, outcome.note)
        checkpoint = outcome.checkpoint
        if checkpoint is not None:
            self.checkpoints[job.trial_id] = (job.resource, checkpoint)
            try:
                calls.save_checkpoint(job.trial_id, job.resource, checkpoint, now)
            except Exception as e:  # noqa: BLE001 - only this trial is affected
                saved = (f"checkpoint not saved ({type(e).__name__}: {e}); a resumed "
                         "search retrains this trial from scratch")
                notes.append(saved)
                logger.warning("asha_nb: trial %s: %s", job.trial_id, saved)
        note = "; ".join(notes) if notes else None
        events = calls.report(job, value, now)
        self.track_best(job.trial_id, job.resource, value, now)
        self.finish_job(fl, JobStatus.OK, value, note, now, events)
        if self.target is not None:
            self.check_target(value)

    def started_time(self, fl: RunningJob, outcome: JobOutcome | None, now: float) -> float | None:
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

    def check_target(self, value: float) -> None:
        target = self.target
        if target is not None and math.isfinite(value):
            if (value >= target) if self.mode == "max" else (value <= target):
                self.request_end("target reached")

    def finish_job(self, fl: RunningJob, status: JobStatus, value: float | None, error: str | None,
                   now: float, events: list[Event]) -> None:
        job = fl.job
        if fl.note is not None:
            error = fl.note if error is None else f"{error}; {fl.note}"
        self.finished_ids.append(job.job_id)
        self.store.mark(job.job_id, status, end=now, value=value, error=error)
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
        knows_starts = bool(getattr(self.executor, "reports_starts", False))
        for fl in list(self.inflight.values()):
            if fl.timed_out is not None or fl.user_stopped:
                continue
            t0 = fl.started_at
            if t0 is None:
                if knows_starts:
                    continue  # still queued in the executor: its time has not begun
                t0 = fl.submitted
            if mono - t0 < timeout:
                continue
            job = fl.job
            now = self.clock.now()
            error = f"timed out after {timeout:g} s"
            fl.timed_out = error
            self.store.set_started(job.job_id, self.started_time(fl, None, now))
            events = self.calls.fail(job, error, now)
            self.store.mark(job.job_id, JobStatus.FAILED, end=None, value=None, error=error)
            if self.listening:
                self.publish(JobFinished(job.job_id, job.trial_id, job.rung, job.resource,
                                         fl.worker, fl.start, now, JobStatus.FAILED, None, error,
                                         job.bracket))
                self.publish_all(events)
            self.executor.stop_job(fl)  # kill, or set the cooperative stop flag
            self._dirty = True

    def next_timeout_in(self) -> float | None:
        timeout = self.job_timeout
        if timeout is None or self.executor.handles_timeouts:
            return None
        mono = time.monotonic()
        knows_starts = bool(getattr(self.executor, "reports_starts", False))
        waits = []
        for fl in self.inflight.values():
            if fl.timed_out is not None or fl.user_stopped:
                continue
            t0 = fl.started_at
            if t0 is None:
                if knows_starts:
                    continue  # not started: the loop's regular wake-ups look again
                t0 = fl.submitted
            waits.append(timeout - (mono - t0))
        return max(0.0, min(waits)) if waits else None

    # ------------------------------------------------------------------ the loop
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
            self.store.mark(fl.job.job_id, value=value, end=self.clock.now(),
                            note=f"returned {value!r} after the search ended (kept here, not "
                                 "used by the scheduler)")

