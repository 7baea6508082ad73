"""Journal paths that cannot be used give one clear error and change nothing (issue 10, item 13).

Each case used to give a raw ``sqlite3`` / ``KeyError`` / ``TypeError``, and resuming a file
that is not a journal added ``meta``/``events`` tables to it.
"""

from __future__ import annotations

import errno
import os
import pickle
import sqlite3
import stat
from pathlib import Path

import pytest

from asha_nb import space
from asha_nb.errors import AshaError, InvalidParameterError
from asha_nb.runtime import Search
from asha_nb.runtime.journal import Journal, JournalError, JournalMismatchError

SP = {"x": space.uniform(0.0, 1.0)}
OPTS = dict(max_trials=4, max_resource=3, reduction_factor=3, seed=0, progress=False)


def objective(config, resource):
    return config["x"] * resource


def _finished_journal(path: Path) -> Path:
    Search(objective, SP, journal=path, **OPTS).run()
    return path


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_clear_error(exc: BaseException, path: object) -> None:
    assert type(exc) is JournalError, f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, AshaError) and isinstance(exc, InvalidParameterError)
    assert isinstance(exc, ValueError)
    assert repr(str(path)) in str(exc) or str(path) in str(exc)


# ------------------------------------------------------------------------ paths
def test_empty_path_is_refused_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JournalError, match=r"got '' \(an empty path\).*journal=None") as info:
        Search(objective, SP, journal="", **OPTS)
    assert isinstance(info.value, ValueError)
    with pytest.raises(JournalError, match="empty path"):
        Search.from_journal("", objective)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("trailing", [False, True])
def test_a_folder_is_refused_naming_a_file_inside_it(tmp_path, trailing):
    folder = tmp_path / "runs"
    folder.mkdir()
    given = str(folder) + (os.sep if trailing else "")
    for call in (lambda: Search(objective, SP, journal=given, **OPTS),
                 lambda: Search.from_journal(given, objective)):
        with pytest.raises(JournalError) as info:
            call()
        _one_clear_error(info.value, given)
        assert os.path.join(str(folder), "search.sqlite") in str(info.value)
    assert list(folder.iterdir()) == []


