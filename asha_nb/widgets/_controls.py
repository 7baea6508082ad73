"""The dashboard's buttons: Pause, Resume, Stop search, Stop trial and the "Add a trial" form.

A click calls the search's own control (``search.pause()``, ...) on the kernel's thread (a
``stop`` on a thread of its own: it waits for the loop to end) and says what it asked for in the
message line (in red, and kept visible, when the call fails).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .._view import SearchView
from ..space import Choice, LogUniform, RandInt, Uniform
from . import _sync
from ._html import message_html

__all__ = ["DashboardControls", "form_widgets"]


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


class DashboardControls:
    """The control widgets of a dashboard and what a click does.

    Parameters
    ----------
    search
        The search the buttons steer.
    note_stop
        Called with a trial id after ``search.stop_trial``: the text to add to the message
        when the trial's job goes on running (``""`` when it does not).
    changed
        Called after every control (the dashboard polls soon).

    Attributes
    ----------
    message
        The message line (``HTML``).
    box
        The buttons' row and the "Add a trial" form (hidden once the search has ended).
    """

    def __init__(self, search: SearchView, *, note_stop: Callable[[int], str],
                 changed: Callable[[], None]):
        import ipywidgets as w

        self.search = search
        self._note_stop = note_stop
        self._changed = changed
        self._threads: list[threading.Thread] = []
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
        self.form = form_widgets(search.scheduler.space)
        self.add_button = w.Button(description="Add trial", icon="plus",
                                   button_style="success", tooltip="search.add_trial(config)")
        for cls, b in (("asha-pause", self.pause_button), ("asha-resume", self.resume_button),
                       ("asha-stop", self.stop_button), ("asha-stop-trial", self.stop_trial_button),
                       ("asha-add", self.add_button)):
            b.add_class(cls)
        self.pause_button.on_click(lambda _b: self.act("pause"))
        self.resume_button.on_click(lambda _b: self.act("resume"))
        self.stop_button.on_click(lambda _b: self.act("stop"))
        self.stop_trial_button.on_click(
            lambda _b: self.act("stop_trial", trial_id=int(self.trial_input.value)))
        self.add_button.on_click(lambda _b: self.act("add_trial"))
        row = w.HBox([self.pause_button, self.resume_button, self.stop_button,
                      self.trial_input, self.stop_trial_button])
        add_form = w.VBox([w.HTML("Its values enter rung 0 next (the search space's other "
                                  "keys are sampled)."),
                           w.HBox(list(self.form.values()),
                                  layout=w.Layout(flex_flow="row wrap")),
                           self.add_button])
        self.add_form = w.Accordion(children=[add_form], titles=("Add a trial",),
                                    selected_index=None)
        self.box = w.VBox([row, self.add_form])

    def act(self, name: str, **kw: Any) -> None:
        """Do what the control ``name`` does (``pause``, ``resume``, ``stop``, ``stop_trial``
        with ``trial_id``, ``add_trial`` with the form's values) and say so."""
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
                self._threads.append(th)
                th.start()
                text = "stop requested"
            elif name == "stop_trial":
                tid = kw["trial_id"]
                s.stop_trial(tid)
                text = f"stop of trial {tid} requested"
                note = self._note_stop(tid)
                if note:
                    text += f"; its job runs until it really ends ({note})"
            elif name == "add_trial":
                config = {k: wdg.value for k, wdg in self.form.items()}
                tid = s.add_trial(config)
                text = f"added trial {tid}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                          else f"{k}={v}" for k, v in config.items())
            else:  # pragma: no cover
                raise ValueError(name)
            html_text = message_html(text)
        except Exception as exc:  # noqa: BLE001 - show, in red, and keep it visible
            html_text = message_html(f"{name} failed: {type(exc).__name__}: {exc}", error=True)
        self.say(html_text)
        self._changed()

    def say(self, html_text: str) -> None:
        """Show ``html_text`` in the message line."""
        _sync.set_traits(self.message, value=html_text)

    def _stop_search(self) -> None:
        try:
            self.search.stop()
        except Exception as exc:  # noqa: BLE001
            self.say(message_html(f"stop failed: {exc}", error=True))
        self._changed()

    def set_state(self, state: str, *, terminal: bool) -> None:
        """Enable the buttons that fit the search's state; hide them all once it has ended."""
        if terminal:  # nothing to control any more: one message hides it all
            _sync.set_traits(self.box.layout, display="none")
            return
        _sync.set_traits(self.pause_button, disabled=state == "paused")
        _sync.set_traits(self.resume_button, disabled=state != "paused")

    def wait(self, timeout: float | None = 30) -> None:
        """Wait for the controls that run in the background (``stop``)."""
        for th in list(self._threads):
            th.join(timeout)

    def widgets(self) -> list[Any]:
        """Every widget of the controls (to close them)."""
        return [self.message, self.pause_button, self.resume_button, self.stop_button,
                self.trial_input, self.stop_trial_button, self.add_button, *self.form.values(),
                self.add_form, self.box]
