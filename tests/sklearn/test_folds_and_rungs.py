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
                      error_score="raise", refit=False, random_state=0).fit(X_IRIS, Y_IRIS)
    assert list(cv.cv_results_["status"]) == ["ok"]
