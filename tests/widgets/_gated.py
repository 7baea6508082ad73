"""A real thread search whose jobs run until the test lets them end (no sleeps)."""

from __future__ import annotations

import threading

from _polling import until

from asha_nb import space
from asha_nb.runtime import Search
from asha_nb.widgets import Dashboard


def gated_search(max_trials: int = 6):
    """A thread search of a plain objective whose jobs run until ``gate`` is set, its
    (timer-less) dashboard, and the gate; the search is started and both workers are busy."""
    gate = threading.Event()

    def slow(config, resource):
        gate.wait(20)
        return config["x"]

    s = Search(slow, {"x": space.uniform(0, 1)}, max_trials=max_trials, max_resource=9,
               n_workers=2, seed=0, progress=False)
    d = Dashboard(s, start_timer=False)
    s.start()
    assert until(lambda: s.snapshot().busy_workers == 2)
    return s, d, gate
