"""The domains of a search space: one-dimensional distributions, how each samples a value and
checks a proposed one (public through :mod:`asha_nb.space`, which re-exports every name).

:mod:`asha_nb.space` sets the classes' ``__module__`` to its own name: that is where users import
them from and the name a journal's pickled space refers to, so moving them here changed neither.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidParameterError, InvalidTypeError

__all__ = ["Domain", "Uniform", "LogUniform", "RandInt", "Choice"]

#: ``10 ** math.log10(0.3)``, what a log slider set to 0.3 gives) is accepted.
_REL_TOL = 1e-9


class _OutOfDomain(Exception):
    """Raised by ``Domain._check``: the message says which values the domain takes."""


class Domain:
    """Base class of a one-dimensional distribution over hyperparameter values.

    A subclass implements :meth:`sample` and :meth:`contains`; the built-in domains also
    normalise accepted values (numpy scalars become Python numbers, an integral float for a
    ``randint`` becomes an ``int``).
    """

    def sample(self, rng: np.random.Generator) -> Any:  # pragma: no cover - abstract
        """Draw one value using ``rng``."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in the domain (what :meth:`Space.validate` checks)."""
        try:
            self._check(value)
        except _OutOfDomain:
            return False
        return True

    def describe(self) -> str:
        """A short text of the domain and the values it takes, for error messages."""
        return repr(self)

    def _check(self, value: Any) -> Any:
        """Return ``value`` normalised, or raise ``_OutOfDomain`` with the reason.

        The default (for user subclasses) relies on :meth:`contains`.
        """
        if type(self).contains is Domain.contains:  # pragma: no cover - abstract
            raise NotImplementedError(f"{type(self).__name__} must implement contains()")
        if not self.contains(value):
            raise _OutOfDomain(f"is not in {self.describe()}")
        return _plain(value)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar of the same value; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_integral(value: Any) -> bool:
    """An integer, or a float with an integral value (``2.0``: e.g. a row of a results table)."""
    if isinstance(value, numbers.Integral):
        return not isinstance(value, (bool, np.bool_))
    return _is_real(value) and math.isfinite(float(value)) and float(value).is_integer()


_SHORT = reprlib.Repr()
_SHORT.maxlist = _SHORT.maxtuple = 12
_SHORT.maxstring = _SHORT.maxother = 80


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else repr(_plain(v))


def _check_bounds(kind: str, lo: Any, hi: Any, name: str = "") -> None:
    where = f"parameter {name!r}: " if name else ""
    for label, v in (("lo", lo), ("hi", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise InvalidTypeError(f"{where}{kind}({label}) must be a real number, got {v!r}")
        if not math.isfinite(float(v)):
            raise InvalidParameterError(f"{where}{kind}({label}) must be finite, got {v!r}")
    if not lo < hi:
        raise InvalidParameterError(f"{where}{kind} needs lo < hi, got lo={lo!r}, hi={hi!r}")


def _check_float_range(dom: Uniform | LogUniform, value: Any) -> float:
    """A finite real in ``[lo, hi]`` (both bounds accepted, with a few ulps of slack)."""
    if not _is_real(value):
        raise _OutOfDomain(f"is not a number; {dom.describe()} takes floats")
    x = float(value)
    if not math.isfinite(x):
        raise _OutOfDomain(f"is not finite; {dom.describe()} takes floats in "
                           f"[{_fmt(dom.lo)}, {_fmt(dom.hi)}]")
    lo, hi = float(dom.lo), float(dom.hi)
    slack = _REL_TOL * max(abs(lo), abs(hi))
    if not lo - slack <= x <= hi + slack:
        raise _OutOfDomain(f"is not in {dom.describe()} (floats in [{_fmt(dom.lo)}, "
                           f"{_fmt(dom.hi)}])")
    return x


@dataclass(frozen=True)
class Uniform(Domain):
    """Uniform float in ``[lo, hi)``; a proposed value may also be ``hi`` itself."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        _check_bounds("uniform", self.lo, self.hi)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lo, self.hi))

    def describe(self) -> str:
        return f"uniform({_fmt(self.lo)}, {_fmt(self.hi)})"

    def _check(self, value: Any) -> float:
        return _check_float_range(self, value)


@dataclass(frozen=True)
class LogUniform(Domain):
    """Float whose logarithm is uniform in ``[log lo, log hi)``; needs ``0 < lo < hi``.

    A proposed value may be anywhere in ``[lo, hi]``.
    """

    lo: float
    hi: float

    def __post_init__(self) -> None:
        _check_bounds("loguniform", self.lo, self.hi)
        if self.lo <= 0:
            raise InvalidParameterError(
                f"loguniform needs 0 < lo < hi (a logarithmic scale), got lo={self.lo!r}"
            )
        object.__setattr__(self, "_llo", math.log(self.lo))
        object.__setattr__(self, "_lhi", math.log(self.hi))

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(self._llo, self._lhi)))  # type: ignore[attr-defined]

    def describe(self) -> str:
        return f"loguniform({_fmt(self.lo)}, {_fmt(self.hi)})"

    def _check(self, value: Any) -> float:
        return _check_float_range(self, value)


@dataclass(frozen=True)
class RandInt(Domain):
    """Integer in ``[lo, hi)`` (upper bound excluded, as in numpy and Ray Tune)."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        for label, v in (("lo", self.lo), ("hi", self.hi)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise InvalidTypeError(f"randint({label}) must be an integer, got {v!r}")
        if not self.lo < self.hi:
            raise InvalidParameterError(
                f"randint needs lo < hi (hi is excluded), got lo={self.lo!r}, hi={self.hi!r}"
            )

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.lo, self.hi))

    def describe(self) -> str:
        return f"randint({int(self.lo)}, {int(self.hi)})"

    def _check(self, value: Any) -> int:
        what = f"{self.describe()} (integers {int(self.lo)}..{int(self.hi) - 1}; hi={int(self.hi)} is excluded)"
        if not _is_integral(value):
            raise _OutOfDomain(f"is not an integer; {what} takes integers only")
        n = int(value)
        if not self.lo <= n < self.hi:
            raise _OutOfDomain(f"is not in {what}")
        return n


