"""Run jobs on any :class:`concurrent.futures.Executor` the user already has.

Works with mpi4py's ``MPIPoolExecutor``, ipyparallel's executor, loky, Dask's
``client.get_executor()`` or the standard library pools. The objective is sent as cloudpickle
bytes to the module-level trampoline :func:`asha_nb.executors._pickled.run_pickled`, so notebook
functions, lambdas and closures work wherever the executor can import ``asha_nb``.

Limits: there is no streaming channel (intermediate values come back at the end in
``JobOutcome.intermediate``), no cooperative stop flag and no preemption: ``stop_job`` only
cancels a job that has not started; a running job runs to its end. There is no executor-side
timeout (``handles_timeouts = False``): the runtime counts ``JobSpec.timeout`` from the job's
real start, which the executor learns when the pool sets the job's future running
(``Future.running()``, checked at each :meth:`GenericExecutor.drain_reports`, at most a
loop tick late; the standard library pools, loky and mpi4py set it when a worker takes the job,
``ProcessPoolExecutor`` up to one job early). A job queued behind busy workers of a pool with
fewer workers than ``n_workers`` is therefore never timed out before it ran. For a pool whose
futures are never set running (Dask's ``client.get_executor()``) the executor cannot tell, and
the runtime counts from the submission. A job past its timeout keeps its worker until it
returns.

MPI (``mpi4py.futures.MPIPoolExecutor``): MPI has no crash isolation. When one worker process
dies (``os._exit``, a segfault, the out-of-memory killer), Open MPI aborts the whole job of
spawned workers, and the pool's futures never resolve. The executor watches the worker
processes the pool spawned on this machine (every 0.25 s, from
:meth:`GenericExecutor.drain_reports`): once one is gone, every outstanding job fails with
:class:`~asha_nb.errors.ExecutorLostError` (the search ends as failed, its running jobs are
``interrupted`` and run again on resume) and the dead pool is abandoned (its manager thread is
no longer waited for at exit, and its ``shutdown()`` returns), so the script can exit. Workers on
other machines are not watched. Use ``executor="process"`` (each trial in its own killable
process) or Dask for trials that may crash.

This module also holds the small helpers shared by the thread, process and Dask executors
(:func:`mirror_future`, :func:`settle`; ``check_n_workers`` is in ``_base``).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import ExecutorLostError, InvalidTypeError, SearchStateError
from ._base import BaseExecutor, IntermediateReport, JobSpec, RunningJob, check_n_workers
from ._pickled import _read_local, dumps_objective, process_origin, run_pickled

__all__ = ["GenericExecutor"]


# ---------------------------------------------------------------------------- helpers
def settle(outer: cf.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    """Resolve ``outer`` with ``result`` or ``exc`` unless it is already done."""
    try:
        if exc is not None:
            outer.set_exception(exc)
        else:
            outer.set_result(result)
    except cf.InvalidStateError:
        pass


def _read_cf_future(f: cf.Future[Any]) -> tuple[str, Any]:
    if f.cancelled():
        return "cancelled", None
    exc = f.exception()
    return ("error", exc) if exc is not None else ("result", f.result())


def mirror_future(
    inner: Any,
    read: Callable[[Any], tuple[str, Any]] = _read_cf_future,
    *,
    into: cf.Future[Any] | None = None,
) -> cf.Future[Any]:
    """Return a :class:`concurrent.futures.Future` that follows ``inner``.

    Parameters
    ----------
    inner
        Any future with ``add_done_callback`` (a ``concurrent.futures.Future``, a Dask future).
    read
        ``read(inner) -> ("result", value) | ("error", exc) | ("cancelled", None)``, called
        once ``inner`` is done; the default reads a ``concurrent.futures.Future``.
        ``("defer", None)`` leaves ``outer`` pending: the reader settles it later. An exception
        raised by ``read`` becomes the returned future's exception.
    into
        A pending future to resolve (default: a new one). If it is resolved first by someone
        else (:func:`settle`), ``inner``'s outcome is ignored.

    Examples
    --------
    >>> import concurrent.futures as cf
    >>> inner = cf.Future()
    >>> outer = mirror_future(inner)
    >>> inner.set_result(3)
    >>> outer.result()
    3
    """
    outer: cf.Future[Any] = cf.Future() if into is None else into

    def done(f: Any) -> None:
        try:
            kind, payload = read(f)
        except BaseException as exc:  # noqa: BLE001 - surfaced on the outer future
            kind, payload = "error", exc
        if kind == "defer":
            return  # the reader resolves ``outer`` itself later (settle)
        if kind == "cancelled":
            outer.cancel()  # never set running, so this works until it is done
        elif kind == "error":
            settle(outer, exc=payload)
        else:
            settle(outer, result=payload)

    inner.add_done_callback(done)
    return outer


# ---------------------------------------------------------------------------- MPI watch
_MPI_SERVER = b"mpi4py.futures.server"
_WATCH_EVERY = 0.25  # seconds between two looks at the MPI worker processes


def is_mpi_pool(executor: Any) -> bool:
    """Whether ``executor`` is an ``mpi4py.futures`` pool (checked without importing mpi4py)."""
    return any(cls.__module__.startswith("mpi4py.futures") for cls in type(executor).__mro__)


def _process_table() -> dict[int, tuple[int, str, bytes]] | None:
    """``pid -> (parent pid, state, command line)`` of every process (``None``: no /proc)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    table: dict[int, tuple[int, str, bytes]] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue  # it just ended
        fields = stat.rsplit(b")", 1)[-1].split()
        if len(fields) < 2:
            continue
        table[int(name)] = (int(fields[1]), fields[0].decode(), cmdline)
    return table


