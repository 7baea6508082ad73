"""What a view reads from a search: the :class:`SearchView` protocol.

The dashboard (:class:`asha_nb.widgets.Dashboard`), the progress bar
(:class:`asha_nb.runtime.progress.ProgressBar`), the ``%asha`` magic's status text and the
teaching view's replay (:meth:`asha_nb.widgets.PromotionView.from_search`) read a search through
this protocol and nothing else; :class:`asha_nb.Search` satisfies it, and so do the fakes of the
widget tests. It names only the search's public reading API (immutable snapshots, immutable job
records, plain lists) and the controls the dashboard's buttons call.

This module imports no widget, chart or notebook library.

Examples
--------
>>> from asha_nb import space
>>> from asha_nb.runtime import Search
>>> s = Search(lambda c, r: c["x"], {"x": space.uniform(0, 1)}, max_trials=3,
...            max_resource=1, seed=0, progress=False)
>>> isinstance(s, SearchView), isinstance(s.scheduler, SchedulerView)
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .results import JobRecord
from .runtime.events import SearchSnapshot, SearchState

__all__ = ["ExecutorView", "SchedulerView", "SearchView"]


@runtime_checkable
class SchedulerView(Protocol):
    """What views read from a search's scheduler (its settings; never its state)."""

    @property
    def mode(self) -> str:
        """``"max"`` or ``"min"``."""

    @property
    def space(self) -> Mapping[str, Any]:
        """The search space (the dashboard's "Add a trial" form has one input per domain)."""

    @property
    def max_resource(self) -> float:
        """The resource of the top rung."""

    @property
    def reduction_factor(self) -> int:
        """``eta``: a rung promotes its top ``1/eta``."""

    @property
    def rung_resources(self) -> Sequence[Sequence[float]]:
        """Resources of each bracket's rungs (``rung_resources[bracket][rung]``)."""

    def expected_jobs(self) -> int | None:
        """The jobs the scheduler plans to hand out (``None``: no limit)."""


@runtime_checkable
class ExecutorView(Protocol):
    """What views say about a search's executor (why a stopped job may go on running)."""

    @property
    def name(self) -> str:
        """The executor's name (``"thread"``, ``"process"``, ...)."""

    @property
    def can_kill(self) -> bool:
        """Whether it can interrupt a running job."""


@runtime_checkable
class SearchView(Protocol):
    """What the views read from a search, and the controls the dashboard's buttons call.

    Reading: :meth:`snapshot` (state, elapsed time, workers, pauses, counts, incumbent, rung
    table, running jobs), :meth:`record_changes` (job records changed since a cursor),
    :meth:`best_history`, :meth:`curves`, :meth:`results`, and the settings ``scheduler``,
    ``executor``, ``mode``, ``n_workers``, ``state``. Controls: :meth:`pause`, :meth:`resume`,
    :meth:`stop`, :meth:`stop_trial`, :meth:`add_trial`. Every call is safe from any thread.
    """

    @property
    def scheduler(self) -> SchedulerView:
        """The scheduler's settings."""

    @property
    def executor(self) -> ExecutorView:
        """The executor's name and whether it can kill a job."""

    @property
    def mode(self) -> str:
        """``"max"`` or ``"min"``."""

    @property
    def n_workers(self) -> int:
        """Worker slots now."""

    @property
    def state(self) -> SearchState:
        """The search's state now."""

    def snapshot(self) -> SearchSnapshot:
        """An immutable picture of the search now."""

    def record_changes(self, cursor: int | None = None) -> tuple[int, list[JobRecord]]:
        """The job records changed since ``cursor`` (all with ``None``) and the next cursor."""

    def best_history(self) -> list[tuple[float, int, float, float]]:
        """``(time, trial_id, value, resource)`` each time the best value at any rung improved."""

    def curves(self) -> dict[int, list[tuple[float, float]]]:
        """``{trial_id: [(resource, value), ...]}`` reported while jobs ran."""

    def results(self) -> Any:
        """One row per job (a DataFrame, or a dict of columns without pandas)."""

    def pause(self) -> None:
        """Hand out no new job until :meth:`resume`."""

    def resume(self) -> None:
        """Hand out jobs again."""

    def stop(self) -> None:
        """End the search."""

    def stop_trial(self, trial_id: int) -> None:
        """Stop one trial."""

    def add_trial(self, config: Mapping[str, Any]) -> int:
        """Add a configuration; returns its trial id."""
