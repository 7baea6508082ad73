"""Unit tests: objective forms (async included), run_job, Trial, the pickling trampoline,
make_executor and resizing."""

from __future__ import annotations

import concurrent.futures as cf
import subprocess
import sys

import cloudpickle
import pytest
from _polling import until

from asha_nb._trial import NullChannel, Trial
from asha_nb.errors import InvalidParameterError, InvalidTypeError, SearchStateError
from asha_nb.executors import BaseExecutor, JobSpec, make_executor
from asha_nb.executors._pickled import dumps_objective, load_objective, run_pickled
from asha_nb.executors._worker import ObjectiveForm, QueueChannel, objective_form, run_job

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def spec(job_id=0, config=None, resource=3, resume_from=0, checkpoint=None, **kw):
    return JobSpec(
        job_id,
        job_id,
        dict(config or {"x": 2.0}),
        0,
        resource,
        resume_from,
        checkpoint=checkpoint,
        **kw,
    )


# ---------------------------------------------------------------- objective_form
@pytest.mark.parametrize(
    "fn, form",
    [
        (lambda config, resource: 0, ObjectiveForm.PLAIN),
        (lambda c, r: 0, ObjectiveForm.PLAIN),
        (lambda config, resource=1: 0, ObjectiveForm.PLAIN),
        (lambda config, resource, verbose=False: 0, ObjectiveForm.PLAIN),
        (lambda config, resource, checkpoint: 0, ObjectiveForm.CHECKPOINT),
        (lambda config, resource, checkpoint=None: 0, ObjectiveForm.CHECKPOINT),
        (lambda a, b, c: 0, ObjectiveForm.CHECKPOINT),
        (lambda trial: 0, ObjectiveForm.TRIAL),
        (lambda trial, verbose=False: 0, ObjectiveForm.TRIAL),
    ],
)
def test_objective_form_detection(fn, form):
    assert objective_form(fn) is form


def test_objective_form_override_and_errors():
    def f(*args):
        return 0

    with pytest.raises(InvalidTypeError, match=r"objective must be written as .*got f\(\*args\)"):
        objective_form(f)
    f.__asha_form__ = "trial"
    assert objective_form(f) is ObjectiveForm.TRIAL
    f.__asha_form__ = "bogus"
    with pytest.raises(InvalidTypeError, match="__asha_form__"):
        objective_form(f)
    with pytest.raises(InvalidTypeError, match="objective must be a callable"):
        objective_form(3)


@pytest.mark.parametrize(
    "fn, shown",
    [
        (lambda a, b, c, d: 1, "(a, b, c, d)"),
        (lambda: 1, "()"),
        (lambda *, x: 1, "(*, x)"),
        (lambda *, config, resource: 1, "(*, config, resource)"),
    ],
)
def test_objective_form_refuses_signatures_that_fit_no_form(fn, shown):
    with pytest.raises(InvalidTypeError) as info:
        objective_form(fn)
    message = str(info.value)
    assert message.startswith("objective must be written as objective(config, resource)")
    assert "objective(trial) -> value" in message and message.endswith(f"got <lambda>{shown}")


def test_objective_form_refuses_generators_and_accepts_async():
    def gen(config, resource):
        yield 1.0

    async def agen(trial):
        yield 1.0

    for fn in (gen, agen):
        with pytest.raises(InvalidTypeError, match="is a generator function"):
            objective_form(fn)

    async def plain(config, resource):
        return 1.0

    async def checkpoint(config, resource, checkpoint=None):
        return 1.0, None

    async def context(trial):
        return 1.0

    assert objective_form(plain) is ObjectiveForm.PLAIN
    assert objective_form(checkpoint) is ObjectiveForm.CHECKPOINT
    assert objective_form(context) is ObjectiveForm.TRIAL


# ---------------------------------------------------------------- run_job
def test_run_job_plain_gets_a_copy_of_config():
    seen = {}

    def objective(config, resource):
        config["mutated"] = True
        seen.update(config)
        return config["x"] * resource

    s = spec(config={"x": 2.0})
    out = run_job(objective, s)
    assert out.value == 6.0 and out.error is None and out.checkpoint is None
    assert seen == {"x": 2.0, "mutated": True}
    assert dict(s.config) == {"x": 2.0}


