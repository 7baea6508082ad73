"""The batched executor over the BatchEngine protocol, with plain-Python engines (no JAX, no torch)."""

from __future__ import annotations

import time

import pytest

from asha_nb.errors import ExecutorLostError, InvalidParameterError, InvalidTypeError
from asha_nb.executors import BaseExecutor, JobSpec, make_executor
from asha_nb.executors.batched import (
    ENGINE_MEMBERS,
    BatchedExecutor,
    BatchEngine,
    Finished,
    missing_engine_members,
)


class ToyEngine:
    """Follows the protocol: a row's value is lr * its epochs; every step trains one epoch."""

    def __init__(self, capacity: int, *, fail_progress: bool = False):
        self.capacity = capacity
        self.fail_progress = fail_progress
        self.rows: dict = {}

    @property
    def n_active(self) -> int:
        return len(self.rows)

    def add(self, key, trial_id, config, epochs, checkpoint=None):
        done = 0 if checkpoint is None else checkpoint["resource"]
        self.rows[key] = [trial_id, config["lr"], done, int(epochs), 0]

    def remove(self, key):
        return self.rows.pop(key, None) is not None

    def step(self, max_epochs=None):
        out = []
        for key, row in list(self.rows.items()):
            row[2] += 1
            row[4] += 1
            if row[4] >= row[3]:
                del self.rows[key]
                out.append(Finished(key, row[0], row[1] * row[2], {"resource": row[2]}, row[4]))
        return out

    def progress(self):
        if self.fail_progress:
            raise RuntimeError("progress is broken")
        return {k: (r[2], r[1] * r[2]) for k, r in self.rows.items()}

    def set_capacity(self, capacity):
        self.capacity = capacity


class ToyModel:
    def __init__(self, engine_cls=ToyEngine, **options):
        self.engine_cls = engine_cls
        self.options = options

    def engine(self, capacity):
        return self.engine_cls(capacity, **self.options)


class NoStep:
    """Lacks step() and has n_active as a method instead of a property."""

    def __init__(self, capacity):
        pass

    def add(self, key, trial_id, config, epochs, checkpoint=None): ...
    def remove(self, key): ...
    def progress(self): ...
    def set_capacity(self, capacity): ...
    def n_active(self): ...


def test_toy_engine_follows_the_protocol():
    engine = ToyEngine(2)
    assert missing_engine_members(engine) == []
    assert isinstance(engine, BatchEngine)
    assert missing_engine_members(object()) == list(ENGINE_MEMBERS)


def test_start_refuses_a_nonconforming_engine_and_names_what_is_missing():
    ex = BatchedExecutor(ToyModel(NoStep))
    with pytest.raises(InvalidTypeError) as info:
        ex.start(None, 2)
    msg = str(info.value)
    assert "lacks step, n_active" in msg and "NoStep" in msg and "BatchEngine protocol" in msg
    assert ex.engine is None


def test_start_refuses_a_model_without_engine():
    with pytest.raises(InvalidTypeError, match="engine\\(capacity\\).*got function"):
        BatchedExecutor().start(lambda config, resource: 0.0, 2)


def test_engine_options_the_model_does_not_take():
    ex = BatchedExecutor(ToyModel(), devices=[0])
    with pytest.raises(InvalidTypeError, match="engine options \\['devices'\\]"):
        ex.start(None, 2)


def test_factory_names():
    for name in ("batched", "jax-batched", "jax"):
        ex = make_executor(name, gather_window=0.0)
        assert type(ex) is BatchedExecutor and ex.gather_window == 0.0
    ex = BatchedExecutor()
    assert isinstance(ex, BaseExecutor) and ex.name == "batched"
    assert ex.handles_timeouts is False and ex.can_kill is True


def test_bad_arguments():
    with pytest.raises(InvalidParameterError, match="gather_window"):
        BatchedExecutor(gather_window=-1)
    with pytest.raises(InvalidParameterError, match="max_chunk"):
        BatchedExecutor(max_chunk=0)


def test_jobs_run_through_a_conforming_engine():
    ex = BatchedExecutor(ToyModel(), gather_window=0.0)
    ex.start(None, 4)
    try:
        t0 = time.monotonic()
        jobs = [ex.submit(JobSpec(i, i, {"lr": 0.5 * (i + 1)}, 0, 3, 0)) for i in range(3)]
        outs = [j.future.result(timeout=10) for j in jobs]
        assert [o.value for o in outs] == [1.5, 3.0, 4.5]
        assert all(o.checkpoint == {"resource": 3} and o.error is None for o in outs)
        assert all(j.started_at is not None and j.started_at >= t0 for j in jobs)
        # a promotion resumes from the checkpoint: 6 - 3 = 3 more epochs, value lr * 6
        more = ex.submit(JobSpec(3, 0, {"lr": 0.5}, 1, 6, 3, outs[0].checkpoint))
        assert more.future.result(timeout=10).value == 3.0
        reports = ex.drain_reports()
        assert reports and all(r.job_id in (0, 1, 2, 3) for r in reports)
    finally:
        ex.shutdown(wait=True)


def test_the_batching_threads_time_is_split_into_its_parts():
    ex = BatchedExecutor(ToyModel(), gather_window=0.0)
    assert ex.timings == {"gather": 0.0, "add": 0.0, "step": 0.0, "results": 0.0}
    ex.start(None, 4)
    try:
        jobs = [ex.submit(JobSpec(i, i, {"lr": 1.0}, 0, 2, 0)) for i in range(4)]
        assert [j.future.result(timeout=10).value for j in jobs] == [2.0] * 4
    finally:
        ex.shutdown(wait=True)
    t = ex.timings
    assert set(t) == {"gather", "add", "step", "results"}
    assert t["add"] > 0 and t["step"] > 0 and t["results"] > 0  # 4 adds, >= 2 steps, 4 results
    assert t["gather"] >= t["add"]  # the adds happen while gathering


def test_a_broken_batching_thread_loses_the_executor():
    ex = BatchedExecutor(ToyModel(fail_progress=True), gather_window=0.0)
    ex.start(None, 2)
    try:
        job = ex.submit(JobSpec(0, 0, {"lr": 1.0}, 0, 3, 0))
        with pytest.raises(ExecutorLostError, match="progress is broken"):
            job.future.result(timeout=10)
        with pytest.raises(ExecutorLostError):
            ex.submit(JobSpec(1, 1, {"lr": 1.0}, 0, 1, 0))
    finally:
        ex.shutdown(wait=True)
