"""The runtime: the one loop that drives a scheduler over an executor, in wall or virtual time.

:class:`Search` is the facade; its loop, control commands, records and journal restore live in
private modules. This is the only layer of asha_nb that owns threads and I/O.
"""

from __future__ import annotations

from ..clock import Clock, VirtualClock, WallClock
from ..results import JobRecord
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
from .journal import (
    CheckpointError,
    Journal,
    JournalError,
    JournalLockedError,
    JournalMismatchError,
)
from .search import ScheduledControls, Search, objective_fingerprint

__all__ = [
    "Search",
    "ScheduledControls",
    "SearchState",
    "Journal",
    "JournalMismatchError",
    "JournalError",
    "JournalLockedError",
    "CheckpointError",
    "JobRecord",
    "JobStarted",
    "JobFinished",
    "IntermediateValue",
    "StateChanged",
    "ControlApplied",
    "RunningJobInfo",
    "SearchSnapshot",
    "Clock",
    "WallClock",
    "VirtualClock",
    "objective_fingerprint",
]
