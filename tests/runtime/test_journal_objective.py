"""Resuming with another objective is refused unless asked for (issue 10, item 5).

The journal stores the objective's fingerprint (qualified name and source hash);
``Search.from_journal`` compares it with the objective it is given.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from _journal_worker import COMMAND

from asha_nb import space
from asha_nb.errors import InvalidParameterError
from asha_nb.runtime import Search, objective_fingerprint

HERE = Path(__file__).parent
SP = {"x": space.uniform(0.0, 1.0)}
OPTS = dict(max_trials=9, max_resource=9, reduction_factor=3, seed=4, n_workers=2,
            progress=False)


def score(config, resource):
    return round(config["x"] * resource, 9)


def broken_score(config, resource):
    return -1000.0


def _events(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT * FROM events ORDER BY seq").fetchall()
    finally:
        con.close()


def _run(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([*COMMAND, *args[:1], *args[1:2], str(out), *args[2:]], env=env, check=True,
                   timeout=120)
    return json.loads(out.read_text())


def test_the_journal_keeps_the_objective_fingerprint(tmp_path):
    path = tmp_path / "s.sqlite"
    Search(score, SP, journal=path, max_jobs=4, **OPTS).run()
    s = Search.from_journal(path, score)
    assert s.state == "created"
    s.stop()
    fp = objective_fingerprint(score)
    assert fp["name"].endswith("test_journal_objective.score") and len(fp["source_sha256"]) == 16
    assert objective_fingerprint(broken_score)["source_sha256"] != fp["source_sha256"]


def test_resume_with_another_objective_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "s.sqlite"
    first = Search(score, SP, journal=path, max_jobs=4, **OPTS).run()
    rows = _events(path)
    with pytest.raises(InvalidParameterError) as info:
        Search.from_journal(path, broken_score)
    msg = str(info.value)
    assert "broken_score" in msg and "score" in msg.replace("broken_score", "")
    assert "allow_other_objective=True" in msg and "mix results" in msg
    assert _events(path) == rows  # nothing written
    assert not (tmp_path / "s.sqlite.lock").exists()  # and the lock released

    # The same objective resumes, and finishes.
    r = Search.from_journal(path, score).run()
    assert r.state == "finished"
    done = {rec.job_id: rec.value for rec in first.records() if rec.status == "ok"}
    assert {rec.job_id: rec.value for rec in r.records() if rec.job_id in done} == done


def test_allow_other_objective_mixes_on_purpose(tmp_path):
    path = tmp_path / "s.sqlite"
    first = Search(score, SP, journal=path, max_jobs=4, **OPTS).run()
    done = {rec.job_id: rec.value for rec in first.records() if rec.status == "ok"}
    r = Search.from_journal(path, broken_score, allow_other_objective=True,
                            max_jobs=None).run()
    assert r.state == "finished"
    values = {rec.job_id: rec.value for rec in r.records()}
    assert {j: values[j] for j in done} == done  # the old results are kept as they were
    assert -1000.0 in values.values()  # the new objective ran


def test_resume_from_a_new_process_with_the_same_objective_works(tmp_path):
    """A restarted interpreter: same function imported from the same module."""
    path = str(tmp_path / "s.sqlite")
    fresh = _run(tmp_path, "fresh", path)
    assert fresh["ok"] and fresh["n_jobs"] == 6
    other = _run(tmp_path, "other", path)
    assert not other["ok"] and other["error"] == "InvalidParameterError"
    assert "other_objective" in other["message"] and "allow_other_objective" in other["message"]
    resumed = _run(tmp_path, "resume", path)
    assert resumed["ok"] and resumed["state"] == "finished" and resumed["n_jobs"] > 6
    assert set(fresh["values"]) <= set(resumed["values"])
    assert min(resumed["values"]) >= 0  # no value of another objective


def test_resume_of_an_objective_defined_in_a_notebook_cell(tmp_path):
    """A kernel restart: the objective is defined again in a cell (IPython keeps its source)."""
    path = str(tmp_path / "s.sqlite")
    fresh = _run(tmp_path, "ipython", path, "fresh")
    assert fresh["ok"], fresh
    changed = _run(tmp_path, "ipython", path, "changed")  # same name, edited body
    assert not changed["ok"] and changed["error"] == "InvalidParameterError"
    assert "source hash" in changed["message"]
    resumed = _run(tmp_path, "ipython", path, "resume")
    assert resumed["ok"] and resumed["state"] == "finished", resumed
    assert set(fresh["values"]) <= set(resumed["values"]) and min(resumed["values"]) >= 0


def test_fingerprints_of_partials_instances_and_scripts():
    import functools

    from asha_nb.runtime._options import same_objective

    a = objective_fingerprint(functools.partial(score, resource=3))
    b = objective_fingerprint(functools.partial(score, resource=5))
    c = objective_fingerprint(functools.partial(broken_score, resource=3))
    assert a["name"].endswith("score") and a["source_sha256"]
    assert not same_objective(a, b), "partials with other bound arguments must differ"
    assert not same_objective(a, c)
    assert same_objective(a, objective_fingerprint(functools.partial(score, resource=3)))

    class Trainer:
        def __call__(self, config, resource):
            return config["x"]

    inst = objective_fingerprint(Trainer())
    assert inst["name"].endswith("Trainer") and inst["source_sha256"]
    # A script run as __main__ resumed by importing it as a module: same code, same objective.
    as_main = dict(a, module="__main__", name="__main__." + a["qualname"])
    assert same_objective(as_main, a) and same_objective(a, as_main)
    assert not same_objective(dict(c, module="__main__"), a)


def test_a_virtual_journal_is_resumed_in_virtual_time_only(tmp_path):
    from asha_nb.executors import SimulatedExecutor

    path = tmp_path / "v.sqlite"
    s = Search(score, SP, journal=path, executor=SimulatedExecutor(cost=2.0, seed=3),
               **{k: v for k, v in OPTS.items() if k != "n_workers"}, n_workers=2)
    s.at(7.0).stop()
    s.run()
    with pytest.raises(InvalidParameterError, match="virtual time.*SimulatedExecutor"):
        Search.from_journal(path, score, executor="thread")
    r = Search.from_journal(path, score)  # the stored cost model comes back
    assert r.virtual and r.executor.cost == 2.0 and r.executor.seed == 3
    r.run()
    assert r.state == "finished"
    path2 = tmp_path / "real.sqlite"
    s2 = Search(score, SP, journal=path2, **OPTS)
    s2.stop()
    with pytest.raises(InvalidParameterError, match="real time"):
        Search.from_journal(path2, score, executor=SimulatedExecutor())
