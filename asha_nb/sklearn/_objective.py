"""The objective :class:`~asha_nb.sklearn.ASHASearchCV` hands to its search: one job
cross-validates one candidate at one resource.

It is written in the trial form (``objective(trial)``) and is a plain picklable object, so it
runs unchanged on threads, on a process pool and on Dask workers. What a job measured (the
scores of every split, fit and score times, the traceback of a failed fit) travels back in the
trial's checkpoint, together with the fitted estimators a promoted job continues from
(``warm_start`` and ``partial_fit`` resources): the checkpoint is the only thing besides the
value that comes back from every executor.

With ``n_jobs > 1`` a job's folds go to a pool shared by all the search's jobs (threads or
processes; see :mod:`asha_nb.sklearn._folds`). A pickled objective (asha_nb's process and Dask
workers) fits its folds one after the other.
"""

from __future__ import annotations

import copy
import numbers
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidTypeError
from ._folds import ThreadFolds

__all__ = ["CVObjective", "to_params", "slice_params"]

#: Name of the key that says which dict of a list of ``param_distributions`` a trial uses.
GRID_KEY = "_grid"


def to_params(config: Mapping[str, Any], n_grids: int) -> dict[str, Any]:
    """The estimator parameters of a search configuration.

    With one dict of distributions the configuration is the parameters. With a list of
    ``n_grids`` dicts, the configuration holds ``_grid`` (which dict) and ``"<i>:<name>"`` keys
    for every dict; only the chosen dict's keys are parameters.
    """
    if n_grids <= 1:
        return {k: v for k, v in config.items() if k != GRID_KEY}
    grid = int(config[GRID_KEY])
    prefix = f"{grid}:"
    return {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}


def slice_params(params: Mapping[str, Any], n_samples: int, idx: np.ndarray) -> dict[str, Any]:
    """Fit parameters for the rows ``idx``: arrays with one entry per sample are sliced."""
    from sklearn.utils import _safe_indexing

    out = {}
    for k, v in params.items():
        if hasattr(v, "__len__") and not isinstance(v, (str, bytes, Mapping)) and \
                len(v) == n_samples:
            out[k] = _safe_indexing(v, idx)
        else:
            out[k] = v
    return out


class _Stopped(Exception):
    """The search asked this job to stop (cooperatively, between fits)."""


