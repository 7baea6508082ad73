"""Where the folds of :class:`~asha_nb.sklearn.ASHASearchCV`'s jobs are fitted.

A job cross-validates one candidate at one resource: ``n_splits`` fits. With ``n_jobs > 1``
they do not run one after the other in the job's worker; they go to a pool of ``n_jobs``
workers shared by all running jobs, first come first served. While every worker has a job,
the pool is as busy as before; when one has none (the last jobs of a rung, the end of the
search), it fits folds of a running job instead of idling, as joblib spreads scikit-learn's
halving over single folds.

- :class:`ThreadFolds`: daemon threads of the notebook's process (``executor="thread"``).
  Nothing is copied, but scikit-learn's Python code shares one GIL.
- :func:`process_pool`: ``n_jobs`` worker processes (joblib's loky, so estimators and data
  defined in a notebook travel by value), reused by later searches of the same ``n_jobs`` as
  joblib's own pool is, each worker with ``cores // n_jobs`` OpenMP/BLAS threads. A worker
  receives the objective (the data) once per search (:func:`run_fold` answers
  :data:`MISSING` until then); a fold's task carries the candidate, the resource and, for a
  promoted candidate, the fold's fitted estimator; the fitted estimator comes back only when
  the search keeps it (``warm_start`` and ``partial_fit`` resources).
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["FoldTrial", "MISSING", "ThreadFolds", "process_pool", "reset_process_pool",
           "run_fold"]

#: What :func:`run_fold` returns in a worker that has not received the search's objective.
MISSING = "asha_nb.sklearn: objective missing in this worker"

_installed: dict[str, Any] = {}  # in a worker process: token -> the search's objective
_pool_lock = threading.Lock()
_pool: Any = None
_pool_size = 0


class FoldTrial:
    """What a fold reads of its trial, in a worker process (stops are checked by the job)."""

    def __init__(self, resource: float, resume_from: float) -> None:
        self.resource = resource
        self.resume_from = resume_from

    def should_stop(self) -> bool:
        return False


def run_fold(token: str, objective: Any, resource: float, resume_from: float,
             params: dict[str, Any], prev_model: Any, k: int, keep: bool) -> Any:
    """Worker side of one fold: fit and score fold ``k`` with the objective installed under
    ``token`` (``objective`` installs it; ``None`` asks for the installed one)."""
    obj = _installed.get(token)
    if obj is None:
        if objective is None:
            return MISSING
        _installed.clear()  # one search's data at a time
        _installed[token] = obj = objective
    est, fit_time, score_time, test, train = obj.fold(
        FoldTrial(resource, resume_from), params, prev_model, k)
    return (est if keep else None), fit_time, score_time, test, train


def process_pool(n_workers: int) -> Any:
    """The shared pool of ``n_workers`` fold processes (started on first use)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != n_workers:
            from joblib.externals.loky import ProcessPoolExecutor  # type: ignore[import-untyped]

            from .._threads import THREAD_ENV_VARS, intra_op_threads

            if _pool is not None:
                _pool.shutdown(wait=False)
            threads = str(intra_op_threads(n_workers))
            _pool = ProcessPoolExecutor(n_workers, timeout=300,
                                        env={var: threads for var in THREAD_ENV_VARS})
            _pool_size = n_workers
        return _pool


def reset_process_pool(broken: Any) -> None:
    """Forget ``broken`` (a pool whose worker died), so the next fold starts a new one."""
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None


class ThreadFolds:
    """A pool of ``n`` daemon threads for folds, started on first use (see the module)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._lock = threading.Lock()
        self._pool: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._pool is None:
                from ..executors.thread import DaemonThreadPool

                self._pool = DaemonThreadPool(self.n, name_prefix="asha-fold")
            return self._pool

    def close(self) -> None:
        """Let the threads go (a later fold starts a new pool)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
