"""The best-so-far tracker of a search: its incumbent history, its best value at any rung,
and whether a target value was reached."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["BestTracker"]


class BestTracker:
    """Owns the two best-so-far histories of a search (loop thread only).

    Parameters
    ----------
    mode
        ``"max"`` or ``"min"``.
    best
        The scheduler's ``best()``: ``(trial_id, value, resource)`` of the incumbent (the best
        value at the highest rung reached), or ``None``.
    target
        A value that ends the search once reached (``>=`` for max, ``<=`` for min), or
        ``None``.

    Examples
    --------
    >>> t = BestTracker("min", lambda: (0, 0.5, 1), target=0.1)
    >>> t.track(0, 1, 0.5, now=2.0)
    >>> t.incumbents, t.best_any, t.reached(0.05)
    ([(2.0, 0, 0.5, 1)], [(2.0, 0, 0.5, 1)], True)
    """

    def __init__(self, mode: str, best: Callable[[], tuple[int, float, float] | None],
                 target: float | None = None) -> None:
        self.mode = mode
        self.target = target
        self._best = best
        self._sign = -1.0 if mode == "max" else 1.0
        #: ``(time, trial_id, value, resource)`` each time the incumbent changed
        self.incumbents: list[tuple[float, int, float, float]] = []
        #: ``(time, trial_id, value, resource)`` each time the best value at any rung improved
        self.best_any: list[tuple[float, int, float, float]] = []
        self._inc: tuple[int, float, float] | None = None
        self._inc_key: tuple[float, float] | None = None  # (resource, signed value)
        self._best_any_signed: float | None = None

    def track(self, trial_id: int, resource: float, value: float, now: float) -> None:
        """A result came in: keep both histories up to date (O(1) unless the new value can
        change the incumbent)."""
        if not math.isfinite(value):
            return
        signed = self._sign * value
        if self._best_any_signed is None or signed < self._best_any_signed:
            self._best_any_signed = signed
            self.best_any.append((now, trial_id, value, resource))
        key = self._inc_key
        if key is not None and (resource < key[0] or (resource == key[0] and signed > key[1])):
            return
        best = self._best()
        if best is not None and best != self._inc:
            self._inc = best
            self._inc_key = (best[2], self._sign * best[1])
            self.incumbents.append((now, best[0], best[1], best[2]))

    def reached(self, value: float) -> bool:
        """Whether ``value`` reaches the target (never without one, never for NaN/inf)."""
        target = self.target
        if target is None or not math.isfinite(value):
            return False
        return value >= target if self.mode == "max" else value <= target
