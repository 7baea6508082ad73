"""Declarative argument checks with one message format.

Every check raises :class:`~asha_nb.errors.InvalidParameterError` (a ``ValueError``) or
:class:`~asha_nb.errors.InvalidTypeError` (a ``TypeError``) whose message names the argument,
the allowed range and the value given, e.g.::

    reduction_factor must be a number >= 2, got 1
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

from .errors import InvalidParameterError, InvalidTypeError

__all__ = [
    "check_number",
    "check_int",
    "check_choice",
    "check_optional_int",
]


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number in the given range and return it."""
    if not _is_real(value):
        raise InvalidTypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(float(value)):
        raise InvalidParameterError(f"{name} must be a finite number, got {value!r}")
    rng = _range_text(low, high, low_inclusive, high_inclusive)
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise InvalidParameterError(f"{name} must be a number {rng}, got {value!r}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise InvalidParameterError(f"{name} must be a number {rng}, got {value!r}")
    return value  # type: ignore[no-any-return]  # checked to be a real number above


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Check that ``value`` is an integer (not a bool) in ``[low, high]`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    out = int(value)
    if (low is not None and out < low) or (high is not None and out > high):
        raise InvalidParameterError(
            f"{name} must be an integer {_range_text(low, high, True, True)}, got {out!r}"
        )
    return out


def check_optional_int(name: str, value: Any, *, low: int | None = None) -> int | None:
    """Like :func:`check_int` but ``None`` is allowed and returned as is."""
    return None if value is None else check_int(name, value, low=low)


def check_choice(name: str, value: Any, allowed: Collection[Any]) -> Any:
    """Check that ``value`` is one of ``allowed`` and return it."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise InvalidParameterError(f"{name} must be one of {options}; got {value!r}")
    return value


def _range_text(low: Any, high: Any, low_inclusive: bool, high_inclusive: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high}")
    return " and ".join(parts) if parts else "(any value)"
