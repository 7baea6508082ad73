"""Hyperband (synchronous SHA brackets) and asynchronous Hyperband (ASHA brackets)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._validation import check_choice, check_int, check_number, check_optional_int
from ..space import Space
from ._brackets import rung_resources
from .asha import _AsyncBracket, _AsyncScheduler
from .sha import _SyncBracket, _SyncScheduler

__all__ = ["Hyperband", "AsyncHyperband", "bracket_rungs", "bracket_max_trials",
           "bracket_max_concurrent"]


def _s_max(min_resource: float, max_resource: float, eta: int) -> int:
    return len(rung_resources(min_resource, max_resource, eta, 0)) - 1


class Hyperband(_SyncScheduler):
    """Hyperband with synchronous successive-halving brackets (Li et al., JMLR 2018).

    With ``s_max = floor(log_eta(R / r))``, bracket ``s = s_max, ..., 0`` runs SHA on
    ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations starting at resource
    ``R * eta**-s`` (``early_stopping_rate = s_max - s``). Brackets share the workers: a
    worker takes a job from the first bracket that has one, so a bracket waiting at its rung
    barrier lets the next bracket start.

    Parameters
    ----------
    space, min_resource, max_resource, reduction_factor, mode, seed
        As for :class:`~asha_nb.ASHA`.
    n_iterations
        How many times to run the whole set of brackets (integer >= 1).

    Examples
    --------
    >>> from asha_nb import Hyperband, space
    >>> hb = Hyperband({"x": space.uniform(0, 1)}, min_resource=1, max_resource=9,
    ...                reduction_factor=3, seed=0)
    >>> hb.bracket_sizes
    [9, 5, 3]
    >>> hb.rung_resources
    [[1, 3, 9], [3, 9], [9]]
    """

    def __init__(
        self,
        space: Mapping[str, Any] | Space,
        *,
        min_resource: float,
        max_resource: float,
        reduction_factor: int = 3,
        mode: str = "max",
        n_iterations: int = 1,
        seed: int | None = None,
    ):
        params = {k: v for k, v in locals().items() if k not in ('self', 'space', '__class__')}
        super().__init__(space, min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, mode=mode, seed=seed)
        self._params = params
        self.n_iterations = check_int("n_iterations", n_iterations, low=1)
        eta = self.reduction_factor
        s_max = _s_max(self.min_resource, self.max_resource, eta)
        brackets: list[_SyncBracket] = []
        for _ in range(self.n_iterations):
            for s in range(s_max, -1, -1):
                n = math.ceil((s_max + 1) / (s + 1) * eta**s)
                res = rung_resources(self.min_resource, self.max_resource, eta, s_max - s)
                brackets.append(_SyncBracket(len(brackets), res, self._sign, eta, n))
        self._brackets = brackets

    @property
    def bracket_sizes(self) -> list[int]:
        """Configurations planned for rung 0 of each bracket."""
        return [b.n_configs for b in self._brackets]


def bracket_rungs(bracket_mode: str, max_rungs: int) -> list[int]:
    """Number of rungs of each bracket, most early stopping first (Determined's modes).

    ``"aggressive"``: one bracket with ``max_rungs`` rungs; ``"standard"``: rung counts
    ``max_rungs`` down to ``(max_rungs - 1) // 2 + 1``; ``"conservative"``: ``max_rungs`` down
    to 1.

    >>> bracket_rungs("standard", 5), bracket_rungs("conservative", 3), bracket_rungs("aggressive", 4)
    ([5, 4, 3], [3, 2, 1], [4])
    """
    if bracket_mode == "aggressive":
        low = max_rungs
    elif bracket_mode == "standard":
        low = (max_rungs - 1) // 2 + 1
    else:
        low = 1
    return list(range(max_rungs, low - 1, -1))


def bracket_max_trials(max_trials: int, eta: float, rungs: list[int]) -> list[int]:
    """Split ``max_trials`` over brackets so each gets roughly the same total resource.

    A bracket with ``n`` rungs costs about ``n`` units per ``eta**(n-1)`` configurations, so its
    weight is ``eta**(n-1) / n``; every bracket gets at least one trial and the remainder goes
    to the first (most aggressive) bracket, as in Determined's ``adaptive_asha``.

    >>> bracket_max_trials(100, 4, [5, 4, 3])
    [71, 22, 7]
    """
    weights = [eta ** (n - 1) / n for n in rungs]
    total = sum(weights)
    alloc = [max(int(w / total * max_trials), 1) for w in weights]
    alloc[0] += max(max_trials - sum(alloc), 0)
    return alloc


def bracket_max_concurrent(max_concurrent: int, n_brackets: int) -> list[int]:
    """Split a concurrency cap evenly over brackets, remainder to the most aggressive first.

    >>> bracket_max_concurrent(8, 3)
    [3, 3, 2]
    """
    max_concurrent = max(max_concurrent, n_brackets)
    base, rem = divmod(max_concurrent, n_brackets)
    return [base + (1 if i < rem else 0) for i in range(n_brackets)]


class AsyncHyperband(_AsyncScheduler):
    """Asynchronous Hyperband: several ASHA brackets with different early-stopping rates.

    Bracket choice follows Determined's ``adaptive_asha``: with ``m`` = the number of rungs of
    the most aggressive bracket (``max_rungs``, limited by what ``R / r`` and ``max_trials``
    allow), ``bracket_mode="aggressive"`` runs one bracket of ``m`` rungs, ``"standard"``
    brackets of ``m, m-1, ..., (m-1)//2 + 1`` rungs and ``"conservative"`` brackets of ``m``
    down to 1 rung. A bracket with ``n`` rungs has ``early_stopping_rate = s_max + 1 - n``, so
    every bracket ends at the same top resource. New trials go to the bracket that is least
    filled relative to its share (``eta**(n-1) / n``, equal total resource per bracket);
    ``max_trials`` is split the same way, and ``max_concurrent`` caps the running jobs per
    bracket (split evenly, as Determined's ``max_concurrent_trials``).

    Parameters
    ----------
    space, min_resource, max_resource, reduction_factor, mode, max_trials, type, seed
        As for :class:`~asha_nb.ASHA`. ``mode`` is the metric direction (``"max"``/``"min"``).
    bracket_mode
        ``"aggressive"``, ``"standard"`` (default) or ``"conservative"``: Determined's ``mode``.
    max_rungs
        Largest number of rungs of a bracket (Determined's ``max_rungs``, default 5).
    max_concurrent
        Cap on running jobs over all brackets, split per bracket (``None``: no cap).

    Examples
    --------
    >>> from asha_nb import AsyncHyperband, space
    >>> ahb = AsyncHyperband({"x": space.uniform(0, 1)}, min_resource=1, max_resource=81,
    ...                      reduction_factor=3, bracket_mode="standard", max_trials=500, seed=0)
    >>> ahb.rung_resources
    [[1, 3, 9, 27, 81], [3, 9, 27, 81], [9, 27, 81]]
    >>> ahb.bracket_max_trials
    [313, 130, 57]
    """

    def __init__(
        self,
        space: Mapping[str, Any] | Space,
        *,
        min_resource: float,
        max_resource: float,
        reduction_factor: int = 4,
        mode: str = "max",
        bracket_mode: str = "standard",
        max_rungs: int = 5,
        max_trials: int | None = None,
        max_concurrent: int | None = None,
        type: str = "promotion",
        seed: int | None = None,
    ):
        params = {k: v for k, v in locals().items() if k not in ('self', 'space', '__class__')}
        super().__init__(space, min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, mode=mode, max_trials=max_trials,
                         type=type, seed=seed)
        self._params = params
        self.bracket_mode = check_choice("bracket_mode", bracket_mode,
                                         ("aggressive", "standard", "conservative"))
        self.max_rungs = check_int("max_rungs", max_rungs, low=1)
        self.max_concurrent = check_optional_int("max_concurrent", max_concurrent, low=1)
        eta = self.reduction_factor
        s_max = _s_max(self.min_resource, self.max_resource, eta)
        m = min(self.max_rungs, s_max + 1)
        if self.max_trials is not None:
            m = min(m, len(rung_resources(1, self.max_trials, eta, 0)))
        rungs = bracket_rungs(self.bracket_mode, m)
        weights = [eta ** (n - 1) / n for n in rungs]
        trials = (bracket_max_trials(self.max_trials, eta, rungs)
                  if self.max_trials is not None else [None] * len(rungs))
        conc = (bracket_max_concurrent(self.max_concurrent, len(rungs))
                if self.max_concurrent is not None else [None] * len(rungs))
        self._brackets = [
            _AsyncBracket(i, rung_resources(self.min_resource, self.max_resource, eta,
                                            s_max + 1 - n), self._sign, eta,
                          max_trials=trials[i], max_concurrent=conc[i], weight=weights[i])
            for i, n in enumerate(rungs)
        ]

    @property
    def bracket_max_trials(self) -> list[int | None]:
        """Trial budget of each bracket (``None`` entries without ``max_trials``)."""
        return [b.max_trials for b in self._brackets]

    @classmethod
    def adaptive_asha(
        cls,
        space: Mapping[str, Any] | Space,
        *,
        max_length: float,
        max_trials: int,
        mode: str = "standard",
        divisor: int = 4,
        max_rungs: int = 5,
        max_concurrent_trials: int = 0,
        smaller_is_better: bool = True,
        stop_once: bool = False,
        seed: int | None = None,
    ) -> AsyncHyperband:
        """Build from Determined ``adaptive_asha`` options, with Determined's names.

        ``mode`` here is Determined's bracket mode; ``max_length`` is ``max_resource``; the
        smallest rung is ``max_length / divisor**(max_rungs - 1)``; ``smaller_is_better``
        gives ``mode="min"``; ``stop_once=True`` selects the stopping type;
        ``max_concurrent_trials=0`` means no cap.

        >>> from asha_nb import AsyncHyperband, space
        >>> s = AsyncHyperband.adaptive_asha({"x": space.uniform(0, 1)}, max_length=256,
        ...                                  max_trials=1000, mode="aggressive")
        >>> s.rung_resources, s.mode
        ([[1, 4, 16, 64, 256]], 'min')
        """
        check_number("max_length", max_length, low=0, low_inclusive=False)
        check_int("max_trials", max_trials, low=1)
        check_int("divisor", divisor, low=2)
        check_int("max_rungs", max_rungs, low=1)
        check_int("max_concurrent_trials", max_concurrent_trials, low=0)
        rungs = min(max_rungs, int(math.log(max_length) / math.log(divisor) + 1e-9) + 1)
        rungs = max(rungs, 1)
        low = divisor ** (rungs - 1)
        exact = isinstance(max_length, int) and max_length % low == 0
        return cls(
            space,
            min_resource=max_length // low if exact else max_length / low,
            max_resource=max_length,
            reduction_factor=divisor,
            mode="min" if smaller_is_better else "max",
            bracket_mode=check_choice("mode", mode, ("aggressive", "standard", "conservative")),
            max_rungs=rungs,
            max_trials=max_trials,
            max_concurrent=max_concurrent_trials or None,
            type="stopping" if stop_once else "promotion",
            seed=seed,
        )
