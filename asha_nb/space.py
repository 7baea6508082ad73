"""Search spaces: distributions to sample hyperparameter configurations from.

A search space is a plain ``dict`` that maps parameter names to

* a domain built with :func:`uniform`, :func:`loguniform`, :func:`randint`, :func:`choice`;
* a frozen ``scipy.stats`` distribution (anything with ``rvs(random_state=...)``), e.g.
  ``scipy.stats.norm(0, 1)``;
* any other plain value (a number, string, bool, ``None``, tuple, ...), which is kept fixed.

A value that is surely a mistake is refused with an error that says what to write instead: an
uncalled ``space.uniform`` (a function), an unfrozen ``scipy.stats.norm`` (a distribution
family), a class, a module or any other callable. To pass such an object to every trial, bind
it in the objective (a closure or ``functools.partial``) or write ``space.choice([obj])``.

Sampling uses only the :class:`numpy.random.Generator` it is given (the scheduler's, seeded
from its ``seed``), never a global random state. A configuration proposed by the user
(``add_trial``) is checked against the domains by :meth:`Space.validate` /
:meth:`Space.complete`.

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
>>> sp.validate({"lr": 0.01, "act": "tanh"})
{'lr': 0.01, 'act': 'tanh'}
>>> sp.validate({"layers": 4})
Traceback (most recent call last):
...
asha_nb.errors.InvalidParameterError: config is outside the search space: layers=4 is not in randint(1, 4) (integers 1..3; hi=4 is excluded); pass check=False to add it anyway
"""

from __future__ import annotations

import math
import numbers
import reprlib
import types
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

#: Relative slack at the bounds of a float domain: a proposed value a few ulps outside (e.g.
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


_FACTORIES: dict[Any, str] = {uniform: "uniform(lo, hi)", loguniform: "loguniform(lo, hi)",
              randint: "randint(lo, hi)", choice: "choice([...])"}
_DOMAIN_CLASSES = {Uniform: "uniform(lo, hi)", LogUniform: "loguniform(lo, hi)",
                   RandInt: "randint(lo, hi)", Choice: "choice([...])"}
_KEEP = ("to pass this object itself to every trial, bind it in the objective (a closure or "
         "functools.partial) or write space.choice([obj])")


def _is_scipy_family(spec: Any) -> bool:
    """An unfrozen ``scipy.stats`` distribution such as ``scipy.stats.norm``."""
    return any(c.__name__ == "rv_generic" and c.__module__.startswith("scipy.stats")
               for c in type(spec).__mro__)


def _refuse_mistakes(name: str, spec: Any) -> None:
    """Raise for values that are surely a mistake (they would silently become fixed)."""
    where = f"search space parameter {name!r}"
    if _is_scipy_family(spec):
        family = getattr(spec, "name", type(spec).__name__)
        raise InvalidTypeError(
            f"{where} is scipy.stats.{family}, a distribution family, not a distribution: freeze "
            f"it with its parameters, e.g. scipy.stats.{family}(loc=0, scale=1)")
    if isinstance(spec, types.FunctionType) and spec in _FACTORIES:
        raise InvalidTypeError(
            f"{where} is the function space.{spec.__name__}, not a distribution: call it, e.g. "
            f"space.{_FACTORIES[spec]}")
    if isinstance(spec, type):
        if spec in _DOMAIN_CLASSES:
            raise InvalidTypeError(
                f"{where} is the class {spec.__name__}, not a distribution: write "
                f"space.{_DOMAIN_CLASSES[spec]}")
        raise InvalidTypeError(
            f"{where} is the class {spec.__qualname__}, which would be passed unchanged to every "
            f"trial: to sample a value use a distribution (space.uniform, space.choice, ...); "
            f"{_KEEP}")
    if isinstance(spec, types.ModuleType):
        raise InvalidTypeError(
            f"{where} is the module {spec.__name__}, not a distribution: use one of its "
            f"functions' results (e.g. space.uniform(0, 1)); {_KEEP}")
    if callable(spec) and not isinstance(spec, Domain):
        what = getattr(spec, "__qualname__", None) or type(spec).__name__
        raise InvalidTypeError(
            f"{where} is the callable {what}, which would be passed unchanged to every trial: "
            f"to sample a value, call a distribution factory (e.g. space.uniform(0, 1)); {_KEEP}")
    if isinstance(spec, (list, tuple, set, frozenset)):
        items: Any = spec
    elif isinstance(spec, Mapping):
        items = spec.values()
    else:
        return
    for item in items:
        if isinstance(item, Domain) or _looks_frozen(item):
            raise InvalidTypeError(
                f"{where} is a container holding a distribution ({item!r}); nested spaces are not "
                "sampled: give each sampled value its own key, or use space.choice([...]) of "
                "whole values")


