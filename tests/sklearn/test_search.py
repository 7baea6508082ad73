"""ASHASearchCV: resources, results in scikit-learn's columns, and scikit-learn citizenship."""

from __future__ import annotations

import asyncio
import pickle
import threading
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import HalvingRandomSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from asha_nb import space
from asha_nb.errors import InvalidParameterError
from asha_nb.sklearn import ASHASearchCV

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
TIMES = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}


class Probe(ClassifierMixin, BaseEstimator):
    """Records how it was trained: rows seen, classes, iterations per fit call."""

    def __init__(self, a=0.0, max_iter=1, fail=False):
        self.a = a
        self.max_iter = max_iter
        self.fail = fail

    def fit(self, X, y):
        if self.fail:
            raise ValueError("boom: this candidate cannot be fitted")
        self.classes_ = np.unique(y)
        self.n_rows_ = len(X)
        self.class_counts_ = np.bincount(np.asarray(y), minlength=3)
        self.calls_ = [*getattr(self, "calls_", []), self.max_iter] if getattr(
            self, "warm_start", False) else [self.max_iter]
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def score(self, X, y):
        return float(self.a)


class WarmProbe(Probe):
    """Like Probe, with warm_start (a fit continues the previous one)."""

    def __init__(self, a=0.0, max_iter=1, fail=False, warm_start=False):
        super().__init__(a=a, max_iter=max_iter, fail=fail)
        self.warm_start = warm_start


class EpochProbe(Probe):
    """Counts partial_fit calls and the classes it was given."""

    def partial_fit(self, X, y, classes=None):
        if not hasattr(self, "epochs_"):
            self.epochs_ = 0
            self.first_classes_ = classes
            self.classes_ = classes
        self.epochs_ += 1
        return self


def stat(name):
    """A scorer that reports one attribute of the fitted estimator."""
    return lambda est, X, y: float(getattr(est, name))


def test_columns_match_halving_random_search():
    dists = {"alpha": stats.loguniform(1e-5, 1e-1), "loss": ["hinge", "log_loss"]}
    ours = ASHASearchCV(SGDClassifier(random_state=0), dists, n_candidates=6,
                        return_train_score=True, random_state=0).fit(X_IRIS, Y_IRIS)
    theirs = HalvingRandomSearchCV(SGDClassifier(random_state=0), dists, n_candidates=6,
                                   return_train_score=True, random_state=0).fit(X_IRIS, Y_IRIS)
    assert set(theirs.cv_results_) <= set(ours.cv_results_)
    assert set(ours.cv_results_) - set(theirs.cv_results_) == {"trial_id", "status", "error"}
    n = len(ours.cv_results_["params"])
    for key, col in ours.cv_results_.items():
        assert len(col) == n, key
    for attr in ("best_params_", "best_score_", "best_index_", "best_estimator_",
                 "n_resources_", "n_candidates_", "n_splits_", "refit_time_", "scorer_",
                 "multimetric_", "n_iterations_", "n_possible_iterations_", "min_resources_",
                 "max_resources_"):
        assert hasattr(theirs, attr) and hasattr(ours, attr), attr
    assert ours.n_splits_ == theirs.n_splits_ == 5
    assert ours.min_resources_ == theirs.min_resources_ == 30  # 2 * 5 splits * 3 classes
    assert isinstance(ours.cv_results_["param_alpha"], np.ma.MaskedArray)
    assert ours.cv_results_["rank_test_score"].min() == 1
    assert ours.score(X_IRIS, Y_IRIS) == ours.best_estimator_.score(X_IRIS, Y_IRIS)


def test_n_samples_fits_fresh_stratified_subsamples_that_grow():
    cv = ASHASearchCV(Probe(), {"a": stats.uniform(0, 1)}, min_resources=30,
                      max_resources=150, factor=2, n_candidates=8, random_state=0,
                      scoring={"a": "accuracy", "rows": stat("n_rows_"),
                               "setosa": lambda e, X, y: float(e.class_counts_[0]),
                               "calls": lambda e, X, y: float(len(e.calls_))},
                      refit="rows", return_train_score=True).fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    assert cv.n_resources_ == [30, 60, 150][:len(cv.n_resources_)]
    for res, rows, setosa, calls in zip(r["n_resources"], r["mean_test_rows"],
                                        r["mean_test_setosa"], r["mean_test_calls"]):
        # 4/5 of the rows of a fold, a third of them of each class, one fit from scratch
        assert rows == pytest.approx(res * 4 / 5, abs=1)
        assert setosa == pytest.approx(rows / 3, abs=1)
        assert calls == 1
    # the same subsample for every candidate of a rung
    at30 = r["n_resources"] == 30
    assert len(set(r["split0_test_rows"][at30])) == 1
    assert cv.best_estimator_.n_rows_ == 150  # refit on all the data


