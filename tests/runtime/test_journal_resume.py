from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import _kill_target as kt
import pytest
from _polling import until

from asha_nb.errors import InvalidParameterError
from asha_nb.runtime import Journal, Search
from asha_nb.runtime.journal import JournalMismatchError

HERE = Path(__file__).parent


def _reports(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT job_id, trial_id, value FROM events WHERE kind='report'").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def test_stop_then_resume_in_process_matches_uninterrupted(tmp_path):
    ref = Search(kt.objective, kt.SPACE, **kt.OPTIONS).run()
    path = tmp_path / "s.sqlite"
    s = Search(kt.objective, kt.SPACE, journal=path, **kt.OPTIONS)
    s.start()
    assert until(lambda: len(_reports(path)) >= 5, 30)
    s.stop()
    assert s.state == "stopped"
    with pytest.raises(InvalidParameterError, match="already holds a search"):
        Search(kt.objective, kt.SPACE, journal=path)
    r = Search.from_journal(path, kt.objective)
    assert r.state == "created"
    r.run()
    assert r.state == "finished"
    assert kt.rungs(r) == kt.rungs(ref)
    ckpts = list((tmp_path / "s.sqlite.checkpoints").glob("*.pkl"))
    assert ckpts
    jobs = [j for j, _, _ in _reports(path)]
    assert len(jobs) == len(set(jobs))


def test_resume_rejects_changed_space(tmp_path):
    path = tmp_path / "s.sqlite"
    Search(kt.objective, kt.SPACE, journal=path, **{**kt.OPTIONS, "max_trials": 3}).run()
    con = sqlite3.connect(path)
    import cloudpickle

    from asha_nb import space
    con.execute("UPDATE meta SET value=? WHERE key='space'",
                (cloudpickle.dumps(space.Space({"x": space.uniform(5, 6), "y": space.choice([1])})),))
    con.commit()
    con.close()
    with pytest.raises(JournalMismatchError, match="does not replay"):
        Search.from_journal(path, kt.objective)
    with pytest.raises(InvalidParameterError, match="overrides"):
        Search.from_journal(path, kt.objective, seed=3)


def test_kill_and_resume_loses_nothing_and_matches_uninterrupted(tmp_path):
    rng = random.Random(1234)
    ref_out = tmp_path / "ref.json"
    path = tmp_path / "k.sqlite"
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    script = str(HERE / "_kill_target.py")
    ref = subprocess.Popen([sys.executable, script, str(tmp_path / "none"), "plain", str(ref_out)], env=env)

    seen: set[tuple[int, int, float]] = set()
    kills = 0
    mode = "fresh"
    for _ in range(4):
        before = len(_reports(path))
        proc = subprocess.Popen([sys.executable, script, str(path), mode, str(out)], env=env)
        goal = before + rng.randint(1, 4)
        until(lambda: proc.poll() is not None or len(_reports(path)) >= goal, 60,  # noqa: B023 - called at once
              every=0.005)
        time.sleep(rng.uniform(0, 0.03))  # land mid-job, mid-write or between jobs
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
        rows = _reports(path)
        assert set(map(tuple, rows)) >= seen  # no completed result lost
        seen = set(map(tuple, rows))
        mode = "resume"
        if out.exists():
            break
    assert kills >= 2
    if not out.exists():
        subprocess.run([sys.executable, script, str(path), "resume", str(out)], env=env, check=True,
                       timeout=120)
    ref.wait(120)
    final = json.loads(out.read_text())
    expected = json.loads(ref_out.read_text())
    assert final["state"] == "finished"
    assert final["rungs"] == expected["rungs"]
    rows = _reports(path)
    jobs = [j for j, _, _ in rows]
    assert len(jobs) == len(set(jobs))  # no result counted twice
    trial_rungs = [(t, v) for _, t, v in rows]
    n_final = sum(len(v) for v in final["rungs"].values())
    assert len(trial_rungs) == n_final
    Journal(path).close()


def test_resume_of_an_unseeded_search_replays_its_random_state(tmp_path):
    """seed=None: the journal keeps the generator's initial state, so replay is still exact."""
    from asha_nb import ASHA, space
    from asha_nb.executors import SimulatedExecutor

    def objective(config, resource):
        return config["x"] * resource

    sp = {"x": space.uniform(0, 1)}
    path = tmp_path / "unseeded.sqlite"
    s = Search(objective, sp, journal=path, executor=SimulatedExecutor(cost=1.0),
               max_trials=12, max_resource=9, n_workers=1, progress=False)  # no seed
    s.at(8.5).stop()  # virtual time: mid-search, a few results in
    s.run()
    assert s.state == "stopped" and 4 <= len(_reports(path)) < 12
    before = {r.trial_id: r.config for r in s.records()}
    # raised JournalMismatchError before the fix
    r = Search.from_journal(path, objective, executor=SimulatedExecutor(cost=1.0))
    r.run()
    assert r.state == "finished"
    after = {rec.trial_id: rec.config for rec in r.records()}
    assert all(after[t] == c for t, c in before.items())
    assert len(after) == 12

    used = ASHA(sp, min_resource=1, max_resource=9, seed=0)
    used.next_job()
    with pytest.raises(InvalidParameterError, match="must be fresh"):
        Search(objective, scheduler=used, journal=tmp_path / "used.sqlite")
