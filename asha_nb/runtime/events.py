"""Events a running :class:`~asha_nb.Search` publishes to its subscribers, and its snapshots.

User callbacks register with ``search.subscribe(callback)``; a callback is called **on the
thread driving the loop** (never on two threads at once) with one event at a time, so it must be
quick (a control call from it is applied at once). The views (progress bar, dashboard) do not
subscribe: they poll snapshots and records, which costs the loop nothing per event. Core
scheduler events (:mod:`asha_nb.core.types`: ``TrialCreated``, ``ResultRecorded``, ``Promoted``,
``Stopped``, ``TrialCompleted``, ``TrialFailed``) are forwarded as they are; the runtime adds the
ones below. Times are seconds on the search's clock (wall or virtual) since it started.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.types import JobStatus, RungSnapshot

__all__ = [
    "SearchState",
    "JobStarted",
    "JobFinished",
    "IntermediateValue",
    "StateChanged",
    "ControlApplied",
    "RunningJobInfo",
    "SearchSnapshot",
]


class SearchState(str, enum.Enum):
    """Life cycle of a search (``search.state``; compares equal to its string value)."""

    CREATED = "created"  #: built, not started
    RUNNING = "running"  #: handing out jobs
    PAUSED = "paused"  #: no new jobs; running ones finish
    FINISHED = "finished"  #: the scheduler finished, the time budget or the target was reached
    STOPPED = "stopped"  #: ``stop()`` was called (or, in virtual time, nothing could run any more)
    FAILED = "failed"  #: the loop itself failed (e.g. the executor was lost); ``reason`` says why

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """Whether the search has ended (finished, stopped or failed)."""
        return self in (SearchState.FINISHED, SearchState.STOPPED, SearchState.FAILED)


@dataclass(frozen=True, slots=True)
class JobStarted:
    """A job was submitted to a worker slot."""

    job_id: int
    trial_id: int
    rung: int
    resource: float
    resume_from: float
    worker: int
    time: float
    bracket: int = 0


@dataclass(frozen=True, slots=True)
class JobFinished:
    """A job ended (or an attempt failed and will be retried: ``status`` RETRYING)."""

    job_id: int
    trial_id: int
    rung: int
    resource: float
    worker: int
    start: float
    time: float
    status: JobStatus
    value: float | None = None
    error: str | None = None
    bracket: int = 0


@dataclass(frozen=True, slots=True)
class IntermediateValue:
    """A value the objective reported while running (``trial.report(value, resource)``)."""

    job_id: int
    trial_id: int
    resource: float
    value: float
    time: float


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The search changed state (see :class:`SearchState`); ``reason`` says why it ended."""

    state: SearchState
    time: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ControlApplied:
    """A control command from another thread/cell was applied by the loop.

    ``command`` is ``"stop_trial"``, ``"add_trial"``, ``"pause"``, ``"resume"``, ``"stop"`` or
    ``"set_n_workers"``; ``args`` its arguments; ``result`` e.g. the new trial id.
    """

    command: str
    args: Mapping[str, Any]
    time: float
    result: Any = None


@dataclass(frozen=True, slots=True)
class RunningJobInfo:
    """A job out on a worker, as the dashboard's running-trials list shows it.

    ``stuck`` is ``True`` for a job past its timeout whose worker cannot be killed (a thread):
    it was recorded as failed, but its worker stays busy until the objective returns.
    ``stopping`` is ``True`` for a job whose trial was stopped (``stop_trial``, from any cell
    or the dashboard) while it runs: the job goes on until it really ends (an executor that can
    kill it ends it at once; a thread runs a plain or checkpoint objective to its end).
    """

    job_id: int
    trial_id: int
    rung: int
    resource: float
    worker: int
    start: float
    stuck: bool = False
    stopping: bool = False


@dataclass(frozen=True, slots=True)
class SearchSnapshot:
    """Immutable picture of a search, safe to read from any thread (``search.snapshot()``).

    Attributes
    ----------
    state
        A :class:`SearchState`.
    elapsed
        Seconds since the search started on its clock (0 before; it keeps counting while
        paused and stops when the search ends).
    paused_since
        Search time at which the current pause began (``None`` unless paused).
    n_workers, busy_workers, stuck_workers
        Worker slots, how many run a job now (stuck ones included), and how many of those run a
        job past its timeout that cannot be killed.
    n_started, n_finished, n_stopped, n_failed
        Trials created and given a first job; trials that completed the top rung, wait for a
        promotion or were not promoted when the search ended (``not_promoted``); stopped trials
        (rung rule, user, or waiting for a job when the search ended); failed trials.
    trial_counts
        Number of trials in each :class:`~asha_nb.core.TrialStatus` (by value).
    n_jobs, n_jobs_done
        Jobs handed out so far (rows of ``results()``), and jobs that ended (ok, failed or
        stopped; a retried attempt does not count).
    best_value, best_trial, best_config, best_resource
        Incumbent: best result at the highest resource reached (``None`` before any).
    best_any_value, best_any_trial, best_any_resource
        Best finite value at any rung so far (never gets worse).
    rungs
        Rung table rows.
    running
        The jobs out on workers now.
    mode
        ``"max"`` or ``"min"``.
    reason
        Why the search ended (empty while it runs).
    """

    state: SearchState
    elapsed: float
    n_workers: int
    busy_workers: int
    n_started: int
    n_finished: int
    n_stopped: int
    n_failed: int
    best_value: float | None
    best_trial: int | None
    best_config: Mapping[str, Any] | None
    best_resource: float | None
    rungs: tuple[RungSnapshot, ...] = field(default_factory=tuple)
    mode: str = "max"
    paused_since: float | None = None
    stuck_workers: int = 0
    trial_counts: Mapping[str, int] = field(default_factory=dict)
    n_jobs: int = 0
    n_jobs_done: int = 0
    best_any_value: float | None = None
    best_any_trial: int | None = None
    best_any_resource: float | None = None
    running: tuple[RunningJobInfo, ...] = field(default_factory=tuple)
    reason: str = ""
