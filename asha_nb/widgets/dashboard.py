"""Live dashboard of a running :class:`~asha_nb.Search`.

Data path (why it stays cheap for the search and bounded for the browser):

1. The dashboard **polls** the search (a :class:`~asha_nb._view.SearchView`) on its own timer
   thread (a :class:`~asha_nb.widgets._throttle.Throttle`, every ``interval`` seconds, default
   0.25 s). Its model, :class:`~asha_nb.widgets._feed.DashboardFeed`, turns what changed since
   the last frame into plain data: ``search.record_changes(cursor)`` gives the job records that
   changed since the last poll, ``search.snapshot()`` the counts, rungs and running jobs,
   ``search.best_history()`` the running best. Nothing runs on the search's loop thread for the
   dashboard: it does not subscribe to events.
2. Each poll sends at most TWO messages: one to the chart widget
   (:class:`~asha_nb.widgets._vega.VegaStream`: new rows appended, running jobs replaced, the
   ``now`` parameter, the running-trials list) and one status update (status line, rung table,
   failures in one HTML widget; :mod:`~asha_nb.widgets._html`). Pause/Resume change only when
   the search changes state, and the controls (:mod:`~asha_nb.widgets._controls`) are hidden in
   one message when it ends: at most 10 messages in any second, whatever the trial rate.
3. The status line comes from the snapshot and is always current. Reading the records is
   paced: it happens when its predicted cost fits ``max_duty`` (2 %) of the time since the
   last read, and at least every ``MAX_CHART_LAG`` seconds (Python threads share one
   interpreter lock, so the dashboard's time is time the search's loop cannot run). Charts of
   a search that produces results faster than that are drawn less often, and say so.
4. When the search ends, a last poll sends the final state; if the dashboard was displayed in
   a notebook (:meth:`Dashboard._ipython_display_`, which gives the output a display id,
   :mod:`~asha_nb.widgets._display`), the output is then replaced (``update_display``) by a
   static snapshot: the same status and tables as HTML, and the charts as an SVG image
   (:mod:`~asha_nb.widgets._export`), which renders without a kernel (a saved notebook
   reopened, an untrusted one, nbconvert/nbviewer) instead of "model not found".

Every write goes through :mod:`asha_nb.widgets._sync` (one lock, ``hold_sync()``).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

from .._view import SearchView
from ..runtime.events import SearchSnapshot
from ..viz import charts as _charts
from . import _export, _sync
from ._controls import DashboardControls, form_widgets
from ._display import DisplaySlot, live_fallback_html
from ._feed import MAX_CHART_LAG, RUNNING_ROWS, DashboardFeed, Frame
from ._html import message_html, running_html, status_html
from ._throttle import Throttle

__all__ = ["Dashboard", "form_widgets", "MAX_CHART_LAG", "RUNNING_ROWS"]

#: The chart's front-end module once the dashboard is closed (its views are gone).
_CLOSED_ESM = "export default { render() {} };"


class Dashboard:
    """Live view of a search: status, rung table, running trials, charts and controls.

    Parameters
    ----------
    search
        A :class:`~asha_nb.Search` (or any :class:`~asha_nb._view.SearchView`: its reading API
        ``snapshot``, ``record_changes``, ``best_history``, ``curves``, ``scheduler``; and its
        controls ``pause``/``resume``/``stop``/``stop_trial``/``add_trial``).
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

    def __init__(self, search: SearchView, *, interval: float = 0.25, start_timer: bool = True,
                 clock: Callable[[], float] | None = None, max_duty: float | None = 0.02):
        import ipywidgets as w

        from ._vega import VegaStream

        self.search = search
        #: The polling and diffing model (plain data; guarded by ``_lock``).
        self.feed = DashboardFeed(search, clock=clock, max_duty=max_duty)
        feed = self.feed
        self.mode, self.resources, self.n_rungs = feed.mode, feed.resources, feed.n_rungs
        self.max_resource, self.best_max_label = feed.max_resource, feed.best_max_label
        self._force = False
        self._final = False
        self._display = DisplaySlot("asha-dashboard")
        self._lock = threading.RLock()  # poll state, shared by the timer and the main thread
        #: The snapshot the last poll showed (every number on screen comes from it).
        self.last_snapshot: SearchSnapshot | None = None
        # the timer ticks at a steady interval (the status line stays current); the cost of
        # reading records is paced by the feed instead
        self._throttle = Throttle(self._flush, interval=interval, pending=self._pending,
                                  clock=feed.clock)

        # ---- widgets: status, controls, message, charts
        # "auto", not "100%": 100 % plus the widget margin overflows (a horizontal scrollbar)
        self.status = w.HTML(layout=w.Layout(width="auto"))
        self.buttons = DashboardControls(search, note_stop=self._note_stop,
                                         changed=self._throttle.notify)
        b = self.buttons
        self.message, self.form, self.add_form = b.message, b.form, b.add_form
        self.pause_button, self.resume_button = b.pause_button, b.resume_button
        self.stop_button, self.stop_trial_button = b.stop_button, b.stop_trial_button
        self.trial_input, self.add_button = b.trial_input, b.add_button
        #: The controls (hidden, in one message, once the search has ended).
        self.controls = b.box
        self.chart = VegaStream(self.chart_spec(self.spec_rows))
        self.chart.on_front_end(self._on_front_end)
        self.chart.add_class("asha-charts")
        self.widget = w.VBox([self.status, self.controls, self.message, self.chart])
        self.widget.add_class("asha-dashboard")

        self._force = True
        self._throttle.flush_now()  # the first picture (and the whole past of a late dashboard)
        if start_timer and not self._final:
            self._throttle.start()

    @property
    def max_duty(self) -> float | None:
        """Largest share of wall time the polls may take (``None``: no pacing)."""
        return self.feed.max_duty

    @max_duty.setter
    def max_duty(self, value: float | None) -> None:
        self.feed.max_duty = value

    @property
    def spec_rows(self) -> int:
        """Worker rows of the timeline in the chart's spec (a new spec when it changes)."""
        return self.feed.spec_rows

    # ------------------------------------------------------------------ spec
    def chart_spec(self, n_workers: int, *, ink: str | None = None,
                   background: str | None = None, now: float = 0.0) -> dict[str, Any]:
        """The Vega-Lite spec of the charts (its datasets empty: :meth:`datasets` fills them)."""
        spec: dict[str, Any] = _charts.dashboard_chart(
            mode=self.mode, n_workers=n_workers, resources=self.resources,
            n_rungs=self.n_rungs, max_resource=self.max_resource, ink=ink,
            background=background, now=now)
        return spec

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

    def _flush(self) -> None:
        with self._lock:
            if not self._final:
                force, self._force = self._force, False
                self._show(self.feed.poll(force))

    def _show(self, frame: Frame) -> None:
        """Write one frame into the widgets (at most two messages, plus the buttons' state)."""
        snap = frame.snapshot
        last = self.last_snapshot
        self.last_snapshot = snap
        with _sync.batch():
            if frame.n_rows is not None:  # the views re-embed and ask for every row again
                _sync.set_traits(self.chart, spec=self.chart_spec(frame.n_rows,
                                                                  now=float(snap.elapsed)))
            self.chart.update(**frame.chart)
            _sync.set_traits(self.status, value=self._status_html(snap))
            if last is None or snap.state != last.state:
                self.buttons.set_state(str(snap.state), terminal=frame.terminal)
        if frame.terminal:
            self._final = True  # the final state is on screen: the timer may end
            self._throttle.stop_soon()
            if self._display.shown:
                self._show_static()

    def _status_html(self, snap: SearchSnapshot) -> str:
        feed = self.feed
        return status_html(snap, max_resource=feed.max_resource, charts_at=feed.charts_at,
                           failures=feed.failures)

    def _running_html(self) -> str:
        return running_html(self.chart.running)

    # ------------------------------------------------------------------ static snapshot
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
                    n_marks = sum(len(self.datasets().get(n) or ()) for n in ("jobs", "results"))
                    spec = self._static_spec(snap, ink=_export.STATIC_INK,
                                             background="transparent")
                    body += _export.charts_image_html(spec, n_marks)
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
        spec = self.chart_spec(self.spec_rows, ink=ink, background=background,
                               now=float(self.chart.signals.get("now", snap.elapsed)))
        return _export.inline_spec(spec, self.datasets())

    def to_svg(self) -> str:
        """The charts as SVG (vl-convert; text in ``currentColor``)."""
        self.flush()
        return _export.to_svg(self._static_spec(self.last_snapshot or self.search.snapshot()))

    def to_png(self, scale: float = 1.0) -> bytes:
        """The charts as PNG (vl-convert; dark text on white)."""
        self.flush()
        spec = self._static_spec(self.last_snapshot or self.search.snapshot(), ink="#222222",
                                 background="white")
        return _export.to_png(spec, scale=scale)

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
        bundle["text/html"] = live_fallback_html(self.status.value)
        bundle["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self) -> None:
        """Show the dashboard with a display id, so that when the search ends the output is
        replaced by the static snapshot (which a saved notebook can show without a kernel)."""
        self.flush()
        final = self._final
        self._display.show(self._static_bundle() if final else self.live_bundle())
        with self._lock:  # the timer's last poll either sees this display or ran before it
            self._display.shown = True
            ended_meanwhile = self._final and not final
        if ended_meanwhile:
            self._show_static()

    def _show_static(self) -> None:
        """Replace every displayed copy of the dashboard by the static snapshot."""
        if self._display.display_id is None:
            return
        try:
            if not self._display.replace(self._static_bundle()):
                return
        except Exception as exc:  # noqa: BLE001 - the live view stays; say why in it
            self.buttons.say(message_html(
                f"the static snapshot could not be shown: {type(exc).__name__}: {exc}",
                error=True))
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
            self.buttons.act("stop_trial", trial_id=tid)

    def _note_stop(self, trial_id: int) -> str:
        snap = self.search.snapshot()
        with self._lock:
            running = self.feed.note_stop(trial_id, snap)
        return self.stop_note() if running else ""

    def stop_running_trial(self, trial_id: int) -> None:
        """What a running-trials row's Stop button does (also callable from Python)."""
        self.buttons.act("stop_trial", trial_id=int(trial_id))

    def stop_note(self) -> str:
        """Why a stopped trial's job may go on running, for this search's executor."""
        return self.feed.stop_note()

    def wait_controls(self, timeout: float | None = 30) -> None:
        """Wait for control actions that run in the background (``stop``)."""
        self.buttons.wait(timeout)

    def close(self) -> None:
        """Stop the timer and close the widgets."""
        self._throttle.stop(flush=False)
        self._close_widgets()

    def _close_widgets(self) -> None:
        # A front end that keeps a closed model's last state in a saved notebook (nbclient /
        # nbconvert --execute do; JupyterLab drops it) would store the chart's 0.9 MB offline
        # Vega bundle with it: its views are gone, so the module is replaced by an empty one.
        _sync.set_traits(self.chart, _esm=_CLOSED_ESM)
        for wdg in (self.status, self.chart, *self.buttons.widgets(), self.widget):
            wdg.close()
