"""Search-space distributions: sampling, bounds and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from asha_nb import space
from asha_nb.errors import InvalidParameterError, InvalidTypeError


def test_each_domain_samples_within_bounds_with_the_given_generator():
    sp = space.Space({
        "u": space.uniform(-1, 1), "lu": space.loguniform(1e-4, 1e-1),
        "ri": space.randint(2, 5), "c": space.choice(["a", "b", "c"]),
        "fixed": 7, "norm": scipy.stats.norm(10, 0.1),
    })
    rng = np.random.default_rng(0)
    samples = [sp.sample(rng) for _ in range(500)]
    assert all(-1 <= s["u"] < 1 for s in samples)
    assert all(1e-4 <= s["lu"] <= 1e-1 for s in samples)
    assert {s["ri"] for s in samples} == {2, 3, 4}
    assert {s["c"] for s in samples} == {"a", "b", "c"}
    assert all(s["fixed"] == 7 for s in samples)
    assert 9.9 < np.mean([s["norm"] for s in samples]) < 10.1
    # log-uniform: about half the samples below the geometric midpoint 10**-2.5
    below = np.mean([s["lu"] < 10**-2.5 for s in samples])
    assert 0.4 < below < 0.6
    # Plain Python types (JSON-friendly), not numpy scalars.
    assert all(type(samples[0][k]) in (float, int, str) for k in ("u", "lu", "ri", "c", "norm"))


def test_sampling_depends_only_on_the_generator():
    sp = space.Space({"u": space.uniform(0, 1), "c": space.choice([1, 2, 3])})
    a = [sp.sample(np.random.default_rng(5)) for _ in range(3)]
    b = [sp.sample(np.random.default_rng(5)) for _ in range(3)]
    np.random.seed(123)  # the global state must not matter
    c = [sp.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a == b == c


@pytest.mark.parametrize("make,exc,pattern", [
    (lambda: space.uniform(1, 1), InvalidParameterError, r"uniform needs lo < hi, got lo=1, hi=1"),
    (lambda: space.uniform(0, float("inf")), InvalidParameterError, "must be finite"),
    (lambda: space.uniform("a", 1), InvalidTypeError, "must be a real number"),
    (lambda: space.loguniform(0, 1), InvalidParameterError, r"loguniform needs 0 < lo < hi"),
    (lambda: space.randint(3, 3), InvalidParameterError, r"randint needs lo < hi \(hi is excluded\)"),
    (lambda: space.randint(0.5, 3), InvalidTypeError, "randint.lo. must be an integer"),
    (lambda: space.choice([]), InvalidParameterError, "choice needs at least one option"),
    (lambda: space.choice("abc"), InvalidTypeError, "choice needs a list of options"),
])
def test_invalid_domains(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


def test_complete_fills_missing_and_rejects_unknown():
    sp = space.Space({"a": space.uniform(0, 1), "b": space.choice([1, 2])})
    cfg = sp.complete({"a": 0.3}, np.random.default_rng(0))
    assert cfg["a"] == 0.3 and cfg["b"] in (1, 2)
    with pytest.raises(InvalidParameterError, match=r"not in the search space: \['c'\]"):
        sp.complete({"c": 1}, np.random.default_rng(0))
    assert space.Space(sp) == sp and space.as_space(sp) is sp


# ---------------------------------------------------------------- user configs (issue 10, item 3)
SP = {"lr": space.loguniform(1e-3, 1), "layers": space.randint(1, 4),
      "act": space.choice(["relu", "tanh"]), "x": space.uniform(0, 1)}


@pytest.mark.parametrize("config, key, value, domain", [
    ({"lr": -5.0}, "lr", "-5.0", r"loguniform\(0.001, 1\) \(floats in \[0.001, 1\]\)"),
    ({"lr": 2.0}, "lr", "2.0", r"loguniform\(0.001, 1\)"),
    ({"layers": 99}, "layers", "99", r"randint\(1, 4\) \(integers 1..3; hi=4 is excluded\)"),
    ({"layers": 4}, "layers", "4", r"randint\(1, 4\)"),
    ({"layers": 0}, "layers", "0", r"randint\(1, 4\)"),
    ({"layers": 2.5}, "layers", "2.5", r"is not an integer; randint\(1, 4\)"),
    ({"layers": True}, "layers", "True", r"is not an integer"),
    ({"act": "gelu"}, "act", "'gelu'", r"not one of the options of choice\(\['relu', 'tanh'\]\)"),
    ({"x": 5.0}, "x", "5.0", r"uniform\(0, 1\)"),
    ({"x": "abc"}, "x", "'abc'", r"is not a number; uniform\(0, 1\) takes floats"),
    ({"x": float("nan")}, "x", "nan", r"is not finite; uniform\(0, 1\)"),
    ({"lr": float("inf")}, "lr", "inf", r"is not finite"),
    ({"x": None}, "x", "None", r"is not a number"),
    ({"x": [0.5]}, "x", r"\[0.5\]", r"is not a number"),
])
def test_complete_refuses_values_outside_the_domain(config, key, value, domain):
    sp = space.Space(SP)
    with pytest.raises(InvalidParameterError, match=rf"{key}={value} .*{domain}.*check=False"):
        sp.complete(config, np.random.default_rng(0))
    with pytest.raises(InvalidParameterError, match=rf"{key}={value}"):
        sp.validate(config)


def test_every_bad_key_is_named_in_one_error():
    sp = space.Space(SP)
    with pytest.raises(InvalidParameterError) as info:
        sp.complete({"lr": -5.0, "layers": 99, "act": "relu"}, np.random.default_rng(0))
    assert "lr=-5.0" in str(info.value) and "layers=99" in str(info.value)
    assert "act" not in str(info.value)


@pytest.mark.parametrize("config, pattern", [
    (None, r"config must be a dict .*got None"),
    ([("lr", 0.1)], r"got list \(for a list of \(name, value\) pairs write dict\(pairs\)\)"),
    ("lr=0.1", r"got str"),
    (0.1, r"got float"),
])
def test_a_config_that_is_not_a_mapping_is_a_type_error(config, pattern):
    with pytest.raises(InvalidTypeError, match=pattern):
        space.Space(SP).complete(config, np.random.default_rng(0))
    with pytest.raises(InvalidTypeError, match=pattern):
        space.Space(SP).complete(config, np.random.default_rng(0), check=False)


def test_values_inside_the_domain_are_accepted_and_normalised():
    sp = space.Space(SP)
    rng = np.random.default_rng(0)
    cfg = sp.complete({"lr": np.float64(0.5), "layers": np.int64(2), "act": np.str_("tanh"),
                       "x": 0}, rng)
    assert cfg == {"lr": 0.5, "layers": 2, "act": "tanh", "x": 0.0}
    assert [type(cfg[k]) for k in ("lr", "layers", "act", "x")] == [float, int, str, float]
    # both float bounds, randint's lo and hi - 1, an integral float for randint (e.g. a row
    # of a results DataFrame), a float32
    ok = sp.validate({"lr": 1e-3, "x": 1.0, "layers": 3.0})
    assert ok == {"lr": 1e-3, "x": 1.0, "layers": 3} and type(ok["layers"]) is int
    assert sp.validate({"lr": 1, "layers": 1, "x": np.float32(0.25)}) == {
        "lr": 1.0, "layers": 1, "x": 0.25}
    # what a log slider set to the bound gives (a few ulps off) is still in the domain
    import math
    near = 10 ** math.log10(0.3)
    assert near != 0.3
    assert space.Space({"lr": space.loguniform(1e-3, 0.3)}).validate({"lr": near}) == {"lr": near}


def test_check_false_lets_out_of_range_values_through_on_purpose():
    sp = space.Space(SP)
    cfg = sp.complete({"x": 5.0, "layers": 99, "act": "gelu"}, np.random.default_rng(0),
                      check=False)
    assert cfg["x"] == 5.0 and cfg["layers"] == 99 and cfg["act"] == "gelu"
    assert 1e-3 <= cfg["lr"] <= 1  # missing keys are still sampled
    with pytest.raises(InvalidParameterError, match="not in the search space"):
        sp.complete({"y": 1}, np.random.default_rng(0), check=False)


@pytest.mark.parametrize("dom, inside, outside", [
    (space.uniform(-1, 1), [-1, 0, 1.0, np.float64(0.5), np.int64(0)],
     [1.5, -2, "0", None, True, float("nan"), float("inf"), [0.1]]),
    (space.loguniform(1e-4, 1e-1), [1e-4, 0.01, 0.1, np.float32(0.01)],
     [0.0, -0.01, 0.2, float("nan"), "0.01", False]),
    (space.randint(1, 4), [1, 2, 3, np.int64(3), 2.0, np.float64(1.0)],
     [0, 4, 2.5, True, "2", None, float("nan"), float("inf")]),
    (space.choice(["relu", "tanh"]), ["relu", np.str_("tanh")], ["gelu", None, 1, ["relu"]]),
    (space.choice([1, 2, 3]), [1, 2.0, np.int64(3)], [4, True, "1", None]),
    (space.choice([True, False]), [True, np.True_, False], [1, 0, "True"]),
    (space.choice([(64, 64), (128,)]), [(64, 64), (128,)], [(64,), [64, 64, 1]]),
    (space.choice([np.array([1, 2]), np.array([3])]), [np.array([1, 2])], [np.array([1, 3]), 3]),
    (space.Space({"f": scipy.stats.norm(0, 1)})["f"], [0.0, -50, 1e300, np.float64(3)],
     [float("inf"), float("nan"), "1", None]),
    (space.Space({"f": scipy.stats.uniform(2, 3)})["f"], [2, 3.5, 5], [1.9, 5.1]),
    (space.Space({"f": scipy.stats.poisson(3)})["f"], [0, 7, 2.0, np.int64(9)], [-1, 1.5, "2"]),
    (space.Space({"f": scipy.stats.randint(1, 4)})["f"], [1, 3], [0, 4, 2.5]),
    (space.Space({"f": 7})["f"], [7, 7.0, np.int64(7)], [8, "7", None, True]),
    (space.Space({"f": "sgd"})["f"], ["sgd"], ["adam", None]),
    (space.Space({"f": None})["f"], [None], [0, "None"]),
    (space.Space({"f": (1, 2)})["f"], [(1, 2)], [(2, 1), 1]),
])
def test_domain_contains_for_every_domain_kind(dom, inside, outside):
    for v in inside:
        assert dom.contains(v), (dom, v)
    for v in outside:
        assert not dom.contains(v), (dom, v)


def test_samples_are_always_in_their_domain():
    sp = space.Space({"u": space.uniform(-1, 1), "lu": space.loguniform(1e-4, 0.3),
                      "ri": space.randint(2, 5), "c": space.choice(["a", 1, (2, 3)]),
                      "n": scipy.stats.norm(0, 1), "p": scipy.stats.poisson(2), "fixed": 7})
    rng = np.random.default_rng(0)
    for _ in range(300):
        cfg = sp.sample(rng)
        assert sp.validate(cfg) == cfg


def test_fixed_values_cannot_be_overridden_unless_check_false():
    sp = space.Space({"x": space.uniform(0, 1), "epochs_per_step": 1})
    with pytest.raises(InvalidParameterError,
                       match=r"epochs_per_step=2 differs from the fixed value 1 set in the search"):
        sp.validate({"epochs_per_step": 2})
    assert sp.validate({"epochs_per_step": 2}, check=False) == {"epochs_per_step": 2}


def test_scheduler_add_trial_refuses_values_outside_the_space():
    from asha_nb import ASHA

    sched = ASHA({"x": space.uniform(0, 1)}, min_resource=1, max_resource=9, seed=0)
    with pytest.raises(InvalidParameterError, match=r"x=5.0 is not in uniform\(0, 1\)"):
        sched.add_trial({"x": 5.0})
    with pytest.raises(InvalidTypeError, match="got None"):
        sched.add_trial(None)
    assert sched.add_trial({"x": np.float64(0.5)}) == 0


# ---------------------------------------------------------- mistakes in a space (issue 10, item 15)
@pytest.mark.parametrize("spec, pattern", [
    (space.uniform, r"'p' is the function space.uniform, not a distribution: call it, "
                    r"e.g. space.uniform\(lo, hi\)"),
    (space.loguniform, r"call it, e.g. space.loguniform\(lo, hi\)"),
    (space.choice, r"call it, e.g. space.choice\(\[...\]\)"),
    (scipy.stats.norm, r"'p' is scipy.stats.norm, a distribution family, not a distribution: "
                       r"freeze it with its parameters, e.g. scipy.stats.norm\(loc=0, scale=1\)"),
    (scipy.stats.poisson, r"scipy.stats.poisson, a distribution family"),
    (space.Uniform, r"the class Uniform, not a distribution: write space.uniform\(lo, hi\)"),
    (dict, r"the class dict, which would be passed unchanged to every trial.*functools.partial"
           r".*space.choice\(\[obj\]\)"),
    (np, r"'p' is the module numpy, not a distribution"),
    (scipy.stats, r"the module scipy.stats"),
    (lambda: 0.5, r"the callable .*<lambda>, which would be passed unchanged"),
    (np.exp, r"the callable"),
    (print, r"the callable print"),
    ([space.uniform(0, 1), 3], r"a container holding a distribution"),
    ({"a": scipy.stats.norm(0, 1)}, r"a container holding a distribution"),
])
def test_values_that_are_surely_a_mistake_are_refused(spec, pattern):
    with pytest.raises(InvalidTypeError, match=pattern):
        space.Space({"x": space.uniform(0, 1), "p": spec})


@pytest.mark.parametrize("fixed", [3, 0.5, "adam", True, None, (64, 64), [1, 2], {"a": 1},
                                   np.float64(2.0), np.array([1.0, 2.0])])
def test_plain_fixed_values_stay_allowed(fixed):
    sp = space.Space({"x": space.uniform(0, 1), "p": fixed})
    cfg = sp.sample(np.random.default_rng(0))
    assert cfg["p"] is fixed


def test_a_callable_can_still_be_passed_through_a_choice():
    sp = space.Space({"act": space.choice([np.tanh])})
    assert sp.sample(np.random.default_rng(0))["act"] is np.tanh
    assert sp.validate({"act": np.tanh}) == {"act": np.tanh}


def test_long_values_and_option_lists_are_shortened_in_messages():
    sp = space.Space({"c": space.choice(list(range(100))), "f": "x" * 500})
    with pytest.raises(InvalidParameterError) as info:
        sp.validate({"c": 1000, "f": "y" * 500})
    text = str(info.value)
    assert "c=1000 is not one of the options of choice([0, 1, 2" in text and ", ...])" in text
    assert len(text) < 600


def test_a_pickled_space_names_its_domains_in_asha_nb_space():
    # A journal stores the space cloudpickled: the classes it names must stay importable from
    # asha_nb.space (where journals written before the domains moved to a private module find
    # them), and a journal written now must not name the private module.
    import pickle

    import cloudpickle

    sp = space.Space({"u": space.uniform(0, 1), "lu": space.loguniform(1e-3, 1),
                      "ri": space.randint(1, 5), "c": space.choice(["a", "b"]), "fixed": 7,
                      "norm": scipy.stats.norm(0, 1)})
    data = cloudpickle.dumps(sp)
    assert b"asha_nb.space" in data and b"_space_domains" not in data
    back = pickle.loads(data)
    assert [type(d) for d in back.values()] == [type(d) for d in sp.values()]
    assert back["c"] == sp["c"] and back["fixed"] == sp["fixed"]
    for cls in (space.Domain, space.Uniform, space.LogUniform, space.RandInt, space.Choice):
        assert cls.__module__ == "asha_nb.space"
