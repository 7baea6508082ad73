"""What :class:`~asha_nb.sklearn.ASHASearchCV` checks and builds before its search starts:
its arguments against the data, the search space of ``param_distributions``, the scorers, the
rung resources, and the :class:`~asha_nb.sklearn._objective.CVObjective` its jobs run.

The constructor stores its arguments unchanged (scikit-learn's rule); everything is checked
here, when ``fit`` / ``start`` sees the data.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import space as _space
from ..errors import InvalidParameterError, InvalidTypeError
from ._grid import domain_options, grid_space
from ._objective import GRID_KEY, CVObjective

__all__ = ["grids", "search_space", "scorers", "setup", "warm_mode"]

_RESOURCE_HINT = ("'n_samples', 'partial_fit' or the name of an estimator parameter such as "
                  "'max_iter' or 'n_estimators'")


def grids(param_distributions: Any) -> list[Mapping[str, Any]]:
    """``param_distributions`` as a list of dicts (one dict is a list of one)."""
    pd_ = param_distributions
    out = [pd_] if isinstance(pd_, Mapping) else pd_
    if not isinstance(out, Sequence) or isinstance(out, str) or not out or not all(
            isinstance(g, Mapping) and g for g in out):
        raise InvalidTypeError(
            "param_distributions must be a non-empty dict {name: values} or a non-empty "
            f"list of such dicts; got {pd_!r:.200}")
    return list(out)


def search_space(param_distributions: Any) -> dict[str, Any]:
    """The asha_nb search space of ``param_distributions`` (see
    :func:`~asha_nb.sklearn._objective.to_params` for a list of dicts)."""
    gs = grids(param_distributions)

    def domain(v: Any) -> Any:
        if isinstance(v, (list, tuple, np.ndarray)) and not isinstance(v, str):
            if len(v) == 0:
                raise InvalidParameterError(
                    "param_distributions: a list of values must not be empty")
            return _space.choice(list(v))
        return v

    if len(gs) == 1:
        return {k: domain(v) for k, v in gs[0].items()}
    sp: dict[str, Any] = {GRID_KEY: _space.choice(list(range(len(gs))))}
    for i, g in enumerate(gs):
        sp.update({f"{i}:{k}": domain(v) for k, v in g.items()})
    return sp


def scorers(estimator: Any, scoring: Any, refit: Any) -> tuple[dict[str, Any], str, bool]:
    """``{name: scorer}``, the metric ASHA promotes on, and whether there are several."""
    from sklearn.metrics import check_scoring

    if callable(scoring) and isinstance(refit, str):
        raise InvalidParameterError(
            f"refit names a metric ({refit!r}) but scoring is one callable: ASHASearchCV "
            "does not take scikit-learn's callable that returns a dict of scores; give "
            "scoring as a dict {name: scorer} (one callable per metric) or a list of names")
    if scoring is None or isinstance(scoring, str) or callable(scoring):
        return {"score": check_scoring(estimator, scoring)}, "score", False
    if isinstance(scoring, (list, tuple, set)):
        names = list(scoring)
        if not names or not all(isinstance(s, str) for s in names) or \
                len(set(names)) != len(names):
            raise InvalidParameterError(
                f"scoring as a list must hold distinct metric names; got {scoring!r}")
        out = {s: check_scoring(estimator, s) for s in names}
    elif isinstance(scoring, Mapping):
        if not scoring:
            raise InvalidParameterError("scoring as a dict must not be empty")
        out = {str(k): check_scoring(estimator, v) for k, v in scoring.items()}
    else:
        raise InvalidTypeError(
            "scoring must be None, a metric name, a callable, a list of names or a dict "
            f"{{name: scorer}}; got {scoring!r}")
    if isinstance(refit, str):
        if refit not in out:
            raise InvalidParameterError(
                f"refit must be one of the metric names {sorted(out)} (or a callable, "
                f"or False) with several metrics; got {refit!r}")
        return out, refit, True
    if refit is True:
        raise InvalidParameterError(
            "For multi-metric scoring, refit must be set to a scorer key or a callable to "
            "refit an estimator with the best parameter setting on the whole data, or to "
            f"False; got True (metrics: {sorted(out)})")
    return out, next(iter(out)), True


def warm_mode(est: Any, est_params: Mapping[str, Any], resource: str) -> str | None:
    """How a promoted candidate continues with a parameter resource (see CVObjective)."""
    prefix, sep, _ = resource.rpartition("__")
    if f"{prefix}{sep}warm_start" not in est_params:
        return None
    owner = est_params[prefix] if prefix else est
    cumulative = (type(owner).__module__.startswith("sklearn.ensemble")
                  or resource.endswith("n_estimators"))
    return "total" if cumulative else "extra"


def _factor(factor: Any) -> int:
    """``factor`` as an int: an integer >= 2 (``2.0`` is 2, as asha_nb's schedulers take it)."""
    if isinstance(factor, numbers.Real) and not isinstance(factor, (bool, numbers.Integral)) \
            and float(factor).is_integer():
        factor = int(factor)
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or int(factor) < 2:
        raise InvalidParameterError(
            f"factor must be an integer >= 2 (ASHA's rungs grow by a whole factor; "
            f"HalvingRandomSearchCV's fractional factors are not supported), got {factor!r}")
    return int(factor)


def _check_options(search_cv: Any, multimetric: bool) -> None:
    _factor(search_cv.factor)
    if search_cv.aggressive_elimination is not False:
        raise InvalidParameterError(
            "aggressive_elimination must be False (HalvingRandomSearchCV's replays of the "
            "first iteration have no counterpart in ASHA, which promotes as results come in "
            "and never needs more rungs than max_resources allows); got "
            f"{search_cv.aggressive_elimination!r}")
    verbose = search_cv.verbose
    if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise InvalidParameterError(f"verbose must be an integer >= 0, got {verbose!r}")
    if search_cv.type not in ("promotion", "stopping"):
        raise InvalidParameterError(
            f"type must be one of 'promotion', 'stopping'; got {search_cv.type!r}")
    error_score = search_cv.error_score
    if error_score != "raise" and not (
            isinstance(error_score, numbers.Real) and not isinstance(error_score, bool)):
        raise InvalidParameterError(
            f"error_score must be 'raise' or a number, got {error_score!r}")
    refit = search_cv.refit
    if not (refit is True or refit is False or callable(refit)
            or (isinstance(refit, str) and multimetric)):
        raise InvalidParameterError(
            f"refit must be True, False, a callable, or (with several metrics) a metric "
            f"name; got {refit!r}")


def _resource_kind(search_cv: Any, classifier: bool, y: Any) -> tuple[str | None, Any]:
    """Check ``resource``; return the ``warm_start`` mode and the ``partial_fit`` classes."""
    est, resource = search_cv.estimator, search_cv.resource
    if not isinstance(resource, str):
        raise InvalidTypeError(f"resource must be {_RESOURCE_HINT}; got {resource!r}")
    if resource == "partial_fit":
        if not hasattr(est, "partial_fit"):
            raise InvalidParameterError(
                f"resource='partial_fit' needs an estimator with partial_fit; "
                f"{type(est).__name__} has none")
        return None, (np.unique(np.asarray(y)) if classifier and y is not None else None)
    if resource == "n_samples":
        return None, None
    est_params = est.get_params(deep=True)
    if resource not in est_params:
        raise InvalidParameterError(
            f"resource must be {_RESOURCE_HINT}; {resource!r} is not a parameter of "
            f"{type(est).__name__}")
    for g in grids(search_cv.param_distributions):
        if resource in g:
            raise InvalidParameterError(
                f"param_distributions must not contain the resource {resource!r}: the "
                "search sets it per rung")
    return warm_mode(est, est_params, resource), None


def _resources(search_cv: Any, n_samples: int, n_splits: int, n_classes: int,
               grid_size: int | None = None) -> tuple[int, int, int, int]:
    """``(min_resources, max_resources, top, n_candidates)`` from the arguments and the data;
    ``top`` is the resource of the search's top rung (see :class:`ASHASearchCV`). A grid of
    lists (``grid_size`` combinations) caps the candidates, as scikit-learn's samplers do."""
    resource = search_cv.resource
    factor = _factor(search_cv.factor)
    min_r = search_cv.min_resources
    n_cand = search_cv.n_candidates
    exhaust = isinstance(min_r, str) and min_r == "exhaust"
    if exhaust and isinstance(n_cand, str) and n_cand == "exhaust":
        raise InvalidParameterError(
            "n_candidates and min_resources cannot be both 'exhaust' (each is computed from "
            "the other); give n_candidates an integer")
    if (isinstance(min_r, str) and min_r == "smallest") or exhaust:
        min_r = 2 * n_splits * n_classes if resource == "n_samples" else 1
    max_r = search_cv.max_resources
    auto = isinstance(max_r, str) and max_r == "auto"
    if auto:
        if resource != "n_samples":
            raise InvalidParameterError(
                f"max_resources must be an integer with resource={resource!r} ('auto' is "
                "the number of samples, for resource='n_samples' only)")
        max_r = n_samples
    for name, v, words in (("min_resources", min_r, "'smallest' or 'exhaust'"),
                           ("max_resources", max_r, "'auto'")):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise InvalidParameterError(
                f"{name} must be an integer >= 1 (or {words}); got {v!r}")
    min_r, max_r = int(min_r), int(max_r)
    if resource == "n_samples" and max_r > n_samples:
        raise InvalidParameterError(
            f"max_resources must be <= the number of samples ({n_samples}) with "
            f"resource='n_samples'; got {max_r}")
    if isinstance(n_cand, str) and n_cand == "exhaust":
        n_cand = max(factor, max_r // max(1, min_r))
    if isinstance(n_cand, bool) or not isinstance(n_cand, numbers.Integral) or n_cand < 1:
        raise InvalidParameterError(
            f"n_candidates must be an integer >= 1 or 'exhaust'; got {n_cand!r}")
    if grid_size is not None and n_cand > grid_size:
        warnings.warn(
            f"The total space of parameters {grid_size} is smaller than n_candidates="
            f"{n_cand}. Running {grid_size} candidates (each combination of the lists of "
            "param_distributions once).", UserWarning, stacklevel=4)
        n_cand = grid_size
    if exhaust:
        # scikit-learn's rule: start as high as the rungs the candidates need allow, so that
        # the top rung uses (nearly) all of max_resources; here at least two rungs
        n_rungs = max(2, 1 + _floor_log(int(n_cand), factor))
        min_r = max(min_r, max_r // factor ** (n_rungs - 1))
    if min_r >= max_r:
        raise InvalidParameterError(
            f"min_resources must be < max_resources; got {min_r} and {max_r}"
            + (" (max_resources='auto': the number of samples)" if auto else ""))
    top = max_r
    if auto:
        # the last rung of scikit-learn's halving: min_resources * factor**k <= n_samples (an
        # explicit max_resources is trained exactly, as asha_nb's top rung always is)
        steps = _floor_log(max_r // min_r, factor)
        top = min_r * factor ** steps if steps > 0 else max_r
    return min_r, max_r, top, int(n_cand)


def _floor_log(n: int, base: int) -> int:
    """``floor(log_base(n))`` for integers ``n >= 1`` (no floating-point error)."""
    k = 0
    while base ** (k + 1) <= n:
        k += 1
    return k


def _n_jobs(n_jobs: Any, executor: Any) -> int:
    """Number of workers: ``None`` is 1 (a Dask client's threads), a negative ``n_jobs``
    follows joblib's rule (``-1`` all cores, ``-2`` all but one, at least 1)."""
    if n_jobs is None:
        nthreads = getattr(executor, "nthreads", None)
        return int(sum(nthreads().values())) if callable(nthreads) else 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise InvalidParameterError(
            "n_jobs must be None, an integer >= 1 or a negative integer (joblib's rule: -1 "
            f"all cores, -2 all but one); got {n_jobs!r}")
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))
    return int(n_jobs)


def _check_names(est: Any, space: Mapping[str, Any], n_grids: int) -> None:
    """Set every dict of ``param_distributions`` on a clone of the estimator, as every job
    will: a name the estimator does not take is refused now, not after a search whose every
    fit failed. The values set are a list's first item, a fixed value, or for a distribution
    the estimator's current value (``None`` if it has none): no distribution is sampled (a
    stateful one keeps its sequence)."""
    from sklearn.base import clone

    from ._objective import to_params

    current = est.get_params(deep=True)
    config: dict[str, Any] = {}
    for key, domain in _space.Space(space).items():
        values = domain_options(domain)
        name = key.partition(":")[2] if n_grids > 1 else key
        config[key] = values[0] if values else current.get(name)
    for i in range(n_grids):
        params = to_params({**config, GRID_KEY: i} if n_grids > 1 else config, n_grids)
        try:
            clone(est).set_params(**clone(params, safe=False))
        except (ValueError, TypeError, AttributeError) as exc:
            raise InvalidParameterError(
                f"param_distributions must name parameters of the estimator "
                f"({type(est).__name__}); setting {sorted(params)} failed: {exc}") from exc


def _route(search_cv: Any, params: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """``fit``'s ``**params`` as the estimator's fit params, the splitter's (``groups``) and
    the scorers' (``sample_weight``), as the installed scikit-learn's searches route them
    (with metadata routing enabled: as requested)."""
    route = getattr(search_cv, "_get_routed_params_for_fit", None)
    if route is None:  # an older scikit-learn: groups to the splitter, the rest to fit
        rest = dict(params)
        return rest, {"groups": rest.pop("groups", None)}, {}
    routed = route(dict(params))
    return (dict(routed.estimator.fit), dict(routed.splitter.split),
            dict(routed.scorer.score))


def setup(search_cv: Any, X: Any, y: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Check ``search_cv``'s arguments against ``X, y`` and build what its search runs.

    Returns a dict: ``objective``, ``space``, ``executor`` (of the search), ``n_workers``,
    ``n_candidates``, ``seed``, ``factor``, ``min_resources``, ``max_resources``,
    ``top_resources`` (the top rung's), ``scorers``, ``rank_metric``, ``multimetric``,
    ``n_splits``, ``n_grids`` and ``fit_params``.
    """
    from sklearn.base import is_classifier
    from sklearn.model_selection import check_cv
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import _num_samples, indexable

    est = search_cv.estimator
    if not hasattr(est, "fit"):
        raise InvalidTypeError(f"estimator must have a fit method; got {est!r:.200}")
    X, y = indexable(X, y)
    scorer_map, rank_metric, multimetric = scorers(est, search_cv.scoring, search_cv.refit)
    params, split_params, score_params = _route(search_cv, params)
    n_samples = int(_num_samples(X))
    classifier = is_classifier(est)
    splits = list(check_cv(search_cv.cv, y, classifier=classifier).split(X, y, **split_params))
    n_splits = len(splits)
    space = search_space(search_cv.param_distributions)
    n_grids = len(grids(search_cv.param_distributions))
    _check_options(search_cv, multimetric)
    warm, classes = _resource_kind(search_cv, classifier, y)
    n_classes = len(np.unique(np.asarray(y))) if classifier and y is not None else 1
    if classifier and y is not None and n_classes < 2:
        raise InvalidParameterError(
            f"y must hold at least 2 classes for a classifier ({type(est).__name__}); got "
            f"{n_classes} class: {np.unique(np.asarray(y))!r:.100}")
    _check_names(est, space, n_grids)
    grid = grid_space(space, n_grids)  # lists only: candidates without replacement
    min_r, max_r, top, n_cand = _resources(search_cv, n_samples, n_splits, n_classes,
                                           None if grid is None else grid.size)
    n_jobs = _n_jobs(search_cv.n_jobs, search_cv.executor)
    executor = search_cv.executor
    folds = executor if isinstance(executor, str) and executor in ("thread", "process") \
        else "serial"
    rng = check_random_state(search_cv.random_state)
    seed = int(rng.randint(2**31 - 1))
    sub_seed = int(rng.randint(2**31 - 1))
    objective = CVObjective(
        est, X, y, params, splits, scorer_map, rank_metric, search_cv.resource, top, warm,
        classes, search_cv.error_score, bool(search_cv.return_train_score), sub_seed,
        classifier, n_grids, folds=folds, n_fold_workers=n_jobs, score_params=score_params)
    # jobs of "process" run on threads: their folds go to the worker processes
    return {"objective": objective, "space": space if grid is None else grid,
            "n_workers": n_jobs,
            "executor": "thread" if folds != "serial" else executor,
            "n_candidates": n_cand, "seed": seed, "factor": _factor(search_cv.factor),
            "min_resources": min_r, "max_resources": max_r, "top_resources": top,
            "scorers": scorer_map, "rank_metric": rank_metric, "multimetric": multimetric,
            "n_splits": n_splits, "n_grids": n_grids,
            "fit_params": params}
