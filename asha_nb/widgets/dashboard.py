"""Live dashboard of a running :class:`~asha_nb.Search`.

Data path (why it stays cheap for the search and bounded for the browser):

1. The dashboard **polls** the search on its own timer thread (a
   :class:`~asha_nb.widgets._throttle.Throttle`, every ``interval`` seconds, default 0.25 s):
   ``search.record_changes(cursor)`` gives the job records that changed since the last poll,
   ``search.snapshot()`` the counts, rungs and running jobs, ``search.best_history()`` the
   running best. Nothing runs on the search's loop thread for the dashboard: it does not
   subscribe to events.
2. Each poll sends at most TWO messages: one to the chart widget
   (:class:`~asha_nb.widgets._vega.VegaStream`: new rows appended, running jobs replaced, the
   ``now`` parameter, the running-trials list) and one status update (status line, rung table,
   failures in one HTML widget). Pause/Resume change only when the search changes state, and
   the controls are hidden in one message when it ends: at most 10 messages in any second,
   whatever the trial rate.
3. The status line comes from the snapshot and is always current. Reading the records is
   paced: it happens when its predicted cost fits ``max_duty`` (2 %) of the time since the
   last read, and at least every ``MAX_CHART_LAG`` seconds (Python threads share one
   interpreter lock, so the dashboard's time is time the search's loop cannot run). Charts of
   a search that produces results faster than that are drawn less often, and say so.
4. When the search ends, a last poll sends the final state; if the dashboard was displayed in
   a notebook (:meth:`Dashboard._ipython_display_`, which gives the output a display id), the
   output is then replaced (``update_display``) by a static snapshot: the same status and
   tables as HTML, and the charts as an SVG image, which renders without a kernel (a saved
   notebook reopened, an untrusted one, nbconvert/nbviewer) instead of "model not found".

Every write goes through :mod:`asha_nb.widgets._sync` (one lock, ``hold_sync()``).

The words are the search's own: trial statuses are :class:`~asha_nb.core.TrialStatus` values
(``search.trials``), job statuses :class:`~asha_nb.core.JobStatus` values (``results()``).
"""

from __future__ import annotations

import html
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..core.types import JobStatus, TrialStatus
from ..runtime.events import SearchSnapshot
from ..space import Choice, LogUniform, RandInt, Uniform
from ..viz import charts as _charts
from ..viz._common import with_data
from . import _sync
from ._throttle import Throttle

__all__ = ["Dashboard", "form_widgets"]

_TERMINAL = ("finished", "stopped", "failed")
_STATE_COLOURS = {"created": "#777", "running": "#2ca02c", "paused": "#ff7f0e",
                  "finished": "#1f77b4", "stopped": "#555", "failed": "#d62728"}
_RED = "#d62728"
#: Trial statuses in the order the status line lists them, with what each means there.
_TRIAL_WORDS = (
    (TrialStatus.PENDING, "pending"),
    (TrialStatus.RUNNING, "running"),
    (TrialStatus.PAUSED, "paused (may be promoted)"),
    (TrialStatus.COMPLETED, "completed"),
    (TrialStatus.NOT_PROMOTED, "not promoted"),
    (TrialStatus.STOPPED, "stopped"),
    (TrialStatus.FAILED, "failed"),
)
#: Job statuses whose value the charts show: completed jobs, and jobs stopped while running
#: whose value came anyway (the scheduler records those in the rung, ``search.best`` and the
#: best-at-any-rung history count them, and ``results.rung_table`` does too).
_VALUED = (JobStatus.OK, JobStatus.STOPPED)
#: Job statuses drawn in red in the worker timeline.
_RED_STATUSES = (JobStatus.FAILED, JobStatus.RETRYING)
#: At most this many rows in the running-trials list (the rest are counted).
RUNNING_ROWS = 12
#: Static snapshots with more marks than this embed the charts as PNG instead of SVG.
SVG_MARK_LIMIT = 4000
#: Longest time (seconds) the charts may lag behind the status line when records arrive faster
#: than the dashboard may draw them.
MAX_CHART_LAG = 10.0
#: The chart's front-end module once the dashboard is closed (its views are gone).
_CLOSED_ESM = "export default { render() {} };"
#: Text colour of the charts in a static snapshot: a mid grey, legible on light and dark pages.
STATIC_INK = "#808080"
_POLL_COST = 5e-4  # seconds a poll costs besides its records (status line, messages)


