"""What a :class:`~asha_nb.runtime.Search` shows: snapshots, records, results, trials, the
best so far (a mixin of the facade). Safe from any thread: records are immutable, snapshots are
built by the thread that drives the loop."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from ..errors import SearchStateError
from ..results import JobRecord
from ._commands import Command, Request
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
            loop.refresh_snapshot(force=True)
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

    def best_history(self, *, at_max_resource: bool = False) -> list[tuple[float, int, float, float]]:
        """``(time, trial_id, value, resource)`` each time the best value so far improved.

        By default the best finite value at any rung (it never gets worse); with
        ``at_max_resource=True``, the incumbent :attr:`best` (best at the highest resource
        reached), each time it changed.
        """
        loop = self._loop
        return list(loop.incumbents if at_max_resource else loop.best_any)

    def _trial_snapshots(self) -> Any:
        loop = self._loop
        live = (self._thread is not None and not loop.state.is_terminal
                and threading.current_thread() is not self._thread and not loop.is_driving())
        if live:
            req = Request(Command.READ_TRIALS, {})
            loop.post(req)
            try:
                return req.future.result(timeout=120)
            except SearchStateError:  # the loop ended meanwhile: nothing mutates any more
                pass
        with loop.lock:
            return self.scheduler.snapshot().trials

    @property
    def trials(self) -> Any:
        """One row per trial: status (a :class:`~asha_nb.core.TrialStatus` value), rung reached,
        last value, error, config columns (a DataFrame)."""
        import pandas as pd

        rows = []
        for t in self._trial_snapshots():
            row = {"trial_id": t.trial_id, "status": t.status.value, "rung": t.rung,
                   "bracket": t.bracket, "value": t.values[-1][1] if t.values else None,
                   "error": t.error}
            row.update({f"config_{k}": v for k, v in t.config.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def curves(self) -> dict[int, list[tuple[float, float]]]:
        """Intermediate ``(resource, value)`` pairs reported by each trial."""
        return {k: list(v) for k, v in list(self._loop.curves.items())}

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
        return self._loop.finished_ids[:]

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
        cols = self._loop.store.columns(configs=configs)
        if not as_frame:
            return cols
        import pandas as pd

        return pd.DataFrame(cols)

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
