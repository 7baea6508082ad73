"""Run jobs on threads of the notebook's own process.

Threads share the kernel's memory (no pickling, datasets are shared, nothing to import in a
worker) but also the GIL: they help when trials spend their time in big GIL-releasing kernels
(torch, BLAS), not in small Python training loops (use ``executor="process"`` then).

Intra-op threads: ``torch.set_num_threads`` and BLAS/OpenMP limits are process-global, so
``n`` trial threads each running ``cores``-threaded kernels oversubscribe the machine. On
:meth:`ThreadExecutor.start` the executor caps intra-op threads to ``max(1, cores // n)``
(threadpoolctl; ``torch.set_num_threads`` only if torch is already imported; a cap only lowers:
a lower limit the user set stays; OpenMP's per-thread limit is applied in each trial thread
too), updates the cap
on :meth:`~ThreadExecutor.resize` and releases it on :meth:`~ThreadExecutor.shutdown`. Caps of
overlapping searches nest (:class:`asha_nb._threads.ThreadCap`): the smallest holds, and the
original values come back when the last search ends. Pass ``limit_threads=False`` to leave them
alone.

Stopping is cooperative: a thread cannot be killed. ``stop_job`` cancels a job that has not
started and sets the job's stop flag, which ``trial.should_stop()`` returns. A job that ignores
it keeps its thread until the objective returns, and its future then resolves with the late
:class:`~asha_nb.executors.JobOutcome`.

Timeouts (``handles_timeouts = False``): the executor sets ``RunningJob.started_at`` from the
worker thread when the objective begins; the runtime enforces ``JobSpec.timeout`` from that
moment (a job queued behind busy threads is never "timed out" before it ran) and calls
``stop_job`` at the deadline.

Trial threads are **daemon** threads of a small pool (:class:`DaemonThreadPool`), not a
``concurrent.futures.ThreadPoolExecutor``, whose threads the interpreter joins at exit: an
objective that ignores stop requests cannot keep a script alive after its search ended.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from .._threads import ThreadCap, apply_in_thread, intra_op_threads
from ..errors import InvalidParameterError, SearchStateError
from ._base import (
    BaseExecutor,
    IntermediateReport,
    JobOutcome,
    JobSpec,
    RunningJob,
    check_n_workers,
)
from ._worker import ObjectiveForm, QueueChannel, objective_form, run_job

__all__ = ["ThreadExecutor", "DaemonThreadPool", "MAX_THREAD_WORKERS"]

#: Default most workers (trial threads) of a :class:`ThreadExecutor`: trials on threads share
#: one process and its GIL, so more would only queue on it (pass ``max_workers`` to change it).
MAX_THREAD_WORKERS = 512


class DaemonThreadPool:
    """A resizable pool of daemon threads returning :class:`concurrent.futures.Future` objects.

    Parameters
    ----------
    n_threads
        Most threads the pool runs at once.
    name_prefix
        Thread names are ``f"{name_prefix}-{i}"``.

    Notes
    -----
    Unlike ``ThreadPoolExecutor``, its threads are daemon threads (the interpreter does not
    wait for them at exit) and the pool never refuses work because the interpreter is
    shutting down. Threads start lazily: :meth:`submit` starts one only when no idle thread can
    take the job and fewer than ``n_threads`` run, so a large ``n_threads`` costs nothing until
    that many jobs are out. A future is set running when a thread takes its job, so
    ``cancel()`` succeeds exactly while the job is queued. :meth:`resize` lowers the thread
    count as busy threads finish their current job.

    Examples
    --------
    >>> pool = DaemonThreadPool(2)
    >>> pool.submit(pow, 2, 5).result()
    32
    >>> pool.shutdown(wait=True)
    """

    def __init__(self, n_threads: int, name_prefix: str = "asha-trial") -> None:
        self.name_prefix = name_prefix
        self._cv = threading.Condition()
        self._work: collections.deque[tuple[cf.Future[Any], Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._threads: set[threading.Thread] = set()
        self._names = itertools.count()
        self._target = 0
        self._idle = 0  # threads waiting for work
        self._closed = False
        self.resize(n_threads)

    def submit(
        self, fn: Callable[..., Any], *args: Any, future: cf.Future[Any] | None = None
    ) -> cf.Future[Any]:
        """Queue ``fn(*args)``; the future (a new one, or ``future`` if given, still pending)
        resolves to its result or exception."""
        future = cf.Future() if future is None else future
        with self._cv:
            if self._closed:
                raise SearchStateError("DaemonThreadPool.submit() called after shutdown()")
            self._work.append((future, fn, args))
            self._grow_locked()
            self._cv.notify()
        return future

    def _grow_locked(self) -> None:
        """Start threads for queued jobs that no idle thread will take (up to the target)."""
        while len(self._work) > self._idle and len(self._threads) < self._target:
            thread = threading.Thread(
                target=self._worker,
                name=f"{self.name_prefix}-{next(self._names)}",
                daemon=True,
            )
            self._threads.add(thread)
            self._idle += 1  # counted idle until it takes a job, so no second one starts
            thread.start()

    def resize(self, n_threads: int) -> None:
        """Run at most ``n_threads`` threads from now on (extra threads exit after their job;
        new ones start when jobs need them)."""
        with self._cv:
            self._target = max(1, int(n_threads))
            self._grow_locked()
            self._cv.notify_all()

    def shutdown(self, wait: bool = False, *, cancel_futures: bool = True) -> None:
        """Refuse new work, cancel queued jobs (``cancel_futures``) and let threads exit.

        Running jobs finish and their futures resolve. ``wait=True`` joins the threads.
        """
        with self._cv:
            self._closed = True
            if cancel_futures:
                while self._work:
                    self._work.popleft()[0].cancel()
            threads = list(self._threads)
            self._cv.notify_all()
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join()

    def _worker(self) -> None:
        me = threading.current_thread()
        busy = False  # a new thread is already counted in _idle
        while True:
            with self._cv:
                if busy:
                    self._idle += 1
                while not self._work and not self._closed and len(self._threads) <= self._target:
                    self._cv.wait()
                self._idle -= 1
                if len(self._threads) > self._target or not self._work:
                    self._threads.discard(me)  # surplus after a resize, or shut down
                    return
                future, fn, args = self._work.popleft()
            busy = True
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the future
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, fn, args


class ThreadExecutor(BaseExecutor):
    """Run trials on daemon threads of the current process.

    Parameters
    ----------
    limit_threads
        Cap intra-op (BLAS/OpenMP/torch) threads to ``max(1, cores // n_workers)`` while the
        executor runs, and release the cap on shutdown (default ``True``).
    thread_name_prefix
        Name prefix of the worker threads.
    max_workers
        Most workers allowed (``n_workers`` of the search, ``set_n_workers``); default
        :data:`MAX_THREAD_WORKERS` (512). More is refused with an
        :class:`~asha_nb.errors.InvalidParameterError`. Threads start lazily, when jobs need
        them, so a large ``n_workers`` costs nothing until that many jobs run.

    Notes
    -----
    ``stop_job`` is cooperative (``can_kill = False``) and there is no executor-side timeout
    (``handles_timeouts = False``): the runtime counts ``JobSpec.timeout`` from
    ``RunningJob.started_at``, which the worker thread sets when the objective begins. A job
    asked to stop keeps its thread until the objective returns; its future resolves then, with
    the value it returned. ``resize`` changes the thread count; surplus threads exit when
    their current job ends.

    Examples
    --------
    >>> from asha_nb.executors import JobSpec
    >>> ex = ThreadExecutor()
    >>> ex.start(lambda config, resource: config["x"] * resource, n_workers=2)
    >>> job = ex.submit(JobSpec(0, 0, {"x": 2.0}, rung=0, resource=3, resume_from=0))
    >>> job.future.result().value
    6.0
    >>> job.started_at is not None
    True
    >>> ex.shutdown(wait=True)
    """

    name = "thread"
    can_kill = False
    handles_timeouts = False
    reports_starts = True  # the worker thread stamps started_at
    inline_completion = True  # a worker completes its job and picks the next one itself

    def __init__(
        self, *, limit_threads: bool = True, thread_name_prefix: str = "asha-trial",
        max_workers: int = MAX_THREAD_WORKERS,
    ) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise InvalidParameterError(f"max_workers must be an int >= 1; got {max_workers!r}")
        self.max_workers = max_workers
        self.limit_threads = bool(limit_threads)
        self.thread_name_prefix = thread_name_prefix
        self.n_workers = 0
        self._objective: Any = None
        self._form: ObjectiveForm | None = None
        self._pool: DaemonThreadPool | None = None
        self._reports: queue.SimpleQueue[tuple[int, int, float, float]] = queue.SimpleQueue()
        self._stop_flags: dict[int, bool] = {}
        self._channel = QueueChannel(self._reports, self._stop_flags)
        self._running: dict[int, RunningJob] = {}
        self._cap: ThreadCap | None = None

    # ------------------------------------------------------------------ life cycle
    def check_n_workers(self, n_workers: int) -> int:
        """Validate ``n_workers``: an int from 1 to ``max_workers``."""
        n_workers = check_n_workers(n_workers)
        if n_workers > self.max_workers:
            raise InvalidParameterError(
                f"n_workers must be an int from 1 to {self.max_workers} for the thread executor "
                f"(its max_workers); got {n_workers!r}. Trials on threads share one process: "
                "use executor='process' or Dask for more parallel trials, or "
                "ThreadExecutor(max_workers=...) to allow more threads"
            )
        return n_workers

    def start(self, objective: Any, n_workers: int) -> None:
        """Prepare the (lazily started) daemon threads and cap intra-op threads."""
        n_workers = self.check_n_workers(n_workers)
        self._form = objective_form(objective)
        self._objective = objective
        self.n_workers = n_workers
        self._pool = DaemonThreadPool(n_workers, self.thread_name_prefix)
        if self.limit_threads:
            self._cap = ThreadCap(intra_op_threads(n_workers))

    def submit(self, spec: JobSpec) -> RunningJob:
        """Run ``spec`` on a free thread; the future resolves to a :class:`JobOutcome`."""
        if self._pool is None:
            raise SearchStateError(
                "ThreadExecutor.submit() called before start() or after shutdown()"
            )
        running = RunningJob(spec, cf.Future())
        self._running[spec.job.job_id] = running
        self._pool.submit(self._run, running, future=running.future)
        return running

    def _run(self, running: RunningJob) -> JobOutcome:
        """Worker-thread side of one job: stamp the real start, run it, forget it (before its
        future resolves, so its done callbacks see the executor without it)."""
        running.started_at = time.monotonic()
        job_id = running.spec.job.job_id
        if self._cap is not None:
            apply_in_thread()  # OpenMP limits are per thread
        try:
            return run_job(self._objective, running.spec, self._channel, form=self._form)
        finally:
            self._running.pop(job_id, None)
            self._stop_flags.pop(job_id, None)

    def stop_job(self, running: RunningJob) -> None:
        """Cancel the job if queued, else set its cooperative stop flag.

        A running job's future is never cancelled: it resolves when the objective returns.
        """
        future = running.future
        if future.cancel():  # it never started: it will never run
            self._running.pop(running.spec.job.job_id, None)
        elif not future.done():
            self._stop_flags[running.spec.job.job_id] = True
            if future.done():  # it returned meanwhile: forget the flag
                self._stop_flags.pop(running.spec.job.job_id, None)

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
        n_workers = self.check_n_workers(n_workers)
        if self._pool is not None:
            self._pool.resize(n_workers)
        self.n_workers = n_workers
        if self._cap is not None:
            self._cap.set(intra_op_threads(n_workers))

    def shutdown(self, wait: bool = False) -> None:
        """Cancel queued jobs, ask running ones to stop, release the intra-op thread cap.

        Running jobs keep their (daemon) threads until they return; ``wait=True`` waits for
        them.
        """
        for running in list(self._running.values()):
            self.stop_job(running)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)
        if self._cap is not None:
            self._cap.restore()
            self._cap = None

    def __repr__(self) -> str:
        return f"ThreadExecutor(n_workers={self.n_workers}, limit_threads={self.limit_threads})"
