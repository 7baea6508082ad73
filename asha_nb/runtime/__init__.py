"""The runtime: :class:`Search` (the loop over executors), its events, journal and progress bar.

This is the only layer of asha_nb that owns threads, wall time and I/O.
"""

from __future__ import annotations

from typing import Any

from .events import (
    ControlApplied,
    IntermediateValue,
    JobFinished,
    JobStarted,
    RungRow,
    SearchSnapshot,
    StateChanged,
)
from .journal import Journal, JournalMismatchError
from .search import Search

__all__ = [
    "Search",
    "Trial",
    "Journal",
    "JournalMismatchError",
    "JobStarted",
    "JobFinished",
    "IntermediateValue",
    "StateChanged",
    "ControlApplied",
    "RungRow",
    "SearchSnapshot",
]


def __getattr__(name: str) -> Any:
    if name == "Trial":  # the objective's trial context lives with the worker code
        from .._trial import Trial  # type: ignore[import-not-found]

        return Trial
    raise AttributeError(f"module 'asha_nb.runtime' has no attribute {name!r}")
