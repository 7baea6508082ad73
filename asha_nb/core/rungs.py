"""Rungs: value-sorted containers with O(log n) insert and best-promotable lookup."""

from __future__ import annotations

import math
from itertools import chain, islice
from operator import itemgetter

import numpy as np
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
    """Results recorded at one resource level, split at the ``1/eta`` cutoff.

    The rung keeps its results in two sorted lists: ``_top``, the best ``floor(n / eta)``, and
    ``_rest``. A new result is inserted into one of them and at most one element moves across
    the cutoff, using only end-of-list operations. ``_top_open`` holds the keys in ``_top`` that
    may still be promoted (not promoted, not stopped, finite), so the paper's question "best
    candidate in the top ``1/eta`` not yet promoted" is ``_top_open[0]``. Every operation is
    O(log n); nothing ever rescans the rung or needs a global rank. NaN and infinite values rank
    last and are never promotable, even when they fall inside the top ``floor(n / eta)``.

    A finite value is stored only in its sort key (``sign * key[1]`` gives it back exactly);
    non-finite ones are kept aside, which keeps the memory per result small.
    """

    __slots__ = ("index", "resource", "sign", "eta", "_top", "_rest", "_top_open", "_keys",
                 "_nonfinite", "_closed", "n_promoted")

    def __init__(self, index: int, resource: float, sign: float, eta: int):
        self.index = index
        self.resource = resource
        self.sign = sign
        self.eta = eta
        self._top: SortedList = SortedList()
        self._rest: SortedList = SortedList()
        self._top_open: SortedList = SortedList()
        self._keys: dict[int, tuple[int, float, int]] = {}
        self._nonfinite: dict[int, float] = {}
        self._closed: set[int] = set()  # promoted, blocked or non-finite trial ids
        self.n_promoted = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, trial_id: int) -> bool:
        return trial_id in self._keys

    def add(self, trial_id: int, value: float, *, promotable: bool = True) -> None:
        """Record ``value`` for ``trial_id`` (once per trial and rung)."""
        if trial_id in self._keys:
            raise ValueError(f"trial {trial_id} already has a result in rung {self.index}")
        key = rank_key(value, trial_id, self.sign)
        self._keys[trial_id] = key
        if key[0] == _WORST:
            self._nonfinite[trial_id] = value
            promotable = False
        if not promotable:
            self._closed.add(trial_id)
        top, rest = self._top, self._rest
        if top and key < top[-1]:
            top.add(key)
            if trial_id not in self._closed:
                self._top_open.add(key)
        else:
            rest.add(key)
        k = len(self._keys) // self.eta
        # Restore len(top) == k; one element crosses the cutoff at most.
        while len(top) > k:
            self._move(top.pop(), rest, leaving_top=True)
        while len(top) < k and rest:
            self._move(rest.pop(0), top, leaving_top=False)

    def _move(self, key: tuple[int, float, int], dest: SortedList, *, leaving_top: bool) -> None:
        dest.add(key)
        if key[2] in self._closed:
            return
        if leaving_top:
            self._top_open.discard(key)
        else:
            self._top_open.add(key)

    def value(self, trial_id: int) -> float:
        """The value recorded for ``trial_id``."""
        key = self._keys[trial_id]
        if key[0] == _WORST:
            return self._nonfinite[trial_id]
        return self.sign * key[1]

    def value_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Trial ids and values of every result in this rung, as two arrays (in the order
        they were recorded): one pass, no per-trial lookup."""
        keys = self._keys
        n = len(keys)
        tids = np.fromiter(keys, dtype=np.int64, count=n)
        values = np.fromiter(map(itemgetter(1), keys.values()), dtype=np.float64, count=n)
        values *= self.sign  # what value() computes, for the finite ones
        if self._nonfinite:
            order = np.argsort(tids, kind="stable")
            bad = np.fromiter(self._nonfinite, dtype=np.int64, count=len(self._nonfinite))
            at = order[np.searchsorted(tids[order], bad)]
            values[at] = np.fromiter(self._nonfinite.values(), dtype=np.float64,
                                     count=len(bad))
        return tids, values

    def key(self, trial_id: int) -> tuple[int, float, int]:
        """Sort key of ``trial_id``'s result (smaller is better; see :func:`rank_key`)."""
        return self._keys[trial_id]

    def is_finite(self, trial_id: int) -> bool:
        """Whether ``trial_id``'s value is finite (non-finite values are never promoted)."""
        return trial_id not in self._nonfinite

    def in_top(self, trial_id: int) -> bool:
        """Whether ``trial_id`` is inside the top ``floor(n / eta)``."""
        top = self._top
        return bool(top) and self._keys[trial_id] <= top[-1]

    def is_best(self, trial_id: int) -> bool:
        """Whether ``trial_id`` holds the best result of the rung."""
        best = self._top[0] if self._top else self._rest[0]
        return bool(best == self._keys[trial_id])

    def best_promotable(self) -> int | None:
        """Best not-yet-promoted trial inside the top ``floor(n / eta)``, or ``None``."""
        open_ = self._top_open
        return open_[0][2] if open_ else None

    def mark_promoted(self, trial_id: int) -> None:
        """Take ``trial_id`` out of the promotable set and count it as promoted."""
        self.block(trial_id)
        self.n_promoted += 1

    def count_promotion(self) -> None:
        """Count a promotion decided outside the promotable set (the stopping type)."""
        self.n_promoted += 1

    def block(self, trial_id: int) -> None:
        """Take ``trial_id`` out of the promotable set (promoted, or stopped by the user)."""
        key = self._keys.get(trial_id)
        if key is None or trial_id in self._closed:
            return
        self._closed.add(trial_id)
        self._top_open.discard(key)

    def top(self, k: int) -> list[int]:
        """Trial ids of the ``k`` best results, best first."""
        return [key[2] for key in islice(chain(self._top, self._rest), max(0, k))]

    def cutoff(self) -> float | None:
        """Worst value inside the top ``floor(n / eta)``, or ``None`` if that set is empty."""
        return self.value(self._top[-1][2]) if self._top else None
