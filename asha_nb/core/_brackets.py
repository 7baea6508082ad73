"""The bracket geometry every scheduler shares: the resources of the rungs, what a bracket is,
and the one-bracket views of ASHA and SHA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..errors import InvalidParameterError
from .rungs import Rung

__all__ = ["rung_resources"]


def rung_resources(
    min_resource: float, max_resource: float, reduction_factor: int, early_stopping_rate: int
) -> list[float]:
    """Resources of the rungs: ``r * eta**(s + k)`` for ``k = 0 .. K - 1``, and ``R`` for rung ``K``.

    ``K = floor(log_eta(R / r)) - s`` is the top rung. It always trains exactly
    ``max_resource`` (as Hyperband, Ray Tune and Determined do): when ``R / r`` is not a power of
    ``eta`` the top rung's resource is ``R`` rather than ``r * eta**(s + K)``. Integer inputs give
    integer resources. ``min_resource == max_resource`` gives one rung (no early stopping).

    Raises
    ------
    InvalidParameterError
        If ``1 < R / r < eta`` (the range is too short for one reduction, so ``max_resource``
        could never be reached by a promotion), or if ``early_stopping_rate`` leaves no rung.

    Examples
    --------
    >>> rung_resources(1, 64, 4, 0)
    [1, 4, 16, 64]
    >>> rung_resources(1, 100, 3, 1)
    [3, 9, 27, 100]
    """
    # floor(log_eta(R/r)) computed without floating-point log error.
    k_max = 0
    while min_resource * reduction_factor ** (k_max + 1) <= max_resource * (1 + 1e-12):
        k_max += 1
    if k_max == 0 and max_resource > min_resource:
        raise InvalidParameterError(
            f"max_resource / min_resource must be 1 or at least reduction_factor={reduction_factor} "
            f"(one reduction), got max_resource={max_resource!r}, min_resource={min_resource!r}: "
            f"the range is too short for one rung step, so max_resource would never be trained; "
            f"use max_resource >= {min_resource * reduction_factor!r}, a smaller reduction_factor, "
            f"or max_resource == min_resource for a plain random search"
        )
    top = k_max - early_stopping_rate
    if top < 0:
        raise InvalidParameterError(
            f"early_stopping_rate must be an integer between 0 and floor(log_eta(max_resource / "
            f"min_resource)) = {k_max} for min_resource={min_resource!r}, "
            f"max_resource={max_resource!r}, reduction_factor={reduction_factor}; "
            f"got {early_stopping_rate}"
        )
    out = [min_resource * reduction_factor ** (early_stopping_rate + k) for k in range(top)]
    out.append(max_resource)
    return out


class _Bracket(Protocol):
    """What every scheduler's bracket has (the rest is its own)."""

    index: int
    resources: list[float]
    rungs: list[Rung]



class _HasBrackets(Protocol):
    @property
    def _brackets(self) -> Sequence[_Bracket]: ...


class _SingleBracket:
    """The one-bracket views of :class:`~asha_nb.core.ASHA` and :class:`~asha_nb.core.SHA`."""

    @property
    def resources(self: _HasBrackets) -> list[float]:
        """Resource of each rung (rung 0 first)."""
        return list(self._brackets[0].resources)

    @property
    def rungs(self: _HasBrackets) -> Sequence[Rung]:
        """The live rung containers (read-only use; prefer :meth:`snapshot`)."""
        return tuple(self._brackets[0].rungs)
