"""Kill -9 a journaled multi-worker search again and again; resume it each time (issue 10,
"fault tests to keep").

Four process workers; the objective raises, returns NaN, kills its worker (``os._exit``) and
hangs past ``job_timeout``. The whole search process is killed with SIGKILL at random points
(sometimes with its workers, sometimes alone, leaving orphaned workers behind) and a fresh
process continues it with ``Search.from_journal``, until one run finishes. After every kill the
journal is read (read-only, no lock) and checked:

- no ok result seen before a kill is lost or changed,
- no (trial, rung) is ok twice and no job reported twice,
- no trial skips a rung (a job at rung k > 0 follows a finite ok result at rung k - 1),

and the search finishes with every trial accounted for and every fault recorded as what it was.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import _kill_multi_target as target
from _polling import until

from asha_nb.runtime.journal import Journal, JournalError

HERE = Path(__file__).parent
SCRIPT = str(HERE / "_kill_multi_target.py")
N_KILLS = 8


def _n_reports(path: Path) -> int:
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM events WHERE kind='report'").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        con.close()


def _journal_results(path: Path) -> dict[int, tuple[int, int, str]]:
    """``job_id -> (trial_id, rung, repr(value))`` of every ok result in the journal, after
    checking the journal's own invariants."""
    if not path.exists():
        return {}
    try:
        j = Journal.read(path)  # no lock needed (and none is held: the writer was killed)
    except JournalError as exc:  # killed before the tables existed
        assert "empty" in str(exc), exc
        return {}
    with j:
        rows = list(j.rows())
    jobs: dict[int, tuple[int, int]] = {}
    ok: dict[int, tuple[int, int, str]] = {}
    finite: set[tuple[int, int]] = set()
    for row in rows:
        if row.kind == "next_job":
            assert row.job_id not in jobs, f"job {row.job_id} handed out twice"
            if row.rung > 0:
                assert (row.trial_id, row.rung - 1) in finite, (
                    f"trial {row.trial_id} skipped rung {row.rung - 1}")
            jobs[row.job_id] = (row.trial_id, row.rung)
        elif row.kind == "report":
            assert row.job_id not in ok, f"job {row.job_id} reported twice"
            trial, rung = jobs[row.job_id]
            ok[row.job_id] = (trial, rung, repr(row.value))
            if row.value is not None and math.isfinite(row.value):
                finite.add((trial, rung))
    pairs = [(t, r) for t, r, _ in ok.values()]
    assert len(pairs) == len(set(pairs)), "a (trial, rung) is ok twice"
    return ok


def _kill(proc: subprocess.Popen, whole_group: bool) -> None:
    if whole_group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:  # the main process only: its workers are orphaned and keep running a while
        os.kill(proc.pid, signal.SIGKILL)


def test_kill_and_resume_a_multi_worker_search_with_faults(tmp_path):
    rng = random.Random(2026)
    path = tmp_path / "k.sqlite"
    out = tmp_path / "out.json"
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, SCRIPT, str(path), str(out), str(marks)]
    groups: list[int] = []
    seen: dict[int, tuple[int, int, str]] = {}
    kills = 0
    try:
        for _ in range(N_KILLS):
            before = _n_reports(path)
            log = tmp_path / f"run{len(groups)}.log"
            with open(log, "w") as fh:
                proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=fh)
            groups.append(proc.pid)
            goal = before + rng.choice([0, 1, 2, 4, 6, 9])  # 0: kill during start-up
            until(lambda: proc.poll() is not None or _n_reports(path) >= goal, 60,  # noqa: B023 - called at once
                  every=0.005)
            time.sleep(rng.uniform(0, 0.3))  # mid-job, mid-write, between jobs
            if proc.poll() is None:
                _kill(proc, whole_group=rng.random() < 0.5)
                kills += 1
            code = proc.wait(30)
            assert code in (0, -signal.SIGKILL), f"run failed ({code}):\n{log.read_text()}"
            now = _journal_results(path)
            lost = {j: v for j, v in seen.items() if now.get(j) != v}
            assert not lost, f"results lost or changed by a kill: {lost}"
            seen = now
            if out.exists():
                break
        assert kills >= 3
        if not out.exists():
            log = tmp_path / "last.log"
            with open(log, "w") as fh:
                proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=fh)
            groups.append(proc.pid)
            assert proc.wait(180) == 0, log.read_text()
    finally:
        for pgid in groups:  # orphaned workers of the killed runs
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    final = json.loads(out.read_text())
    assert final["state"] == "finished"
    assert final["n_trials"] == target.OPTIONS["max_trials"]
    journal_ok = _journal_results(path)
    assert all(journal_ok.get(j) == v for j, v in seen.items())

    recs = final["records"]
    by_job = {r["job_id"]: r for r in recs}
    assert sorted(by_job) == list(range(len(recs)))
    for j, (trial, rung, value) in seen.items():  # every result seen before a kill, unchanged
        r = by_job[j]
        assert (r["trial_id"], r["rung"], r["status"], r["value"]) == (trial, rung, "ok", value)
    ok = [(r["trial_id"], r["rung"]) for r in recs if r["status"] == "ok"]
    assert len(ok) == len(set(ok)) == len(journal_ok)
    assert {r["status"] for r in recs} <= {"ok", "failed"}  # nothing left running/interrupted
    finite_ok = {(r["trial_id"], r["rung"]) for r in recs if r["status"] == "ok"
                 and math.isfinite(float(r["value"]))}
    for r in recs:
        if r["rung"] > 0:
            assert (r["trial_id"], r["rung"] - 1) in finite_ok

    # Each fault is recorded as what it was.
    kinds = {r["job_id"]: target.fault(r["x"]) for r in recs}
    for r in recs:
        kind = kinds[r["job_id"]]
        if kind == "raise":
            assert r["status"] == "failed" and "ValueError: injected error" in r["error"]
        elif kind == "nan":
            assert r["status"] == "ok" and r["value"] == "nan"
            assert r["error"] == "objective returned nan"
        elif kind == "hang" and r["rung"] == 0:
            assert r["status"] == "failed" and r["error"].startswith("timed out after 2 s")
        elif kind == "exit":  # crashed once, then the retry succeeded (or the crash was cut)
            assert r["status"] == "ok", r
            assert r["value"] == repr(target.value_of(r["x"], 3 ** r["rung"]))
        else:
            assert r["status"] == "ok" and r["value"] == repr(target.value_of(r["x"],
                                                                            3 ** r["rung"]))
    assert {"raise", "nan", "hang", "exit"} <= set(kinds.values())
    assert list(marks.iterdir())  # workers really died
    assert any(r["attempts"] == 2 for r in recs if kinds[r["job_id"]] == "exit")
