"""The files of a journal: path checks that never modify what they look at, and the lock that
gives a journal one writer at a time (see :mod:`asha_nb.runtime.journal`)."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import sqlite3
import sys
import threading
import time as _time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, InvalidTypeError, JournalError, JournalLockedError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SQLITE_MAGIC", "EVENT_COLUMNS", "NEW_JOURNAL_FIX", "journal_path", "Contents", "ro_uri",
           "inspect_file", "describe_holder", "WriterLock", "folder_error", "raise_if_locked",
           "check_resumable", "write_checkpoint", "read_checkpoint"]

SQLITE_MAGIC = b"SQLite format 3\x00"
EVENT_COLUMNS = ("seq", "time", "kind", "job_id", "trial_id", "rung", "value", "text", "data")
NEW_JOURNAL_FIX = "pass a new path (e.g. 'runs/search.sqlite') to start a journaled search"


def journal_path(path: Any) -> Path:
    """``path`` as a :class:`Path`, or a clear error for what cannot be a journal path."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(
            f"journal must be a file path (str or pathlib.Path) such as 'runs/search.sqlite'; "
            f"got {type(path).__name__}: {path!r:.80}")
    raw = os.fspath(path)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if not raw.strip():
        raise JournalError(
            f"journal must be a file path such as 'runs/search.sqlite'; got {raw!r} (an empty "
            "path). Pass journal=None (the default) for a search without a journal")
    if raw.endswith(("/", os.sep)):
        raise JournalError(
            f"journal {raw!r} names a folder (it ends with a separator); pass a file path inside "
            f"it, e.g. {os.path.join(raw, 'search.sqlite')!r}")
    p = Path(raw).expanduser()
    if p.is_dir():
        raise JournalError(
            f"journal {raw!r} is a folder, not a file; pass a file path inside it, e.g. "
            f"{str(p / 'search.sqlite')!r}")
    return p


@dataclass(frozen=True)
class Contents:
    """What a read-only look at a journal path found."""

    exists: bool
    journal: bool  # holds the journal's tables (else: missing, empty file or empty database)
    has_meta: bool = False
    n_events: int = 0


def ro_uri(path: Path, immutable: bool = False) -> str:
    # immutable=1: no locking and no -wal/-shm files created beside someone else's database;
    # only right when no -wal file holds part of the database.
    return ("file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"
            + ("&immutable=1" if immutable else ""))


def inspect_file(path: Path) -> Contents:
    """Look at ``path`` without changing it; raise :class:`JournalError` if it exists and is not
    an asha_nb journal (nor an empty file / empty SQLite database)."""
    try:
        size = path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return Contents(False, False)
    except OSError as exc:
        raise JournalError(f"journal {str(path)!r} cannot be read ({type(exc).__name__}: {exc})") from exc
    left = "It was left unchanged; " + NEW_JOURNAL_FIX + ", or the file your search wrote."
    wal = path.with_name(path.name + "-wal")
    if size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        return Contents(True, False)
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise JournalError(
            f"journal {str(path)!r} cannot be read ({type(exc).__name__}: {exc}); check its "
            "permissions") from exc
    if size and head != SQLITE_MAGIC:
        raise JournalError(
            f"{str(path)!r} is not an asha_nb journal: it is not an SQLite file (it starts with "
            f"{head[:8]!r}; a file of another program, or a journal that was overwritten). {left}")
    try:
        conn = sqlite3.connect(ro_uri(path, immutable=not wal.exists()), uri=True)
    except sqlite3.Error as exc:
        raise JournalError(
            f"journal {str(path)!r} cannot be opened (sqlite3: {exc}). {left}") from exc
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise JournalError(
                f"journal {str(path)!r} is damaged (SQLite integrity check: "
                f"{check[0] if check else 'no answer'}); it cannot be resumed. {left}")
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        if not tables:
            return Contents(True, False)
        cols = tuple(r[1] for r in conn.execute("PRAGMA table_info(events)"))
        meta_cols = [r[1] for r in conn.execute("PRAGMA table_info(meta)")]
        # A journal being created by another process may have only one of its tables yet.
        if not tables <= {"meta", "events"} or cols not in ((), EVENT_COLUMNS) or (
                meta_cols not in ([], ["key", "value"])):
            raise JournalError(
                f"{str(path)!r} is an SQLite database but not an asha_nb journal (tables: "
                f"{', '.join(sorted(tables))}). {left}")
        has_meta = "meta" in tables and conn.execute(
            "SELECT 1 FROM meta WHERE key='scheduler_class'").fetchone() is not None
        n_events = conn.execute("SELECT count(*) FROM events").fetchone()[0] if (
            "events" in tables) else 0
    except JournalError:
        raise
    except sqlite3.Error as exc:
        raise JournalError(
            f"journal {str(path)!r} cannot be read (sqlite3: {exc}): it is damaged (e.g. "
            f"truncated) or not an asha_nb journal. {left}") from exc
    finally:
        conn.close()
    return Contents(True, True, has_meta, int(n_events))