def test_run_job_returns_raw_value_unvalidated():
    assert run_job(lambda config, resource: None, spec()).value is None
    assert run_job(lambda config, resource: "nan", spec()).value == "nan"


def test_run_job_checkpoint_form_checks_the_pair():
    out = run_job(lambda config, resource, checkpoint: 1.0, spec())
    assert out.value is None
    assert "must return a pair (value, new_checkpoint)" in out.error
    out = run_job(lambda config, resource, checkpoint: (1.0, {"w": checkpoint}), spec(checkpoint=7))
    assert out.value == 1.0 and out.checkpoint == {"w": 7}


def test_run_job_error_keeps_reports_and_sys_exit_is_caught():
    def objective(trial):
        trial.report(0.5)
        raise RuntimeError("diverged")

    out = run_job(objective, spec())
    assert out.intermediate == ((1.0, 0.5),)
    assert "RuntimeError: diverged" in out.error

    def exits(config, resource):
        sys.exit(3)

    assert "SystemExit: 3" in run_job(exits, spec()).error


def test_run_job_streams_and_stops_through_channel():
    import queue

    q: queue.SimpleQueue = queue.SimpleQueue()
    flags: dict[int, bool] = {}
    channel = QueueChannel(q, flags)

    def objective(trial):
        for i in range(5):
            if trial.report(float(i), resource=10 * (i + 1)):
                return "stopped"
            if i == 1:
                flags[trial.job_id] = True
        return "done"

    out = run_job(objective, spec(job_id=5), channel)
    assert out.value == "stopped" and out.stopped is True
    assert out.intermediate == ((10.0, 0.0), (20.0, 1.0), (30.0, 2.0))
    assert [q.get_nowait() for _ in range(3)] == [
        (5, 5, 10.0, 0.0),
        (5, 5, 20.0, 1.0),
        (5, 5, 30.0, 2.0),
    ]
    # a job flagged before it starts does not run at all
    calls = []
    out = run_job(lambda config, resource: calls.append(1), spec(job_id=5), channel)
    assert out == out.__class__(stopped=True) and calls == []


def test_run_job_awaits_async_objectives():
    import asyncio

    async def plain(config, resource):
        await asyncio.sleep(0)
        return config["x"] * resource

    async def checkpoint(config, resource, checkpoint):
        return 1.0, {"w": checkpoint}

    async def context(trial):
        trial.report(0.5)
        trial.save("ck")
        return 2.0

    async def fails(config, resource):
        await asyncio.sleep(0)
        raise RuntimeError("async boom")

    assert run_job(plain, spec()).value == 6.0
    out = run_job(checkpoint, spec(checkpoint=3))
    assert (out.value, out.checkpoint) == (1.0, {"w": 3})
    out = run_job(context, spec())
    assert (out.value, out.checkpoint, out.intermediate) == (2.0, "ck", ((1.0, 0.5),))
    assert "RuntimeError: async boom" in run_job(fails, spec()).error
    out = run_job(lambda config, resource: 1.0, spec(), form=ObjectiveForm.PLAIN)
    assert out.value == 1.0


def test_run_job_awaits_async_objectives_where_an_event_loop_already_runs():
    # A notebook's main thread runs the kernel's event loop; asyncio.run() is not allowed
    # there, so the coroutine runs on a helper thread.
    import asyncio
    import threading

    async def objective(config, resource):
        await asyncio.sleep(0)
        return threading.current_thread().name

    async def main():
        loop_thread = threading.current_thread().name
        return loop_thread, run_job(objective, spec())

    loop_thread, out = asyncio.run(main())
    assert out.error is None and out.value == "asha-async-objective" != loop_thread


def test_thread_executor_runs_async_objectives_while_the_main_thread_runs_a_loop():
    import asyncio

    from asha_nb.executors import ThreadExecutor

    async def objective(trial):
        await asyncio.sleep(0.01)
        trial.report(1.0)
        return trial.config["x"]

    async def main():
        ex = ThreadExecutor(limit_threads=False)
        ex.start(objective, 2)
        try:
            jobs = [ex.submit(spec(j, {"x": float(j)})) for j in range(4)]
            outcomes = [await asyncio.wrap_future(job.future) for job in jobs]
        finally:
            ex.shutdown(wait=True)
        return outcomes

    outcomes = asyncio.run(main())
    assert [o.value for o in outcomes] == [0.0, 1.0, 2.0, 3.0]
    assert all(o.error is None and o.intermediate == ((1.0, 1.0),) for o in outcomes)


