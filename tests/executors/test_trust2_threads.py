"""Issue 15 item 13: ``set_n_workers(10_000)`` on the thread executor used to start 10,000 OS
threads and block for seconds. Threads now start lazily (when jobs need them) and a worker
count above the executor's documented maximum is refused with a clear error."""

from __future__ import annotations

import threading

import pytest

from asha_nb import Search, space
from asha_nb.errors import InvalidParameterError
from asha_nb.executors import JobSpec, ThreadExecutor
from asha_nb.executors.thread import MAX_THREAD_WORKERS

SPACE = {"x": space.uniform(0.0, 1.0)}


def trial_threads(prefix: str = "asha-trial") -> int:
    return sum(t.name.startswith(prefix + "-") for t in threading.enumerate())


def test_set_n_workers_above_the_maximum_is_refused_and_changes_nothing():
    gate = threading.Event()

    def objective(config, resource):
        gate.wait(30)
        return config["x"]

    search = Search(objective, SPACE, executor=ThreadExecutor(thread_name_prefix="t2-cap"),
                    n_workers=2, max_trials=4, max_resource=1, progress=False)
    search.start()
    try:
        with pytest.raises(InvalidParameterError,
                           match=rf"n_workers must be an int from 1 to {MAX_THREAD_WORKERS} "
                                 r"for the thread executor .*got 10000"):
            search.set_n_workers(10_000)
        assert search.n_workers == 2
        assert trial_threads("t2-cap") <= 2
        search.set_n_workers(3)  # a valid change still works
        assert search.n_workers == 3
    finally:
        gate.set()
        search.wait(timeout=60)
    assert str(search.state) == "finished"
    assert [r.status.value for r in search.records()] == ["ok"] * 4


def test_a_search_with_more_thread_workers_than_the_maximum_is_refused_at_construction():
    with pytest.raises(InvalidParameterError, match=f"from 1 to {MAX_THREAD_WORKERS}"):
        Search(lambda config, resource: 0.0, SPACE, executor="thread",
               n_workers=MAX_THREAD_WORKERS + 1, max_trials=2, max_resource=1)


def test_threads_start_lazily_when_jobs_need_them():
    before = trial_threads("t2-lazy")
    ex = ThreadExecutor(thread_name_prefix="t2-lazy", max_workers=10_000, limit_threads=False)
    ex.start(lambda config, resource: config["x"] * resource, n_workers=10_000)
    try:
        ex.resize(9_000)
        assert trial_threads("t2-lazy") == before  # no thread before a job needs one
        job = ex.submit(JobSpec(0, 0, {"x": 2.0}, rung=0, resource=3, resume_from=0))
        assert job.future.result(timeout=30).value == 6.0
        assert trial_threads("t2-lazy") == before + 1
    finally:
        ex.shutdown(wait=True)
