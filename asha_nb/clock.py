"""Clocks of the runtime loop: wall time for real trials, virtual time for simulations.

The runtime loop (:mod:`asha_nb.runtime._loop`) never calls :mod:`time` itself for the search's own
timeline: every time it records (job start and end, events, the time budget, scheduled control
calls) comes from a :class:`Clock`. With :class:`WallClock` and a real executor it runs trials;
with :class:`VirtualClock` and :class:`~asha_nb.executors.SimulatedExecutor` the very same loop
is the simulator: jobs finish at virtual times given by a cost model, instantly and
deterministically.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from .errors import InvalidParameterError

__all__ = ["Clock", "WallClock", "VirtualClock"]


@runtime_checkable
class Clock(Protocol):
    """Where the loop takes its time from (seconds since the search's origin)."""

    #: ``True`` for a virtual clock: time moves only when the loop advances it.
    virtual: bool

    def now(self) -> float:
        """Seconds since the search's origin."""
        ...


class WallClock:
    """Wall-clock time since ``origin`` (seconds since the epoch; default: now).

    A resumed search passes the original search's origin, so its timeline continues.

    Examples
    --------
    >>> clock = WallClock()
    >>> 0 <= clock.now() < 5
    True
    """

    virtual = False

    def __init__(self, origin: float | None = None) -> None:
        self.origin = time.time() if origin is None else float(origin)

    def now(self) -> float:
        """Seconds since :attr:`origin`."""
        return time.time() - self.origin

    def __repr__(self) -> str:
        return f"WallClock(origin={self.origin!r})"


class VirtualClock:
    """Virtual time: it stands still until :meth:`advance_to` moves it forward.

    Parameters
    ----------
    start
        Initial time (a resumed virtual search continues from its last recorded time).

    Examples
    --------
    >>> clock = VirtualClock()
    >>> clock.advance_to(2.5)
    >>> clock.now()
    2.5
    """

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self.t = float(start)

    def now(self) -> float:
        """The current virtual time."""
        return self.t

    def advance_to(self, t: float) -> None:
        """Move time forward to ``t`` (never backwards)."""
        if t < self.t:
            raise InvalidParameterError(
                f"virtual time cannot go backwards: now {self.t!r}, asked for {t!r}"
            )
        self.t = float(t)

    def __repr__(self) -> str:
        return f"VirtualClock(t={self.t!r})"
