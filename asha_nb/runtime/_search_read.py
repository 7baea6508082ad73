"""What a :class:`~asha_nb.runtime.Search` shows, computed: snapshots, the trials table, the
results table. Safe from any thread: records are immutable, snapshots are built by the thread
that drives the loop, and the trials are read on that thread while it runs."""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

from ..core import Scheduler, TrialStatus
from ..errors import SearchStateError
from ._loop import Loop
from ._requests import Command, Request
from .events import SearchSnapshot

__all__ = ["read_snapshot", "trial_columns", "trials_frame", "results"]


def read_snapshot(loop: Loop, direct: bool) -> SearchSnapshot:
    """The search's snapshot now (``direct``: built on this thread, which may touch the
    loop)."""
    if direct or loop.state.is_terminal:
        loop.snaps.refresh(force=True)
    snap = loop.snapshot()
    if loop.started_at is not None and not snap.state.is_terminal:
        # The clock keeps running while nothing changes (e.g. paused): elapsed is now.
        snap = dataclasses.replace(snap, elapsed=loop.clock.now())
    return snap


def trial_columns(loop: Loop, direct: bool) -> dict[str, Any]:
    """The scheduler's trials as columns, read on the loop's thread while it runs."""
    if not direct and not loop.state.is_terminal:
        req = Request(Command.READ_TRIALS, {})
        loop.post(req)
        try:
            return req.future.result(timeout=120)  # type: ignore[no-any-return]
        except SearchStateError:  # the loop ended meanwhile: nothing mutates any more
            pass
    with loop.lock:
        return loop.scheduler.trial_columns()


def trials_frame(cols: dict[str, Any], scheduler: Scheduler) -> Any:
    """``search.trials``: a DataFrame of the trial columns with a column per parameter."""
    import numpy as np
    import pandas as pd

    code = {s: i for i, s in enumerate(TrialStatus)}
    names = np.array([s.value for s in TrialStatus], dtype=object)
    status = np.fromiter(map(code.__getitem__, cols["status"]), dtype=np.int64,
                         count=len(cols["status"]))
    has_value = cols["has_value"]
    frame: dict[str, Any] = {
        "trial_id": cols["trial_id"],
        "status": names[status],
        "rung": cols["rung"],
        "bracket": cols["bracket"],
        # floats (NaN where a trial has no value yet), or None throughout while none has
        "value": cols["value"] if has_value.any() else [None] * len(has_value),
        "error": cols["error"],
    }
    configs = cols["config"]
    for k in scheduler.space:  # every configuration has every key of the space
        try:
            frame[f"config_{k}"] = list(map(operator.itemgetter(k), configs))
        except KeyError:
            frame[f"config_{k}"] = [c.get(k) for c in configs]
    return pd.DataFrame(frame)


def results(loop: Loop, as_frame: bool, configs: bool) -> Any:
    """``search.results()``: the records as columns (a DataFrame unless ``as_frame=False``)."""
    cols = loop.store.columns(configs=False)
    if configs:
        cols = _with_config_columns(cols, loop.scheduler)
    if not as_frame:
        return cols
    import pandas as pd

    return pd.DataFrame(cols)


def _with_config_columns(cols: dict[str, Any], scheduler: Scheduler) -> dict[str, Any]:
    """``cols`` with a ``config_<name>`` column per parameter after ``status``: each trial's
    value taken once, then spread over its jobs by indexing (a long search has many jobs per
    trial)."""
    import numpy as np

    trial = cols["trial_id"]
    n_trials = int(trial.max()) + 1 if len(trial) else 0
    config_of = scheduler.trial_config
    configs = [config_of(t) for t in range(n_trials)]
    names: dict[str, None] = dict.fromkeys(scheduler.space)
    out: dict[str, Any] = {}
    for key, col in cols.items():
        out[key] = col
        if key != "status":
            continue
        for name in names:
            try:
                values = list(map(operator.itemgetter(name), configs))
            except KeyError:
                values = [c.get(name) for c in configs]
            per_trial = np.fromiter(values, dtype=object, count=n_trials)
            out[f"config_{name}"] = per_trial[trial].tolist()
    return out
