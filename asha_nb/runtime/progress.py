"""tqdm progress bar as a :class:`~asha_nb.runtime.Search` subscriber."""

from __future__ import annotations

import time
from typing import Any

from .events import JobFinished, StateChanged

__all__ = ["ProgressBar"]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython  # type: ignore[import-not-found]
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _expected_jobs(search: Any) -> int | None:
    sched = search.scheduler
    n = getattr(sched, "max_trials", None)
    resources = getattr(sched, "resources", None)
    if not n or resources is None:
        return None
    eta = sched.reduction_factor
    return sum(max(1, n // eta**k) for k in range(len(resources)))


class ProgressBar:
    """A tqdm bar counting finished jobs, with the incumbent in the postfix.

    Uses ``tqdm.auto`` inside Jupyter and plain ``tqdm`` in terminals. Redraws are throttled
    (at most ~10 per second). Subscribes on creation; :meth:`close` unsubscribes.

    Examples
    --------
    >>> # bar = ProgressBar(search); search.start(); search.wait(); bar.close()
    """

    def __init__(self, search: Any, *, notebook: bool | None = None):
        notebook = _in_notebook() if notebook is None else notebook
        if notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        self._search = search
        self._bar = tqdm(total=_expected_jobs(search), unit="job",
                         desc=type(search.scheduler).__name__, leave=True)
        self._last = 0.0
        self._unsubscribe = search.subscribe(self._on_event)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, JobFinished):
            self._bar.update(1)
            now = time.monotonic()
            if now - self._last > 0.1:
                self._last = now
                self._postfix()
        elif isinstance(event, StateChanged) and event.state in ("finished", "stopped", "failed"):
            self._postfix()

    def _postfix(self) -> None:
        snap = self._search.snapshot()
        post = {"best": "-" if snap.best_value is None else f"{snap.best_value:.4g}",
                "failed": snap.n_failed}
        self._bar.set_postfix(post, refresh=False)

    def close(self) -> None:
        """Unsubscribe and close the bar."""
        self._unsubscribe()
        try:
            self._postfix()
        except Exception:  # noqa: BLE001
            pass
        self._bar.close()
