"""Issue 15, item 5: ``Search.from_journal`` checks its overrides as ``Search()`` checks its
options (one validation for both paths), and its objective as ``Search()`` does."""

from __future__ import annotations

import pytest
from _virtual import vsearch

from asha_nb.errors import InvalidParameterError, InvalidTypeError
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search


def objective(config, resource):
    return config["x"] * resource


BAD = [
    ({"job_timeout": float("nan")}, InvalidParameterError, "job_timeout must be a finite"),
    ({"job_timeout": 0}, InvalidParameterError, "job_timeout must be a number > 0"),
    ({"time_budget": -1}, InvalidParameterError, "time_budget must be a number > 0"),
    ({"time_budget": float("inf")}, InvalidParameterError, "time_budget must be a finite"),
    ({"retries": -1}, InvalidParameterError, "retries must be an integer >= 0"),
    ({"max_jobs": 0}, InvalidParameterError, "max_jobs must be an integer >= 1"),
    ({"n_workers": 0}, InvalidParameterError, "n_workers must be an integer >= 1"),
    ({"n_workers": 2.5}, InvalidTypeError, "n_workers must be an integer"),
    ({"progress": "yes"}, InvalidParameterError, "progress must be one of True, False, 'auto'"),
    ({"target": "a"}, InvalidTypeError, "target must be a real number"),
    ({"target": float("nan")}, InvalidParameterError, "target must be a finite"),
]


@pytest.fixture()
def journal(tmp_path):
    path = tmp_path / "s.sqlite"
    s = vsearch(objective, journal=path, max_trials=6, max_resource=3, seed=0, max_jobs=3)
    s.run()
    return path


@pytest.mark.parametrize(("override", "error", "message"), BAD,
                         ids=[next(iter(o)) + "=" + repr(next(iter(o.values()))) for o, _, _ in BAD])
def test_from_journal_refuses_what_search_refuses(journal, override, error, message):
    with pytest.raises(error, match=message):
        Search.from_journal(journal, objective, **override)
    # Search() refuses it with the same words.
    with pytest.raises(error, match=message):
        Search(objective, {"x": 0.5}, max_trials=3,
               max_resource=1, executor=SimulatedExecutor(cost=1.0), **override)
    # The journal was not left locked: a good resume works.
    assert Search.from_journal(journal, objective, max_jobs=None).run().state == "finished"


def test_allow_other_objective_must_be_a_bool(journal):
    def other(config, resource):
        return 0.0

    with pytest.raises(InvalidTypeError, match="allow_other_objective must be True or False"):
        Search.from_journal(journal, other, allow_other_objective="no")
    with pytest.raises(InvalidParameterError, match="not the objective"):
        Search.from_journal(journal, other, allow_other_objective=False)


@pytest.mark.parametrize("bad", [None, 3, "objective"])
def test_from_journal_objective_must_be_callable(journal, bad):
    with pytest.raises(InvalidTypeError, match="objective must be a callable"):
        Search.from_journal(journal, bad)


def test_good_overrides_are_applied(journal):
    s = Search.from_journal(journal, objective, max_jobs=None, retries=2, time_budget=5.0,
                            n_workers=3, progress=False, target=10.0)
    loop = s._loop
    assert (loop.retries.retries, loop.time_budget, loop.n_workers, loop.best.target,
            s.progress) == (
        2, 5.0, 3, 10.0, False)
    assert s.run().state in ("finished", "stopped")


def test_from_journal_refuses_more_workers_than_the_executor_allows(tmp_path):
    path = tmp_path / "t.sqlite"
    Search(objective, {"x": 0.5}, journal=path, executor="thread", n_workers=1, max_trials=2,
           max_resource=1, progress=False).run()
    with pytest.raises(InvalidParameterError, match="n_workers"):
        Search.from_journal(path, objective, n_workers=10_000)
    assert Search.from_journal(path, objective, n_workers=2).run().state == "finished"