def test_parameter_resource_continues_a_promoted_candidate_with_warm_start():
    scoring = {"a": stat("a"), "calls": lambda e, X, y: float(len(e.calls_)),
               "trained": lambda e, X, y: float(sum(e.calls_))}
    cv = ASHASearchCV(WarmProbe(), {"a": stats.uniform(0, 1)}, resource="max_iter",
                      min_resources=2, max_resources=18, n_candidates=9, scoring=scoring,
                      refit="a", random_state=0, n_jobs=1).fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    assert set(r["n_resources"]) == {2, 6, 18}
    for res, rung, calls, trained in zip(r["n_resources"], r["iter"], r["mean_test_calls"],
                                         r["mean_test_trained"]):
        assert calls == rung + 1  # one fit per rung, each continuing the last
        assert trained == res  # SGD-style: each fit adds max_iter iterations
    assert cv.best_estimator_.max_iter == 18 and cv.best_estimator_.calls_ == [18]
    assert not cv.best_estimator_.warm_start


def test_parameter_resource_without_warm_start_refits_from_scratch():
    cv = ASHASearchCV(Probe(), {"a": stats.uniform(0, 1)}, resource="max_iter",
                      min_resources=2, max_resources=18, n_candidates=9, random_state=0,
                      scoring={"a": stat("a"), "it": lambda e, X, y: float(sum(e.calls_))},
                      refit="a").fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    assert (r["mean_test_it"] == r["n_resources"]).all()
    assert 18 in set(r["n_resources"])


def test_ensemble_resource_counts_the_whole_training():
    X, y = make_classification(200, n_features=6, random_state=0)
    cv = ASHASearchCV(HistGradientBoostingClassifier(early_stopping=False, random_state=0),
                      {"learning_rate": stats.loguniform(0.01, 0.5)}, resource="max_iter",
                      min_resources=2, max_resources=8, factor=2, n_candidates=4, cv=3,
                      scoring={"acc": "accuracy", "it": stat("n_iter_")}, refit="acc",
                      random_state=0).fit(X, y)
    r = cv.cv_results_
    assert (r["mean_test_it"] == r["n_resources"]).all()  # max_iter is the total with warm_start
    assert set(r["n_resources"]) >= {2, 4}
    assert cv.best_estimator_.n_iter_ == 8


def test_partial_fit_resource_continues_for_the_extra_epochs_with_classes():
    cv = ASHASearchCV(EpochProbe(), {"a": stats.uniform(0, 1)}, resource="partial_fit",
                      min_resources=1, max_resources=9, n_candidates=9, random_state=0,
                      scoring={"a": stat("a"), "epochs": stat("epochs_"),
                               "classes": lambda e, X, y: float(len(e.first_classes_))},
                      refit="a").fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    assert set(r["n_resources"]) == {1, 3, 9}
    assert (r["mean_test_epochs"] == r["n_resources"]).all()
    assert (r["mean_test_classes"] == 3).all()
    assert cv.best_estimator_.epochs_ == 9


def test_partial_fit_with_sgd():
    cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": stats.loguniform(1e-5, 1e-1)},
                      resource="partial_fit", min_resources=1, max_resources=9,
                      n_candidates=6, random_state=0).fit(X_IRIS, Y_IRIS)
    assert np.isfinite(cv.cv_results_["mean_test_score"]).all()
    assert cv.predict(X_IRIS[:5]).shape == (5,)


def test_clone_params_pipeline_and_nested_cross_validation():
    est = ASHASearchCV(Pipeline([("scale", StandardScaler()),
                                 ("clf", SGDClassifier(random_state=0))]),
                       {"clf__alpha": space.loguniform(1e-5, 1e-1),
                        "clf__loss": ["hinge", "log_loss"]},
                       resource="clf__max_iter", min_resources=1, max_resources=9,
                       n_candidates=6, cv=3, random_state=0)
    twin = clone(est)
    assert twin.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    twin.set_params(factor=4, estimator__clf__alpha=0.5)
    assert twin.factor == 4 and twin.estimator.named_steps["clf"].alpha == 0.5
    assert est.factor == 3
    scores = cross_val_score(est, X_IRIS, Y_IRIS, cv=3)
    assert scores.shape == (3,) and (scores > 0.5).all()
    assert not hasattr(est, "cv_results_")  # cross_val_score fitted clones only
    fitted = clone(est).fit(X_IRIS, Y_IRIS)
    assert fitted.best_estimator_.named_steps["clf"].max_iter == 9