# ---------------------------------------------------------------------- the writer lock
_HELD: dict[tuple[int, int], dict[str, Any]] = {}  # lock files this process holds
_HELD_GUARD = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child holds no POSIX lock of its parent
    os.register_at_fork(after_in_child=_HELD.clear)


def describe_holder(info: dict[str, Any]) -> str:
    if not info:
        return "a process that has not written its details yet"
    since = info.get("since")
    when = (_time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(since))
            if isinstance(since, (int, float)) else "?")
    cmd = " ".join(str(a) for a in info.get("argv", []))[:120]
    return (f"process {info.get('pid', '?')} on host {info.get('host', '?')!r}"
            + (f" ({cmd})" if cmd else "") + f", since {when}")


class WriterLock:
    """An exclusive lock on ``<journal>.lock`` that the operating system drops with its process.

    POSIX record locks (``fcntl.lockf``): never inherited by a forked worker, released when the
    holding process dies, however it dies. They do not conflict inside one process, so this
    process keeps its own table of held lock files (by device and inode) and never opens a lock
    file it holds (closing any descriptor of it would drop the lock).
    """

    def __init__(self, journal: Path):
        self.path = journal.with_name(journal.name + ".lock")
        self._fd: int | None = None
        self._key: tuple[int, int] | None = None
        self.info: dict[str, Any] = {}
        with _HELD_GUARD:
            self._acquire(journal)

    def _acquire(self, journal: Path) -> None:
        for _ in range(50):
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            except OSError as exc:
                raise folder_error(journal, exc) from exc
            if st is not None and (st.st_dev, st.st_ino) in _HELD:
                info = _HELD[(st.st_dev, st.st_ino)]
                raise JournalLockedError(
                    f"journal {str(journal)!r} is already open for writing in this process, by "
                    f"a search that has not ended ({describe_holder(info)}). A journal has one "
                    "writer at a time: stop that search first (search.stop()), or give this one "
                    "another journal path", info)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                             0o644)
            except OSError as exc:
                raise folder_error(journal, exc) from exc
            try:
                fst = os.fstat(fd)
                if not try_lock(fd):
                    info = read_holder(fd)
                    raise JournalLockedError(
                        f"journal {str(journal)!r} is being written by another search: "
                        f"{describe_holder(info)}. A journal has one writer at a time: wait "
                        "for that search to end (or stop it), or use another journal path. "
                        "If that process no longer exists, its lock is already gone: retry. "
                        f"(lock file: {self.path})", info)
                try:
                    now = os.stat(self.path)
                except FileNotFoundError:
                    now = None
                if now is None or (now.st_dev, now.st_ino) != (fst.st_dev, fst.st_ino):
                    # The previous holder removed this lock file as we opened it: try again.
                    os.close(fd)
                    continue
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            self.info = {"pid": os.getpid(), "host": socket.gethostname(),
                         "since": _time.time(), "argv": [os.path.basename(sys.argv[0] or "python"),
                                                         *sys.argv[1:3]]}
            data = json.dumps(self.info).encode()
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
            self._fd, self._key = fd, (fst.st_dev, fst.st_ino)
            _HELD[self._key] = self.info
            return
        raise JournalLockedError(  # pragma: no cover - needs 50 lost races in a row
            f"journal {str(journal)!r}: its lock file {self.path} keeps being replaced by other "
            "processes; make sure only one search uses this journal")

    def release(self) -> None:
        with _HELD_GUARD:
            fd, key = self._fd, self._key
            if fd is None:
                return
            self._fd = self._key = None
            try:
                if key is not None:
                    _HELD.pop(key, None)
                    with contextlib.suppress(OSError):
                        st = os.stat(self.path)
                        if (st.st_dev, st.st_ino) == key and fcntl is not None:
                            os.unlink(self.path)  # still ours: remove it before unlocking
            finally:
                os.close(fd)  # drops the lock

    @property
    def held(self) -> bool:
        return self._fd is not None


