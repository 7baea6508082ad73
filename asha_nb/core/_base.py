"""The scheduler contract and its transitions: jobs issued, results recorded, failures, the user's
levers, the end. The state they change and its read side live in :mod:`._state`."""

from __future__ import annotations

import abc
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidParameterError, InvalidTypeError, SearchStateError
from ._state import _SchedulerState, _Trial
from .types import (
    Event,
    Job,
    Promoted,
    ResultRecorded,
    Stopped,
    StopReason,
    TrialCreated,
    TrialFailed,
    TrialStatus,
)

__all__ = ["Scheduler"]


def _check_value(value: Any) -> float:
    if type(value) is float:  # fast path: the common case skips the ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(
            f"value must be a real number (the objective's result), got {value!r} "
            f"({type(value).__name__}); use fail(job, error) for a job that produced no number"
        )
    return float(value)


class Scheduler(_SchedulerState):
    """Base class of the pure scheduler state machines.

    A scheduler never looks at a clock, starts a thread or does I/O. It is driven by
    :meth:`next_job` (a worker is free), :meth:`report` / :meth:`fail` (a job ended) and the
    user's levers :meth:`add_trial` and :meth:`stop_trial`; :meth:`close` ends it. Its only
    randomness is one ``numpy.random.Generator`` seeded from ``seed``: the same seed and the
    same calls give the same jobs.

    Every call reports the events it caused: :meth:`report`, :meth:`fail`,
    :meth:`stop_trial` and :meth:`close` return them; :meth:`next_job` and :meth:`add_trial`
    append them to the ``events`` list passed in (``TrialCreated`` for a new trial,
    ``Promoted`` for a promotion of the asynchronous schedulers). A driver never has to derive an
    event from the scheduler's state.
    """

    # ------------------------------------------------------------------ contract
    @abc.abstractmethod
    def next_job(self, events: list[Event] | None = None) -> Job | None:
        """Ask for work for a free worker.

        Parameters
        ----------
        events
            If given, the events this call causes are appended to it: ``TrialCreated`` when a
            new configuration is sampled, ``Promoted`` when an asynchronous scheduler promotes
            a trial (synchronous schedulers promote when a rung's barrier opens, in
            :meth:`report`).

        Returns
        -------
        Job or None
            ``None`` means nothing can run now: a synchronous rung barrier, a concurrency cap,
            or the trial budget is spent. :attr:`is_finished` tells these apart.
        """

    def report(self, job: Job, value: float) -> list[Event]:
        """Record the value ``job`` produced and return the events it caused.

        NaN and infinite values are accepted: they rank worst and are never promoted.

        Raises
        ------
        InvalidTypeError
            If ``value`` is not a real number.
        SearchStateError
            If ``job`` is not a job handed out by this scheduler that is still running.
        """
        value = _check_value(value)
        job_id = job.job_id
        if job_id in self._running:
            del self._running[job_id]
            trial = self._trials[job.trial_id]
            trial.job = None
            events: list[Event] = [
                ResultRecorded(job.trial_id, job_id, job.rung, job.resource, value, job.bracket)
            ]
            self._on_job_done(job)
            events.extend(self._record(trial, job, value))
            return events
        if job_id in self._orphans:
            del self._orphans[job_id]
            trial = self._trials[job.trial_id]
            self._record_orphan(trial, job, value)
            return [ResultRecorded(job.trial_id, job_id, job.rung, job.resource, value, job.bracket)]
        raise SearchStateError(
            f"job {job_id} (trial {job.trial_id}) is not running: it was already reported or "
            "failed, or it was not handed out by this scheduler"
        )

    def fail(self, job: Job, error: BaseException | str) -> list[Event]:
        """Mark ``job`` as failed; its trial is never promoted. Returns the events caused."""
        job_id = job.job_id
        trial = self._trials[job.trial_id] if 0 <= job.trial_id < len(self._trials) else None
        if job_id in self._orphans:
            del self._orphans[job_id]
            return []
        if job_id not in self._running or trial is None:
            raise SearchStateError(
                f"job {job_id} (trial {job.trial_id}) is not running: it was already reported or "
                "failed, or it was not handed out by this scheduler"
            )
        del self._running[job_id]
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        trial.job = None
        self._set_status(trial, TrialStatus.FAILED)
        trial.error = text
        self._on_job_done(job)
        events: list[Event] = [TrialFailed(trial.trial_id, job_id, job.rung, text, job.bracket)]
        events.extend(self._after_resolved(trial, job.rung))
        return events

    def add_trial(
        self, config: Mapping[str, Any], *, check: bool = True, events: list[Event] | None = None
    ) -> int:
        """Add a user-proposed configuration; it enters rung 0 with the next free worker.

        Parameters
        ----------
        config
            Values for some or all parameters of the space; missing ones are sampled, unknown
            ones are an error.
        check
            Refuse values outside their domain (default). ``check=False`` lets you add an
            out-of-range configuration on purpose.
        events
            If given, the ``TrialCreated`` event is appended to it.

        Returns
        -------
        int
            The new trial's id.
        """
        full = self.space.complete(config, self._rng, check=check)
        bracket = self._bracket_for_user_trial()
        trial = self._new_trial(full, bracket, "user", events)
        self._user_queue.append(trial.trial_id)
        self._on_user_trial(trial)
        return trial.trial_id

    def stop_trial(self, trial_id: int) -> list[Event]:
        """Stop a trial: it will not be (re)started or promoted.

        A running job's late result is still recorded (no result is lost) but does not make
        the trial promotable. Stopping a trial that already ended does nothing.
        """
        n = len(self._trials)
        if isinstance(trial_id, bool) or not isinstance(trial_id, numbers.Integral):
            raise InvalidTypeError(f"trial_id must be an integer, got {trial_id!r}")
        if not 0 <= trial_id < n:
            raise InvalidParameterError(
                f"trial_id must be an existing trial id between 0 and {n - 1}, got {trial_id}"
                if n
                else f"trial_id {trial_id} does not exist: no trial has been created yet"
            )
        trial = self._trials[trial_id]
        status = trial.status
        if status in (TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.FAILED,
                      TrialStatus.NOT_PROMOTED):
            return []
        if status is TrialStatus.RUNNING:
            job = trial.job
            assert job is not None
            del self._running[job.job_id]
            self._orphans[job.job_id] = job
            trial.job = None
            self._on_job_done(job)
        self._set_status(trial, TrialStatus.STOPPED)
        self._on_user_stop(trial, status)
        events: list[Event] = [Stopped(trial_id, trial.rung, StopReason.USER, trial.bracket)]
        if status in (TrialStatus.RUNNING, TrialStatus.PENDING):
            events.extend(self._after_resolved(trial, trial.rung))
        return events

    def close(self) -> list[Event]:
        """End the search: every trial still waiting for a promotion (``PAUSED``) becomes
        ``NOT_PROMOTED``; one waiting for its first or next job (``PENDING``) or whose job is
        still out (``RUNNING``: the search ended under it) becomes ``STOPPED``. Both get a
        ``Stopped`` event with :attr:`StopReason.END`.

        A job still out may still report: its value is recorded, never promoted (as after
        :meth:`stop_trial`). A closed scheduler hands out no more jobs. Returns the ``Stopped``
        events.
        """
        self._closed = True  # nothing is promoted any more: the rungs need no update
        events: list[Event] = []
        waiting = (TrialStatus.PAUSED, TrialStatus.PENDING)
        for t in self._trials:
            status = t.status
            if status is TrialStatus.RUNNING:
                job = t.job
                assert job is not None
                del self._running[job.job_id]
                self._orphans[job.job_id] = job
                t.job = None
                self._on_job_done(job)
            elif status not in waiting:
                continue
            # A trial waiting for a promotion was simply not promoted; one waiting for a job
            # (or whose job was out) was stopped by the end.
            self._set_status(t, TrialStatus.NOT_PROMOTED if status is TrialStatus.PAUSED
                             else TrialStatus.STOPPED)
            events.append(Stopped(t.trial_id, t.rung, StopReason.END, t.bracket))
        return events

    # ------------------------------------------------------------------ helpers for subclasses
    def _set_status(self, trial: _Trial, status: TrialStatus) -> None:
        counts = self._counts
        counts[trial.status] -= 1
        counts[status] += 1
        trial.status = status

    def _new_trial(self, config: dict[str, Any], bracket: int, source: str,
                   events: list[Event] | None) -> _Trial:
        trial = _Trial(len(self._trials), config, bracket, source)
        self._trials.append(trial)
        self._counts[TrialStatus.PENDING] += 1
        self._on_trial_created(trial)
        if events is not None:
            events.append(TrialCreated(trial.trial_id, config, bracket, source))
        return trial

    def _issue(self, trial: _Trial, rung: int, resources: list[float]) -> Job:
        job = Job(
            self._next_job_id,
            trial.trial_id,
            trial.config,
            rung,
            resources[rung],
            resources[rung - 1] if rung > 0 else 0,
            trial.bracket,
        )
        self._next_job_id += 1
        counts = self._counts
        counts[trial.status] -= 1
        counts[TrialStatus.RUNNING] += 1
        trial.status = TrialStatus.RUNNING
        trial.rung = rung
        trial.job = job
        self._running[job.job_id] = job
        return job

    def _promoted(self, trial: _Trial, from_rung: int, resources: list[float],
                  events: list[Event] | None) -> None:
        if events is not None:
            events.append(Promoted(trial.trial_id, from_rung, from_rung + 1,
                                   resources[from_rung + 1], trial.bracket))

    def _pop_user_trial(self, blocked: Callable[[_Trial], bool] | None = None) -> _Trial | None:
        """The oldest user-added trial still waiting for its first job, taken off the queue.

        ``blocked(trial)`` True keeps a trial queued (e.g. its bracket is at its concurrency
        cap) and looks at the next one.
        """
        queue = self._user_queue
        trials = self._trials
        while queue and trials[queue[0]].status is not TrialStatus.PENDING:
            queue.popleft()  # stopped before it ever ran
        if not queue:
            return None
        if blocked is None:
            return trials[queue.popleft()]
        for i, tid in enumerate(queue):
            trial = trials[tid]
            if trial.status is TrialStatus.PENDING and not blocked(trial):
                del queue[i]
                return trial
        return None

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _record(self, trial: _Trial, job: Job, value: float) -> list[Event]:
        """Put a fresh result into its rung and decide what follows."""

    def _record_orphan(self, trial: _Trial, job: Job, value: float) -> None:
        """A stopped trial's late result: keep it, never promote it."""

    def _on_job_done(self, job: Job) -> None:
        """A job left the running set (reported, failed or stopped)."""

    def _on_trial_created(self, trial: _Trial) -> None:
        """A trial was just created."""

    def _on_user_trial(self, trial: _Trial) -> None:
        """A user-added trial was just queued."""

    def _on_user_stop(self, trial: _Trial, previous: TrialStatus) -> None:
        """``stop_trial`` (or ``close``) changed ``trial`` from ``previous`` to STOPPED."""

    def _after_resolved(self, trial: _Trial, rung: int) -> list[Event]:
        """A trial's place in ``rung`` is settled without a result (failed or stopped)."""
        return []

    def _bracket_for_user_trial(self) -> int:
        return 0