def test_a_folder_that_cannot_be_created_is_refused(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where the journal's folder should be")
    path = blocker / "runs" / "s.sqlite"
    with pytest.raises(JournalError, match="cannot create the folder") as info:
        Search(objective, SP, journal=path, **OPTS)
    _one_clear_error(info.value, path)
    assert "a folder you can write" in str(info.value)


def test_a_read_only_folder_is_refused_with_the_fix(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        if os.geteuid() == 0:
            # root ignores the folder's mode: let the OS answer as it does for everyone else.
            real_open = os.open

            def refusing_open(path, flags, *args, **kwargs):
                if str(path).startswith(str(folder)) and flags & os.O_CREAT:
                    raise PermissionError(errno.EACCES, "Permission denied", str(path))
                return real_open(path, flags, *args, **kwargs)

            monkeypatch.setattr(os, "open", refusing_open)
        path = folder / "s.sqlite"
        with pytest.raises(JournalError, match="cannot write in the folder") as info:
            Search(objective, SP, journal=path, **OPTS)
        _one_clear_error(info.value, path)
        assert "PermissionError" in str(info.value) and str(folder) in str(info.value)
        assert "a folder you can write" in str(info.value)
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_a_resume_of_a_missing_file_names_it(tmp_path):
    path = tmp_path / "nope.sqlite"
    with pytest.raises(JournalError, match="does not exist") as info:
        Search.from_journal(path, objective)
    _one_clear_error(info.value, path)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ files that are not journals
def _user_db(path: Path, wal: bool = False) -> Path:
    con = sqlite3.connect(path)
    if wal:  # readers of a WAL database normally leave -wal/-shm files beside it
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE measurements(t REAL, v REAL)")
    con.executemany("INSERT INTO measurements VALUES (?, ?)", [(1.0, 2.0), (2.0, 3.5)])
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("kind", ["user_db", "user_db_wal", "random", "text"])
def test_a_file_of_another_program_is_refused_and_left_unchanged(tmp_path, kind):
    path = tmp_path / "data.sqlite"
    if kind.startswith("user_db"):
        _user_db(path, wal=kind.endswith("wal"))
    elif kind == "random":
        path.write_bytes(os.urandom(8192))
    else:
        path.write_text("lr,score\n0.1,0.9\n")
    before = _folder_state(tmp_path)
    calls = {
        "Search(journal=)": lambda: Search(objective, SP, journal=path, **OPTS),
        "from_journal": lambda: Search.from_journal(path, objective),
        "Journal": lambda: Journal(path),
        "Journal.read": lambda: Journal.read(path),
    }
    for name, call in calls.items():
        with pytest.raises(JournalError) as info:
            call()
        _one_clear_error(info.value, path)
        assert "not an asha_nb journal" in str(info.value), name
        assert "left unchanged" in str(info.value), name
        assert _folder_state(tmp_path) == before, name  # no table, lock, -wal or -shm added
    if kind.startswith("user_db"):
        assert "tables: measurements" in str(info.value)
        con = sqlite3.connect(path)
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master")]
        con.close()
        assert names == ["measurements"]


def test_an_empty_file_cannot_be_resumed_but_can_start_a_search(tmp_path):
    path = tmp_path / "s.sqlite"
    path.touch()
    with pytest.raises(JournalError, match="empty file") as info:
        Search.from_journal(path, objective)
    _one_clear_error(info.value, path)
    assert path.stat().st_size == 0 and [p.name for p in tmp_path.iterdir()] == ["s.sqlite"]
    s = Search(objective, SP, journal=path, **OPTS).run()  # e.g. a file from tempfile.mkstemp
    assert s.state == "finished"
    assert Search.from_journal(path, objective).state == "created"


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_a_truncated_journal_is_refused_and_left_unchanged(tmp_path, fraction):
    full = _finished_journal(tmp_path / "full.sqlite").read_bytes()
    path = tmp_path / "cut.sqlite"
    path.write_bytes(full[: int(len(full) * fraction) // 512 * 512 + 100])
    before = path.read_bytes()
    with pytest.raises(JournalError) as info:
        Search.from_journal(path, objective)
    _one_clear_error(info.value, path)
    assert "damaged" in str(info.value)
    assert path.read_bytes() == before


def test_a_journal_without_its_meta_row(tmp_path):
    path = tmp_path / "s.sqlite"
    Journal(path).close()  # tables, no search: what a search that died in its constructor left
    with pytest.raises(JournalError, match="no meta row") as info:
        Search.from_journal(path, objective)
    _one_clear_error(info.value, path)
    assert "Search(objective, space, journal=path)" in str(info.value)
    assert Search(objective, SP, journal=path, **OPTS).run().state == "finished"  # reusable

    other = _finished_journal(tmp_path / "t.sqlite")
    con = sqlite3.connect(other)
    con.execute("DELETE FROM meta WHERE key='scheduler_class'")
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="no meta row"):
        Search.from_journal(other, objective)


@pytest.mark.parametrize("key,value,match", [
    ("space", b"not a pickle", "meta row .* cannot be decoded"),
    ("scheduler_class", b"asha_nb.nowhere:Gone", "meta row .* cannot be decoded"),
    ("version", b"1", "format version 1"),
])
def test_a_damaged_meta_row_is_one_clear_error(tmp_path, key, value, match):
    path = _finished_journal(tmp_path / "s.sqlite")
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value=? WHERE key=?", (value, key))
    con.commit()
    con.close()
    with pytest.raises(JournalError, match=match) as info:
        Search.from_journal(path, objective)
    _one_clear_error(info.value, path)
    assert not (tmp_path / "s.sqlite.lock").exists()  # released on the error


def test_a_damaged_row_is_one_clear_error(tmp_path):
    path = _finished_journal(tmp_path / "s.sqlite")
    con = sqlite3.connect(path)
    con.execute("UPDATE events SET data=? WHERE kind='next_job' AND job_id=1", (b"\x80garbage",))
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="row .* cannot be decoded") as info:
        Search.from_journal(path, objective)
    _one_clear_error(info.value, path)


def test_a_journal_written_by_two_searches_is_a_replay_error_not_a_raw_one(tmp_path):
    """What two writers left before the lock: a report for a job that is not running."""
    path = _finished_journal(tmp_path / "s.sqlite")
    with Journal(path) as j:
        first = next(r for r in j.rows() if r.kind == "report")
        j.append("report", time=99.0, job_id=first.job_id, trial_id=first.trial_id, value=0.5)
    with pytest.raises(JournalMismatchError, match="does not replay: row") as info:
        Search.from_journal(path, objective)
    assert "two searches at once" in str(info.value)


def test_reading_rows_of_a_nonfinite_value_round_trips(tmp_path):
    path = tmp_path / "s.sqlite"
    with Journal(path) as j:
        j.append("report", time=1.0, job_id=0, trial_id=0, value=float("-inf"))
        j.append("report", time=2.0, job_id=1, trial_id=1, value=0.25, data={"a": 1})
    with Journal.read(path) as r:
        rows = list(r.rows())
        assert [row.value for row in rows] == [float("-inf"), 0.25]
        assert rows[1].data == {"a": 1}
        assert not r.is_open  # read-only
        with pytest.raises(AshaError, match="read-only"):
            r.append("control", time=3.0, text="pause")
    assert pickle.loads(pickle.dumps(rows[0])) == rows[0]
