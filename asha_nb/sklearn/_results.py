"""``cv_results_`` of :class:`~asha_nb.sklearn.ASHASearchCV`: one row per job (candidate and
rung), in scikit-learn's column names, from the search's records and the split scores its jobs
brought back in their trials' checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core import JobStatus
from ._objective import to_params

__all__ = ["build_cv_results", "default_best_index"]


def build_cv_results(records: Sequence[Any], checkpoints: Mapping[int, Any],
                     scorers: Mapping[str, Any], n_splits: int, n_grids: int,
                     train: bool, multimetric: bool) -> tuple[dict[str, Any], int]:
    """Columns of ``cv_results_`` and the number of failed fits (numeric ``error_score``).

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
    n_failed = 0
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
    return out, n_failed


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
