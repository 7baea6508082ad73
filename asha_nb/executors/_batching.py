"""The batched executor's small parts: its inbox messages, its record of a job the engine has,
the shared heap freeze (``freeze_gc``) and the check of a model's engine options."""

from __future__ import annotations

import atexit
import enum
import gc
import inspect
import threading
import weakref
from typing import Any

from ..errors import InvalidTypeError, SearchStateError
from ._base import JobOutcome, RunningJob

__all__: list[str] = []

_live: weakref.WeakSet[Any] = weakref.WeakSet()  # executors whose batching thread may run
_gc_lock = threading.Lock()
_gc_holders = 0  # running executors that froze the heap (gc.freeze) and will undo it


def _freeze_heap() -> bool:
    """``gc.freeze()`` unless someone else froze objects already; whether this call did."""
    global _gc_holders
    with _gc_lock:
        if _gc_holders == 0 and gc.get_freeze_count():
            return False  # frozen by the user: leave it to them
        if _gc_holders == 0:
            gc.freeze()
        _gc_holders += 1
        return True


def _thaw_heap() -> None:
    global _gc_holders
    with _gc_lock:
        _gc_holders -= 1
        if _gc_holders == 0:
            gc.unfreeze()


class _HeapHold:
    """One executor session's share of the heap freeze (``freeze_gc``), released once: by
    ``shutdown()`` or by the batching thread's end, whichever comes first (a session's late
    thread never releases a later session's share)."""

    __slots__ = ("_held", "_lock")

    def __init__(self, freeze: bool) -> None:
        self._lock = threading.Lock()
        self._held = freeze and _freeze_heap()

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            _thaw_heap()


class _Job:
    """A job the engine has: its handle, when its row began training (``perf_counter``;
    ``None`` while it waits in the engine's queue) and its intermediate values so far."""

    __slots__ = ("running", "t0", "curve")

    def __init__(self, running: RunningJob, t0: float | None) -> None:
        self.running = running
        self.t0 = t0
        self.curve: list[tuple[float, float]] = []

    def duration(self, now: float) -> float:
        return 0.0 if self.t0 is None else now - self.t0

    def outcome(self, now: float, **fields: Any) -> JobOutcome:
        """The job's outcome; it carries the intermediate values too, which the runtime
        takes where it did not drain them from the executor before the job ended."""
        return JobOutcome(duration=self.duration(now), intermediate=tuple(self.curve), **fields)


class _Msg(enum.Enum):
    """Messages from the runtime's thread to the batching thread."""

    ADD = "add"
    STOP = "stop"
    RESIZE = "resize"
    WAKE = "wake"
    CAUGHT_UP = "caught_up"


def _check_model_options(model: Any, options: dict[str, Any]) -> None:
    """Refuse engine options ``model.engine()`` does not take, and those its own
    ``check_engine_options(**options)`` (optional; the JAX model has it) refuses."""
    if not options:
        return
    engine = getattr(model, "engine", None)
    if not callable(engine):
        return  # start() names what is missing
    try:
        inspect.signature(engine).bind(1, **options)
    except TypeError as exc:
        raise InvalidTypeError(
            f"{type(model).__name__}.engine() does not take the executor's engine options "
            f"{sorted(options)}: {exc}") from exc
    except ValueError:  # no signature to read (a builtin): the engine call will tell
        pass
    check = getattr(model, "check_engine_options", None)
    if callable(check):
        check(**options)


def _join_ended(thread: threading.Thread | None, closed: threading.Event) -> None:
    """Before a new session: wait for the last session's batching thread (shut down, maybe
    still reading its chunk in flight) to end, so that it takes none of the new session's
    jobs; refuse if that session still runs."""
    if thread is None or not thread.is_alive():
        return
    if not closed.is_set():
        raise SearchStateError(
            "this BatchedExecutor is running another search: give each search its own "
            "executor, or stop the other search first")
    if thread is not threading.current_thread():
        thread.join()


def _end_at_exit(executor: Any) -> None:
    """Have ``executor``'s batching thread (a daemon) stopped and joined when the interpreter
    exits: a thread still inside JAX or torch while Python finalizes aborts the process
    ("terminate called after throwing ..."), e.g. a script that ends right after ``run()``."""
    if not _live:
        atexit.unregister(_join_all)
        atexit.register(_join_all)
    _live.add(executor)


def _join_all(timeout: float = 30.0) -> None:
    executors = list(_live)
    for ex in executors:
        ex.shutdown(wait=False)
    for ex in executors:
        thread = ex._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
