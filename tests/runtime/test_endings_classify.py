"""A job's end is classified first (pure), then written: every kind of end, one case each."""

from __future__ import annotations

import concurrent.futures as cf

import pytest

from asha_nb.core import Job
from asha_nb.errors import ExecutorLostError
from asha_nb.executors import JobOutcome, JobSpec, RunningJob
from asha_nb.runtime._endings import Ending, classify


def _ended(result: object = None, exc: BaseException | None = None, **marks: object) -> RunningJob:
    fut: cf.Future[JobOutcome] = cf.Future()
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)  # type: ignore[arg-type]
    running = RunningJob(JobSpec(Job(0, 0, {}, 0, 1)), fut)
    for k, v in marks.items():
        setattr(running, k, v)
    return running


@pytest.mark.parametrize(("running", "may_retry", "ending", "value", "error"), [
    (_ended(JobOutcome(0.5)), False, Ending.OK, 0.5, None),
    (_ended(JobOutcome(2)), False, Ending.OK, 2.0, None),
    (_ended(JobOutcome(error="Traceback: boom")), True, Ending.RETRY, None, "Traceback: boom"),
    (_ended(JobOutcome(error="Traceback: boom")), False, Ending.FAILED, None,
     "Traceback: boom"),
    (_ended(JobOutcome("text")), True, Ending.FAILED, None, "objective returned 'text'"),
    (_ended(exc=ExecutorLostError("cluster gone")), True, Ending.LOST, None, "cluster gone"),
    (_ended(exc=TimeoutError()), True, Ending.FAILED, None, "timed out after 3 s"),
    (_ended(JobOutcome(0.5), timed_out="timed out after 3 s"), False, Ending.LATE, 0.5, None),
    (_ended(JobOutcome(0.5), user_stopped=True), False, Ending.STOPPED_AFTER_END, 0.5, None),
    (_ended(JobOutcome(0.5, stopped=True), user_stopped=True), False, Ending.STOPPED, 0.5,
     None),
    (_ended(exc=cf.CancelledError(), user_stopped=True), False, Ending.STOPPED, None,
     "cancelled"),
])
def test_classify_names_each_kind_of_end(running: RunningJob, may_retry: bool, ending: Ending,
                                         value: float | None, error: str | None) -> None:
    v = classify(running, may_retry, 3.0)
    assert v.ending is ending and v.value == value
    assert (v.error is None) if error is None else (error in (v.error or ""))
