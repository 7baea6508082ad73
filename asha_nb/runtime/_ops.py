"""The operations a search journals: one enum names them all (Optuna's ``JournalOperation``).

The same enum drives writing (:class:`~asha_nb.runtime._journaled.JournaledScheduler`, the
loop's only way to the scheduler) and replay (the handler table of
:mod:`asha_nb.runtime._restore`). Its values are the ``kind`` strings of the journal's
``events`` table, unchanged since the first journals, so journals written before the enum
existed still resume.
"""

from __future__ import annotations

import enum

__all__ = ["JournalOp", "op_of"]


class JournalOp(str, enum.Enum):
    """One kind of journal row. Scheduler calls (replayed on a fresh scheduler) first."""

    NEXT_JOB = "next_job"  #: a job was handed out (``data`` = its config)
    REPORT = "report"  #: a job's value went to the scheduler (``value``)
    FAIL = "fail"  #: a job failed or was stopped (``text`` = error)
    ADD_TRIAL = "add_trial"  #: ``data`` = ``{"config": ..., "check": ...}``, ``trial_id`` = new id
    STOP_TRIAL = "stop_trial"  #: the user stopped a trial
    JOB_STARTED = "job_started"  #: a job went to a worker (``text`` = worker slot)
    RETRY = "retry"  #: a failed attempt runs again (``text`` = attempt)
    LATE_VALUE = "late_value"  #: a value that came after its job timed out (kept, not replayed)
    CHECKPOINT = "checkpoint"  #: a checkpoint is on disk (``value`` = its resource)
    CHECKPOINT_ERROR = "checkpoint_error"  #: a checkpoint could not be saved (``text`` = why)
    CONTROL = "control"  #: pause / resume / stop / set_n_workers (``text``, ``data`` = args)
    STATE = "state"  #: the search's state changed (``text``)

    def __str__(self) -> str:
        return self.value


_BY_VALUE: dict[str, JournalOp] = {op.value: op for op in JournalOp}


def op_of(kind: str) -> JournalOp | None:
    """The operation of a row's ``kind`` (``None``: a kind this version does not know)."""
    return _BY_VALUE.get(kind)
