"""What a :class:`~asha_nb.runtime.Search` shows: snapshots, records, results, trials, the
best so far (a mixin of the facade). Safe from any thread: records are immutable, snapshots are
built by the thread that drives the loop."""

from __future__ import annotations

import dataclasses
import operator
import threading
from typing import TYPE_CHECKING, Any

from ..core import TrialStatus
from ..errors import SearchStateError
from ..results import JobRecord
from ._requests import Command, Request
from .events import SearchSnapshot

if TYPE_CHECKING:  # pragma: no cover
    from ..core import Scheduler
    from ..executors import BaseExecutor
    from ._loop import Loop

__all__ = ["SearchReading"]


class SearchReading:
    """Mixin of :class:`~asha_nb.runtime.Search`: reading its state."""

    if TYPE_CHECKING:  # set by Search
        _loop: Loop
        _thread: threading.Thread | None
        _journal_path: str | None
        scheduler: Scheduler

    def snapshot(self) -> SearchSnapshot:
        """An immutable picture of the search (safe from any thread; the loop refreshes it at
        most every 50 ms while running, and after every control call)."""
        loop = self._loop
        if self._thread is None or threading.current_thread() is self._thread or (
                loop.state.is_terminal) or loop.is_driving():
            loop.snaps.refresh(force=True)
        snap = loop.snapshot()
        if loop.started_at is not None and not snap.state.is_terminal:
            # The clock keeps running while nothing changes (e.g. paused): elapsed is now.
            snap = dataclasses.replace(snap, elapsed=loop.clock.now())
        return snap

    @property
    def best(self) -> dict[str, Any] | None:
        """``dict(trial_id, value, resource, config)`` of the best result at the highest
        resource reached, or ``None``."""
        snap = self.snapshot()
        if snap.best_trial is None:
            return None
        return {"trial_id": snap.best_trial, "value": snap.best_value,
                "resource": snap.best_resource, "config": dict(snap.best_config or {})}

    def checkpoints(self) -> dict[int, tuple[float, Any]]:
        """The latest checkpoint of each trial the search holds in memory.

        Returns
        -------
        dict
            ``{trial_id: (resource, checkpoint)}``: the checkpoint the trial's last job returned
            (checkpoint or trial form) and the resource it was trained to. Trials whose
            objective returned none, or whose checkpoint was dropped (see the job's ``note``
            in :meth:`results`), are missing. A resumed search holds the checkpoints of the
            trials it promoted since; the others are in ``<journal>.checkpoints/``.
        """
        loop = self._loop
        with loop.lock:
            return dict(loop.endings.checkpoints)

    def best_history(self, *, at_max_resource: bool = False) -> list[tuple[float, int, float, float]]:
        """``(time, trial_id, value, resource)`` each time the best value so far improved.

        By default the best finite value at any rung (it never gets worse); with
        ``at_max_resource=True``, the incumbent :attr:`best` (best at the highest resource
        reached), each time it changed.
        """
        loop = self._loop
        return list(loop.best.incumbents if at_max_resource else loop.best.best_any)

    def _trial_columns(self) -> dict[str, Any]:
        loop = self._loop
        live = (self._thread is not None and not loop.state.is_terminal
                and threading.current_thread() is not self._thread and not loop.is_driving())
        if live:
            req = Request(Command.READ_TRIALS, {})
            loop.post(req)
            try:
                return req.future.result(timeout=120)  # type: ignore[no-any-return]
            except SearchStateError:  # the loop ended meanwhile: nothing mutates any more
                pass
        with loop.lock:
            return self.scheduler.trial_columns()

    @property
    def trials(self) -> Any:
        """One row per trial: status (a :class:`~asha_nb.core.TrialStatus` value), rung reached,
        last value, error, config columns (a DataFrame)."""
        import numpy as np
        import pandas as pd

        cols = self._trial_columns()
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
        for k in self.scheduler.space:  # every configuration has every key of the space
            try:
                frame[f"config_{k}"] = list(map(operator.itemgetter(k), configs))
            except KeyError:
                frame[f"config_{k}"] = [c.get(k) for c in configs]
        return pd.DataFrame(frame)

    def curves(self) -> dict[int, list[tuple[float, float]]]:
        """Intermediate ``(resource, value)`` pairs reported by each trial."""
        return {k: list(v) for k, v in list(self._loop.endings.curves.items())}

    def records(self) -> list[JobRecord]:
        """One immutable :class:`~asha_nb.results.JobRecord` per job (trial and rung), in job
        order."""
        return self._loop.store.all()

    def record_changes(self, cursor: int | None = None) -> tuple[int, list[JobRecord]]:
        """Records changed since ``cursor`` (``None``: all) and the next cursor: how views
        poll a running search without slowing it down."""
        return self._loop.store.changes(cursor)

    def finished_job_ids(self) -> list[int]:
        """Ids of the jobs that ended (ok, failed or stopped), in the order they ended."""
        return self._loop.endings.finished_ids[:]

    def results(self, as_frame: bool = True, *, configs: bool = True) -> Any:
        """Results as a pandas DataFrame: one row per job (trial and rung).

        Columns: ``trial_id, rung, resource, value, status, config_<name>..., worker, start,
        end, error, bracket, job_id, resume_from, attempts, started``. ``status`` is a
        :class:`~asha_nb.core.JobStatus` value: ``ok``, ``failed``, ``stopped``, ``running``,
        ``retrying`` or ``interrupted``. ``value`` is ``None`` for a job without a value (NaN
        only when the objective returned NaN). Times are seconds on the search's clock:
        ``start`` is when the job was handed to a worker slot (submitted to the executor),
        ``started`` when its objective really began in the worker (later than ``start`` when
        the job waited in the executor's own queue, e.g. a pool with fewer slots than
        ``n_workers``; known once the job ended or timed out, NaN before or where the executor
        cannot tell), ``end`` when its outcome came back (NaN while it runs). A job timeout
        counts from ``started``.

        Parameters
        ----------
        as_frame
            ``False`` returns the same columns as a dict of equal-length arrays (like
            scikit-learn's ``cv_results_``), without pandas.
        configs
            Include the ``config_<name>`` columns (default).
        """
        cols = self._loop.store.columns(configs=False)
        if configs:
            cols = self._with_config_columns(cols)
        if not as_frame:
            return cols
        import pandas as pd

        return pd.DataFrame(cols)

    def _with_config_columns(self, cols: dict[str, Any]) -> dict[str, Any]:
        """``cols`` with a ``config_<name>`` column per parameter after ``status``: each
        trial's value taken once, then spread over its jobs by indexing (a long search has
        many jobs per trial)."""
        import numpy as np

        trial = cols["trial_id"]
        n_trials = int(trial.max()) + 1 if len(trial) else 0
        config_of = self.scheduler.trial_config
        configs = [config_of(t) for t in range(n_trials)]
        names: dict[str, None] = dict.fromkeys(self.scheduler.space)
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

    @property
    def journal_path(self) -> str | None:
        """The journal file, if the search is journaled."""
        return self._journal_path

    @property
    def executor(self) -> BaseExecutor:
        """The executor running the jobs."""
        return self._loop.executor

    @property
    def stalled(self) -> bool:
        """In virtual time: whether the search ended because nothing could run any more."""
        return self._loop.stalled
