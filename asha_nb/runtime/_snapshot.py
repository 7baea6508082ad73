"""Immutable snapshots of a running search, built on the thread driving the loop, and the
cache readers take them from."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from ..core import Scheduler, TrialStatus
from ..executors import RunningJob
from .events import RunningJobInfo, SearchSnapshot, SearchState

__all__ = ["build_snapshot", "Snapshots"]

_EVERY = 0.05  # seconds of wall time between two refreshes while the loop runs


def build_snapshot(sched: Scheduler, running_jobs: Iterable[RunningJob], *,
                   state: SearchState, elapsed: float, n_workers: int, mode: str,
                   paused_since: float | None, reason: str, n_jobs: int, n_jobs_done: int,
                   best_any: tuple[float, int, float, float] | None) -> SearchSnapshot:
    """A :class:`SearchSnapshot` of a search now (loop thread, or no loop running)."""
    counts = sched.status_counts()
    best = sched.best()
    best_cfg = None if best is None else dict(sched.trial_config(best[0]))
    running = tuple(
        RunningJobInfo(fl.spec.job.job_id, fl.spec.job.trial_id, fl.spec.job.rung,
                       fl.spec.job.resource, fl.spec.worker, fl.start, fl.timed_out is not None,
                       sched.trial_status(fl.spec.job.trial_id) is TrialStatus.STOPPED)
        for fl in running_jobs
    )
    return SearchSnapshot(
        state=state,
        elapsed=elapsed,
        n_workers=n_workers,
        busy_workers=len(running),
        n_started=sched.n_trials - sched.n_queued,
        n_finished=(counts[TrialStatus.PAUSED] + counts[TrialStatus.COMPLETED]
                    + counts[TrialStatus.NOT_PROMOTED]),
        n_stopped=counts[TrialStatus.STOPPED],
        n_failed=counts[TrialStatus.FAILED],
        best_value=None if best is None else best[1],
        best_trial=None if best is None else best[0],
        best_config=best_cfg,
        best_resource=None if best is None else best[2],
        rungs=sched.rung_snapshots(),
        mode=mode,
        paused_since=paused_since if not state.is_terminal else None,
        stuck_workers=sum(1 for r in running if r.stuck),
        trial_counts={str(k): v for k, v in counts.items()},
        n_jobs=n_jobs,
        n_jobs_done=n_jobs_done,
        best_any_value=None if best_any is None else best_any[2],
        best_any_trial=None if best_any is None else best_any[1],
        best_any_resource=None if best_any is None else best_any[3],
        running=running,
        reason=reason,
    )


class Snapshots:
    """The latest snapshot of a search, refreshed by the thread driving the loop at most
    every 50 ms of wall time (or at once with ``force``), only when something changed.

    Parameters
    ----------
    build
        Builds a snapshot of the search now.
    """

    def __init__(self, build: Callable[[], SearchSnapshot]) -> None:
        self._build = build
        self._latest: SearchSnapshot | None = None
        self._time = -1.0
        self._lock = threading.Lock()
        #: Whether something a snapshot shows changed since the last one.
        self.dirty = True

    def touch(self) -> None:
        """Something a snapshot shows changed."""
        self.dirty = True

    def refresh(self, force: bool = False) -> None:
        """Build a new snapshot if something changed (and 50 ms passed, unless ``force``)."""
        if not (force or self.dirty):
            return
        mono = time.monotonic()
        if not force and mono - self._time < _EVERY:
            return
        self._time = mono
        self.dirty = False
        snap = self._build()
        with self._lock:
            self._latest = snap

    def latest(self) -> SearchSnapshot:
        """The latest snapshot (built now if there is none yet)."""
        with self._lock:
            snap = self._latest
        return self._build() if snap is None else snap
