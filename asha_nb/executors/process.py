"""Run jobs in worker processes (a ``pebble.ProcessPool``).

Why pebble: ``future.cancel()`` on a running job kills its worker (ASHA can really stop a
trial), ``schedule(..., timeout=)`` gives a per-job deadline, and a worker that crashes
(``os._exit``, segfault, out of memory) fails only its own job with ``pebble.ProcessExpired``;
the pool replaces the worker and keeps going.

Workers are started with ``spawn`` by default (``forkserver`` also works): a fork of a kernel
that has initialised JAX or a multithreaded torch/BLAS is unsafe. The objective travels as
cloudpickle bytes through the pool initializer (once per worker, not once per job) and is run
by :func:`asha_nb.executors._pickled.run_installed`, so functions defined in a notebook, lambdas and
closures work. Each worker uses one intra-op thread (``threads_per_worker``).

Intermediate values stream through a ``multiprocessing.Manager`` queue, and stop flags live in
a Manager dict (a worker killed mid-report cannot corrupt them, unlike a bare
``multiprocessing.Queue``).

Timeouts: pebble enforces ``JobSpec.timeout`` itself (``handles_timeouts = True``), counted
from the moment a worker takes the job (pebble stamps the task when the worker acknowledges
it, not at ``schedule()``); the job's worker is killed and its future raises ``TimeoutError``.

Scripts: with ``spawn`` and ``forkserver`` every worker process imports the main script again
(as ``__mp_main__``), so a script must start its search under ``if __name__ == "__main__":``::

    if __name__ == "__main__":
        search = Search(objective, space, executor="process").run()

Without the guard each worker would start a search of its own while it boots. The executor
detects it on both sides: in the worker (starting a pool while the main script is being
re-imported raises :class:`~asha_nb.errors.SearchStateError` naming the fix) and in the parent
(workers or the Manager process that die at start give a ``SearchStateError``, or an
:class:`~asha_nb.errors.ExecutorLostError` on the jobs, with the same advice). Notebooks need no
guard.

Resizing: pebble pools have a fixed size. :meth:`ProcessExecutor.resize` closes the current
pool to new jobs (its running jobs finish, or can still be stopped) and opens a new one with
the new size for the jobs submitted after it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import queue
import sys
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import ExecutorLostError, InvalidParameterError, SearchStateError
from ._base import BaseExecutor, IntermediateReport, JobSpec, RunningJob, check_n_workers
from ._pickled import dumps_objective, init_process_worker, local_outcome, run_installed
from ._worker import QueueChannel, objective_form
from .generic import mirror_future

__all__ = ["ProcessExecutor"]

_START_METHODS = ("spawn", "forkserver", "fork")

_GUARD_HELP = (
    "with the {method!r} start method every worker process imports the main script {script!r} "
    "again; put the code that starts the search under  if __name__ == \"__main__\":  (or pass "
    "mp_context=\"fork\" where fork is safe)"
)


def importing_main_script() -> bool:
    """Whether this process is a spawn/forkserver child still importing the parent's main
    script (``multiprocessing`` runs it as ``__mp_main__`` while the child boots).

    Examples
    --------
    >>> importing_main_script()
    False
    """
    mp_main = sys.modules.get("__mp_main__")
    return (
        mp_main is not None
        and mp_main is not sys.modules.get("__main__")
        and getattr(mp_main, "__name__", None) == "__mp_main__"
    )


def _main_script() -> str | None:
    """The main module's file when the parent runs a script (``None`` in a notebook or REPL)."""
    return getattr(sys.modules.get("__main__"), "__file__", None)


