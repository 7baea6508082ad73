"""Real searches on the process pool (pebble) and a Dask LocalCluster, with their faults."""

from __future__ import annotations

import time

from _polling import until
from _virtual import InvariantChecker

from asha_nb import space
from asha_nb.runtime import Search

WAIT = 60


def _objectives():
    """Built inside a function so cloudpickle ships them by value to spawned workers."""

    def quick(config, resource):
        import math
        import time

        time.sleep(0.005)
        return config["x"] * math.log1p(resource)

    def faulty(config, resource):
        import os
        import time

        k = config["k"]
        if k == "raise":
            raise ValueError("bad config")
        if k == "none":
            return None
        if k == "nan":
            return float("nan")
        if k == "hang":
            time.sleep(30)
        if k == "crash":
            os._exit(3)
        return float(resource)

    def forever(config, resource):
        import time

        if config.get("started"):  # a file the test waits on
            open(config["started"], "w").close()
        time.sleep(60)
        return 1.0

    return quick, faulty, forever


def test_process_run_and_faults():
    quick, faulty, forever = _objectives()
    chk = InvariantChecker(3)
    s = Search(quick, {"x": space.uniform(0, 1)}, executor="process", max_trials=9, max_resource=9,
               seed=0, n_workers=2, progress=False)
    s.subscribe(chk)
    s.run()
    df = s.results()
    assert s.state == "finished" and set(df.trial_id) == set(range(9)) and (df.status == "ok").all()
    assert chk.errors == []

    sp = {"k": space.choice(["ok", "raise", "none", "nan", "hang", "crash"])}
    s = Search(faulty, sp, executor="process", max_trials=14, max_resource=3, seed=2, n_workers=2,
               job_timeout=1.0, progress=False)
    s.run()
    df = s.results()
    by = {k: df[df.config_k == k] for k in ("ok", "raise", "none", "nan", "hang", "crash")}
    assert all(len(v) for v in by.values()), {k: len(v) for k, v in by.items()}
    assert (by["ok"].status == "ok").all()
    assert all("ValueError: bad config" in e for e in by["raise"].error)
    assert all("objective returned None" in e for e in by["none"].error)
    assert all(e == "objective returned nan" for e in by["nan"].error)
    assert all("timed out" in e for e in by["hang"].error), by["hang"].error.tolist()
    assert all("worker crashed" in e for e in by["crash"].error), by["crash"].error.tolist()
    assert s.state == "finished"


def test_process_stop_trial_kills_running_job(tmp_path):
    _, _, forever = _objectives()
    started = tmp_path / "started"
    s = Search(forever, {"x": space.uniform(0, 1), "started": str(started)}, executor="process",
               max_trials=1, max_resource=1, n_workers=1, progress=False)
    s.start()
    assert until(started.exists, WAIT), "the job never started in its worker process"
    s.stop_trial(0)
    assert s.wait(WAIT)  # 60-s job: returning at all means it was killed
    assert s.results().status.tolist() == ["stopped"]


def test_dask_local_cluster_run():
    from distributed import Client, LocalCluster

    quick, _, _ = _objectives()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    client = Client(cluster)
    try:
        chk = InvariantChecker(3)
        s = Search(quick, {"x": space.uniform(0, 1)}, executor=client, max_trials=9,
                   max_resource=9, seed=0, n_workers=2, progress=False)
        s.subscribe(chk)
        s.run()
        df = s.results()
        assert s.state == "finished" and set(df.trial_id) == set(range(9))
        assert (df.status == "ok").all() and chk.errors == []
    finally:
        client.close()
        cluster.close()


def test_closing_the_dask_client_mid_search_ends_it_as_failed_within_seconds():
    """Issue 10 item 8: the search used to stay "running" forever."""
    from distributed import Client, LocalCluster

    _, _, forever = _objectives()
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address=None)
    client = Client(cluster)
    s = Search(forever, {"x": space.uniform(0, 1)}, executor=client, max_trials=4,
               max_resource=1, n_workers=1, progress=False)
    try:
        s.start()
        assert until(lambda: s.snapshot().busy_workers > 0, WAIT)
        client.close()
        t0 = time.monotonic()
        assert s.wait(20), "the search kept running after its Dask client was closed"
        took = time.monotonic() - t0
    finally:
        client.close()
        cluster.close()
    assert s.state == "failed"
    assert "closed" in s.snapshot().reason.lower(), s.snapshot().reason
    assert took < 20
