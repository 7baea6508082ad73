"""The loop's one way to the scheduler: every call, journaled (or not) in one place.

:class:`SchedulerCalls` passes the scheduler calls through and drops the other operations (a
search without a journal); :class:`JournaledScheduler` appends each operation to the journal
*before* it acts (a scheduler call) or right when it happens (a job start, a retry, a state),
one row per :class:`~asha_nb.runtime._ops.JournalOp`. The loop picks one of the two when it is
built and never asks whether a journal exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..clock import Clock
from ..core import Event, Job, Scheduler
from ._ops import JournalOp
from .journal import Journal

__all__ = ["SchedulerCalls", "JournaledScheduler", "scheduler_calls"]


class SchedulerCalls:
    """The scheduler calls of the loop, with no journal: the operations that are not
    scheduler calls do nothing.

    Parameters
    ----------
    scheduler
        The search's scheduler (only the loop's thread calls it).
    clock
        The search's clock (the time of a ``next_job`` row).
    """

    #: Whether operations reach a journal.
    journaled = False

    def __init__(self, scheduler: Scheduler, clock: Clock) -> None:
        self.scheduler = scheduler
        self.clock = clock

    # ------------------------------------------------------------------ scheduler calls
    def next_job(self, events: list[Event] | None = None) -> Job | None:
        """``scheduler.next_job(events)`` (:attr:`JournalOp.NEXT_JOB`)."""
        return self.scheduler.next_job(events)

    def report(self, job: Job, value: float, now: float,
               started: float | None = None) -> list[Event]:
        """``scheduler.report(job, value)`` (:attr:`JournalOp.REPORT`); ``started``: when the
        job's objective began (journaled with it, for the records of a resumed search)."""
        return self.scheduler.report(job, value)

    def fail(self, job: Job, error: str, now: float,
             started: float | None = None) -> list[Event]:
        """``scheduler.fail(job, error)`` (:attr:`JournalOp.FAIL`); ``started`` as for
        :meth:`report`."""
        return self.scheduler.fail(job, error)

    def add_trial(self, config: Mapping[str, Any], check: bool, events: list[Event] | None,
                  now: float) -> int:
        """``scheduler.add_trial(config, check=check)`` (:attr:`JournalOp.ADD_TRIAL`)."""
        return self.scheduler.add_trial(config, check=check, events=events)

    def stop_trial(self, trial_id: int, now: float) -> list[Event]:
        """``scheduler.stop_trial(trial_id)`` (:attr:`JournalOp.STOP_TRIAL`)."""
        return self.scheduler.stop_trial(trial_id)

    # ------------------------------------------------------------------ the other operations
    def job_started(self, job: Job, worker: int, now: float) -> None:
        """A job went to ``worker`` (:attr:`JournalOp.JOB_STARTED`)."""

    def retry(self, job: Job, attempt: int, now: float) -> None:
        """Attempt ``attempt`` of a failed job runs (:attr:`JournalOp.RETRY`)."""

    def late_value(self, job: Job, value: float, now: float) -> None:
        """A timed-out job returned ``value`` after all (:attr:`JournalOp.LATE_VALUE`)."""

    def control(self, command: str, args: Mapping[str, Any], now: float) -> None:
        """A control command was applied (:attr:`JournalOp.CONTROL`)."""

    def state(self, state: str, now: float) -> None:
        """The search's state changed (:attr:`JournalOp.STATE`)."""

    def save_checkpoint(self, trial_id: int, resource: float, checkpoint: Any,
                        now: float) -> None:
        """Keep a trial's checkpoint on disk (:attr:`JournalOp.CHECKPOINT`); raises
        :class:`~asha_nb.errors.CheckpointError` if it cannot."""

    def load_checkpoint(self, trial_id: int) -> tuple[float, Any] | None:
        """``(resource, checkpoint)`` of a trial from disk, or ``None``."""
        return None

    def close(self) -> None:
        """The last operation was written (the search ended)."""