def _same(a: Any, b: Any) -> bool:
    """Whether a proposed value equals an option (``True`` is not ``1`` here)."""
    if a is b:
        return True
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(a, b))
        except Exception:  # noqa: BLE001 - not comparable means not equal
            return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. an ambiguous truth value
        return False


@dataclass(frozen=True)
class Choice(Domain):
    """One of a finite list of options, each equally likely."""

    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        if isinstance(self.options, (str, bytes)) or not isinstance(self.options, Sequence):
            raise InvalidTypeError(f"choice needs a list of options, got {self.options!r}")
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options:
            raise InvalidParameterError("choice needs at least one option, got an empty list")

    def sample(self, rng: np.random.Generator) -> Any:
        value = self.options[int(rng.integers(len(self.options)))]
        return value.item() if isinstance(value, np.generic) else value

    def describe(self) -> str:
        return f"choice({_SHORT.repr(list(self.options))})"

    def _check(self, value: Any) -> Any:
        for option in self.options:
            if _same(value, option):
                return _plain(option)
        raise _OutOfDomain(f"is not one of the options of {self.describe()}")


def _is_discrete(dist: Any) -> bool:
    family = getattr(dist, "dist", None)
    return any(c.__name__ == "rv_discrete" for c in type(family).__mro__)


@dataclass(frozen=True)
class _Frozen(Domain):
    """A frozen ``scipy.stats`` distribution (or anything with ``rvs(random_state=)``)."""

    dist: Any

    def sample(self, rng: np.random.Generator) -> Any:
        value = self.dist.rvs(random_state=rng)
        if isinstance(value, np.ndarray):
            return value.item() if value.size == 1 else value.tolist()
        return _plain(value)

    def describe(self) -> str:
        family = getattr(getattr(self.dist, "dist", None), "name", None)
        if family is None:
            return f"the distribution {self.dist!r}"
        args = [_fmt(a) for a in getattr(self.dist, "args", ())]
        args += [f"{k}={_fmt(v)}" for k, v in getattr(self.dist, "kwds", {}).items()]
        return f"scipy.stats.{family}({', '.join(args)})"

    def _check(self, value: Any) -> Any:
        support = getattr(self.dist, "support", None)
        if support is None:  # not scipy: nothing is known about the values it takes
            return _plain(value)
        lo, hi = (float(b) for b in support())
        discrete = _is_discrete(self.dist)
        kind = "integers" if discrete else "finite numbers"
        takes = f"{self.describe()} (support [{_fmt(lo)}, {_fmt(hi)}]) takes {kind}"
        if not _is_real(value) or not math.isfinite(float(value)):
            raise _OutOfDomain(f"is not a finite number; {takes}")
        if discrete and not _is_integral(value):
            raise _OutOfDomain(f"is not an integer; {takes}")
        x = int(value) if discrete else float(value)
        if not lo <= x <= hi:
            raise _OutOfDomain(f"is outside the support of {takes}")
        return x


@dataclass(frozen=True)
class _Fixed(Domain):
    value: Any

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def describe(self) -> str:
        return f"the fixed value {_SHORT.repr(self.value)}"

    def _check(self, value: Any) -> Any:
        if not _same(value, self.value):
            raise _OutOfDomain(f"differs from {self.describe()} set in the search space")
        return self.value
