"""Trampolines for workers in other processes: the objective and checkpoints as pickles.

A process pool (pebble, a user's ``ProcessPoolExecutor``, Dask, MPI) runs :func:`run_pickled`
or :func:`run_installed`, module-level functions importable in every worker: they load the
cloudpickled objective once per worker (a small cache keyed by its hash) and run the job with
:func:`~asha_nb.executors._worker.run_job`. A checkpoint leaves its worker process pickled
(:class:`PickledCheckpoint`, :func:`portable_outcome`) and is loaded back on the runtime's side
(:func:`local_outcome`): one that cannot be pickled is dropped with a note, the value kept.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from .._trial import Channel
from ..errors import InvalidTypeError
from ._base import JobOutcome, JobSpec
from ._worker import ObjectiveForm, objective_form, run_job

__all__ = [
    "dumps_objective",
    "load_objective",
    "run_pickled",
    "run_installed",
    "init_process_worker",
    "PickledCheckpoint",
    "portable_outcome",
    "local_outcome",
    "process_origin",
]


# ---------------------------------------------------------------------------- trampolines
def dumps_objective(objective: Callable[..., Any]) -> bytes:
    """Serialize ``objective`` with cloudpickle (notebook functions, lambdas, closures).

    Raises
    ------
    InvalidTypeError
        If the objective (or something it refers to) cannot be pickled.
    """
    import cloudpickle

    try:
        blob: bytes = cloudpickle.dumps(objective)
    except Exception as exc:
        raise InvalidTypeError(
            f"objective {objective!r} cannot be sent to worker processes: cloudpickle failed "
            f"with {type(exc).__name__}: {exc}. Objects it refers to (open files, locks, "
            "database connections) must be created inside the objective."
        ) from exc
    return blob


class PickledCheckpoint(NamedTuple):
    """A checkpoint pickled by the worker process that made it (:func:`portable_outcome`);
    the runtime loads it back (:meth:`load`)."""

    data: bytes

    def load(self) -> Any:
        """The checkpoint."""
        return pickle.loads(self.data)  # noqa: S301 - made by this search's own worker


def process_origin() -> tuple[str, int]:
    """``(host name, pid)`` of this process: where a search runs, so that a worker can tell
    whether its outcome must leave its process (:func:`run_pickled`)."""
    return socket.gethostname(), os.getpid()


def portable_outcome(outcome: JobOutcome) -> JobOutcome:
    """Pickle the outcome's checkpoint here, in the worker process, so that a checkpoint that
    cannot be pickled (a lock, an open file, a CUDA stream) is dropped with a note instead of
    failing the transport of the whole outcome and losing its value.

    Examples
    --------
    >>> import threading
    >>> out = portable_outcome(JobOutcome(value=1.0, checkpoint=threading.Lock()))
    >>> out.value, out.checkpoint, out.note.split(":")[0]
    (1.0, None, 'checkpoint not kept')
    >>> portable_outcome(JobOutcome(value=1.0, checkpoint=[1, 2])).checkpoint.load()
    [1, 2]
    """
    checkpoint = outcome.checkpoint
    if checkpoint is None or type(checkpoint) is PickledCheckpoint:
        return outcome
    import cloudpickle

    try:
        data = cloudpickle.dumps(checkpoint)
    except Exception as exc:  # noqa: BLE001 - the value still comes back, with a note
        note = (f"checkpoint not kept: it cannot be pickled to leave the worker process "
                f"({type(exc).__name__}: {exc}); the value is kept, and a promotion of this "
                "trial trains it from scratch")
        return outcome._replace(checkpoint=None, note=note)
    return outcome._replace(checkpoint=PickledCheckpoint(data))


def local_outcome(outcome: Any) -> Any:
    """The outcome with its checkpoint loaded back, where :func:`portable_outcome` pickled it
    (executors call it where the outcome arrives; a checkpoint that cannot be loaded is
    dropped with a note). Anything that is not a :class:`JobOutcome` is returned as is."""
    if type(outcome) is not JobOutcome or type(outcome.checkpoint) is not PickledCheckpoint:
        return outcome
    try:
        return outcome._replace(checkpoint=outcome.checkpoint.load())
    except Exception as exc:  # noqa: BLE001 - only this trial's checkpoint is lost
        note = (f"checkpoint not kept: it could not be unpickled in the search's process "
                f"({type(exc).__name__}: {exc}); a promotion of this trial trains it from "
                "scratch")
        return outcome._replace(checkpoint=None,
                                note=note if outcome.note is None else f"{outcome.note}; {note}")


def _read_local(f: Any) -> tuple[str, Any]:
    """:func:`~asha_nb.executors.generic.mirror_future` reader that loads checkpoints back."""
    if f.cancelled():
        return "cancelled", None
    exc = f.exception()
    return ("error", exc) if exc is not None else ("result", local_outcome(f.result()))


_CACHE_SIZE = 8
_cache: OrderedDict[bytes, tuple[Callable[..., Any], ObjectiveForm | None]] = OrderedDict()
_cache_lock = threading.Lock()


def load_objective(blob: bytes) -> tuple[Callable[..., Any], ObjectiveForm | None]:
    """Load a :func:`dumps_objective` blob, cached per process by its hash.

    Returns the function and its form (``None`` if the signature fits no form; then
    :func:`run_job` reports the error).
    """
    key = hashlib.blake2b(blob, digest_size=20).digest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    import cloudpickle

    fn = cloudpickle.loads(blob)
    try:
        form: ObjectiveForm | None = objective_form(fn)
    except InvalidTypeError:
        form = None
    with _cache_lock:
        _cache[key] = (fn, form)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return fn, form


def _load_failed() -> JobOutcome:
    return JobOutcome(
        error="the objective could not be loaded in the worker:\n" + traceback.format_exc()
    )


def run_pickled(blob: bytes, spec: JobSpec, channel: Channel | None = None,
                origin: tuple[str, int] | None = None) -> JobOutcome:
    """Trampoline for any pool: load the cloudpickled objective (cached) and run the job.

    ``channel=None`` uses the channel installed by :func:`init_process_worker`, if any.
    ``origin`` is the search's :func:`process_origin`: where the job runs in another process,
    its checkpoint is pickled here (:func:`portable_outcome`), so one that cannot be pickled
    costs only the checkpoint, never the value.
    """
    try:
        fn, form = load_objective(blob)
    except Exception:  # noqa: BLE001 - a failed load becomes the job's error
        return _load_failed()
    outcome = run_job(fn, spec, channel if channel is not None else _worker_channel, form=form)
    if origin is not None and outcome.checkpoint is not None and origin != process_origin():
        outcome = portable_outcome(outcome)
    return outcome


# Per-process state installed by the process pool's initializer.
_worker_blob: bytes | None = None
_worker_channel: Channel | None = None


def init_process_worker(
    blob: bytes | None, channel: Channel | None, threads: int | None = 1
) -> None:
    """Process-pool initializer: remember the objective and channel, cap intra-op threads.

    The objective is loaded lazily by the first job, so a load error becomes that job's error
    instead of breaking the pool.
    """
    global _worker_blob, _worker_channel
    _worker_blob = blob
    _worker_channel = channel
    if threads is not None:
        from .._threads import set_worker_threads

        set_worker_threads(threads)


def run_installed(spec: JobSpec) -> JobOutcome:
    """Run ``spec`` with the objective installed by :func:`init_process_worker`."""
    if _worker_blob is None:
        return JobOutcome(error="no objective was installed in this worker process")
    return portable_outcome(run_pickled(_worker_blob, spec, _worker_channel))
