"""Intra-op thread caps (BLAS/OpenMP, torch) so parallel trials do not oversubscribe the cores.

``torch.set_num_threads`` and threadpoolctl limits are process-global. With ``n`` trials
running as threads in one process, each kernel should use about ``cores // n`` threads
(:func:`intra_op_threads`); the thread executor holds a :class:`ThreadCap` while it runs. A
process worker runs one trial at a time and its siblings use the other cores, so it uses one
thread for good (:func:`set_worker_threads`, the process-pool initializer).

Caps nest. Every live :class:`ThreadCap` is kept in one process-wide registry; the limit in
force is the smallest live cap, and the values found before the first cap (per BLAS/OpenMP
library, and torch's) are put back when the last cap is released, whatever the release order.
Two thread searches that overlap in one notebook therefore leave the process as they found it.
A cap only lowers: a library (or torch) the user limited below it keeps the user's limit
(after ``torch.set_num_threads(1)`` a thread search's trials see 1 thread, not ``cores // n``).

torch is only touched if it is already imported: this module never imports torch.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from types import TracebackType

__all__ = [
    "available_cores",
    "intra_op_threads",
    "ThreadCap",
    "active_cap",
    "set_worker_threads",
    "apply_in_thread",
]

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
    """``max(1, cores // n_workers)``: threads per kernel for ``n_workers`` parallel trials.

    Examples
    --------
    >>> intra_op_threads(2, cores=8), intra_op_threads(16, cores=2)
    (4, 1)
    """
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, int(n_workers)))


# ---------------------------------------------------------------------------- registry
_lock = threading.RLock()
_caps: dict[int, int] = {}  # cap id -> threads it asks for
_ids = itertools.count()
_blas_before: dict[str, int] = {}  # library path -> its thread count before the first cap
_torch_before: int | None = None
#: OpenMP limits are per thread (each thread has its own ICV): the values a trial thread must
#: set for itself (library path -> threads), changed with ``_generation`` by every cap change.
_openmp_limits: dict[str, int] = {}
_generation = 0
_controller: object | None = None  # the last ThreadpoolController (reused by trial threads)
_local = threading.local()


def _set_libraries(n_threads: int, remember: bool) -> None:
    """Limit every loaded BLAS/OpenMP library (and torch, if imported) to ``n_threads``, or
    to the lower limit it already had: a cap only lowers a limit, never raises one the user
    set (``torch.set_num_threads(1)``, ``threadpool_limits(1)``).

    With ``remember``, the value each library (and torch) had before is kept for
    :func:`_restore_locked`, the first time that library is seen, and the cap is compared with
    that value; without it, with the library's current value.
    """
    global _torch_before, _controller, _generation
    from threadpoolctl import ThreadpoolController

    torch = sys.modules.get("torch")
    torch_now: int | None = None
    if torch is not None:
        # Read torch's setting first: capping its OpenMP runtime changes what it reports.
        torch_now = int(torch.get_num_threads())
        if remember and _torch_before is None:
            _torch_before = torch_now
    controller = ThreadpoolController()
    for lib in controller.lib_controllers:
        if remember and lib.filepath not in _blas_before:
            _blas_before[lib.filepath] = int(lib.num_threads)
        before = _blas_before.get(lib.filepath) if remember else int(lib.num_threads)
        limit = _lowered(n_threads, before)
        lib.set_num_threads(limit)
        if remember and lib.user_api == "openmp":
            _openmp_limits[lib.filepath] = limit
    if remember:
        _controller = controller
        _generation += 1
    if torch is not None:
        before_torch = _torch_before if remember else torch_now
        torch.set_num_threads(_lowered(n_threads, before_torch))


def _lowered(n_threads: int, before: int | None) -> int:
    """``n_threads``, or ``before`` where that limit was already lower (and valid)."""
    if before is not None and 1 <= before < n_threads:
        return before
    return n_threads


def _restore_locked() -> None:
    """Put back the values found before the first cap (called when the last one is released)."""
    global _torch_before
    from threadpoolctl import ThreadpoolController

    for lib in ThreadpoolController().lib_controllers:
        before = _blas_before.get(lib.filepath)
        if before is not None:
            lib.set_num_threads(before)
    torch = sys.modules.get("torch")
    if torch is not None and _torch_before is not None:
        torch.set_num_threads(_torch_before)
    _blas_before.clear()
    _torch_before = None
    _openmp_limits.clear()


def _apply_locked() -> None:
    if _caps:
        _set_libraries(min(_caps.values()), remember=True)
    else:
        _restore_locked()


def active_cap() -> int | None:
    """The intra-op thread limit in force (the smallest live :class:`ThreadCap`), or ``None``.

    Examples
    --------
    >>> active_cap() is None
    True
    >>> with ThreadCap(1):
    ...     active_cap()
    1
    >>> active_cap() is None
    True
    """
    with _lock:
        return min(_caps.values()) if _caps else None


class ThreadCap:
    """One holder's cap on intra-op threads; caps of several holders nest.

    Parameters
    ----------
    n_threads
        Threads per BLAS/OpenMP/torch kernel this holder wants (at least 1).

    Notes
    -----
    The limit in force is the smallest live cap (see the module docstring), and a cap only
    lowers: a library (or torch) already limited below it by the user keeps its own limit.
    Creating a cap
    registers it at once; :meth:`restore` (or leaving a ``with`` block) releases it, and the
    last release puts back the values found before the first cap. Limits cover the BLAS and
    OpenMP libraries loaded when a cap is set or changed (threadpoolctl), and torch when it is
    already imported.

    Examples
    --------
    >>> outer = ThreadCap(2)
    >>> inner = ThreadCap(1)
    >>> active_cap()
    1
    >>> outer.restore()      # released first: the inner cap still holds
    >>> active_cap()
    1
    >>> inner.restore()      # the last one: the original limits are back
    >>> active_cap() is None
    True
    """

    def __init__(self, n_threads: int) -> None:
        self._id = next(_ids)
        self.n_threads = 0
        self.set(n_threads)

    @property
    def active(self) -> bool:
        """Whether this cap is registered (not yet restored)."""
        with _lock:
            return self._id in _caps

    def set(self, n_threads: int) -> None:
        """Ask for ``n_threads`` from now on (registers the cap again after :meth:`restore`)."""
        n_threads = max(1, int(n_threads))
        with _lock:
            self.n_threads = n_threads
            _caps[self._id] = n_threads
            _apply_locked()

    def restore(self) -> None:
        """Release this cap (idempotent); the last release restores the original limits."""
        with _lock:
            if _caps.pop(self._id, None) is not None:
                _apply_locked()

    def __enter__(self) -> ThreadCap:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def __repr__(self) -> str:
        return f"ThreadCap(n_threads={self.n_threads}, active={self.active})"


def apply_in_thread() -> None:
    """Apply the cap in force to the calling thread's OpenMP runtime (call it in each trial
    thread before a job: OpenMP keeps one limit per thread, so a cap set from the notebook's
    thread does not reach trial threads). Cheap when nothing changed since this thread's last
    call.
    """
    if getattr(_local, "generation", None) == _generation:
        return
    with _lock:
        generation = _generation
        limits = dict(_openmp_limits)
        controller = _controller
    if limits and controller is not None:
        for lib in controller.lib_controllers:  # type: ignore[attr-defined]
            limit = limits.get(lib.filepath)
            if limit is not None:
                lib.set_num_threads(limit)
    _local.generation = generation


def set_worker_threads(n_threads: int = 1) -> None:
    """Use ``n_threads`` intra-op threads in this (worker) process, for good.

    Sets the usual environment variables (read by libraries imported later, e.g. torch),
    limits already loaded BLAS/OpenMP libraries through threadpoolctl and calls
    ``torch.set_num_threads`` if torch is already imported. Not part of the registry: nothing
    restores it.
    """
    n_threads = max(1, int(n_threads))
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n_threads)
    with _lock:
        _set_libraries(n_threads, remember=False)
