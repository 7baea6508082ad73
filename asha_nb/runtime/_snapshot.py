"""Immutable snapshots of a running search, built on the loop thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import TrialStatus
from .events import RunningJobInfo, SearchSnapshot

if TYPE_CHECKING:  # pragma: no cover
    from ._loop import Loop

__all__ = ["build_snapshot"]


def build_snapshot(loop: Loop) -> SearchSnapshot:
    """A :class:`SearchSnapshot` of ``loop`` now (loop thread, or no loop running)."""
    sched = loop.scheduler
    counts = sched.status_counts()
    best = sched.best()
    best_cfg = None if best is None else dict(sched.trial_config(best[0]))
    any_ = loop.best_any[-1] if loop.best_any else None
    state = loop.state
    if loop.started_at is None:
        elapsed = 0.0
    elif loop.ended_at is not None:
        elapsed = loop.ended_at
    else:
        elapsed = loop.clock.now()
    running = tuple(
        RunningJobInfo(fl.job.job_id, fl.job.trial_id, fl.job.rung, fl.job.resource,
                       fl.worker, fl.start, fl.timed_out is not None,
                       sched.trial_status(fl.job.trial_id) is TrialStatus.STOPPED)
        for fl in loop.inflight.values()
    )
    return SearchSnapshot(
        state=state,
        elapsed=elapsed,
        n_workers=loop.n_workers,
        busy_workers=len(loop.inflight),
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
        mode=loop.mode,
        paused_since=loop.paused_since if loop.paused and not state.is_terminal else None,
        stuck_workers=sum(1 for r in running if r.stuck),
        trial_counts={str(k): v for k, v in counts.items()},
        n_jobs=len(loop.store),
        n_jobs_done=loop.n_done - loop.n_retried,
        best_any_value=None if any_ is None else any_[2],
        best_any_trial=None if any_ is None else any_[1],
        best_any_resource=None if any_ is None else any_[3],
        running=running,
        reason=loop.reason,
    )
