"""The sync-versus-async lesson (the promotion view): the whole chart of one frame.

The chart is a pure function of the lesson rows (:mod:`asha_nb.viz.data`, which prepares them
and computes the counters of a frame in Python) and the value of a time parameter ``t``: the
browser moves ``t``; no data is re-sent. The chart computes its counters from the same rows
with the same definitions as :func:`~asha_nb.viz.data.frame_counters`, so what is written on
screen belongs to the frame on screen.

The picture, per scheduler:

* **rung shelves** (:func:`~asha_nb.viz.ladder.rung_ladder_chart`): one row per rung (rung 0
  at the bottom, labelled with its resource); every configuration with a result in the rung is
  a filled mark placed by its value (better to the right); a job running toward a rung is a
  hollow mark (new configurations on the left, promoted ones above their mark of the rung
  below); the rung's current top-1/eta cutoff is a dashed line; a promotion is a mark climbing
  to the next shelf over a few frames; a promoted configuration keeps an orange ring on the
  lower shelf.
* **worker lanes** (:func:`~asha_nb.viz.timeline.worker_lanes_chart`): one lane per worker; a
  job is a bar coloured by rung that grows while it runs; idle time is a grey bar labelled
  "idle" (a short one: a dot; no borders: the coloured area of a lane is its busy time); the
  jobs a synchronous barrier waits for are marked with a black triangle.
* **counters** of the frame: busy share and idle worker-time so far, configurations evaluated,
  jobs finished, first configuration at the maximum resource, busy workers now, what the barrier
  waits for, the last promotion.

Rung colours follow :func:`~asha_nb.viz._common.rung_palette`, rung 0 light, the top rung dark.
The data functions and the lanes are re-exported here under their former names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._common import (
    CUTOFF_COLOUR,
    IDLE_COLOUR,
    NEVER,
    PROMOTED_COLOUR,
    SCHEMA,
    UNITS,
    by_scheduler,
    calc,
    rung_palette,
    rung_scale,
    to_records,
)
from .data import (
    COUNTER_LABELS,
    IDLE_DOT_PX,
    format_counters,
    frame_counters,
    idle_intervals,
    label_idle,
    lesson_rows,
    placeholder_rows,
    promotion_log,
    promotions,
    value_ranges,
)
from .data import _fixed as _fixed  # re-exported: the widgets' tests format like the chart
from .ladder import LABELLED_CLIMBS, rung_ladder_chart
from .timeline import lane_height_for, worker_lanes_chart

__all__ = [
    "IDLE_COLOUR",
    "PROMOTED_COLOUR",
    "CUTOFF_COLOUR",
    "LABELLED_CLIMBS",
    "lesson_rows",
    "value_ranges",
    "promotions",
    "promotion_log",
    "placeholder_rows",
    "idle_intervals",
    "frame_counters",
    "format_counters",
    "COUNTER_LABELS",
    "worker_lanes_chart",
    "rung_ladder_chart",
    "lesson_chart",
]



def _counters_chart(*, time: str, scheduler: str, n_workers: int, synchronous: bool,
                    jobs_dataset: str, width: int, name: str) -> dict[str, Any]:
    t = time
    nw = int(n_workers)
    units = repr(UNITS)
    agg_tf = by_scheduler(scheduler) + [
        *calc(
            b=f"datum.start < {t} ? floor((min(datum.end, {t}) - datum.start) * {units} + 0.5)"
              " : 0",
            fin=f"datum.end <= {t} ? 1 : 0",
            ev=f"datum.first0 && datum.end <= {t} ? 1 : 0",
            topend=f"datum.at_top && datum.end <= {t} ? datum.end : {NEVER!r}",
            run=f"datum.start <= {t} && {t} < datum.end ? 1 : 0",
            pv=f"datum.climb && datum.promo <= {t} ? datum.promo : -1"),
        *calc(rr="datum.run == 1 ? datum.rung : -1",
               st="datum.run == 1 && datum.straggler ? 1 : 0"),
        {"joinaggregate": [{"op": "max", "field": "pv", "as": "maxp"}]},
        *calc(islast="datum.pv >= 0 && datum.pv == datum.maxp ? 1 : 0"),
        *calc(lid="datum.islast == 1 ? datum.trial_id : -1",
               lhi="datum.islast == 1 ? datum.rung : -1",
               llo="datum.islast == 1 ? datum.rung : 1e6"),
        {"aggregate": [
            {"op": "sum", "field": "b", "as": "busy_units"},
            {"op": "sum", "field": "fin", "as": "nfin"},
            {"op": "sum", "field": "ev", "as": "nev"},
            {"op": "min", "field": "topend", "as": "first"},
            {"op": "sum", "field": "run", "as": "nrun"},
            {"op": "max", "field": "rr", "as": "rung"},
            {"op": "sum", "field": "st", "as": "nst"},
            {"op": "max", "field": "maxp", "as": "lastp"},
            {"op": "sum", "field": "islast", "as": "nlast"},
            {"op": "max", "field": "lid", "as": "lastid"},
            {"op": "max", "field": "lhi", "as": "lhi"},
            {"op": "min", "field": "llo", "as": "llo"}]},
        *calc(busy=f"datum.busy_units / {units}"),
    ]
    if synchronous:
        barrier = (
            "datum.nrun == 0 ? (datum.nfin > 0 ? 'finished' : 'not started') : "
            f"(datum.nrun < {nw} ? 'waiting for ' + datum.nrun + (datum.nrun == 1 ? ' job' : "
            "' jobs') + ' of rung ' + datum.rung + (datum.nst > 0 ? ' (' + datum.nst + "
            "(datum.nst == 1 ? ' straggler)' : ' stragglers)') : '') : 'all workers busy')"
        )
    else:
        barrier = "'none (asynchronous)'"
    texts = {
        "busy": f"{t} > 0 ? format(datum.busy / ({nw} * {t}) * 100, '.0f') + '%' : '\u2013'",
        "idle": f"format(max(0, {nw} * {t} - datum.busy), '.1f') + ' s'",
        "evaluated": "'' + datum.nev",
        "jobs": "'' + datum.nfin",
        "top": "datum.first < 1e11 ? 't = ' + format(datum.first, '.1f') + ' s' : '\u2013'",
        "now": f"datum.nrun + ' of {nw}'",
        "barrier": barrier,
        "promotion": (
            "datum.nlast == 0 ? 'none yet' : (datum.nlast == 1 ? '#' + datum.lastid : "
            "datum.nlast + ' configurations') + (datum.llo == datum.lhi ? ', rung ' + "
            "(datum.lhi - 1) + ' \u2192 ' + datum.lhi : '') + ' at t = ' + "
            "format(datum.lastp, '.1f')"
        ),
    }
    keys = list(COUNTER_LABELS)
    values_tf = agg_tf + calc(**{f"c_{k}": v for k, v in texts.items()}) + [
        {"fold": [f"c_{k}" for k in keys], "as": ["key", "text"]},
        *calc(key="slice(datum.key, 2)")]
    y = {"field": "key", "type": "nominal", "sort": keys, "axis": None,
         "scale": {"domain": keys}}
    labels = {"data": {"values": [{"key": k, "label": COUNTER_LABELS[k]} for k in keys]},
              "name": f"{name}_labels",
              "mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 11,
                       "color": "#555"},
              "encoding": {"x": {"value": 0}, "y": y,
                           "text": {"field": "label", "type": "nominal"}}}
    values = {"data": {"name": jobs_dataset}, "name": f"{name}_values",
              "transform": values_tf,
              "mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 11,
                       "fontWeight": "bold", "color": "#111"},
              "encoding": {"x": {"value": 158}, "y": y,
                           "text": {"field": "text", "type": "nominal"}}}
    return {"layer": [labels, values], "width": width, "height": 15 * len(keys)}


def _legend_chart(n_rungs: int, resources: Sequence[float], reduction_factor: int,
                  width: int) -> dict[str, Any]:
    entries: list[tuple[str, int, str]] = [
        ("rung", k, f"rung {k} (r = {format(resources[k], 'g') if k < len(resources) else '?'})")
        for k in range(n_rungs)]
    entries += [("idle", 0, "idle worker"), ("dot", 0, "short idle gap"),
                ("hollow", 0, "running job"),
                ("ring", 0, "promoted out of the rung"),
                ("cut", 0, f"top 1/{int(reduction_factor)} cutoff"),
                ("holds", 0, "the barrier waits for this job")]
    items: list[dict[str, Any]] = []
    x, row = 0.0, 0
    for kind, k, lab in entries:
        w = 14 + 5.8 * len(lab) + 14
        if x > 0 and x + w > width:
            x, row = 0.0, row + 1
        items.append({"kind": kind, "rung": k, "x": x, "y": 8 + 18 * row, "label": lab})
        x += w
    xs = {"field": "x", "type": "quantitative", "scale": {"domain": [0, width], "nice": False},
          "axis": None}
    ys = {"field": "y", "type": "quantitative", "axis": None,
          "scale": {"domain": [0, 18 * (row + 1)], "range": [0, 18 * (row + 1)],
                    "nice": False}}

    def item(kind: str, mark: dict[str, Any], **enc: Any) -> dict[str, Any]:
        return {"transform": [{"filter": f"datum.kind == '{kind}'"}], "mark": mark,
                "encoding": {"x": xs, "y": ys, **enc}}

    layers = [
        item("rung", {"type": "square", "size": 110, "opacity": 1},
             color={"field": "rung", "type": "ordinal", "scale": rung_scale(n_rungs),
                    "legend": None}),
        item("idle", {"type": "square", "size": 110, "opacity": 1, "color": IDLE_COLOUR}),
        item("dot", {"type": "point", "shape": "circle", "filled": True, "color": "#3a3a3a",
                     "size": round(IDLE_DOT_PX ** 2 * 0.7854, 2), "opacity": 1, "strokeWidth": 0}),
        item("hollow", {"type": "point", "shape": "circle", "size": 40, "filled": True,
                        "fill": "white", "stroke": "#444", "strokeWidth": 0.9}),
        item("ring", {"type": "point", "shape": "circle", "size": 40, "filled": True,
                      "fill": rung_palette(max(2, n_rungs))[0], "stroke": PROMOTED_COLOUR,
                      "strokeWidth": 2.2}),
        item("cut", {"type": "tick", "color": CUTOFF_COLOUR, "thickness": 1.6, "size": 14,
                     "orient": "vertical"}),
        item("holds", {"type": "point", "shape": "triangle-left", "filled": True,
                       "color": "#111", "size": 55, "opacity": 1}),
        {"transform": calc(tx="datum.x + 10"),
         "mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 10,
                  "color": "#333"},
         "encoding": {"x": {**xs, "field": "tx"}, "y": ys,
                      "text": {"field": "label", "type": "nominal"}}},
    ]
    return {"data": {"values": items}, "layer": layers, "width": int(width),
            "height": 18 * (row + 1)}


_JOB_FIELDS = ("scheduler", "job_id", "trial_id", "worker", "rung", "resource", "start", "end",
               "value", "straggler", "promo", "px0", "px", "jit", "out", "first0", "at_top",
               "climb")


def lesson_chart(
    jobs: Any = None,
    idle: Any = None,
    *,
    schedulers: Sequence[str] = ("SHA", "ASHA"),
    titles: Mapping[str, str] | None = None,
    n_workers: Mapping[str, int] | int = 10,
    synchronous: Mapping[str, bool] | bool = False,
    n_rungs: int = 4,
    resources: Sequence[float] = (1, 4, 16, 64),
    reduction_factor: int = 4,
    horizon: float = 1.0,
    tween: float | None = None,
    time_value: float | None = None,
    time_name: str = "t",
    jobs_dataset: str = "lesson_jobs",
    idle_dataset: str = "lesson_idle",
    width: int = 385,
) -> dict[str, Any]:
    """The whole lesson for one frame: a time readout; per scheduler, side by side, the rung
    shelves, the worker lanes and the counters; a legend below.

    Every part reads two named datasets (``jobs``: :func:`lesson_rows` rows with a
    ``scheduler`` column; ``idle``: :func:`idle_intervals` rows with ``scheduler``) and the
    parameter ``time_name``, declared here once. Moving it (``view.signal("t", v)``) draws
    another frame without re-sending data.

    Parameters
    ----------
    jobs, idle
        The rows to inline, or ``None`` to fill the named datasets later.
    n_workers, synchronous
        Per scheduler (or one value for all).
    tween
        Time units a promotion's climb (and a result's slide to its value) takes; default
        ``horizon / 40``.
    time_value
        The parameter's initial value (default: ``horizon``, the last frame).

    Returns
    -------
    dict
        A Vega-Lite spec (``vconcat``), with the data inlined as top-level ``datasets``.
    """
    horizon = float(horizon) if horizon else 1.0
    tau = float(tween) if tween else horizon / 40
    panels = []
    for s in schedulers:
        nw = n_workers if isinstance(n_workers, int) else n_workers[s]
        sync = synchronous if isinstance(synchronous, bool) else synchronous[s]
        tag = "".join(ch if ch.isalnum() else "_" for ch in s)
        ladder = rung_ladder_chart(
            time=time_name, scheduler=s, n_rungs=n_rungs, resources=resources,
            reduction_factor=reduction_factor, tween=tau, jobs_dataset=jobs_dataset,
            width=width - 112, counts_width=92, name=f"{tag}_shelves",
            shelf_height=46 if n_rungs <= 5 else 36)
        lanes = worker_lanes_chart(
            time=time_name, scheduler=s, n_workers=nw, horizon=horizon, n_rungs=n_rungs,
            synchronous=sync, jobs_dataset=jobs_dataset, idle_dataset=idle_dataset,
            title=f"worker lanes ({nw} workers)", width=width, name=f"{tag}_lanes")
        counters = _counters_chart(time=time_name, scheduler=s, n_workers=nw,
                                   synchronous=sync, jobs_dataset=jobs_dataset, width=width,
                                   name=f"{tag}_counters")
        title = (titles or {}).get(s, s)
        panels.append({"vconcat": [ladder, lanes, counters], "spacing": 10,
                       "title": {"text": title, "fontSize": 14, "anchor": "start",
                                 "fontWeight": "bold"}})
    readout_tf = calc(txt=f"'t = ' + format({time_name}, '.1f') + ' s'",
                       sub=f"'of {horizon:.1f} s \u00b7 one clock for every panel'")
    clock = {"data": {"values": [{"_": 0}]}, "transform": readout_tf, "layer": [
        {"name": "clock_readout",
         "mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 18,
                  "fontWeight": "bold", "color": "#111"},
         "encoding": {"x": {"value": 0}, "y": {"value": 12},
                      "text": {"field": "txt", "type": "nominal"}}},
        {"mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 11,
                  "color": "#555"},
         "encoding": {"x": {"value": 116}, "y": {"value": 13},
                      "text": {"field": "sub", "type": "nominal"}}},
    ], "width": width, "height": 24}
    legend = _legend_chart(n_rungs, resources, reduction_factor,
                           width=len(schedulers) * (width + 50))
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "params": [{"name": time_name,
                    "value": horizon if time_value is None else float(time_value)}],
        "vconcat": [clock, {"hconcat": panels, "spacing": 24}, legend],
        "spacing": 12,
        "config": {"view": {"stroke": None}},
    }
    job_rows = [] if jobs is None else [{k: r.get(k) for k in _JOB_FIELDS}
                                        for r in to_records(jobs)]
    idle_rows = [] if idle is None else to_records(idle)
    labelled: list[dict[str, Any]] = []
    for s in schedulers:  # which idle interval gets the word "idle", which a dot
        nw = n_workers if isinstance(n_workers, int) else n_workers[s]
        labelled += label_idle([r for r in idle_rows if r.get("scheduler") == s],
                               horizon=horizon, width=width, lane_height=lane_height_for(nw))
    spec["datasets"] = {
        jobs_dataset: job_rows + placeholder_rows(schedulers, n_rungs),
        idle_dataset: labelled,
    }
    return spec