class CVObjective:
    """Cross-validate one candidate at one resource (one job of the search).

    Parameters
    ----------
    estimator
        The (unfitted) base estimator.
    X, y, fit_params
        The data and the fit parameters (sliced per split).
    splits
        The cross-validation's ``(train, test)`` index pairs.
    scorers
        ``{name: scorer}``; ``rank_metric`` names the one whose mean is the job's value.
    resource
        ``"n_samples"``, ``"partial_fit"`` or the name of an estimator parameter.
    max_resource
        The resource of the top rung (a trial there keeps no fitted estimators).
    warm
        For a parameter resource: ``None`` (refit from scratch every rung), ``"total"``
        (``warm_start``; the parameter counts the whole training, as in the ensembles) or
        ``"extra"`` (``warm_start``; the parameter counts each fit's own iterations, as in
        ``SGDClassifier``).
    classes
        The classes passed to ``partial_fit`` (classifiers), else ``None``.
    error_score
        ``"raise"`` or the score a failed fit gets.
    return_train_score
        Whether to score the training folds too.
    subsample_seed
        Seed of the ``n_samples`` subsamples (the same for every candidate of a rung).
    stratify
        Subsample classifiers' folds stratified by class.
    n_grids
        Number of dicts in ``param_distributions`` (see :func:`to_params`).
    folds
        Where a job's folds are fitted: ``"serial"`` (one after the other, in the job),
        ``"thread"`` or ``"process"`` (a pool of ``n_fold_workers`` shared by the jobs; see
        :mod:`asha_nb.sklearn._folds`). A pickled copy is ``"serial"``.
    n_fold_workers
        Size of the fold pool.
    score_params
        Parameters of the scorers (``sample_weight``, as scikit-learn routes them; sliced per
        split like ``fit_params``).
    """

    __asha_form__ = "trial"

    def __init__(self, estimator: Any, X: Any, y: Any, fit_params: Mapping[str, Any],
                 splits: Sequence[tuple[np.ndarray, np.ndarray]],
                 scorers: Mapping[str, Callable[..., Any]], rank_metric: str, resource: str,
                 max_resource: float, warm: str | None, classes: Any, error_score: Any,
                 return_train_score: bool, subsample_seed: int, stratify: bool,
                 n_grids: int, folds: str = "serial", n_fold_workers: int = 1,
                 score_params: Mapping[str, Any] | None = None) -> None:
        self.estimator = estimator
        self.X = X
        self.y = y
        self.fit_params = dict(fit_params)
        self.score_params = dict(score_params or {})
        self.splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splits]
        self.scorers = dict(scorers)
        self.rank_metric = rank_metric
        self.resource = resource
        self.max_resource = max_resource
        self.warm = warm
        self.classes = classes
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.subsample_seed = subsample_seed
        self.stratify = stratify
        self.n_grids = n_grids
        #: job id -> the exception a fit raised (filled only where jobs run in this process:
        #: the thread executor), so ``error_score="raise"`` re-raises the original exception.
        self.failures: dict[int, BaseException] = {}
        self.folds = folds if n_fold_workers > 1 else "serial"
        self.n_fold_workers = max(1, int(n_fold_workers))
        self._threads: ThreadFolds | None = (
            ThreadFolds(self.n_fold_workers) if self.folds == "thread" else None)
        self._token = uuid.uuid4().hex
        self._subsamples: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_threads=None, folds="serial", failures={}, _subsamples={})
        return state

    def close(self) -> None:
        """Let the fold threads go (the process pool stays for the next search)."""
        if self._threads is not None:
            self._threads.close()

    @property
    def n_samples(self) -> int:
        from sklearn.utils.validation import _num_samples

        return int(_num_samples(self.X))

    # ------------------------------------------------------------------ one job
    def __call__(self, trial: Any) -> float:
        ckpt = trial.checkpoint if isinstance(trial.checkpoint, dict) else {}
        history = list(ckpt.get("history", ()))
        prev_models = ckpt.get("models") if trial.resume_from > 0 else None
        params = to_params(trial.config, self.n_grids)
        n = len(self.splits)
        entry: dict[str, Any] = {
            "job_id": trial.job_id, "rung": trial.rung, "resource": trial.resource,
            "test": {k: [np.nan] * n for k in self.scorers},
            "train": {k: [np.nan] * n for k in self.scorers} if self.return_train_score
            else None,
            "fit_time": [0.0] * n, "score_time": [0.0] * n, "error": None,
            "continued": prev_models is not None,
        }
        models: list[Any] | None = None
        try:
            # (the thread executor applies its OpenMP cap in each trial thread itself)
            models = self._cross_validate(trial, params, prev_models, entry)
        except _Stopped:
            return float("nan")  # a stopped job's partial value is not recorded in its rung
        except Exception as exc:
            if self.error_score == "raise":
                self.failures[trial.job_id] = exc
                raise
            entry["error"] = traceback.format_exc()
            for name in self.scorers:
                entry["test"][name] = [float(self.error_score)] * n
                if entry["train"] is not None:
                    entry["train"][name] = [float(self.error_score)] * n
            models = None
        keep = models if (models is not None and self.keeps_models(trial.resource)) else None
        trial.save({"history": [*history, entry], "models": keep})
        return float(np.mean(entry["test"][self.rank_metric]))

    def _cross_validate(self, trial: Any, params: Mapping[str, Any],
                        prev_models: Sequence[Any] | None, entry: dict[str, Any]) -> list[Any]:
        n = len(self.splits)

        def prev(k: int) -> Any:
            return None if prev_models is None else prev_models[k]

        if self.folds == "thread":
            assert self._threads is not None
            pool = self._threads.get()
            folds = _gather(trial, [pool.submit(self.fold, trial, params, prev(k), k)
                                    for k in range(n)])
        elif self.folds == "process":
            folds = self._process_folds(trial, dict(params), prev)
        else:
            folds = []
            for k in range(n):
                if trial.should_stop():
                    raise _Stopped
                folds.append(self.fold(trial, params, prev(k), k))
        models = []
        for k, (est, fit_time, score_time, test, train) in enumerate(folds):
            entry["fit_time"][k] = fit_time
            entry["score_time"][k] = score_time
            for name in self.scorers:
                entry["test"][name][k] = test[name]
                if entry["train"] is not None:
                    entry["train"][name][k] = train[name]
            models.append(est)
        return models

    def _process_folds(self, trial: Any, params: dict[str, Any],
                       prev: Callable[[int], Any]) -> list[Any]:
        from ._folds import MISSING, process_pool, reset_process_pool, run_fold

        if trial.should_stop():
            raise _Stopped
        pool = process_pool(self.n_fold_workers)
        keep = self.keeps_models(trial.resource)

        def submit(k: int, objective: Any) -> Any:
            return pool.submit(run_fold, self._token, objective, trial.resource,
                               trial.resume_from, params, prev(k), k, keep)

        try:
            futures = [submit(k, None) for k in range(len(self.splits))]
            folds = _gather(trial, futures)
            for k, fold in enumerate(folds):
                if isinstance(fold, str) and fold == MISSING:  # a worker new to this search
                    folds[k] = _gather(trial, [submit(k, self)])[0]
        except Exception as exc:
            if type(exc).__name__ == "BrokenProcessPool":
                reset_process_pool(pool)
            raise
        return folds

    def keeps_models(self, resource: float) -> bool:
        """Whether a job at ``resource`` keeps its fitted estimators for its promotion."""
        return (self.warm is not None or self.resource == "partial_fit") and \
            resource < self.max_resource

    def fold(self, trial: Any, params: Mapping[str, Any], prev_model: Any,
             k: int) -> tuple[Any, float, float, dict[str, float], dict[str, float]]:
        """Fit and score fold ``k`` (continuing ``prev_model`` if not ``None``): the
        estimator, fit and score times, test and train scores."""
        from sklearn.base import clone
        from sklearn.utils import _safe_indexing

        from .._threads import apply_in_thread

        if trial.should_stop():
            raise _Stopped
        if self.folds == "thread":
            apply_in_thread()  # the search's OpenMP cap, in this pool thread too
        train, test = self.splits[k]
        if self.resource == "n_samples":
            train, test = self._subsample(train, test, trial.resource, k)
        X_train, X_test = _safe_indexing(self.X, train), _safe_indexing(self.X, test)
        y_train = None if self.y is None else _safe_indexing(self.y, train)
        y_test = None if self.y is None else _safe_indexing(self.y, test)
        fit_params = slice_params(self.fit_params, self.n_samples, train)
        t0 = time.perf_counter()
        if prev_model is not None:
            est = copy.deepcopy(prev_model)  # the stored checkpoint stays as it was
        else:
            est = clone(self.estimator).set_params(**clone(dict(params), safe=False))
        est = self._train(trial, est, X_train, y_train, fit_params,
                          continued=prev_model is not None)
        t1 = time.perf_counter()
        test_scores = self._scores(est, X_test, y_test, test)
        t2 = time.perf_counter()
        train_scores = (self._scores(est, X_train, y_train, train)
                        if self.return_train_score else {})
        return est, t1 - t0, t2 - t1, test_scores, train_scores

    def _scores(self, est: Any, X: Any, y: Any, idx: np.ndarray) -> dict[str, float]:
        """Every metric of ``est`` on the rows ``idx`` (``X, y``), with their score params;
        several metrics with score params go through scikit-learn's multi-metric scorer,
        which gives each scorer the params it takes (or requests, with metadata routing)."""
        params = slice_params(self.score_params, self.n_samples, idx)
        if params and len(self.scorers) > 1:
            from sklearn.metrics._scorer import _MultimetricScorer

            multi = _MultimetricScorer(scorers=self.scorers, raise_exc=True)
            values = multi(est, X, **params) if y is None else multi(est, X, y, **params)
            return {name: _number(values[name], scorer)
                    for name, scorer in self.scorers.items()}
        return {name: _score(scorer, est, X, y, params) for name, scorer in self.scorers.items()}

    def _train(self, trial: Any, est: Any, X: Any, y: Any, fit_params: Mapping[str, Any], *,
               continued: bool) -> Any:
        resource = trial.resource
        if self.resource == "n_samples":
            est.fit(X, y, **fit_params)
        elif self.resource == "partial_fit":
            start = int(trial.resume_from) if continued else 0
            extra = {} if self.classes is None else {"classes": self.classes}
            for _ in range(start, int(resource)):
                if trial.should_stop():
                    raise _Stopped
                est.partial_fit(X, y, **extra, **fit_params)
        else:
            value = _as_param_value(resource)
            if continued and self.warm == "extra":
                value = _as_param_value(resource - trial.resume_from)
            settings: dict[str, Any] = {self.resource: value}
            if self.warm is not None:
                settings[_warm_start_name(self.resource)] = True
            est.set_params(**settings)
            est.fit(X, y, **fit_params)
        return est

    def _subsample(self, train: np.ndarray, test: np.ndarray,
                   resource: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Stratified (classifiers) subsample of both parts of fold ``k`` to
        ``resource / n_samples``, the same for every candidate of a rung (scikit-learn's
        halving subsamples both too): drawn once per fold and rung, then reused."""
        fraction = float(resource) / self.n_samples
        if fraction >= 1:
            return train, test
        key = (k, float(resource))
        cached = self._subsamples.get(key)
        if cached is None:
            cached = (self._resample(train, fraction), self._resample(test, fraction))
            self._subsamples[key] = cached  # a race only draws the same subsample twice
        return cached

    def _resample(self, idx: np.ndarray, fraction: float) -> np.ndarray:
        from sklearn.utils import _safe_indexing, resample

        n = max(1, int(fraction * len(idx)))
        strata = None
        if self.stratify and self.y is not None:
            strata = np.asarray(_safe_indexing(self.y, idx))
            if n < len(np.unique(strata)):
                strata = None  # too few rows to hold every class
        out: np.ndarray = resample(idx, replace=False, n_samples=n,
                                   random_state=self.subsample_seed, stratify=strata)
        return out


def _score(scorer: Callable[..., Any], est: Any, X: Any, y: Any,
           params: Mapping[str, Any]) -> float:
    return _number(scorer(est, X, **params) if y is None else scorer(est, X, y, **params),
                   scorer)


def _number(value: Any, scorer: Any) -> float:
    """A scorer's value as a float; anything but a number is refused, naming ``scoring``."""
    if hasattr(value, "item") and getattr(value, "size", None) == 1:
        value = value.item()  # a numpy scalar or a one-element array
    if isinstance(value, Mapping):
        raise InvalidTypeError(
            f"scoring must return a number; {scorer!r:.100} returned a dict "
            f"{sorted(value)!r:.200}: ASHASearchCV does not take scikit-learn's callable that "
            "returns a dict of scores; give scoring as a dict {name: scorer} (one callable "
            "per metric)")
    if not isinstance(value, numbers.Real):
        raise InvalidTypeError(
            f"scoring must return a number, got {value!r:.100} ({type(value).__name__}) "
            f"instead (scorer={scorer!r:.100})")
    return float(value)


def _as_param_value(resource: float) -> int | float:
    value = float(resource)
    return int(round(value)) if value.is_integer() else value


def _warm_start_name(resource: str) -> str:
    """``warm_start`` beside the resource parameter (``"clf__max_iter"`` -> ``"clf__warm_start"``)."""
    prefix, sep, _ = resource.rpartition("__")
    return f"{prefix}{sep}warm_start"


def _gather(trial: Any, futures: list[Any]) -> list[Any]:
    """The futures' results in order; on a failure or a stop request the folds not started
    yet are cancelled (running ones end on their own)."""
    try:
        out = []
        for f in futures:
            out.append(f.result())
            if trial.should_stop() and len(out) < len(futures):
                raise _Stopped
        return out
    finally:
        for f in futures:
            f.cancel()
