"""Job records -> cv_results_-style columns -> pandas.

A :class:`JobRecord` is one immutable row per job, i.e. per trial and rung (the runtime keeps one
per job it handed out; see :meth:`asha_nb.runtime.Search.records`). :func:`records_to_columns`
flattens records into a dict of equal-length lists (like scikit-learn's ``cv_results_``), with one
``config_<name>`` column per hyperparameter, so ``pandas.DataFrame(columns)`` just works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .core.types import JobStatus

__all__ = ["JobRecord", "COLUMNS", "records_to_columns", "records_to_dataframe", "rung_table"]


class JobRecord(NamedTuple):
    """What happened to one job (one trial at one rung). Immutable: the runtime replaces a
    record when its job changes, so a record a reader holds never changes under it.

    Attributes
    ----------
    job_id, trial_id, rung, resource, resume_from, bracket
        From the scheduler's :class:`~asha_nb.core.Job`.
    config
        The trial's configuration (the scheduler's own mapping: do not modify it).
    status
        A :class:`~asha_nb.core.JobStatus`.
    worker
        Worker slot (0 .. n_workers - 1) it ran on (``None`` before it started).
    start, end
        Seconds since the search started (the search's clock: wall or virtual). ``end`` is
        ``None`` while it runs (or, after a timeout, while its unkillable thread still runs).
    value
        The objective's value (``None`` without one; a value that came after a stop or a timeout
        is kept here even though the scheduler did not use it).
    error
        Why it failed, or a note (non-finite value, late value).
    attempts
        How many times it was started (``retries=`` re-runs failed attempts).
    """

    job_id: int
    trial_id: int
    rung: int
    resource: float
    resume_from: float
    bracket: int
    config: Mapping[str, Any]
    status: JobStatus
    worker: int | None = None
    start: float | None = None
    end: float | None = None
    value: float | None = None
    error: str | None = None
    attempts: int = 0


#: Column order (``config_<name>`` columns are inserted after ``status``).
COLUMNS = ("trial_id", "rung", "resource", "value", "status", "worker", "start", "end", "error",
           "bracket", "job_id", "resume_from", "attempts")


def _as_record(rec: JobRecord | Mapping[str, Any]) -> JobRecord:
    if isinstance(rec, JobRecord):
        return rec
    status = rec.get("status", JobStatus.OK)
    return JobRecord(
        job_id=rec.get("job_id", -1), trial_id=rec["trial_id"], rung=rec.get("rung", 0),
        resource=rec.get("resource", 0), resume_from=rec.get("resume_from", 0),
        bracket=rec.get("bracket", 0), config=rec.get("config") or {},
        status=JobStatus(status), worker=rec.get("worker"), start=rec.get("start"),
        end=rec.get("end"), value=rec.get("value"), error=rec.get("error"),
        attempts=rec.get("attempts", 0),
    )


def records_to_columns(records: Iterable[JobRecord | Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Flatten records (``JobRecord`` or dicts with the same keys) into equal-length columns.

    ``status`` becomes its string value (``"ok"``, ``"failed"``, ...).

    Examples
    --------
    >>> cols = records_to_columns([{"trial_id": 0, "rung": 0, "resource": 1, "value": 0.5,
    ...                             "status": "ok", "config": {"lr": 0.1}}])
    >>> cols["config_lr"], cols["value"], cols["status"]
    ([0.1], [0.5], ['ok'])
    """
    recs = [_as_record(r) for r in records]
    names: dict[str, None] = {}
    seen: set[int] = set()
    for r in recs:  # one pass over distinct config objects (shared by a trial's jobs)
        cfg = r.config
        if id(cfg) not in seen:
            seen.add(id(cfg))
            for k in cfg:
                names.setdefault(k, None)
    if recs:
        (job_id, trial_id, rung, resource, resume_from, bracket, config, status, worker, start,
         end, value, error, attempts) = (list(c) for c in zip(*recs, strict=True))
    else:
        (job_id, trial_id, rung, resource, resume_from, bracket, config, status, worker, start,
         end, value, error, attempts) = ([] for _ in range(14))
    cols: dict[str, list[Any]] = {
        "trial_id": trial_id, "rung": rung, "resource": resource, "value": value,
        "status": [s.value for s in status],
    }
    for n in names:
        cols[f"config_{n}"] = [c.get(n) for c in config]
    cols.update(worker=worker, start=start, end=end, error=error, bracket=bracket,
                job_id=job_id, resume_from=resume_from, attempts=attempts)
    return cols


def records_to_dataframe(records: Iterable[JobRecord | Mapping[str, Any]]) -> Any:
    """Records as a pandas DataFrame (see :func:`records_to_columns`).

    Examples
    --------
    >>> records_to_dataframe([]).columns[:3].tolist()
    ['trial_id', 'rung', 'resource']
    """
    import pandas as pd

    return pd.DataFrame(records_to_columns(records))


def rung_table(records: Iterable[JobRecord | Mapping[str, Any]], mode: str = "max") -> Any:
    """Per rung: resource, number of results, best value, best trial (a DataFrame).

    Counts the values the scheduler recorded in its rungs: jobs with status ``ok``, and jobs
    ``stopped`` while running whose value came anyway (recorded, never promoted).

    Examples
    --------
    >>> rung_table([{"trial_id": 0, "rung": 0, "resource": 1, "value": 0.5, "status": "ok"}])
       rung  resource  n_results  best_value  best_trial
    0     0         1          1         0.5           0
    """
    import pandas as pd

    rows: dict[int, dict[str, Any]] = {}
    for raw in records:
        rec = _as_record(raw)
        if rec.value is None or rec.status not in (JobStatus.OK, JobStatus.STOPPED):
            continue
        row = rows.setdefault(rec.rung, {"rung": rec.rung, "resource": rec.resource,
                                         "n_results": 0, "best_value": None, "best_trial": None})
        row["n_results"] += 1
        v = rec.value
        bv = row["best_value"]
        if v == v and (bv is None or (v > bv if mode == "max" else v < bv)):
            row["best_value"], row["best_trial"] = v, rec.trial_id
    cols = ["rung", "resource", "n_results", "best_value", "best_trial"]
    return pd.DataFrame([rows[k] for k in sorted(rows)], columns=cols)
