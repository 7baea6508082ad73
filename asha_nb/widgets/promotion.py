"""The teaching view: synchronous SHA versus asynchronous ASHA on the same workload.

The real schedulers (:class:`~asha_nb.SHA`, :class:`~asha_nb.ASHA`) are run by
:func:`~asha_nb.simulate` with the same workers, the same seed (same first configurations,
same straggler draws) and, by default, the cost model of notebook 02: every job costs 1 virtual
second per resource unit, and a promoted job resumes from its checkpoint (it pays
``resource - resume_from``). With 64 configurations, reduction factor 4 and 10 workers SHA runs
64 / 16 / 4 / 1 jobs and ends at t = 73 (7 + 6 + 12 + 48): 6 workers are idle while its 4 rung-2
jobs run and 9 while its rung-3 job runs. ASHA gets the same workers until the same time (SHA's
makespan, the *horizon*) with no limit on configurations.

One clock drives both panels. Each panel draws the rungs as shelves (a mark per configuration
placed by its value, the rung's current top-1/eta cutoff, promotions as marks climbing to the
next shelf), the workers as lanes (jobs growing in rung colours, idle time as grey bars
labelled "idle", the jobs a barrier waits for marked), and the counters of the frame. Play /
Pause / Step to next promotion / a time slider move the time in the browser; the sliders
re-simulate. ``view.save("lesson.html")`` writes a standalone offline page,
``view.save("lesson.gif")`` an animated GIF for slides.

The simulation, the rows and the counters are the model's
(:class:`~asha_nb.widgets._promotion_model.PromotionLesson`, plain data); this module renders
them: the chart spec, the HTML copies, the exports (HTML page, GIF, SVG, PNG) and the widget.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from .._validation import check_int, check_number
from ..errors import InvalidParameterError
from ..viz import lesson as _lesson_viz
from ._promotion_model import PromotionLesson, lesson_counters

__all__ = ["PromotionView", "lesson_counters"]

_FINAL_ROWS = (("busy", "utilization (busy share of worker-time)"),
               ("idle", "idle worker-time"),
               ("evaluated", "configurations evaluated"),
               ("jobs", "jobs finished"),
               ("top", "first configuration at max resource"))


#: The lesson's title (page header, exported pages and GIF frames).
TITLE = "Synchronous SHA vs asynchronous ASHA: who waits, and who gets promoted when"


def _json_num(v: Any) -> Any:
    """JSON-safe: a non-finite float becomes ``None``."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class PromotionView(PromotionLesson):
    """Side-by-side animation of synchronous SHA and asynchronous ASHA, one clock for both.

    The parameters and the data attributes are the model's (:class:`PromotionLesson`: the
    simulation, the rows, the counters); the view adds the chart, the HTML copies, the exports
    and the widget, and the time on screen (:attr:`time`).

    Parameters
    ----------
    n_configs
        Configurations SHA starts in rung 0 (default 64).
    reduction_factor
        ``eta`` (default 4): rungs at resources 1, 4, 16, 64 with ``max_resource=64``.
    n_workers
        Simulated workers (default 10).
    straggler_probability
        Chance that a job is a straggler that runs ``straggler_slowdown`` times longer
        (default 0: the storyboard's numbers; try 0.2).
    seed
        Seed of both schedulers and of the straggler draws.
    min_resource, max_resource
        Resources of the bottom and top rung.
    straggler_slowdown
        How many times longer a straggler runs (default 3).
    cost
        Virtual seconds per resource unit (default 1.0, notebook 02's "unit cost"), or
        ``"benchmark"`` for :class:`~asha_nb.synthetic.SyntheticBenchmark`'s width-dependent
        cost.
    checkpointing
        A promoted job resumes from its checkpoint (pays ``resource - resume_from``; default)
        or retrains from scratch.
    frames
        Frames from 0 to the horizon when playing.
    interval
        Milliseconds between two frames when playing.

    Attributes
    ----------
    results
        ``{"SHA": SimulationResult, "ASHA": SimulationResult}``.
    horizon
        SHA's makespan: the last frame's time.
    jobs
        ``{scheduler: lesson rows}`` (see :func:`asha_nb.viz.data.lesson_rows`).
    counters
        ``{scheduler: counters at the horizon}`` (the final values).

    Examples
    --------
    >>> from asha_nb.widgets import PromotionView
    >>> view = PromotionView()
    >>> view.results["SHA"].jobs_per_rung()
    {0: 64, 1: 16, 2: 4, 3: 1}
    >>> view.horizon
    73.0
    >>> view.counters_at(30.0)["SHA"]["busy_workers"]   # SHA's rung-3 job; 9 workers wait
    1
    >>> view.counters_at(30.0)["ASHA"]["busy_workers"]
    10
    """

    _player: Any = None  # the LessonPlayer once the widget is built
    _widget: Any = None

    # ------------------------------------------------------------------ charts
    def chart(self, *, time: float | None = None) -> Any:
        """The lesson as a Vega-Lite dict with the data inlined; ``time`` is the frame shown
        (default: the last), the parameter ``t`` moves it."""
        return _lesson_viz.lesson_chart(
            self.rows, [r for s in self.schedulers for r in self.idle[s]],
            schedulers=self.schedulers, titles=self.titles, n_workers=self.panel_workers,
            synchronous=self.synchronous, n_rungs=self.n_rungs, resources=self.resources,
            reduction_factor=self.panel_eta, horizon=self.horizon, tween=self.tween,
            time_value=self.horizon if time is None else float(time),
        )


    def header_html(self) -> str:
        """The title and settings line shown above the animation."""
        return ("<div class='asha-lesson-header' style='max-width:1000px'>"
                f"<h3 style='margin:4px 0'>{html.escape(TITLE)}</h3>"
                "<div class='asha-lesson-settings' style='color:var(--jp-content-font-color1, "
                f"#222);opacity:0.85'>{html.escape(self._settings_text())}</div></div>")

    def final_table_html(self) -> str:
        """The final values (the last frame) as an HTML table, formatted as on screen."""
        texts = self.counter_texts(self.horizon)
        cell = "padding:1px 12px;text-align:right;line-height:1.5"
        head = "".join(f"<th style='{cell}'>{html.escape(s)}</th>" for s in self.schedulers)
        body = "".join(
            f"<tr><td style='padding:1px 12px 1px 0;line-height:1.5'>{html.escape(label)}</td>"
            + "".join(f"<td style='{cell}' data-scheduler='{html.escape(s)}' data-key='{key}'>"
                      f"{html.escape(texts[s][key])}</td>" for s in self.schedulers) + "</tr>"
            for key, label in _FINAL_ROWS)
        return ("<div class='asha-final-values' style='margin-top:6px'><b>Final values</b> "
                f"at the last frame, t = {self.horizon:.1f} s (SHA's makespan):"
                "<table class='asha-final' style='border-collapse:collapse;margin-top:2px'>"
                f"<tr><th></th>{head}</tr>{body}</table></div>")

    def _player_state(self, time: float | None = None) -> dict[str, Any]:
        return {
            "spec": self.chart(),
            "t": self.horizon if time is None else float(time),
            "horizon": self.horizon,
            "frames": self.frames,
            "interval": self.interval,
            "tween": self.tween,
            "promotions": list(self.promotion_times),
            "log": [{k: _json_num(v) for k, v in p.items()} for p in self.log],
        }

    def static_html(self) -> str:
        """A static HTML copy (SVG of the last frame + final values): no JavaScript needed."""
        import vl_convert as vlc

        svg = vlc.vegalite_to_svg(self.chart())
        return (f"<div class='asha-promotion-static'>{self.header_html()}{svg}"
                f"{self.final_table_html()}</div>")

    def _repr_html_(self) -> str:
        return self.static_html()

    # ----------------------------------------------------------------- exports
    def save(self, path: str | Path, *, time: float | None = None, n_frames: int = 30,
             frame_ms: int = 140, scale: float = 1.0) -> Path:
        """Export the lesson; the file's suffix picks the format.

        * ``.html``: a standalone page with the animation and its controls (vega inlined;
          plays with no kernel and fetches nothing).
        * ``.gif``: an animated GIF for slides (``n_frames`` frames from 0 to the horizon,
          ``frame_ms`` each, the last frame held), rendered offline by vl-convert.
        * ``.svg`` / ``.png``: one frame (``time``, default the last).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".html":
            from ._lesson import standalone_html

            page = standalone_html(
                self._player_state(time), title="asha_nb: synchronous SHA vs asynchronous ASHA",
                header=self.header_html(), footer=self.final_table_html())
            path.write_text(page, encoding="utf-8")
        elif suffix == ".gif":
            path.write_bytes(self.to_gif(n_frames=n_frames, frame_ms=frame_ms, scale=scale))
        elif suffix in (".svg", ".png"):
            import vl_convert as vlc

            spec = self.chart(time=time)
            if suffix == ".svg":
                path.write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
            else:
                path.write_bytes(vlc.vegalite_to_png(spec, scale=scale))
        else:
            raise InvalidParameterError(
                f"path must end with .html, .gif, .svg or .png, got {str(path)!r}")
        return path


    def to_gif(self, *, n_frames: int = 30, frame_ms: int = 140, scale: float = 1.0,
               hold_ms: int = 2500) -> bytes:
        """The animation as GIF bytes (vl-convert renders each frame, Pillow assembles)."""
        import vl_convert as vlc

        from ..viz.export import frames_to_gif, render_frames

        check_int("frame_ms", frame_ms, low=20)
        vg = vlc.vegalite_to_vega(self.chart())
        # a slide needs its title and settings: the page's header, drawn into every frame
        vg["title"] = {"text": TITLE, "subtitle": self._settings_text(), "anchor": "start",
                       "fontSize": 15, "subtitleFontSize": 11, "subtitleColor": "#333",
                       "color": "#111", "offset": 8, "subtitlePadding": 4}
        vg["background"] = "white"
        frames = render_frames(vg, self.frame_times(n_frames), signal="t", scale=scale)
        return frames_to_gif(frames, frame_ms=frame_ms, hold_ms=hold_ms)

    # ------------------------------------------------------------------ widget
    @property
    def time(self) -> float:
        """The frame on screen (the widget's time once built; set it to move every view)."""
        if self._player is not None:
            return float(self._player.t)
        return float(self._time if self._time is not None else self.horizon)

    @time.setter
    def time(self, value: float) -> None:
        v = float(check_number("time", value, low=0, high=self.horizon))
        self._time = v
        if self._player is not None:
            self._player.t = v

    @property
    def widget(self) -> Any:
        """The ipywidgets view (built on first use)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> Any:
        import ipywidgets as w

        from ._lesson import LessonPlayer

        self._player = LessonPlayer(**self._player_state(self._time))
        self._header = w.HTML(self.header_html())
        self._final = w.HTML(self.final_table_html())
        style = {"description_width": "initial"}
        layout = w.Layout(width="240px")
        self._controls: dict[str, Any] = {}
        if self.results:  # built from a simulation: sliders re-simulate
            self._controls = {
                "n_workers": w.IntSlider(self.n_workers, min=1, max=64, description="workers",
                                         continuous_update=False, style=style, layout=layout),
                "reduction_factor": w.IntSlider(self.reduction_factor, min=2, max=6,
                                                description="reduction factor \u03b7",
                                                continuous_update=False, style=style,
                                                layout=layout),
                "n_configs": w.IntSlider(self.n_configs, min=4, max=256,
                                         description="configurations",
                                         continuous_update=False, style=style, layout=layout),
                "straggler_probability": w.FloatSlider(
                    self.straggler_probability, min=0.0, max=0.9, step=0.05,
                    description="straggler share", readout_format=".0%",
                    continuous_update=False, style=style, layout=layout),
            }
            for c in self._controls.values():
                c.observe(self._on_control, names="value")
        rows: list[Any] = [self._header]
        if self._controls:
            rows.append(w.HBox(list(self._controls.values())))
        rows += [self._player, self._final]
        box = w.VBox(rows)
        box.add_class("asha-promotion")
        return box

    def _on_control(self, change: Any) -> None:
        from . import _sync

        for name, c in self._controls.items():
            setattr(self, name, c.value)
        self._simulate()
        state = self._player_state()
        with _sync.batch():
            _sync.set_traits(self._player, **state)
            _sync.set_traits(self._header, value=self.header_html())
            _sync.set_traits(self._final, value=self.final_table_html())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        try:
            bundle["text/html"] = self.static_html()
        except Exception:  # noqa: BLE001 - the fallback must never break display
            pass
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        texts = self.counter_texts(self.horizon)
        parts = ", ".join(f"{s}: {texts[s]['busy']} busy, {texts[s]['evaluated']} configs"
                          for s in self.schedulers)
        return f"<PromotionView horizon={self.horizon:.1f}s {parts}>"
