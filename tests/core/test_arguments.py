"""Every invalid argument raises an error naming the argument and the allowed range."""

from __future__ import annotations

import pytest

from asha_nb import ASHA, SHA, AsyncHyperband, Hyperband, space
from asha_nb.errors import InvalidParameterError, InvalidTypeError

SP = {"x": space.uniform(0, 1)}
OK = dict(min_resource=1, max_resource=27)


@pytest.mark.parametrize("cls,extra", [(ASHA, {}), (SHA, {"n_configs": 9}), (Hyperband, {}),
                                       (AsyncHyperband, {})])
@pytest.mark.parametrize("kwargs,exc,pattern", [
    ({"reduction_factor": 1}, InvalidParameterError, r"reduction_factor must be an integer >= 2, got 1"),
    ({"reduction_factor": 2.5}, InvalidTypeError, r"reduction_factor must be an integer"),
    ({"min_resource": 0}, InvalidParameterError, r"min_resource must be a number > 0, got 0"),
    ({"min_resource": -1}, InvalidParameterError, r"min_resource must be a number > 0"),
    ({"max_resource": 0.5}, InvalidParameterError, r"max_resource must be >= min_resource \(1\), got 0.5"),
    ({"mode": "maximize"}, InvalidParameterError, r"mode must be one of 'max', 'min'; got 'maximize'"),
    ({"seed": -3}, InvalidParameterError, r"seed must be an integer >= 0"),
    ({"min_resource": float("nan")}, InvalidParameterError, r"min_resource must be a finite number"),
])
def test_common_arguments(cls, extra, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        cls(SP, **{**OK, **extra, **kwargs})


def test_asha_specific_arguments():
    with pytest.raises(InvalidParameterError, match=r"early_stopping_rate must be an integer >= 0, got -1"):
        ASHA(SP, early_stopping_rate=-1, **OK)
    with pytest.raises(InvalidParameterError, match=r"early_stopping_rate must be an integer between 0 and .* = 3"):
        ASHA(SP, early_stopping_rate=4, **OK)
    with pytest.raises(InvalidParameterError, match=r"type must be one of 'promotion', 'stopping'; got 'async'"):
        ASHA(SP, type="async", **OK)
    with pytest.raises(InvalidParameterError, match=r"max_trials must be an integer >= 1, got 0"):
        ASHA(SP, max_trials=0, **OK)
    with pytest.raises(InvalidParameterError, match=r"n_configs must be an integer >= 1, got 0"):
        SHA(SP, n_configs=0, **OK)
    with pytest.raises(InvalidParameterError, match=r"bracket_mode must be one of"):
        AsyncHyperband(SP, bracket_mode="wild", **OK)
    with pytest.raises(InvalidParameterError, match=r"max_concurrent must be an integer >= 1"):
        AsyncHyperband(SP, max_concurrent=0, **OK)
    with pytest.raises(InvalidParameterError, match=r"n_iterations must be an integer >= 1"):
        Hyperband(SP, n_iterations=0, **OK)


@pytest.mark.parametrize("bad,exc,pattern", [
    ({}, InvalidParameterError, "space must have at least one parameter"),
    ([("x", 1)], InvalidTypeError, "space must be a dict"),
    ({1: space.uniform(0, 1)}, InvalidTypeError, "parameter names must be strings"),
])
def test_empty_or_malformed_space(bad, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ASHA(bad, **OK)
