"""Rebuild a search from its journal (``Search.from_journal``).

:func:`replay` rebuilds the scheduler by replaying the journaled scheduler calls on a fresh
scheduler (the core is deterministic, so the rungs, promoted sets, trial ids and random state
come out identical); :func:`restore_records` rebuilds what the user saw: one
:class:`~asha_nb.results.JobRecord` per job with its worker, start, end, value, status and error,
and the jobs that were out when the search died (they run again, from their trial's checkpoint
where one is on disk).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..clock import Clock, VirtualClock, WallClock
from ..core import Job, JobStatus, Scheduler
from ..errors import (
    AshaError,
    InvalidParameterError,
    InvalidTypeError,
    JournalError,
    JournalMismatchError,
)
from ..executors import make_executor
from ..executors.simulated import SimulatedExecutor
from ..results import JobRecord
from ._encoding import check_space_values, job_pickler, same_config
from ._loop import Loop
from ._ops import JournalOp, op_of
from ._options import (
    RUNTIME_OPTIONS,
    check_objective_callable,
    check_runtime_options,
    objective_fingerprint,
    same_objective,
)
from .journal import Journal, JournalRow, load_meta

__all__ = ["ReplayResult", "replay", "Restored", "restore_records", "restore_loop"]

_STOPPED_TEXT = "stopped by user"


@dataclass
class Restored:
    """What a journal says about the jobs: records in job order, jobs to run again, counters."""

    records: list[JobRecord]
    rerun: list[Job]
    n_issued: int
    last_time: float
    #: job id -> when its objective began (journals written before it was kept: none)
    started: dict[int, float] = field(default_factory=dict)


@dataclass
class ReplayResult:
    """What :func:`replay` rebuilt."""

    scheduler: Scheduler
    jobs: dict[int, Job]
    rows: list[JournalRow]
    meta: dict[str, Any]


@dataclass
class _Replaying:
    """The state of one replay: the rebuilt scheduler and the jobs it handed out."""

    scheduler: Scheduler
    jobs: dict[int, Job]
    path: Path


@dataclass
class _Rebuilding:
    """The state of rebuilding the records from the rows (see :func:`restore_records`)."""

    jobs: dict[int, Job]
    records: dict[int, JobRecord] = field(default_factory=dict)
    #: job ids whose trial was stopped while they ran
    stopped_while_running: set[int] = field(default_factory=set)
    running_of_trial: dict[int, int] = field(default_factory=dict)
    #: trial id -> why its last checkpoint was not saved
    ckpt_notes: dict[int, str] = field(default_factory=dict)
    #: job id -> when its objective began (from its report or fail row)
    started: dict[int, float] = field(default_factory=dict)
    n_issued: int = 0


# ---------------------------------------------------------------------- replaying the calls
def _replay_next_job(st: _Replaying, row: JournalRow) -> None:
    job = st.scheduler.next_job()
    if job is None or (job.job_id, job.trial_id, job.rung) != (row.job_id, row.trial_id, row.rung):
        got = None if job is None else (job.job_id, job.trial_id, job.rung)
        raise JournalMismatchError(
            f"journal {str(st.path)!r} does not replay: row {row.seq} recorded job "
            f"{(row.job_id, row.trial_id, row.rung)} (job_id, trial_id, rung) but the "
            f"rebuilt scheduler handed out {got}; the scheduler code or space changed"
        )
    # By canonical encoding, never ``==`` (nan, arrays, objects without value equality).
    if row.data is not None and not same_config(job.config, row.data):
        raise JournalMismatchError(
            f"journal {str(st.path)!r} does not replay: job {job.job_id} has config "
            f"{dict(job.config)!r}, journal says {row.data!r}"
        )
    st.jobs[job.job_id] = job


def _replay_report(st: _Replaying, row: JournalRow) -> None:
    st.scheduler.report(st.jobs[row.job_id], row.value)  # type: ignore[index,arg-type]


def _replay_fail(st: _Replaying, row: JournalRow) -> None:
    st.scheduler.fail(st.jobs[row.job_id], row.text or "failed")  # type: ignore[index]


def _replay_add_trial(st: _Replaying, row: JournalRow) -> None:
    data = row.data if isinstance(row.data, dict) else {}
    try:
        tid = st.scheduler.add_trial(data.get("config", {}), check=data.get("check", True))
    except AshaError:  # the live call raised the same way and changed nothing
        return
    if tid != row.trial_id:
        raise JournalMismatchError(
            f"journal {str(st.path)!r} does not replay: add_trial gave trial {tid}, "
            f"journal says {row.trial_id}"
        )


def _replay_stop_trial(st: _Replaying, row: JournalRow) -> None:
    try:
        st.scheduler.stop_trial(row.trial_id)  # type: ignore[arg-type]
    except AshaError:
        return


# ---------------------------------------------------------------------- rebuilding the records
def _record_next_job(st: _Rebuilding, row: JournalRow) -> None:
    job = st.jobs[row.job_id]  # type: ignore[index]
    st.n_issued += 1
    st.records[job.job_id] = JobRecord(job.job_id, job.trial_id, job.rung, job.resource,
                                       job.resume_from, job.bracket, job.config,
                                       JobStatus.INTERRUPTED)


def _record_job_started(st: _Rebuilding, row: JournalRow) -> None:
    rec = st.records[row.job_id]  # type: ignore[index]
    st.records[rec.job_id] = rec._replace(status=JobStatus.RUNNING, worker=int(row.text or 0),
                                          start=row.time, end=None, attempts=rec.attempts + 1)
    st.running_of_trial[rec.trial_id] = rec.job_id


def _record_retry(st: _Rebuilding, row: JournalRow) -> None:
    rec = st.records[row.job_id]  # type: ignore[index]
    if rec.status is JobStatus.RUNNING:  # its previous attempt failed
        st.records[rec.job_id] = rec._replace(status=JobStatus.RETRYING, end=row.time)


def _record_stop_trial(st: _Rebuilding, row: JournalRow) -> None:
    jid = st.running_of_trial.get(row.trial_id)  # type: ignore[arg-type]
    if jid is not None and st.records[jid].status is JobStatus.RUNNING:
        st.stopped_while_running.add(jid)


def _record_checkpoint_error(st: _Rebuilding, row: JournalRow) -> None:
    # Worded as the loop words it on the live record.
    st.ckpt_notes[row.trial_id] = (  # type: ignore[index]
        f"checkpoint not saved (CheckpointError: {row.text}); a resumed search retrains this "
        "trial from scratch")


def _record_began(st: _Rebuilding, row: JournalRow) -> None:
    if isinstance(row.data, dict) and isinstance(row.data.get("started"), (int, float)):
        st.started[row.job_id] = float(row.data["started"])  # type: ignore[index]


def _record_report(st: _Rebuilding, row: JournalRow) -> None:
    _record_began(st, row)
    rec = st.records[row.job_id]  # type: ignore[index]
    status = JobStatus.STOPPED if rec.job_id in st.stopped_while_running else JobStatus.OK
    value = row.value
    # The notes the live search put on the record: a non-finite value, a checkpoint that could
    # not be saved (journaled just before this report).
    note = st.ckpt_notes.pop(rec.trial_id, None)
    if note is None and value is not None and not math.isfinite(value):
        note = f"objective returned {value!r}"
    st.records[rec.job_id] = rec._replace(status=status, value=value, end=row.time, error=note)


def _record_fail(st: _Rebuilding, row: JournalRow) -> None:
    _record_began(st, row)
    rec = st.records[row.job_id]  # type: ignore[index]
    text = row.text or "failed"
    stopped = rec.job_id in st.stopped_while_running or text == _STOPPED_TEXT
    # A timeout whose thread still runs has no end yet; a later late_value row sets it.
    st.records[rec.job_id] = rec._replace(
        status=JobStatus.STOPPED if stopped else JobStatus.FAILED,
        error=None if stopped else text, end=None if text.startswith("timed out") else row.time)


def _record_late_value(st: _Rebuilding, row: JournalRow) -> None:
    rec = st.records[row.job_id]  # type: ignore[index]
    st.records[rec.job_id] = rec._replace(value=row.value, end=row.time)


class _Handlers(NamedTuple):
    """What one operation does on replay: to the rebuilt scheduler, to the rebuilt records
    (``None``: nothing), and whether the records' handler needs the row's job to exist."""

    replay: Callable[[_Replaying, JournalRow], None] | None
    record: Callable[[_Rebuilding, JournalRow], None] | None
    of_a_job: bool = True


#: One row of this table per :class:`JournalOp`: the same enum the loop writes with.
OPS: dict[JournalOp, _Handlers] = {
    JournalOp.NEXT_JOB: _Handlers(_replay_next_job, _record_next_job),
    JournalOp.REPORT: _Handlers(_replay_report, _record_report),
    JournalOp.FAIL: _Handlers(_replay_fail, _record_fail),
    JournalOp.ADD_TRIAL: _Handlers(_replay_add_trial, None, of_a_job=False),
    JournalOp.STOP_TRIAL: _Handlers(_replay_stop_trial, _record_stop_trial, of_a_job=False),
    JournalOp.JOB_STARTED: _Handlers(None, _record_job_started),
    JournalOp.RETRY: _Handlers(None, _record_retry),
    JournalOp.LATE_VALUE: _Handlers(None, _record_late_value),
    JournalOp.CHECKPOINT: _Handlers(None, None, of_a_job=False),
    JournalOp.CHECKPOINT_ERROR: _Handlers(None, _record_checkpoint_error, of_a_job=False),
    JournalOp.CONTROL: _Handlers(None, None, of_a_job=False),
    JournalOp.STATE: _Handlers(None, None, of_a_job=False),
}


def restore_records(rr: ReplayResult) -> Restored:
    """Records of every job in the journal, and the jobs that were running when it ended."""
    st = _Rebuilding(rr.jobs)
    last_time = 0.0
    for row in rr.rows:
        last_time = max(last_time, row.time)
        op = op_of(row.kind)
        handlers = None if op is None else OPS[op]
        if handlers is None or handlers.record is None:
            continue
        if handlers.of_a_job:
            known = st.jobs if op is JournalOp.NEXT_JOB else st.records
            if row.job_id not in known:
                continue
        elif row.trial_id is None:
            continue
        handlers.record(st, row)
    records = st.records
    rerun = sorted(rr.scheduler.running_jobs(), key=lambda j: j.job_id)
    for job in rerun:
        rec = records[job.job_id]
        records[job.job_id] = rec._replace(status=JobStatus.INTERRUPTED,
                                           end=rec.end if rec.end is not None else last_time)
    for jid, rec in records.items():  # a timed-out job whose thread never came back
        if rec.status is JobStatus.FAILED and rec.end is None:
            records[jid] = rec._replace(end=last_time)
    ordered = [records[j] for j in sorted(records)]
    return Restored(ordered, rerun, st.n_issued, last_time, st.started)


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
    st = _Replaying(sched, {}, journal.path)
    rows = list(journal.rows())
    for row in rows:
        op = op_of(row.kind)
        handler = None if op is None else OPS[op].replay
        if handler is None:
            continue
        try:
            handler(st, row)
        except (JournalMismatchError, JournalError):
            raise
        except Exception as exc:
            raise JournalMismatchError(
                f"journal {str(journal.path)!r} does not replay: row {row.seq} ({row.kind} of "
                f"job {row.job_id}, trial {row.trial_id}) fails on the rebuilt scheduler "
                f"({type(exc).__name__}: {exc}); the journal is damaged, or was written by two "
                "searches at once (before asha_nb locked journals)") from exc
    return ReplayResult(sched, st.jobs, rows, meta)


def restore_loop(journal: str | os.PathLike[str], objective: Callable[..., Any],
                 overrides: dict[str, Any], *,
                 allow_other_objective: bool = False) -> tuple[Loop, dict[str, Any]]:
    """The loop of a journaled search, rebuilt (``Search.from_journal``), and its options."""
    check_objective_callable(objective)
    if not isinstance(allow_other_objective, bool):
        raise InvalidTypeError(
            f"allow_other_objective must be True or False, got {allow_other_objective!r} "
            f"({type(allow_other_objective).__name__})")
    bad = sorted(set(overrides) - set(RUNTIME_OPTIONS))
    if bad:
        raise InvalidParameterError(
            f"Search.from_journal accepts only runtime options {list(RUNTIME_OPTIONS)} as "
            f"overrides; got {bad} (scheduler options are fixed by the journal)"
        )
    j = Journal.open_existing(journal)
    try:
        rr = replay(j)
        stored = rr.meta.get("fingerprint")
        if stored and not allow_other_objective:
            now = objective_fingerprint(objective)
            if not same_objective(stored, now):
                raise InvalidParameterError(
                    f"objective {now['name']} is not the objective this journal was "
                    f"written with ({stored.get('name')}, source hash "
                    f"{stored.get('source_sha256') or 'unknown'}; now "
                    f"{now['source_sha256'] or 'unknown'}): resuming would mix results of "
                    "two objectives in one search. Pass the same objective, or "
                    "allow_other_objective=True if you mean it")
        restored = restore_records(rr)
        opts = dict(rr.meta["options"])
        stored_ex = opts.get("executor")
        if isinstance(stored_ex, dict) and "simulated" in stored_ex:
            opts["executor"] = SimulatedExecutor(**stored_ex["simulated"])
        opts.update(overrides)
        opts = check_runtime_options(opts)  # an old journal's stored options, checked again
        ex = make_executor(opts["executor"])
        was_virtual = bool(rr.meta.get("virtual"))
        if was_virtual != bool(getattr(ex, "virtual", False)):
            raise InvalidParameterError(
                f"journal {os.fspath(journal)!r} holds a search in "
                f"{'virtual' if was_virtual else 'real'} time: resume it "
                + ("in virtual time (executor=SimulatedExecutor(...))" if was_virtual
                   else "on a real executor (thread, process, dask, ...)")
                + f", not with executor={overrides.get('executor')!r}")
        ex.check_objective(objective)
        ex.check_n_workers(opts.get("n_workers", 2))
        check_space_values(rr.scheduler.space, journal=False, pickler=job_pickler(ex))
        clock: Clock
        virtual_clock = getattr(ex, "clock", None)
        if was_virtual and isinstance(virtual_clock, VirtualClock):
            virtual_clock.advance_to(max(virtual_clock.t, restored.last_time))
            clock = virtual_clock
        else:
            clock = WallClock(origin=rr.meta["t0"])
        loop = Loop(rr.scheduler, objective, ex, clock, n_workers=opts.get("n_workers", 2),
                    journal=j,
                    time_budget=opts.get("time_budget"), target=opts.get("target"),
                    job_timeout=opts.get("job_timeout"), retries=opts.get("retries", 0),
                    max_jobs=opts.get("max_jobs"))
    except BaseException:
        j.close()
        raise
    for rec in restored.records:
        loop.store.put(rec)
    for job_id, started in restored.started.items():
        loop.store.set_started(job_id, started)
    loop.retries.pending.extend((job, 0) for job in restored.rerun)
    loop.n_issued = restored.n_issued
    done = sorted((r.end, r.trial_id, r.resource, r.value) for r in restored.records
                  if r.value is not None and r.end is not None
                  and r.status in (JobStatus.OK, JobStatus.STOPPED))
    for end, trial_id, resource, value in done:  # the best-so-far histories, recomputed
        loop.best.track(trial_id, resource, value, end)
    return loop, opts
