"""Run jobs on any :class:`concurrent.futures.Executor` the user already has.

Works with mpi4py's ``MPIPoolExecutor``, ipyparallel's executor, loky, Dask's
``client.get_executor()`` or the standard library pools. The objective is sent as cloudpickle
bytes to the module-level trampoline :func:`asha_nb.executors._worker.run_pickled`, so notebook
functions, lambdas and closures work wherever the executor can import ``asha_nb``.

Limits: there is no streaming channel (intermediate values come back at the end in
``JobOutcome.intermediate``), no cooperative stop flag and no preemption: ``stop_job`` only
cancels a job that has not started; a running job runs to its end. A per-job timeout makes the
job's future raise ``TimeoutError`` at the deadline, but the job itself keeps its worker until
it returns.

This module also holds the small future helpers shared by the thread and Dask executors.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable
from typing import Any

from ..errors import InvalidParameterError, InvalidTypeError, SearchStateError
from ._base import BaseExecutor, JobSpec, RunningJob
from ._worker import dumps_objective, run_pickled

__all__ = ["GenericExecutor"]


# ---------------------------------------------------------------------------- future helpers
def _settle(outer: cf.Future, *, result: Any = None, exc: BaseException | None = None) -> None:
    """Resolve ``outer`` unless it is already done (cancelled or timed out)."""
    try:
        if exc is not None:
            outer.set_exception(exc)
        else:
            outer.set_result(result)
    except cf.InvalidStateError:
        pass


def _cancel(outer: cf.Future) -> None:
    """Mark ``outer`` cancelled (it is never set running, so this works until it is done)."""
    outer.cancel()


def mirror_future(
    inner: Any,
    *,
    timeout: float | None = None,
    on_timeout: Callable[[], None] | None = None,
    read: Callable[[Any], tuple[str, Any]] | None = None,
) -> cf.Future:
    """Return a :class:`concurrent.futures.Future` that follows ``inner``.

    Parameters
    ----------
    inner
        Any future with ``add_done_callback`` (a ``concurrent.futures.Future``, a Dask future).
    timeout
        Seconds after which the returned future raises ``TimeoutError`` if ``inner`` is not
        done yet (``None``: no deadline).
    on_timeout
        Called (from a timer thread) when the deadline passes, e.g. to set a stop flag.
    read
        ``read(inner) -> ("result", value) | ("error", exc) | ("cancelled", None)``; the default
        handles ``concurrent.futures.Future``.
    """
    outer: cf.Future = cf.Future()
    timer: threading.Timer | None = None

    def default_read(f: Any) -> tuple[str, Any]:
        if f.cancelled():
            return "cancelled", None
        exc = f.exception()
        return ("error", exc) if exc is not None else ("result", f.result())

    reader = read or default_read

    def done(f: Any) -> None:
        if timer is not None:
            timer.cancel()
        try:
            kind, payload = reader(f)
        except BaseException as exc:  # noqa: BLE001 - surfaced on the outer future
            kind, payload = "error", exc
        if kind == "cancelled":
            _cancel(outer)
        elif kind == "error":
            _settle(outer, exc=payload)
        else:
            _settle(outer, result=payload)

    if timeout is not None:

        def expire() -> None:
            if outer.done():
                return
            _settle(outer, exc=TimeoutError(f"job exceeded its timeout of {timeout:g} s"))
            if on_timeout is not None:
                try:
                    on_timeout()
                except Exception:
                    pass

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
    inner.add_done_callback(done)
    return outer


def check_n_workers(n_workers: Any) -> int:
    """Validate ``n_workers`` (a positive int)."""
    if isinstance(n_workers, bool) or not isinstance(n_workers, int):
        raise InvalidTypeError(f"n_workers must be an int >= 1; got {n_workers!r}")
    if n_workers < 1:
        raise InvalidParameterError(f"n_workers must be an int >= 1; got {n_workers!r}")
    return n_workers


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
    does not see a stop flag. ``resize`` only changes how many jobs the runtime keeps out;
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

    def start(self, objective: Any, n_workers: int) -> None:
        """Serialize ``objective`` once; nothing else to prepare."""
        self.n_workers = check_n_workers(n_workers)
        self._blob = dumps_objective(objective)

    def submit(self, spec: JobSpec) -> RunningJob:
        """Submit the trampoline; the future resolves to a :class:`JobOutcome`."""
        if self._blob is None:
            raise SearchStateError("GenericExecutor.submit() called before start()")
        inner = self.executor.submit(run_pickled, self._blob, spec, None)
        if spec.timeout is None:
            future = inner
        else:
            future = mirror_future(inner, timeout=spec.timeout, on_timeout=inner.cancel)
        return RunningJob(spec, future, {"inner": inner})

    def stop_job(self, running: RunningJob) -> None:
        """Cancel the job if it has not started (no preemption, no stop flag)."""
        running.extra["inner"].cancel()  # a mirrored future follows it

    def resize(self, n_workers: int) -> None:
        """Record the new worker count (the user's executor keeps its own size)."""
        self.n_workers = check_n_workers(n_workers)

    def shutdown(self, wait: bool = False) -> None:
        """Shut the wrapped executor down only if ``shutdown_executor`` was set."""
        if self.shutdown_executor:
            self.executor.shutdown(wait=wait, cancel_futures=True)

    def __repr__(self) -> str:
        return f"GenericExecutor({self.executor!r})"
