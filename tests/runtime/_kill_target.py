"""Subprocess body of the kill-and-resume test: ``python _kill_target.py JOURNAL fresh|resume OUT``.

Runs (or resumes) a journaled search with one worker (so the job order is deterministic) and a
deterministic objective; writes the final rungs as JSON to OUT when it completes.
"""

from __future__ import annotations

import json
import sys
import time

from asha_nb import space
from asha_nb.runtime import Search

SPACE = {"x": space.uniform(0.0, 1.0), "y": space.choice([1, 2, 3])}
OPTIONS = dict(max_trials=14, max_resource=9, reduction_factor=3, seed=7, n_workers=1, progress=False)


def objective(config, resource, checkpoint):
    time.sleep(0.03)
    value = round(config["x"] * config["y"] * resource, 9)
    return value, {"resource": resource}


def rungs(search):
    df = search.results()
    df = df[df.status == "ok"]
    return {int(r): sorted((int(t), float(v)) for t, v in zip(g.trial_id, g.value, strict=True))
            for r, g in df.groupby("rung")}


if __name__ == "__main__":
    journal, mode, out = sys.argv[1:4]
    if mode == "fresh":
        s = Search(objective, SPACE, journal=journal, **OPTIONS)
    elif mode == "resume":
        s = Search.from_journal(journal, objective)
    else:
        s = Search(objective, SPACE, **OPTIONS)
    s.run()
    with open(out, "w") as fh:
        json.dump({"state": s.state, "rungs": rungs(s)}, fh)
