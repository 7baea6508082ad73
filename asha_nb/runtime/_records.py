"""The search's job records, stored as columns: one row per job, indexed by job id.

The loop thread is the only writer. Rows live in typed arrays (``array.array``): about 53 bytes
per job and no Python object per job, so a search of 10^6 trials keeps its records in a few
tens of megabytes, the garbage collector never walks them, and ``results()`` builds its
DataFrame straight from the columns. A row's resource, ``resume_from`` and configuration are
not copied: they come from the scheduler (its rung resources and its trials' configurations).

Readers on other threads get immutable :class:`~asha_nb.results.JobRecord` values built on
demand, under a lock, so a record is never half updated. Views that poll (the dashboard) call
:meth:`RecordStore.changes` with a cursor and get only the rows that changed since their last
call.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core import JobStatus
from ..results import COLUMNS, JobRecord

__all__ = ["RecordStore"]

_STATUSES = tuple(JobStatus)
_CODE = {s: i for i, s in enumerate(_STATUSES)}
_NAN = float("nan")
_HAS_VALUE = 1
_HAS_START = 2
_HAS_END = 4
_HAS_WORKER = 8
_RUNNING = _CODE[JobStatus.RUNNING]
_OK = _CODE[JobStatus.OK]
_KEEP: Any = object()  # mark(): leave this field as it is


class RecordStore:
    """Column store of job records, indexed by job id.

    Parameters
    ----------
    rung_resources
        The scheduler's ``rung_resources`` (``[bracket][rung]``).
    trial_config
        ``trial_id -> config`` (the scheduler's own mappings).
    """

    def __init__(self, rung_resources: Sequence[Sequence[float]],
                 trial_config: Callable[[int], Mapping[str, Any]]) -> None:
        self._resources = [list(r) for r in rung_resources]
        self._config = trial_config
        self._trial = array("q")
        self._rung = array("H")
        self._bracket = array("H")
        self._status = array("B")
        self._worker = array("l")
        self._attempts = array("H")
        self._flags = array("B")
        self._start = array("d")
        self._end = array("d")
        self._value = array("d")
        self._started = array("d")  # when the objective really began (NaN: unknown)
        self._errors: dict[int, str] = {}
        self._log: list[int] | None = None  # job ids changed, once a reader asked for changes
        self._lock = threading.Lock()
        #: Whether readers on other threads may look while the loop writes. A search run on the
        #: caller's thread in virtual time has none, and skips the lock.
        self.shared = True

    def __len__(self) -> int:
        return len(self._trial)

    # ------------------------------------------------------------------ writing (loop thread)
    def put(self, rec: JobRecord) -> None:
        """Add or replace the row of ``rec.job_id`` (job ids come in order from 0)."""
        self.set(rec.job_id, rec.trial_id, rec.rung, rec.bracket, rec.status, rec.worker,
                 rec.start, rec.end, rec.value, rec.error, rec.attempts)

    def set(self, job_id: int, trial_id: int, rung: int, bracket: int, status: JobStatus,
            worker: int | None = None, start: float | None = None, end: float | None = None,
            value: float | None = None, error: str | None = None, attempts: int = 0) -> None:
        """Add or replace one row from its fields (the loop's fast path)."""
        flags = ((_HAS_VALUE if value is not None else 0) | (_HAS_START if start is not None else 0)
                 | (_HAS_END if end is not None else 0) | (_HAS_WORKER if worker is not None else 0))
        if self.shared:
            with self._lock:
                self._set(job_id, trial_id, rung, bracket, status, worker, start, end, value,
                          error, attempts, flags)
        else:
            self._set(job_id, trial_id, rung, bracket, status, worker, start, end, value, error,
                      attempts, flags)

    def _set(self, job_id: int, trial_id: int, rung: int, bracket: int, status: JobStatus,
             worker: int | None, start: float | None, end: float | None, value: float | None,
             error: str | None, attempts: int, flags: int) -> None:
        n = len(self._trial)
        if job_id < n:
            self._status[job_id] = _CODE[status]
            self._flags[job_id] = flags
            self._attempts[job_id] = attempts
            if worker is not None:
                self._worker[job_id] = worker
            if start is not None:
                self._start[job_id] = start
            self._end[job_id] = _NAN if end is None else end
            self._value[job_id] = _NAN if value is None else value
        elif job_id == n:
            self._trial.append(trial_id)
            self._rung.append(rung)
            self._bracket.append(bracket)
            self._status.append(_CODE[status])
            self._worker.append(-1 if worker is None else worker)
            self._attempts.append(attempts)
            self._flags.append(flags)
            self._start.append(_NAN if start is None else start)
            self._end.append(_NAN if end is None else end)
            self._value.append(_NAN if value is None else value)
            self._started.append(_NAN)
        else:
            raise IndexError(f"record of job {job_id} added before job {n}")
        errors = self._errors
        if error is not None:
            errors[job_id] = error
        elif job_id in errors:
            del errors[job_id]
        log = self._log
        if log is not None:
            log.append(job_id)

    def start(self, job_id: int, trial_id: int, rung: int, bracket: int, worker: int,
              start: float, attempts: int) -> None:
        """A job started on ``worker`` at ``start`` (the loop's hot path: a new row, or a
        retried one)."""
        if self.shared:
            with self._lock:
                self._start_row(job_id, trial_id, rung, bracket, worker, start, attempts)
        else:
            self._start_row(job_id, trial_id, rung, bracket, worker, start, attempts)

    def _start_row(self, job_id: int, trial_id: int, rung: int, bracket: int, worker: int,
                   start: float, attempts: int) -> None:
        if job_id != len(self._trial):
            self._set(job_id, trial_id, rung, bracket, JobStatus.RUNNING, worker, start, None,
                      None, None, attempts, _HAS_WORKER | _HAS_START)
            self._started[job_id] = _NAN  # a retry: its new attempt has not begun yet
            return
        self._trial.append(trial_id)
        self._rung.append(rung)
        self._bracket.append(bracket)
        self._status.append(_RUNNING)
        self._worker.append(worker)
        self._attempts.append(attempts)
        self._flags.append(_HAS_WORKER | _HAS_START)
        self._start.append(start)
        self._end.append(_NAN)
        self._value.append(_NAN)
        self._started.append(_NAN)
        log = self._log
        if log is not None:
            log.append(job_id)

    def finish_ok(self, job_id: int, end: float, value: float, note: str | None,
                  started: float = _NAN) -> None:
        """A started job returned ``value`` at ``end`` (the loop's hot path); its objective
        began at ``started`` (NaN: unknown)."""
        if self.shared:
            with self._lock:
                self._finish_ok(job_id, end, value, note, started)
        else:
            self._finish_ok(job_id, end, value, note, started)

    def set_started(self, job_id: int, started: float | None) -> None:
        """When the objective of ``job_id`` really began (search clock), if known."""
        if started is None:
            return
        if self.shared:
            with self._lock:
                self._started[job_id] = started
        else:
            self._started[job_id] = started

    def _finish_ok(self, job_id: int, end: float, value: float, note: str | None,
                   started: float) -> None:
        self._started[job_id] = started
        self._status[job_id] = _OK
        self._flags[job_id] = _HAS_WORKER | _HAS_START | _HAS_END | _HAS_VALUE
        self._end[job_id] = end
        self._value[job_id] = value
        if note is not None:
            self._errors[job_id] = note
        elif job_id in self._errors:
            del self._errors[job_id]
        log = self._log
        if log is not None:
            log.append(job_id)

    def mark(self, job_id: int, status: JobStatus | None = None, *, end: Any = _KEEP,
             value: Any = _KEEP, error: Any = _KEEP, note: str | None = None) -> None:
        """Change the given fields of the row of ``job_id`` in place (the others stay).

        ``end``, ``value`` and ``error`` set (``None``: clear) the field when given; ``note``
        is appended to the row's error text (``"; "``-separated).
        """
        if self.shared:
            with self._lock:
                self._mark(job_id, status, end, value, error, note)
        else:
            self._mark(job_id, status, end, value, error, note)

    def _mark(self, job_id: int, status: JobStatus | None, end: Any, value: Any, error: Any,
              note: str | None) -> None:
        if not 0 <= job_id < len(self._trial):
            raise IndexError(f"no record of job {job_id}")
        if status is not None:
            self._status[job_id] = _CODE[status]
        flags = self._flags[job_id]
        if end is not _KEEP:
            self._end[job_id] = _NAN if end is None else end
            flags = flags | _HAS_END if end is not None else flags & ~_HAS_END
        if value is not _KEEP:
            self._value[job_id] = _NAN if value is None else value
            flags = flags | _HAS_VALUE if value is not None else flags & ~_HAS_VALUE
        self._flags[job_id] = flags
        errors = self._errors
        if error is not _KEEP:
            if error is None:
                errors.pop(job_id, None)
            else:
                errors[job_id] = error
        if note is not None:
            old = errors.get(job_id)
            errors[job_id] = note if not old else f"{old}; {note}"
        log = self._log
        if log is not None:
            log.append(job_id)

    # ------------------------------------------------------------------ reading (any thread)
    def _row(self, j: int) -> JobRecord:
        flags = self._flags[j]
        rung = self._rung[j]
        bracket = self._bracket[j]
        resources = self._resources[bracket]
        trial = self._trial[j]
        return JobRecord(
            j, trial, rung, resources[rung], resources[rung - 1] if rung else 0, bracket,
            self._config(trial), _STATUSES[self._status[j]],
            self._worker[j] if flags & _HAS_WORKER else None,
            self._start[j] if flags & _HAS_START else None,
            self._end[j] if flags & _HAS_END else None,
            self._value[j] if flags & _HAS_VALUE else None,
            self._errors.get(j), self._attempts[j],
        )

    def get(self, job_id: int) -> JobRecord:
        """The current record of ``job_id``."""
        with self._lock:
            if not 0 <= job_id < len(self._trial):
                raise IndexError(f"no record of job {job_id}")
            return self._row(job_id)

    def all(self) -> list[JobRecord]:
        """Every record, in job order (safe from any thread)."""
        with self._lock:
            return [self._row(j) for j in range(len(self._trial))]

    def changes(self, cursor: int | None) -> tuple[int, list[JobRecord]]:
        """Records changed since ``cursor`` (``None``: all of them) and the new cursor.

        The first call switches change tracking on; each record appears once, in its latest
        version.
        """
        with self._lock:
            if self._log is None or cursor is None:
                if self._log is None:
                    self._log = []
                return len(self._log), [self._row(j) for j in range(len(self._trial))]
            log = self._log
            end = len(log)
            return end, [self._row(j) for j in dict.fromkeys(log[cursor:end])]

    def columns(self, configs: bool = True) -> dict[str, Any]:
        """All rows as columns (numpy arrays and lists) in the order of ``results()``
        (``configs=False`` leaves out the ``config_<name>`` columns).

        ``status`` holds :class:`~asha_nb.core.JobStatus` values (strings); missing values are
        ``None`` in ``worker``/``error`` and NaN in ``start``/``end``/``value``/``started`` unless
        stated by the flags (a value of NaN returned by an objective stays NaN; no value is ``None``).
        """
        import numpy as np

        with self._lock:
            n = len(self._trial)
            trial = np.frombuffer(self._trial, dtype=np.int64, count=n).copy()
            rung = np.frombuffer(self._rung, dtype=np.uint16, count=n).astype(np.int64)
            bracket = np.frombuffer(self._bracket, dtype=np.uint16, count=n).astype(np.int64)
            status = np.frombuffer(self._status, dtype=np.uint8, count=n).copy()
            worker = np.frombuffer(self._worker, dtype=np.int64 if self._worker.itemsize == 8
                                   else np.int32, count=n).copy()
            attempts = np.frombuffer(self._attempts, dtype=np.uint16, count=n).astype(np.int64)
            flags = np.frombuffer(self._flags, dtype=np.uint8, count=n).copy()
            start = np.frombuffer(self._start, dtype=np.float64, count=n).copy()
            end = np.frombuffer(self._end, dtype=np.float64, count=n).copy()
            value = np.frombuffer(self._value, dtype=np.float64, count=n).copy()
            started = np.frombuffer(self._started, dtype=np.float64, count=n).copy()
            errors = dict(self._errors)
        # resource / resume_from: one lookup table per bracket, indexed by rung
        table = [np.array(list(r) + [0], dtype=object) for r in self._resources]
        if len(table) == 1:
            resource = table[0][rung]
            resume_from = np.where(rung > 0, table[0][np.maximum(rung - 1, 0)], 0)
        else:
            resource = np.empty(n, dtype=object)
            resume_from = np.empty(n, dtype=object)
            for b, t in enumerate(table):
                m = bracket == b
                resource[m] = t[rung[m]]
                resume_from[m] = np.where(rung[m] > 0, t[np.maximum(rung[m] - 1, 0)], 0)
        names = np.array([s.value for s in _STATUSES], dtype=object)
        has_value = (flags & _HAS_VALUE).astype(bool)
        value_col = value.astype(object)
        value_col[~has_value] = None
        worker_col = worker.astype(object)
        worker_col[(flags & _HAS_WORKER) == 0] = None
        cols: dict[str, Any] = {
            "trial_id": trial, "rung": rung, "resource": resource, "value": value_col,
            "status": names[status],
        }
        trial_list = trial.tolist() if configs else []
        cfg_of = {t: self._config(t) for t in set(trial_list)}
        cfg_names: dict[str, None] = {}
        for cfg in cfg_of.values():
            for k in cfg:
                cfg_names.setdefault(k, None)
        for name in cfg_names:
            per_trial = {t: c.get(name) for t, c in cfg_of.items()}
            cols[f"config_{name}"] = [per_trial[t] for t in trial_list]
        error_col = np.full(n, None, dtype=object)
        for j, e in errors.items():
            if j < n:
                error_col[j] = e
        cols.update(worker=worker_col, start=start, end=end, error=error_col, bracket=bracket,
                    job_id=np.arange(n, dtype=np.int64), resume_from=resume_from,
                    attempts=attempts, started=started)
        assert set(COLUMNS) <= set(cols)
        return cols

    def __repr__(self) -> str:
        return f"<RecordStore {len(self)} records>"
