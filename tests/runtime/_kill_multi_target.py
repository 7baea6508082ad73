"""Subprocess body of the multi-worker kill-and-resume test.

``python _kill_multi_target.py JOURNAL OUT MARKS``: start a journaled search on 4 process
workers (or continue it with ``Search.from_journal`` if JOURNAL already holds one) and run it to
the end; then write its records as JSON to OUT. The test kills this process with SIGKILL at
random points and starts it again.

The objective injects faults, chosen by the configuration so that every run agrees on them:
an exception, a NaN value, a worker that dies with ``os._exit`` (once per job: a marker file in
MARKS remembers it, so the retry succeeds) and a job that hangs until ``job_timeout`` kills it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time

from asha_nb import space
from asha_nb.runtime import Search

SPACE = {"x": space.uniform(0.0, 1.0)}
OPTIONS = dict(max_trials=36, max_resource=9, reduction_factor=3, seed=5, n_workers=4,
               executor="process", job_timeout=2.0, retries=1, progress=False)


def fault(x: float) -> str:
    """The fault a configuration injects: ``raise``, ``nan``, ``exit``, ``hang`` or ``ok``."""
    h = int(x * 1e6) % 10
    if h == 3:
        return "hang" if int(x * 1e7) % 2 == 0 else "ok"
    return {0: "raise", 1: "nan", 2: "exit"}.get(h, "ok")


def value_of(x: float, resource: float) -> float:
    return round(x * (1 - 1 / (resource + 1)), 9)


def objective(config, resource, checkpoint):
    x = config["x"]
    kind = fault(x)
    time.sleep(0.04 * resource)
    if kind == "raise":
        raise ValueError(f"injected error at x={x:.6f}")
    if kind == "nan":
        return float("nan"), {"r": resource}
    if kind == "exit":
        marker = os.path.join(os.environ["ASHA_KILL_MARKS"], f"{x:.9f}-{resource:g}")
        if not os.path.exists(marker):
            with open(marker, "w"):
                pass
            os._exit(3)  # the worker dies; the retry (a new worker) succeeds
    if kind == "hang" and resource == 1:
        time.sleep(120)  # killed by job_timeout
    return value_of(x, resource), {"r": resource}


def holds_search(path: str) -> bool:
    if not os.path.exists(path):
        return False
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(
            "SELECT 1 FROM meta WHERE key='scheduler_class'").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        con.close()


def main(journal: str, out: str) -> None:
    if holds_search(journal):
        s = Search.from_journal(journal, objective)
    else:  # killed before the search wrote its meta row: start it again
        s = Search(objective, SPACE, journal=journal, **OPTIONS)
    s.run()
    records = [{"job_id": r.job_id, "trial_id": r.trial_id, "rung": r.rung,
                "status": str(r.status), "value": repr(r.value), "error": r.error,
                "attempts": r.attempts, "x": r.config["x"]} for r in s.records()]
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"state": str(s.state), "n_trials": s.snapshot().n_started,
                   "records": records}, fh)
    os.replace(tmp, out)


if __name__ == "__main__":
    os.environ["ASHA_KILL_MARKS"] = sys.argv[3]  # the spawned workers inherit it
    main(sys.argv[1], sys.argv[2])
