"""Live dashboard of a running :class:`~asha_nb.Search`.

Data path (why it stays cheap for the search and bounded for the browser):

1. ``search.subscribe(self._on_event)``: on the search's loop thread each event is appended to
   a deque and the throttle is *notified* (two cheap operations; nothing is rendered there).
2. A :class:`~asha_nb.widgets._throttle.Throttle` timer thread flushes at most every
   ``interval`` seconds (default 0.25 s) and only if events arrived: it drains the deque into
   *new* rows (jobs, results, best-so-far) and sends them as ONE append message to the chart
   widget (:class:`~asha_nb.widgets._vega.VegaStream`, which calls ``view.insert`` in the
   browser: old rows are never re-sent), plus ONE status update (status line + rung table +
   failures live in one HTML widget). That is <= 2 messages per flush, <= 8 per second, whatever
   the trial rate. Button states change only when the search state changes.
3. Every write goes through :mod:`asha_nb.widgets._sync` (one lock, ``hold_sync()``).
"""

from __future__ import annotations

import html
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .. import viz
from ..core.types import ResultRecorded, TrialFailed
from ..runtime.events import IntermediateValue, JobFinished, SearchSnapshot, StateChanged
from ..space import Choice, LogUniform, RandInt, Uniform
from . import _sync
from ._throttle import Throttle

__all__ = ["Dashboard", "form_widgets"]

_TERMINAL = ("finished", "stopped", "failed")
_STATE_COLOURS = {"created": "#777", "running": "#2ca02c", "paused": "#ff7f0e",
                  "finished": "#1f77b4", "stopped": "#555", "failed": "#d62728"}
_RED = "#d62728"
_JOB_COLS = ("job_id", "worker", "trial_id", "rung", "resource", "start", "end", "status", "value")


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


