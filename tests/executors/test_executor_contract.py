"""One contract suite run on every executor: thread, process (pebble), Dask, generic pools."""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
import sys
import time
from typing import Any

import cloudpickle
import pytest
from _polling import until

from asha_nb.executors import JobOutcome, JobSpec

# Workers (spawned processes, Dask workers) cannot import this test module: send its
# functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

BACKENDS = ["thread", "process", "dask", "generic-thread", "generic-process"]
STREAMING = ["thread", "process", "dask"]
COOPERATIVE = ["thread", "dask"]
FORMS = ["plain", "checkpoint", "trial"]
#: Executors that enforce JobSpec.timeout themselves (pebble kills the worker); the others
#: leave it to the runtime, which counts it from RunningJob.started_at.
HANDLES_TIMEOUTS = {"thread": False, "process": True, "dask": False, "generic-thread": False,
                    "generic-process": False}

_job_ids = itertools.count(1000)


def make_spec(config: dict[str, Any], resource: float = 3, **kw: Any) -> JobSpec:
    """A JobSpec with a job id unique in the session (stop flags are keyed by job id)."""
    job_id = next(_job_ids)
    kw.setdefault("trial_id", job_id)
    kw.setdefault("rung", 0)
    kw.setdefault("resume_from", 0)
    return JobSpec(job_id=job_id, config=config, resource=resource, **kw)


# ---------------------------------------------------------------- objectives (one per form)
def _mark_started(config: dict[str, Any]) -> None:
    """Create the file ``config["started"]`` (if given) once the job runs: what a test waits on."""
    if config.get("started"):
        open(config["started"], "w").close()


def _misbehave(config: dict[str, Any]) -> None:
    case = config.get("case")
    if case == "raise":
        raise ValueError(f"boom {config['x']}")
    if case == "crash":
        os._exit(1)
    if case == "sleep":
        _mark_started(config)
        time.sleep(config.get("seconds", 60))


def plain_objective(config, resource):
    _misbehave(config)
    return config["x"] * resource


def checkpoint_objective(config, resource, checkpoint):
    _misbehave(config)
    trained_before = 0 if checkpoint is None else checkpoint["trained"]
    return config["x"] * resource, {
        "trained": resource,
        "before": trained_before,
        "pid": os.getpid(),
    }


def trial_objective(trial):
    config = trial.config
    if config.get("case") == "ignore_stop":  # a job that cannot be stopped: returns late
        deadline = time.monotonic() + config["seconds"]
        while time.monotonic() < deadline:
            trial.should_stop()
            time.sleep(0.02)
        return config["x"]
    if config.get("case") == "wait_stop":  # cooperative stop: loop until asked
        _mark_started(config)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if trial.should_stop():
                return -1.0
            time.sleep(0.02)
        return -2.0
    _misbehave(config)
    for epoch in range(int(trial.resume_from), int(trial.resource)):
        trial.report(config["x"] * (epoch + 1))
    before = 0 if trial.checkpoint is None else trial.checkpoint["trained"]
    trial.save({"trained": trial.resource, "before": before, "job_id": trial.job_id})
    return config["x"] * trial.resource


async def async_plain_objective(config, resource):
    import asyncio

    await asyncio.sleep(0.01)
    _misbehave(config)
    return config["x"] * resource


async def async_checkpoint_objective(config, resource, checkpoint):
    return checkpoint_objective(config, resource, checkpoint)


async def async_trial_objective(trial):
    import asyncio

    await asyncio.sleep(0)
    return trial_objective(trial)


OBJECTIVES = {
    "plain": plain_objective,
    "checkpoint": checkpoint_objective,
    "trial": trial_objective,
    "async-plain": async_plain_objective,
    "async-checkpoint": async_checkpoint_objective,
    "async-trial": async_trial_objective,
}


