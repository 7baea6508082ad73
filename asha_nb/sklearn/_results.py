"""What :class:`~asha_nb.sklearn.ASHASearchCV` sets when its search ends: ``cv_results_`` (one
row per job, candidate and rung, in scikit-learn's column names, from the search's records and
the split scores its jobs brought back in their trials' checkpoints), ``best_*``, the rung
attributes, and the refitted ``best_estimator_``."""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core import JobStatus
from ..errors import SearchStateError
from ._objective import CVObjective, to_params
from ._setup import _floor_log

__all__ = ["build_cv_results", "default_best_index", "finish", "refit_best"]


def build_cv_results(records: Sequence[Any], checkpoints: Mapping[int, Any],
                     scorers: Mapping[str, Any], n_splits: int, n_grids: int,
                     train: bool, multimetric: bool) -> tuple[dict[str, Any], int, int]:
    """Columns of ``cv_results_``, the number of failed fits (numeric ``error_score``) and
    the number of fits whose outcome came back (failed or not).

    Every job that ended (``ok``, ``failed``, ``stopped``, ``interrupted``) is a row: what was
    recorded is what happened. A job whose split scores did not come back (it failed with
    ``error_score="raise"``, was stopped or interrupted) has NaN scores (``search_.results()``
    keeps any value its objective returned).
    """
    from scipy.stats import rankdata
    from sklearn.model_selection._search import _yield_masked_array_for_each_param

    entries: dict[int, dict[str, Any]] = {}
    for item in checkpoints.values():
        ckpt = item[1] if isinstance(item, tuple) else item
        if isinstance(ckpt, dict):
            for e in ckpt.get("history", ()):
                entries[int(e["job_id"])] = e
    rows = [r for r in records if r.status not in (JobStatus.RUNNING, JobStatus.RETRYING)]
    names = list(scorers)
    nan_splits = [np.nan] * n_splits
    cols: dict[str, list[Any]] = {"iter": [], "n_resources": [], "trial_id": [], "status": [],
                                  "error": [], "params": []}
    fit_t: list[list[float]] = []
    score_t: list[list[float]] = []
    test: dict[str, list[list[float]]] = {k: [] for k in names}
    tr: dict[str, list[list[float]]] = {k: [] for k in names}
    n_failed = n_done = 0
    for rec in rows:
        e = entries.get(rec.job_id)
        cols["iter"].append(int(rec.rung))
        res = float(rec.resource)
        cols["n_resources"].append(int(res) if res.is_integer() else res)
        cols["trial_id"].append(int(rec.trial_id))
        cols["status"].append(str(rec.status))
        cols["params"].append(to_params(rec.config, n_grids))
        if e is None:
            cols["error"].append(rec.error or "")
            fit_t.append(list(nan_splits))
            score_t.append(list(nan_splits))
            for k in names:
                test[k].append(list(nan_splits))
                tr[k].append(list(nan_splits))
            continue
        n_done += n_splits
        if e["error"]:
            n_failed += n_splits
        cols["error"].append(e["error"] or rec.error or "")
        fit_t.append(list(e["fit_time"]))
        score_t.append(list(e["score_time"]))
        for k in names:
            test[k].append(list(e["test"][k]))
            tr[k].append(list(e["train"][k]) if e["train"] is not None else list(nan_splits))

    out: dict[str, Any] = {}
    n = len(rows)
    for key in ("iter", "n_resources", "trial_id"):
        out[key] = np.asarray(cols[key]) if n else np.zeros(0, dtype=int)
    out["status"] = np.asarray(cols["status"], dtype=object)
    out["error"] = np.asarray(cols["error"], dtype=object)

    def store(key: str, values: list[list[float]], splits: bool, rank: bool) -> None:
        arr = np.asarray(values, dtype=np.float64).reshape(n, n_splits)
        if splits:
            for k in range(n_splits):
                out[f"split{k}_{key}"] = arr[:, k]
        means = arr.mean(axis=1) if n else np.zeros(0)
        out[f"mean_{key}"] = means
        out[f"std_{key}"] = (np.sqrt(((arr - means[:, None]) ** 2).mean(axis=1)) if n
                             else np.zeros(0))
        if rank:
            if n == 0 or np.isnan(means).all():
                out[f"rank_{key}"] = np.ones(n, dtype=np.int32)
            else:  # scikit-learn's rule: NaN ties with the worst
                filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
                out[f"rank_{key}"] = rankdata(-filled, method="min").astype(np.int32)

    store("fit_time", fit_t, False, False)
    store("score_time", score_t, False, False)
    for key, ma in _yield_masked_array_for_each_param(cols["params"]):
        out[key] = ma
    params = np.empty(n, dtype=object)
    params[:] = cols["params"]
    out["params"] = list(params)
    for k in names:
        label = k if multimetric else "score"
        store(f"test_{label}", test[k], True, True)
        if train:
            store(f"train_{label}", tr[k], True, False)
    return out, n_failed, n_done


def default_best_index(results: Mapping[str, Any], key: str) -> int:
    """The best row at the highest resource with a finite score (ASHA's incumbent; the
    analogue of ``HalvingRandomSearchCV``'s best of the last iteration). Ties: the first."""
    means = np.asarray(results[key], dtype=float)
    res = np.asarray(results["n_resources"], dtype=float)
    finite = np.isfinite(means)
    if not finite.any():
        return 0
    top = res[finite].max()
    idx = np.flatnonzero(finite & (res == top))
    return int(idx[np.argmax(means[idx])])


