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
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._validation import check_int, check_number
from ..core import ASHA, SHA, Hyperband
from ..errors import InvalidParameterError, InvalidTypeError
from ..simulate import simulate
from ..synthetic import SyntheticBenchmark
from ..viz import lesson as _lesson_viz
from ..viz._common import to_records

__all__ = ["PromotionView", "lesson_counters"]

_FRAMES = 150
_INTERVAL = 80
_TITLES = {"SHA": "SHA \u2014 synchronous: every rung is a barrier",
           "ASHA": "ASHA \u2014 asynchronous: promote whenever possible"}
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


def lesson_counters(rows: Sequence[Mapping[str, Any]], n_workers: int, horizon: float,
                    top_rung: int | None = None) -> dict[str, Any]:
    """Counters of one scheduler over ``[0, horizon]`` from plain job rows.

    Parameters
    ----------
    rows
        Job rows (``trial_id, rung, resource, start, end``); jobs still running at
        ``horizon`` count as busy up to it.
    top_rung
        The rung of the maximum resource (default: the highest rung in ``rows``).

    Returns
    -------
    dict
        The keys of :func:`asha_nb.viz.lesson.frame_counters` at ``time = horizon``, plus
        ``horizon`` and ``idle_share``.
    """
    recs = to_records(rows)
    if top_rung is None:
        top_rung = max((int(r["rung"]) for r in recs), default=0)
    top = max((float(r["resource"]) for r in recs if int(r["rung"]) == top_rung), default=0.0)
    lr = _lesson_viz.lesson_rows(recs, horizon=float(horizon) + 1e-12, n_workers=n_workers,
                                 synchronous=False, top_resource=top or None)
    c = _lesson_viz.frame_counters(lr, n_workers, float(horizon))
    c["horizon"] = float(horizon)
    c["idle_share"] = None if c["utilization"] is None else 1.0 - c["utilization"]
    return c


