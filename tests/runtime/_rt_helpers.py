"""Shared helpers for the runtime tests: tiny objectives and a rung-invariant checker."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Any

from asha_nb import space
from asha_nb.core import Promoted, ResultRecorded
from asha_nb.runtime.events import JobStarted

SPACE = {"x": space.uniform(0.0, 1.0)}


def quick(config: dict, resource: float) -> float:
    time.sleep(0.002)
    return config["x"] * math.log1p(resource)


class InvariantChecker:
    """Subscriber that checks ASHA's promotion rule on the live event stream.

    At every ``Promoted(t, k -> k+1)`` the trial must be among the top ``floor(n_k / eta)``
    results of rung ``k`` *at that moment* and must not have been promoted from ``k`` before.
    """

    def __init__(self, eta: int, mode: str = "max"):
        self.eta = eta
        self.sign = -1.0 if mode == "max" else 1.0
        self.rungs: dict[int, dict[int, float]] = defaultdict(dict)
        self.promoted: set[tuple[int, int]] = set()
        self.errors: list[str] = []
        self.started_trials: set[int] = set()
        self.events: list[Any] = []

    def __call__(self, ev: Any) -> None:
        self.events.append(ev)
        if isinstance(ev, ResultRecorded):
            self.rungs[ev.rung][ev.trial_id] = ev.value
        elif isinstance(ev, JobStarted):
            self.started_trials.add(ev.trial_id)
        elif isinstance(ev, Promoted):
            key = (ev.trial_id, ev.from_rung)
            if key in self.promoted:
                self.errors.append(f"trial {ev.trial_id} promoted twice from rung {ev.from_rung}")
            self.promoted.add(key)
            rung = self.rungs[ev.from_rung]
            k = len(rung) // self.eta
            order = sorted(rung, key=lambda t: (self.sign * rung[t] if rung[t] == rung[t] else math.inf, t))
            if ev.trial_id not in order[:k]:
                self.errors.append(
                    f"trial {ev.trial_id} promoted from rung {ev.from_rung} but not in top {k} of {len(rung)}"
                )
