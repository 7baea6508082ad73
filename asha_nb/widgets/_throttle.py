"""A timer that flushes at most once per interval, and never takes more than a share of the CPU.

Whoever has something to send calls :meth:`Throttle.notify` (an attribute store), or the
throttle asks ``pending()``. A daemon timer thread calls :meth:`Throttle.tick` every
``interval`` seconds; a tick flushes only if something is pending and at least ``interval``
seconds passed. So the number of flushes is at most ``elapsed / interval + 1`` whatever the
event rate, and each flush sends a bounded number of messages (the dashboard: one chart message
and one status update), which bounds the front-end message rate.

``max_duty`` bounds the throttle's own cost: after a flush that took ``d`` seconds, the timer
waits at least ``d / max_duty`` seconds before the next one. Python threads share one
interpreter lock, so time spent flushing is time the search's loop thread cannot run; with
``max_duty=0.02`` the dashboard uses at most about 2 % of it, however fast trials arrive (a
search that produces records faster than the dashboard can draw them is drawn less often).

The clock is injectable, so tests drive :meth:`tick` by hand with a fake clock and make no
timed assertions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Throttle"]


class Throttle:
    """Call ``flush()`` at most once per ``interval`` seconds, and only when notified.

    Parameters
    ----------
    flush
        Called without arguments, on the timer thread (or the thread calling :meth:`tick`
        / :meth:`flush_now`). Exceptions are caught and kept in :attr:`last_error`.
    interval
        Minimum seconds between two flushes (default 0.25: <= 4 flushes per second).
    clock
        Monotonic clock in seconds (injectable for tests).
    pending
        Optional ``() -> bool``: "is there something to flush?", checked in addition to
        :meth:`notify`.
    max_duty
        Largest share of wall time the flushes may take (``None``: no limit): after a flush
        that took ``d`` seconds the timer waits ``max(interval, d / max_duty)``.

    Examples
    --------
    >>> calls = []
    >>> now = [0.0]
    >>> th = Throttle(lambda: calls.append(now[0]), interval=0.25, clock=lambda: now[0])
    >>> for i in range(1000):  # 1000 events in one (fake) second
    ...     now[0] = i / 1000
    ...     th.notify()
    ...     _ = th.tick()
    >>> len(calls)
    4
    """

    def __init__(self, flush: Callable[[], None], interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic,
                 pending: Callable[[], Any] | None = None, max_duty: float | None = None):
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        if max_duty is not None and not 0 < max_duty <= 1:
            raise ValueError(f"max_duty must be in (0, 1], got {max_duty!r}")
        self._flush = flush
        self.interval = float(interval)
        self._clock = clock
        self._pending = pending
        self._dirty = False
        self._last = -float("inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.max_duty = max_duty
        self.n_flushes = 0
        #: Seconds the flushes took in all (on ``clock``).
        self.busy_seconds = 0.0
        #: Seconds the timer waits before its next tick (grows after an expensive flush).
        self.gap = self.interval
        self.last_error: BaseException | None = None

    def notify(self) -> None:
        """Mark that there is something to flush (called per event; cheap)."""
        self._dirty = True

    def _is_dirty(self) -> bool:
        return self._dirty or (self._pending is not None and bool(self._pending()))

    def tick(self) -> bool:
        """Flush if notified and the interval has passed; return whether it flushed."""
        if not self._is_dirty():
            return False
        now = self._clock()
        if now - self._last < self.gap:
            return False
        return self._run(now)

    def flush_now(self) -> bool:
        """Flush at once if anything is pending (e.g. at the end of a search)."""
        if not self._is_dirty():
            return False
        return self._run(self._clock())

    def _run(self, now: float) -> bool:
        with self._lock:
            if not self._is_dirty():
                return False
            self._dirty = False
            self._last = now
            self.n_flushes += 1
            t0 = self._clock()
            try:
                self._flush()
            except Exception as exc:  # noqa: BLE001 - never kill the timer thread
                self.last_error = exc
            took = max(0.0, self._clock() - t0)
            self.busy_seconds += took
            if self.max_duty is not None:
                self.gap = max(self.interval, took / self.max_duty)
        return True

    # ------------------------------------------------------------------ timer thread
    @property
    def running(self) -> bool:
        """Whether the timer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Throttle:
        """Start the daemon timer thread (idempotent)."""
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="asha_nb-throttle", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.gap if self.max_duty is not None else self.interval):
            self.tick()

    def stop_soon(self) -> None:
        """Let the timer thread end after its current tick (callable from the flush itself)."""
        self._stop.set()

    def stop(self, flush: bool = True) -> None:
        """Stop the timer thread; with ``flush``, flush what is pending one last time."""
        self._stop.set()
        th = self._thread
        if th is not None and th is not threading.current_thread():
            th.join(timeout=5)
        self._thread = None
        if flush:
            self.flush_now()
