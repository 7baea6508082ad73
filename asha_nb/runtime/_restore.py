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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def restore_records(rr: ReplayResult) -> Restored:
    """Records of every job in the journal, and the jobs that were running when it ended."""
    records: dict[int, JobRecord] = {}
    stopped_while_running: set[int] = set()  # job ids whose trial was stopped while they ran
    running_of_trial: dict[int, int] = {}
    ckpt_notes: dict[int, str] = {}  # trial id -> why its last checkpoint was not saved
    n_issued = 0
    last_time = 0.0
    for row in rr.rows:
        last_time = max(last_time, row.time)
        kind, jid = row.kind, row.job_id
        if kind == "next_job" and jid is not None:
            job = rr.jobs[jid]
            n_issued += 1
            records[jid] = JobRecord(job.job_id, job.trial_id, job.rung, job.resource,
                                     job.resume_from, job.bracket, job.config,
                                     JobStatus.INTERRUPTED)
        elif kind == "job_started" and jid in records:
            rec = records[jid]
            records[jid] = rec._replace(status=JobStatus.RUNNING, worker=int(row.text or 0),
                                        start=row.time, end=None, attempts=rec.attempts + 1)
            running_of_trial[rec.trial_id] = jid
        elif kind == "retry" and jid in records:
            rec = records[jid]
            if rec.status is JobStatus.RUNNING:  # its previous attempt failed
                records[jid] = rec._replace(status=JobStatus.RETRYING, end=row.time)
        elif kind == "stop_trial" and row.trial_id is not None:
            jid_running = running_of_trial.get(row.trial_id)
            if jid_running is not None and records[jid_running].status is JobStatus.RUNNING:
                stopped_while_running.add(jid_running)
        elif kind == "checkpoint_error" and row.trial_id is not None:
            # Worded as the loop words it on the live record.
            ckpt_notes[row.trial_id] = (f"checkpoint not saved (CheckpointError: {row.text}); a "
                                        "resumed search retrains this trial from scratch")
        elif kind == "report" and jid in records:
            status = JobStatus.STOPPED if jid in stopped_while_running else JobStatus.OK
            rec = records[jid]
            value = row.value
            # The notes the live search put on the record: a non-finite value, a checkpoint
            # that could not be saved (journaled just before this report).
            note = ckpt_notes.pop(rec.trial_id, None)
            if note is None and value is not None and not math.isfinite(value):
                note = f"objective returned {value!r}"
            records[jid] = rec._replace(status=status, value=value, end=row.time, error=note)
        elif kind == "fail" and jid in records:
            text = row.text or "failed"
            stopped = jid in stopped_while_running or text == _STOPPED_TEXT
            rec = records[jid]
            # A timeout whose thread still runs has no end yet; a later late_value row sets it.
            records[jid] = rec._replace(status=JobStatus.STOPPED if stopped else JobStatus.FAILED,
                                        error=None if stopped else text,
                                        end=None if text.startswith("timed out") else row.time)
        elif kind == "late_value" and jid in records:
            rec = records[jid]
            records[jid] = rec._replace(value=row.value, end=row.time)
    rerun = sorted(rr.scheduler.running_jobs(), key=lambda j: j.job_id)
    for job in rerun:
        rec = records[job.job_id]
        records[job.job_id] = rec._replace(status=JobStatus.INTERRUPTED,
                                           end=rec.end if rec.end is not None else last_time)
    for jid, rec in records.items():  # a timed-out job whose thread never came back
        if rec.status is JobStatus.FAILED and rec.end is None:
            records[jid] = rec._replace(end=last_time)
    ordered = [records[j] for j in sorted(records)]
    return Restored(ordered, rerun, n_issued, last_time)


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
        try:
            _replay_row(sched, jobs, row, journal.path)
        except (JournalMismatchError, JournalError):
            raise
        except Exception as exc:
            raise JournalMismatchError(
                f"journal {str(journal.path)!r} does not replay: row {row.seq} ({row.kind} of "
                f"job {row.job_id}, trial {row.trial_id}) fails on the rebuilt scheduler "
                f"({type(exc).__name__}: {exc}); the journal is damaged, or was written by two "
                "searches at once (before asha_nb locked journals)") from exc
    return ReplayResult(sched, jobs, rows, meta)


def _replay_row(sched: Scheduler, jobs: dict[int, Job], row: JournalRow, path: Path) -> None:
    """Apply one journaled scheduler call to the rebuilt scheduler."""
    kind = row.kind
    if kind == "next_job":
        job = sched.next_job()
        if job is None or (job.job_id, job.trial_id, job.rung) != (row.job_id, row.trial_id, row.rung):
            got = None if job is None else (job.job_id, job.trial_id, job.rung)
            raise JournalMismatchError(
                f"journal {str(path)!r} does not replay: row {row.seq} recorded job "
                f"{(row.job_id, row.trial_id, row.rung)} (job_id, trial_id, rung) but the "
                f"rebuilt scheduler handed out {got}; the scheduler code or space changed"
            )
        # By canonical encoding, never ``==`` (nan, arrays, objects without value equality).
        if row.data is not None and not same_config(job.config, row.data):
            raise JournalMismatchError(
                f"journal {str(path)!r} does not replay: job {job.job_id} has config "
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
            return
        if tid != row.trial_id:
            raise JournalMismatchError(
                f"journal {str(path)!r} does not replay: add_trial gave trial {tid}, "
                f"journal says {row.trial_id}"
            )
    elif kind == "stop_trial":
        try:
            sched.stop_trial(row.trial_id)  # type: ignore[arg-type]
        except AshaError:
            return


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
    loop.pending.extend((job, 0) for job in restored.rerun)
    loop.n_issued = restored.n_issued
    done = sorted((r.end, r.trial_id, r.resource, r.value) for r in restored.records
                  if r.value is not None and r.end is not None
                  and r.status in (JobStatus.OK, JobStatus.STOPPED))
    for end, trial_id, resource, value in done:  # the best-so-far histories, recomputed
        loop.track_best(trial_id, resource, value, end)
    return loop, opts
