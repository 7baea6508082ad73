"""Search spaces: distributions to sample hyperparameter configurations from.

A search space is a plain ``dict`` that maps parameter names to

* a domain built with :func:`uniform`, :func:`loguniform`, :func:`randint`, :func:`choice`;
* a frozen ``scipy.stats`` distribution (anything with ``rvs(random_state=...)``), e.g.
  ``scipy.stats.norm(0, 1)``;
* any other value, which is kept fixed.

Sampling uses only the :class:`numpy.random.Generator` it is given (the scheduler's, seeded
from its ``seed``), never a global random state.

Examples
--------
>>> import numpy as np
>>> from asha_nb import space
>>> sp = space.Space({"lr": space.loguniform(1e-4, 1e-1), "layers": space.randint(1, 4),
...                   "act": space.choice(["relu", "tanh"]), "epochs_per_step": 1})
>>> cfg = sp.sample(np.random.default_rng(0))
>>> sorted(cfg)
['act', 'epochs_per_step', 'layers', 'lr']
>>> 1e-4 <= cfg["lr"] <= 1e-1 and cfg["layers"] in (1, 2, 3)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidParameterError, InvalidTypeError

__all__ = [
    "Domain",
    "Uniform",
    "LogUniform",
    "RandInt",
    "Choice",
    "Space",
    "uniform",
    "loguniform",
    "randint",
    "choice",
    "as_space",
]


class Domain:
    """Base class of a one-dimensional distribution over hyperparameter values."""

    def sample(self, rng: np.random.Generator) -> Any:  # pragma: no cover - abstract
        """Draw one value using ``rng``."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:  # pragma: no cover - abstract
        """Whether ``value`` lies in the domain (used to check user-proposed configs)."""
        raise NotImplementedError

    def _bind(self, name: str) -> Domain:
        """Validate the domain for parameter ``name`` (raises an error naming it)."""
        return self


def _check_bounds(kind: str, lo: Any, hi: Any, name: str = "") -> None:
    where = f"parameter {name!r}: " if name else ""
    for label, v in (("lo", lo), ("hi", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise InvalidTypeError(f"{where}{kind}({label}) must be a real number, got {v!r}")
        if not math.isfinite(float(v)):
            raise InvalidParameterError(f"{where}{kind}({label}) must be finite, got {v!r}")
    if not lo < hi:
        raise InvalidParameterError(f"{where}{kind} needs lo < hi, got lo={lo!r}, hi={hi!r}")


@dataclass(frozen=True)
class Uniform(Domain):
    """Uniform float in ``[lo, hi)``."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        _check_bounds("uniform", self.lo, self.hi)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lo, self.hi))

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.lo <= value <= self.hi


@dataclass(frozen=True)
class LogUniform(Domain):
    """Float whose logarithm is uniform in ``[log lo, log hi)``; needs ``0 < lo < hi``."""

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

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.lo <= value <= self.hi


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

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and self.lo <= value < self.hi


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

    def contains(self, value: Any) -> bool:
        return any(value == o for o in self.options)


@dataclass(frozen=True)
class _Frozen(Domain):
    """A frozen ``scipy.stats`` distribution (or anything with ``rvs(random_state=)``)."""

    dist: Any

    def sample(self, rng: np.random.Generator) -> Any:
        value = self.dist.rvs(random_state=rng)
        return value.item() if isinstance(value, (np.generic, np.ndarray)) else value

    def contains(self, value: Any) -> bool:
        support = getattr(self.dist, "support", None)
        if support is None or not _is_number(value):
            return _is_number(value)
        lo, hi = support()
        return bool(lo <= value <= hi)


@dataclass(frozen=True)
class _Fixed(Domain):
    value: Any

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def contains(self, value: Any) -> bool:
        return bool(value == self.value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def uniform(lo: float, hi: float) -> Uniform:
    """Uniform float in ``[lo, hi)``."""
    return Uniform(lo, hi)


def loguniform(lo: float, hi: float) -> LogUniform:
    """Log-uniform float in ``[lo, hi)``, for scales such as learning rates (``0 < lo < hi``)."""
    return LogUniform(lo, hi)


def randint(lo: int, hi: int) -> RandInt:
    """Integer in ``[lo, hi)``; the upper bound is excluded, as in ``numpy`` and Ray Tune."""
    return RandInt(lo, hi)


def choice(options: Sequence[Any]) -> Choice:
    """One of ``options``, each equally likely."""
    return Choice(options)  # type: ignore[arg-type]


def _to_domain(name: str, spec: Any) -> Domain:
    if isinstance(spec, Domain):
        return spec
    if hasattr(spec, "rvs") and hasattr(spec, "dist"):  # scipy.stats frozen distribution
        return _Frozen(spec)
    return _Fixed(spec)


class Space(Mapping[str, Domain]):
    """An immutable mapping from parameter names to domains.

    Parameters
    ----------
    params
        A dict ``{name: domain | scipy frozen distribution | fixed value}``.

    Raises
    ------
    InvalidParameterError
        If the space is empty.
    InvalidTypeError
        If it is not a mapping or a name is not a string.
    """

    def __init__(self, params: Mapping[str, Any]):
        if isinstance(params, Space):
            self._domains: dict[str, Domain] = dict(params._domains)
            self._items = tuple(self._domains.items())
            return
        if not isinstance(params, Mapping):
            raise InvalidTypeError(
                f"space must be a dict mapping parameter names to distributions, got {type(params).__name__}"
            )
        if not params:
            raise InvalidParameterError(
                "space must have at least one parameter, got an empty dict; "
                "e.g. {'lr': asha_nb.space.loguniform(1e-4, 1e-1)}"
            )
        domains = {}
        for name, spec in params.items():
            if not isinstance(name, str):
                raise InvalidTypeError(f"space parameter names must be strings, got {name!r}")
            domains[name] = _to_domain(name, spec)
        self._domains = domains
        self._items = tuple(domains.items())

    def __getitem__(self, key: str) -> Domain:
        return self._domains[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._domains)

    def __len__(self) -> int:
        return len(self._domains)

    def __repr__(self) -> str:
        return f"Space({self._domains!r})"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one configuration (a new dict) using ``rng`` only."""
        return {name: dom.sample(rng) for name, dom in self._items}

    def complete(self, config: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Check a user-proposed (possibly partial) config and fill missing keys by sampling.

        Raises
        ------
        InvalidParameterError
            If ``config`` names a parameter that is not in the space.
        """
        if not isinstance(config, Mapping):
            raise InvalidTypeError(f"config must be a dict, got {type(config).__name__}")
        unknown = [k for k in config if k not in self._domains]
        if unknown:
            raise InvalidParameterError(
                f"config has parameters that are not in the search space: {unknown}; "
                f"known parameters: {list(self._domains)}"
            )
        out = {}
        for name, dom in self._items:
            out[name] = config[name] if name in config else dom.sample(rng)
        return out


def as_space(space: Mapping[str, Any] | Space) -> Space:
    """Return ``space`` as a :class:`Space` (a plain dict is converted)."""
    return space if isinstance(space, Space) else Space(space)