def mpi_worker_pids() -> set[int] | None:
    """Live ``mpi4py.futures`` worker processes descended from this process (``None`` where
    processes cannot be listed)."""
    table = _process_table()
    if table is None:
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(children.get(os.getpid(), ()))
    while todo:
        pid = todo.pop()
        ppid, state, cmdline = table[pid]
        if _MPI_SERVER in cmdline and state not in ("Z", "X"):
            found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


class _MpiWatch:
    """Notices an ``mpi4py.futures`` worker process that died (see the module docstring)."""

    def __init__(self) -> None:
        self.known: set[int] = set()
        self.next_look = 0.0

    def dead(self) -> set[int]:
        now = time.monotonic()
        if now < self.next_look:
            return set()
        self.next_look = now + _WATCH_EVERY
        alive = mpi_worker_pids()
        if alive is None:
            return set()
        gone = self.known - alive
        self.known |= alive
        return gone


def abandon_mpi_pool(pool: Any) -> None:
    """Stop waiting for a dead ``MPIPoolExecutor`` (best effort): mpi4py's manager thread waits
    for the results of the dead workers for ever, and would be joined by ``shutdown()`` and at
    interpreter exit; it is left to itself so that the process can exit."""
    try:
        pool.shutdown(wait=False, cancel_futures=True)
    except Exception:  # noqa: BLE001 - best effort on a broken pool
        pass
    inner = getattr(pool, "_pool", None)
    thread = getattr(inner, "thread", None)
    try:
        from mpi4py.futures import _core

        registry: Any = _core.THREADS_QUEUES  # threads mpi4py joins at interpreter exit
        registry.pop(thread, None)
    except Exception:  # noqa: BLE001 - another mpi4py version: nothing more to do there
        pass
    lock = getattr(thread, "_tstate_lock", None)
    locks = getattr(threading, "_shutdown_locks", None)
    guard = getattr(threading, "_shutdown_locks_lock", None)
    if lock is not None and locks is not None and guard is not None:
        with guard:
            locks.discard(lock)  # the interpreter no longer joins the stuck thread at exit
    if inner is not None:
        try:
            pool._pool = None  # its shutdown(wait=True) (a with block's end) returns at once
        except Exception:  # noqa: BLE001 - best effort
            pass


_MPI_LOST = (
    "an MPI worker process died (pid {pids}): MPI has no crash isolation, so Open MPI aborted "
    "the pool's worker job and its jobs can never return. The search ends here; its running "
    "jobs are interrupted and run again on resume (Search.from_journal) with a new pool. Use "
    "executor=\"process\" (one killable process per trial) or Dask for trials that may crash"
)


