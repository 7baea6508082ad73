"""Issue 15 item 4: a job is timed from its real start, on every executor. With fewer slots in
the executor than ``n_workers`` a job waits in the executor's queue; it used to be "timed out"
counting from its submission though it ran for less than its timeout. ``results()`` records
the real start in its ``started`` column (``start`` stays the hand-out time)."""

from __future__ import annotations

import concurrent.futures as cf
import math
import sys
import time

import cloudpickle

from asha_nb import Search, space

cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = {"x": space.uniform(0.0, 1.0)}
#: Each job runs RUN_S; four jobs share one slot, so a job waits up to 3 * RUN_S in the queue:
#: counted from submission it would pass TIMEOUT_S, counted from its start it never does (the
#: margin of 3x lets a loaded machine run a job late without a real timeout).
RUN_S = 0.5
TIMEOUT_S = 1.5


def slow(config, resource):
    time.sleep(config.get("seconds", RUN_S))
    return config["x"]


def search(executor, **kw):
    s = Search(slow, SPACE, executor=executor, n_workers=4, job_timeout=TIMEOUT_S, max_trials=6,
               max_resource=1, seed=0, progress=False, **kw)
    s.start()
    assert s.wait(timeout=120), "the search did not end"
    assert str(s.state) == "finished", s.snapshot().reason
    return s


def check_no_false_timeout(s):
    df = s.results()
    assert list(df["status"]) == ["ok"] * 6, df[["status", "error"]]
    # one slot: the jobs ran one after the other, each started when it really began
    runs = df.sort_values("started")
    assert runs["started"].notna().all()
    assert (runs["started"] >= runs["start"] - 1e-9).all()
    assert (runs["end"] - runs["started"] >= RUN_S * 0.9).all()
    starts, ends = runs["started"].to_numpy(), runs["end"].to_numpy()
    assert (starts[1:] >= ends[:-1] - 0.05).all()  # never two at once on the one slot
    waited = (runs["started"] - runs["start"]).max()
    assert waited > RUN_S  # some job really waited in the pool's queue ...
    return df


def test_a_users_pool_with_one_slot_for_four_workers_times_no_job_out_falsely():
    with cf.ThreadPoolExecutor(1) as pool:
        check_no_false_timeout(search(pool))


def test_dask_with_one_thread_for_four_workers_times_no_job_out_falsely():
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        check_no_false_timeout(search(client))


def stuck(config, resource):
    time.sleep(2.0)
    return config["x"]


def test_a_job_longer_than_its_timeout_is_still_timed_out_from_its_real_start():
    with cf.ThreadPoolExecutor(1) as pool:
        s = Search(stuck, SPACE, executor=pool, n_workers=2, job_timeout=TIMEOUT_S,
                   max_trials=2, max_resource=1, progress=False)
        s.start()
        assert s.wait(timeout=60)
    df = s.results().sort_values("job_id")
    assert list(df["status"]) == ["failed", "failed"]
    assert all(e.startswith(f"timed out after {TIMEOUT_S:g} s") for e in df["error"])
    first, second = df.iloc[0], df.iloc[1]
    assert first["started"] - first["start"] < 0.5
    # the second waited for the first (which cannot be killed) and ran before it timed out
    assert second["started"] - second["start"] > 1.5


def test_started_is_the_real_start_on_threads_and_in_virtual_time():
    s = Search(slow, SPACE, executor="thread", n_workers=2, max_trials=2, max_resource=1,
               progress=False).run()
    df = s.results()
    assert ((df["started"] - df["start"]).abs() < 0.2).all()
    v = Search(lambda config, resource: config["x"], SPACE, executor="simulated", n_workers=2,
               max_trials=4, max_resource=3, progress=False).run()
    dv = v.results()
    assert (dv["started"] == dv["start"]).all() and not math.isnan(dv["started"].sum())