def test_delegation_follows_the_best_estimator():
    hinge = ASHASearchCV(SGDClassifier(loss="hinge"), {"alpha": [1e-4, 1e-3]})
    assert not hasattr(hinge, "predict_proba") and hasattr(hinge, "decision_function")
    cv = ASHASearchCV(SGDClassifier(loss="log_loss", random_state=0),
                      {"alpha": [1e-4, 1e-3, 1e-2]},
                      resource="max_iter", min_resources=1, max_resources=9, n_candidates=3,
                      random_state=0).fit(X_IRIS, Y_IRIS)
    assert cv.predict_proba(X_IRIS[:4]).shape == (4, 3)
    assert cv.decision_function(X_IRIS[:4]).shape == (4, 3)
    assert list(cv.classes_) == [0, 1, 2] and cv.n_features_in_ == 4
    again = pickle.loads(pickle.dumps(cv))
    assert (again.predict(X_IRIS) == cv.predict(X_IRIS)).all()
    assert not hasattr(again, "search_")


def test_error_score_number_keeps_the_traceback_on_the_row():
    cv = ASHASearchCV(Probe(), {"a": stats.uniform(0, 1), "fail": [True, False]},
                      resource="max_iter", min_resources=1, max_resources=9,
                      n_candidates=12, error_score=-1.0, random_state=0)
    with pytest.warns(FitFailedWarning, match="fits failed"):
        cv.fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    failed = np.array([p["fail"] for p in r["params"]])
    assert failed.any() and (~failed).any()
    assert (r["mean_test_score"][failed] == -1.0).all()
    assert (r["split3_test_score"][failed] == -1.0).all()
    assert all("ValueError: boom" in e and "Traceback" in e for e in r["error"][failed])
    assert all(e == "" for e in r["error"][~failed])
    assert not cv.best_params_["fail"]


def test_error_score_raise_raises_the_original_error():
    cv = ASHASearchCV(Probe(), {"fail": [True], "a": stats.uniform(0, 1)}, resource="max_iter",
                      min_resources=1, max_resources=9, n_candidates=3, error_score="raise")
    with pytest.raises(ValueError, match="boom"):
        cv.fit(X_IRIS, Y_IRIS)
    assert cv.search_.state == "stopped" or cv.search_.state == "finished"


def test_same_random_state_gives_the_same_results_with_one_worker():
    def run(seed):
        return ASHASearchCV(SGDClassifier(random_state=0),
                            {"alpha": stats.loguniform(1e-5, 1e-1), "loss": ["hinge", "log_loss"]},
                            n_candidates=9, factor=2, random_state=seed, n_jobs=1,
                            return_train_score=True).fit(X_IRIS, Y_IRIS).cv_results_

    a, b, c = run(0), run(0), run(1)
    assert set(a) == set(b)
    for key in set(a) - TIMES:
        if key == "params":
            assert a[key] == b[key]
        else:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)
    assert a["params"] != c["params"]


def test_with_two_workers_the_candidates_are_the_same():
    def run():
        r = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": stats.loguniform(1e-5, 1e-1)},
                         n_candidates=9, factor=2, random_state=0, n_jobs=2
                         ).fit(X_IRIS, Y_IRIS).cv_results_
        return {int(t): p["alpha"] for t, p in zip(r["trial_id"], r["params"])}

    first, second = run(), run()
    assert len(first) == 9 and first == second


def test_refit_false_and_callable_refit():
    kw = dict(resource="max_iter", min_resources=1, max_resources=9, n_candidates=6,
              random_state=0)
    dists = {"alpha": stats.loguniform(1e-5, 1e-1)}
    plain = ASHASearchCV(SGDClassifier(random_state=0), dists, refit=False, **kw)
    plain.fit(X_IRIS, Y_IRIS)
    assert not hasattr(plain, "best_estimator_") and "best_params_" in vars(plain)
    with pytest.raises(AttributeError, match="predict"):  # as BaseSearchCV with refit=False
        plain.predict(X_IRIS)

    def lowest(results):
        return int(np.argmin(results["mean_test_score"]))

    chosen = ASHASearchCV(SGDClassifier(random_state=0), dists, refit=lowest, **kw)
    chosen.fit(X_IRIS, Y_IRIS)
    assert chosen.best_index_ == lowest(chosen.cv_results_)
    assert chosen.best_params_ == chosen.cv_results_["params"][chosen.best_index_]
    assert "best_score_" not in vars(chosen)
    assert chosen.best_estimator_.alpha == chosen.best_params_["alpha"]


