"""ASHASearchCV used as a user of scikit-learn's GridSearchCV / RandomizedSearchCV /
HalvingRandomSearchCV expects: what they accept, what they set, how they fail."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_iris
from sklearn.exceptions import FitFailedWarning, UnsetMetadataPassedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    HalvingRandomSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from asha_nb.errors import InvalidParameterError, InvalidTypeError
from asha_nb.sklearn import ASHASearchCV

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
TREE = DecisionTreeClassifier(random_state=0)
LEAVES = {"min_samples_leaf": [1, 2, 5, 10]}
QUICK = dict(resource="max_depth", min_resources=1, max_resources=4, factor=2,
             n_candidates=4, cv=3, random_state=0)  # max_depth as the resource: fast fits


class Picky(ClassifierMixin, BaseEstimator):
    """Fails to fit when ``c > 1``; records the rows and sample weights of its last fit."""

    def __init__(self, c=0.5):
        self.c = c

    def fit(self, X, y, sample_weight=None):
        if self.c > 1:
            raise RuntimeError("picky: c > 1 cannot be fitted")
        self.classes_ = np.unique(y)
        self.n_rows_ = len(X)
        self.sample_weight_ = sample_weight
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return 1.0 - float(self.c)


def test_all_fits_failing_raise_a_value_error_as_in_scikit_learn():
    # before: refit=True raised the candidate's own error from the refit, refit=False returned
    # a failed candidate as best_params_ with a NaN best_score_
    for refit in (True, False):
        cv = ASHASearchCV(Picky(), {"c": [2.0, 3.0]}, n_candidates=2, cv=3, refit=refit,
                          random_state=0)
        with pytest.raises(ValueError, match=r"All the \d+ fits failed") as info:
            cv.fit(X_IRIS, Y_IRIS)
        assert "picky: c > 1" in str(info.value) and "error_score='raise'" in str(info.value)
        assert "best_params_" not in vars(cv) and "best_estimator_" not in vars(cv)
        r = cv.cv_results_  # what ran stays readable
        assert all("picky: c > 1" in e for e in r["error"])
        assert np.isnan(r["mean_test_score"]).all()


def test_some_fits_failing_still_leave_the_search_with_a_result():
    with pytest.warns(FitFailedWarning, match="fits failed"):
        cv = ASHASearchCV(Picky(), {"c": [0.5, 2.0]}, n_candidates=2, cv=3,
                          random_state=0).fit(X_IRIS, Y_IRIS)
    assert cv.best_params_ == {"c": 0.5} and cv.best_score_ == 0.5


def test_scoring_must_return_numbers_and_a_dict_returning_callable_is_refused_clearly():
    def two(est, X, y):
        return {"acc": est.score(X, y), "neg": -est.score(X, y)}

    # scikit-learn's multi-metric callable: refused up front when refit names one of its keys
    with pytest.raises(InvalidParameterError, match="scoring as a dict"):
        ASHASearchCV(TREE, LEAVES, scoring=two, refit="acc").fit(X_IRIS, Y_IRIS)
    # ... and, when it is only found out by calling it, every fit says why (before: "float()
    # argument must be a string or a real number, not 'dict'")
    with pytest.raises(ValueError, match="All the") as info:
        ASHASearchCV(TREE, LEAVES, scoring=two, **QUICK).fit(X_IRIS, Y_IRIS)
    assert "returned a dict ['acc', 'neg']" in str(info.value)
    with pytest.raises(InvalidTypeError, match="scoring must return a number, got 'high'"):
        ASHASearchCV(TREE, LEAVES, scoring=lambda e, X, y: "high",
                     error_score="raise", **QUICK).fit(X_IRIS, Y_IRIS)
    arr = ASHASearchCV(TREE, LEAVES, scoring=lambda e, X, y: np.array([e.score(X, y)]),
                       **QUICK).fit(X_IRIS, Y_IRIS)  # a one-element array is a number
    assert np.isfinite(arr.cv_results_["mean_test_score"]).all()


def test_negative_n_jobs_follows_joblib():
    cv = ASHASearchCV(TREE, LEAVES, n_jobs=-2, **QUICK).fit(X_IRIS, Y_IRIS)
    assert cv.search_.n_workers == max(1, (os.cpu_count() or 1) - 1)
    with pytest.raises(InvalidParameterError, match="n_jobs must be .* got 0"):
        ASHASearchCV(TREE, LEAVES, n_jobs=0, **QUICK).fit(X_IRIS, Y_IRIS)


def test_halving_arguments_verbose_and_aggressive_elimination(capsys):
    cv = ASHASearchCV(TREE, LEAVES, verbose=1, aggressive_elimination=False, **QUICK)
    assert {"verbose", "aggressive_elimination"} <= set(cv.get_params())
    assert clone(cv).verbose == 1
    cv.fit(X_IRIS, Y_IRIS)
    out = capsys.readouterr().out
    assert "rungs (n_resources): [1, 2, 4]" in out and "4 candidates, 3 folds" in out
    assert "iter: 0, n_resources: 1, n_candidates: 4" in out
    assert f"best (row {cv.best_index_})" in out
    ASHASearchCV(TREE, LEAVES, **QUICK).fit(X_IRIS, Y_IRIS)
    assert capsys.readouterr().out == ""  # verbose=0 prints nothing
    with pytest.raises(InvalidParameterError, match="aggressive_elimination must be False"):
        ASHASearchCV(TREE, LEAVES, aggressive_elimination=True, **QUICK).fit(X_IRIS, Y_IRIS)
    with pytest.raises(InvalidParameterError, match="verbose must be an integer >= 0"):
        ASHASearchCV(TREE, LEAVES, verbose=-1, **QUICK).fit(X_IRIS, Y_IRIS)


def test_halving_rung_attributes():
    kw = dict(n_candidates=9, factor=3, min_resources=15, cv=3, random_state=0)
    dists = {"max_depth": stats.randint(1, 10)}
    asha = ASHASearchCV(TREE, dists, **kw).fit(X_IRIS, Y_IRIS)
    halving = HalvingRandomSearchCV(TREE, dists, **kw).fit(X_IRIS, Y_IRIS)
    assert asha.n_required_iterations_ == halving.n_required_iterations_ == 3
    assert asha.n_possible_iterations_ == halving.n_possible_iterations_
    assert asha.n_remaining_candidates_ == math.ceil(asha.n_candidates_[-1] / 3)


def test_factor_as_an_integral_float_like_the_schedulers():
    cv = ASHASearchCV(TREE, LEAVES, **{**QUICK, "factor": 2.0}).fit(X_IRIS, Y_IRIS)
    assert cv.n_resources_ == [1, 2, 4]
    with pytest.raises(InvalidParameterError, match="factor must be an integer >= 2.*2.5"):
        ASHASearchCV(TREE, LEAVES, **{**QUICK, "factor": 2.5}).fit(X_IRIS, Y_IRIS)


def test_unknown_parameter_names_are_refused_before_the_search_runs():
    for dists in ({"Cx": [1.0, 2.0]}, [{"C": [1.0]}, {"clf__C": [1.0]}]):
        cv = ASHASearchCV(LogisticRegression(), dists, random_state=0)
        with pytest.raises(InvalidParameterError, match=r"param_distributions .*\['(Cx|clf__C)'\]"):
            cv.fit(X_IRIS, Y_IRIS)
        assert not hasattr(cv, "search_")  # refused before any fit
    # a step replaced by the search and a parameter of the replacement are fine
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    cv = ASHASearchCV(pipe, {"clf": [DecisionTreeClassifier(random_state=0)],
                             "clf__max_depth": [1, 2, 3]}, n_candidates=3, cv=3,
                      random_state=0).fit(X_IRIS, Y_IRIS)
    assert isinstance(cv.best_estimator_.named_steps["clf"], DecisionTreeClassifier)


def test_a_classifier_needs_two_classes():
    with pytest.raises(InvalidParameterError, match=r"y must hold at least 2 classes .*\[0\]"):
        ASHASearchCV(LogisticRegression(), {"C": [1.0]}).fit(X_IRIS, np.zeros(150, dtype=int))


def test_a_new_fit_keeps_nothing_of_the_previous_one():
    cv = ASHASearchCV(TREE, LEAVES, **QUICK)
    cv.fit(pd.DataFrame(X_IRIS, columns=list("abcd")), Y_IRIS)
    assert list(cv.feature_names_in_) == list("abcd")
    cv.fit(X_IRIS, Y_IRIS)
    assert not hasattr(cv, "feature_names_in_")  # before: the names of the first fit's data
    with pytest.raises(ValueError, match="All the"):
        cv.set_params(estimator=Picky(), param_distributions={"c": [2.0, 3.0, 4.0, 5.0]},
                      resource="n_samples", min_resources="smallest",
                      max_resources="auto").fit(X_IRIS, Y_IRIS)
    assert "n_iterations_" in vars(cv) and "multimetric_" not in vars(cv)
    assert "refit_time_" not in vars(cv) and "best_index_" not in vars(cv)


def test_groups_splits_and_fit_params_reach_the_fits():
    weights = np.linspace(0.1, 1.0, 150)
    cv = ASHASearchCV(Picky(), {"c": [0.1, 0.2]}, cv=GroupKFold(5), n_candidates=2,
                      min_resources=30, max_resources=150, factor=2, random_state=0)
    with pytest.raises(ValueError, match="groups"):
        cv.fit(X_IRIS, Y_IRIS)
    cv.fit(X_IRIS, Y_IRIS, groups=np.repeat(np.arange(10), 15), sample_weight=weights)
    assert cv.n_splits_ == 5
    np.testing.assert_array_equal(cv.best_estimator_.sample_weight_, weights)
    splits = list(StratifiedKFold(3).split(X_IRIS, Y_IRIS))
    assert ASHASearchCV(TREE, LEAVES, **{**QUICK, "cv": splits}).fit(
        X_IRIS, Y_IRIS).n_splits_ == 3


@pytest.mark.parametrize("scoring", [None, ["accuracy", "balanced_accuracy"]])
def test_sample_weight_weighs_the_scores_as_in_grid_search(scoring):
    # scikit-learn >= 1.7 passes fit's sample_weight to the scorers that take it (before: the
    # weights reached the fits only, and every score was unweighted)
    weights = np.where(Y_IRIS == 2, 5.0, 0.2)
    kw = {} if scoring is None else {"refit": "accuracy"}
    key = "score" if scoring is None else "accuracy"
    grid = GridSearchCV(LogisticRegression(max_iter=2), {"C": [0.01]}, scoring=scoring,
                        **kw).fit(X_IRIS, Y_IRIS, sample_weight=weights)
    if not hasattr(grid, "_check_scorers_accept_sample_weight"):
        pytest.skip("this scikit-learn gives sample_weight to the fits only")
    cv = ASHASearchCV(LogisticRegression(), {"C": [0.01]}, scoring=scoring, resource="max_iter",
                      min_resources=2, max_resources=8, factor=2, n_candidates=1,
                      random_state=0, **kw).fit(X_IRIS, Y_IRIS, sample_weight=weights)
    first = cv.cv_results_["n_resources"] == 2  # max_iter=2 on whole folds, as the grid's
    assert first.sum() == 1
    for k in range(5):
        col = f"split{k}_test_{key}"
        np.testing.assert_allclose(cv.cv_results_[col][first], grid.cv_results_[col])


def test_metadata_routing_is_followed_when_enabled():
    weights = np.where(Y_IRIS == 2, 5.0, 0.2)
    kw = dict(resource="max_iter", min_resources=2, max_resources=8, factor=2, n_candidates=1,
              random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            ASHASearchCV(LogisticRegression(), {"C": [0.01]}, **kw).fit(
                X_IRIS, Y_IRIS, sample_weight=weights)  # as GridSearchCV: not requested
        est = LogisticRegression().set_fit_request(sample_weight=True)
        fitted = ASHASearchCV(est.set_score_request(sample_weight=False), {"C": [0.01]},
                              **kw).fit(X_IRIS, Y_IRIS, sample_weight=weights)
        weighted = ASHASearchCV(clone(est).set_score_request(sample_weight=True),
                                {"C": [0.01]}, **kw).fit(X_IRIS, Y_IRIS, sample_weight=weights)
    unweighted = fitted.cv_results_["mean_test_score"][-1]
    assert unweighted != weighted.cv_results_["mean_test_score"][-1]


@pytest.mark.parametrize("dists", [
    {"max_depth": [1, 2, 3], "criterion": ["gini", "entropy"]},
    [{"max_depth": [1, 2]}, {"min_samples_leaf": [1, 5, 10], "criterion": "gini"}],
])
def test_a_grid_of_lists_is_sampled_without_replacement_like_parameter_sampler(dists):
    # before: candidates were drawn with replacement (the same combination fitted twice)
    kw = dict(factor=2, min_resources=20, random_state=0)
    size = 6 if isinstance(dists, dict) else 5
    cv = ASHASearchCV(TREE, dists, n_candidates=size, **kw).fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    first = [tuple(sorted(p.items())) for p, it in zip(r["params"], r["iter"]) if it == 0]
    assert len(first) == len(set(first)) == size  # every combination once
    with pytest.warns(UserWarning, match=f"total space of parameters {size} is smaller than"):
        capped = ASHASearchCV(TREE, dists, n_candidates=size + 4, **kw).fit(X_IRIS, Y_IRIS)
    assert capped.n_candidates_[0] == size
    again = ASHASearchCV(TREE, dists, n_candidates=size, **kw).fit(X_IRIS, Y_IRIS)
    assert again.cv_results_["params"] == r["params"]  # the same seed, the same candidates


def test_the_setup_checks_sample_no_distribution():
    class Sequence:  # the benchmark's way to give every search the same candidates
        def __init__(self, values):
            self.values, self.i = values, 0

        def rvs(self, random_state=None):
            self.i += 1
            return self.values[(self.i - 1) % len(self.values)]

    leaves = Sequence([1, 2, 3, 4, 5, 6])
    cv = ASHASearchCV(TREE, {"min_samples_leaf": leaves}, **{**QUICK, "n_candidates": 6})
    cv.fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    first = {int(t): p["min_samples_leaf"] for t, p, it in zip(r["trial_id"], r["params"],
                                                                 r["iter"]) if it == 0}
    assert leaves.i == 6 and sorted(first.values()) == [1, 2, 3, 4, 5, 6]
