"""Issue 15, items 1 and 10: configuration values a journal (or a process) must carry.

A journaled search whose configurations hold values without value equality (``nan``, numpy
arrays, objects of a class without ``__eq__``) resumes: configurations are compared by their
canonical encoding, never with ``==``. A value the journal or the executor's workers cannot
carry is refused when the search is built (or the trial added), with an error naming the key.
All in virtual time except where a real executor is the point (construction only: nothing runs).
"""

from __future__ import annotations

import concurrent.futures as cf
import threading

import numpy as np
import pytest
from _virtual import vsearch

from asha_nb import space
from asha_nb.errors import InvalidParameterError
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search
from asha_nb.runtime._encoding import same_config, value_code


class Opaque:
    """A value without value equality (``==`` is identity)."""

    def __init__(self, k: int) -> None:
        self.k = k


def objective(config, resource):
    return float(resource) + (config.get("k") or 0)


def _interrupted_then_resumed(path, space_):
    s = vsearch(objective, space_, journal=path, max_trials=6, max_resource=3, n_workers=2,
                seed=0, max_jobs=4)
    s.run()
    assert s.state == "finished" and s.executor.virtual
    resumed = Search.from_journal(path, objective, max_jobs=None)
    resumed.run()
    return s, resumed


@pytest.mark.parametrize("options", [
    [float("nan"), 1.0],
    [np.zeros(2), np.ones(2)],
    [Opaque(0), Opaque(1)],
    [frozenset({"a", "b", "c"}), ("t", float("nan"))],
], ids=["nan", "numpy-arrays", "objects", "containers"])
def test_a_journal_with_values_without_equality_resumes(tmp_path, options):
    path = tmp_path / "s.sqlite"
    first, resumed = _interrupted_then_resumed(path, {"c": space.choice(options)})
    assert resumed.state == "finished"
    df = resumed.results()
    assert len(df) > len(first.results())  # it went on past the job limit of the first run
    assert set(df.status) == {"ok"}


def test_add_trial_with_nan_unchecked_resumes(tmp_path):
    path = tmp_path / "s.sqlite"
    s = vsearch(objective, {"x": space.uniform(0, 1)}, journal=path, max_trials=6,
                max_resource=3, seed=0)
    tid = s.add_trial({"x": float("nan")}, check=False)
    s.run(until=2.0)
    s.stop()
    resumed = Search.from_journal(path, objective).run()
    assert resumed.state == "finished"
    cfg = resumed.trials.set_index("trial_id").loc[tid, "config_x"]
    assert cfg != cfg  # nan, read back from the journal


def test_the_canonical_encoding_is_not_equality():
    nan = float("nan")
    assert same_config({"a": nan}, {"a": float("nan")})
    assert same_config({"a": np.zeros(2)}, {"a": np.zeros(2)})
    assert not same_config({"a": np.zeros(2)}, {"a": np.zeros(3)})
    assert same_config({"a": Opaque(1)}, {"a": Opaque(1)})
    assert not same_config({"a": Opaque(1)}, {"a": Opaque(2)})
    assert not same_config({"a": 1}, {"a": 1, "b": 2})
    assert value_code({"z", "y", "x"}) == value_code({"x", "y", "z"})
    assert value_code(1) != value_code(1.0) and value_code(True) != value_code(1)


def test_a_replayed_config_that_differs_is_still_a_mismatch(tmp_path):
    # The comparison must still catch a real change of the space.
    from asha_nb.errors import JournalMismatchError
    from asha_nb.runtime import Journal

    path = tmp_path / "s.sqlite"
    vsearch(objective, {"c": space.choice([1.0, 2.0])}, journal=path, max_trials=3,
            max_resource=1, seed=0).run()
    j = Journal(path)  # rewrite one recorded config (as a damaged or foreign journal would)
    import pickle

    j._conn.execute("UPDATE events SET data=? WHERE kind='next_job' AND job_id=0",
                    (pickle.dumps({"c": 7.0}),))
    j.close()
    with pytest.raises(JournalMismatchError, match="config"):
        Search.from_journal(path, objective)


def test_lambdas_with_a_journal_are_refused_at_construction_naming_the_key(tmp_path):
    sp = {"lr": space.uniform(0, 1), "act": space.choice([lambda v: v, lambda v: -v])}
    with pytest.raises(InvalidParameterError, match=r"space\['act'\].*journal.*pickle"):
        Search(objective, sp, journal=tmp_path / "s.sqlite", max_trials=3, max_resource=1,
               executor=SimulatedExecutor(cost=1.0))
    assert not (tmp_path / "s.sqlite.lock").exists()  # the journal was not left locked
    # Without a journal, threads run them: nothing to refuse.
    s = vsearch(lambda c, r: c["act"](c["lr"]), sp, max_trials=3, max_resource=1, seed=0)
    assert s.run().state == "finished"


def test_a_lock_as_a_fixed_value_with_a_journal_is_refused(tmp_path):
    with pytest.raises(InvalidParameterError, match=r"space\['lock'\]: fixed value"):
        vsearch(objective, {"x": space.uniform(0, 1), "lock": threading.Lock()},
                journal=tmp_path / "s.sqlite", max_trials=3, max_resource=1)


def test_add_trial_of_a_value_the_journal_cannot_store_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "s.sqlite"
    s = vsearch(objective, {"x": space.uniform(0, 1)}, journal=path, max_trials=3,
                max_resource=1, seed=0)
    with pytest.raises(InvalidParameterError, match=r"add_trial config\['x'\].*journal"):
        s.add_trial({"x": threading.Lock()}, check=False)
    assert s.scheduler.n_trials == 0  # nothing was added nor journaled
    assert s.run().state == "finished"
    assert Search.from_journal(path, objective).scheduler.n_trials == s.scheduler.n_trials


def _module_level(v):
    return v


@pytest.mark.parametrize("make", [
    lambda: "process",
    lambda: cf.ProcessPoolExecutor(1),
], ids=["process", "ProcessPoolExecutor"])
def test_values_a_process_cannot_receive_are_refused_at_construction(make):
    executor = make()
    try:
        with pytest.raises(InvalidParameterError,
                           match=r"space\['act'\].*worker processes.*pickle"):
            Search(objective, {"act": space.choice([lambda v: v, _module_level])},
                   executor=executor, max_trials=3, max_resource=1)
        # A module-level function travels: accepted (nothing is started here).
        s = Search(objective, {"act": space.choice([_module_level])}, executor=executor,
                   max_trials=3, max_resource=1)
        assert s.state == "created"
        with pytest.raises(InvalidParameterError, match=r"add_trial config\['act'\]"):
            s.add_trial({"act": lambda v: v}, check=False)
    finally:
        if isinstance(executor, cf.Executor):
            executor.shutdown()