def try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True
    import msvcrt  # pragma: no cover - Windows: lock one byte far past the holder's details

    os.lseek(fd, 1 << 20, os.SEEK_SET)  # pragma: no cover
    try:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def read_holder(fd: int) -> dict[str, Any]:
    for _ in range(20):  # the holder writes its details right after it locks
        try:
            raw = os.pread(fd, 65536, 0) if hasattr(os, "pread") else b""
            info = json.loads(raw.decode()) if raw else {}
        except (OSError, ValueError):
            info = {}
        if info:
            return info if isinstance(info, dict) else {}
        _time.sleep(0.01)
    return {}


def folder_error(journal: Path, exc: OSError) -> JournalError:
    folder = journal.absolute().parent
    return JournalError(
        f"cannot write in the folder {str(folder)!r} of journal {str(journal)!r} "
        f"({type(exc).__name__}: {exc}); the journal, its lock file and its checkpoints live "
        "there: pick a path in a folder you can write")


# ---------------------------------------------------------------------- the journal
def raise_if_locked(path: Path, prefix: str) -> None:
    """Raise :class:`JournalLockedError` (message starting with ``prefix``) if a writer holds
    the journal; do nothing otherwise (nor if its folder cannot be written)."""
    try:
        lock = WriterLock(path)
    except JournalLockedError as exc:
        raise JournalLockedError(prefix + str(exc)[0].lower() + str(exc)[1:],
                                 exc.holder) from None
    except JournalError:
        return
    lock.release()


def check_resumable(path: Path, contents: Contents, given: str) -> None:
    if not contents.exists:
        raise JournalError(
            f"journal must be an existing journal file; {given!r} does not exist (to start a "
            "search with a journal, pass journal= to Search)")
    if not contents.journal:
        raise JournalError(
            f"{given!r} is not an asha_nb journal: it is an empty file (or an empty SQLite "
            "database). It was left unchanged; pass the journal your search wrote, or start a "
            "new search with Search(..., journal=path)")
    if not contents.has_meta:
        raise JournalError(
            f"journal {given!r} holds no search (no meta row: the search that created it did not "
            "get past its construction), so there is nothing to resume; start a new search on it "
            "with Search(objective, space, journal=path)")


def write_checkpoint(folder: Path, trial_id: int, resource: float, checkpoint: Any) -> None:
    """Atomically write ``<folder>/<trial_id>.pkl`` (temporary file + ``os.replace``); the
    previous file is left as it was if anything fails (:class:`CheckpointError`)."""
    import cloudpickle

    target = folder / f"{trial_id}.pkl"
    tmp = folder / f".{trial_id}.pkl.tmp"
    try:
        blob = cloudpickle.dumps({"resource": resource, "checkpoint": checkpoint})
    except Exception as exc:
        raise CheckpointError(
            f"the checkpoint of trial {trial_id} (a {type(checkpoint).__name__}) cannot be "
            f"pickled ({type(exc).__name__}: {exc}); return a picklable checkpoint (e.g. a "
            "state dict)") from exc
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CheckpointError(
            f"cannot write {str(target)!r} ({type(exc).__name__}: {exc}); make the folder "
            f"{str(folder)!r} writable (and check the free disk space)") from exc


def read_checkpoint(folder: Path, trial_id: int) -> tuple[float, Any] | None:
    """``(resource, checkpoint)`` from ``<folder>/<trial_id>.pkl``, ``None`` if there is none;
    :class:`CheckpointError` if the file cannot be read or unpickled."""
    target = folder / f"{trial_id}.pkl"
    if not target.exists():
        return None
    try:
        with open(target, "rb") as fh:
            blob = pickle.load(fh)  # noqa: S301 - the user's own journal folder only
        return float(blob["resource"]), blob["checkpoint"]
    except Exception as exc:
        raise CheckpointError(
            f"the checkpoint of trial {trial_id} in {str(target)!r} cannot be loaded "
            f"({type(exc).__name__}: {exc}); the file is damaged or was not written by asha_nb "
            "(delete it: the trial then retrains from scratch without this message)") from exc
