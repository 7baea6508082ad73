"""Run jobs on threads of the notebook's own process (``ThreadPoolExecutor``).

Threads share the kernel's memory (no pickling, datasets are shared, nothing to import in a
worker) but also the GIL: they help when trials spend their time in big GIL-releasing kernels
(torch, BLAS), not in small Python training loops (use ``executor="process"`` then).

Intra-op threads: ``torch.set_num_threads`` and BLAS/OpenMP limits are process-global, so
``n`` trial threads each running ``cores``-threaded kernels oversubscribe the machine. On
:meth:`ThreadExecutor.start` the executor caps intra-op threads to ``max(1, cores // n)``
(threadpoolctl if installed; ``torch.set_num_threads`` only if torch is already imported),
updates the cap on :meth:`~ThreadExecutor.resize` and restores the previous values on
:meth:`~ThreadExecutor.shutdown`. Pass ``limit_threads=False`` to leave them alone.

Stopping is cooperative: a thread cannot be killed. ``stop_job`` cancels a job that has not
started and sets the job's stop flag, which ``trial.should_stop()`` returns.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
from typing import Any

from .._threads import ThreadCap, intra_op_threads
from ..errors import SearchStateError
from ._base import BaseExecutor, IntermediateReport, JobSpec, RunningJob
from ._worker import ObjectiveForm, QueueChannel, objective_form, run_job
from .generic import check_n_workers, mirror_future

__all__ = ["ThreadExecutor"]


class ThreadExecutor(BaseExecutor):
    """Run trials on threads of the current process.

    Parameters
    ----------
    limit_threads
        Cap intra-op (BLAS/OpenMP/torch) threads to ``max(1, cores // n_workers)`` while the
        executor runs, and restore them on shutdown (default ``True``).
    thread_name_prefix
        Name prefix of the worker threads.

    Notes
    -----
    ``stop_job`` is cooperative (``can_kill = False``). A per-job ``timeout`` makes the job's
    future raise ``TimeoutError`` at the deadline and sets the job's stop flag; the thread
    stays busy until the objective returns. ``resize`` swaps in a pool of the new size; jobs
    already running finish on the old pool.

    Examples
    --------
    >>> from asha_nb.executors import JobSpec
    >>> ex = ThreadExecutor()
    >>> ex.start(lambda config, resource: config["x"] * resource, n_workers=2)
    >>> ex.submit(JobSpec(0, 0, {"x": 2.0}, rung=0, resource=3, resume_from=0)).future.result().value
    6.0
    >>> ex.shutdown(wait=True)
    """

    name = "thread"
    can_kill = False

    def __init__(
        self, *, limit_threads: bool = True, thread_name_prefix: str = "asha-trial"
    ) -> None:
        self.limit_threads = bool(limit_threads)
        self.thread_name_prefix = thread_name_prefix
        self.n_workers = 0
        self._objective: Any = None
        self._form: ObjectiveForm | None = None
        self._pool: cf.ThreadPoolExecutor | None = None
        self._retired: list[cf.ThreadPoolExecutor] = []
        self._reports: queue.SimpleQueue[tuple[int, int, float, float]] = queue.SimpleQueue()
        self._stop_flags: dict[int, bool] = {}
        self._channel = QueueChannel(self._reports, self._stop_flags)
        self._running: dict[int, cf.Future] = {}
        self._cap: ThreadCap | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self, objective: Any, n_workers: int) -> None:
        """Create the pool and cap intra-op threads."""
        n_workers = check_n_workers(n_workers)
        self._form = objective_form(objective)
        self._objective = objective
        self.n_workers = n_workers
        self._pool = self._new_pool(n_workers)
        if self.limit_threads:
            self._cap = ThreadCap(intra_op_threads(n_workers))

    def _new_pool(self, n_workers: int) -> cf.ThreadPoolExecutor:
        return cf.ThreadPoolExecutor(n_workers, thread_name_prefix=self.thread_name_prefix)

    def submit(self, spec: JobSpec) -> RunningJob:
        """Run ``spec`` on a free thread; the future resolves to a :class:`JobOutcome`."""
        if self._pool is None:
            raise SearchStateError(
                "ThreadExecutor.submit() called before start() or after shutdown()"
            )
        inner = self._pool.submit(run_job, self._objective, spec, self._channel, form=self._form)
        job_id = spec.job_id
        self._running[job_id] = inner

        def forget(_: cf.Future) -> None:
            self._running.pop(job_id, None)
            self._stop_flags.pop(job_id, None)

        inner.add_done_callback(forget)
        if spec.timeout is None:
            future = inner
        else:
            future = mirror_future(
                inner, timeout=spec.timeout, on_timeout=lambda: self._flag(job_id, inner)
            )
        return RunningJob(spec, future, {"inner": inner})

    def _flag(self, job_id: int, inner: cf.Future) -> None:
        if not inner.done():
            self._stop_flags[job_id] = True
        inner.cancel()

    def stop_job(self, running: RunningJob) -> None:
        """Cancel the job if queued, else set its cooperative stop flag."""
        self._flag(running.spec.job_id, running.extra.get("inner", running.future))

    def drain_reports(self) -> list[IntermediateReport]:
        """Reports put by ``trial.report`` since the last call."""
        out: list[IntermediateReport] = []
        while True:
            try:
                job_id, trial_id, resource, value = self._reports.get_nowait()
            except queue.Empty:
                return out
            out.append(IntermediateReport(job_id, trial_id, resource, value))

    def resize(self, n_workers: int) -> None:
        """Use ``n_workers`` threads from now on and update the intra-op thread cap."""
        n_workers = check_n_workers(n_workers)
        if self._pool is not None and n_workers != self.n_workers:
            old = self._pool
            self._pool = self._new_pool(n_workers)
            old.shutdown(wait=False)  # running jobs finish on the old threads
            self._retired.append(old)
        self.n_workers = n_workers
        if self._cap is not None:
            self._cap.set(intra_op_threads(n_workers))

    def shutdown(self, wait: bool = False) -> None:
        """Cancel queued jobs, ask running ones to stop, restore intra-op threads."""
        for job_id, inner in list(self._running.items()):
            self._flag(job_id, inner)
        pools = [p for p in [self._pool, *self._retired] if p is not None]
        self._pool = None
        self._retired = []
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=True)
        if self._cap is not None:
            self._cap.restore()
            self._cap = None

    def __repr__(self) -> str:
        return f"ThreadExecutor(n_workers={self.n_workers}, limit_threads={self.limit_threads})"
