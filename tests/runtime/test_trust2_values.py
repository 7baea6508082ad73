"""Issue 15 item 7: an objective returning a value that does not fit a float (``10**400``) is a
failed row with a clear error on every executor. It used to hang a thread search (the
``OverflowError`` escaped the completion callback, rows stayed ``running``) and fail a whole
process search."""

from __future__ import annotations

import concurrent.futures as cf
import sys

import cloudpickle
import pytest

from asha_nb import Search, space
from asha_nb.runtime._values import to_value

cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = {"x": space.uniform(0.0, 1.0)}


def huge(config, resource):
    return 10**400 if config["x"] < 0.5 else config["x"]


def test_to_value_never_raises():
    from fractions import Fraction

    for raw in (10**400, -(10**400), Fraction(10**400, 3), 10**100_000):
        value, error = to_value(raw)
        assert value is None and "does not fit a float" in error, raw
    assert to_value(2**10) == (1024.0, None)


def run(executor, **kw):
    search = Search(huge, SPACE, executor=executor, n_workers=1, max_trials=6, max_resource=1,
                    seed=3, progress=False, **kw)
    search.start()
    assert search.wait(timeout=120), "the search did not end"
    return search


def check(search):
    assert str(search.state) == "finished", search.snapshot().reason
    rows = search.records()
    assert len(rows) == 6
    for r in rows:
        if r.config["x"] < 0.5:
            assert r.status.value == "failed" and "does not fit a float" in r.error, r
        else:
            assert r.status.value == "ok" and r.value == r.config["x"], r
    assert any(r.status.value == "failed" for r in rows)


@pytest.mark.parametrize("executor", ["thread", "simulated"])
def test_a_value_too_large_for_a_float_is_a_failed_row(executor):
    check(run(executor))


def test_a_value_too_large_for_a_float_is_a_failed_row_on_a_users_pool():
    with cf.ThreadPoolExecutor(1) as pool:
        check(run(pool))


def test_a_value_too_large_for_a_float_is_a_failed_row_on_processes():
    check(run("process"))


def test_a_value_too_large_for_a_float_is_a_failed_row_with_a_journal(tmp_path):
    check(run("thread", journal=tmp_path / "j.asha"))
