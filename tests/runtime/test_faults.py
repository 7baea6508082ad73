from __future__ import annotations

import math

from asha_nb import space
from asha_nb.runtime import Search

SP = {"k": space.choice(["ok", "raise", "none", "str", "nan"])}


def faulty(config, resource):
    k = config["k"]
    if k == "raise":
        raise ValueError("bad config")
    if k == "none":
        return None
    if k == "str":
        return "0.5"
    if k == "nan":
        return float("nan")
    return float(resource)


def _check_faults(s):
    df = s.results()
    by = {k: df[df.config_k == k] for k in ("ok", "raise", "none", "str", "nan")}
    assert (by["ok"].status == "ok").all() and len(by["ok"])
    r = by["raise"]
    assert (r.status == "failed").all() and len(r)
    assert all("Traceback" in e and "ValueError: bad config" in e for e in r.error)
    assert all("objective returned None; it must return a number" in e for e in by["none"].error)
    assert all("objective returned '0.5' (str)" in e for e in by["str"].error)
    n = by["nan"]
    assert (n.status == "ok").all() and all(math.isnan(v) for v in n.value)
    assert all(e == "objective returned nan" for e in n.error)
    assert s.best["value"] == df.value.max()  # nan ranks worst, failures never win


def test_faults_on_threads_keep_search_alive():
    s = Search(faulty, SP, max_trials=20, max_resource=9, seed=0, progress=False).run()
    assert s.state == "finished"
    _check_faults(s)
    assert s.snapshot().n_failed == len(s.results().query("status == 'failed'"))


def test_retries_rerun_the_job():
    calls = {}

    def flaky(config, resource):
        key = (round(config["x"], 12), resource)
        calls[key] = calls.get(key, 0) + 1
        if calls[key] < 3:
            raise RuntimeError("transient")
        return config["x"]

    s = Search(flaky, {"x": space.uniform(0, 1)}, max_trials=3, max_resource=1, retries=2,
               progress=False).run()
    df = s.results()
    assert (df.status == "ok").all() and len(df) == 3
    assert all(v == 3 for v in calls.values())

    s = Search(flaky, {"x": space.uniform(0, 1)}, max_trials=3, max_resource=1, retries=1,
               seed=5, progress=False).run()
    assert (s.results().status == "failed").all()
