"""Helpers of the runtime's logic tests: searches in virtual time (no sleeps, exact)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from asha_nb import space
from asha_nb.core import Promoted, ResultRecorded
from asha_nb.executors import SimulatedExecutor
from asha_nb.runtime import Search

SPACE = {"x": space.uniform(0.0, 1.0)}


def value(config: dict, resource: float) -> float:
    return config["x"] * math.log1p(resource)


def vsearch(objective: Any = value, space_: Any = SPACE, *, cost: Any = 1.0,
            stragglers: float = 0.0, sim_seed: int = 0, **kw: Any) -> Search:
    """A search in virtual time (unit cost per resource unit by default)."""
    kw.setdefault("progress", False)
    ex = SimulatedExecutor(cost=cost, straggler_probability=stragglers, seed=sim_seed)
    if kw.get("scheduler") is not None:
        return Search(objective, executor=ex, **kw)
    return Search(objective, space_, executor=ex, **kw)


def rows(search: Search) -> str:
    """The results as CSV text: byte-for-byte comparable."""
    return search.results().to_csv(index=False)


def check_no_double_booking(search: Search) -> None:
    """No worker slot ever runs two jobs at once."""
    spans = defaultdict(list)
    for r in search.records():
        if r.start is not None and r.worker is not None:
            spans[r.worker].append((r.start, r.end if r.end is not None else math.inf, r.job_id))
    for w, ss in spans.items():
        ss.sort()
        for (_s1, e1, j1), (s2, _, j2) in zip(ss, ss[1:], strict=False):
            assert e1 <= s2 + 1e-9, f"worker {w}: jobs {j1} and {j2} overlap"


class InvariantChecker:
    """Subscriber that checks ASHA's promotion rule on the live event stream: at every
    ``Promoted(t, k -> k+1)`` the trial is among the top ``floor(n_k / eta)`` finite results of
    rung ``k`` at that moment, and was not promoted from ``k`` before."""

    def __init__(self, eta: int, mode: str = "max"):
        self.eta = eta
        self.sign = -1.0 if mode == "max" else 1.0
        self.rungs: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
        self.promoted: set[tuple[int, int, int]] = set()
        self.errors: list[str] = []
        self.events: list[Any] = []

    def __call__(self, ev: Any) -> None:
        self.events.append(ev)
        if isinstance(ev, ResultRecorded):
            self.rungs[(ev.bracket, ev.rung)][ev.trial_id] = ev.value
        elif isinstance(ev, Promoted):
            key = (ev.bracket, ev.trial_id, ev.from_rung)
            if key in self.promoted:
                self.errors.append(f"trial {ev.trial_id} promoted twice from rung {ev.from_rung}")
            self.promoted.add(key)
            rung = self.rungs[(ev.bracket, ev.from_rung)]
            k = len(rung) // self.eta
            order = sorted(rung, key=lambda t: (self.sign * rung[t] if math.isfinite(rung[t])
                                                else math.inf, t))
            if ev.trial_id not in order[:k] or not math.isfinite(rung[ev.trial_id]):
                self.errors.append(f"trial {ev.trial_id} promoted from rung {ev.from_rung} but "
                                   f"not in the finite top {k} of {len(rung)}")
