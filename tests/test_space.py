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
