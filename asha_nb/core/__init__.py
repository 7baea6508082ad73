"""Pure scheduler state machines: ASHA, SHA, Hyperband, AsyncHyperband.

Nothing in this package looks at a clock, starts a thread, does I/O or touches a global random
state: a scheduler is driven only by ``next_job()``, ``report(job, value)``,
``fail(job, error)``, ``add_trial(config)`` and ``stop_trial(trial_id)``.
"""

from __future__ import annotations

from ._base import Scheduler
from ._brackets import rung_resources
from .asha import ASHA
from .hyperband import AsyncHyperband, Hyperband
from .rungs import Rung
from .sha import SHA
from .types import (
    Event,
    Job,
    JobStatus,
    Promoted,
    ResultRecorded,
    RungSnapshot,
    SchedulerSnapshot,
    Stopped,
    StopReason,
    TrialCompleted,
    TrialCreated,
    TrialFailed,
    TrialSnapshot,
    TrialStatus,
)

__all__ = [
    "Scheduler",
    "ASHA",
    "SHA",
    "Hyperband",
    "AsyncHyperband",
    "Rung",
    "rung_resources",
    "Job",
    "Event",
    "TrialCreated",
    "ResultRecorded",
    "Promoted",
    "Stopped",
    "StopReason",
    "TrialCompleted",
    "TrialFailed",
    "TrialStatus",
    "JobStatus",
    "RungSnapshot",
    "TrialSnapshot",
    "SchedulerSnapshot",
]