def run(executors, backend: str, form: str, config: dict[str, Any], timeout: float = 60, **kw):
    ex = executors.get(backend, form, OBJECTIVES[form])
    job = ex.submit(make_spec(config, **kw))
    return ex, job, job.future.result(timeout=timeout)


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_value_of_each_objective_form(executors, backend, form):
    ex, job, outcome = run(executors, backend, form, {"x": 1.5}, resource=4)
    assert isinstance(outcome, JobOutcome)
    assert outcome.error is None
    assert outcome.value == 6.0
    assert outcome.stopped is False
    assert outcome.duration >= 0
    if form == "plain":
        assert outcome.checkpoint is None
    else:
        assert outcome.checkpoint["trained"] == 4
        assert outcome.checkpoint["before"] == 0
    if form == "trial":
        assert outcome.intermediate == ((1.0, 1.5), (2.0, 3.0), (3.0, 4.5), (4.0, 6.0))
    else:
        assert outcome.intermediate == ()


@pytest.mark.parametrize("form", ["async-plain", "async-checkpoint", "async-trial"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_async_objectives_are_awaited_in_the_worker(executors, backend, form):
    ex, job, outcome = run(executors, backend, form, {"x": 1.5}, resource=2)
    assert outcome.error is None
    assert outcome.value == 3.0
    if form == "async-trial":
        assert outcome.intermediate == ((1.0, 1.5), (2.0, 3.0))
        assert outcome.checkpoint["trained"] == 2
    _, _, failed = run(executors, backend, form, {"x": 7, "case": "raise"})
    assert "ValueError: boom 7" in failed.error


@pytest.mark.parametrize("form", ["checkpoint", "trial"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpoint_round_trip(executors, backend, form):
    _, _, first = run(executors, backend, form, {"x": 1.0}, resource=2)
    _, _, second = run(
        executors,
        backend,
        form,
        {"x": 1.0},
        resource=6,
        resume_from=2,
        rung=1,
        checkpoint=first.checkpoint,
    )
    assert second.error is None
    assert second.value == 6.0
    assert second.checkpoint["before"] == 2  # resumed from the first job's checkpoint
    assert second.checkpoint["trained"] == 6
    if form == "trial":  # only epochs 3..6 were trained again
        assert [r for r, _ in second.intermediate] == [3.0, 4.0, 5.0, 6.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_intermediate_reports(executors, backend):
    ex, job, outcome = run(executors, backend, "trial", {"x": 2.0}, resource=3)
    expected = [(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]
    assert list(outcome.intermediate) == expected
    if backend not in STREAMING:
        assert ex.drain_reports() == []
        return
    got: list = []

    def three_reports() -> bool:
        got.extend(r for r in ex.drain_reports() if r.job_id == job.spec.job_id)
        return len(got) >= 3

    until(three_reports, 10, every=0.02)
    assert [(r.resource, r.value) for r in got] == expected
    assert {r.trial_id for r in got} == {job.spec.trial_id}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_objective_error_comes_back_as_traceback(executors, backend, form):
    _, _, outcome = run(executors, backend, form, {"x": 42, "case": "raise"})
    assert outcome.value is None
    assert outcome.error is not None
    assert "Traceback (most recent call last)" in outcome.error
    assert "ValueError: boom 42" in outcome.error
    assert "_misbehave" in outcome.error


@pytest.mark.parametrize("backend", BACKENDS)
def test_notebook_function_lambda_and_closure(executors, backend):
    # A function defined in a notebook lives in __main__ and cannot be imported by workers.
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(
        "def notebook_objective(config, resource):\n    return scale(config['x']) * resource\n",
        namespace,
    )
    factor = 10.0
    namespace["scale"] = lambda x: x * factor  # closure over a local variable
    ex = executors.new(backend)
    ex.start(namespace["notebook_objective"], 1)
    try:
        outcome = ex.submit(make_spec({"x": 0.5}, resource=2)).future.result(timeout=60)
    finally:
        ex.shutdown(wait=True)
    assert outcome.error is None
    assert outcome.value == 10.0


@pytest.mark.parametrize("backend", COOPERATIVE)
def test_cooperative_stop(executors, backend, tmp_path):
    ex = executors.get(backend, "trial", trial_objective)
    started = tmp_path / "started"
    job = ex.submit(make_spec({"x": 1.0, "case": "wait_stop", "started": str(started)}))
    assert until(started.exists, 60), "the job never started"
    assert not job.future.done()
    ex.stop_job(job)
    outcome = job.future.result(timeout=10)
    assert outcome.stopped is True
    assert outcome.value == -1.0
    # the worker is free again
    _, _, after = run(executors, backend, "trial", {"x": 1.0}, resource=1)
    assert after.value == 1.0


def test_process_stop_kills_running_job(executors, tmp_path):
    ex = executors.get("process", "plain", plain_objective)
    assert ex.can_kill
    started = tmp_path / "started"
    job = ex.submit(make_spec({"x": 1.0, "case": "sleep", "seconds": 60,
                               "started": str(started)}))
    assert until(started.exists, 60), "the job never started"
    assert not job.future.done()
    t0 = time.monotonic()
    ex.stop_job(job)
    with pytest.raises(cf.CancelledError):
        job.future.result(timeout=10)
    assert time.monotonic() - t0 < 10
    _, _, after = run(executors, "process", "plain", {"x": 2.0}, resource=2)
    assert after.value == 4.0


def test_generic_stop_cancels_queued_job(executors):
    from asha_nb.executors import GenericExecutor

    pool = cf.ThreadPoolExecutor(1)
    ex = GenericExecutor(pool)
    ex.start(plain_objective, 1)
    try:
        busy = ex.submit(make_spec({"x": 1.0, "case": "sleep", "seconds": 0.5}))
        queued = ex.submit(make_spec({"x": 1.0}))
        ex.stop_job(queued)
        assert queued.future.cancelled()
        assert busy.future.result(timeout=10).value == 3.0
    finally:
        ex.shutdown()
        pool.shutdown(wait=True)


def test_process_crash_is_isolated(executors):
    from pebble import ProcessExpired

    ex = executors.get("process", "plain", plain_objective)
    job = ex.submit(make_spec({"x": 1.0, "case": "crash"}))
    with pytest.raises(ProcessExpired) as info:
        job.future.result(timeout=30)
    assert info.value.exitcode == 1
    _, _, after = run(executors, "process", "plain", {"x": 3.0}, resource=1)
    assert after.value == 3.0


def test_process_timeout_kills_job(executors):
    ex = executors.get("process", "plain", plain_objective)
    job = ex.submit(make_spec({"x": 1.0, "case": "sleep", "seconds": 60}, timeout=0.5))
    with pytest.raises(TimeoutError):
        job.future.result(timeout=30)
    _, _, after = run(executors, "process", "plain", {"x": 1.0}, resource=5)
    assert after.value == 5.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_handles_timeouts_flag(executors, backend):
    assert executors.new(backend).handles_timeouts is HANDLES_TIMEOUTS[backend]


@pytest.mark.parametrize("backend", [b for b in BACKENDS if not HANDLES_TIMEOUTS[b]])
def test_no_executor_side_timeout(executors, backend):
    # The runtime enforces JobSpec.timeout for these executors; the executor itself must not
    # fail the job's future at the deadline (it used to, counting from the submission).
    ex = executors.get(backend, "plain", plain_objective)
    job = ex.submit(make_spec({"x": 2.0, "case": "sleep", "seconds": 1.0}, timeout=0.2))
    outcome = job.future.result(timeout=60)
    assert outcome.error is None and outcome.value == 6.0


@pytest.mark.parametrize("backend", COOPERATIVE)
def test_late_value_after_stop_resolves_the_future(executors, backend):
    # What the runtime does at a timeout: stop_job. A job that ignores the stop request keeps
    # its worker; its future then resolves with the value it returned (never cancelled).
    ex = executors.get(backend, "trial", trial_objective)
    job = ex.submit(make_spec({"x": 4.0, "case": "ignore_stop", "seconds": 1.0}))

    def seen_start() -> bool:
        ex.drain_reports()  # the Dask executor learns of the start from its report queue
        return job.started_at is not None

    assert until(seen_start, 30, every=0.02)
    ex.stop_job(job)
    outcome = job.future.result(timeout=60)
    assert not job.future.cancelled()
    assert outcome.error is None and outcome.value == 4.0
    assert outcome.stopped is True  # it saw the request, and returned late anyway


def test_thread_started_at_is_the_real_start():
    import threading

    from asha_nb.executors import ThreadExecutor

    gate = threading.Event()

    def objective(config, resource):
        if config.get("gate"):
            gate.wait(30)
        return time.monotonic()

    ex = ThreadExecutor(limit_threads=False)
    ex.start(objective, 1)
    try:
        first = ex.submit(make_spec({"gate": True}))
        queued = ex.submit(make_spec({}))
        assert until(lambda: first.started_at is not None, 30)
        # the only thread is busy: the second job has not started, whatever the clock says
        assert queued.started_at is None and not queued.future.running()
        gate.set()
        first_end = first.future.result(timeout=30).value
        queued.future.result(timeout=30)
        assert first.started_at <= first_end <= queued.started_at
    finally:
        gate.set()
        ex.shutdown(wait=True)


def test_process_timeout_counts_from_the_start_in_a_worker():
    # pebble stamps a task when a worker takes it, not at schedule(): a job queued behind a
    # slow one for longer than its timeout still runs (handles_timeouts=True is truthful).
    from asha_nb.executors import ProcessExecutor

    ex = ProcessExecutor(stream=False)
    ex.start(plain_objective, 1)
    try:
        slow = ex.submit(make_spec({"x": 1.0, "case": "sleep", "seconds": 2.0}))
        quick = ex.submit(make_spec({"x": 5.0}, resource=1, timeout=1.0))
        assert quick.future.result(timeout=60).value == 5.0
        assert slow.future.result(timeout=60).value == 3.0
        stuck = ex.submit(make_spec({"x": 1.0, "case": "sleep", "seconds": 60}, timeout=0.5))
        with pytest.raises(TimeoutError):
            stuck.future.result(timeout=60)
    finally:
        ex.shutdown()


def test_dask_started_at_comes_from_the_worker(executors):
    ex = executors.get("dask", "plain", plain_objective)
    submitted = time.monotonic()
    job = ex.submit(make_spec({"x": 1.0, "case": "sleep", "seconds": 1.0}))

    def seen_start() -> bool:
        ex.drain_reports()  # as the runtime's loop does
        return job.started_at is not None

    assert until(seen_start, 60, every=0.02)
    assert job.started_at >= submitted
    assert job.future.result(timeout=60).value == 3.0


def test_dask_killed_worker_fails_fast_and_cluster_recovers(executors):
    from distributed.scheduler import KilledWorker

    ex = executors.get("dask", "plain", plain_objective)
    job = ex.submit(make_spec({"x": 1.0, "case": "crash"}))
    with pytest.raises(KilledWorker):  # allowed-failures=0: no retry on other workers
        job.future.result(timeout=60)
    _, _, after = run(executors, "dask", "plain", {"x": 2.0}, resource=3)
    assert after.value == 6.0


def test_dask_jobs_are_not_pure(executors):
    ex = executors.get("dask", "plain", plain_objective)
    spec = make_spec({"x": 1.0})
    a = ex.submit(spec)
    b = ex.submit(spec)
    assert a.extra["dask_future"].key != b.extra["dask_future"].key
    assert a.future.result(timeout=30).value == b.future.result(timeout=30).value == 3.0
