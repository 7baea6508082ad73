"""ASHASearchCV against scikit-learn's searches (a script, not a test):
``python benchmarks/bench_sklearn.py [--quick] [--rounds N] [--case sgd|hgb|hgb2]``.

Two workers each, on the same candidates: ``ASHASearchCV(n_jobs=2)`` (``executor="thread"``, the
default: jobs and folds on threads; ``executor="process"``: jobs on threads, folds on two
worker processes), ``HalvingRandomSearchCV(n_jobs=2)`` and ``RandomizedSearchCV(n_jobs=2)``.

1. ``SGDClassifier`` with ``resource="n_samples"`` on the digits data (1,797 rows).
2. ``HistGradientBoostingClassifier`` with ``resource="max_iter"`` (10 to 90, factor 3) on a
   synthetic data set (``make_classification``, 12,000 rows; early stopping off, so
   ``max_iter`` is the work).
3. The same with ``factor=2`` (10 to 80: four rungs, 16 candidates, larger trees): the case
   where ASHA's continuation of a promoted candidate (``warm_start``: rung k costs
   ``r_k - r_(k-1)`` iterations, where the halving refits ``r_k``) saves the most.

The same candidates: every parameter is a "sequence distribution" whose ``rvs`` returns the
next value of a list drawn once with a fixed seed, so the k-th candidate each search samples is
the same for all of them. Each search runs on a 75 % training split (5-fold CV inside); the
best estimator's accuracy is measured on the held-out 25 %. Every search runs with one
OpenMP/BLAS thread per worker and in the calling process (where the refit runs). Busy share =
the fit and score time of all splits in ``cv_results_`` / (2 workers x wall time), the same
formula for every search. CPU s = the CPU time of this process and its worker processes during
the search (the work done, which other jobs on the machine disturb less than the wall time).
Rounds alternate the order of the searches; the table shows medians, and the ratio of each
search's wall time (and CPU time) to ``HalvingRandomSearchCV``'s in the same round (median).
The goal: the same or better test score in <= 0.7x ``HalvingRandomSearchCV``'s wall time.
joblib's process pool and ASHASearchCV's fold processes are started before the first timed
search (both are reused between searches).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from typing import Any

import numpy as np


class Sequence:
    """A "distribution" whose ``rvs`` returns the next value of a fixed list."""

    def __init__(self, values: list[Any]):
        self.values = list(values)
        self.i = 0

    def rvs(self, random_state: Any = None) -> Any:
        value = self.values[self.i % len(self.values)]
        self.i += 1
        return value


def candidates(kind: str, n: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(0)
    if kind == "sgd":
        return {"alpha": list(10 ** rng.uniform(-6, -1, n)),
                "loss": list(rng.choice(["hinge", "log_loss", "modified_huber"], n)),
                "eta0": list(10 ** rng.uniform(-4, 0, n)),
                "learning_rate": list(rng.choice(["optimal", "invscaling", "adaptive"], n))}
    leaves = (8, 64) if kind == "hgb" else (32, 128)
    return {"learning_rate": list(10 ** rng.uniform(-2, -0.5, n)),
            "max_leaf_nodes": [int(v) for v in rng.integers(*leaves, n)],
            "l2_regularization": list(10 ** rng.uniform(-4, 0, n)),
            "min_samples_leaf": [int(v) for v in rng.integers(5, 50, n)]}


def dists(kind: str, n: int) -> dict[str, Sequence]:
    return {k: Sequence(v) for k, v in candidates(kind, n).items()}


def case(kind: str, quick: bool) -> dict[str, Any]:
    factor = 3
    from sklearn.datasets import load_digits, make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split

    if kind == "sgd":
        X, y = load_digits(return_X_y=True)
        est = SGDClassifier(random_state=0)
        n = 27 if quick else 81
        res = {"resource": "n_samples"}
        label = f"SGDClassifier / n_samples, digits ({len(X)} rows), {n} candidates"
    else:
        X, y = make_classification(4000 if quick else 12000, n_features=20, n_informative=10,
                                   random_state=0)
        est = HistGradientBoostingClassifier(early_stopping=False, random_state=0)
        if kind == "hgb":
            n, max_r = (9 if quick else 27), 90
        else:
            n, max_r, factor = (8 if quick else 16), 80, 2
        res = {"resource": "max_iter", "min_resources": 10, "max_resources": max_r}
        label = (f"HistGradientBoosting / max_iter 10..{max_r}, factor {factor}, synthetic "
                 f"({len(X)} rows), {n} candidates")
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    return {"kind": kind, "X": Xtr, "y": ytr, "Xte": Xte, "yte": yte, "est": est, "n": n,
            "res": res, "label": label, "factor": factor}


def make_search(name: str, c: dict[str, Any]) -> Any:
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV

    from asha_nb.sklearn import ASHASearchCV

    d = dists(c["kind"], c["n"])
    res = c["res"]
    if name.startswith("ASHASearchCV"):
        executor = "process" if "process" in name else "thread"
        return ASHASearchCV(c["est"], d, n_candidates=c["n"], factor=c["factor"], n_jobs=2, cv=5,
                            random_state=0, executor=executor, **res)
    if name == "HalvingRandomSearchCV":
        kw = dict(res)
        return HalvingRandomSearchCV(c["est"], d, n_candidates=c["n"], factor=c["factor"], n_jobs=2,
                                     cv=5, random_state=0, **kw)
    est = c["est"]
    if res["resource"] != "n_samples":
        from sklearn.base import clone

        est = clone(est).set_params(**{res["resource"]: res["max_resources"]})
    return RandomizedSearchCV(est, d, n_iter=c["n"], n_jobs=2, cv=5, random_state=0)


def measure(name: str, c: dict[str, Any]) -> dict[str, float]:
    from threadpoolctl import threadpool_limits

    search = make_search(name, c)
    # One OpenMP/BLAS thread in this process too (the refit runs here): each search's two
    # workers already use one each (joblib's and asha_nb's caps), and with other jobs on the
    # machine a two-thread OpenMP refit can take 10x longer at random (measured: 1.3 to 13 s).
    with threadpool_limits(1):
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        search.fit(c["X"], c["y"])
        wall = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
    r = search.cv_results_
    n_splits = 5
    work = float(np.nansum((np.asarray(r["mean_fit_time"]) + np.asarray(r["mean_score_time"]))
                           * n_splits))
    return {"wall": wall, "cpu": cpu, "refit": float(search.refit_time_),
            "busy": work / (2 * wall),
            "cv": float(search.best_score_),
            "test": float(search.best_estimator_.score(c["Xte"], c["yte"])),
            "fits": len(r["params"]) * n_splits}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its live child processes."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:  # it ended meanwhile
            continue
        total += t.user + t.system
    return total


NAMES = ["ASHASearchCV (threads)", "ASHASearchCV (processes)", "HalvingRandomSearchCV",
         "RandomizedSearchCV"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, one round")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 3; quick 1)")
    p.add_argument("--case", choices=["sgd", "hgb", "hgb2"], action="append",
                   help="run only this case (repeatable; default all)")
    args = p.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    warnings.filterwarnings("ignore")  # convergence warnings of the small rungs
    os.environ["PYTHONWARNINGS"] = "ignore"  # and in worker processes
    from joblib import Parallel, delayed

    from asha_nb.sklearn._folds import process_pool

    Parallel(n_jobs=2)(delayed(abs)(i) for i in range(4))  # start joblib's workers
    [f.result() for f in [process_pool(2).submit(abs, i) for i in range(4)]]  # and ours
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores); rounds: {rounds}")
    for kind in args.case or ("sgd", "hgb", "hgb2"):
        c = case(kind, args.quick)
        rows: dict[str, list[dict[str, float]]] = {n: [] for n in NAMES}
        ratios: dict[str, list[float]] = {n: [] for n in NAMES}
        cpu_ratios: dict[str, list[float]] = {n: [] for n in NAMES}
        for k in range(rounds):
            order = NAMES if k % 2 == 0 else NAMES[::-1]
            this = {name: measure(name, c) for name in order}
            for name in NAMES:
                rows[name].append(this[name])
                ratios[name].append(this[name]["wall"] / this["HalvingRandomSearchCV"]["wall"])
                cpu_ratios[name].append(this[name]["cpu"] / this["HalvingRandomSearchCV"]["cpu"])
        print(f"\n{c['label']}, 2 workers, load average now {os.getloadavg()[0]:.2f}")
        print("| search | wall s | vs Halving | CPU s | vs Halving | of which refit s | busy share "
              "| fits | best CV score | test score |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name in NAMES:
            med = {key: statistics.median(r[key] for r in rows[name]) for key in rows[name][0]}
            print(f"| {name} | {med['wall']:.2f} | {statistics.median(ratios[name]):.2f}x | "
                  f"{med['cpu']:.1f} | {statistics.median(cpu_ratios[name]):.2f}x | "
                  f"{med['refit']:.2f} | {med['busy']:.2f} | {med['fits']:.0f} | {med['cv']:.4f} | "
                  f"{med['test']:.4f} |")
        walls = ", ".join(f"{r:.2f}" for r in ratios[NAMES[1]])
        print(f"(ASHASearchCV processes / Halving wall, each round: {walls})")


if __name__ == "__main__":
    main()
