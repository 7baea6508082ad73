"""Append-only SQLite journal of a search, and the replay that rebuilds it.

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
``report`` (``value``), ``fail`` (``text`` = error), ``add_trial`` (``data`` =
``{"config": ..., "check": ...}``, ``trial_id`` = new id), ``stop_trial``, ``job_started``
(``text`` = worker slot), ``retry``, ``checkpoint`` (``value`` = resource of the checkpoint on
disk), ``late_value`` (a value that came after its job timed out: kept, not replayed),
``control`` (``text`` = command), ``state``.

Checkpoints are stored beside the journal as ``<journal>.checkpoints/<trial_id>.pkl``, written
atomically (temporary file + ``os.replace``). They are **pickles**: they are only ever loaded
from the folder of the journal you pass to :meth:`asha_nb.runtime.Search.from_journal`, i.e. your
own files; never resume from a journal you did not create.
"""

from __future__ import annotations

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

from ..core import Job, Scheduler
from ..errors import AshaError, InvalidParameterError

__all__ = ["Journal", "JournalRow", "JournalMismatchError", "replay", "load_meta"]

_VERSION = "2"


class JournalMismatchError(AshaError, RuntimeError):
    """Replaying a journal did not reproduce the recorded jobs (wrong scheduler version/space)."""


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


