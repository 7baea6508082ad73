"""A Dask client or cluster closed mid-search (issue 10 item 8): every outstanding job's future
raises ExecutorLostError within seconds (the search used to stay "running" forever) and
``submit`` raises it too."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
import time

import cloudpickle
import pytest
from _polling import until
from distributed import Client, LocalCluster

from asha_nb import Search, space
from asha_nb.errors import ExecutorLostError
from asha_nb.executors import DaskExecutor, JobSpec

cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: Generous bound for "within a few seconds" on a loaded 2-core machine (not a timing test).
LOST_WITHIN_S = 30


def objective(trial):
    # Long, but cooperative, so that closing the cluster does not wait for it.
    deadline = time.monotonic() + trial.config["seconds"]
    while time.monotonic() < deadline and not trial.should_stop():
        time.sleep(0.05)
    return 1.0


def spec(job_id: int, seconds: float = 8.0) -> JobSpec:
    return JobSpec(job_id, job_id, {"seconds": seconds}, rung=0, resource=1, resume_from=0)


def wait_done(ex: DaskExecutor, futures: list[cf.Future]) -> None:
    """Wait for the futures as the runtime does: drain_reports() every ~50 ms meanwhile."""

    def done() -> bool:
        ex.drain_reports()
        return all(f.done() for f in futures)

    until(done, LOST_WITHIN_S, every=0.05)
    assert all(f.done() and not f.cancelled() for f in futures)


def assert_lost(future: cf.Future) -> None:
    with pytest.raises(ExecutorLostError, match="the Dask client was closed"):
        future.result(timeout=0)


def started(ex: DaskExecutor, jobs: list) -> None:
    def seen() -> bool:
        ex.drain_reports()
        return all(j.started_at is not None for j in jobs)

    until(seen, LOST_WITHIN_S, every=0.02)
    assert all(j.started_at is not None for j in jobs)


def test_closing_the_client_fails_every_outstanding_job_and_submit():
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address=None)
    client = Client(cluster)
    ex = DaskExecutor(client)
    ex.start(objective, 2)
    try:
        running = ex.submit(spec(0))
        queued = ex.submit(spec(1))  # one worker thread: this one waits on the cluster
        started(ex, [running])
        client.close()
        wait_done(ex, [running.future, queued.future])
        assert_lost(running.future)
        assert_lost(queued.future)
        with pytest.raises(ExecutorLostError, match="the Dask client was closed"):
            ex.submit(spec(2))
        ex.shutdown()  # does not raise on a closed client
    finally:
        client.close()
        cluster.close()


def test_closing_the_cluster_fails_every_outstanding_job_and_submit():
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    client = Client(cluster)
    ex = DaskExecutor(client)
    ex.start(objective, 2)
    closer = threading.Thread(target=cluster.close)  # close() blocks while it stops workers
    try:
        job = ex.submit(spec(0, seconds=60))
        queued = ex.submit(spec(1))
        started(ex, [job])
        closer.start()
        wait_done(ex, [job.future, queued.future])
        # The closing cluster stops the worker both jobs were assigned to before its
        # scheduler (Dask reports KilledWorker first): the jobs were lost with the cluster,
        # not crashed by their trials (issue 15 item 2).
        for future in (job.future, queued.future):
            error = future.exception(timeout=0)
            assert isinstance(error, ExecutorLostError), repr(error)
            assert "closed" in str(error)
        deadline = time.monotonic() + LOST_WITHIN_S  # the client closes after the cluster
        while ex.drain_reports() == [] and time.monotonic() < deadline:
            try:
                ex.submit(spec(2)).future.cancel()
            except ExecutorLostError as exc:
                assert "was closed" in str(exc)
                break
            time.sleep(0.05)
        else:
            pytest.fail("submit never raised ExecutorLostError after the cluster closed")
        ex.shutdown()
    finally:
        if closer.ident is not None:
            closer.join(timeout=60)
        client.close()
        cluster.close()


BLOCK = "ASHA_TEST_DASK_BLOCK"


def blocking(config, resource):
    """Runs until its worker is stopped while BLOCK is set (in the cluster's worker processes;
    it names a folder where the job marks its start); returns at once without it (the resumed
    search, on threads)."""
    if os.environ.get(BLOCK):
        open(os.path.join(os.environ[BLOCK], repr(config["x"])), "w").close()
    deadline = time.monotonic() + 60
    while os.environ.get(BLOCK) and time.monotonic() < deadline:
        time.sleep(0.05)
    return config["x"] * resource


def test_a_search_whose_cluster_closes_interrupts_its_running_jobs_and_resume_reruns_them(
        tmp_path, monkeypatch):
    # Issue 15 item 2: cluster.close() mid-search recorded the running jobs as failed
    # (KilledWorker), and a resume never ran them again.
    started = tmp_path / "started"
    started.mkdir()
    monkeypatch.setenv(BLOCK, str(started))  # inherited by the worker processes started below
    path = tmp_path / "dask.asha"
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    client = Client(cluster)
    closer = threading.Thread(target=cluster.close)
    try:
        search = Search(blocking, {"x": space.uniform(0.0, 1.0)}, executor=client, n_workers=2,
                        max_trials=4, max_resource=1, journal=path, seed=0, progress=False)
        search.start()
        # both jobs really run in the worker
        assert until(lambda: len(list(started.iterdir())) == 2, LOST_WITHIN_S)
        closer.start()
        assert search.wait(timeout=LOST_WITHIN_S), "the search did not end"
        assert str(search.state) == "failed" and "closed" in search.snapshot().reason, search.snapshot().reason
        rows = search.records()
        assert [r.status.value for r in rows] == ["interrupted", "interrupted"], rows
    finally:
        if closer.ident is not None:
            closer.join(timeout=60)
        client.close()
        cluster.close()
    monkeypatch.delenv(BLOCK)
    resumed = Search.from_journal(path, blocking, executor="thread", progress=False).run()
    assert str(resumed.state) == "finished", resumed.snapshot().reason
    rows = resumed.records()
    assert len(rows) == 4 and all(r.status.value == "ok" for r in rows), rows
    assert all(r.value == r.config["x"] for r in rows)
