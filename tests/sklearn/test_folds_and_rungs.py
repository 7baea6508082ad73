"""ASHASearchCV: rungs as scikit-learn's halving places them, ``min_resources="exhaust"``,
and a job's folds spread over the workers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits, load_iris
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import HalvingRandomSearchCV

from asha_nb.errors import InvalidParameterError
from asha_nb.sklearn import ASHASearchCV

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.mark.parametrize(("data", "n"), [("iris", 6), ("digits", 27)])
def test_default_rungs_are_those_of_halving_random_search(data, n):
    X, y = (X_IRIS, Y_IRIS) if data == "iris" else load_digits(return_X_y=True)
    dists = {"alpha": stats.loguniform(1e-5, 1e-1)}
    ours = ASHASearchCV(SGDClassifier(random_state=0), dists, n_candidates=n,
                        random_state=0).fit(X, y)
    theirs = HalvingRandomSearchCV(SGDClassifier(random_state=0), dists, n_candidates=n,
                                   random_state=0).fit(X, y)
    # iris: 30, 90 (not 30, 150); digits: 100, 300, 900 (not 100, 300, 1797)
    assert ours.n_resources_ == theirs.n_resources_
    assert ours.max_resources_ == theirs.max_resources_ == len(X)
    assert ours.best_estimator_.n_features_in_ == X.shape[1]


def test_an_explicit_max_resources_is_the_top_rung():
    cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": stats.loguniform(1e-5, 1e-1)},
                      min_resources=30, max_resources=150, n_candidates=9,
                      random_state=0).fit(X_IRIS, Y_IRIS)
    assert cv.search_.scheduler.rung_resources[0] == [30, 150]


def test_min_resources_exhaust_starts_as_high_as_the_candidates_allow():
    kw = dict(resource="max_iter", max_resources=100, factor=3, random_state=0)
    dists = {"alpha": stats.loguniform(1e-5, 1e-1)}
    cv = ASHASearchCV(SGDClassifier(random_state=0), dists, min_resources="exhaust",
                      n_candidates=9, **kw).fit(X_IRIS, Y_IRIS)
    # 9 candidates need 3 rungs (9, 3, 1): 100 // 3**2 = 11, then 33 and the top, 100
    assert cv.min_resources_ == 11
    assert cv.search_.scheduler.rung_resources[0] == [11, 33, 100]
    theirs = HalvingRandomSearchCV(SGDClassifier(random_state=0), dists,
                                   min_resources="exhaust", n_candidates=9,
                                   **kw).fit(X_IRIS, Y_IRIS)
    assert theirs.min_resources_ == cv.min_resources_
    few = ASHASearchCV(SGDClassifier(random_state=0), dists, min_resources="exhaust",
                       n_candidates=2, **kw).fit(X_IRIS, Y_IRIS)
    assert few.min_resources_ == 33  # at least two rungs
    samples = ASHASearchCV(SGDClassifier(random_state=0), dists, min_resources="exhaust",
                           n_candidates=5, random_state=0).fit(X_IRIS, Y_IRIS)
    assert samples.min_resources_ == 50 and samples.n_resources_[-1] == 150
    with pytest.raises(InvalidParameterError, match="both 'exhaust'"):
        ASHASearchCV(SGDClassifier(), dists, min_resources="exhaust",
                     n_candidates="exhaust").fit(X_IRIS, Y_IRIS)


BARRIERS: dict[str, threading.Barrier] = {}


class Together(ClassifierMixin, BaseEstimator):
    """Its fit returns only once ``parties`` fits of the same ``key`` run at the same time."""

    def __init__(self, key="", a=0.0):
        self.key = key
        self.a = a

    def fit(self, X, y):
        BARRIERS[self.key].wait()  # BrokenBarrierError after its timeout if they never meet
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return float(self.a)


def test_a_lone_job_spreads_its_folds_over_the_free_workers():
    # One candidate, so one job at a time: its 4 folds meet two by two only if the second
    # worker fits folds of the first one's job (folds one after the other never meet).
    BARRIERS["pairs"] = threading.Barrier(2, timeout=20)
    cv = ASHASearchCV(Together(key="pairs"), {"a": [1.0]}, resource="n_samples",
                      min_resources=40, max_resources=120, n_candidates=1, cv=4, n_jobs=2,
                      executor="thread",
                      error_score="raise", refit=False, random_state=0).fit(X_IRIS, Y_IRIS)
    assert list(cv.cv_results_["status"]) == ["ok"]


class Epochs(ClassifierMixin, BaseEstimator):
    """Counts its partial_fit calls, its own and those of every instance (CALLS)."""

    CALLS = [0]

    def __init__(self, a=0.0):
        self.a = a

    def partial_fit(self, X, y, classes=None):
        Epochs.CALLS[0] += 1
        self.epochs_ = getattr(self, "epochs_", 0) + 1
        self.classes_ = classes
        return self

    def fit(self, X, y):
        return self.partial_fit(X, y, np.unique(y))

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return float(self.a)


def test_partial_fit_promotion_trains_only_the_extra_epochs():
    Epochs.CALLS[0] = 0
    cv = ASHASearchCV(Epochs(), {"a": stats.uniform(0, 1)}, resource="partial_fit",
                      min_resources=1, max_resources=9, n_candidates=9, cv=3, refit=False,
                      scoring={"a": lambda e, X, y: float(e.a),
                               "epochs": lambda e, X, y: float(e.epochs_)},
                      n_jobs=1, random_state=0).fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    assert (r["mean_test_epochs"] == r["n_resources"]).all()
    previous = {0: 0, 1: 1, 2: 3}  # the rung below's resource: what a promotion continues
    extra = sum(res - previous[int(rung)] for res, rung in zip(r["n_resources"], r["iter"]))
    assert Epochs.CALLS[0] == 3 * extra  # 3 folds; refitting promoted ones would cost more
    assert (r["iter"] > 0).any()


class WarmCounter(ClassifierMixin, BaseEstimator):
    """warm_start estimator whose fit records the max_iter of every call."""

    def __init__(self, a=0.0, max_iter=1, warm_start=False):
        self.a = a
        self.max_iter = max_iter
        self.warm_start = warm_start

    def fit(self, X, y):
        self.calls_ = [*getattr(self, "calls_", []), self.max_iter] if self.warm_start \
            else [self.max_iter]
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return float(self.a)


def test_process_folds_continue_promoted_candidates_and_keep_the_candidates():
    kw = dict(resource="max_iter", min_resources=2, max_resources=18, n_candidates=9,
              random_state=0, n_jobs=2,
              scoring={"a": lambda e, X, y: float(e.a),
                       "calls": lambda e, X, y: float(len(e.calls_)),
                       "trained": lambda e, X, y: float(sum(e.calls_))}, refit="a")
    procs = ASHASearchCV(WarmCounter(), {"a": stats.uniform(0, 1)}, executor="process",
                         **kw).fit(X_IRIS, Y_IRIS)
    threads = ASHASearchCV(WarmCounter(), {"a": stats.uniform(0, 1)}, executor="thread",
                           **kw).fit(X_IRIS, Y_IRIS)
    r = procs.cv_results_
    assert set(r["n_resources"]) == {2, 6, 18}
    # the fitted fold estimators went to a worker process and back: one fit call per rung
    assert (r["mean_test_calls"] == r["iter"] + 1).all()
    assert (r["mean_test_trained"] == r["n_resources"]).all()
    # the jobs ran on threads; their folds in worker processes
    assert type(procs.search_.executor).__name__ == "ThreadExecutor"
    ours = {int(t): p["a"] for t, p in zip(r["trial_id"], r["params"])}
    theirs = {int(t): p["a"] for t, p in zip(threads.cv_results_["trial_id"],
                                             threads.cv_results_["params"])}
    assert ours == theirs
    assert procs.best_estimator_.max_iter == 18


def test_process_folds_raise_the_original_error():
    with pytest.raises(ValueError, match="'alpha' parameter"):  # scikit-learn's own error
        ASHASearchCV(SGDClassifier(), {"alpha": [-1.0, -2.0]}, resource="max_iter", min_resources=1,
                     max_resources=3, n_candidates=2, n_jobs=2, executor="process",
                     error_score="raise").fit(X_IRIS, Y_IRIS)


def test_by_default_jobs_and_folds_run_in_this_process():
    import os

    cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": stats.loguniform(1e-5, 1e-1)},
                      resource="max_iter", min_resources=1, max_resources=3, n_candidates=3,
                      n_jobs=2, cv=3, refit="a", random_state=0,
                      scoring={"a": "accuracy", "pid": lambda e, X, y: float(os.getpid())})
    assert cv.executor == "thread"
    cv.fit(X_IRIS, Y_IRIS)
    assert set(cv.cv_results_["mean_test_pid"]) == {float(os.getpid())}
    assert type(cv.search_.executor).__name__ == "ThreadExecutor"


def test_process_executor_fits_folds_in_worker_processes_and_jobs_on_threads():
    import os

    cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": stats.loguniform(1e-5, 1e-1)},
                      resource="max_iter", min_resources=1, max_resources=3, n_candidates=3,
                      n_jobs=2, cv=3, refit="a", random_state=0, executor="process",
                      scoring={"a": "accuracy", "pid": lambda e, X, y: float(os.getpid())})
    cv.fit(X_IRIS, Y_IRIS)
    pids = {cv.cv_results_[f"split{k}_test_pid"][i] for k in range(3)
            for i in range(len(cv.cv_results_["params"]))}
    assert os.getpid() not in pids and len(pids) <= 2
    assert type(cv.search_.executor).__name__ == "ThreadExecutor"
    serial = clone_with(cv, n_jobs=1).fit(X_IRIS, Y_IRIS)  # one worker: no pool to wait for
    assert set(serial.cv_results_["mean_test_pid"]) == {float(os.getpid())}


def clone_with(est, **params):
    from sklearn.base import clone

    return clone(est).set_params(**params)
