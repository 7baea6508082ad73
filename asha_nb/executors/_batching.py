"""The batched executor's small parts: its inbox messages, its record of a job the engine has,
and the shared heap freeze (``freeze_gc``)."""

from __future__ import annotations

import enum
import gc
import threading

from ._base import RunningJob

__all__: list[str] = []

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


class _Job:
    """A job the engine has: its handle, and when its row began training (``perf_counter``;
    ``None`` while it waits in the engine's queue)."""

    __slots__ = ("running", "t0")

    def __init__(self, running: RunningJob, t0: float | None) -> None:
        self.running = running
        self.t0 = t0

    def duration(self, now: float) -> float:
        return 0.0 if self.t0 is None else now - self.t0


class _Msg(enum.Enum):
    """Messages from the runtime's thread to the batching thread."""

    ADD = "add"
    STOP = "stop"
    RESIZE = "resize"
    WAKE = "wake"
    CAUGHT_UP = "caught_up"
