"""The dashboard's model: what changed in a search since the last frame, as plain data.

:class:`DashboardFeed` polls a :class:`~asha_nb._view.SearchView` (``snapshot()``,
``record_changes(cursor)``, ``best_history()``, ``curves()``) and returns a :class:`Frame`: the
snapshot to show and the chart update (rows to append, rows to replace, the ``now`` signal, the
running-jobs panel). It remembers what it already sent (a cursor, job keys, result keys), the
worker lanes and pauses it saw, the failures, and paces the reading of records so that the
dashboard stays within its share of the time. It holds no widget and imports no widget library:
the dashboard writes the frame into its widgets. It is not thread-safe; the dashboard calls it
under its lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._view import SearchView
from ..core.types import JobStatus, TrialStatus
from ..runtime.events import SearchSnapshot
from ..viz import charts as _charts

__all__ = ["DashboardFeed", "Frame", "MAX_CHART_LAG", "RUNNING_ROWS", "TERMINAL", "is_terminal"]

#: Search states in which nothing changes any more.
TERMINAL = ("finished", "stopped", "failed")
#: Job statuses whose value the charts show: completed jobs, and jobs stopped while running
#: whose value came anyway (the scheduler records those in the rung, ``search.best`` and the
#: best-at-any-rung history count them, and ``results.rung_table`` does too).
_VALUED = (JobStatus.OK, JobStatus.STOPPED)
#: Job statuses drawn in red in the worker timeline.
_RED_STATUSES = (JobStatus.FAILED, JobStatus.RETRYING)
#: At most this many rows in the running-trials list (the rest are counted).
RUNNING_ROWS = 12
#: Longest time (seconds) the charts may lag behind the status line when records arrive faster
#: than the dashboard may draw them.
MAX_CHART_LAG = 10.0
_POLL_COST = 5e-4  # seconds a poll costs besides its records (status line, messages)


def is_terminal(snap: SearchSnapshot) -> bool:
    """Whether the snapshot shows an ended search."""
    return str(snap.state) in TERMINAL


def _num(v: Any) -> Any:
    """JSON-safe number: non-finite floats become ``None``."""
    if type(v) is float and not math.isfinite(v):
        return None
    return v


@dataclass(frozen=True)
class Frame:
    """What one poll found: the snapshot every number on screen comes from, and the chart update.

    Attributes
    ----------
    snapshot
        The search's snapshot (taken after the records when they were read).
    chart
        Keyword arguments of :meth:`~asha_nb.widgets._vega.VegaStream.update`: always
        ``running`` (the running-jobs panel); when the records were read also ``append``
        (new jobs, results, best rows), ``volatile`` (running jobs), ``replace`` (worker lanes,
        pauses, the best series' tails) and ``signals`` (``now``).
    n_rows
        The new number of worker rows of the timeline when it changed (``set_n_workers``),
        else ``None``.
    """

    snapshot: SearchSnapshot
    chart: dict[str, Any]
    n_rows: int | None = None

    @property
    def terminal(self) -> bool:
        """Whether the search has ended (this is the last frame)."""
        return is_terminal(self.snapshot)


class DashboardFeed:
    """The polling and diffing model of a :class:`~asha_nb.widgets.Dashboard`.

    Parameters
    ----------
    search
        The search it reads.
    clock
        Monotonic clock of the pacing (tests inject a fake one).
    max_duty
        Largest share of wall time reading records may take (``None``: read at every poll).

    Attributes
    ----------
    failures
        ``{(trial_id, rung): error}`` of the failed jobs seen, in the order they were seen.
    stopping
        Trials whose stop the dashboard requested while their job ran: trial -> time.
    lanes
        Worker lanes ``{"worker", "from", "to"}`` (``to`` None: the lane exists now); a lane
        starts or ends at the first poll that sees ``set_n_workers`` change the count.
    pauses
        Pauses seen ``{"start", "end"}`` (``end`` None: paused now). The start is the search's
        own (``paused_since``); the end is the first poll that sees it resumed.
    charts_at
        Search time of the last read of the records (``None`` before the first).
    spec_rows
        Worker rows of the timeline the chart's spec has.
    """

    def __init__(self, search: SearchView, *, clock: Callable[[], float] | None = None,
                 max_duty: float | None = 0.02):
        self.search = search
        sched = search.scheduler
        self.mode = str(sched.mode or search.mode)
        brackets = [list(b) for b in sched.rung_resources]
        self.resources = sorted({float(r) for b in brackets for r in b})
        self.n_rungs = max(len(b) for b in brackets) if brackets else 1
        self.max_resource = float(sched.max_resource
                                  or (self.resources[-1] if self.resources else 1))
        self.best_max_label = _charts.best_at_max_label(self.max_resource)
        self.max_duty = max_duty
        self.clock = clock or time.monotonic
        self._cursor: int | None = None
        self._sent_jobs: set[tuple[int, int]] = set()
        self._live: dict[int, dict[str, Any]] = {}
        self._result_keys: set[tuple[int, int]] = set()
        self._curve_counts: dict[int, int] = {}
        self._curve_keys: set[tuple[int, float]] = set()
        self.failures: dict[tuple[int, int], str] = {}
        self._n_best_any = 0
        self._best_max: tuple[float, float, int, float] | None = None  # time, value, trial, res
        self._max_worker = -1
        self.lanes: list[dict[str, Any]] = []
        self.pauses: list[dict[str, Any]] = []
        self.stopping: dict[int, float] = {}
        self._read_at = -float("inf")
        self._read_jobs = 0
        self._record_cost = 3e-6  # seconds per record (learned)
        self.charts_at: float | None = None
        self.spec_rows = int(search.snapshot().n_workers or 1)

    # ------------------------------------------------------------------ one poll
    def poll(self, force: bool = False) -> Frame:
        """Read the search: the snapshot always, the records when ``force``, when the search
        has ended, or when reading them fits the pacing (:meth:`may_read`)."""
        s = self.search
        snap = s.snapshot()
        terminal = is_terminal(snap)
        self.track(snap)
        chart: dict[str, Any] = {"running": self.running_panel(snap)}
        n_rows = None
        if force or terminal or self.may_read(snap):
            t0 = time.perf_counter()
            jobs, results, best_rows, n_records = self._read_records()
            results += self._read_curves()
            snap = s.snapshot()  # after the records: "now" is at or after every record's time
            history = s.best_history()
            for t, tid, value, resource in history[self._n_best_any:]:
                best_rows.append({"series": _charts.BEST_ANY, "time": t, "value": value,
                                  "trial_id": tid, "resource": resource})
            self._n_best_any = len(history)
            tail = []
            if history:
                t, tid, value, resource = history[-1]
                tail.append({"series": _charts.BEST_ANY, "time": t, "value": value})
            if self._best_max is not None:
                tail.append({"series": self.best_max_label, "time": self._best_max[0],
                             "value": self._best_max[1]})
            self.track(snap)
            rows = self.n_rows()
            if rows != self.spec_rows:  # set_n_workers: the timeline gets its new lanes
                self.spec_rows = n_rows = rows
            chart = {
                "append": {"jobs": jobs, "results": results, "best": best_rows},
                "volatile": {"jobs": sorted(self._live.values(), key=lambda r: r["job_id"])},
                "replace": {"workers": [dict(lane) for lane in self.lanes],
                            "pauses": [dict(p) for p in self.pauses], "tail": tail},
                "signals": {"now": float(snap.elapsed)},
                "running": self.running_panel(snap),
            }
            self.charts_at = float(snap.elapsed)
            self._read_at = self.clock()
            self._read_jobs = snap.n_jobs
            took = time.perf_counter() - t0
            if n_records >= 200:  # learn the cost of a record (for the pacing in may_read)
                per = max(0.0, took - _POLL_COST) / n_records
                self._record_cost = 0.7 * self._record_cost + 0.3 * per
        return Frame(snap, chart, n_rows)

    def _read_records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                     list[dict[str, Any]], int]:
        """New finished jobs, new results and new best-at-max rows since the last poll, and
        how many records changed."""
        cursor, recs = self.search.record_changes(self._cursor)
        self._cursor = cursor
        jobs: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        candidates = []
        live, sent, rkeys = self._live, self._sent_jobs, self._result_keys
        top = self.max_resource
        failed, running_s = JobStatus.FAILED, JobStatus.RUNNING
        for r in recs:
            (job_id, trial_id, rung, resource, _rf, _b, _cfg, status, worker, start, end,
             value, error, attempts) = r
            if status is failed and (trial_id, rung) not in self.failures:
                self.failures[(trial_id, rung)] = str(error or "failed")
            if start is None or worker is None:
                live.pop(job_id, None)
                continue
            if worker > self._max_worker:
                self._max_worker = worker
            if end is None:
                stuck = status is not running_s
                live[job_id] = {"job_id": job_id, "worker": worker, "trial_id": trial_id,
                                "rung": rung, "resource": resource, "start": start,
                                "end": None, "status": status.value,
                                "state": "stuck" if stuck else "running", "stuck": stuck}
                continue
            live.pop(job_id, None)
            key = (job_id, attempts)
            if key in sent:
                continue
            sent.add(key)
            jobs.append({"job_id": job_id, "worker": worker, "trial_id": trial_id,
                         "rung": rung, "resource": resource, "start": start, "end": end,
                         "status": status.value,
                         "state": "failed" if status in _RED_STATUSES else "done",
                         "value": _num(value)})
            if status in _VALUED and value is not None and math.isfinite(value):
                if (trial_id, rung) not in rkeys:
                    rkeys.add((trial_id, rung))
                    results.append({"trial_id": trial_id, "rung": rung, "resource": resource,
                                    "value": value})
                if resource == top:  # jobs ending at the same time: in the loop's order
                    candidates.append((end, worker, job_id, value, trial_id, resource))
        best_rows = []
        sign = 1.0 if self.mode == "max" else -1.0
        for end, _w, _j, value, trial_id, resource in sorted(candidates):
            cur = self._best_max
            if cur is None or sign * value > sign * cur[1]:
                self._best_max = (end, value, trial_id, resource)
                best_rows.append({"series": self.best_max_label, "time": end, "value": value,
                                  "trial_id": trial_id, "resource": resource})
        return jobs, results, best_rows, len(recs)

    def _read_curves(self) -> list[dict[str, Any]]:
        """Values trials reported while running (``trial.report``), not yet sent."""
        rows = []
        counts, keys = self._curve_counts, self._curve_keys
        for tid, points in self.search.curves().items():
            n = counts.get(tid, 0)
            if len(points) <= n:
                continue
            for resource, value in points[n:]:
                if (tid, resource) in keys or value is None or not math.isfinite(value):
                    continue
                keys.add((tid, resource))
                rows.append({"trial_id": tid, "rung": -1, "resource": resource,
                             "value": value})
            counts[tid] = len(points)
        return rows

    # ------------------------------------------------------------------ lanes and pauses
    def track(self, snap: SearchSnapshot) -> None:
        """Follow the worker count (lanes added and removed) and the pauses, poll by poll."""
        now = float(snap.elapsed)
        n = max(1, int(snap.n_workers))
        if not self.lanes:  # the first poll (a late dashboard: the lanes it finds)
            self.lanes = [{"worker": i, "from": 0.0, "to": None} for i in range(n)]
        if is_terminal(snap):
            for p in self.pauses:  # a search that ends while paused: the pause ends with it
                if p["end"] is None:
                    p["end"] = max(now, p["start"])
            return
        open_ = {lane["worker"] for lane in self.lanes if lane["to"] is None}
        for lane in self.lanes:
            if lane["to"] is None and lane["worker"] >= n:
                lane["to"] = now
        self.lanes += [{"worker": i, "from": now, "to": None}
                       for i in range(n) if i not in open_]
        since = snap.paused_since if snap.state == "paused" else None
        current = self.pauses[-1] if self.pauses and self.pauses[-1]["end"] is None else None
        if current is not None and current["start"] != since:
            # resumed (and maybe paused again) since the last poll
            current["end"] = max(current["start"], now if since is None else float(since))
            current = None
        if since is not None and current is None:
            self.pauses.append({"start": float(since), "end": None})

    def n_rows(self) -> int:
        """Worker rows the timeline needs: every lane and every worker a job ran on."""
        lanes = max((lane["worker"] for lane in self.lanes), default=-1)
        return max(lanes + 1, self._max_worker + 1, 1)

    def may_read(self, snap: SearchSnapshot) -> bool:
        """Whether reading the records now keeps the dashboard within its share of the time.

        The status line (from the snapshot) is cheap and always current; reading thousands of
        new job records is not. A search that produces records faster than the dashboard may
        draw them (10^4 zero-cost trials per second) gets its charts less often: the charts
        then end at the time they were read (and the status line says so), never later than
        ``MAX_CHART_LAG`` seconds.
        """
        if self.max_duty is None:
            return True
        since = self.clock() - self._read_at
        if since >= MAX_CHART_LAG:
            return True
        new = max(0, snap.n_jobs - self._read_jobs)
        predicted = _POLL_COST + self._record_cost * (2 * new + len(self._live))
        return predicted <= self.max_duty * since

    # ------------------------------------------------------------------ running jobs
    def stop_note(self) -> str:
        """Why a stopped trial's job may go on running, for this search's executor."""
        ex = self.search.executor
        name = str(ex.name or "this")
        if ex.can_kill:
            return f"the {name} executor ends the job (it can interrupt it)"
        return (f"a {name} worker cannot be interrupted: a plain or checkpoint objective "
                "runs to its end; objective(trial) ends at its next trial.should_stop()")

    def note_stop(self, trial_id: int, snap: SearchSnapshot) -> bool:
        """Remember that the dashboard stopped ``trial_id`` while its job runs (its row says
        "stopping" until the job really ends); whether it was running."""
        if any(r.trial_id == trial_id and not r.stuck for r in snap.running):
            self.stopping[trial_id] = float(snap.elapsed)
            return True
        return False

    def running_panel(self, snap: SearchSnapshot) -> dict[str, Any]:
        """The running-jobs list: a title, at most ``RUNNING_ROWS`` rows, and what is left out."""
        now = float(snap.elapsed)
        running = sorted(snap.running, key=lambda r: (r.start, r.job_id))
        live_trials = {r.trial_id for r in running}
        for tid in [t for t in self.stopping if t not in live_trials]:
            del self.stopping[tid]  # its job really ended
        stopping = set(self.stopping) | {r.trial_id for r in running if r.stopping}
        note = self.stop_note() if stopping else ""
        rows = []
        for r in running[:RUNNING_ROWS]:
            row: dict[str, Any] = {
                "trial_id": r.trial_id, "rung": r.rung, "resource": _num(r.resource),
                "worker": r.worker, "running_for": round(max(0.0, now - r.start), 1),
                "stuck": bool(r.stuck)}
            if r.trial_id in stopping and not r.stuck:
                row["stopping"] = True
                row["why"] = note
            rows.append(row)
        empty = ("the search has ended" if is_terminal(snap)
                 else "paused: no job is running" if snap.state == "paused"
                 else "no job is running")
        # the trial line counts trials by status; a stopped (or timed-out) trial's job may
        # still hold its worker: say so, so that the list and the status line agree
        n_trials_running = int((snap.trial_counts or {}).get(TrialStatus.RUNNING.value, 0))
        n_stuck = sum(1 for r in running if r.stuck)
        n_other = (max(0, len(running) - n_stuck - n_trials_running) if snap.trial_counts
                   else 0)
        extra = []
        if n_other:
            extra.append(f"{n_other} of {'a stopped trial' if n_other == 1 else 'stopped trials'}"
                         ", still running")
        if n_stuck:
            extra.append(f"{n_stuck} timed out")
        title = f"Running jobs ({len(running)}" + (": " + "; ".join(extra) if extra else "") + ")"
        return {"title": title, "rows": rows,
                "more": max(0, len(running) - RUNNING_ROWS), "empty": empty}
