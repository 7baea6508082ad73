"""One writer per journal (issue 10, item 1).

Two processes driving one journal used to run the same jobs twice and leave a journal that no
resume could replay. A journal now has an operating-system lock (``<journal>.lock``) held by
its writer until the search ends; the lock dies with its process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
from _journal_worker import COMMAND, slow
from _polling import until as _until

from asha_nb import space
from asha_nb.runtime import Search
from asha_nb.runtime.journal import Journal, JournalError, JournalLockedError

HERE = Path(__file__).parent
SP = {"x": space.uniform(0.0, 1.0)}


def _env() -> dict[str, str]:
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


def _n_reports(path: Path) -> int:
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM events WHERE kind='report'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _start_holder(tmp_path: Path, journal: Path, *extra: str) -> tuple[subprocess.Popen, dict]:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([*COMMAND, "hold", str(journal), str(ready), *extra],
                            env=_env())
    assert _until(lambda: ready.exists() or proc.poll() is not None, 60), "holder did not start"
    assert proc.poll() is None, "holder exited"
    assert _until(lambda: _n_reports(journal) >= 2, 60)
    return proc, json.loads(ready.read_text())


def test_second_writer_in_this_process_is_refused_until_the_first_ends(tmp_path):
    path = tmp_path / "s.sqlite"
    s = Search(slow, SP, journal=path, max_trials=30, max_resource=9, seed=0, progress=False)
    s.start()
    try:
        assert _until(lambda: _n_reports(path) >= 2)
        with pytest.raises(JournalLockedError) as info:
            Search.from_journal(path, slow)
        msg = str(info.value)
        assert str(path) in msg and f"process {os.getpid()}" in msg
        assert repr(socket.gethostname()) in msg and "since" in msg
        assert "search.stop()" in msg
        assert info.value.holder["pid"] == os.getpid()
        assert isinstance(info.value, JournalError) and isinstance(info.value, RuntimeError)
        with pytest.raises(JournalLockedError):
            Journal(path)
        # reading needs no lock
        with Journal.read(path) as r:
            assert any(row.kind == "report" for row in r.rows())
    finally:
        s.stop()
    assert s.state == "stopped"
    assert not (tmp_path / "s.sqlite.lock").exists()  # released (and removed) on close
    r = Search.from_journal(path, slow).run()
    assert r.state == "finished"
    assert len(r.results()) == len(r.records()) >= 30


def test_a_created_search_holds_its_journal_until_it_is_stopped(tmp_path):
    path = tmp_path / "s.sqlite"
    s = Search(slow, SP, journal=path, max_trials=3, max_resource=1, progress=False)
    with pytest.raises(JournalLockedError, match="already open for writing in this process"):
        Search.from_journal(path, slow)
    s.stop()  # before it started: ends it and closes its journal
    assert Search.from_journal(path, slow).run().state == "finished"


def test_second_writer_in_another_process_is_refused_and_the_journal_survives(tmp_path):
    """The issue's case: resume a journal while another process still runs it."""
    path = tmp_path / "s.sqlite"
    proc, ready = _start_holder(tmp_path, path)
    try:
        with pytest.raises(JournalLockedError) as info:
            Search.from_journal(path, slow)
        msg = str(info.value)
        assert f"process {proc.pid} on host {socket.gethostname()!r}" in msg
        assert "-c hold" in msg and "since" in msg
        assert info.value.holder["pid"] == proc.pid == ready["pid"]
        # A new search on the same path: refused, and the holder is named too.
        with pytest.raises(JournalLockedError, match=f"process {proc.pid}"):
            Search(slow, SP, journal=path)
        with Journal.read(path) as r:  # reading needs no lock
            n_rows = len(list(r.rows()))
        assert n_rows > 0
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    # The killed holder's lock died with it: the journal resumes (it was not damaged).
    s = Search.from_journal(path, slow, max_jobs=40)
    s.run()
    assert s.state == "finished"
    jobs = [r.job_id for r in s.records()]
    assert jobs == sorted(set(jobs))


def test_the_lock_of_a_killed_process_never_blocks_a_resume_even_with_a_forked_child(tmp_path):
    """A forked child (a worker) inherits the parent's descriptors and outlives it: the lock
    must still die with the process that took it."""
    path = tmp_path / "s.sqlite"
    proc, ready = _start_holder(tmp_path, path, "fork")
    child = ready["child"]
    assert child > 0
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        os.kill(child, 0)  # the child still runs, holding copies of every descriptor
        assert (tmp_path / "s.sqlite.lock").exists()  # a stale lock file does not matter
        s = Search.from_journal(path, slow, max_jobs=30)
        with pytest.raises(JournalLockedError):  # the resumed search holds it now
            Journal(path)
        s.run()
        assert s.state == "finished"
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_second_process_is_refused_while_the_first_holds_the_new_journal(tmp_path):
    """The lock without a race: the first process has built its journaled search (and holds
    the lock) when the second tries; the second must be refused, whatever the timing. Without
    the lock both would write the journal."""
    path = tmp_path / "held.sqlite"
    created, release = tmp_path / "created", tmp_path / "release"
    out1, out2 = tmp_path / "first.json", tmp_path / "second.json"
    p1 = subprocess.Popen([*COMMAND, "first", str(path), str(created), str(release), str(out1)],
                          env=_env())
    p2 = subprocess.Popen([*COMMAND, "second", str(path), str(created), str(out2)], env=_env())
    try:
        assert p2.wait(120) == 0  # it ran its attempt while the first waited
        second = json.loads(out2.read_text())
        assert p1.poll() is None and not out1.exists()  # the first still holds the journal
        assert second["ok"] is False and second["error"] == "JournalLockedError", second
        assert "being written by another search" in second["message"]
        assert f"process {json.loads(created.read_text())['pid']}" in second["message"]
    finally:
        release.write_text("go")
        assert p1.wait(120) == 0
    first = json.loads(out1.read_text())
    assert first["ok"] and first["state"] == "finished", first
    s = Search.from_journal(path, slow)
    assert len(s.records()) == first["n_jobs"]
    s.stop()


def test_two_processes_creating_one_journal_at_once_one_wins(tmp_path):
    path = tmp_path / "race.sqlite"
    go = tmp_path / "go"
    outs = [tmp_path / f"out{i}.json" for i in range(2)]
    procs = [subprocess.Popen([*COMMAND, "create", str(path), str(go), str(o)],
                              env=_env()) for o in outs]
    waiting = [Path(f"{o}.waiting") for o in outs]  # both wait at the barrier
    assert _until(lambda: all(w.exists() for w in waiting) or any(p.poll() is not None
                                                                 for p in procs), 120)
    assert all(p.poll() is None for p in procs), "a process ended before the barrier"
    go.write_text("go")
    for p in procs:
        assert p.wait(120) == 0
    results = [json.loads(o.read_text()) for o in outs]
    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1 and len(losers) == 1, results
    loser = losers[0]
    # One clear error: either the winner still held the lock, or it had already finished.
    assert loser["error"] in ("JournalLockedError", "JournalError"), loser
    assert "InvalidParameterError" in loser["mro"]
    assert str(path) in loser["message"]
    assert ("being written by another search" in loser["message"]
            or "already holds a search" in loser["message"])
    assert winners[0]["state"] == "finished"
    # The journal holds exactly one search, and replays.
    s = Search.from_journal(path, slow)
    assert s.state == "created" and len(s.records()) == winners[0]["n_jobs"]
    s.stop()