def test_trial_defaults_and_resume():
    t = Trial({"lr": 0.1}, resource=9, resume_from=3, checkpoint="ck", rung=1, trial_id=4, job_id=8)
    assert t.config == {"lr": 0.1} and t.checkpoint == "ck" and not t.saved
    assert t.report(1.0) is False
    assert t.report(2.0) is False
    assert t.intermediate == ((4.0, 1.0), (5.0, 2.0))
    t.save(None)
    assert t.saved and t.saved_checkpoint is None
    assert t.should_stop() is False
    assert "trial_id=4" in repr(t)
    assert NullChannel().should_stop(1) is False


def test_trial_report_survives_broken_channel():
    class Broken:
        def report(self, *a):
            raise ConnectionError("gone")

        def should_stop(self, job_id):
            raise ConnectionError("gone")

    t = Trial({}, 2, channel=Broken())
    assert t.report(1.0) is False
    assert t.intermediate == ((1.0, 1.0),)


# ---------------------------------------------------------------- trampoline
def test_run_pickled_caches_the_loaded_function():
    factor = 3.0
    blob = dumps_objective(lambda config, resource: factor * resource)
    fn1, form1 = load_objective(blob)
    fn2, _ = load_objective(blob)
    assert fn1 is fn2 and form1 is ObjectiveForm.PLAIN
    assert run_pickled(blob, spec(resource=2)).value == 6.0


def test_run_pickled_reports_load_errors_as_job_errors():
    out = run_pickled(b"not a pickle", spec())
    assert out.error is not None and "could not be loaded" in out.error


def test_dumps_objective_names_the_problem():
    import threading

    lock = threading.Lock()
    with pytest.raises(InvalidTypeError, match="cannot be sent to worker processes"):
        dumps_objective(lambda config, resource: lock)


# ---------------------------------------------------------------- resize
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_resize_keeps_running_jobs_and_runs_new_ones(backend):
    def objective(config, resource):
        import time as _t

        _t.sleep(config.get("sleep", 0))
        return config["x"] * resource

    ex = make_executor(backend)
    ex.start(objective, 1)
    try:
        slow = ex.submit(spec(1, {"x": 1.0, "sleep": 1.0}))
        ex.resize(2)
        fast = [ex.submit(spec(j, {"x": float(j)})) for j in (2, 3)]
        assert [f.future.result(timeout=60).value for f in fast] == [6.0, 9.0]
        assert slow.future.result(timeout=60).value == 3.0
        ex.resize(1)
        assert ex.submit(spec(4, {"x": 1.0})).future.result(timeout=60).value == 3.0
    finally:
        ex.shutdown(wait=True)


# ---------------------------------------------------------------- make_executor
def test_make_executor_accepts_names_instances_and_pools():
    from asha_nb.executors import GenericExecutor, ProcessExecutor, ThreadExecutor

    assert isinstance(make_executor("thread"), ThreadExecutor)
    assert isinstance(make_executor(" Process "), ProcessExecutor)
    assert (
        make_executor("process", mp_context="forkserver").mp_context.get_start_method()
        == "forkserver"
    )
    ex = ThreadExecutor()
    assert make_executor(ex) is ex
    with cf.ThreadPoolExecutor(1) as pool:
        wrapped = make_executor(pool)
        assert isinstance(wrapped, GenericExecutor) and wrapped.executor is pool
        assert isinstance(wrapped, BaseExecutor) and wrapped.name == "executor"


def test_make_executor_recognises_a_dask_client_by_class():
    from asha_nb.executors import DaskExecutor, is_dask_client

    class Client:  # a stand-in with the real class's module, so no cluster is needed
        def submit(self, *a, **k):
            raise AssertionError

        def run_on_scheduler(self, *a, **k):
            raise AssertionError

    Client.__module__ = "distributed.client"
    assert is_dask_client(Client())
    assert isinstance(make_executor(Client()), DaskExecutor)
    assert not is_dask_client(object())


