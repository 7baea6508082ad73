"""``ASHASearchCV``: asynchronous successive halving behind scikit-learn's search API."""

from __future__ import annotations

import asyncio
import numbers
import os
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import check_cv
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils.validation import _num_samples, indexable

from .. import space as _space
from ..core import JobStatus
from ..errors import InvalidParameterError, InvalidTypeError, SearchStateError
from ._objective import GRID_KEY, CVObjective, to_params
from ._results import build_cv_results, default_best_index

__all__ = ["ASHASearchCV"]

_RESOURCE_HINT = ("'n_samples', 'partial_fit' or the name of an estimator parameter such as "
                  "'max_iter' or 'n_estimators'")


class ASHASearchCV(BaseSearchCV):  # type: ignore[misc]  # scikit-learn has no type stubs
    """Asynchronous successive halving (ASHA) over random candidates, as a scikit-learn search.

    Like :class:`~sklearn.model_selection.HalvingRandomSearchCV`, candidates sampled from
    ``param_distributions`` are cross-validated with a small resource (samples, iterations,
    epochs) and the best ``1/factor`` of each rung get ``factor`` times more. Unlike it, no rung
    waits for its slowest candidate: a worker that frees up promotes the best candidate not yet
    promoted, or starts a new one (ASHA; Li et al., MLSys 2020). The search is an
    :class:`asha_nb.Search` (``search_``): its live dashboard, ``results()``, and
    ``stop_trial`` / ``add_trial`` from another cell while :meth:`start` runs it in the
    background.

    Parameters
    ----------
    estimator
        The estimator (or pipeline) to tune.
    param_distributions
        A dict ``{name: values}``, or a list of such dicts (a candidate uses one of them, each
        equally likely). A value is a list (each item equally likely), a frozen ``scipy.stats``
        distribution (anything with ``rvs``), an asha_nb ``space`` domain
        (``space.loguniform(1e-5, 1)``, ...) or a fixed value.
    resource
        What the rungs grow: ``"n_samples"`` (each candidate is fitted from scratch on a
        stratified subsample of every fold, as scikit-learn's halving does), the name of an
        estimator parameter such as ``"max_iter"``, ``"n_estimators"`` or
        ``"clf__max_iter"`` (set per rung; when the estimator has ``warm_start``, a promoted
        candidate continues its fitted estimators instead of refitting), or ``"partial_fit"``
        (one call of ``partial_fit`` per resource unit on each training fold; a promoted
        candidate continues; classifiers get ``classes``).
    min_resources
        Resource of the first rung: an integer, or ``"smallest"`` (``2 * n_splits`` samples,
        times the number of classes for a classifier, for ``"n_samples"``; 1 otherwise).
    max_resources
        Resource of the top rung (and of the refit): an integer, or ``"auto"`` (the number of
        samples; only for ``"n_samples"``).
    factor
        ``eta``: each rung promotes its top ``1/factor`` and multiplies the resource by it
        (integer >= 2).
    n_candidates
        Number of candidates to sample (ASHA's ``max_trials``), or ``"exhaust"``
        (``max_resources // min_resources`` as scikit-learn's halving, at least ``factor``).
    scoring, cv, refit, error_score, return_train_score
        As in :class:`~sklearn.model_selection.RandomizedSearchCV`. With several metrics the
        search promotes on the one ``refit`` names (the first one when ``refit`` is a callable
        or ``False``).
    random_state
        Seeds the sampling of candidates and the subsamples. With ``n_jobs=1`` the same
        ``random_state`` (and a deterministic estimator) gives the same ``cv_results_`` apart
        from the timing columns; with more workers, which candidates a rung promotes depends on
        the order in which jobs finish (the candidates themselves are still the same).
    n_jobs
        Number of workers (jobs in flight); ``None`` is 1 (the number of threads of a Dask
        cluster with a ``distributed.Client`` executor), ``-1`` all cores.
    executor
        Where jobs run: ``"thread"`` (default), ``"process"``, a ``distributed.Client`` (Dask),
        or any executor :class:`asha_nb.Search` takes.
    type
        ``"promotion"`` (ASHA as in the paper) or ``"stopping"`` (a candidate goes on after each
        rung unless it falls out of the top ``1/factor`` so far).
    time_budget
        Seconds after which the search ends (running jobs are interrupted).
    journal
        SQLite journal of the search (see :class:`asha_nb.Search`).
    progress
        Show a progress bar while :meth:`fit` runs.
    dashboard
        Display the search's live dashboard when it starts (in a notebook).

    Attributes
    ----------
    cv_results_ : dict of numpy arrays
        One row per job (candidate and rung), with scikit-learn's halving columns (``iter`` is
        the rung, ``n_resources``, ``params``, ``param_<name>``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, ``split<k>_test_score``, fit and score times,
        train scores with ``return_train_score``; ``<metric>`` instead of ``score`` with
        several metrics) and asha_nb's ``trial_id``, ``status`` (``ok``, ``failed``,
        ``stopped``, ``interrupted``) and ``error`` (the traceback of a failed fit).
    best_index_, best_params_, best_score_
        The best row at the highest resource reached (like ``HalvingRandomSearchCV``, which
        takes the best of its last iteration), or ``refit(cv_results_)`` for a callable.
    best_estimator_
        A clone with ``best_params_`` fitted on all the data at ``max_resources`` (``refit``).
    refit_time_, scorer_, multimetric_, n_splits_
        As in scikit-learn's searches.
    n_resources_, n_candidates_
        Resource and number of candidates of each rung that ran.
    min_resources_, max_resources_, n_iterations_, n_possible_iterations_
        The resources of the first and top rung, how many rungs ran and how many exist.
    search_ : asha_nb.Search
        The search itself (set when it starts).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import SGDClassifier
    >>> from asha_nb.sklearn import ASHASearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": [1e-4, 1e-3, 1e-2]},
    ...                   resource="max_iter", min_resources=1, max_resources=9,
    ...                   n_candidates=9, random_state=0).fit(X, y)
    >>> cv.n_resources_, cv.n_candidates_
    ([1, 3, 9], [9, 3, 1])
    >>> cv.best_estimator_.max_iter
    9
    """

    def __init__(self, estimator: Any, param_distributions: Any, *,
                 resource: str = "n_samples", min_resources: Any = "smallest",
                 max_resources: Any = "auto", factor: int = 3, n_candidates: Any = "exhaust",
                 scoring: Any = None, cv: Any = 5, refit: Any = True,
                 error_score: Any = np.nan, return_train_score: bool = False,
                 random_state: Any = None, n_jobs: int | None = None,
                 executor: Any = "thread", type: str = "promotion",
                 time_budget: float | None = None, journal: Any = None,
                 progress: bool = False, dashboard: bool = False) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.resource = resource
        self.min_resources = min_resources
        self.max_resources = max_resources
        self.factor = factor
        self.n_candidates = n_candidates
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.executor = executor
        self.type = type
        self.time_budget = time_budget
        self.journal = journal
        self.progress = progress
        self.dashboard = dashboard

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, **params: Any) -> ASHASearchCV:
        """Run the search to its end, then refit the best candidate (``refit``).

        Parameters
        ----------
        X, y
            Training data and targets.
        **params
            ``groups`` (for group-aware ``cv``) and the estimator's fit parameters (arrays with
            one entry per sample are sliced per split).

        Returns
        -------
        ASHASearchCV
            ``self``, fitted.
        """
        self.start(X, y, **params)
        return self.wait()

    def start(self, X: Any, y: Any = None, **params: Any) -> ASHASearchCV:
        """Start the search in the background and return at once.

        ``search_`` is the running :class:`asha_nb.Search`: steer it from other cells
        (``search_.stop_trial(i)``, :meth:`add_trial`, ``search_.pause()``, ...). :meth:`wait`
        waits for the end and computes the fitted attributes.
        """
        running = getattr(self, "search_", None)
        if running is not None and not running.state.is_terminal:
            raise SearchStateError(
                "cannot start: this ASHASearchCV's search is still running; wait() for it or "
                "stop it (search_.stop()) first")
        setup = self._setup(X, y, params)
        from .._notebook import Search

        failed = threading.Event()

        def on_event(event: Any) -> None:
            if getattr(event, "status", None) is JobStatus.FAILED:
                failed.set()

        search = Search(setup["objective"], setup["space"], scheduler={"type": self.type},
                        executor=self.executor, n_workers=setup["n_workers"],
                        journal=self.journal, max_trials=setup["n_candidates"],
                        time_budget=self.time_budget, seed=setup["seed"],
                        min_resource=setup["min_resources"],
                        max_resource=setup["max_resources"], reduction_factor=self.factor,
                        mode="max", progress=bool(self.progress))
        if self.error_score == "raise":
            search.subscribe(on_event)
        self._fit_state: dict[str, Any] | None = dict(setup, X=X, y=y, failed=failed)
        self.search_ = search
        for name in ("cv_results_", "best_index_", "best_params_", "best_score_",
                     "best_estimator_", "refit_time_"):
            self.__dict__.pop(name, None)
        search.start()
        if self.dashboard:
            _display(search)
        return self

    def wait(self, timeout: float | None = None) -> ASHASearchCV:
        """Wait for the search :meth:`start` started, then set ``cv_results_``, ``best_*``
        and (``refit``) ``best_estimator_``.

        Parameters
        ----------
        timeout
            Seconds to wait at most; :class:`TimeoutError` if the search is still running
            then (call ``wait`` again later).
        """
        state = getattr(self, "_fit_state", None)
        if state is None:
            if hasattr(self, "cv_results_"):
                return self  # already waited for
            raise SearchStateError("nothing to wait for: call start(X, y) (or fit) first")
        search = self.search_
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        if self.progress:
            from ..runtime.progress import ProgressBar

            bar = ProgressBar(search)
        try:
            while not search.wait(0.2):
                if bar is not None:
                    bar.update()
                if state["failed"].is_set() and not search.state.is_terminal:
                    try:
                        search.stop()  # error_score="raise": the first failure ends the search
                    except SearchStateError:
                        pass  # it ended meanwhile
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"the search is still running after {timeout} s")
        except KeyboardInterrupt:
            if not search.state.is_terminal:
                search.stop()
            raise
        finally:
            if bar is not None:
                bar.close()
        self._fit_state = None
        self._finish(search, state)
        return self

    async def fit_async(self, X: Any, y: Any = None, **params: Any) -> ASHASearchCV:
        """:meth:`fit` as a coroutine: ``task = asyncio.ensure_future(cv.fit_async(X, y))``
        in a notebook keeps the kernel free (steer ``cv.search_`` from other cells);
        ``await task`` gives the fitted search."""
        self.start(X, y, **params)
        await self.search_
        return await asyncio.to_thread(self.wait)

    # ------------------------------------------------------------------ steering
    def add_trial(self, params: Mapping[str, Any], *, check: bool = True) -> int:
        """Add a candidate to the running search (missing parameters are sampled); returns
        its trial id. With a list of ``param_distributions`` it joins the first dict that has
        all its parameters."""
        search = self._running_search("add_trial")
        n_grids = len(self._grids())
        config: dict[str, Any] = dict(params)
        if n_grids > 1:
            for i, grid in enumerate(self._grids()):
                if set(params) <= set(grid):
                    config = {GRID_KEY: i, **{f"{i}:{k}": v for k, v in params.items()}}
                    break
            else:
                raise InvalidParameterError(
                    f"params must name parameters of one dict of param_distributions; got "
                    f"{sorted(params)}")
        return int(search.add_trial(config, check=check))

    def stop_trial(self, trial_id: int) -> None:
        """Stop a candidate of the running search (``search_.stop_trial``)."""
        self._running_search("stop_trial").stop_trial(trial_id)

    def _running_search(self, what: str) -> Any:
        search = getattr(self, "search_", None)
        if search is None:
            raise SearchStateError(f"cannot {what}: the search has not started (call start)")
        return search

    # ------------------------------------------------------------------ set-up
    def _grids(self) -> list[Mapping[str, Any]]:
        pd_ = self.param_distributions
        grids = [pd_] if isinstance(pd_, Mapping) else pd_
        if not isinstance(grids, Sequence) or isinstance(grids, str) or not grids or not all(
                isinstance(g, Mapping) and g for g in grids):
            raise InvalidTypeError(
                "param_distributions must be a non-empty dict {name: values} or a non-empty "
                f"list of such dicts; got {pd_!r:.200}")
        return list(grids)

    def _space(self) -> dict[str, Any]:
        grids = self._grids()

        def domain(v: Any) -> Any:
            if isinstance(v, (list, tuple, np.ndarray)) and not isinstance(v, str):
                if len(v) == 0:
                    raise InvalidParameterError(
                        "param_distributions: a list of values must not be empty")
                return _space.choice(list(v))
            return v

        if len(grids) == 1:
            sp = {k: domain(v) for k, v in grids[0].items()}
        else:
            sp = {GRID_KEY: _space.choice(list(range(len(grids))))}
            for i, g in enumerate(grids):
                sp.update({f"{i}:{k}": domain(v) for k, v in g.items()})
        return sp

    def _setup(self, X: Any, y: Any, params: dict[str, Any]) -> dict[str, Any]:
        from sklearn.utils import check_random_state

        est = self.estimator
        if not hasattr(est, "fit"):
            raise InvalidTypeError(f"estimator must have a fit method; got {est!r:.200}")
        X, y = indexable(X, y)
        params = dict(params)
        groups = params.pop("groups", None)
        n_samples = int(_num_samples(X))
        classifier = is_classifier(est)
        cv = check_cv(self.cv, y, classifier=classifier)
        splits = list(cv.split(X, y, groups))
        n_splits = len(splits)
        scorers, rank_metric, multimetric = self._scorers()
        space = self._space()
        n_grids = len(self._grids())

        factor = self.factor
        if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or int(factor) < 2:
            raise InvalidParameterError(f"factor must be an integer >= 2, got {factor!r}")
        if self.type not in ("promotion", "stopping"):
            raise InvalidParameterError(
                f"type must be one of 'promotion', 'stopping'; got {self.type!r}")
        if self.error_score != "raise" and not (
                isinstance(self.error_score, numbers.Real)
                and not isinstance(self.error_score, bool)):
            raise InvalidParameterError(
                f"error_score must be 'raise' or a number, got {self.error_score!r}")
        if not (self.refit is True or self.refit is False or callable(self.refit)
                or (isinstance(self.refit, str) and multimetric)):
            raise InvalidParameterError(
                f"refit must be True, False, a callable, or (with several metrics) a metric "
                f"name; got {self.refit!r}")

        resource = self.resource
        warm: str | None = None
        classes = None
        if not isinstance(resource, str):
            raise InvalidTypeError(f"resource must be {_RESOURCE_HINT}; got {resource!r}")
        est_params = est.get_params(deep=True)
        if resource == "partial_fit":
            if not hasattr(est, "partial_fit"):
                raise InvalidParameterError(
                    f"resource='partial_fit' needs an estimator with partial_fit; "
                    f"{type(est).__name__} has none")
            if classifier and y is not None:
                classes = np.unique(np.asarray(y))
        elif resource != "n_samples":
            if resource not in est_params:
                raise InvalidParameterError(
                    f"resource must be {_RESOURCE_HINT}; {resource!r} is not a parameter of "
                    f"{type(est).__name__}")
            for g in self._grids():
                if resource in g:
                    raise InvalidParameterError(
                        f"param_distributions must not contain the resource {resource!r}: the "
                        "search sets it per rung")
            warm = _warm_mode(est, est_params, resource)
        min_r = self.min_resources
        if min_r == "smallest":
            if resource == "n_samples":
                n_classes = len(np.unique(np.asarray(y))) if classifier and y is not None else 1
                min_r = 2 * n_splits * n_classes
            else:
                min_r = 1
        max_r = self.max_resources
        if max_r == "auto":
            if resource != "n_samples":
                raise InvalidParameterError(
                    f"max_resources must be an integer with resource={resource!r} ('auto' is "
                    "the number of samples, for resource='n_samples' only)")
            max_r = n_samples
        for name, v in (("min_resources", min_r), ("max_resources", max_r)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise InvalidParameterError(
                    f"{name} must be an integer >= 1 (or {'smallest' if name[1] == 'i' else 'auto'!r})"
                    f"; got {v!r}")
        min_r, max_r = int(min_r), int(max_r)
        if resource == "n_samples" and max_r > n_samples:
            raise InvalidParameterError(
                f"max_resources must be <= the number of samples ({n_samples}) with "
                f"resource='n_samples'; got {max_r}")
        if min_r >= max_r:
            raise InvalidParameterError(
                f"min_resources must be < max_resources; got {min_r} and {max_r}")
        n_cand = self.n_candidates
        if n_cand == "exhaust":
            n_cand = max(int(factor), max_r // min_r)
        if isinstance(n_cand, bool) or not isinstance(n_cand, numbers.Integral) or n_cand < 1:
            raise InvalidParameterError(
                f"n_candidates must be an integer >= 1 or 'exhaust'; got {n_cand!r}")
        n_jobs = self.n_jobs
        if n_jobs is None:
            nthreads = getattr(self.executor, "nthreads", None)
            n_jobs = sum(nthreads().values()) if callable(nthreads) else 1
        elif n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs < 1:
            raise InvalidParameterError(
                f"n_jobs must be None, -1 or an integer >= 1; got {self.n_jobs!r}")
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2**31 - 1))
        sub_seed = int(rng.randint(2**31 - 1))
        objective = CVObjective(
            est, X, y, params, splits, scorers, rank_metric, resource, max_r, warm, classes,
            self.error_score, bool(self.return_train_score), sub_seed, classifier, n_grids)
        return {"objective": objective, "space": space, "n_workers": int(n_jobs),
                "n_candidates": int(n_cand), "seed": seed, "min_resources": min_r,
                "max_resources": max_r, "scorers": scorers, "rank_metric": rank_metric,
                "multimetric": multimetric, "n_splits": n_splits, "n_grids": n_grids,
                "fit_params": params}

    def _scorers(self) -> tuple[dict[str, Any], str, bool]:
        """``{name: scorer}``, the metric ASHA promotes on, and whether there are several."""
        from sklearn.metrics import check_scoring

        scoring = self.scoring
        if scoring is None or isinstance(scoring, str) or callable(scoring):
            return {"score": check_scoring(self.estimator, scoring)}, "score", False
        if isinstance(scoring, (list, tuple, set)):
            names = list(scoring)
            if not names or not all(isinstance(s, str) for s in names) or \
                    len(set(names)) != len(names):
                raise InvalidParameterError(
                    f"scoring as a list must hold distinct metric names; got {scoring!r}")
            scorers = {s: check_scoring(self.estimator, s) for s in names}
        elif isinstance(scoring, Mapping):
            if not scoring:
                raise InvalidParameterError("scoring as a dict must not be empty")
            scorers = {str(k): check_scoring(self.estimator, v) for k, v in scoring.items()}
        else:
            raise InvalidTypeError(
                "scoring must be None, a metric name, a callable, a list of names or a dict "
                f"{{name: scorer}}; got {scoring!r}")
        if isinstance(self.refit, str):
            if self.refit not in scorers:
                raise InvalidParameterError(
                    f"refit must be one of the metric names {sorted(scorers)} (or a callable, "
                    f"or False) with several metrics; got {self.refit!r}")
            return scorers, self.refit, True
        if self.refit is True:
            raise InvalidParameterError(
                "For multi-metric scoring, refit must be set to a scorer key or a callable to "
                "refit an estimator with the best parameter setting on the whole data, or to "
                f"False; got True (metrics: {sorted(scorers)})")
        return scorers, next(iter(scorers)), True

    # ------------------------------------------------------------------ results
    def _finish(self, search: Any, state: dict[str, Any]) -> None:
        objective: CVObjective = state["objective"]
        records = search.records()
        if self.error_score == "raise":
            for rec in records:
                if rec.status is JobStatus.FAILED:
                    exc = objective.failures.get(rec.job_id)
                    if exc is not None:
                        raise exc
                    raise ValueError(
                        f"a fit failed with error_score='raise' (trial {rec.trial_id}, "
                        f"resource {rec.resource}, params "
                        f"{to_params(rec.config, state['n_grids'])}):\n{rec.error}")
        if search.state == "failed":
            reason = search.snapshot().reason
            raise SearchStateError(f"the search failed: {reason or 'see search_.results()'}")
        results, n_failed = build_cv_results(
            records, _checkpoints(search), state["scorers"], state["n_splits"],
            state["n_grids"], bool(self.return_train_score), state["multimetric"])
        if not len(results["params"]):
            raise SearchStateError("the search ended before any job ran; nothing to report")
        if n_failed:
            n_fits = len(results["params"]) * state["n_splits"]
            first = next(e for e in results["error"] if e)
            warnings.warn(
                f"\n{n_failed} fits failed out of a total of {n_fits}.\nThe score on these "
                f"train-test partitions for these parameters will be set to "
                f"{self.error_score}.\nThe first failure:\n{first}", FitFailedWarning,
                stacklevel=3)
        rank = state["rank_metric"]
        self.multimetric_ = state["multimetric"]
        self.scorer_ = state["scorers"] if self.multimetric_ else state["scorers"]["score"]
        self.n_splits_ = state["n_splits"]
        self.cv_results_ = results
        rungs = list(search.scheduler.rung_resources[0])
        ran = sorted(set(int(r) for r in results["iter"]))
        self.n_resources_ = [_plain_number(rungs[i]) for i in ran]
        self.n_candidates_ = [int(np.sum(results["iter"] == i)) for i in ran]
        self.n_iterations_ = len(ran)
        self.n_possible_iterations_ = len(rungs)
        self.min_resources_ = state["min_resources"]
        self.max_resources_ = state["max_resources"]
        if self.refit is not False or not self.multimetric_:
            if callable(self.refit):
                best = self.refit(results)
                if not isinstance(best, numbers.Integral) or isinstance(best, bool):
                    raise TypeError("best_index_ returned is not an integer")
                if not 0 <= int(best) < len(results["params"]):
                    raise IndexError("best_index_ index out of range")
            else:
                best = default_best_index(results, f"mean_test_{rank}")
                self.best_score_ = float(results[f"mean_test_{rank}"][best])
            self.best_index_ = int(best)
            self.best_params_ = results["params"][self.best_index_]
        if self.refit is not False:
            self._refit(state)

    def _refit(self, state: dict[str, Any]) -> None:
        X, y, fit_params = state["X"], state["y"], state["fit_params"]
        est = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
        resource = self.resource
        t0 = time.perf_counter()
        if resource == "partial_fit":
            objective: CVObjective = state["objective"]
            extra = {} if objective.classes is None else {"classes": objective.classes}
            for _ in range(state["max_resources"]):
                est.partial_fit(X, y, **extra, **fit_params)
        else:
            if resource != "n_samples":
                est.set_params(**{resource: state["max_resources"]})
            if y is None:
                est.fit(X, **fit_params)
            else:
                est.fit(X, y, **fit_params)
        self.refit_time_ = time.perf_counter() - t0
        self.best_estimator_ = est
        if hasattr(est, "feature_names_in_"):
            self.feature_names_in_ = est.feature_names_in_

    def __getstate__(self) -> dict[str, Any]:
        # The live search (threads, locks, an executor) stays behind: a fitted search pickles
        # with its results and best estimator.
        state: dict[str, Any] = super().__getstate__()
        state.pop("search_", None)
        state.pop("_fit_state", None)
        return state

    def _run_search(self, evaluate_candidates: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("ASHASearchCV runs its own search (asha_nb.Search)")


def _warm_mode(est: Any, est_params: Mapping[str, Any], resource: str) -> str | None:
    """How a promoted candidate continues with a parameter resource (see CVObjective)."""
    prefix, sep, _ = resource.rpartition("__")
    if f"{prefix}{sep}warm_start" not in est_params:
        return None
    owner = est_params[prefix] if prefix else est
    cumulative = (type(owner).__module__.startswith("sklearn.ensemble")
                  or resource.endswith("n_estimators"))
    return "total" if cumulative else "extra"


def _checkpoints(search: Any) -> Mapping[int, Any]:
    """The last checkpoint of every trial: ``{trial_id: (resource, checkpoint)}`` (they carry
    each job's split scores back from every executor)."""
    return search.checkpoints()  # type: ignore[no-any-return]


def _plain_number(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else f


def _display(search: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # no IPython: nothing to show the dashboard in
        return
    display(search)  # type: ignore[no-untyped-call]
