"""Values exchanged with a scheduler: jobs, trial states, events and snapshots.

All of them are frozen dataclasses or enums, so they can be shared across threads and
journaled as they are.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Job",
    "TrialStatus",
    "JobStatus",
    "StopReason",
    "Event",
    "TrialCreated",
    "ResultRecorded",
    "Promoted",
    "Stopped",
    "TrialCompleted",
    "TrialFailed",
    "RungSnapshot",
    "TrialSnapshot",
    "SchedulerSnapshot",
]


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of work: train ``trial_id`` from ``resume_from`` up to ``resource``.

    Attributes
    ----------
    job_id
        Consecutive integer from 0, in the order the scheduler handed jobs out.
    trial_id
        The trial (configuration) this job trains.
    config
        The trial's hyperparameter configuration.
    rung
        Rung index whose result this job produces (0 = first rung of the trial's bracket).
    resource
        Total resource (epochs, steps, ...) the trial must have been trained to at the end.
    resume_from
        Resource the trial already has (0 for a new trial; the previous rung's resource for a
        promotion). With checkpoints, only ``resource - resume_from`` needs training.
    bracket
        Bracket index (always 0 for ASHA and SHA).
    """

    job_id: int
    trial_id: int
    config: Mapping[str, Any]
    rung: int
    resource: float
    resume_from: float = 0
    bracket: int = 0


class TrialStatus(str, enum.Enum):
    """Life cycle of a trial (the ``status`` of ``search.trials``)."""

    PENDING = "pending"  #: created, waiting for a worker
    RUNNING = "running"  #: a job is out for it
    PAUSED = "paused"  #: has a result below the top rung and may still be promoted (only
    #: while the search runs: :meth:`~asha_nb.core.Scheduler.close` stops such trials)
    COMPLETED = "completed"  #: has a result in the top rung of its bracket
    NOT_PROMOTED = "not_promoted"  #: has a result below the top rung, and the search ended
    #: before it was promoted (:meth:`~asha_nb.core.Scheduler.close`: nobody stopped it)
    STOPPED = "stopped"  #: stopped by the rung rule or by the user, or waiting for a job when
    #: the search ended (pending, or running: its job is ``interrupted``)
    FAILED = "failed"  #: its job raised, returned garbage, crashed its worker or timed out

    def __str__(self) -> str:
        return self.value


class JobStatus(str, enum.Enum):
    """Life cycle of one job, i.e. one trial at one rung (the ``status`` of ``results()``)."""

    RUNNING = "running"  #: out on a worker
    OK = "ok"  #: returned a value (NaN and inf included; ``error`` notes them)
    FAILED = "failed"  #: raised, returned no number, crashed its worker or timed out
    STOPPED = "stopped"  #: its trial was stopped while it ran (a value that came anyway is kept)
    INTERRUPTED = "interrupted"  #: the search ended while it ran (it runs again on resume)
    RETRYING = "retrying"  #: its attempt failed; it runs again (``retries=``)

    def __str__(self) -> str:
        return self.value


class StopReason(str, enum.Enum):
    """Why a trial was stopped."""

    RUNG = "rung"  #: not in the top 1/eta of its rung
    USER = "user"  #: ``stop_trial`` was called
    END = "end"  #: the search ended before the trial was promoted

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of scheduler events."""

    trial_id: int


@dataclass(frozen=True, slots=True)
class TrialCreated(Event):
    """A trial was created; ``source`` is ``"sampled"`` or ``"user"`` (``add_trial``)."""

    config: Mapping[str, Any] = field(default_factory=dict)
    bracket: int = 0
    source: str = "sampled"


@dataclass(frozen=True, slots=True)
class ResultRecorded(Event):
    """A job's value landed in a rung."""

    job_id: int = -1
    rung: int = 0
    resource: float = 0
    value: float = float("nan")
    bracket: int = 0


@dataclass(frozen=True, slots=True)
class Promoted(Event):
    """A trial moves from ``from_rung`` to ``to_rung`` (it will train to ``resource``)."""

    from_rung: int = 0
    to_rung: int = 1
    resource: float = 0
    bracket: int = 0


@dataclass(frozen=True, slots=True)
class Stopped(Event):
    """A trial was stopped at ``rung`` for ``reason``."""

    rung: int = 0
    reason: StopReason = StopReason.RUNG
    bracket: int = 0


@dataclass(frozen=True, slots=True)
class TrialCompleted(Event):
    """A trial reached the top rung of its bracket with ``value``."""

    rung: int = 0
    value: float = float("nan")
    bracket: int = 0


@dataclass(frozen=True, slots=True)
class TrialFailed(Event):
    """A job failed; the trial will not be promoted."""

    job_id: int = -1
    rung: int = 0
    error: str = ""
    bracket: int = 0


@dataclass(frozen=True, slots=True)
class RungSnapshot:
    """State of one rung.

    Attributes
    ----------
    bracket, rung, resource
        Where the rung is and the resource its results were measured at.
    n_results
        Completed results recorded in the rung.
    n_promoted
        Trials promoted out of it (or continued, for the stopping type).
    cutoff
        Worst value that is still inside the top ``floor(n_results / eta)`` (``None`` while that
        set is empty or for the top rung).
    """

    bracket: int
    rung: int
    resource: float
    n_results: int
    n_promoted: int
    cutoff: float | None


@dataclass(frozen=True, slots=True)
class TrialSnapshot:
    """State of one trial: its config, status, rung and one value per rung reached."""

    trial_id: int
    config: Mapping[str, Any]
    status: TrialStatus
    rung: int
    bracket: int
    values: tuple[tuple[int, float], ...]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SchedulerSnapshot:
    """Immutable picture of a scheduler: its rungs, its trials and whether it is finished."""

    rungs: tuple[RungSnapshot, ...]
    trials: tuple[TrialSnapshot, ...]
    is_finished: bool
    n_running: int
