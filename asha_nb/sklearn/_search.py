"""``ASHASearchCV``: asynchronous successive halving behind scikit-learn's search API."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.model_selection._search import BaseSearchCV

from ..core import JobStatus
from ..errors import InvalidParameterError, SearchStateError
from . import _setup
from ._objective import GRID_KEY
from ._results import finish
from ._setup import grids

__all__ = ["ASHASearchCV"]


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
        (``space.loguniform(1e-5, 1)``, ...) or a fixed value. When every value is a list
        or a fixed value, the candidates are drawn from the grid of their combinations without
        replacement, as ``RandomizedSearchCV`` does (``n_candidates`` above the grid's size
        runs every combination once, with a warning).
    resource
        What the rungs grow: ``"n_samples"`` (each candidate is fitted from scratch on a
        stratified subsample of every fold, as scikit-learn's halving does), the name of an
        estimator parameter such as ``"max_iter"``, ``"n_estimators"`` or
        ``"clf__max_iter"`` (set per rung; when the estimator has ``warm_start``, a promoted
        candidate continues its fitted estimators instead of refitting), or ``"partial_fit"``
        (one call of ``partial_fit`` per resource unit on each training fold; a promoted
        candidate continues; classifiers get ``classes``).
    min_resources
        Resource of the first rung: an integer, ``"smallest"`` (``2 * n_splits`` samples,
        times the number of classes for a classifier, for ``"n_samples"``; 1 otherwise) or
        ``"exhaust"`` (as scikit-learn's halving: the largest start from which the rungs the
        candidates need, ``1 + floor(log_factor(n_candidates))`` and at least two, reach
        ``max_resources``: ``max_resources // factor**(rungs - 1)``, at least ``"smallest"``).
    max_resources
        Resource of the top rung (and of the refit): an integer, or ``"auto"`` (for
        ``"n_samples"`` only: the refit uses all the samples and, as in
        ``HalvingRandomSearchCV``, the top rung is the largest ``min_resources * factor**k``
        not above the number of samples).
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
        cluster with a ``distributed.Client`` executor), ``-1`` all cores, ``-2`` all but
        one (joblib's rule).
    verbose
        ``> 0``: print the rungs when the search starts and, when it ends, what each rung ran
        and the best candidate (as ``HalvingRandomSearchCV`` prints its iterations).
    aggressive_elimination
        Only ``False`` (``HalvingRandomSearchCV``'s argument, accepted for its code; ASHA has
        no counterpart of its replays of the first iteration).
    executor
        Where the work runs. ``"thread"`` (default): jobs and folds on threads of this process
        (nothing is copied, nothing needs to pickle, but scikit-learn's Python code shares the
        GIL). ``"process"``: the jobs run on threads of this process and their folds on
        ``n_jobs`` worker processes (joblib's loky, as scikit-learn's ``n_jobs``; started by the
        first search and reused by later ones), out of the GIL: faster for estimators whose
        fits hold the GIL (HistGradientBoosting), the estimator and scorers must pickle. On both, the folds of the running jobs share the ``n_jobs``
        workers first come first served, so a worker with no job of its own (the last jobs
        of a rung, the end of the search) fits folds of a running one. With ``n_jobs=1`` a
        job fits its folds itself. A ``distributed.Client`` (Dask) or any executor
        :class:`asha_nb.Search` takes runs whole jobs (their folds one after the other).
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
    n_required_iterations_, n_remaining_candidates_
        As in ``HalvingRandomSearchCV``: the rungs the candidates would need to come down to
        one (``1 + floor(log_factor(n_candidates))``), and ``ceil(n_candidates_[-1] /
        factor)``, the candidates the last rung that ran would promote.
    search_ : asha_nb.Search
        The search itself (set when it starts).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import SGDClassifier
    >>> from asha_nb.sklearn import ASHASearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> alphas = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    >>> cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": alphas},
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
                 random_state: Any = None, n_jobs: int | None = None, verbose: int = 0,
                 aggressive_elimination: bool = False,
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
        self.verbose = verbose
        self.aggressive_elimination = aggressive_elimination
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
            one entry per sample are sliced per split), routed as in scikit-learn's searches:
            ``sample_weight`` also weighs the scores of the scorers that take it (scikit-learn
            >= 1.7), and with metadata routing enabled every parameter goes where it is
            requested (an unrequested one is refused, as ``GridSearchCV`` does).

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
        setup = _setup.setup(self, X, y, params)
        from .._notebook import Search

        failed = threading.Event()

        def on_event(event: Any) -> None:
            if getattr(event, "status", None) is JobStatus.FAILED:
                failed.set()

        search = Search(setup["objective"], setup["space"], scheduler={"type": self.type},
                        executor=setup["executor"], n_workers=setup["n_workers"],
                        journal=self.journal, max_trials=setup["n_candidates"],
                        time_budget=self.time_budget, seed=setup["seed"],
                        min_resource=setup["min_resources"],
                        max_resource=setup["top_resources"], reduction_factor=setup["factor"],
                        mode="max", progress=bool(self.progress))
        if self.error_score == "raise":
            search.subscribe(on_event)
        self._fit_state: dict[str, Any] | None = dict(setup, X=X, y=y, failed=failed)
        self.search_ = search
        for name in _FITTED:  # nothing of an earlier fit outlives this one
            self.__dict__.pop(name, None)
        if self.verbose > 0:
            print(_plan(self, setup, search))
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
        state["objective"].close()
        finish(self, search, state)
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
        return grids(self.param_distributions)

    def __getstate__(self) -> dict[str, Any]:
        # The live search (threads, locks, an executor) stays behind: a fitted search pickles
        # with its results and best estimator.
        state: dict[str, Any] = super().__getstate__()
        state.pop("search_", None)
        state.pop("_fit_state", None)
        return state

    def _run_search(self, evaluate_candidates: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("ASHASearchCV runs its own search (asha_nb.Search)")


#: What a fit sets (``start`` removes them, so that a failed fit leaves none of an earlier one).
_FITTED = ("cv_results_", "best_index_", "best_params_", "best_score_", "best_estimator_",
           "refit_time_", "feature_names_in_", "scorer_", "multimetric_", "n_splits_",
           "n_resources_", "n_candidates_", "n_iterations_", "n_possible_iterations_",
           "n_required_iterations_", "n_remaining_candidates_", "min_resources_",
           "max_resources_")


def _plan(search_cv: Any, setup: Mapping[str, Any], search: Any) -> str:
    """What ``verbose`` prints when the search starts (as HalvingRandomSearchCV does)."""
    rungs = [int(r) if float(r).is_integer() else r
             for r in search.scheduler.rung_resources[0]]
    return (f"ASHASearchCV: {setup['n_candidates']} candidates, {setup['n_splits']} folds "
            f"each, {setup['n_workers']} workers\nrungs (n_resources): {rungs}, factor: "
            f"{setup['factor']}, min_resources_: {setup['min_resources']}, max_resources_: "
            f"{setup['max_resources']}, resource: {search_cv.resource!r}")


def _display(search: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # no IPython: nothing to show the dashboard in
        return
    display(search)  # type: ignore[no-untyped-call]
