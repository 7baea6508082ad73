"""Worker slots and the jobs out on them; the jobs waiting to run again; job timeouts.

Three small collaborators of the loop, each owning its own state (loop thread only):
:class:`Workers` (the free slots and the outstanding :class:`~asha_nb.executors.RunningJob`
per job id), :class:`Retries` (jobs to run again before new ones) and :class:`Timeouts` (when
an outstanding job is past its limit, for executors that do not enforce it themselves).
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Iterator

from ..core import Job
from ..executors import BaseExecutor, RunningJob

__all__ = ["Workers", "Retries", "Timeouts"]


class Workers:
    """The worker slots ``0 .. n_workers - 1``: which are free, and the job out on each busy
    one.

    Examples
    --------
    >>> w = Workers(3)
    >>> w.resize(2); w.free, w.n_workers
    ([0, 1], 2)
    """

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self.free: list[int] = list(range(n_workers))  # a heap: the lowest free slot first
        #: job id -> the outstanding job (insertion order: the order jobs went out)
        self.inflight: dict[int, RunningJob] = {}

    def give_back(self, worker: int) -> None:
        """A slot taken (``heapq.heappop(free)``) for a job that could not go out."""
        heapq.heappush(self.free, worker)

    def release(self, running: RunningJob) -> None:
        """``running`` ended: its slot is free again (unless the pool shrank below it)."""
        del self.inflight[running.spec.job.job_id]
        worker = running.spec.worker
        if worker < self.n_workers:
            heapq.heappush(self.free, worker)

    def resize(self, n_workers: int) -> None:
        """Keep ``n_workers`` slots; a busy slot above the new count frees nobody when its
        job ends."""
        self.n_workers = n_workers
        busy = {fl.spec.worker for fl in self.inflight.values()}
        self.free = [w for w in range(n_workers) if w not in busy]
        heapq.heapify(self.free)

    def running(self) -> Iterator[RunningJob]:
        """The outstanding jobs, in the order they went out."""
        return iter(list(self.inflight.values()))


class Retries:
    """Jobs to run (again) before the scheduler is asked for new ones: failed attempts that
    may be retried, jobs a lost executor never ran, jobs restored from a journal.

    Parameters
    ----------
    retries
        How many times a job whose objective raised (or whose worker crashed) runs again.
    """

    def __init__(self, retries: int) -> None:
        self.retries = retries
        self.pending: deque[tuple[Job, int]] = deque()  # (job, attempt)
        self.n_retried = 0  # attempts that failed and run again

    def retry(self, job: Job, attempt: int) -> None:
        """Attempt ``attempt`` failed: run ``job`` again first."""
        self.n_retried += 1
        self.pending.appendleft((job, attempt + 1))

    def put_back(self, job: Job, attempt: int) -> None:
        """``job`` did not run (its executor was lost): it runs first on resume."""
        self.pending.appendleft((job, attempt))

    def drop_trial(self, trial_id: int) -> list[Job]:
        """Forget the waiting jobs of a stopped trial; returns them."""
        dropped = [p for p in self.pending if p[0].trial_id == trial_id]
        for p in dropped:
            self.pending.remove(p)
        return [job for job, _ in dropped]

    def __bool__(self) -> bool:
        return bool(self.pending)


class Timeouts:
    """When outstanding jobs pass the job timeout, for executors that do not enforce it.

    A job's time counts from its real start (``RunningJob.started_at``); where the executor
    cannot tell (``reports_starts = False``) from its submission.
    """

    def __init__(self, job_timeout: float | None, executor: BaseExecutor) -> None:
        self.job_timeout = job_timeout
        self.executor = executor

    @property
    def enforced(self) -> bool:
        """Whether the loop enforces the timeout (there is one, the executor does not)."""
        return self.job_timeout is not None and not self.executor.handles_timeouts

    def _waits(self, running: Iterator[RunningJob] | list[RunningJob],
               timeout: float) -> Iterator[tuple[RunningJob, float]]:
        mono = time.monotonic()
        knows_starts = bool(getattr(self.executor, "reports_starts", False))
        for fl in running:
            if fl.timed_out is not None or fl.user_stopped:
                continue
            t0 = fl.started_at
            if t0 is None:
                if knows_starts:
                    continue  # still queued in the executor: its time has not begun
                t0 = fl.submitted
            yield fl, timeout - (mono - t0)

    def expired(self, workers: Workers) -> list[RunningJob]:
        """The outstanding jobs past their timeout now (not yet recorded as such)."""
        timeout = self.job_timeout
        if timeout is None or self.executor.handles_timeouts:
            return []
        return [fl for fl, left in self._waits(list(workers.inflight.values()), timeout)
                if left <= 0]

    def next_in(self, workers: Workers) -> float | None:
        """Seconds until the next outstanding job passes its timeout (``None``: none will)."""
        timeout = self.job_timeout
        if timeout is None or self.executor.handles_timeouts:
            return None
        waits = [left for _, left in self._waits(list(workers.inflight.values()), timeout)]
        return max(0.0, min(waits)) if waits else None

    def error(self) -> str:
        """The error a timed-out job is recorded with."""
        return f"timed out after {self.job_timeout:g} s"