# ---------------------------------------------------------------------------- executor
class GenericExecutor(BaseExecutor):
    """Run jobs on a user's ``concurrent.futures.Executor``.

    Parameters
    ----------
    executor
        Any ``concurrent.futures.Executor`` whose workers can import ``asha_nb`` and
        ``cloudpickle``.
    shutdown_executor
        Whether :meth:`shutdown` also shuts ``executor`` down (default ``False``: it is the
        user's).

    Notes
    -----
    ``stop_job`` cancels a job that has not started; a running job is not preempted and
    does not see a stop flag. Timeouts are the runtime's, counted from the job's real start
    (see the module docstring). ``resize`` only changes how many jobs the runtime keeps out;
    the executor's own worker count is the user's business.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> from asha_nb.executors import JobSpec
    >>> with ThreadPoolExecutor(2) as pool:
    ...     ex = GenericExecutor(pool)
    ...     ex.start(lambda config, resource: config["x"] * resource, n_workers=2)
    ...     job = ex.submit(JobSpec(0, 0, {"x": 2.0}, rung=0, resource=3, resume_from=0))
    ...     print(job.future.result().value)
    ...     ex.shutdown()
    6.0
    """

    name = "executor"
    can_kill = False
    handles_timeouts = False

    def __init__(self, executor: cf.Executor, *, shutdown_executor: bool = False) -> None:
        if not isinstance(executor, cf.Executor) and not callable(
            getattr(executor, "submit", None)
        ):
            raise InvalidTypeError(
                f"executor must be a concurrent.futures.Executor; got {type(executor).__name__}"
            )
        self.executor = executor
        self.shutdown_executor = shutdown_executor
        self.n_workers = 0
        self._blob: bytes | None = None
        self._origin: tuple[str, int] | None = None
        self._out: dict[int, RunningJob] = {}  # jobs not known to have started yet
        self._all: dict[int, RunningJob] = {}  # outstanding jobs (watched MPI pools only)
        self._mpi = _MpiWatch() if is_mpi_pool(executor) else None
        self._lost: str | None = None
        #: Set once a job of this pool was seen running before it ended: its futures show
        #: starts (see the module docstring); until then timeouts count from the submission.
        self.reports_starts = False

    def start(self, objective: Any, n_workers: int) -> None:
        """Serialize ``objective`` once; nothing else to prepare."""
        self.n_workers = check_n_workers(n_workers)
        self._blob = dumps_objective(objective)
        self._origin = process_origin()

    def submit(self, spec: JobSpec) -> RunningJob:
        """Submit the trampoline; the future resolves to a :class:`JobOutcome`."""
        if self._blob is None:
            raise SearchStateError("GenericExecutor.submit() called before start()")
        if self._lost is not None:
            raise ExecutorLostError(self._lost)
        inner = self.executor.submit(run_pickled, self._blob, spec, None, self._origin)
        running = RunningJob(spec, mirror_future(inner, _read_local), {"inner": inner})
        self._out[spec.job.job_id] = running
        if self._mpi is not None:
            self._all[spec.job.job_id] = running
            self._watch_mpi()  # learn the worker processes as soon as they exist
        return running

    def _watch_mpi(self) -> None:
        assert self._mpi is not None
        for job_id in [j for j, r in self._all.items() if r.future.done()]:
            del self._all[job_id]
        dead = self._mpi.dead()
        if not dead or self._lost is not None:
            return
        self._lost = _MPI_LOST.format(pids=", ".join(map(str, sorted(dead))))
        jobs = list(self._all.values())
        self._all.clear()
        self._out.clear()
        for running in jobs:
            settle(running.future, exc=ExecutorLostError(self._lost))
        abandon_mpi_pool(self.executor)

    def drain_reports(self) -> list[IntermediateReport]:
        """No reports to stream; stamps ``started_at`` of the jobs the pool set running (and
        watches the worker processes of an MPI pool)."""
        if self._mpi is not None:
            self._watch_mpi()
        if self._out:
            now = time.monotonic()
            for job_id, running in list(self._out.items()):
                inner = running.extra["inner"]
                if inner.running():
                    running.started_at = now
                    self.reports_starts = True
                elif not inner.done():
                    continue
                del self._out[job_id]
        return []

    def stop_job(self, running: RunningJob) -> None:
        """Cancel the job if it has not started (no preemption, no stop flag)."""
        running.extra["inner"].cancel()

    def resize(self, n_workers: int) -> None:
        """Record the new worker count (the user's executor keeps its own size)."""
        self.n_workers = check_n_workers(n_workers)

    def shutdown(self, wait: bool = False) -> None:
        """Shut the wrapped executor down only if ``shutdown_executor`` was set."""
        self._out.clear()
        if self.shutdown_executor:
            self.executor.shutdown(wait=wait, cancel_futures=True)

    def __repr__(self) -> str:
        return f"GenericExecutor({self.executor!r})"