class Dashboard:
    """Live view of a search: status, rung table, charts and controls.

    Parameters
    ----------
    search
        A :class:`~asha_nb.Search` (or any object with its API: ``subscribe``, ``snapshot``,
        ``results``, ``pause``/``resume``/``stop``/``stop_trial``/``add_trial``, ``space``).
    interval
        Seconds between two front-end flushes (default 0.25; at most 2 messages per flush).
    start_timer
        Start the flushing timer thread (tests pass ``False`` and call :meth:`flush`).
    clock
        Monotonic clock of the throttle (tests inject a fake one).

    Examples
    --------
    >>> # search = Search(objective, space, n_workers=4).start()
    >>> # Dashboard(search)          # or simply: search (its repr is the dashboard)
    """

    def __init__(self, search: Any, *, interval: float = 0.25, start_timer: bool = True,
                 clock: Callable[[], float] | None = None):
        import ipywidgets as w

        from ._vega import VegaStream

        self.search = search
        self._events: deque[Any] = deque()
        self._seen_jobs: set[Any] = set()
        self._seen_results: set[tuple[int, int]] = set()
        self._failures: list[tuple[int, int, str]] = []
        self._last_best: tuple[Any, Any] | None = None
        self._last_state: str | None = None
        self._control_threads: list[threading.Thread] = []
        kw = {} if clock is None else {"clock": clock}
        self._throttle = Throttle(self._flush, interval=interval,
                                  pending=self._events.__len__, **kw)

        # ---- widgets
        self.status = w.HTML(layout=w.Layout(width="100%"))
        self.message = w.HTML()
        self.pause_button = w.Button(description="Pause", icon="pause", tooltip="search.pause()")
        self.resume_button = w.Button(description="Resume", icon="play",
                                      tooltip="search.resume()")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="search.stop()")
        self.trial_input = w.BoundedIntText(value=0, min=0, max=10**9, description="trial",
                                            layout=w.Layout(width="150px"),
                                            style={"description_width": "initial"})
        self.stop_trial_button = w.Button(description="Stop trial", icon="times",
                                          tooltip="search.stop_trial(trial)")
        space = getattr(search, "space", None) or getattr(search.scheduler, "space", {})
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
        self.stop_trial_button.on_click(lambda _b: self._control("stop_trial"))
        self.add_button.on_click(lambda _b: self._control("add_trial"))

        mode = getattr(search, "mode", None) or getattr(search.scheduler, "mode", "max")
        n_workers = int(getattr(search, "n_workers", 0) or 4)
        self.chart = VegaStream(self._spec(mode, n_workers))
        controls = w.HBox([self.pause_button, self.resume_button, self.stop_button,
                           self.trial_input, self.stop_trial_button])
        add_form = w.VBox([w.HTML("<b>Add a trial</b>"), w.HBox(list(self.form.values())),
                           self.add_button]) if self.form else w.VBox([self.add_button])
        self.widget = w.VBox([self.status, controls, add_form, self.message, self.chart])
        self.widget.add_class("asha-dashboard")

        # ---- data: subscribe first, then back-fill what happened before (deduplicated)
        # The subscriber is the deque's own C-level append: nothing else runs on the loop
        # thread per event; the throttle sees pending events through len(deque).
        self._unsubscribe = search.subscribe(self._events.append)
        self._backfill()
        self._throttle.notify()
        self._throttle.flush_now()
        if start_timer and self._last_state not in _TERMINAL:
            self._throttle.start()

    # ------------------------------------------------------------------ specs
    @staticmethod
    def _spec(mode: str, n_workers: int) -> dict[str, Any]:
        import altair as alt

        curves = viz.learning_curve_chart(mode=mode, width=380, height=200)
        best = viz.best_so_far_chart(mode=mode, width=300, height=200)
        timeline = viz.timeline_chart(width=740, height=max(100, 18 * n_workers),
                                      title="Worker timeline (finished jobs)")
        chart = alt.vconcat(alt.hconcat(curves, best), timeline).resolve_scale(color="independent")
        return chart.to_dict()

    # ------------------------------------------------------------------ events (loop thread)
    def _on_event(self, event: Any) -> None:
        self._events.append(event)
        self._throttle.notify()

    def _backfill(self) -> None:
        try:
            df = self.search.results()
        except Exception:  # noqa: BLE001 - a fresh or fake search may have nothing
            return
        if df is None or len(df) == 0:
            return
        for r in viz.to_records(df):
            status = r.get("status")
            if status == "ok" and r.get("value") is not None:
                self._events.append(ResultRecorded(int(r["trial_id"]), int(r.get("job_id") or -1),
                                                   int(r["rung"]), r["resource"], r["value"]))
            if status in ("ok", "failed", "stopped") and r.get("end") is not None:
                self._events.append(JobFinished(
                    int(r.get("job_id") if r.get("job_id") is not None else -1),
                    int(r["trial_id"]), int(r["rung"]), r["resource"],
                    int(r.get("worker") or 0), float(r.get("start") or 0.0), float(r["end"]),
                    status, r.get("value"), r.get("error")))
                if status == "failed":
                    self._events.append(TrialFailed(int(r["trial_id"]), -1, int(r["rung"]),
                                                    str(r.get("error") or "failed")))

    # ------------------------------------------------------------------ flush (timer thread)
    def flush(self) -> bool:
        """Send what is pending now (normally the timer does it); returns whether it did."""
        self._throttle.notify()
        return self._throttle.flush_now()

    def _drain(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
        jobs: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        state: str | None = None
        q = self._events
        pop = q.popleft
        seen_jobs, seen_results = self._seen_jobs, self._seen_results
        clean = viz.clean
        for _ in range(len(q)):
            ev = pop()
            kind = type(ev)
            if kind is JobFinished:
                key = ev.job_id if ev.job_id >= 0 else (ev.trial_id, ev.rung, ev.start)
                if key in seen_jobs:
                    continue
                seen_jobs.add(key)
                v = ev.value
                jobs.append({"job_id": ev.job_id, "worker": ev.worker, "trial_id": ev.trial_id,
                             "rung": ev.rung, "resource": ev.resource, "start": ev.start,
                             "end": ev.time, "status": ev.status,
                             "value": v if type(v) is float and math.isfinite(v) else clean(v)})
            elif kind is ResultRecorded:
                rk = (ev.trial_id, ev.rung)
                if rk in seen_results:
                    continue
                seen_results.add(rk)
                v = ev.value
                results.append({"trial_id": ev.trial_id, "rung": ev.rung,
                                "resource": ev.resource,
                                "value": v if type(v) is float and math.isfinite(v) else clean(v)})
            elif kind is IntermediateValue:
                # Per-epoch values reported with trial.report(...): the curve grows live while
                # the job runs. rung -1 marks them (the highlight uses the highest rung reached).
                ik = (ev.trial_id, "i", ev.resource)
                if ik in seen_results:
                    continue
                seen_results.add(ik)
                v = ev.value
                results.append({"trial_id": ev.trial_id, "rung": -1, "resource": ev.resource,
                                "value": v if type(v) is float and math.isfinite(v) else clean(v)})
            elif kind is TrialFailed:
                if not any(f[0] == ev.trial_id and f[1] == ev.rung for f in self._failures):
                    self._failures.append((ev.trial_id, ev.rung, str(ev.error)))
            elif kind is StateChanged:
                state = ev.state
        return jobs, results, state

    def _flush(self) -> None:
        jobs, results, _ = self._drain()
        snap: SearchSnapshot = self.search.snapshot()
        best_rows = []
        if snap.best_trial is not None and (snap.best_trial, snap.best_value) != self._last_best:
            self._last_best = (snap.best_trial, snap.best_value)
            best_rows.append({"time": snap.elapsed, "value": viz.clean(snap.best_value),
                              "trial_id": snap.best_trial})
        with _sync.batch():
            self.chart.append({"jobs": jobs, "results": results, "best": best_rows})
            _sync.set_traits(self.status, value=self._status_html(snap))
            if snap.state != self._last_state:
                self._last_state = snap.state
                self._set_buttons(snap.state)
        if snap.state in _TERMINAL:
            self._throttle._stop.set()  # final flush done: let the timer thread end

    def _set_buttons(self, state: str) -> None:
        done = state in _TERMINAL
        _sync.set_traits(self.pause_button, disabled=done or state == "paused")
        _sync.set_traits(self.resume_button, disabled=done or state != "paused")
        _sync.set_traits(self.stop_button, disabled=done)
        _sync.set_traits(self.stop_trial_button, disabled=done)
        _sync.set_traits(self.add_button, disabled=done)

    # ------------------------------------------------------------------ rendering
    def _status_html(self, snap: SearchSnapshot) -> str:
        colour = _STATE_COLOURS.get(snap.state, "#777")
        failed = (f"<span style='color:{_RED};font-weight:bold'>{snap.n_failed} failed</span>"
                  if snap.n_failed else "0 failed")
        if snap.best_value is not None:
            cfg = ", ".join(f"{html.escape(str(k))}={_fmt(v, '.4g') if isinstance(v, float) else html.escape(str(v))}"
                            for k, v in (snap.best_config or {}).items())
            best = (f"best <b>{_fmt(snap.best_value)}</b> (trial {snap.best_trial}, resource "
                    f"{_fmt(snap.best_resource, 'g')}) <code>{cfg}</code>")
        else:
            best = "best &ndash;"
        line = (
            f"<div class='asha-status'><span class='asha-state' style='background:{colour};"
            f"color:white;padding:1px 8px;border-radius:8px'>{html.escape(snap.state)}</span> "
            f"&middot; {snap.elapsed:.1f} s &middot; workers {snap.busy_workers}/{snap.n_workers}"
            f" &middot; trials <span class='asha-started'>{snap.n_started}</span> started, "
            f"{snap.n_finished} finished, {snap.n_stopped} stopped, {failed} &middot; {best}</div>"
        )
        rows = "".join(
            f"<tr><td>{r.bracket}</td><td>{r.rung}</td><td>{_fmt(r.resource, 'g')}</td>"
            f"<td>{r.n_results}</td><td>{r.n_promoted}</td><td>{_fmt(r.cutoff)}</td></tr>"
            for r in snap.rungs
        )
        td = "style='padding:1px 8px;text-align:right'"
        table = (
            "<table class='asha-rungs' style='border-collapse:collapse;margin:4px 0'>"
            "<tr><th>bracket</th><th>rung</th><th>resource</th><th>results</th><th>promoted</th>"
            f"<th>cutoff</th></tr>{rows}</table>"
        ).replace("<td>", f"<td {td}>").replace("<th>", "<th style='padding:1px 8px'>")
        fails = ""
        if self._failures:
            items = "".join(
                f"<li title='{html.escape(e, quote=True)}'>trial {t} (rung {r}): "
                f"{html.escape(_last_line(e))}</li>" for t, r, e in self._failures[-5:]
            )
            more = len(self._failures) - 5
            extra = f"<li>&hellip; and {more} earlier</li>" if more > 0 else ""
            fails = (f"<div class='asha-failures' style='color:{_RED};border:1px solid {_RED};"
                     f"padding:2px 8px;margin:4px 0;max-height:9em;overflow:auto;"
                     f"line-height:1.3'><b>{len(self._failures)} failed trial(s)</b> "
                     f"(hover for the traceback)<ul style='margin:0'>{extra}{items}</ul></div>")
        return line + table + fails

    def static_html(self, charts: bool = True) -> str:
        """A static HTML summary: status, rung table, failures and (SVG) charts.

        Needs no JavaScript and no widget front end (nbconvert, terminals, e-mail).
        """
        self.flush()
        body = self._status_html(self.search.snapshot())
        if charts:
            try:
                import vl_convert as vlc

                data = {n: self.chart.rows(n) for n in ("jobs", "results", "best")}
                spec = viz.with_data(self.chart.spec, data)
                if len(data["jobs"]) + len(data["results"]) <= 1500:
                    body += vlc.vegalite_to_svg(spec)
                else:  # a PNG stays small however many marks there are
                    import base64

                    png = base64.b64encode(vlc.vegalite_to_png(spec)).decode()
                    body += f"<img alt='asha_nb charts' src='data:image/png;base64,{png}'>"
            except Exception as exc:  # noqa: BLE001 - a summary without charts is still useful
                body += f"<pre>(charts unavailable: {html.escape(str(exc))})</pre>"
        return f"<div class='asha-dashboard-static'>{body}</div>"

    def to_svg(self) -> str:
        """The charts as SVG (vl-convert)."""
        import vl_convert as vlc

        self.flush()
        return vlc.vegalite_to_svg(viz.with_data(self.chart.spec, {
            n: self.chart.rows(n) for n in ("jobs", "results", "best")}))

    def to_png(self, scale: float = 1.0) -> bytes:
        """The charts as PNG (vl-convert)."""
        import vl_convert as vlc

        self.flush()
        return vlc.vegalite_to_png(viz.with_data(self.chart.spec, {
            n: self.chart.rows(n) for n in ("jobs", "results", "best")}), scale=scale)

    def _repr_html_(self) -> str:
        return self.static_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        try:
            bundle["text/html"] = self.static_html()
        except Exception:  # noqa: BLE001 - display must not fail because of the fallback
            pass
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        try:
            s = self.search.snapshot()
            return (f"<Dashboard state={s.state!r} trials={s.n_started} "
                    f"best={s.best_value!r}>")
        except Exception:  # noqa: BLE001
            return "<Dashboard>"

    # ------------------------------------------------------------------ controls (main thread)
    def _control(self, name: str) -> None:
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
                tid = int(self.trial_input.value)
                s.stop_trial(tid)
                text = f"stop of trial {tid} requested"
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
        """Unsubscribe, stop the timer and close the widgets."""
        try:
            self._unsubscribe()
        finally:
            self._throttle.stop(flush=False)
            for wdg in (self.status, self.message, self.pause_button, self.resume_button,
                        self.stop_button, self.trial_input, self.stop_trial_button,
                        self.add_button, self.chart, *self.form.values(), self.widget):
                wdg.close()