class ProcessExecutor(BaseExecutor):
    """Run trials in a pool of worker processes that can be killed.

    Parameters
    ----------
    mp_context
        Start method (``"spawn"``, the default, ``"forkserver"`` or ``"fork"``) or a
        ``multiprocessing`` context.
    threads_per_worker
        Intra-op threads (OpenMP, MKL, OpenBLAS, torch) in each worker; ``None`` leaves them
        alone. Default 1.
    stream
        Stream ``trial.report`` values and cooperative stop flags through a
        ``multiprocessing.Manager`` (one extra helper process). With ``False``, intermediate
        values only come back at the end of each job.
    max_tasks
        Replace a worker after this many jobs (0: never), e.g. to bound memory leaks.

    Notes
    -----
    ``stop_job`` sets the job's stop flag and calls ``future.cancel()``, which removes a
    queued job or kills the worker of a running one (the future then raises
    ``CancelledError``; the pool starts a fresh worker). A job past ``spec.timeout`` (counted
    from its start in a worker) is killed and its future raises ``TimeoutError``; a crashed
    worker makes its future raise ``pebble.ProcessExpired`` (``.exitcode``). A pool that is
    broken for good (pebble's ``BrokenProcessPool``: workers that die while idle or starting)
    fails the jobs with :class:`~asha_nb.errors.ExecutorLostError`, and so does ``submit``.

    Examples
    --------
    >>> from asha_nb.executors import JobSpec
    >>> ex = ProcessExecutor()
    >>> ex.start(lambda config, resource: config["x"] * resource, n_workers=1)  # doctest: +SKIP
    >>> ex.submit(JobSpec(0, 0, {"x": 2.0}, rung=0, resource=3, resume_from=0)).future.result().value  # doctest: +SKIP
    6.0
    >>> ex.shutdown()  # doctest: +SKIP
    """

    name = "process"
    can_kill = True
    handles_timeouts = True

    def __init__(
        self,
        *,
        mp_context: str | Any = "spawn",
        threads_per_worker: int | None = 1,
        stream: bool = True,
        max_tasks: int = 0,
    ) -> None:
        if isinstance(mp_context, str):
            if mp_context not in _START_METHODS:
                raise InvalidParameterError(
                    f"mp_context must be one of {', '.join(map(repr, _START_METHODS))} or a "
                    f"multiprocessing context; got {mp_context!r}"
                )
            mp_context = multiprocessing.get_context(mp_context)
        if threads_per_worker is not None and (
            not isinstance(threads_per_worker, int) or threads_per_worker < 1
        ):
            raise InvalidParameterError(
                f"threads_per_worker must be an int >= 1 or None; got {threads_per_worker!r}"
            )
        if not isinstance(max_tasks, int) or max_tasks < 0:
            raise InvalidParameterError(f"max_tasks must be an int >= 0; got {max_tasks!r}")
        self.mp_context = mp_context
        self.threads_per_worker = threads_per_worker
        self.stream = bool(stream)
        self.max_tasks = max_tasks
        self.n_workers = 0
        self._blob: bytes | None = None
        self._pool: Any = None
        self._retired: list[Any] = []
        self._manager: Any = None
        self._queue: Any = None
        self._flags: Any = None
        self._channel: QueueChannel | None = None
        self._flagged: dict[int, Any] = {}

    # ------------------------------------------------------------------ life cycle
    def _guard_help(self) -> str:
        method = self.mp_context.get_start_method()
        script = _main_script()
        if method == "fork" or script is None:
            return ""
        return "; " + _GUARD_HELP.format(method=method, script=script)

    def start(self, objective: Any, n_workers: int) -> None:
        """Serialize the objective, start the Manager (if streaming) and the pool.

        Raises
        ------
        SearchStateError
            When called while a worker process imports the main script (a script without
            ``if __name__ == "__main__":``), or when the Manager process dies at start.
        """
        n_workers = check_n_workers(n_workers)
        if importing_main_script():
            raise SearchStateError(
                "a process-executor search was started while a worker process was importing "
                "the main script: the script starts its search at top level. Put the code "
                'that starts the search under  if __name__ == "__main__":  (workers started '
                "with spawn or forkserver import the main script again)"
            )
        objective_form(objective)  # fail here, not in every worker, on a bad signature
        self._blob = dumps_objective(objective)
        if self.stream:
            try:
                self._manager = self.mp_context.Manager()
            except (EOFError, OSError) as exc:
                raise SearchStateError(
                    f"the process executor's Manager process died at start "
                    f"({type(exc).__name__}: {exc}){self._guard_help()}"
                ) from exc
            self._queue = self._manager.Queue()
            self._flags = self._manager.dict()
            self._channel = QueueChannel(self._queue, self._flags)
        self.n_workers = n_workers
        self._pool = self._new_pool(n_workers)

    def _new_pool(self, n_workers: int) -> Any:
        from pebble import ProcessPool

        return ProcessPool(
            max_workers=n_workers,
            max_tasks=self.max_tasks,
            initializer=init_process_worker,
            initargs=(self._blob, self._channel, self.threads_per_worker),
            context=self.mp_context,
        )

    def submit(self, spec: JobSpec) -> RunningJob:
        """Schedule ``spec``; the future is a pebble ``ProcessFuture`` (a ``cf.Future``)."""
        if self._pool is None:
            raise SearchStateError(
                "ProcessExecutor.submit() called before start() or after shutdown()"
            )
        try:
            inner = self._pool.schedule(run_installed, args=(spec,), timeout=spec.timeout)
        except RuntimeError as exc:  # pebble: "Unexpected error within the Pool"
            raise ExecutorLostError(
                f"the process pool is broken and cannot run jobs ({exc}){self._guard_help()}"
            ) from exc
        return RunningJob(spec, mirror_future(inner, self._read), {"inner": inner})

    def _read(self, f: cf.Future[Any]) -> tuple[str, Any]:
        if f.cancelled():
            return "cancelled", None
        exc = f.exception()
        if isinstance(exc, BrokenProcessPool):
            return "error", ExecutorLostError(
                f"the process pool is broken: worker processes exited while idle or starting "
                f"({type(exc).__name__}: {exc}){self._guard_help()}"
            )
        return ("error", exc) if exc is not None else ("result", local_outcome(f.result()))

    def stop_job(self, running: RunningJob) -> None:
        """Set the stop flag, then cancel the job (kills its worker if it is running)."""
        inner = running.extra["inner"]
        if self._flags is not None and not inner.done():
            try:
                self._flags[running.spec.job.job_id] = True
                self._flagged[running.spec.job.job_id] = inner
            except Exception:  # noqa: BLE001 - the Manager is gone (shutting down): killing is eno
                pass
        inner.cancel()

    def drain_reports(self) -> list[IntermediateReport]:
        """Reports streamed by the workers since the last call (never blocks)."""
        out: list[IntermediateReport] = []
        if self._queue is None:
            return out
        try:
            while True:
                try:
                    job_id, trial_id, resource, value = self._queue.get_nowait()
                except queue.Empty:
                    break
                out.append(IntermediateReport(job_id, trial_id, resource, value))
            for job_id, fut in list(self._flagged.items()):  # forget flags of finished jobs
                if fut.done():
                    self._flags.pop(job_id, None)
                    del self._flagged[job_id]
        except (OSError, EOFError):  # Manager gone
            pass
        return out

    def resize(self, n_workers: int) -> None:
        """Open a pool of ``n_workers`` for new jobs; the old pool finishes its jobs and exits."""
        n_workers = check_n_workers(n_workers)
        if self._pool is not None and n_workers != self.n_workers:
            old = self._pool
            self._pool = self._new_pool(n_workers)
            old.close()
            self._retired.append(old)
        self.n_workers = n_workers

    def shutdown(self, wait: bool = False) -> None:
        """Kill running jobs, stop the workers and the Manager."""
        pools = [p for p in [self._pool, *self._retired] if p is not None]
        self._pool = None
        self._retired = []
        for pool in pools:
            pool.stop()
        for pool in pools:  # stop() kills the workers; join reaps them (quick)
            try:
                pool.join(timeout=10)
            except Exception:  # noqa: BLE001 - reaping stopped workers is best effort
                pass
        if self._manager is not None:
            try:
                self._manager.shutdown()
            except Exception:  # noqa: BLE001 - the Manager may already be gone
                pass
            self._manager = self._queue = self._flags = self._channel = None
        self._flagged.clear()

    def __repr__(self) -> str:
        method = getattr(self.mp_context, "get_start_method", lambda: "?")()
        return f"ProcessExecutor(n_workers={self.n_workers}, mp_context={method!r})"