def form_widgets(space: Mapping[str, Any]) -> dict[str, Any]:
    """One input widget per searchable parameter of ``space``.

    ``Uniform`` -> ``FloatSlider``, ``LogUniform`` -> ``FloatLogSlider``, ``RandInt`` ->
    ``IntSlider`` (upper bound excluded), ``Choice`` -> ``Dropdown``. Fixed values and other
    distributions get no widget (the scheduler fills them in).
    """
    import ipywidgets as w

    style = {"description_width": "initial"}
    out: dict[str, Any] = {}
    for name, dom in space.items():
        if isinstance(dom, LogUniform):
            lo, hi = math.log10(dom.lo), math.log10(dom.hi)
            out[name] = w.FloatLogSlider(value=10 ** ((lo + hi) / 2), base=10, min=lo, max=hi,
                                         step=(hi - lo) / 100, description=name, style=style,
                                         readout_format=".3g")
        elif isinstance(dom, Uniform):
            out[name] = w.FloatSlider(value=(dom.lo + dom.hi) / 2, min=dom.lo, max=dom.hi,
                                      step=(dom.hi - dom.lo) / 100, description=name,
                                      style=style, readout_format=".3g")
        elif isinstance(dom, RandInt):
            out[name] = w.IntSlider(value=(dom.lo + dom.hi - 1) // 2, min=dom.lo,
                                    max=dom.hi - 1, description=name, style=style)
        elif isinstance(dom, Choice):
            out[name] = w.Dropdown(options=[(str(o), o) for o in dom.options],
                                   value=dom.options[0], description=name, style=style)
    return out


