"""Rungs: value-sorted containers with O(log n) insert, rank and best-promotable lookup."""

from __future__ import annotations

import math

from sortedcontainers import SortedList

__all__ = ["Rung", "rank_key"]

_WORST = 1  # first key element for NaN / +-inf values: they rank after every finite value


def rank_key(value: float, trial_id: int, sign: float) -> tuple[int, float, int]:
    """Sort key of a result: best first, NaN/inf last, ties broken by the older trial.

    ``sign`` is ``-1.0`` for ``mode="max"`` and ``1.0`` for ``mode="min"``.
    """
    if math.isfinite(value):
        return (0, sign * value, trial_id)
    return (_WORST, 0.0, trial_id)


class Rung:
    """Results recorded at one resource level.

    Keeps every result sorted (``_all``) and, separately, the results that may still be promoted
    (``_open``: not yet promoted, not stopped). The best promotable trial inside the top
    ``floor(n / eta)`` is then ``_open[0]`` if its rank in ``_all`` is below ``floor(n / eta)``:
    two O(log n) look-ups, no scan of the rung.
    """

    __slots__ = ("index", "resource", "sign", "_all", "_open", "_keys", "_values", "n_promoted")

    def __init__(self, index: int, resource: float, sign: float):
        self.index = index
        self.resource = resource
        self.sign = sign
        self._all: SortedList = SortedList()
        self._open: SortedList = SortedList()
        self._keys: dict[int, tuple[int, float, int]] = {}
        self._values: dict[int, float] = {}
        self.n_promoted = 0

    def __len__(self) -> int:
        return len(self._all)

    def __contains__(self, trial_id: int) -> bool:
        return trial_id in self._keys

    def add(self, trial_id: int, value: float, *, promotable: bool = True) -> None:
        """Record ``value`` for ``trial_id`` (once per trial and rung)."""
        if trial_id in self._keys:
            raise ValueError(f"trial {trial_id} already has a result in rung {self.index}")
        key = rank_key(value, trial_id, self.sign)
        self._keys[trial_id] = key
        self._values[trial_id] = value
        self._all.add(key)
        if promotable:
            self._open.add(key)

    def value(self, trial_id: int) -> float:
        """The value recorded for ``trial_id``."""
        return self._values[trial_id]

    def rank(self, trial_id: int) -> int:
        """0-based rank of ``trial_id`` among the rung's results (0 = best)."""
        return self._all.bisect_left(self._keys[trial_id])

    def best_promotable(self, eta: int) -> int | None:
        """Best not-yet-promoted trial inside the top ``floor(n / eta)``, or ``None``."""
        if not self._open:
            return None
        k = len(self._all) // eta
        if k == 0:
            return None
        key = self._open[0]
        return key[2] if self._all.bisect_left(key) < k else None

    def mark_promoted(self, trial_id: int) -> None:
        """Take ``trial_id`` out of the promotable set and count it as promoted."""
        self._open.discard(self._keys[trial_id])
        self.n_promoted += 1

    def block(self, trial_id: int) -> None:
        """Take ``trial_id`` out of the promotable set (e.g. stopped by the user)."""
        key = self._keys.get(trial_id)
        if key is not None:
            self._open.discard(key)

    def top(self, k: int) -> list[int]:
        """Trial ids of the ``k`` best results, best first."""
        return [key[2] for key in self._all.islice(0, max(0, k))]

    def cutoff(self, eta: int) -> float | None:
        """Worst value inside the top ``floor(n / eta)``, or ``None`` if that set is empty."""
        k = len(self._all) // eta
        if k == 0:
            return None
        return self._values[self._all[k - 1][2]]
