"""One shape of a job across the executor boundary: the spec carries the core Job itself."""

from __future__ import annotations

import pickle

import cloudpickle
import pytest

from asha_nb.core import Job
from asha_nb.executors import JobSpec, ThreadExecutor


def test_spec_carries_the_job_with_its_bracket() -> None:
    job = Job(4, 2, {"x": 1.0}, rung=1, resource=9, resume_from=3, bracket=2)
    spec = JobSpec(job, checkpoint="ck", timeout=5.0, worker=1)
    assert spec.job is job
    assert (spec.job_id, spec.trial_id, spec.rung, spec.resource, spec.resume_from,
            spec.bracket, spec.worker, spec.checkpoint, spec.timeout) == (
        4, 2, 1, 9, 3, 2, 1, "ck", 5.0)
    with pytest.raises(AttributeError):
        spec.worker = 3  # type: ignore[misc]


def test_flat_constructor_builds_the_same_job() -> None:
    spec = JobSpec(0, 0, {"x": 2.0}, rung=0, resource=3, resume_from=0, worker=1, bracket=1)
    assert spec.job == Job(0, 0, {"x": 2.0}, 0, 3, 0, 1) and spec.worker == 1
    assert JobSpec(job_id=1, trial_id=1, config={}, rung=0, resource=1).job.job_id == 1
    with pytest.raises(TypeError, match="unexpected"):
        JobSpec(Job(0, 0, {}, 0, 1), workers=2)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_spec_pickles_to_an_equal_spec(dumps: object) -> None:
    spec = JobSpec(Job(3, 1, {"x": 0.5}, 1, 9, 3, 0), {"w": [1, 2]}, None, 2)
    back = pickle.loads(dumps(spec))  # type: ignore[operator]
    assert back == spec and back.job == spec.job and back.checkpoint == {"w": [1, 2]}


def test_running_job_reads_job_and_worker_from_its_spec() -> None:
    ex = ThreadExecutor()
    ex.start(lambda config, resource: config["x"] * resource, 1)
    try:
        job = Job(0, 0, {"x": 2.0}, 0, 3)
        running = ex.submit(JobSpec(job, worker=0))
        assert running.job is job and running.worker == 0
        assert running.future.result(timeout=30).value == 6.0
    finally:
        ex.shutdown(wait=True)
