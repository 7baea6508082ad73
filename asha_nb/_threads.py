"""Intra-op thread caps (BLAS/OpenMP, torch) so parallel trials do not oversubscribe the cores.

``torch.set_num_threads`` and threadpoolctl limits are process-global. With ``n`` trials
running as threads in one process, each kernel should use about ``cores // n`` threads
(:func:`cap_threads`, used by the thread executor, restored at shutdown). A process worker
runs one trial at a time and its siblings use the other cores, so it uses one thread
(:func:`set_worker_threads`, the process-pool initializer).

torch is only touched if it is already imported: this module never imports torch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["available_cores", "intra_op_threads", "ThreadCap", "cap_threads", "set_worker_threads"]

#: Environment variables read by OpenMP, MKL, OpenBLAS, Accelerate, numexpr at start-up.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def available_cores() -> int:
    """Cores this process may run on (CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def intra_op_threads(n_workers: int, cores: int | None = None) -> int:
    """``max(1, cores // n_workers)``: threads per kernel for ``n_workers`` parallel trials."""
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, int(n_workers)))


class ThreadCap:
    """A process-wide cap on intra-op threads that can be changed and restored.

    Parameters
    ----------
    n_threads
        Threads per BLAS/OpenMP/torch kernel.

    Notes
    -----
    Uses threadpoolctl when installed (BLAS and OpenMP libraries already loaded) and
    ``torch.set_num_threads`` when torch is already imported. :meth:`restore` puts back the
    values found by the first cap.
    """

    def __init__(self, n_threads: int) -> None:
        self._limiter: Any = None
        self._torch_before: int | None = None
        self.n_threads = 0
        self.set(n_threads)

    def set(self, n_threads: int) -> None:
        """Change the cap to ``n_threads``."""
        n_threads = max(1, int(n_threads))
        self.n_threads = n_threads
        torch = sys.modules.get("torch")
        if torch is not None and self._torch_before is None:
            # Read torch's setting first: threadpoolctl's limit may change what it reports.
            try:
                self._torch_before = int(torch.get_num_threads())
            except Exception:
                pass
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass
        else:
            try:
                limiter = threadpool_limits(limits=n_threads)
                if self._limiter is None:
                    self._limiter = limiter  # remembers the original limits
            except Exception:
                pass
        if torch is not None:
            try:
                torch.set_num_threads(n_threads)
            except Exception:
                pass

    def restore(self) -> None:
        """Put back the thread settings found before the first cap."""
        if self._limiter is not None:
            try:
                self._limiter.restore_original_limits()
            except Exception:
                pass
            self._limiter = None
        torch = sys.modules.get("torch")
        if torch is not None and self._torch_before is not None:
            try:
                torch.set_num_threads(self._torch_before)
            except Exception:
                pass
        self._torch_before = None


def cap_threads(n_workers: int) -> ThreadCap:
    """Cap intra-op threads to ``max(1, cores // n_workers)``; call ``.restore()`` to undo."""
    return ThreadCap(intra_op_threads(n_workers))


def set_worker_threads(n_threads: int = 1) -> None:
    """Use ``n_threads`` intra-op threads in this (worker) process, for good.

    Sets the usual environment variables (read by libraries imported later, e.g. torch),
    limits already loaded BLAS/OpenMP libraries through threadpoolctl and calls
    ``torch.set_num_threads`` if torch is already imported.
    """
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n_threads)
    ThreadCap(n_threads)  # not restored: the worker process keeps the cap