class PromotionView:
    """Side-by-side animation of synchronous SHA and asynchronous ASHA, one clock for both.

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
        ``{scheduler: lesson rows}`` (see :func:`asha_nb.viz.lesson.lesson_rows`).
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

    def __init__(
        self,
        n_configs: int = 64,
        reduction_factor: int = 4,
        n_workers: int = 10,
        straggler_probability: float = 0.0,
        seed: int = 0,
        *,
        min_resource: float = 1,
        max_resource: float = 64,
        straggler_slowdown: float = 3.0,
        cost: float | str = 1.0,
        checkpointing: bool = True,
        frames: int = _FRAMES,
        interval: int = _INTERVAL,
    ):
        self.n_configs = check_int("n_configs", n_configs, low=1)
        self.reduction_factor = check_int("reduction_factor", reduction_factor, low=2)
        self.n_workers = check_int("n_workers", n_workers, low=1)
        self.straggler_probability = float(
            check_number("straggler_probability", straggler_probability, low=0, high=1))
        self.seed = check_int("seed", seed, low=0)
        self.min_resource = check_number("min_resource", min_resource, low=0,
                                         low_inclusive=False)
        self.max_resource = check_number("max_resource", max_resource, low=min_resource)
        self.straggler_slowdown = float(
            check_number("straggler_slowdown", straggler_slowdown, low=1))
        if isinstance(cost, str):
            if cost != "benchmark":
                raise InvalidParameterError(
                    f"cost must be a number > 0 (seconds per resource unit) or 'benchmark', "
                    f"got {cost!r}")
        else:
            check_number("cost", cost, low=0, low_inclusive=False)
        self.cost = cost
        if not isinstance(checkpointing, bool):
            raise InvalidTypeError(f"checkpointing must be True or False, got {checkpointing!r}")
        self.checkpointing = checkpointing
        self.frames = check_int("frames", frames, low=2)
        self.interval = check_int("interval", interval, low=10)
        self.results: dict[str, Any] = {}
        self._player: Any = None
        self._widget: Any = None
        self._time: float | None = None
        self._simulate()

    # ------------------------------------------------------------------ data
    def _simulate(self) -> None:
        bench = SyntheticBenchmark()
        kw = dict(min_resource=self.min_resource, max_resource=self.max_resource,
                  reduction_factor=self.reduction_factor, seed=self.seed)
        sim: dict[str, Any] = dict(
            n_workers=self.n_workers, straggler_probability=self.straggler_probability,
            straggler_slowdown=self.straggler_slowdown, checkpointing=self.checkpointing,
            seed=self.seed)
        objective: Any = bench
        if self.cost != "benchmark":
            sim["cost"] = float(self.cost)
            objective = bench.objective
        sha = simulate(SHA(bench.space, n_configs=self.n_configs, **kw), objective, **sim)
        horizon = float(sha.makespan)
        # Run ASHA past the horizon so that the jobs running at the horizon have their true
        # end (they are drawn running); only jobs that start before the horizon are shown.
        if self.cost == "benchmark":
            longest = bench.cost({"width": 256}, self.max_resource)
        else:
            longest = float(self.cost) * float(self.max_resource)
        bound = horizon + longest * self.straggler_slowdown + 1.0
        asha = simulate(ASHA(bench.space, max_trials=None, **kw), objective, max_time=bound,
                        **sim)
        self.results = {"SHA": sha, "ASHA": asha}
        resources = list(sha.scheduler.resources)
        self._set_panels(
            {"SHA": sha.timeline, "ASHA": asha.timeline},
            n_workers={"SHA": self.n_workers, "ASHA": self.n_workers},
            synchronous={"SHA": True, "ASHA": False}, horizon=horizon, resources=resources,
            reduction_factor=self.reduction_factor, mode=bench.mode, titles=_TITLES,
        )

    def _set_panels(self, timelines: Mapping[str, Any], *, n_workers: Mapping[str, int],
                    synchronous: Mapping[str, bool], horizon: float, resources: Sequence[float],
                    reduction_factor: int, mode: str, titles: Mapping[str, str]) -> None:
        self.horizon = float(horizon) if horizon > 0 else 1.0
        self.schedulers = tuple(timelines)
        self.panel_workers = dict(n_workers)
        self.synchronous = dict(synchronous)
        self.resources = [float(r) for r in resources]
        self.n_rungs = len(self.resources)
        self.panel_eta = int(reduction_factor)
        self.mode = mode
        self.titles = dict(titles)
        raw = {s: [r for r in to_records(tl) if r.get("start") is not None
                   and r.get("end") is not None] for s, tl in timelines.items()}
        ranges = _lesson_viz.value_ranges(list(raw.values()))
        top = max(self.resources) if self.resources else None
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.idle: dict[str, list[dict[str, Any]]] = {}
        for s, rows in raw.items():
            lr = _lesson_viz.lesson_rows(
                rows, horizon=self.horizon, n_workers=self.panel_workers[s],
                synchronous=self.synchronous[s], mode=mode, top_resource=top,
                value_range=ranges)
            for r in lr:
                r["scheduler"] = s
            self.jobs[s] = lr
            idle = _lesson_viz.idle_intervals(lr, self.panel_workers[s], self.horizon)
            for r in idle:
                r["scheduler"] = s
            self.idle[s] = idle
        self.promotions = {s: _lesson_viz.promotions(rows) for s, rows in self.jobs.items()}
        self.promotion_times = sorted({p["time"] for ps in self.promotions.values() for p in ps
                                       if p["time"] < self.horizon})
        #: Every promotion of every panel with the value and the cutoff it beat, by time
        #: (the log under the animation).
        self.log = sorted(
            ({"scheduler": s, **p} for s in self.schedulers
             for p in _lesson_viz.promotion_log(self.jobs[s], reduction_factor=self.panel_eta,
                                                mode=mode, synchronous=self.synchronous[s])
             if p["time"] < self.horizon),
            key=lambda p: (p["time"], self.schedulers.index(p["scheduler"]), p["trial_id"]))
        self.tween = self.horizon / self.frames * 4
        self.counters = self.counters_at(self.horizon)
        self._time = self.horizon

    def next_promotion(self, time: float) -> float | None:
        """The first promotion time after ``time`` (where "Step to next promotion" stops), or
        ``None`` after the last one."""
        t = float(time)
        return next((p for p in self.promotion_times if p > t + 1e-9), None)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """All lesson rows (every scheduler), as the chart receives them."""
        return [r for s in self.schedulers for r in self.jobs[s]]

    def counters_at(self, time: float) -> dict[str, dict[str, Any]]:
        """``{scheduler: counters}`` of the frame at ``time`` (what the chart shows then)."""
        return {s: _lesson_viz.frame_counters(self.jobs[s], self.panel_workers[s], time)
                for s in self.schedulers}

    def counter_texts(self, time: float) -> dict[str, dict[str, str]]:
        """``{scheduler: {counter: text}}`` exactly as written on screen at ``time``."""
        return {s: _lesson_viz.format_counters(c, synchronous=self.synchronous[s])
                for s, c in self.counters_at(time).items()}

    # ------------------------------------------------------------ replaying runs
    @classmethod
    def from_timeline(cls, timeline: Any, *, n_workers: int | None = None, label: str = "search",
                      horizon: float | None = None, synchronous: bool = False, mode: str = "max",
                      reduction_factor: int | None = None,
                      resources: Sequence[float] | None = None, frames: int = _FRAMES,
                      interval: int = _INTERVAL) -> PromotionView:
        """Replay one run from job rows (a simulator timeline, or ``search.results()``).

        Parameters
        ----------
        timeline
            Rows with ``trial_id, rung, resource, worker, start, end, value`` (rows without a
            start or an end, e.g. jobs still running, are skipped).
        synchronous
            The run's scheduler promotes at rung barriers (SHA, Hyperband).
        reduction_factor, resources
            Default: inferred from the rows (the ratio of the first two rungs' resources; the
            smallest resource of each rung).
        """
        rows = [r for r in to_records(timeline)
                if r.get("start") is not None and r.get("end") is not None]
        for r in rows:
            r["worker"] = int(r.get("worker") or 0)
            r["rung"] = int(r["rung"])
        self = cls.__new__(cls)
        self.frames = check_int("frames", frames, low=2)
        self.interval = check_int("interval", interval, low=10)
        self.results = {}
        self._player = self._widget = None
        self._time = None
        self.n_configs = len({r["trial_id"] for r in rows})
        nw = int(n_workers or (max((r["worker"] for r in rows), default=0) + 1))
        h = float(horizon or max((float(r["end"]) for r in rows), default=1.0) or 1.0)
        if resources is None:
            per_rung: dict[int, float] = {}
            for r in rows:
                per_rung[r["rung"]] = min(per_rung.get(r["rung"], float("inf")),
                                          float(r["resource"]))
            resources = [per_rung.get(k, float("nan")) for k in range(max(per_rung, default=0) + 1)]
        if reduction_factor is None:
            ok = [x for x in resources if x == x]
            reduction_factor = max(2, round(ok[1] / ok[0])) if len(ok) > 1 and ok[0] > 0 else 3
        self.n_workers = nw
        self.reduction_factor = int(reduction_factor)
        self._set_panels({label: rows}, n_workers={label: nw}, synchronous={label: synchronous},
                         horizon=h, resources=resources, reduction_factor=int(reduction_factor),
                         mode=mode, titles={label: label})
        return self

    @classmethod
    def from_search(cls, search: Any, **kwargs: Any) -> PromotionView:
        """Replay a real :class:`~asha_nb.Search`'s finished jobs (from ``search.results()``)."""
        df = search.results()
        sched = search.scheduler
        kwargs.setdefault("n_workers", getattr(search, "n_workers", None))
        kwargs.setdefault("label", type(sched).__name__)
        kwargs.setdefault("synchronous", isinstance(sched, (SHA, Hyperband)))
        kwargs.setdefault("mode", getattr(search, "mode", "max"))
        kwargs.setdefault("reduction_factor", getattr(sched, "reduction_factor", None))
        rr = getattr(sched, "rung_resources", None)
        if rr:
            kwargs.setdefault("resources", max(rr, key=len))
        return cls.from_timeline(df, **kwargs)

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

    def _settings_text(self) -> str:
        if not self.results:
            return (f"Replay of {sum(len(v) for v in self.jobs.values())} jobs on "
                    f"{', '.join(str(n) for n in self.panel_workers.values())} workers.")
        cost = ("width-dependent cost (SyntheticBenchmark)" if self.cost == "benchmark"
                else f"{self.cost:g} virtual s per resource unit")
        return (f"{self.n_configs} configurations for SHA, \u03b7 = {self.reduction_factor}, "
                f"{self.n_workers} workers, {self.straggler_probability:.0%} stragglers "
                f"({self.straggler_slowdown:g}\u00d7 slower), {cost}, "
                f"{'checkpoints' if self.checkpointing else 'no checkpoints'}. "
                f"ASHA runs on the same workers until SHA's makespan and keeps sampling.")

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

    def frame_times(self, n_frames: int) -> list[float]:
        """``n_frames`` times from 0 to the horizon (the GIF's frames)."""
        n = check_int("n_frames", n_frames, low=2)
        return [self.horizon * i / (n - 1) for i in range(n)]

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
