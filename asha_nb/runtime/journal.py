"""Append-only SQLite journal of a search (replayed by :mod:`asha_nb.runtime._restore`).

The journal records every *scheduler call* the runtime makes (``next_job``, ``report``,
``fail``, ``add_trial``, ``stop_trial``) plus job starts, retries, checkpoints and control
commands, each in its own transaction **before** the call is acted on. Core events
(``TrialCreated``, ``Promoted``, ...) are not stored: the core is deterministic, so replaying
the calls in order on a fresh scheduler regenerates them exactly.

Schema (SQLite, WAL mode)::

    meta(key TEXT PRIMARY KEY, value BLOB)
        "version", "scheduler_class" ("module:Class"), "scheduler_params" (pickle of
        get_params()), "space" (cloudpickle), "options" (pickle of Search options),
        "t0" (origin of the search's clock: wall-clock start in seconds since the epoch, or 0
        for a virtual-time search), "virtual" ("1" for a virtual-time search)
    events(seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL, kind TEXT,
           job_id INTEGER, trial_id INTEGER, rung INTEGER, value REAL, text TEXT, data BLOB)

``time`` is the search's own clock (seconds since its origin; virtual seconds for a simulated
search). ``kind`` is one of ``next_job`` (a job was handed out; ``data`` = pickled config),
``report`` (``value``), ``fail`` (``text`` = error; for both, ``data`` =
``{"started": t}``, when the job's objective began, if known), ``add_trial`` (``data`` =
``{"config": ..., "check": ...}``, ``trial_id`` = new id), ``stop_trial``, ``job_started``
(``text`` = worker slot), ``retry``, ``checkpoint`` (``value`` = resource of the checkpoint on
disk), ``late_value`` (a value that came after its job timed out: kept, not replayed),
``control`` (``text`` = command), ``state``, ``checkpoint_error`` (a checkpoint that could not
be saved: ``text`` = why, ``value`` = its resource; the job's record keeps the note).

One writer at a time: a process that opens a journal for writing (a new search, or
``Search.from_journal``) holds an operating-system lock on ``<journal>.lock`` until the journal
is closed (the search ends). A second writer, in this process or another, gets a
:class:`JournalLockedError` naming the holder (pid, host, since when). The lock dies with its
process, so a crashed or ``SIGKILL``-ed search never blocks its resume. Reading needs no lock
(:meth:`Journal.read`).

A path that is not a journal (an empty string, a folder, a file of another program, an SQLite
database of your own, a damaged file) gives one :class:`JournalError` naming the path and the
fix, and the file is left as it was: it is inspected read-only before anything is written.

Checkpoints are stored beside the journal as ``<journal>.checkpoints/<trial_id>.pkl``, written
atomically (temporary file + ``os.replace``). They are **pickles**: they are only ever loaded
from the folder of the journal you pass to :meth:`asha_nb.runtime.Search.from_journal`, i.e. your
own files; never resume from a journal you did not create. A checkpoint that cannot be written
or read raises :class:`CheckpointError` (the runtime then notes it on the job's record, or
retrains the trial from scratch).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import pickle
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from ..core import Scheduler
from ..errors import (
    AshaError,
    CheckpointError,
    JournalError,
    JournalLockedError,
    JournalMismatchError,
    SearchStateError,
)
from ._journal_files import (
    WriterLock,
    check_resumable,
    inspect_file,
    journal_path,
    raise_if_locked,
    read_checkpoint,
    ro_uri,
    write_checkpoint,
)
from ._ops import JournalOp

__all__ = [
    "Journal",
    "JournalRow",
    "JournalError",
    "JournalLockedError",
    "JournalMismatchError",
    "CheckpointError",
    "load_meta",
]

_VERSION = "2"


@dataclass(frozen=True)
class JournalRow:
    """One row of the ``events`` table."""

    seq: int
    time: float
    kind: str
    job_id: int | None
    trial_id: int | None
    rung: int | None
    value: float | None
    text: str | None
    data: Any


# ---------------------------------------------------------------------- paths and inspection
class Journal:
    """A search journal (one SQLite file), open for writing. Used from one thread only (the
    runtime's loop).

    Opening it takes the journal's writer lock (see the module docstring) until :meth:`close`;
    a path that is not a journal raises :class:`JournalError` and is left unchanged. To read a
    journal that a search may be writing, use :meth:`Journal.read` (no lock).

    Parameters
    ----------
    path
        The journal file; created with its parent folder if missing (an existing empty file or
        empty SQLite database is used as a new journal).

    Raises
    ------
    JournalError
        ``path`` is not a file path, is a folder, is a file that is not a journal, is damaged,
        or its folder cannot be written.
    JournalLockedError
        Another search (in any process) is writing the journal.

    Examples
    --------
    >>> import tempfile, os
    >>> j = Journal(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> j.append("control", time=1.5, text="pause")
    >>> [r.kind for r in j.rows()]
    ['control']
    >>> j.close()
    """

    def __init__(self, path: str | os.PathLike[str]):
        self._conn: sqlite3.Connection | None = None
        self._lock: WriterLock | None = None
        self._writable = False
        self.path = journal_path(path)
        inspect_file(self.path)  # refuse what is not a journal before writing anything beside it
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"cannot create the folder {str(self.path.parent)!r} of journal "
                f"{str(self.path)!r} ({type(exc).__name__}: {exc}); pick a path in a folder "
                "you can write") from exc
        self._lock = WriterLock(self.path)
        try:
            self._contents = inspect_file(self.path)  # again: it may have changed before the lock
            self._open()
        except BaseException:
            self._lock.release()
            raise

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Journal:
        """Open ``path`` for a new search; refuse a journal that already holds one.

        Raises
        ------
        JournalError
            ``path`` already holds a search, or cannot be a journal (see :class:`Journal`).
        JournalLockedError
            Another search is writing it.
        """
        p = journal_path(path)
        contents = inspect_file(p)
        if contents.has_meta:
            raise_if_locked(p, f"journal {str(path)!r} already holds a search, and ")
            raise JournalError(
                f"journal {str(path)!r} already holds a search; use "
                "Search.from_journal(journal, objective) to continue it, or pass a new path")
        j = cls(p)
        if j._contents.has_meta or j._contents.n_events:
            j.close()
            raise JournalError(
                f"journal {str(path)!r} already holds a search; use "
                "Search.from_journal(journal, objective) to continue it, or pass a new path")
        return j

    @classmethod
    def open_existing(cls, path: str | os.PathLike[str]) -> Journal:
        """Open the journal of an existing search for writing (for ``Search.from_journal``).

        Raises
        ------
        JournalError
            ``path`` does not exist or is not a journal of a search (left unchanged).
        JournalLockedError
            Another search is writing it.
        """
        p = journal_path(path)
        check_resumable(p, inspect_file(p), str(path))
        j = cls(p)
        try:
            check_resumable(p, j._contents, str(path))
        except BaseException:
            j.close()
            raise
        return j

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Journal:
        """Open a journal read-only, without its lock (e.g. to look at the rows of a search that
        another process is writing). :meth:`append` and the checkpoint writer refuse.

        Examples
        --------
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
        >>> w = Journal(path)
        >>> w.append("control", time=0.0, text="pause")
        >>> r = Journal.read(path)   # while w still holds the writer lock
        >>> [row.text for row in r.rows()]
        ['pause']
        >>> r.close(); w.close()
        """
        p = journal_path(path)
        contents = inspect_file(p)
        if not contents.exists:
            raise JournalError(f"journal {str(path)!r} does not exist")
        if not contents.journal:
            raise JournalError(
                f"{str(path)!r} is not an asha_nb journal (an empty file or database)")
        self = cls.__new__(cls)
        self._lock = None
        self._writable = False
        self.path = p
        self._contents = contents
        try:
            self._conn = sqlite3.connect(ro_uri(p), uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {str(path)!r} cannot be opened (sqlite3: {exc})") from exc
        return self

    def _open(self) -> None:
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(
                f"journal {str(self.path)!r} cannot be opened for writing (sqlite3: {exc}); "
                "pick a path in a folder you can write") from exc
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with conn:  # both tables in one transaction
                conn.execute("BEGIN")
                conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB)")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "time REAL, kind TEXT, job_id INTEGER, trial_id INTEGER, rung INTEGER, "
                    "value REAL, text TEXT, data BLOB)")
        except sqlite3.Error as exc:
            conn.close()
            raise JournalError(
                f"journal {str(self.path)!r} cannot be written (sqlite3: {exc}); pick a path "
                "in a folder you can write") from exc
        self._conn = conn
        self._writable = True

    @property
    def checkpoint_dir(self) -> Path:
        """Folder of the trials' checkpoints (``<journal>.checkpoints``)."""
        return self.path.with_name(self.path.name + ".checkpoints")

    @property
    def holder(self) -> dict[str, Any]:
        """What this journal wrote in its lock file (``pid``, ``host``, ``since``, ``argv``);
        empty when it holds no lock (read-only or closed)."""
        lock = self._lock
        return dict(lock.info) if lock is not None and lock.held else {}

    # ------------------------------------------------------------------ writing
    @property
    def is_open(self) -> bool:
        """Whether the journal can still be written."""
        return self._conn is not None and self._writable

    def _writer(self) -> sqlite3.Connection:
        if self._conn is None or not self._writable:
            raise SearchStateError(
                f"journal {str(self.path)!r} is "
                + ("closed" if self._conn is None else "open read-only (Journal.read)")
                + ": it cannot be written")
        return self._conn

    def write_meta(self, scheduler: Scheduler, options: dict[str, Any], t0: float,
                   virtual: bool = False, fingerprint: dict[str, str] | None = None) -> None:
        """Store what :func:`replay` needs to rebuild ``scheduler`` (fresh), and the objective's
        fingerprint (checked by ``Search.from_journal``)."""
        cls = type(scheduler)
        items = {
            "version": _VERSION.encode(),
            "scheduler_class": f"{cls.__module__}:{cls.__qualname__}".encode(),
            "scheduler_params": pickle.dumps(scheduler.get_params()),
            # The generator's initial state makes replay exact even for seed=None.
            "rng_state": pickle.dumps(scheduler.get_rng_state()),
            "space": cloudpickle.dumps(scheduler.space),
            "options": cloudpickle.dumps(options),
            "t0": repr(t0).encode(),
            "virtual": b"1" if virtual else b"0",
            "fingerprint": pickle.dumps(fingerprint or {}),
        }
        conn = self._writer()
        with self._sqlite_errors("write the search's meta row"), conn:
            conn.execute("BEGIN")
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", items.items())

    def has_meta(self) -> bool:
        """Whether the journal holds a search (its meta row was written)."""
        assert self._conn is not None
        return self._conn.execute(
            "SELECT 1 FROM meta WHERE key='scheduler_class'").fetchone() is not None

    def set_origin(self, t0: float) -> None:
        """Record the origin of the search's clock (when it first starts)."""
        conn = self._writer()
        with self._sqlite_errors("record the search's start time"):
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('t0', ?)", (repr(t0).encode(),))

    @contextlib.contextmanager
    def _sqlite_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise JournalError(
                f"cannot {what} in journal {str(self.path)!r} (sqlite3.{type(exc).__name__}: "
                f"{exc}); check that its disk is not full and the file was not removed") from exc

    def append(
        self,
        kind: JournalOp | str,
        *,
        time: float,
        job_id: int | None = None,
        trial_id: int | None = None,
        rung: int | None = None,
        value: float | None = None,
        text: str | None = None,
        data: Any = None,
    ) -> None:
        """Append one row (at search time ``time``) in its own (autocommit) transaction."""
        conn = self._writer()
        if value is not None and not math.isfinite(value):
            # SQLite stores NaN as NULL; keep the exact value in ``data``.
            data = ("nonfinite", value) if data is None else data
            text = text if text is not None else repr(value)
        blob = None if data is None else pickle.dumps(data)
        with self._sqlite_errors(f"append a {kind!r} row"):
            conn.execute(
                "INSERT INTO events(time, kind, job_id, trial_id, rung, value, text, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time, str(kind), job_id, trial_id, rung, value, text, blob),
            )

    def save_checkpoint(self, trial_id: int, resource: float, checkpoint: Any, *,
                        time: float) -> None:
        """Atomically write a trial's checkpoint (a pickle) and journal it.

        Raises
        ------
        CheckpointError
            The checkpoint could not be pickled or written (the folder is not writable, the
            disk is full, ...). The file of the trial's previous checkpoint, if any, is left as
            it was, and a ``checkpoint_error`` row records why.
        """
        self._writer()
        try:
            write_checkpoint(self.checkpoint_dir, trial_id, resource, checkpoint)
        except CheckpointError as exc:
            with contextlib.suppress(AshaError):
                self.append(JournalOp.CHECKPOINT_ERROR, time=time, trial_id=trial_id,
                            value=float(resource), text=str(exc))
            raise
        self.append(JournalOp.CHECKPOINT, time=time, trial_id=trial_id, value=float(resource))

    def load_checkpoint(self, trial_id: int) -> tuple[float, Any] | None:
        """``(resource, checkpoint)`` of a trial from this journal's own folder, or ``None``.

        Raises
        ------
        CheckpointError
            The file exists but cannot be read or unpickled (damaged, truncated, written by
            another program): the caller retrains the trial from scratch.
        """
        return read_checkpoint(self.checkpoint_dir, trial_id)

    # ------------------------------------------------------------------ reading
    def meta(self) -> dict[str, Any]:
        """The decoded meta row (see :func:`load_meta`)."""
        return load_meta(self)

    def rows(self) -> Iterator[JournalRow]:
        """All rows in order."""
        assert self._conn is not None, "journal is closed"
        try:
            fetched = self._conn.execute(
                "SELECT seq, time, kind, job_id, trial_id, rung, value, text, data FROM events "
                "ORDER BY seq").fetchall()
        except sqlite3.Error as exc:
            raise JournalError(
                f"journal {str(self.path)!r} cannot be read (sqlite3: {exc}); it is damaged"
            ) from exc
        for seq, t, kind, job_id, trial_id, rung, value, text, data in fetched:
            try:
                obj = None if data is None else pickle.loads(data)  # noqa: S301 - own journal
            except Exception as exc:
                raise JournalError(
                    f"journal {str(self.path)!r}: row {seq} ({kind}) cannot be decoded "
                    f"({type(exc).__name__}: {exc}); the journal is damaged") from exc
            if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "nonfinite":
                value, obj = obj[1], None
            yield JournalRow(seq, t, kind, job_id, trial_id, rung, value, text, obj)

    def close(self) -> None:
        """Close the file and release the writer lock (idempotent)."""
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        finally:
            lock, self._lock = self._lock, None
            if lock is not None:
                lock.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "writer" if self.is_open else "read-only" if self._conn is not None else "closed"
        return f"<Journal {str(self.path)!r} ({mode})>"


def load_meta(journal: Journal) -> dict[str, Any]:
    """The meta row: scheduler class, params, space, options, ``t0``, ``virtual``, the
    objective's fingerprint and the scheduler's initial RNG state.

    Raises
    ------
    JournalError
        The journal has no meta row, was written by another format version, or its meta row
        cannot be decoded (e.g. a module it needs cannot be imported).
    """
    assert journal._conn is not None, "journal is closed"
    path = str(journal.path)
    try:
        raw = dict(journal._conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path!r} cannot be read (sqlite3: {exc})") from exc
    if "scheduler_class" not in raw:
        raise JournalError(
            f"{path!r} is not the journal of a search (no meta row); start a new search on it "
            "with Search(objective, space, journal=path)")
    version = bytes(raw.get("version", b"?")).decode(errors="replace")
    if version != _VERSION:
        raise JournalError(
            f"{path!r} is a journal of format version {version}, written by another "
            f"asha_nb release; this release reads version {_VERSION}: start a new journal"
        )
    try:
        module, _, name = bytes(raw["scheduler_class"]).decode().partition(":")
        cls: Any = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        meta = {
            "scheduler_class": cls,
            "scheduler_params": pickle.loads(raw["scheduler_params"]),  # noqa: S301
            "space": cloudpickle.loads(raw["space"]),
            "options": cloudpickle.loads(raw["options"]),
            "t0": float(bytes(raw["t0"]).decode()),
            "virtual": raw.get("virtual", b"0") == b"1",
            "fingerprint": pickle.loads(raw["fingerprint"]) if "fingerprint" in raw else {},  # noqa: S301
            "rng_state": pickle.loads(raw["rng_state"]) if "rng_state" in raw else None,  # noqa: S301
        }
    except Exception as exc:
        raise JournalError(
            f"the meta row of journal {path!r} cannot be decoded ({type(exc).__name__}: {exc}); "
            "the scheduler class or a distribution of the space it stores must be importable "
            "(same packages as the search that wrote it)") from exc
    return meta
