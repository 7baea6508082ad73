"""Run jobs on a Dask cluster through the user's ``distributed.Client``.

Only imported when a Dask client is used (``import asha_nb.executors`` does not import dask).

- Jobs are submitted with ``client.submit(..., pure=False)``: with Dask's default
  ``pure=True`` two jobs with equal arguments would share one cached result.
- Dask's ``cancel`` does not interrupt a running task (the worker thread keeps running it),
  so stopping is **cooperative**: ``stop_job`` adds the job to a ``distributed.Variable``
  that ``trial.should_stop()`` reads (at most every ``poll_interval`` seconds), and a job
  stopped before it started returns at once without running the objective.
- ``trial.report`` values stream through a ``distributed.Queue``; so does a start message
  sent by the worker when the objective begins, from which :meth:`DaskExecutor.drain_reports`
  sets ``RunningJob.started_at`` (the moment the executor learns of the start: at most one
  drain interval late, never early). Without streaming it stays ``None``.
- Timeouts: Dask has no per-task deadline, so ``handles_timeouts = False``: the runtime
  enforces ``JobSpec.timeout`` from ``started_at`` and calls ``stop_job``; a job whose start
  message has not come yet is still queued on the cluster (``reports_starts``) and is not timed
  out (without streaming there are no start messages: it counts from the submission);
  the task keeps its Dask worker until the objective returns, and its late outcome resolves
  the job's future.
- A worker that dies makes its job's future raise ``distributed.scheduler.KilledWorker``.
  By default the executor sets the scheduler's ``allowed-failures`` to 0 while it runs (Dask
  would otherwise retry a crashing trial on 3 more workers, killing each) and restores it on
  shutdown. This setting is scheduler-wide; pass ``allowed_failures=None`` to leave it.
- A closed client (or a closed cluster, or a lost scheduler connection) cancels every Dask
  future of the client. The executor turns that into
  :class:`~asha_nb.errors.ExecutorLostError` on every outstanding job's future, at once or at
  the latest at the next :meth:`~DaskExecutor.drain_reports` (the runtime calls it every
  loop), and ``submit`` raises it: a search on a closed client ends as failed, with the reason,
  and its running jobs are ``interrupted`` (re-run on resume). ``cluster.close()`` stops the
  workers before the scheduler, so their jobs first fail with ``KilledWorker``: such a job is
  held for ``lost_grace`` seconds, and is lost with its cluster (``ExecutorLostError``) if the
  cluster or client shows meanwhile that it was closed; only otherwise is it a crash of its
  trial.
- Futures are bridged to ``concurrent.futures.Future`` (the runtime uses ``cf.wait``).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import threading
import time
import uuid
from typing import Any

from ..errors import ExecutorLostError, InvalidParameterError, InvalidTypeError, SearchStateError
from ._base import BaseExecutor, IntermediateReport, JobSpec, RunningJob, check_n_workers
from ._pickled import dumps_objective, local_outcome, process_origin, run_pickled
from ._worker import objective_form
from .generic import mirror_future, settle

__all__ = ["DaskExecutor", "DaskChannel"]


class DaskChannel:
    """Channel of a job running on a Dask worker: a named ``distributed.Queue`` for reports
    and a named ``distributed.Variable`` listing the job ids asked to stop.

    Parameters
    ----------
    queue_name, stop_name
        Names of the Queue (``None``: no streaming) and of the Variable.
    poll_interval
        Minimum seconds between two reads of the stop Variable by one job.
    """

    def __init__(self, queue_name: str | None, stop_name: str, poll_interval: float = 0.25) -> None:
        self.queue_name = queue_name
        self.stop_name = stop_name
        self.poll_interval = poll_interval
        self._queue: Any = None
        self._var: Any = None
        self._last = -float("inf")
        self._stopped = False

    def __getstate__(self) -> dict[str, Any]:
        return {
            "queue_name": self.queue_name,
            "stop_name": self.stop_name,
            "poll_interval": self.poll_interval,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _put(self, item: tuple[Any, ...]) -> None:
        if self.queue_name is None:
            return
        if self._queue is None:
            self._queue = _distributed().Queue(self.queue_name)
        self._queue.put(item)

    def report(self, job_id: int, trial_id: int, resource: float, value: float) -> None:
        """Put ``("report", job_id, trial_id, resource, value)`` on the Queue."""
        self._put(("report", job_id, trial_id, resource, value))

    def started(self, job_id: int) -> None:
        """Put ``("start", job_id)`` on the Queue (the objective begins now)."""
        self._put(("start", job_id))

    def should_stop(self, job_id: int) -> bool:
        """Whether ``job_id`` is in the stop Variable (read at most every ``poll_interval`` s)."""
        if self._stopped:
            return True
        now = time.monotonic()
        if now - self._last < self.poll_interval:
            return False
        self._last = now
        if self._var is None:
            self._var = _distributed().Variable(self.stop_name)
        try:
            stopped = self._var.get(timeout=5)
        except TimeoutError:
            return False
        self._stopped = job_id in set(stopped or ())
        return self._stopped


def _distributed() -> Any:
    """The ``distributed`` module, imported on first use."""
    import distributed

    return distributed


_LOST_STATUSES = frozenset({"closing", "closed", "connecting", "failed"})


class DaskExecutor(BaseExecutor):
    """Run trials as tasks of a Dask cluster.

    Parameters
    ----------
    client
        A connected ``distributed.Client`` (the user's; not closed by :meth:`shutdown`), or
        ``None``: :meth:`start` then creates a private ``LocalCluster`` with ``n_workers``
        single-threaded worker processes (options in ``cluster_kwargs``), closed by
        :meth:`shutdown`. This is what ``executor="dask"`` gives.
    allowed_failures
        Scheduler ``allowed-failures`` while the executor runs (default 0: a trial that
        kills its worker fails at once instead of killing 3 more). ``None`` leaves it.
    stream
        Stream ``trial.report`` values through a ``distributed.Queue`` (default ``True``).
    poll_interval
        Minimum seconds between two stop-flag reads of one job (each is a scheduler round
        trip).
    submit_kwargs
        Extra keyword arguments for ``client.submit`` (e.g. ``resources={"GPU": 1}``).
    cluster_kwargs
        Extra keyword arguments for the private ``LocalCluster`` (only with ``client=None``).
    lost_grace
        Seconds a job whose worker died (``KilledWorker``) waits before it is recorded as
        a crash of its trial: if the client or the cluster shows meanwhile that it was closed,
        the job was lost with its cluster (:class:`~asha_nb.errors.ExecutorLostError`: the
        search ends as failed and the job is ``interrupted``, re-run on resume). A cluster
        object in this process that is closing is seen at once. Default 3.

    Notes
    -----
    ``can_kill = False``: ``stop_job`` is cooperative, and ``handles_timeouts = False``: the
    runtime enforces timeouts (see the module docstring). ``resize`` only records the number
    of jobs the runtime keeps out; scale the cluster itself with ``cluster.scale(n)``. If the
    client is closed while jobs run, their futures raise
    :class:`~asha_nb.errors.ExecutorLostError` and so does ``submit``.
    """

    name = "dask"
    can_kill = False
    handles_timeouts = False

    def __init__(
        self,
        client: Any = None,
        *,
        allowed_failures: int | None = 0,
        stream: bool = True,
        poll_interval: float = 0.25,
        submit_kwargs: dict[str, Any] | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        lost_grace: float = 3.0,
    ) -> None:
        if client is not None and (
            not callable(getattr(client, "submit", None)) or not hasattr(client, "run_on_scheduler")
        ):
            raise InvalidTypeError(
                f"client must be a distributed.Client; got {type(client).__name__}"
            )
        if allowed_failures is not None and (
            not isinstance(allowed_failures, int) or allowed_failures < 0
        ):
            raise InvalidParameterError(
                f"allowed_failures must be an int >= 0 or None; got {allowed_failures!r}"
            )
        if isinstance(lost_grace, bool) or not isinstance(lost_grace, (int, float)) or not (
            0 <= lost_grace < float("inf")
        ):
            raise InvalidParameterError(
                f"lost_grace must be a finite number of seconds >= 0; got {lost_grace!r}"
            )
        if not isinstance(poll_interval, (int, float)) or poll_interval < 0:
            raise InvalidParameterError(
                f"poll_interval must be a number >= 0; got {poll_interval!r}"
            )
        self.client = client
        self.allowed_failures = allowed_failures
        self.stream = bool(stream)
        #: Start messages travel with the streamed reports: without them, no start is known.
        self.reports_starts = self.stream
        self.poll_interval = float(poll_interval)
        self.lost_grace = float(lost_grace)
        self.submit_kwargs = dict(submit_kwargs or {})
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self._own_cluster: Any = None
        self.n_workers = 0
        self._blob: bytes | None = None
        self._origin: tuple[str, int] | None = None
        self._uid = uuid.uuid4().hex[:10]
        self._queue: Any = None
        self._var: Any = None
        self._channel: DaskChannel | None = None
        self._old_allowed_failures: int | None = None
        self._lock = threading.Lock()
        self._stopped: set[int] = set()
        self._inflight: dict[int, RunningJob] = {}
        self._job_of_key: dict[str, int] = {}
        self._submits = itertools.count()
        self._shutting_down = False

    # ------------------------------------------------------------------ life cycle
    def start(self, objective: Any, n_workers: int) -> None:
        """Serialize the objective, create the stop Variable and report Queue."""
        distributed = _distributed()
        self._shutting_down = False
        self.n_workers = check_n_workers(n_workers)
        objective_form(objective)
        self._blob = dumps_objective(objective)
        self._origin = process_origin()
        if self.client is None:
            self._start_local_cluster(self.n_workers)
        queue_name = f"asha-reports-{self._uid}" if self.stream else None
        stop_name = f"asha-stop-{self._uid}"
        self._var = distributed.Variable(stop_name, client=self.client)
        self._var.set([])
        if queue_name is not None:
            self._queue = distributed.Queue(queue_name, client=self.client)
        self._channel = DaskChannel(queue_name, stop_name, self.poll_interval)
        if self.allowed_failures is not None:
            self._old_allowed_failures = self._set_allowed_failures(self.allowed_failures)

    def _start_local_cluster(self, n_workers: int) -> None:
        distributed = _distributed()
        kwargs: dict[str, Any] = {
            "n_workers": n_workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
        }
        kwargs.update(self.cluster_kwargs)
        self._own_cluster = distributed.LocalCluster(**kwargs)
        self.client = distributed.Client(self._own_cluster)

    def _set_allowed_failures(self, value: int) -> int | None:
        def swap(dask_scheduler: Any, value: int = value) -> int:
            old = int(dask_scheduler.allowed_failures)
            dask_scheduler.allowed_failures = value
            return old

        try:
            return int(self.client.run_on_scheduler(swap))
        except Exception:  # noqa: BLE001 - e.g. a scheduler that does not allow run_on_scheduler
            return None

    # ------------------------------------------------------------------ lost client
    def _lost_reason(self) -> str | None:
        """Why the client can no longer run jobs, or ``None`` while it can."""
        status = getattr(self.client, "status", "running")
        if status in _LOST_STATUSES:
            what = "lost its connection to the scheduler" if status == "connecting" else "was closed"
            return (
                f"the Dask client {what} (client status {status!r}); its cluster can run no "
                "more jobs of this search"
            )
        cluster = getattr(self.client, "cluster", None)  # a cluster object in this process
        cluster_status = getattr(cluster, "status", None)
        name = getattr(cluster_status, "name", cluster_status)
        if isinstance(name, str) and name in _LOST_STATUSES:
            return (
                f"the Dask cluster was closed (cluster status {name!r}); it can run no more "
                "jobs of this search"
            )
        return None

    def _held(self, running: RunningJob, exc: BaseException) -> None:
        """A job's worker died: a crash of the trial, or its cluster going away (closing a
        cluster stops its workers before its scheduler, so the client learns it last). Give
        the cluster ``lost_grace`` seconds to show that it went away (the job is then lost
        with it: :class:`ExecutorLostError`, re-run on resume); else it is the trial's crash."""

        def decide() -> None:
            if running.future.done():
                return
            reason = self._lost_reason()
            if reason is not None:
                self._fail_all(reason)
            settle(running.future, exc=exc)

        timer = threading.Timer(self.lost_grace, decide)
        timer.daemon = True
        timer.start()

    def _fail_all(self, reason: str) -> None:
        """Set :class:`ExecutorLostError` on the future of every outstanding job."""
        with self._lock:
            jobs = list(self._inflight.values())
            self._inflight.clear()
            self._job_of_key.clear()
        for running in jobs:
            settle(running.future, exc=ExecutorLostError(reason))

    def _read(self, f: Any) -> tuple[str, Any]:
        status = f.status
        if status == "finished":
            return "result", local_outcome(f.result())
        if status == "error":
            exc = f.exception()
            if type(exc).__name__ == "KilledWorker" and not self._shutting_down:
                reason = self._lost_reason()
                if reason is not None:
                    return "error", ExecutorLostError(
                        f"{reason}; the job's worker was stopped with it ({exc})")
                with self._lock:
                    running = self._inflight.get(self._job_of_key.get(f.key, -1))
                if running is not None and self.lost_grace > 0:
                    self._held(running, exc)
                    return "defer", None
            return "error", exc
        if status == "cancelled" and self._shutting_down:
            return "cancelled", None
        reason = self._lost_reason() or (
            f"Dask cancelled task {f.key!r} of this search (the scheduler or the client "
            "dropped it)"
        )
        return "error", ExecutorLostError(f"{reason}; Dask future status {status!r}")

    # ------------------------------------------------------------------ jobs
    def submit(self, spec: JobSpec) -> RunningJob:
        """Submit the job as a Dask task (``pure=False``) and bridge its future.

        Raises
        ------
        ExecutorLostError
            If the client was closed or lost its scheduler.
        """
        if self._blob is None:
            raise SearchStateError(
                "DaskExecutor.submit() called before start() or after shutdown()"
            )
        reason = self._lost_reason()
        if reason is not None:
            self._fail_all(reason)
            raise ExecutorLostError(reason)
        job_id = spec.job.job_id
        try:
            inner = self.client.submit(
                run_pickled,
                self._blob,
                spec,
                self._channel,
                self._origin,
                pure=False,
                key=f"asha-job-{job_id}-{self._uid}-{next(self._submits)}",
                **self.submit_kwargs,
            )
        except Exception as exc:
            reason = self._lost_reason()
            if reason is None:
                raise
            raise ExecutorLostError(reason) from exc
        running = RunningJob(spec, cf.Future(), {"dask_future": inner})
        with self._lock:
            self._inflight[job_id] = running
            self._job_of_key[inner.key] = job_id
        mirror_future(inner, self._read, into=running.future)
        return running

    def _request_stop(self, job_id: int) -> None:
        with self._lock:
            if job_id in self._stopped:
                return
            self._stopped.add(job_id)
            self._var.set(sorted(self._stopped))

    def stop_job(self, running: RunningJob) -> None:
        """Set the job's cooperative stop flag (a queued job then returns without running)."""
        if not running.future.done():
            try:
                self._request_stop(running.spec.job.job_id)
            except Exception:  # noqa: BLE001 - a closed client: drain_reports fails the job
                pass

    def drain_reports(self) -> list[IntermediateReport]:
        """Reports from the Queue since the last call (one scheduler round trip); also stamps
        ``started_at`` of jobs that began and fails every job if the client is gone."""
        reason = self._lost_reason()
        if reason is not None:
            self._fail_all(reason)
            return []
        items: list[Any] = []
        if self._queue is not None:
            try:
                items = self._queue.get(batch=True)
            except Exception:  # noqa: BLE001 - a closed queue: no reports to stream
                items = []
        now = time.monotonic()
        out: list[IntermediateReport] = []
        for item in items:
            if item[0] == "start":
                with self._lock:
                    running = self._inflight.get(item[1])
                if running is not None and running.started_at is None:
                    running.started_at = now
            else:
                out.append(IntermediateReport(*item[1:]))
        self._forget_finished()
        return out

    def _forget_finished(self) -> None:
        with self._lock:
            done = [j for j, r in self._inflight.items() if r.future.done()]
            for j in done:
                self._job_of_key.pop(self._inflight.pop(j).extra["dask_future"].key, None)
            if self._stopped & set(done):
                self._stopped -= set(done)
                self._var.set(sorted(self._stopped))

    def resize(self, n_workers: int) -> None:
        """Record the number of jobs the runtime keeps out; a private LocalCluster is scaled
        to ``n_workers`` (a user's cluster keeps its size)."""
        self.n_workers = check_n_workers(n_workers)
        if self._own_cluster is not None:
            self._own_cluster.scale(self.n_workers)

    def shutdown(self, wait: bool = False) -> None:
        """Ask running jobs to stop, cancel the rest, restore ``allowed-failures``.

        The small stop Variable is left on the scheduler so that jobs still running can see
        their stop flag; the report Queue is deleted.
        """
        self._shutting_down = True
        with self._lock:
            inflight = {j: r.extra["dask_future"] for j, r in self._inflight.items()}
            self._inflight.clear()
            self._job_of_key.clear()
        if self._var is not None and inflight:
            try:
                with self._lock:
                    self._stopped |= set(inflight)
                    self._var.set(sorted(self._stopped))
            except Exception:  # noqa: BLE001 - shutting down: the stop flags are best effort
                pass
        if wait and inflight:
            try:
                _distributed().wait(list(inflight.values()), timeout=30)
            except Exception:  # noqa: BLE001 - shutting down: waiting is best effort
                pass
        try:
            if inflight:
                self.client.cancel(list(inflight.values()))
        except Exception:  # noqa: BLE001 - shutting down: cancelling is best effort
            pass
        if self._old_allowed_failures is not None:
            if self._lost_reason() is None:
                self._set_allowed_failures(self._old_allowed_failures)
            self._old_allowed_failures = None
        if self._queue is not None:
            try:
                self._queue.close()
            except Exception:  # noqa: BLE001 - shutting down: closing the queue is best effort
                pass
            self._queue = None
        self._blob = None
        if self._own_cluster is not None:
            try:
                self.client.close()
                self._own_cluster.close()
            except Exception:  # noqa: BLE001 - shutting down our own cluster is best effort
                pass
            self._own_cluster = None
            self.client = None

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client!r})"
