"""A tqdm progress bar that follows a running :class:`~asha_nb.runtime.Search`.

It is a thin view of a :class:`~asha_nb._view.SearchView`: it reads the search's snapshot when it
refreshes (``Search.run`` calls :meth:`ProgressBar.update` about five times a second) and costs
the loop nothing per job. The bar counts jobs that ended; its total is the scheduler's own
estimate of the jobs it will hand out (:meth:`~asha_nb.core.Scheduler.expected_jobs`), raised
when the search hands out more (an asynchronous scheduler may promote a few more trials than
planned) and set to the final count when the search ends, so it never shows more than 100 %.
"""

from __future__ import annotations

from .._view import SearchView

__all__ = ["ProgressBar"]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class ProgressBar:
    """A tqdm bar counting ended jobs, with the incumbent and failures in the postfix.

    Uses ``tqdm.auto`` inside Jupyter and plain ``tqdm`` in terminals. Call :meth:`update` to
    refresh it and :meth:`close` at the end.

    Examples
    --------
    >>> from asha_nb import space
    >>> from asha_nb.runtime import Search
    >>> s = Search(lambda c, r: c["x"], {"x": space.uniform(0, 1)}, max_trials=9,
    ...            max_resource=9, seed=0, progress=False).run()
    >>> bar = ProgressBar(s, disable=True)
    >>> bar.update(); bar.expected, bar.total, bar.done  # planned 9 + 3 + 1, ASHA did one more
    (13, 14, 14)
    >>> bar.close()
    """

    def __init__(self, search: SearchView, *, notebook: bool | None = None, disable: bool = False):
        notebook = _in_notebook() if notebook is None else notebook
        if notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        self._search = search
        self.expected = search.scheduler.expected_jobs()
        self._bar = tqdm(total=self.expected, unit="job", desc=type(search.scheduler).__name__,
                         leave=True, disable=disable)
        self.done = 0
        self.total = self.expected

    def update(self) -> None:
        """Read the search's snapshot and redraw."""
        snap = self._search.snapshot()
        done = snap.n_jobs_done
        total = self.expected
        if snap.state.is_terminal:
            total = done
        elif total is not None:
            total = max(total, snap.n_jobs)  # handed out more than planned
        bar = self._bar
        if total != self.total:
            self.total = total
            bar.total = total
        if done > self.done:
            bar.update(done - self.done)
            self.done = done
        bar.set_postfix({"best": "-" if snap.best_value is None else f"{snap.best_value:.4g}",
                         "failed": snap.n_failed}, refresh=True)

    def close(self) -> None:
        """Last update, then close the bar."""
        try:
            self.update()
        finally:
            self._bar.close()
