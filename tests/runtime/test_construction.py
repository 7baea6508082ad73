"""Mistakes are refused when the search is built, with a message that says what to do:
bad arguments, conflicting scheduler options (issue 10 item 4), objectives whose signature fits no
form and executors that are not executors (item 11)."""

from __future__ import annotations

import pytest

from asha_nb import ASHA, SHA, space
from asha_nb.errors import InvalidParameterError, InvalidTypeError
from asha_nb.runtime import Search

SPACE = {"x": space.uniform(0, 1)}


def ok(config, resource):
    return config["x"]


def test_bad_arguments_raise_at_construction():
    with pytest.raises(InvalidParameterError, match="n_workers"):
        Search(ok, SPACE, n_workers=0)
    with pytest.raises(InvalidTypeError, match="n_workers"):
        Search(ok, SPACE, n_workers="2")
    with pytest.raises(InvalidParameterError, match="reduction_factor"):
        Search(ok, SPACE, reduction_factor=1)
    with pytest.raises(InvalidParameterError, match="mode"):
        Search(ok, SPACE, mode="up")
    with pytest.raises(InvalidParameterError, match="space"):
        Search(ok)
    with pytest.raises(InvalidParameterError, match="retries"):
        Search(ok, SPACE, retries=-1)
    with pytest.raises(InvalidParameterError, match="too short"):
        Search(ok, SPACE, min_resource=1, max_resource=2, reduction_factor=3)
    with pytest.raises(InvalidTypeError, match="objective must be a callable"):
        Search(3, SPACE)


def test_scheduler_options_next_to_a_scheduler_instance_are_an_error_saying_who_wins():
    sched = ASHA(SPACE, min_resource=1, max_resource=9, reduction_factor=3, seed=1)
    with pytest.raises(InvalidParameterError) as err:
        Search(ok, scheduler=sched, mode="min", seed=5, max_resource=27)
    msg = str(err.value)
    assert "mode='min' (the scheduler has mode='max')" in msg
    assert "max_resource=27 (the scheduler has max_resource=9)" in msg
    assert "seed=5" in msg and "scheduler instance wins" in msg
    with pytest.raises(InvalidParameterError, match="max_trials=3"):
        Search(ok, scheduler=sched, max_trials=3)
    with pytest.raises(InvalidParameterError, match="space must be left out"):
        Search(ok, SPACE, scheduler=sched)
    # Options given once are fine, wherever they are.
    assert Search(ok, scheduler=sched).mode == "max"
    assert Search(ok, SPACE, mode="min").scheduler.mode == "min"
    assert Search(ok, SPACE, scheduler={"mode": "min"}).scheduler.mode == "min"


def test_an_option_given_twice_is_an_error():
    with pytest.raises(InvalidParameterError, match=r"mode given twice: as a keyword \(mode='max'\) "
                                                    r"and in scheduler= \(mode='min'\)"):
        Search(ok, SPACE, scheduler={"mode": "min"}, mode="max")
    with pytest.raises(InvalidParameterError, match="max_trials given twice"):
        Search(ok, SPACE, scheduler={"max_trials": 5}, max_trials=9)


@pytest.mark.parametrize("objective", [lambda a, b, c, d: 1, lambda: 1, lambda *, x: 1])
def test_objective_signature_is_checked_at_construction(objective):
    with pytest.raises(InvalidTypeError, match="objective must be written as"):
        Search(objective, SPACE)


def test_executor_that_is_not_an_executor_is_refused_at_construction():
    with pytest.raises(InvalidTypeError, match="executor must be"):
        Search(ok, SPACE, executor=42)
    with pytest.raises(InvalidParameterError, match="executor must be"):
        Search(ok, SPACE, executor="gpu")


def test_sha_instance_and_checkpoint_form_on_threads():
    seen = []

    def obj(config, resource, checkpoint):
        seen.append((checkpoint, resource))
        return config["x"] * resource, resource  # checkpoint = trained-to resource

    sched = SHA(SPACE, n_configs=9, min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    s = Search(obj, scheduler=sched, n_workers=3, progress=False).run()
    assert s.state == "finished"
    assert len(s.results()) == 9 + 3 + 1
    promoted = [(c, r) for c, r in seen if r > 1]
    assert promoted and all(c == r // 3 for c, r in promoted)