class JournaledScheduler(SchedulerCalls):
    """The scheduler calls of the loop, each appended to ``journal`` before it acts.

    Parameters
    ----------
    scheduler, clock
        As for :class:`SchedulerCalls`.
    journal
        The open journal of the search (this object closes it in :meth:`close`).
    """

    journaled = True

    def __init__(self, scheduler: Scheduler, clock: Clock, journal: Journal) -> None:
        super().__init__(scheduler, clock)
        self.journal = journal
        self._append = journal.append

    def next_job(self, events: list[Event] | None = None) -> Job | None:
        job = self.scheduler.next_job(events)
        if job is not None:
            self._append(JournalOp.NEXT_JOB, time=self.clock.now(), job_id=job.job_id,
                         trial_id=job.trial_id, rung=job.rung, value=float(job.resource),
                         data=dict(job.config))
        return job

    def report(self, job: Job, value: float, now: float,
               started: float | None = None) -> list[Event]:
        # a non-finite value keeps its exact self in the row's data instead (journal.append)
        self._append(JournalOp.REPORT, time=now, job_id=job.job_id, trial_id=job.trial_id,
                     value=value, data=_began(started) if value - value == 0.0 else None)
        return self.scheduler.report(job, value)

    def fail(self, job: Job, error: str, now: float,
             started: float | None = None) -> list[Event]:
        self._append(JournalOp.FAIL, time=now, job_id=job.job_id, trial_id=job.trial_id,
                     text=error, data=_began(started))
        return self.scheduler.fail(job, error)

    def add_trial(self, config: Mapping[str, Any], check: bool, events: list[Event] | None,
                  now: float) -> int:
        # Journaled before it acts; a refused config raises the same way on replay.
        self._append(JournalOp.ADD_TRIAL, time=now, trial_id=self.scheduler.n_trials,
                     data={"config": dict(config), "check": check})
        return self.scheduler.add_trial(config, check=check, events=events)

    def stop_trial(self, trial_id: int, now: float) -> list[Event]:
        self._append(JournalOp.STOP_TRIAL, time=now, trial_id=trial_id)
        return self.scheduler.stop_trial(trial_id)

    def job_started(self, job: Job, worker: int, now: float) -> None:
        self._append(JournalOp.JOB_STARTED, time=now, job_id=job.job_id,
                     trial_id=job.trial_id, text=str(worker))

    def retry(self, job: Job, attempt: int, now: float) -> None:
        self._append(JournalOp.RETRY, time=now, job_id=job.job_id, trial_id=job.trial_id,
                     text=str(attempt))

    def late_value(self, job: Job, value: float, now: float) -> None:
        if self.journal.is_open:
            self._append(JournalOp.LATE_VALUE, time=now, job_id=job.job_id,
                         trial_id=job.trial_id, value=value)

    def control(self, command: str, args: Mapping[str, Any], now: float) -> None:
        self._append(JournalOp.CONTROL, time=now, text=str(command), data=dict(args))

    def state(self, state: str, now: float) -> None:
        if self.journal.is_open:
            self._append(JournalOp.STATE, time=now, text=str(state))

    def save_checkpoint(self, trial_id: int, resource: float, checkpoint: Any,
                        now: float) -> None:
        self.journal.save_checkpoint(trial_id, resource, checkpoint, time=now)

    def load_checkpoint(self, trial_id: int) -> tuple[float, Any] | None:
        return self.journal.load_checkpoint(trial_id)

    def close(self) -> None:
        self.journal.close()


def scheduler_calls(scheduler: Scheduler, clock: Clock,
                    journal: Journal | None) -> SchedulerCalls:
    """The loop's calls to ``scheduler``: journaled when there is a journal."""
    if journal is None:
        return SchedulerCalls(scheduler, clock)
    return JournaledScheduler(scheduler, clock, journal)


def _began(started: float | None) -> dict[str, float] | None:
    """The ``data`` of a report or fail row: when the job's objective began, if known."""
    return None if started is None or started != started else {"started": float(started)}