def finish(search_cv: Any, search: Any, state: dict[str, Any]) -> None:
    """Set ``search_cv``'s fitted attributes from its ended ``search`` (and refit)."""
    from sklearn.exceptions import FitFailedWarning

    objective: CVObjective = state["objective"]
    records = search.records()
    if search_cv.error_score == "raise":
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
    # the last checkpoint of every trial carries its jobs' split scores back from every executor
    results, n_failed, n_done = build_cv_results(
        records, search.checkpoints(), state["scorers"], state["n_splits"],
        state["n_grids"], bool(search_cv.return_train_score), state["multimetric"])
    if not len(results["params"]):
        raise SearchStateError("the search ended before any job ran; nothing to report")
    _set_rungs(search_cv, search, results, state)
    if n_failed:
        n_fits = len(results["params"]) * state["n_splits"]
        first = next(e for e in results["error"] if e)
        if n_failed == n_done:  # scikit-learn's rule: no candidate to choose from
            search_cv.cv_results_ = results  # what ran stays readable (its "error" column)
            raise ValueError(
                f"\nAll the {n_failed} fits failed.\nIt is very likely that your model is "
                "misconfigured.\nYou can try to debug the error by setting "
                f"error_score='raise'.\n\nThe first failure:\n{first}")
        warnings.warn(
            f"\n{n_failed} fits failed out of a total of {n_fits}.\nThe score on these "
            f"train-test partitions for these parameters will be set to "
            f"{search_cv.error_score}.\nThe first failure:\n{first}", FitFailedWarning,
            stacklevel=3)
    rank = state["rank_metric"]
    search_cv.multimetric_ = state["multimetric"]
    search_cv.scorer_ = state["scorers"] if search_cv.multimetric_ else state["scorers"]["score"]
    search_cv.n_splits_ = state["n_splits"]
    search_cv.cv_results_ = results
    refit = search_cv.refit
    if refit is not False or not search_cv.multimetric_:
        if callable(refit):
            best = refit(results)
            if not isinstance(best, numbers.Integral) or isinstance(best, bool):
                raise TypeError("best_index_ returned is not an integer")
            if not 0 <= int(best) < len(results["params"]):
                raise IndexError("best_index_ index out of range")
        else:
            best = default_best_index(results, f"mean_test_{rank}")
            search_cv.best_score_ = float(results[f"mean_test_{rank}"][best])
        search_cv.best_index_ = int(best)
        search_cv.best_params_ = results["params"][search_cv.best_index_]
    if refit is not False:
        refit_best(search_cv, state)
    if search_cv.verbose > 0:
        print(_summary(search_cv, f"mean_test_{rank}" if search_cv.multimetric_
                       else "mean_test_score"))


def _set_rungs(search_cv: Any, search: Any, results: Mapping[str, Any],
               state: Mapping[str, Any]) -> None:
    """The rung attributes (``n_resources_``, ``n_candidates_``, ...) of an ended search."""
    rungs = list(search.scheduler.rung_resources[0])
    ran = sorted(set(int(r) for r in results["iter"]))
    factor = int(state["factor"])
    search_cv.n_resources_ = [_plain_number(rungs[i]) for i in ran]
    search_cv.n_candidates_ = [int(np.sum(results["iter"] == i)) for i in ran]
    search_cv.n_iterations_ = len(ran)
    search_cv.n_possible_iterations_ = len(rungs)
    search_cv.n_required_iterations_ = 1 + _floor_log(int(state["n_candidates"]), factor)
    search_cv.n_remaining_candidates_ = -(-search_cv.n_candidates_[-1] // factor)
    search_cv.min_resources_ = state["min_resources"]
    search_cv.max_resources_ = state["max_resources"]


def _summary(search_cv: Any, key: str) -> str:
    """What ``verbose`` prints when the search ends (``key``: the column it ranks on)."""
    lines = [f"iter: {i}, n_resources: {r}, n_candidates: {c}" for i, (r, c) in
             enumerate(zip(search_cv.n_resources_, search_cv.n_candidates_))]
    if "best_index_" in vars(search_cv):
        best = search_cv.best_index_
        lines.append(f"best (row {best}): {search_cv.best_params_}, {key} "
                     f"{search_cv.cv_results_[key][best]:.6g}")
    return "\n".join(lines)


def refit_best(search_cv: Any, state: dict[str, Any]) -> None:
    """Fit a clone with ``best_params_`` on all the data at the top resource: set
    ``best_estimator_`` and ``refit_time_``."""
    from sklearn.base import clone

    X, y, fit_params = state["X"], state["y"], state["fit_params"]
    est = clone(search_cv.estimator).set_params(**clone(search_cv.best_params_, safe=False))
    resource = search_cv.resource
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
    search_cv.refit_time_ = time.perf_counter() - t0
    search_cv.best_estimator_ = est
    if hasattr(est, "feature_names_in_"):
        search_cv.feature_names_in_ = est.feature_names_in_


def _plain_number(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else f
