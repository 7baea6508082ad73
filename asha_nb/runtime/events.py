"""Events a running :class:`~asha_nb.Search` publishes to its subscribers, and its snapshots.

Subscribers (the progress bar, the dashboard, user callbacks) register with
``search.subscribe(callback)``; the callback is called **on the runtime's loop thread** with one
event at a time, so it must be quick and must not call back into the search's control methods
synchronously (enqueueing is fine). Core scheduler events (:mod:`asha_nb.core.types`:
``TrialCreated``, ``ResultRecorded``, ``Promoted``, ``Stopped``, ``TrialCompleted``,
``TrialFailed``) are forwarded as they are; the runtime adds the ones below. Every event has a
``time`` in seconds since the search started (wall clock, measured by the runtime) where noted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.types import RungSnapshot

__all__ = [
    "JobStarted",
    "JobFinished",
    "IntermediateValue",
    "StateChanged",
    "ControlApplied",
    "RungRow",
    "SearchSnapshot",
]


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
    """A job ended. ``status`` is ``"ok"``, ``"failed"`` or ``"stopped"``."""

    job_id: int
    trial_id: int
    rung: int
    resource: float
    worker: int
    start: float
    time: float
    status: str
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
    """The search changed state: ``"created"``, ``"running"``, ``"paused"``, ``"finished"``
    (budget spent / scheduler finished / target reached), ``"stopped"`` (``stop()``) or
    ``"failed"`` (the loop itself crashed; ``reason`` says why)."""

    state: str
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


#: One row of the rung table shown by views: the core's rung snapshot, as it is.
RungRow = RungSnapshot


@dataclass(frozen=True, slots=True)
class SearchSnapshot:
    """Immutable picture of a search, safe to read from any thread (``search.snapshot()``).

    Attributes
    ----------
    state
        See :class:`StateChanged`.
    elapsed
        Seconds since the search started (0 before).
    n_workers, busy_workers
        Worker slots and how many run a job now.
    n_started, n_finished, n_stopped, n_failed
        Trial counts: trials created and given a first job; trials that completed the top rung
        or are paused waiting for promotion are "finished" jobs-wise (``n_finished`` counts
        trials whose last job ended ok); stopped and failed trials.
    best_value, best_trial, best_config, best_resource
        Incumbent (best at the highest resource reached), or ``None``.
    rungs
        Rung table rows.
    mode
        ``"max"`` or ``"min"``.
    """

    state: str
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
    rungs: tuple[RungRow, ...] = field(default_factory=tuple)
    mode: str = "max"
