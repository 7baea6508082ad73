"""Shared fixtures of the widget tests: a small fake search with the Search API."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")
pytest.importorskip("altair")
pytest.importorskip("vl_convert")

from asha_nb import space  # noqa: E402
from asha_nb.runtime.events import RungRow, SearchSnapshot  # noqa: E402


class FakeScheduler:
    mode = "max"

    def __init__(self, sp: Any):
        self.space = sp


class FakeSearch:
    """Enough of :class:`asha_nb.Search` for the dashboard: events are emitted by hand."""

    def __init__(self) -> None:
        self.space = space.Space({"lr": space.loguniform(1e-3, 1.0), "x": space.uniform(0, 1),
                                  "n": space.randint(1, 5), "act": space.choice(["relu", "tanh"]),
                                  "fixed": 3})
        self.scheduler = FakeScheduler(self.space)
        self.mode = "max"
        self.n_workers = 4
        self.calls: list[tuple[str, Any]] = []
        self.subscribers: list[Any] = []
        self.state = "running"
        self.n_started = 0
        self.n_failed = 0
        self.best: tuple[int, float] | None = None

    def subscribe(self, cb: Any) -> Any:
        self.subscribers.append(cb)
        return lambda: self.subscribers.remove(cb)

    def emit(self, event: Any) -> None:
        for cb in list(self.subscribers):
            cb(event)

    def snapshot(self) -> SearchSnapshot:
        return SearchSnapshot(
            state=self.state, elapsed=1.0, n_workers=self.n_workers, busy_workers=2,
            n_started=self.n_started, n_finished=0, n_stopped=0, n_failed=self.n_failed,
            best_value=None if self.best is None else self.best[1],
            best_trial=None if self.best is None else self.best[0],
            best_config={"lr": 0.1} if self.best else None, best_resource=1,
            rungs=(RungRow(0, 0, 1, 3, 1, 0.5), RungRow(0, 1, 3, 1, 0, None)),
        )

    def results(self) -> Any:
        import pandas as pd

        return pd.DataFrame()

    def pause(self) -> None:
        self.calls.append(("pause", None))
        self.state = "paused"

    def resume(self) -> None:
        self.calls.append(("resume", None))
        self.state = "running"

    def stop(self) -> None:
        self.calls.append(("stop", None))
        self.state = "stopped"

    def stop_trial(self, trial_id: int) -> None:
        self.calls.append(("stop_trial", trial_id))

    def add_trial(self, config: Any) -> int:
        self.calls.append(("add_trial", dict(config)))
        return 99


@pytest.fixture
def fake_search() -> FakeSearch:
    return FakeSearch()