def _last_line(text: str, limit: int = 160) -> str:
    """The exception line of a traceback (its last non-empty line), shortened."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    last = lines[-1] if lines else str(text)
    return last if len(last) <= limit else last[: limit - 1] + "\u2026"


def _fmt(v: Any, spec: str = ".4g") -> str:
    if v is None:
        return "&ndash;"
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return html.escape(str(v))


def _num(v: Any) -> Any:
    """JSON-safe number: non-finite floats become ``None``."""
    if type(v) is float and not math.isfinite(v):
        return None
    return v


def _span(cls: str, text: str) -> str:
    return f"<span class='{cls}'>{text}</span>"


class Dashboard:
    """Live view of a search: status, rung table, running trials, charts and controls.

    Parameters
    ----------
    search
        A :class:`~asha_nb.Search` (or any object with its reading API: ``snapshot``,
        ``record_changes``, ``best_history``, ``curves``, ``scheduler``; and its controls:
        ``pause``/``resume``/``stop``/``stop_trial``/``add_trial``).
    interval
        Seconds between two polls (default 0.25; at most 2 front-end messages per poll).
    start_timer
        Start the polling timer thread (tests pass ``False`` and call :meth:`flush`).
    clock
        Monotonic clock of the throttle (tests inject a fake one).
    max_duty
        Largest share of wall time the polls may take (default 0.02).

    Examples
    --------
    >>> # search = Search(objective, space, n_workers=4).start()
    >>> # Dashboard(search)          # or simply: search (its repr is the dashboard)
    """

    def __init__(self, search: Any, *, interval: float = 0.25, start_timer: bool = True,
                 clock: Callable[[], float] | None = None, max_duty: float | None = 0.02):
        import ipywidgets as w

        from ._vega import VegaStream

        self.search = search
        sched = search.scheduler
        self.mode = str(getattr(sched, "mode", None) or getattr(search, "mode", "max"))
        brackets = [list(b) for b in getattr(sched, "rung_resources", [[1]])]
        self.resources = sorted({float(r) for b in brackets for r in b})
        self.n_rungs = max(len(b) for b in brackets) if brackets else 1
        self.max_resource = float(getattr(sched, "max_resource", None)
                                  or (self.resources[-1] if self.resources else 1))
        self.best_max_label = _charts.best_at_max_label(self.max_resource)
        # state of the poll (timer thread; guarded by the throttle's lock)
        self._cursor: int | None = None
        self._sent_jobs: set[tuple[int, int]] = set()
        self._live: dict[int, dict[str, Any]] = {}
        self._result_keys: set[tuple[int, int]] = set()
        self._curve_counts: dict[int, int] = {}
        self._curve_keys: set[tuple[int, float]] = set()
        self._failures: dict[tuple[int, int], str] = {}
        self._n_best_any = 0
        self._best_max: tuple[float, float, int, float] | None = None  # time, value, trial, res
        self._max_worker = -1
        #: Worker lanes: ``{"worker", "from", "to"}`` (``to`` None: the lane exists now); a
        #: lane starts or ends at the first poll that sees ``set_n_workers`` change the count.
        self._lanes: list[dict[str, Any]] = []
        #: Pauses seen: ``{"start", "end"}`` (``end`` None: paused now). The start is the
        #: search's own (``paused_since``); the end is the first poll that sees it resumed.
        self._pauses: list[dict[str, Any]] = []
        #: Trials whose stop this dashboard requested while their job ran: trial -> time.
        self._stopping: dict[int, float] = {}
        self._last_state: str | None = None
        self._final = False
        self._display_id: str | None = None
        self._displayed = False
        self._control_threads: list[threading.Thread] = []
        self._lock = threading.RLock()  # poll state, shared by the timer and the main thread
        self.max_duty = max_duty
        self._clock = clock or time.monotonic
        self._force = False
        self._read_at = -float("inf")
        self._read_jobs = 0
        self._record_cost = 3e-6  # seconds per record (learned)
        self._charts_at: float | None = None
        #: The snapshot the last poll showed (every number on screen comes from it).
        self.last_snapshot: SearchSnapshot | None = None
        # the timer ticks at a steady interval (the status line stays current); the cost of
        # reading records is paced by _may_read instead
        self._throttle = Throttle(self._flush, interval=interval, pending=self._pending,
                                  clock=self._clock)

        # ---- widgets
        # "auto", not "100%": 100 % plus the widget margin overflows (a horizontal scrollbar)
        self.status = w.HTML(layout=w.Layout(width="auto"))
        self.message = w.HTML()
        self.pause_button = w.Button(description="Pause", icon="pause", tooltip="search.pause()")
        self.resume_button = w.Button(description="Resume", icon="play",
                                      tooltip="search.resume()")
        self.stop_button = w.Button(description="Stop search", icon="stop",
                                    button_style="danger", tooltip="search.stop()")
        self.trial_input = w.BoundedIntText(value=0, min=0, max=10**9, description="trial",
                                            layout=w.Layout(width="150px"),
                                            style={"description_width": "initial"})
        self.stop_trial_button = w.Button(description="Stop trial", icon="times",
                                          tooltip="search.stop_trial(trial)")
        space = getattr(search, "space", None) or getattr(sched, "space", {})
        self.form = form_widgets(space)
        self.add_button = w.Button(description="Add trial", icon="plus",
                                   button_style="success", tooltip="search.add_trial(config)")
        for cls, b in (("asha-pause", self.pause_button), ("asha-resume", self.resume_button),
                       ("asha-stop", self.stop_button), ("asha-stop-trial", self.stop_trial_button),
                       ("asha-add", self.add_button)):
            b.add_class(cls)
        self.pause_button.on_click(lambda _b: self._control("pause"))
        self.resume_button.on_click(lambda _b: self._control("resume"))
        self.stop_button.on_click(lambda _b: self._control("stop"))
        self.stop_trial_button.on_click(
            lambda _b: self._control("stop_trial", trial_id=int(self.trial_input.value)))
        self.add_button.on_click(lambda _b: self._control("add_trial"))

        n_workers = int(getattr(search.snapshot(), "n_workers", 0) or 1)
        #: Worker rows of the timeline in the chart's spec (a new spec when it changes).
        self.spec_rows = n_workers
        self.chart = VegaStream(self.chart_spec(n_workers))
        self.chart.on_front_end(self._on_front_end)
        self.chart.add_class("asha-charts")
        row = w.HBox([self.pause_button, self.resume_button, self.stop_button,
                      self.trial_input, self.stop_trial_button])
        add_form = w.VBox([w.HTML("Its values enter rung 0 next (the search space's other "
                                  "keys are sampled)."),
                           w.HBox(list(self.form.values()),
                                  layout=w.Layout(flex_flow="row wrap")),
                           self.add_button])
        self.add_form = w.Accordion(children=[add_form], titles=("Add a trial",),
                                    selected_index=None)
        #: The controls (hidden, in one message, once the search has ended).
        self.controls = w.VBox([row, self.add_form])
        self.widget = w.VBox([self.status, self.controls, self.message, self.chart])
        self.widget.add_class("asha-dashboard")

        self._force = True
        self._throttle.flush_now()  # the first picture (and the whole past of a late dashboard)
        if start_timer and not self._final:
            self._throttle.start()

    # ------------------------------------------------------------------ spec
    def chart_spec(self, n_workers: int, *, ink: str | None = None,
                   background: str | None = None, now: float = 0.0) -> dict[str, Any]:
        """The Vega-Lite spec of the charts (its datasets empty: :meth:`datasets` fills them)."""
        return _charts.dashboard_chart(
            mode=self.mode, n_workers=n_workers, resources=self.resources,
            n_rungs=self.n_rungs, max_resource=self.max_resource, ink=ink,
            background=background, now=now)

    def datasets(self) -> dict[str, list[dict[str, Any]]]:
        """The rows the charts show now, by dataset name (see ``DASHBOARD_DATASETS``)."""
        return self.chart.datasets()

    # ------------------------------------------------------------------ polling
    def _pending(self) -> bool:
        return not self._final

    def flush(self) -> bool:
        """Poll the search and send what changed now (normally the timer does it); returns
        whether it polled (``False`` once the final state has been shown)."""
        if self._final:
            return False
        self._force = True
        self._throttle.notify()
        return self._throttle.flush_now()

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
            if status is failed and (trial_id, rung) not in self._failures:
                self._failures[(trial_id, rung)] = str(error or "failed")
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
        curves = getattr(self.search, "curves", None)
        if curves is None:
            return []
        rows = []
        counts, keys = self._curve_counts, self._curve_keys
        for tid, points in curves().items():
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

    def _flush(self) -> None:
        with self._lock:
            if not self._final:
                self._poll()

    def _poll(self) -> None:
        s = self.search
        force, self._force = self._force, False
        snap: SearchSnapshot = s.snapshot()
        terminal = str(snap.state) in _TERMINAL
        self._track(snap)
        new_spec = None
        chart: dict[str, Any] = {"running": self._running_panel(snap)}
        if force or terminal or self._may_read(snap):
            t0 = time.perf_counter()
            jobs, results, best_rows, n_records = self._read_records()
            results += self._read_curves()
            snap = s.snapshot()  # after the records: "now" is at or after every record's time
            terminal = str(snap.state) in _TERMINAL
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
            self._track(snap)
            n_rows = self._n_rows()
            if n_rows != self.spec_rows:  # set_n_workers: the timeline gets its new lanes
                self.spec_rows = n_rows
                new_spec = self.chart_spec(n_rows, now=float(snap.elapsed))
            chart = {
                "append": {"jobs": jobs, "results": results, "best": best_rows},
                "volatile": {"jobs": sorted(self._live.values(), key=lambda r: r["job_id"])},
                "replace": {"workers": [dict(lane) for lane in self._lanes],
                            "pauses": [dict(p) for p in self._pauses], "tail": tail},
                "signals": {"now": float(snap.elapsed)},
                "running": self._running_panel(snap),
            }
            self._charts_at = float(snap.elapsed)
            self._read_at = self._clock()
            self._read_jobs = snap.n_jobs
            took = time.perf_counter() - t0
            if n_records >= 200:  # learn the cost of a record (for the pacing in _may_read)
                per = max(0.0, took - _POLL_COST) / n_records
                self._record_cost = 0.7 * self._record_cost + 0.3 * per
        self.last_snapshot = snap
        with _sync.batch():
            if new_spec is not None:  # the views re-embed and ask for every row again
                _sync.set_traits(self.chart, spec=new_spec)
            self.chart.update(**chart)
            _sync.set_traits(self.status, value=self._status_html(snap))
            if snap.state != self._last_state:
                self._last_state = snap.state
                self._set_buttons(str(snap.state))
        if terminal:
            self._final = True  # the final state is on screen: the timer may end
            self._throttle.stop_soon()
            if self._displayed:
                self._show_static()

    def _track(self, snap: SearchSnapshot) -> None:
        """Follow the worker count (lanes added and removed) and the pauses, poll by poll."""
        now = float(snap.elapsed)
        n = max(1, int(snap.n_workers))
        if not self._lanes:  # the first poll (a late dashboard: the lanes it finds)
            self._lanes = [{"worker": i, "from": 0.0, "to": None} for i in range(n)]
        if str(snap.state) in _TERMINAL:
            for p in self._pauses:  # a search that ends while paused: the pause ends with it
                if p["end"] is None:
                    p["end"] = max(now, p["start"])
            return
        open_ = {lane["worker"] for lane in self._lanes if lane["to"] is None}
        for lane in self._lanes:
            if lane["to"] is None and lane["worker"] >= n:
                lane["to"] = now
        self._lanes += [{"worker": i, "from": now, "to": None}
                        for i in range(n) if i not in open_]
        since = snap.paused_since if snap.state == "paused" else None
        current = self._pauses[-1] if self._pauses and self._pauses[-1]["end"] is None else None
        if current is not None and current["start"] != since:
            # resumed (and maybe paused again) since the last poll
            current["end"] = max(current["start"], now if since is None else float(since))
            current = None
        if since is not None and current is None:
            self._pauses.append({"start": float(since), "end": None})

    def _n_rows(self) -> int:
        lanes = max((lane["worker"] for lane in self._lanes), default=-1)
        return max(lanes + 1, self._max_worker + 1, 1)

    def _may_read(self, snap: SearchSnapshot) -> bool:
        """Whether reading the records now keeps the dashboard within its share of the time.

        The status line (from the snapshot) is cheap and always current; reading thousands of
        new job records is not. A search that produces records faster than the dashboard may
        draw them (10^4 zero-cost trials per second) gets its charts less often: the charts
        then end at the time they were read (and the status line says so), never later than
        ``MAX_CHART_LAG`` seconds.
        """
        if self.max_duty is None:
            return True
        since = self._clock() - self._read_at
        if since >= MAX_CHART_LAG:
            return True
        new = max(0, snap.n_jobs - self._read_jobs)
        predicted = _POLL_COST + self._record_cost * (2 * new + len(self._live))
        return predicted <= self.max_duty * since

    def stop_note(self) -> str:
        """Why a stopped trial's job may go on running, for this search's executor."""
        ex = getattr(self.search, "executor", None)
        name = str(getattr(ex, "name", "") or "this")
        if getattr(ex, "can_kill", False):
            return f"the {name} executor ends the job (it can interrupt it)"
        return (f"a {name} worker cannot be interrupted: a plain or checkpoint objective "
                "runs to its end; objective(trial) ends at its next trial.should_stop()")

    def _running_panel(self, snap: SearchSnapshot) -> dict[str, Any]:
        now = float(snap.elapsed)
        running = sorted(snap.running, key=lambda r: (r.start, r.job_id))
        live_trials = {r.trial_id for r in running}
        for tid in [t for t in self._stopping if t not in live_trials]:
            del self._stopping[tid]  # its job really ended
        stopping = set(self._stopping) | {r.trial_id for r in running if r.stopping}
        note = self.stop_note() if stopping else ""
        rows = []
        for r in running[:RUNNING_ROWS]:
            row = {"trial_id": r.trial_id, "rung": r.rung, "resource": _num(r.resource),
                   "worker": r.worker, "running_for": round(max(0.0, now - r.start), 1),
                   "stuck": bool(r.stuck)}
            if r.trial_id in stopping and not r.stuck:
                row["stopping"] = True
                row["why"] = note
            rows.append(row)
        empty = ("the search has ended" if str(snap.state) in _TERMINAL
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

    def _set_buttons(self, state: str) -> None:
        if state in _TERMINAL:  # nothing to control any more: one message hides it all
            _sync.set_traits(self.controls.layout, display="none")
            return
        _sync.set_traits(self.pause_button, disabled=state == "paused")
        _sync.set_traits(self.resume_button, disabled=state != "paused")

    # ------------------------------------------------------------------ rendering
    def _status_html(self, snap: SearchSnapshot) -> str:
        state = str(snap.state)
        colour = _STATE_COLOURS.get(state, "#777")
        pill = (f"<span class='asha-state' style='background:{colour};color:white;"
                f"padding:1px 8px;border-radius:8px'>{html.escape(state)}</span>")
        parts = [pill, f"{_span('asha-elapsed', f'{snap.elapsed:.1f}')} s"]
        if snap.paused_since is not None:
            since = max(0.0, snap.elapsed - snap.paused_since)
            parts.append(f"<span style='color:#ff7f0e;font-weight:bold'>paused for "
                         f"{_span('asha-paused-for', f'{since:.1f}')} s</span>")
        stuck = (f" ({_span('asha-stuck', str(snap.stuck_workers))} stuck past their "
                 "timeout)" if snap.stuck_workers else "")
        parts.append(f"workers {_span('asha-busy', str(snap.busy_workers))}/"
                     f"{_span('asha-workers', str(snap.n_workers))} busy{stuck}")
        parts.append(f"jobs {_span('asha-jobs', str(snap.n_jobs))}")
        lag = None if self._charts_at is None else snap.elapsed - self._charts_at
        if lag is not None and lag > 1.0 and state not in _TERMINAL:
            parts.append(f"<span class='asha-charts-lag' style='opacity:0.75'>charts as of "
                         f"{self._charts_at:.1f} s (results arrive faster than they are "
                         "drawn)</span>")
        line = " &middot; ".join(parts)
        counts = snap.trial_counts or {}
        trial_bits = []
        for st, word in _TRIAL_WORDS:
            n = int(counts.get(st.value, 0))
            if n or st is not TrialStatus.PENDING:
                cls = f"asha-trials-{st.value}"
                text = f"{_span(cls, str(n))} {word}"
                if st is TrialStatus.FAILED and n:
                    text = f"<span style='color:{_RED};font-weight:bold'>{text}</span>"
                trial_bits.append(text)
        trials = (f"trials: {_span('asha-started', str(snap.n_started))} started &mdash; "
                  + ", ".join(trial_bits))
        if snap.best_any_value is not None:
            best_any = (f"best at any rung {_span('asha-best-any', _fmt(snap.best_any_value))} "
                        f"(trial {_span('asha-best-any-trial', str(snap.best_any_trial))}, "
                        f"resource {_span('asha-best-any-resource', _fmt(snap.best_any_resource, 'g'))})")
        else:
            best_any = "best at any rung &ndash;"
        if snap.best_value is not None:
            cfg = ", ".join(
                f"{html.escape(str(k))}="
                f"{_fmt(v, '.4g') if isinstance(v, float) else html.escape(str(v))}"
                for k, v in (snap.best_config or {}).items())
            where = ("the max resource" if snap.best_resource == self.max_resource
                     else "the highest resource reached so far")
            best = (f"<b>search.best</b> (best at {where}, "
                    f"{_span('asha-best-resource', _fmt(snap.best_resource, 'g'))}): "
                    f"<b>{_span('asha-best', _fmt(snap.best_value))}</b> "
                    f"(trial {_span('asha-best-trial', str(snap.best_trial))}) "
                    f"<code class='asha-best-config'>{cfg}</code>")
        else:
            best = "<b>search.best</b> &ndash;"
        reason = (f"<div class='asha-reason'>ended: {html.escape(snap.reason)}</div>"
                  if snap.reason and state in _TERMINAL else "")
        head = (f"<div class='asha-status'>{line}</div>"
                f"<div class='asha-trial-line'>{trials}</div>"
                f"<div class='asha-best-line'>{best_any} &middot; {best}</div>{reason}")
        brackets = len({r.bracket for r in snap.rungs}) > 1
        rows = "".join(
            "<tr>" + (f"<td>{r.bracket}</td>" if brackets else "")
            + f"<td class='asha-r-rung'>{r.rung}</td>"
            f"<td class='asha-r-resource'>{_fmt(r.resource, 'g')}</td>"
            f"<td class='asha-r-results'>{r.n_results}</td>"
            f"<td class='asha-r-promoted'>{r.n_promoted}</td>"
            f"<td class='asha-r-cutoff'>{_fmt(r.cutoff)}</td></tr>"
            for r in snap.rungs
        )
        td = "style='padding:1px 8px;text-align:right'"
        table = (
            "<table class='asha-rungs' style='border-collapse:collapse;margin:4px 0'>"
            "<tr>" + ("<th>bracket</th>" if brackets else "")
            + "<th>rung</th><th>resource</th><th>results</th><th>promoted</th>"
            f"<th title='worst value still inside the top 1/&eta; of the rung'>cutoff</th>"
            f"</tr>{rows}</table>"
        ).replace("<td>", f"<td {td}>").replace("<td class=", f"<td {td} class=").replace(
            "<th>", "<th style='padding:1px 8px'>").replace("<th title", "<th style='padding:1px 8px' title")
        fails = ""
        if self._failures:
            items = list(self._failures.items())
            shown = "".join(
                f"<li title='{html.escape(e, quote=True)}'>trial {t} (rung {r}): "
                f"{html.escape(_last_line(e))}</li>" for (t, r), e in items[-5:]
            )
            more = len(items) - 5
            extra = f"<li>&hellip; and {more} earlier</li>" if more > 0 else ""
            fails = (f"<div class='asha-failures' style='color:{_RED};border:1px solid {_RED};"
                     f"padding:2px 8px;margin:4px 0;max-height:9em;overflow:auto;"
                     f"line-height:1.3'><b>{len(items)} failed job(s)</b> "
                     f"(hover for the error)<ul style='margin:0'>{extra}{shown}</ul></div>")
        return head + table + fails

    def _running_html(self) -> str:
        panel = self.chart.running or {}
        rows = panel.get("rows") or []
        if not rows:
            return ""
        body = "".join(
            f"<tr><td>{r['trial_id']}</td><td>{r['rung']}</td><td>{_fmt(r['resource'], 'g')}"
            f"</td><td>{r['worker']}</td><td>{r['running_for']:.1f} s</td>"
            + (f"<td class='asha-stopping'>stopping&hellip; {html.escape(r.get('why', ''))}</td>"
               if r.get("stopping") else "") + "</tr>" for r in rows)
        return (f"<div class='asha-running'><b>{html.escape(panel.get('title', ''))}</b>"
                "<table><tr><th>trial</th><th>rung</th><th>resource</th><th>worker</th>"
                f"<th>running for</th></tr>{body}</table></div>")

    def static_html(self, charts: bool = True) -> str:
        """A static HTML snapshot: status, rung table, failures and (inline SVG) charts.

        Needs no JavaScript, no widget front end and no kernel (nbconvert, nbviewer, GitHub,
        e-mail). The charts' text takes the colour of the page (light and dark themes).
        """
        self.flush()
        return self._static_html(charts)

    def _static_html(self, charts: bool = True) -> str:
        with self._lock:
            snap = self.last_snapshot or self.search.snapshot()
            body = self._status_html(snap) + self._running_html()
            if charts:
                try:
                    body += self._static_charts(snap)
                except Exception as exc:  # noqa: BLE001 - a summary without charts is useful
                    body += f"<pre>(charts unavailable: {html.escape(str(exc))})</pre>"
        return f"<div class='asha-dashboard-static' style='overflow-x:auto'>{body}</div>"

    def static_spec(self, *, ink: str | None = None,
                    background: str | None = None) -> dict[str, Any]:
        """The charts' Vega-Lite spec with every dataset inlined, as they stand now (what
        :meth:`to_svg`, :meth:`to_png` and the static snapshot render).

        Parameters
        ----------
        ink, background
            Text colour and background (default: the page's colour, transparent).
        """
        with self._lock:
            return self._static_spec(self.last_snapshot or self.search.snapshot(), ink=ink,
                                     background=background)

    def _static_spec(self, snap: SearchSnapshot, *, ink: str | None = None,
                     background: str | None = None) -> dict[str, Any]:
        data = self.datasets()
        n_rows = self.spec_rows
        spec = self.chart_spec(n_rows, ink=ink, background=background,
                               now=float(self.chart.signals.get("now", snap.elapsed)))
        return with_data(spec, {n: data.get(n, []) for n in _charts.DASHBOARD_DATASETS})

    def _static_charts(self, snap: SearchSnapshot) -> str:
        """The charts as an ``<img>`` with a ``data:`` URI: JupyterLab's sanitizer (an
        untrusted notebook), nbconvert/nbviewer and GitHub keep images, while an inline
        ``<svg>`` is stripped from untrusted HTML. An image cannot take the page's text colour,
        so its text is a mid grey that reads on light and dark pages, on no background."""
        import base64

        import vl_convert as vlc

        data = self.datasets()
        n_marks = len(data.get("jobs") or ()) + len(data.get("results") or ())
        spec = self._static_spec(snap, ink=STATIC_INK, background="transparent")
        if n_marks <= SVG_MARK_LIMIT:
            src = "data:image/svg+xml;base64," + base64.b64encode(
                vlc.vegalite_to_svg(spec).encode()).decode()
        else:  # many marks: a PNG stays small
            src = "data:image/png;base64," + base64.b64encode(vlc.vegalite_to_png(spec)).decode()
        return (f"<div class='asha-static-charts' style='margin-top:6px'><img alt='asha_nb "
                f"dashboard charts: learning curves, best value so far, worker timeline' "
                f"src='{src}'></div>")

    def to_svg(self) -> str:
        """The charts as SVG (vl-convert; text in ``currentColor``)."""
        import vl_convert as vlc

        self.flush()
        return vlc.vegalite_to_svg(self._static_spec(self.last_snapshot or self.search.snapshot()))

    def to_png(self, scale: float = 1.0) -> bytes:
        """The charts as PNG (vl-convert; dark text on white)."""
        import vl_convert as vlc

        self.flush()
        spec = self._static_spec(self.last_snapshot or self.search.snapshot(), ink="#222222",
                                 background="white")
        return vlc.vegalite_to_png(spec, scale=scale)

    # ------------------------------------------------------------------ display
    def _static_bundle(self) -> dict[str, Any]:
        """What a notebook keeps once the search has ended: ``text/html`` (with inline SVG
        charts) and ``text/plain``; no widget, so it renders without a kernel."""
        return {"text/html": self._static_html(), "text/plain": repr(self)}

    def live_bundle(self) -> dict[str, Any]:
        """The live widget, with a static ``text/html`` fallback (status and tables, no
        charts: rendering charts here would hold up the running search) for front ends
        without widgets."""
        bundle = dict(self.widget._repr_mimebundle_() or {})
        note = ("<p><i>Live asha_nb dashboard: it needs a running kernel. The notebook keeps a "
                "static snapshot with the charts once the search has ended.</i></p>")
        bundle["text/html"] = (f"<div class='asha-dashboard-static'>{self.status.value}"
                               f"{note}</div>")
        bundle["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self) -> None:
        """Show the dashboard with a display id, so that when the search ends the output is
        replaced by the static snapshot (which a saved notebook can show without a kernel)."""
        from IPython.display import display

        self.flush()
        if self._display_id is None:
            self._display_id = f"asha-dashboard-{uuid.uuid4().hex}"
        final = self._final
        bundle = self._static_bundle() if final else self.live_bundle()
        display(bundle, raw=True, display_id=self._display_id)
        with self._lock:  # the timer's last poll either sees this display or ran before it
            self._displayed = True
            ended_meanwhile = self._final and not final
        if ended_meanwhile:
            self._show_static()

    def _show_static(self) -> None:
        """Replace every displayed copy of the dashboard by the static snapshot."""
        if self._display_id is None:
            return
        try:
            from IPython.core.interactiveshell import InteractiveShell
            from IPython.display import update_display

            if not InteractiveShell.initialized():
                return  # the shell that showed it is gone: IPython would print the bundle

            update_display(self._static_bundle(), raw=True, display_id=self._display_id)
        except Exception as exc:  # noqa: BLE001 - the live view stays; say why in it
            _sync.set_traits(self.message, value=(
                f"<span class='asha-message' style='color:{_RED}'>the static snapshot could "
                f"not be shown: {html.escape(f'{type(exc).__name__}: {exc}')}</span>"))
            return
        # the snapshot replaced the live view: close its widget models, so that a saved
        # notebook keeps the one snapshot image, not every model's state (each chart model
        # carries the 0.9 MB offline Vega bundle and all its rows)
        with _sync.LOCK:
            self._close_widgets()

    def _repr_html_(self) -> str:
        return self.static_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        self.flush()
        if self._final:
            return self._static_bundle()
        return self.live_bundle()

    def __repr__(self) -> str:
        try:
            s = self.last_snapshot or self.search.snapshot()
            return (f"<Dashboard state={str(s.state)!r} trials={s.n_started} "
                    f"best={s.best_value!r}>")
        except Exception:  # noqa: BLE001
            return "<Dashboard>"

    # ------------------------------------------------------------------ controls (main thread)
    def _on_front_end(self, content: dict[str, Any]) -> None:
        if content.get("type") == "stop_trial":
            try:
                tid = int(content["trial_id"])
            except (KeyError, TypeError, ValueError):
                return
            self._control("stop_trial", trial_id=tid)

    def stop_running_trial(self, trial_id: int) -> None:
        """What a running-trials row's Stop button does (also callable from Python)."""
        self._control("stop_trial", trial_id=int(trial_id))

    def _control(self, name: str, **kw: Any) -> None:
        s = self.search
        try:
            if name == "pause":
                s.pause()
                text = "pause requested"
            elif name == "resume":
                s.resume()
                text = "resume requested"
            elif name == "stop":
                # search.stop() waits for the loop to end: keep the kernel responsive.
                th = threading.Thread(target=self._stop_search, name="asha_nb-dashboard-stop",
                                      daemon=True)
                self._control_threads.append(th)
                th.start()
                text = "stop requested"
            elif name == "stop_trial":
                tid = kw["trial_id"]
                s.stop_trial(tid)
                text = f"stop of trial {tid} requested"
                snap = s.snapshot()
                if any(r.trial_id == tid and not r.stuck for r in snap.running):
                    with self._lock:
                        self._stopping[tid] = float(snap.elapsed)
                    text += f"; its job runs until it really ends ({self.stop_note()})"
            elif name == "add_trial":
                config = {k: wdg.value for k, wdg in self.form.items()}
                tid = s.add_trial(config)
                text = f"added trial {tid}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                          else f"{k}={v}" for k, v in config.items())
            else:  # pragma: no cover
                raise ValueError(name)
            html_text = f"<span class='asha-message'>{html.escape(text)}</span>"
        except Exception as exc:  # noqa: BLE001 - show, in red, and keep it visible
            html_text = (f"<span class='asha-message' style='color:{_RED}'>{name} failed: "
                         f"{html.escape(f'{type(exc).__name__}: {exc}')}</span>")
        _sync.set_traits(self.message, value=html_text)
        self._throttle.notify()

    def _stop_search(self) -> None:
        try:
            self.search.stop()
        except Exception as exc:  # noqa: BLE001
            _sync.set_traits(self.message, value=(
                f"<span class='asha-message' style='color:{_RED}'>stop failed: "
                f"{html.escape(str(exc))}</span>"))
        self._throttle.notify()

    def wait_controls(self, timeout: float | None = 30) -> None:
        """Wait for control actions that run in the background (``stop``)."""
        for th in list(self._control_threads):
            th.join(timeout)

    def close(self) -> None:
        """Stop the timer and close the widgets."""
        self._throttle.stop(flush=False)
        self._close_widgets()

    def _close_widgets(self) -> None:
        # A front end that keeps a closed model's last state in a saved notebook (nbclient /
        # nbconvert --execute do; JupyterLab drops it) would store the chart's 0.9 MB offline
        # Vega bundle with it: its views are gone, so the module is replaced by an empty one.
        _sync.set_traits(self.chart, _esm=_CLOSED_ESM)
        for wdg in (self.status, self.message, self.pause_button, self.resume_button,
                    self.stop_button, self.trial_input, self.stop_trial_button,
                    self.add_button, self.chart, *self.form.values(), self.add_form,
                    self.controls, self.widget):
            wdg.close()