def test_multimetric_scoring_promotes_on_the_refit_metric():
    cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": stats.loguniform(1e-5, 1e-1)},
                      scoring=["accuracy", "f1_macro"], refit="f1_macro", resource="max_iter",
                      min_resources=1, max_resources=9, n_candidates=6, random_state=0)
    cv.fit(X_IRIS, Y_IRIS)
    r = cv.cv_results_
    assert {"mean_test_accuracy", "rank_test_f1_macro", "split2_test_f1_macro"} <= set(r)
    assert "mean_test_score" not in r and cv.multimetric_
    assert cv.best_score_ == r["mean_test_f1_macro"][cv.best_index_]
    values = cv.search_.results()["value"].to_numpy(dtype=float)
    np.testing.assert_allclose(np.sort(values), np.sort(r["mean_test_f1_macro"]))
    with pytest.raises(InvalidParameterError, match="refit"):
        clone(cv).set_params(refit=True).fit(X_IRIS, Y_IRIS)


def test_bad_arguments_are_refused_at_fit_not_in_the_constructor():
    est = ASHASearchCV(SGDClassifier(), {"alpha": [0.1]}, resource="max_itr")
    assert est.resource == "max_itr"
    assert ASHASearchCV(SGDClassifier(), {"alpha": [0.1]}, factor=1).factor == 1
    with pytest.raises(InvalidParameterError, match="max_itr"):
        est.fit(X_IRIS, Y_IRIS)
    with pytest.raises(InvalidParameterError, match="max_resources"):
        ASHASearchCV(SGDClassifier(), {"alpha": [0.1]}, resource="max_iter").fit(X_IRIS, Y_IRIS)
    with pytest.raises(InvalidParameterError, match="factor"):
        ASHASearchCV(SGDClassifier(), {"alpha": [0.1]}, factor=1).fit(X_IRIS, Y_IRIS)
    with pytest.raises(InvalidParameterError, match="resource 'max_iter'"):
        ASHASearchCV(SGDClassifier(), {"max_iter": [5]}, resource="max_iter",
                     max_resources=9).fit(X_IRIS, Y_IRIS)


GATE = threading.Event()
ENTERED = threading.Event()


class Gated(Probe):
    """Fits only once the test opens the gate (so the search is surely running)."""

    def fit(self, X, y):
        ENTERED.set()
        GATE.wait(30)
        return super().fit(X, y)


def test_background_start_with_stop_and_add_from_another_thread():
    GATE.clear()
    ENTERED.clear()
    cv = ASHASearchCV(Gated(), [{"a": stats.uniform(0, 0.5)}, {"a": [0.7], "fail": [False]}],
                      resource="max_iter", min_resources=1, max_resources=9, n_candidates=12,
                      random_state=0, n_jobs=2, executor="thread")  # the gate is in this process
    cv.start(X_IRIS, Y_IRIS)
    assert ENTERED.wait(30)  # trial 0 is fitting: the search runs in the background
    added = cv.add_trial({"a": 2.0, "fail": False}, check=False)
    cv.stop_trial(0)
    GATE.set()
    cv.wait()
    r = cv.cv_results_
    assert added != 0 and cv.best_params_ == {"a": 2.0, "fail": False}
    assert r["n_resources"][r["trial_id"] == added].max() == 9
    assert list(r["status"][r["trial_id"] == 0]) == ["stopped"]
    assert np.isnan(r["mean_test_score"][r["trial_id"] == 0]).all()
    assert r["param_fail"].mask.any()  # masked where the first dict has no such parameter


def test_fit_async():
    cv = ASHASearchCV(SGDClassifier(random_state=0), {"alpha": [1e-4, 1e-3, 1e-2]},
                      resource="max_iter", min_resources=1, max_resources=3, n_candidates=3,
                      random_state=0)
    assert asyncio.run(cv.fit_async(X_IRIS, Y_IRIS)) is cv
    assert cv.best_estimator_.max_iter == 3


def test_dask_client_executor():
    import distributed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                           protocol="tcp", host="127.0.0.1",
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        try:
            cv = ASHASearchCV(SGDClassifier(random_state=0),
                              {"alpha": stats.loguniform(1e-5, 1e-1)}, resource="max_iter",
                              min_resources=1, max_resources=9, n_candidates=9,
                              random_state=0, executor=client).fit(X_IRIS, Y_IRIS)
        finally:
            client.close()
            cluster.close()
    assert cv.search_.n_workers == 2  # n_jobs=None: the cluster's threads
    r = cv.cv_results_
    assert np.isfinite(r["split4_test_score"]).all()  # the split scores came back from Dask
    assert 9 in set(r["n_resources"])


def test_import_asha_nb_does_not_import_sklearn():
    import subprocess
    import sys

    code = ("import sys, asha_nb; print('sklearn' in sys.modules); import asha_nb.sklearn; "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]
