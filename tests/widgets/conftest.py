"""Shared fixtures of the widget tests: a fake search with the reading API the dashboard polls
(a :class:`~asha_nb._view.SearchView`, as the real search is), and helpers to read the numbers a
dashboard shows."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

import pytest

from asha_nb import space
from asha_nb._view import SearchView
from asha_nb.core import RungSnapshot
from asha_nb.core.types import JobStatus
from asha_nb.results import JobRecord
from asha_nb.runtime.events import RunningJobInfo, SearchSnapshot, SearchState


class FakeScheduler:
    mode = "max"
    min_resource = 1
    max_resource = 27
    reduction_factor = 3
    rung_resources = [[1, 3, 9, 27]]

    def __init__(self, sp: Any):
        self.space = sp

    def expected_jobs(self) -> int | None:
        return None


class FakeExecutor:
    """A thread executor's words: it cannot kill a running job."""

    name = "thread"
    can_kill = False


class FakeSearch:
    """A :class:`~asha_nb._view.SearchView` (what the dashboard reads of :class:`asha_nb.Search`,
    nothing more): the test sets the records and the snapshot's fields by hand (``put`` a
    record, set attributes), the dashboard polls."""

    def __init__(self) -> None:
        self.scheduler = FakeScheduler(space.Space({
            "lr": space.loguniform(1e-3, 1.0), "x": space.uniform(0, 1),
            "n": space.randint(1, 5), "act": space.choice(["relu", "tanh"]), "fixed": 3}))
        self.executor = FakeExecutor()
        self.mode = "max"
        self.n_workers = 4
        self.calls: list[tuple[str, Any]] = []
        self.state = SearchState.RUNNING
        self.elapsed = 1.0
        self.paused_since: float | None = None
        self.n_started = 0
        self.best: tuple[int, float] | None = None
        self.history: list[tuple[float, int, float, float]] = []
        self.reported: dict[int, list[tuple[float, float]]] = {}
        self.running: tuple[RunningJobInfo, ...] = ()
        self.counts: dict[str, int] = {}
        self._records: list[JobRecord] = []
        self._log: list[int] = []

    # ---- what tests call
    def put(self, rec: JobRecord) -> None:
        if rec.job_id < len(self._records):
            self._records[rec.job_id] = rec
        else:
            assert rec.job_id == len(self._records)
            self._records.append(rec)
        self._log.append(rec.job_id)

    # ---- what the dashboard calls
    def record_changes(self, cursor: int | None = None) -> tuple[int, list[JobRecord]]:
        if cursor is None:
            return len(self._log), list(self._records)
        end = len(self._log)
        return end, [self._records[j] for j in dict.fromkeys(self._log[cursor:end])]

    def best_history(self, *, at_max_resource: bool = False) -> list[Any]:
        return list(self.history)

    def curves(self) -> dict[int, list[tuple[float, float]]]:
        return {k: list(v) for k, v in self.reported.items()}

    def results(self) -> list[JobRecord]:
        return list(self._records)

    def snapshot(self) -> SearchSnapshot:
        return SearchSnapshot(
            state=self.state, elapsed=self.elapsed, n_workers=self.n_workers,
            busy_workers=len(self.running), n_started=self.n_started, n_finished=0,
            n_stopped=0, n_failed=self.counts.get("failed", 0),
            best_value=None if self.best is None else self.best[1],
            best_trial=None if self.best is None else self.best[0],
            best_config={"lr": 0.1} if self.best else None, best_resource=27,
            rungs=(RungSnapshot(0, 0, 1, 3, 1, 0.5), RungSnapshot(0, 1, 3, 1, 0, None)),
            paused_since=self.paused_since, running=self.running,
            stuck_workers=sum(r.stuck for r in self.running), trial_counts=dict(self.counts),
            n_jobs=len(self._records),
        )

    def pause(self) -> None:
        self.calls.append(("pause", None))
        self.state = SearchState.PAUSED

    def resume(self) -> None:
        self.calls.append(("resume", None))
        self.state = SearchState.RUNNING

    def stop(self) -> None:
        self.calls.append(("stop", None))
        self.state = SearchState.STOPPED

    def stop_trial(self, trial_id: int) -> None:
        self.calls.append(("stop_trial", trial_id))

    def add_trial(self, config: Any) -> int:
        self.calls.append(("add_trial", dict(config)))
        return 99


def job(job_id: int, trial_id: int, worker: int, start: float, end: float | None, *,
        rung: int = 0, status: JobStatus = JobStatus.OK, value: float | None = 0.5,
        resource: float | None = None, error: str | None = None) -> JobRecord:
    """A job record for the fake search (resource from the fake's rungs by default)."""
    res = resource if resource is not None else [1, 3, 9, 27][rung]
    return JobRecord(job_id, trial_id, rung, res, 0, 0, {"lr": 0.1}, status, worker, start,
                     end, value, error, 1)


@pytest.fixture
def fake_search() -> FakeSearch:
    search = FakeSearch()
    assert isinstance(search, SearchView)  # the fake is what the views read, no more, no less
    return search


# ------------------------------------------------------------ reading what the dashboard shows
def shown(page: str, cls: str) -> list[str]:
    """Texts of the elements of class ``cls`` in an HTML fragment (tags stripped, unescaped)."""
    out = []
    for m in re.finditer(rf"<(\w+)[^>]*class='{re.escape(cls)}'[^>]*>(.*?)</\1>", page, re.S):
        out.append(html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip())
    return out


def shown_one(page: str, cls: str) -> str:
    values = shown(page, cls)
    assert len(values) == 1, (cls, values)
    return values[0]


def table_column(page: str, cls: str) -> list[str]:
    """The cells of one column of the rung table (cells carry ``asha-r-<column>``)."""
    return shown(page, cls)


def as_rows(records: Iterable[JobRecord]) -> list[JobRecord]:
    return list(records)
