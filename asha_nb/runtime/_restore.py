"""Rebuild a search's records from its journal (``Search.from_journal``).

:func:`~asha_nb.runtime.journal.replay` rebuilds the scheduler by replaying the journaled
scheduler calls; this module rebuilds what the user saw: one :class:`~asha_nb.results.JobRecord`
per job with its worker, start, end, value, status and error, and the jobs that were out when the
search died (they run again, from their trial's checkpoint where one is on disk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core import Job, JobStatus
from ..results import JobRecord
from .journal import ReplayResult

__all__ = ["Restored", "restore_records"]

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
