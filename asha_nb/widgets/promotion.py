"""The teaching view: synchronous SHA versus asynchronous ASHA on the same workload.

Both real schedulers (:class:`~asha_nb.SHA`, :class:`~asha_nb.ASHA`) are driven by the
virtual-time simulator (:func:`~asha_nb.simulate`) on the same
:class:`~asha_nb.synthetic.SyntheticBenchmark` with the same seed (same stragglers, same
sampled configurations first). The view shows, per scheduler, the worker timeline filling up
over time (jobs coloured by rung; idle time is empty space), the rung ladder (promotions appear
as running bars in higher rungs) and counters. A Play button and a time slider move one
Vega-Lite parameter ``t`` in the browser, so frames never re-send data.

Fair comparison: SHA runs its ``n_configs`` configurations to the end; its makespan is the
*time horizon*. ASHA gets the same workers and the same horizon with ``max_trials=None`` (it
keeps sampling new configurations, which is how it keeps workers busy); jobs still running at
the horizon are cut there, and every counter is measured over ``[0, horizon]``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import viz
from ..core import ASHA, SHA
from ..simulate import simulate
from ..synthetic import SyntheticBenchmark
from . import _sync

__all__ = ["PromotionView", "lesson_counters"]

_FRAMES = 120
_EXPLAIN = (
    "Both schedulers run the same synthetic workload (same seed, same stragglers) with the "
    "same workers. SHA trains its {n} configurations rung by rung and must wait at each rung "
    "barrier for the slowest job: workers sit idle (empty space). ASHA promotes as soon as a "
    "rung has a top-1/&eta; candidate and otherwise starts a new configuration, so it runs "
    "<b>to the same time horizon</b> (SHA's makespan, {h:.1f} s) with <code>max_trials=None"
    "</code>; jobs still running at the horizon are cut there and all counters are measured "
    "over [0, horizon]."
)


def _clip(rows: list[dict[str, Any]], horizon: float) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r["start"] < horizon:
            r = dict(r)
            if r["end"] > horizon:
                r["end"] = horizon
                r["cut"] = True
            out.append(r)
    return out


def lesson_counters(rows: Sequence[Mapping[str, Any]], n_workers: int, horizon: float,
                    top_rung: int | None = None) -> dict[str, Any]:
    """Counters of one scheduler over ``[0, horizon]`` from its job rows.

    Returns
    -------
    dict
        ``utilization``, ``idle_share``, ``idle_time`` (worker-seconds), ``busy_time``,
        ``configs_evaluated`` (trials with a finished rung-0 job), ``jobs``,
        ``time_to_max_resource`` (first end of a job in ``top_rung``, or ``None``),
        ``horizon``, ``workers``.
    """
    busy = 0.0
    configs: set[Any] = set()
    jobs = 0
    first_top: float | None = None
    if top_rung is None:
        top_rung = max((int(r["rung"]) for r in rows), default=0)
    for r in rows:
        s, e = float(r["start"]), float(r["end"])
        if s >= horizon:
            continue
        busy += min(e, horizon) - s
        finished = e <= horizon and not r.get("cut", False)
        if finished:
            jobs += 1
            if int(r["rung"]) == 0:
                configs.add(r["trial_id"])
            if int(r["rung"]) == top_rung and (first_top is None or e < first_top):
                first_top = e
    capacity = n_workers * horizon
    util = busy / capacity if capacity > 0 else 0.0
    return {
        "workers": n_workers,
        "horizon": horizon,
        "busy_time": busy,
        "idle_time": max(0.0, capacity - busy),
        "utilization": util,
        "idle_share": 1.0 - util,
        "configs_evaluated": len(configs),
        "jobs": jobs,
        "time_to_max_resource": first_top,
    }


class PromotionView:
    """Side-by-side animation of synchronous SHA and asynchronous ASHA.

    Parameters
    ----------
    n_configs
        Configurations SHA starts in rung 0 (default 64).
    reduction_factor
        ``eta`` (default 4): rungs at resources 1, 4, 16, 64 with ``max_resource=64``.
    n_workers
        Simulated workers (default 10).
    straggler_probability
        Chance that a job runs ``straggler_slowdown`` times slower (default 0.2).
    seed
        Seed of both schedulers and of the straggler draws.
    min_resource, max_resource, straggler_slowdown
        Passed to the schedulers and the simulator.
    frames
        Steps of the Play button / time slider.
    interval
        Milliseconds between two frames when playing.

    Examples
    --------
    >>> from asha_nb.widgets import PromotionView
    >>> view = PromotionView()
    >>> c = view.counters
    >>> c["SHA"]["idle_share"] > c["ASHA"]["idle_share"]
    True
    """

    def __init__(
        self,
        n_configs: int = 64,
        reduction_factor: int = 4,
        n_workers: int = 10,
        straggler_probability: float = 0.2,
        seed: int = 0,
        *,
        min_resource: float = 1,
        max_resource: float = 64,
        straggler_slowdown: float = 3.0,
        frames: int = _FRAMES,
        interval: int = 100,
    ):
        self.n_configs = n_configs
        self.reduction_factor = reduction_factor
        self.n_workers = n_workers
        self.straggler_probability = straggler_probability
        self.seed = seed
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.straggler_slowdown = straggler_slowdown
        self.frames = int(frames)
        self.interval = int(interval)
        self.results: dict[str, Any] = {}
        self._widget: Any = None
        self._vega: Any = None
        self._explain = ""
        self._simulate()

    # ------------------------------------------------------------------ data
    def _simulate(self) -> None:
        bench = SyntheticBenchmark()
        kw = dict(min_resource=self.min_resource, max_resource=self.max_resource,
                  reduction_factor=self.reduction_factor, seed=self.seed)
        sim = dict(n_workers=self.n_workers, straggler_probability=self.straggler_probability,
                   straggler_slowdown=self.straggler_slowdown, seed=self.seed)
        sha = simulate(SHA(bench.space, n_configs=self.n_configs, **kw), bench, **sim)
        horizon = float(sha.makespan)
        # Long enough that every job ASHA starts before the horizon also ends in the run.
        asha = simulate(ASHA(bench.space, max_trials=None, **kw), bench, max_time=4 * horizon + 1,
                        **sim)
        self.results = {"SHA": sha, "ASHA": asha}
        n_rungs = len(sha.scheduler.resources)  # type: ignore[attr-defined]
        self._set_panels(
            {"SHA": viz.to_records(sha.timeline), "ASHA": viz.to_records(asha.timeline)},
            {"SHA": self.n_workers, "ASHA": self.n_workers}, horizon, n_rungs,
        )
        self._explain = _EXPLAIN.format(n=self.n_configs, h=horizon)

    def _set_panels(self, rows: Mapping[str, list[dict[str, Any]]], n_workers: Mapping[str, int],
                    horizon: float, n_rungs: int) -> None:
        self.horizon = horizon
        self.n_rungs = n_rungs
        self.schedulers = tuple(rows)
        self.panel_workers = dict(n_workers)
        self.rows: list[dict[str, Any]] = []
        self.counters: dict[str, dict[str, Any]] = {}
        for name, rs in rows.items():
            clipped = _clip(rs, horizon)
            for r in clipped:
                r["scheduler"] = name
            self.rows.extend(clipped)
            self.counters[name] = lesson_counters(clipped, n_workers[name], horizon, n_rungs - 1)
        rung0 = {}
        for r in self.rows:
            if r["rung"] == 0:
                rung0[r["scheduler"]] = rung0.get(r["scheduler"], 0) + 1
        self._ladder_max = max(rung0.values(), default=1)

    @classmethod
    def from_timeline(cls, timeline: Any, *, n_workers: int | None = None, label: str = "search",
                      horizon: float | None = None, frames: int = _FRAMES,
                      interval: int = 100) -> PromotionView:
        """Replay one run from job rows (a simulator timeline, or ``search.results()``).

        Rows need ``trial_id, rung, resource, worker, start, end`` (rows without a start or
        end, e.g. still running, are skipped).
        """
        rows = [r for r in viz.to_records(timeline)
                if r.get("start") is not None and r.get("end") is not None]
        for r in rows:
            r["worker"] = int(r.get("worker") or 0)
            r["rung"] = int(r["rung"])
        self = cls.__new__(cls)
        self.frames, self.interval = int(frames), int(interval)
        self.results = {}
        self._widget = self._vega = None
        self.n_configs = len({r["trial_id"] for r in rows})
        nw = n_workers or (max((r["worker"] for r in rows), default=0) + 1)
        h = horizon or max((float(r["end"]) for r in rows), default=1.0) or 1.0
        n_rungs = max((r["rung"] for r in rows), default=0) + 1
        self._set_panels({label: rows}, {label: nw}, h, n_rungs)
        self._explain = f"Replay of {len(rows)} jobs of {self.n_configs} trials on {nw} workers."
        return self

    @classmethod
    def from_search(cls, search: Any, **kwargs: Any) -> PromotionView:
        """Replay a real :class:`~asha_nb.Search`'s jobs (from ``search.results()``)."""
        df = search.results()
        if "status" in getattr(df, "columns", ()):
            df = df[df["status"].isin(["ok", "failed", "stopped"])]
        kwargs.setdefault("n_workers", getattr(search, "n_workers", None))
        kwargs.setdefault("label", type(search.scheduler).__name__)
        return cls.from_timeline(df, **kwargs)

    # ------------------------------------------------------------------ charts
    def chart(self, *, bind_slider: bool = False, time: float | None = None) -> Any:
        """The lesson as an altair chart with the data inlined (parameter ``t`` = time)."""
        base = viz.lesson_chart(
            self.rows, schedulers=self.schedulers, n_workers=self.panel_workers,
            n_rungs=self.n_rungs, x_max=self.horizon, ladder_max=self._ladder_max,
            time_value=self.horizon if time is None else time, bind_slider=bind_slider,
        )
        return base

    def counters_html(self) -> str:
        """The counters of every scheduler as an HTML table."""
        def fmt(v: Any, spec: str) -> str:
            return "&ndash;" if v is None else format(v, spec)

        head = "".join(f"<th style='padding:2px 10px'>{html.escape(s)}</th>"
                       for s in self.schedulers)
        lines = [
            ("utilization", "utilization", ".0%"),
            ("idle worker-time (s)", "idle_time", ".1f"),
            ("configs evaluated", "configs_evaluated", "d"),
            ("jobs finished", "jobs", "d"),
            ("first config at max resource (s)", "time_to_max_resource", ".1f"),
        ]
        body = "".join(
            "<tr><td style='padding:2px 10px'>" + label + "</td>"
            + "".join(f"<td style='padding:2px 10px;text-align:right'>"
                      f"{fmt(self.counters[s][key], spec)}</td>" for s in self.schedulers)
            + "</tr>"
            for label, key, spec in lines
        )
        return (f"<table class='asha-counters' style='border-collapse:collapse'><tr><th></th>"
                f"{head}</tr>{body}</table>")

    def _header_html(self) -> str:
        return (f"<div style='max-width:820px'><b>Horizon {self.horizon:.1f} s</b> &middot; "
                f"{self._explain}</div>{self.counters_html()}")

    def static_html(self) -> str:
        """A static HTML summary (SVG of the last frame + counters): no JavaScript needed."""
        import vl_convert as vlc

        svg = vlc.vegalite_to_svg(self.chart().to_dict())
        return f"<div class='asha-promotion-static'>{self._header_html()}{svg}</div>"

    def _repr_html_(self) -> str:
        return self.static_html()

    def save(self, path: str | Path) -> Path:
        """Write a standalone, offline HTML file with the animation (Play + time slider).

        vega, vega-lite and vega-embed are inlined (vl-convert's bundle); no CDN is used.
        """
        from ._vega import javascript_bundle

        spec = self.chart().to_dict()
        bundle = javascript_bundle(_SAVE_JS).replace("</script", "<\\/script")
        data = json.dumps(spec).replace("</", "<\\/")
        step = self.horizon / self.frames
        page = _SAVE_HTML.format(
            title="asha_nb: synchronous SHA vs asynchronous ASHA",
            header=self._header_html(), spec=data, bundle=bundle, horizon=self.horizon,
            step=step, interval=self.interval,
        )
        path = Path(path)
        path.write_text(page, encoding="utf-8")
        return path

    # ------------------------------------------------------------------ widget
    @property
    def widget(self) -> Any:
        """The ipywidgets view (built on first use)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> Any:
        import ipywidgets as w

        from ._vega import VegaStream

        self._vega = VegaStream(self.chart().to_dict(), frame_param="t",
                                frame_step=self.horizon / self.frames, frame=self.frames)
        self._play = w.Play(value=self.frames, min=0, max=self.frames, step=1,
                            interval=self.interval, description="Play")
        self._time = w.IntSlider(value=self.frames, min=0, max=self.frames, description="frame",
                                 readout=False)
        w.jslink((self._play, "value"), (self._time, "value"))
        w.jslink((self._play, "value"), (self._vega, "frame"))
        self._header = w.HTML(self._header_html())
        style = {"description_width": "initial"}
        layout = w.Layout(width="230px")
        self._controls: dict[str, Any] = {}
        if self.results:  # built from a simulation: sliders re-simulate
            self._controls = {
                "n_workers": w.IntSlider(self.n_workers, min=1, max=32, description="workers",
                                         continuous_update=False, style=style, layout=layout),
                "reduction_factor": w.IntSlider(self.reduction_factor, min=2, max=6,
                                                description="reduction factor",
                                                continuous_update=False, style=style,
                                                layout=layout),
                "n_configs": w.IntSlider(self.n_configs, min=4, max=256, description="configs",
                                         continuous_update=False, style=style, layout=layout),
                "straggler_probability": w.FloatSlider(
                    self.straggler_probability, min=0.0, max=0.9, step=0.05,
                    description="stragglers", continuous_update=False, style=style,
                    layout=layout),
            }
            for c in self._controls.values():
                c.observe(self._on_control, names="value")
        rows = [w.HTML("<h3 style='margin:4px 0'>Synchronous SHA vs asynchronous ASHA</h3>"),
                w.HBox(list(self._controls.values())), self._header,
                w.HBox([self._play, self._time]), self._vega]
        box = w.VBox(rows)
        box.add_class("asha-promotion")
        return box

    def _on_control(self, change: Any) -> None:
        for name, c in self._controls.items():
            setattr(self, name, c.value)
        self._simulate()
        with _sync.batch():
            _sync.set_traits(self._header, value=self._header_html())
            self._vega.reset(self.chart().to_dict())
            _sync.set_traits(self._vega, frame_step=self.horizon / self.frames)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        try:
            bundle["text/html"] = self.static_html()
        except Exception:  # noqa: BLE001 - the fallback must never break display
            pass
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{s}: {c['utilization']:.0%} busy, {c['configs_evaluated']} configs"
            for s, c in self.counters.items()
        )
        return f"<PromotionView horizon={self.horizon:.1f}s {parts}>"


_SAVE_JS = r"""
const spec = JSON.parse(document.getElementById("asha-spec").textContent);
const slider = document.getElementById("asha-t");
const label = document.getElementById("asha-t-label");
const button = document.getElementById("asha-play");
const horizon = parseFloat(slider.max);
const step = parseFloat(slider.step);
const interval = parseInt(button.dataset.interval);
vegaEmbed("#asha-vis", spec, { actions: false, renderer: "svg" }).then(({ view }) => {
  let timer = null;
  function set(v) {
    slider.value = v;
    label.textContent = "t = " + Number(v).toFixed(1);
    view.signal("t", Number(v)).runAsync();
  }
  function halt() { clearInterval(timer); timer = null; button.textContent = "\u25B6 Play"; }
  slider.addEventListener("input", () => set(slider.value));
  button.addEventListener("click", () => {
    if (timer) { halt(); return; }
    if (Number(slider.value) >= horizon - 1e-9) set(0);
    button.textContent = "\u275A\u275A Pause";
    timer = setInterval(() => {
      let v = Number(slider.value) + step;
      if (v >= horizon) { v = horizon; halt(); }
      set(v);
    }, interval);
  });
  set(horizon);
  window.ashaView = view;
});
"""

_SAVE_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:16px}} #asha-controls{{margin:8px 0}}</style>
</head><body>
<h2>{title}</h2>
{header}
<div id="asha-controls"><button id="asha-play" data-interval="{interval}">&#9654; Play</button>
<input id="asha-t" type="range" min="0" max="{horizon}" step="{step}" value="{horizon}"
 style="width:420px"> <span id="asha-t-label"></span></div>
<div id="asha-vis"></div>
<script type="application/json" id="asha-spec">{spec}</script>
<script type="module">{bundle}</script>
</body></html>
"""