def test_make_executor_rejects_bad_input_clearly():
    with pytest.raises(
        InvalidParameterError,
        match=r"executor must be \"thread\", \"process\", \"dask\".*got 'gpu'",
    ):
        make_executor("gpu")
    with pytest.raises(InvalidTypeError, match="executor must be .*got int: 42"):
        make_executor(42)
    with pytest.raises(TypeError, match="executor must be"):
        make_executor(None)
    with pytest.raises(InvalidTypeError, match="cannot be applied to an executor instance"):
        make_executor(make_executor("thread"), limit_threads=False)
    with pytest.raises(TypeError):
        make_executor("thread", bogus=1)
    with pytest.raises(InvalidParameterError, match="mp_context must be one of"):
        make_executor("process", mp_context="threads")
    with pytest.raises(InvalidParameterError, match="n_workers must be an int >= 1"):
        make_executor("thread").start(lambda config, resource: 0, 0)


def test_import_executors_is_light():
    code = (
        "import sys, asha_nb.executors, asha_nb.executors._worker, asha_nb._trial;"
        "bad = [m for m in ('dask', 'distributed', 'pebble', 'torch', 'jax') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_submit_before_start_is_a_clear_error():
    from asha_nb.errors import SearchStateError

    for kind in ("thread", "process"):
        with pytest.raises(SearchStateError, match="before start"):
            make_executor(kind).submit(spec())


def test_dask_string_runs_on_a_private_local_cluster():
    from asha_nb.executors import DaskExecutor

    ex = make_executor("dask")
    assert isinstance(ex, DaskExecutor) and ex.client is None
    ex.start(lambda config, resource: config["x"] * resource, 1)
    try:
        client = ex.client
        assert len(client.scheduler_info()["workers"]) == 1
        assert ex.submit(spec(1, {"x": 2.0})).future.result(timeout=60).value == 6.0
    finally:
        ex.shutdown(wait=True)
    assert ex.client is None and client.status == "closed"


# ---------------------------------------------------------------- daemon thread pool
def test_daemon_thread_pool_threads_resize_and_shutdown():
    import threading
    import time

    from asha_nb.executors.thread import DaemonThreadPool

    def alive() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("pool-under-test-")]

    pool = DaemonThreadPool(3, "pool-under-test")
    try:
        assert alive() == []  # threads start lazily, when jobs need them
        gate = threading.Event()
        busy = pool.submit(gate.wait, 30)
        assert until(busy.running)
        assert len(alive()) == 1
        queued = [pool.submit(time.sleep, 0) for _ in range(2)]
        assert [f.result(timeout=30) for f in queued] == [None, None]
        assert 2 <= len(alive()) <= 3 and all(t.daemon for t in alive())
        pool.resize(1)  # the idle threads leave at once, the busy one finishes its job first
        assert until(lambda: len(alive()) == 1)
        gate.set()
        assert busy.result(timeout=30) is True
        assert pool.submit(pow, 2, 3).result(timeout=30) == 8
        blocker = threading.Event()
        running = pool.submit(blocker.wait, 30)
        assert until(running.running)
        waiting = pool.submit(pow, 2, 4)
        pool.shutdown(wait=False)
        assert waiting.cancelled()  # queued work is cancelled ...
        assert not running.done()  # ... a running job is left to finish and resolves later
        blocker.set()
        assert running.result(timeout=30) is True
        with pytest.raises(SearchStateError, match="after shutdown"):
            pool.submit(pow, 2, 5)
        assert until(lambda: not alive())
    finally:
        pool.shutdown(wait=True)


def test_thread_executor_shutdown_lets_a_running_job_resolve_its_future():
    import threading

    from asha_nb.executors import ThreadExecutor

    release = threading.Event()

    def objective(trial):  # ignores should_stop(), returns when released
        release.wait(30)
        return 7.0

    ex = ThreadExecutor(limit_threads=False)
    ex.start(objective, 1)
    job = ex.submit(spec(1))
    queued = ex.submit(spec(2))
    assert until(lambda: job.started_at is not None)
    ex.shutdown(wait=False)
    assert queued.future.cancelled() and not job.future.done()
    release.set()
    outcome = job.future.result(timeout=30)
    assert outcome.value == 7.0 and outcome.stopped is False
