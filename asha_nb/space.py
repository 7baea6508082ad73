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

This module holds the :class:`Space` mapping, the factories and the refusal of mistaken
values; the domain classes live in ``asha_nb._space_domains`` and are re-exported here.

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

import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._space_domains import (
    _SHORT,
    Choice,
    Domain,
    LogUniform,
    RandInt,
    Uniform,
    _OutOfDomain,
    _plain,
)
from ._space_domains import (
    _Fixed as _Fixed,  # re-exported: the runtime's journal checks read it
)
from ._space_domains import (
    _Frozen as _Frozen,
)
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

# Where users import the domains from, and the name a (cloud)pickled space refers to: a journal
# written before they moved to ``_space_domains`` and one written after hold the same bytes.
for _cls in (Domain, Uniform, LogUniform, RandInt, Choice, _Frozen, _Fixed):
    _cls.__module__ = __name__
del _cls


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