class Journal:
    """A search journal (one SQLite file). Used from one thread only (the runtime's loop).

    Parameters
    ----------
    path
        The journal file; created with its parent folder if missing.

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
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        self._open()

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Journal:
        """Open ``path`` for a new search; refuse a journal that already holds one."""
        j = cls(path)
        if j.has_meta():
            j.close()
            raise InvalidParameterError(
                f"journal {str(path)!r} already holds a search; use "
                "Search.from_journal(journal, objective) to continue it, or pass a new path"
            )
        return j

    @classmethod
    def open_existing(cls, path: str | os.PathLike[str]) -> Journal:
        """Open the journal of an existing search (for ``Search.from_journal``)."""
        if not os.path.exists(path):
            raise InvalidParameterError(
                f"journal must be an existing journal file; {str(path)!r} does not exist")
        return cls(path)

    def _open(self) -> None:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL,"
            " kind TEXT, job_id INTEGER, trial_id INTEGER, rung INTEGER, value REAL, text TEXT,"
            " data BLOB)"
        )
        self._conn = conn

    @property
    def checkpoint_dir(self) -> Path:
        """Folder of the trials' checkpoints (``<journal>.checkpoints``)."""
        return self.path.with_name(self.path.name + ".checkpoints")

    # ------------------------------------------------------------------ writing
    @property
    def is_open(self) -> bool:
        """Whether the journal can still be written."""
        return self._conn is not None

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
        assert self._conn is not None
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", items.items())

    def has_meta(self) -> bool:
        assert self._conn is not None
        return self._conn.execute("SELECT 1 FROM meta WHERE key='scheduler_class'").fetchone() is not None

    def set_origin(self, t0: float) -> None:
        """Record the origin of the search's clock (when it first starts)."""
        assert self._conn is not None
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('t0', ?)", (repr(t0).encode(),))

    def append(
        self,
        kind: str,
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
        assert self._conn is not None
        if value is not None and not math.isfinite(value):
            # SQLite stores NaN as NULL; keep the exact value in ``data``.
            data = ("nonfinite", value) if data is None else data
            text = text if text is not None else repr(value)
        blob = None if data is None else pickle.dumps(data)
        self._conn.execute(
            "INSERT INTO events(time, kind, job_id, trial_id, rung, value, text, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time, kind, job_id, trial_id, rung, value, text, blob),
        )

    def save_checkpoint(self, trial_id: int, resource: float, checkpoint: Any, *,
                        time: float) -> None:
        """Atomically write a trial's checkpoint (a pickle) and journal it."""
        folder = self.checkpoint_dir
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{trial_id}.pkl"
        tmp = folder / f".{trial_id}.pkl.tmp"
        with open(tmp, "wb") as fh:
            cloudpickle.dump({"resource": resource, "checkpoint": checkpoint}, fh)
        os.replace(tmp, target)
        self.append("checkpoint", time=time, trial_id=trial_id, value=float(resource))

    def load_checkpoint(self, trial_id: int) -> tuple[float, Any] | None:
        """``(resource, checkpoint)`` of a trial from this journal's own folder, or ``None``."""
        target = self.checkpoint_dir / f"{trial_id}.pkl"
        if not target.exists():
            return None
        with open(target, "rb") as fh:
            blob = pickle.load(fh)  # noqa: S301 - the user's own journal folder only
        return blob["resource"], blob["checkpoint"]

    # ------------------------------------------------------------------ reading
    def meta(self) -> dict[str, Any]:
        return load_meta(self)

    def rows(self) -> Iterator[JournalRow]:
        """All rows in order."""
        assert self._conn is not None
        cur = self._conn.execute(
            "SELECT seq, time, kind, job_id, trial_id, rung, value, text, data FROM events ORDER BY seq"
        )
        for seq, t, kind, job_id, trial_id, rung, value, text, data in cur:
            obj = None if data is None else pickle.loads(data)  # noqa: S301 - own journal
            if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "nonfinite":
                value, obj = obj[1], None
            yield JournalRow(seq, t, kind, job_id, trial_id, rung, value, text, obj)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def load_meta(journal: Journal) -> dict[str, Any]:
    """The meta row: scheduler class, params, space, options and ``t0``."""
    assert journal._conn is not None
    raw = dict(journal._conn.execute("SELECT key, value FROM meta").fetchall())
    if "scheduler_class" not in raw:
        raise AshaError(f"{journal.path} is not an asha_nb search journal (no meta row)")
    version = raw.get("version", b"?").decode()
    if version != _VERSION:
        raise AshaError(
            f"{journal.path} is a journal of format version {version}, written by another "
            f"asha_nb release; this release reads version {_VERSION}: start a new journal"
        )
    module, _, name = raw["scheduler_class"].decode().partition(":")
    cls = getattr(importlib.import_module(module), name)
    return {
        "scheduler_class": cls,
        "scheduler_params": pickle.loads(raw["scheduler_params"]),  # noqa: S301
        "space": cloudpickle.loads(raw["space"]),
        "options": cloudpickle.loads(raw["options"]),
        "t0": float(raw["t0"].decode()),
        "virtual": raw.get("virtual", b"0") == b"1",
        "fingerprint": pickle.loads(raw["fingerprint"]) if "fingerprint" in raw else {},  # noqa: S301
        "rng_state": pickle.loads(raw["rng_state"]) if "rng_state" in raw else None,  # noqa: S301
    }


@dataclass
class ReplayResult:
    """What :func:`replay` rebuilt."""

    scheduler: Scheduler
    jobs: dict[int, Job]
    rows: list[JournalRow]
    meta: dict[str, Any]


def replay(journal: Journal) -> ReplayResult:
    """Rebuild the scheduler by replaying the journaled scheduler calls in order.

    Raises
    ------
    JournalMismatchError
        If a replayed ``next_job``/``add_trial`` does not give the recorded job or trial id.
    """
    meta = load_meta(journal)
    sched: Scheduler = meta["scheduler_class"](meta["space"], **meta["scheduler_params"])
    if meta["rng_state"] is not None:
        sched.set_rng_state(meta["rng_state"])
    jobs: dict[int, Job] = {}
    rows = list(journal.rows())
    for row in rows:
        kind = row.kind
        if kind == "next_job":
            job = sched.next_job()
            if job is None or (job.job_id, job.trial_id, job.rung) != (row.job_id, row.trial_id, row.rung):
                got = None if job is None else (job.job_id, job.trial_id, job.rung)
                raise JournalMismatchError(
                    f"journal {journal.path} does not replay: row {row.seq} recorded job "
                    f"{(row.job_id, row.trial_id, row.rung)} (job_id, trial_id, rung) but the "
                    f"rebuilt scheduler handed out {got}; the scheduler code or space changed"
                )
            if row.data is not None and dict(job.config) != dict(row.data):
                raise JournalMismatchError(
                    f"journal {journal.path} does not replay: job {job.job_id} has config "
                    f"{dict(job.config)!r}, journal says {row.data!r}"
                )
            jobs[job.job_id] = job
        elif kind == "report":
            sched.report(jobs[row.job_id], row.value)  # type: ignore[index,arg-type]
        elif kind == "fail":
            sched.fail(jobs[row.job_id], row.text or "failed")  # type: ignore[index]
        elif kind == "add_trial":
            data = row.data if isinstance(row.data, dict) else {}
            try:
                tid = sched.add_trial(data.get("config", {}), check=data.get("check", True))
            except AshaError:  # the live call raised the same way and changed nothing
                continue
            if tid != row.trial_id:
                raise JournalMismatchError(
                    f"journal {journal.path} does not replay: add_trial gave trial {tid}, "
                    f"journal says {row.trial_id}"
                )
        elif kind == "stop_trial":
            try:
                sched.stop_trial(row.trial_id)  # type: ignore[arg-type]
            except AshaError:
                continue
    return ReplayResult(sched, jobs, rows, meta)