def _looks_frozen(spec: Any) -> bool:
    return (not isinstance(spec, type) and callable(getattr(spec, "rvs", None))
            and not _is_scipy_family(spec))


def _to_domain(name: str, spec: Any) -> Domain:
    if isinstance(spec, Domain):
        return spec
    _refuse_mistakes(name, spec)
    if _looks_frozen(spec):  # a frozen scipy.stats distribution, or anything with rvs()
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
        If it is not a mapping, a name is not a string, or a value is surely a mistake (an
        uncalled ``space.uniform``, an unfrozen ``scipy.stats.norm``, a class, a module or
        another callable; the message says what to write instead).
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

    def validate(self, config: Mapping[str, Any], *, check: bool = True) -> dict[str, Any]:
        """Check a user-proposed (possibly partial) config against the space.

        Parameters
        ----------
        config
            ``{name: value}`` for some or all parameters of the space.
        check
            If ``False``, values outside their domain are let through on purpose (``config``
            must still be a mapping with known parameter names).

        Returns
        -------
        dict
            The given keys with their values normalised: numpy scalars become Python
            numbers, floats of a ``uniform``/``loguniform`` become ``float``, an integral
            value of a ``randint`` becomes ``int``, a ``choice`` value becomes its option.

        Raises
        ------
        InvalidTypeError
            If ``config`` is not a mapping (``None``, a list of pairs, a string).
        InvalidParameterError
            If it names a parameter that is not in the space, or (with ``check=True``) a value
            lies outside its domain; the message names each key, its value and its domain.
        """
        if not isinstance(config, Mapping):
            hint = (" (for a list of (name, value) pairs write dict(pairs))"
                    if isinstance(config, (list, tuple)) else "")
            raise InvalidTypeError(
                f"config must be a dict {{parameter name: value}}, got "
                f"{'None' if config is None else type(config).__name__}{hint}")
        unknown = [k for k in config if k not in self._domains]
        if unknown:
            raise InvalidParameterError(
                f"config has parameters that are not in the search space: {unknown}; "
                f"known parameters: {list(self._domains)}"
            )
        if not check:
            return {k: _plain(v) for k, v in config.items()}
        out: dict[str, Any] = {}
        problems = []
        for name, value in config.items():
            try:
                out[name] = self._domains[name]._check(value)
            except _OutOfDomain as exc:
                problems.append(f"{name}={_SHORT.repr(value)} {exc}")
        if problems:
            raise InvalidParameterError(
                "config is outside the search space: " + "; ".join(problems)
                + "; pass check=False to add it anyway")
        return out

    def complete(self, config: Mapping[str, Any], rng: np.random.Generator, *,
                 check: bool = True) -> dict[str, Any]:
        """Validate a user-proposed (possibly partial) config and fill missing keys by sampling.

        Parameters
        ----------
        config
            ``{name: value}`` for some or all parameters of the space.
        rng
            The generator missing parameters are sampled with (the scheduler's).
        check
            If ``False``, values outside their domain are let through on purpose.

        Returns
        -------
        dict
            A full configuration in the space's key order (see :meth:`validate` for how given
            values are normalised).

        Raises
        ------
        InvalidTypeError
            If ``config`` is not a mapping.
        InvalidParameterError
            If ``config`` names a parameter that is not in the space, or (with ``check=True``)
            a value lies outside its domain.
        """
        given = self.validate(config, check=check)
        out = {}
        for name, dom in self._items:
            out[name] = given[name] if name in given else dom.sample(rng)
        return out


def as_space(space: Mapping[str, Any] | Space) -> Space:
    """Return ``space`` as a :class:`Space` (a plain dict is converted)."""
    return space if isinstance(space, Space) else Space(space)
