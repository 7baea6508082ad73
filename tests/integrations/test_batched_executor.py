"""The batched executor over the BatchEngine protocol, with plain-Python engines (no JAX, no torch)."""

from __future__ import annotations

import concurrent.futures as cf
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
    with pytest.raises(InvalidTypeError, match="engine options \\['devices'\\]"):
        BatchedExecutor(ToyModel(), devices=[0])  # the model given: refused at once
    ex = BatchedExecutor(devices=[0])  # the model comes at start (the search's objective)
    with pytest.raises(InvalidTypeError, match="engine options \\['devices'\\]"):
        ex.start(ToyModel(), 2)


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


def test_the_runtimes_caught_up_hint_ends_the_wait_for_submissions():
    # gather_window=600 s: without the hint the batching thread would wait a quarter of it
    # (150 s) for more submissions after the last one before training the two rows
    ex = BatchedExecutor(ToyModel(), gather_window=600.0)
    ex.start(None, 4)
    try:
        jobs = [ex.submit(JobSpec(i, i, {"lr": 1.0}, 0, 1, 0)) for i in range(2)]
        ex.caught_up(0)  # nothing finished yet, both jobs are out: nothing more is coming
        done, _ = cf.wait([j.future for j in jobs], timeout=60)
        assert len(done) == 2
        assert [j.future.result().value for j in jobs] == [1.0, 1.0]
        # the runtime took in both results and had no job left to submit: the hint covers
        # both, and a later submission again runs without waiting for the window
        ex.caught_up(2)
        again = ex.submit(JobSpec(2, 0, {"lr": 1.0}, 1, 3, 1, {"resource": 1}))
        ex.caught_up(2)
        assert again.future.result(timeout=60).value == 3.0
    finally:
        ex.shutdown(wait=True)


def test_a_hint_that_misses_finished_jobs_is_ignored():
    # the hint counts the results the runtime took in: one that predates results the batching
    # thread has since resolved does not end the wait; a hint that covers them all does
    import queue

    from asha_nb.executors import RunningJob
    from asha_nb.executors.batched import _Msg

    class Inbox:
        """Hands out the queued messages and records how the batching thread asked."""

        def __init__(self, messages):
            self.messages, self.calls = list(messages), []

        def get(self, timeout):
            self.calls.append("wait")
            return self._next()

        def get_nowait(self):
            self.calls.append("nowait")
            return self._next()

        def _next(self):
            if not self.messages:
                raise queue.Empty
            return self.messages.pop(0)

    ex = BatchedExecutor(ToyModel(), gather_window=600.0)
    engine = ToyEngine(4)
    ex.engine, ex.n_workers = engine, 4
    ex._n_resolved = 3  # three jobs finished in the last chunk
    job = RunningJob(JobSpec(0, 0, {"lr": 1.0}, 0, 1, 0), cf.Future())
    ex._inbox = Inbox([(_Msg.ADD, job), (_Msg.CAUGHT_UP, 2), (_Msg.CAUGHT_UP, 3)])
    ex._gather(engine, idle=False, want=3)
    assert engine.n_active == 1
    # after the stale hint (2 < 3) it still waits; after the fresh one it only takes what is
    # there (nothing) and returns
    assert ex._inbox.calls == ["wait", "wait", "wait", "nowait"]


def test_the_runtime_hints_the_executor_after_each_burst():
    from asha_nb import Search
    from asha_nb.core import ASHA
    from asha_nb.space import LogUniform

    hints = []

    class Model(ToyModel):  # Search wants a callable objective; the executor uses engine()
        def __call__(self, config, resource):
            raise AssertionError("the batched executor trains through the engine")

    class Spy(BatchedExecutor):
        def caught_up(self, n_seen):
            hints.append(n_seen)
            super().caught_up(n_seen)

    sched = ASHA({"lr": LogUniform(0.01, 1.0)}, min_resource=1, max_resource=9,
                 reduction_factor=3, max_trials=12, seed=0)
    search = Search(Model(), scheduler=sched, executor=Spy(gather_window=600.0),
                    n_workers=4, progress=False)
    search.run()
    n_jobs = sum(r.n_results for r in sched.snapshot().rungs)
    assert hints and hints[0] == 0  # the first burst: every slot filled, nothing seen yet
    assert hints == sorted(hints) and hints[-1] == n_jobs  # the last: every result taken in
