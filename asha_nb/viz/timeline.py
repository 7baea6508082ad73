"""The worker timeline: one lane per worker, its jobs coloured by rung, its idle time grey.

One builder, :func:`worker_timeline`, draws it for both views from the same pieces (a lane
per worker on a quantitative y scale, a time axis, layers of plain Vega-Lite dicts):

* the **dashboard** (:func:`worker_busy_chart`) streams one row per job and lets the browser
  cut the time axis into slices: in each slice, the coloured height is the share of it the
  worker was busy (stacked by rung), so the coloured area of a lane is its busy time however
  short the jobs; a grey track marks each lane while it exists (``set_n_workers`` adds and
  removes lanes); pauses are orange bands;
* the **lesson** (:func:`worker_lanes_chart`) draws each job as an exact bar that grows with
  the frame time, idle intervals as grey bars labelled "idle" (short ones with a dot, see
  :func:`~asha_nb.viz.data.label_idle`), the jobs a synchronous barrier waits for with a black
  triangle, and the frame time as a dashed rule.

Bars have no border (a border eats jobs narrower than itself), so the coloured area of a lane
is its busy time. The rung colours are :func:`~asha_nb.viz._common.rung_palette`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ._common import (
    FAILED_COLOUR,
    IDLE_COLOUR,
    IDLE_GREY,
    SCHEMA,
    by_scheduler,
    calc,
    rung_palette,
    rung_scale,
    tint,
    to_records,
)
from .data import IDLE_DOT_PX, IDLE_WORD_PX, idle_word_every, label_idle

__all__ = ["worker_timeline", "worker_busy_chart", "worker_lanes_chart"]

_RUN = 1000  # colour keys of running jobs in the sliced timeline start here
_DASHBOARD_TIME = "time since the search started (s)"


def _lanes_y(n_workers: int, *, lesson: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The lanes' y scale (worker ``w`` centred on ``w``, worker 0 at the top) and axis."""
    rows = max(1, int(n_workers))
    scale = {"domain": [-0.5, rows - 0.5], "reverse": True, "nice": False, "zero": False}
    if lesson:
        axis = {"values": list(range(0, rows, max(1, rows // 10))), "format": "d",
                "grid": False, "ticks": False, "domain": False, "labelFontSize": 9,
                "title": "worker"}
    else:
        axis = {"values": list(range(rows)), "format": "d", "grid": False, "title": "worker",
                "titlePadding": 6, "tickCount": rows}
    return scale, axis


def _rows_y(half: float) -> list[dict[str, str]]:
    return calc(y0=f"datum.worker - {half}", y1=f"datum.worker + {half}")


def _sliced_jobs(dataset: str, *, now: str, n_rungs: int, resources: Sequence[float] | None,
                 max_bins: int, half: float, x: dict[str, Any], y_scale: dict[str, Any],
                 y_axis: dict[str, Any]) -> dict[str, Any]:
    """Per worker and time slice, the busy share of each rung, stacked (the dashboard)."""
    palette = rung_palette(max(1, n_rungs))
    labels = ([f"{k} (resource {r:g})" for k, r in enumerate(resources)]
              if resources and len(resources) == n_rungs else [str(k) for k in range(n_rungs)])
    # colour keys: rung k finished -> k, failed -> -1, rung k running -> RUN + k (the rung's
    # colour mixed with white), stuck (timed out, still running) -> RUN - 1 (lighter red)
    keys = list(range(n_rungs)) + [-1] + [_RUN + k for k in range(n_rungs)] + [_RUN - 1]
    colours = (palette + [FAILED_COLOUR] + [tint(c) for c in palette] + [tint(FAILED_COLOUR)])
    label_of = {str(k): lab for k, lab in enumerate(labels)}
    label_of.update({"-1": "failed or timed out", str(_RUN): "lighter: running now"})
    colour = {
        "field": "ckey", "type": "ordinal", "title": "rung",
        "scale": {"domain": keys, "range": colours},
        "legend": {"orient": "right", "symbolType": "square",
                   "values": list(range(n_rungs)) + [-1, _RUN],
                   "labelExpr": f"{label_of!r}[datum.value + '']"},
    }
    return {
        "data": {"name": dataset},
        "transform": [
            {"calculate": f"isValid(datum.end) ? min(datum.end, {now}) : {now}", "as": "e"},
            {"filter": "datum.e > datum.start"},
            {"calculate": f"pow(2, ceil(log(max({now}, 1e-9) / {max_bins}) / LN2))", "as": "W"},
            {"calculate": "floor(datum.start / datum.W)", "as": "b0"},
            {"calculate": "max(datum.b0, ceil(datum.e / datum.W) - 1)", "as": "b1"},
            {"calculate": "sequence(datum.b0, datum.b1 + 1)", "as": "bins"},
            {"flatten": ["bins"], "as": ["bin"]},
            {"calculate": "min(datum.e, (datum.bin + 1) * datum.W)"
                          " - max(datum.start, datum.bin * datum.W)", "as": "busy"},
            {"filter": "datum.busy > 0"},
            {"calculate": "datum.state == 'running' || datum.state == 'stuck'", "as": "live"},
            {"calculate": f"(datum.state == 'failed' || datum.state == 'stuck' ? -1 : datum.rung)"
                          f" + (datum.live ? {_RUN} : 0)", "as": "ckey"},
            {"aggregate": [{"op": "sum", "field": "busy", "as": "busy"}],
             "groupby": ["worker", "bin", "W", "ckey", "live"]},
            {"calculate": "datum.bin * datum.W", "as": "x0"},
            {"calculate": f"min((datum.bin + 1) * datum.W, {now})", "as": "x1"},
            {"calculate": "min(1, datum.busy / max(datum.x1 - datum.x0, 1e-12))", "as": "share"},
            # stack the rungs of a slice: bottom and top as shares of the row's height
            {"window": [{"op": "sum", "field": "share", "as": "top"}],
             "groupby": ["worker", "bin"], "sort": [{"field": "ckey"}],
             "frame": [None, 0]},
            {"calculate": "min(datum.top, 1)", "as": "top"},
            {"calculate": "max(0, datum.top - datum.share)", "as": "bottom"},
            # merge runs of slices a single job kind fills completely into one rectangle (no
            # seams between slices of a long job; fewer marks)
            {"calculate": "datum.bottom == 0 && datum.top > 0.999999", "as": "full"},
            {"window": [{"op": "lag", "field": "bin", "as": "pbin"},
                        {"op": "lag", "field": "full", "as": "pfull"},
                        {"op": "lag", "field": "ckey", "as": "pckey"},
                        {"op": "lag", "field": "live", "as": "plive"}],
             "groupby": ["worker"], "sort": [{"field": "bin"}, {"field": "bottom"}]},
            {"calculate": "datum.full && datum.pfull === true && datum.pbin == datum.bin - 1"
                          " && datum.pckey == datum.ckey && datum.plive == datum.live ? 0 : 1",
             "as": "brk"},
            {"window": [{"op": "sum", "field": "brk", "as": "run"}],
             "groupby": ["worker"], "sort": [{"field": "bin"}, {"field": "bottom"}],
             "frame": [None, 0]},
            {"aggregate": [{"op": "min", "field": "x0", "as": "x0"},
                           {"op": "max", "field": "x1", "as": "x1"},
                           {"op": "sum", "field": "busy", "as": "busy"}],
             "groupby": ["worker", "run", "ckey", "live", "bottom", "top"]},
            {"calculate": f"(datum.ckey % {_RUN} < 0 || datum.ckey == {_RUN - 1} ? 'failed' :"
                          f" 'rung ' + (datum.ckey % {_RUN})) + (datum.live ? ', running' : '')",
             "as": "what"},
            {"calculate": f"datum.worker + {half} - {2 * half} * datum.bottom", "as": "y0"},
            {"calculate": f"datum.worker + {half} - {2 * half} * datum.top", "as": "y1"},
            {"calculate": "format(datum.busy / max(datum.x1 - datum.x0, 1e-12), '.0%') + "
                          "' of ' + format(datum.x0, '.3~f') + '\u2013' + "
                          "format(datum.x1, '.3~f') + ' s'", "as": "busy_share"},
        ],
        "mark": {"type": "rect", "strokeWidth": 0, "clip": True},
        "encoding": {
            "x": x, "x2": {"field": "x1"},
            "y": {"field": "y0", "type": "quantitative", "scale": y_scale, "axis": y_axis},
            "y2": {"field": "y1"},
            "color": colour,
            "tooltip": [{"field": "worker", "type": "ordinal"},
                        {"field": "busy_share", "type": "nominal", "title": "busy"},
                        {"field": "what", "type": "nominal", "title": "jobs"}],
        },
    }


def _lane_track(dataset: str, *, now: str, half: float, x: dict[str, Any],
                y: dict[str, Any]) -> dict[str, Any]:
    """A grey track per lane while it exists: from ``from`` (0, or when ``set_n_workers``
    added it) to ``to`` (when it removed it; none: it still exists)."""
    return {
        "name": "timeline_lanes",
        "data": {"name": dataset},
        "transform": [{"calculate": "isValid(datum.from) ? datum.from : 0", "as": "x0"},
                      {"calculate": f"isValid(datum.to) ? min(datum.to, {now}) : {now}",
                       "as": "x1"},
                      {"filter": "datum.x1 > datum.x0"},
                      *_rows_y(half),
                      {"calculate": "'idle while it has no job; from ' + format(datum.x0, '.1f')"
                                    " + ' s' + (isValid(datum.to) ? ' to ' + "
                                    "format(datum.to, '.1f') + ' s (removed by set_n_workers)'"
                                    " : '')", "as": "lane"}],
        "mark": {"type": "rect", "color": IDLE_GREY, "opacity": 0.35, "strokeWidth": 0,
                 "clip": True},
        "encoding": {"x": x, "x2": {"field": "x1"}, "y": y, "y2": {"field": "y1"},
                     "tooltip": [{"field": "worker", "type": "ordinal", "title": "worker"},
                                 {"field": "lane", "type": "nominal", "title": "lane"}]},
    }


def _pause_layers(dataset: str, *, now: str, x: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pause as an orange band labelled "paused" (no ``end``: paused now)."""
    p_tf = [{"calculate": f"isValid(datum.end) ? datum.end : {now}", "as": "x1"},
            {"calculate": "datum.start", "as": "x0"}]
    return [
        {"data": {"name": dataset}, "transform": p_tf,
         "mark": {"type": "rect", "fill": "#ff7f0e", "fillOpacity": 0.07, "stroke": "#ff7f0e",
                  "strokeOpacity": 0.9, "strokeWidth": 1, "strokeDash": [4, 3], "clip": True},
         "encoding": {"x": x, "x2": {"field": "x1"},
                      "tooltip": [{"field": "start", "type": "quantitative",
                                   "title": "paused at", "format": ".2f"}]}},
        {"data": {"name": dataset}, "transform": p_tf,
         "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 3, "dy": 2,
                  "color": "#ff7f0e", "fontWeight": "bold", "text": "paused"},
         "encoding": {"x": x, "y": {"value": 0}}},
    ]


def _idle_layers(dataset: str, *, now: str, scheduler: str | None, half: float,
                 min_w: float, every: int, x: Any, y: dict[str, Any], y_mid: dict[str, Any],
                 name: str) -> list[dict[str, Any]]:
    """Idle intervals as grey bars; "idle" on those drawn wide enough, a dot on short ones."""
    shown = by_scheduler(scheduler) + [{"filter": f"datum.start < {now}"},
                                       *calc(shown_end=f"min(datum.end, {now})")]
    bars = {"data": {"name": dataset}, "name": f"{name}_idle",
            "transform": shown + _rows_y(half),
            "mark": {"type": "rect", "color": IDLE_COLOUR, "strokeWidth": 0},
            "encoding": {"x": x("start"), "x2": {"field": "shown_end"}, "y": y,
                         "y2": {"field": "y1"},
                         "tooltip": [{"field": "worker", "type": "ordinal"},
                                     {"field": "start", "type": "quantitative",
                                      "title": "idle from", "format": ".2f"},
                                     {"field": "end", "type": "quantitative",
                                      "title": "idle until", "format": ".2f"}]}}
    # lanes lower than the word: label every k-th lane only, so labels never stack
    words = {"data": {"name": dataset}, "name": f"{name}_idletext",
             "transform": shown + [
                 {"filter": f"datum.shown_end - datum.start >= {min_w!r}"},
                 *([{"filter": f"datum.worker % {every} == 0"}] if every > 1 else []),
                 *calc(mid="(datum.start + datum.shown_end) / 2")],
             "mark": {"type": "text", "fontSize": 9, "color": "#3a3a3a", "baseline": "middle"},
             "encoding": {"x": x("mid"), "y": y_mid, "text": {"value": "idle"}}}
    # shorter idle intervals (once ended): a dot, several close ones share one (label_idle)
    dots = {"data": {"name": dataset}, "name": f"{name}_idledot",
            "transform": by_scheduler(scheduler) + [
                {"filter": f"datum.dot === true && datum.dot_t <= {now}"},
                *calc(idle_text="datum.dot_n == 1 ? format(datum.dot_idle, '.2f') + ' s' : "
                                "datum.dot_n + ' short gaps, ' + format(datum.dot_idle, '.2f')"
                                " + ' s in all'")],
            "mark": {"type": "point", "shape": "circle", "filled": True, "color": "#3a3a3a",
                     "size": round(IDLE_DOT_PX ** 2 * 0.7854, 2), "opacity": 1,
                     "strokeWidth": 0},
            "encoding": {"x": x("dot_x"), "y": y_mid,
                         "tooltip": [{"field": "worker", "type": "ordinal"},
                                     {"field": "idle_text", "type": "nominal",
                                      "title": "idle (short)"},
                                     {"field": "dot_from", "type": "quantitative",
                                      "title": "from", "format": ".2f"},
                                     {"field": "dot_to", "type": "quantitative",
                                      "title": "until", "format": ".2f"}]}}
    return [bars, words, dots]


def worker_timeline(
    *,
    jobs: str,
    n_workers: int,
    n_rungs: int,
    now: str,
    style: Literal["sliced", "exact"],
    horizon: float | None = None,
    scheduler: str | None = None,
    lanes: str | None = None,
    idle: str | None = None,
    pauses: str | None = None,
    barrier: bool = False,
    now_rule: bool = False,
    resources: Sequence[float] | None = None,
    width: int = 760,
    lane_height: float = 20,
    max_bins: int | None = None,
    name: str = "lanes",
) -> list[dict[str, Any]]:
    """The layers of a worker timeline (a Vega-Lite ``layer`` list).

    Parameters
    ----------
    jobs
        Name of the dataset of jobs: rows ``worker, rung, start, end`` (``"sliced"``: and
        ``state``, one of ``done``, ``failed``, ``running``, ``stuck``; no ``end``: running;
        ``"exact"``: and ``trial_id, resource, straggler``).
    n_workers, n_rungs
        Lanes and rung colours.
    now
        A Vega expression of the time drawn up to: a parameter name (the dashboard's ``now``,
        the lesson's frame time ``t``) or a number.
    style
        ``"sliced"``: busy share per time slice, the time axis from 0 to ``now`` (the
        dashboard); ``"exact"``: a bar per job cut at ``now``, the time axis from 0 to
        ``horizon`` (the lesson).
    scheduler
        Keep the rows of this ``scheduler`` only (the lesson's panels share datasets).
    lanes, idle, pauses
        Names of datasets: lane spans (``worker, from, to``: a grey track), idle intervals
        (:func:`~asha_nb.viz.data.label_idle` rows: grey bars, labels), pauses (``start,
        end``: orange bands).
    barrier, now_rule
        Mark the running jobs while another worker waits (synchronous SHA), and draw ``now``
        as a dashed rule.
    width, lane_height
        Plot width and height of a lane in pixels.
    max_bins
        ``"sliced"``: most slices across the axis.
    """
    exact = style == "exact"
    half = 0.41 if exact else 0.4  # a lane fills [worker - half, worker + half]
    every = idle_word_every(lane_height)
    y_scale, y_axis = _lanes_y(n_workers, lesson=exact)
    y = {"field": "y0", "type": "quantitative", "scale": y_scale, "axis": y_axis}
    y_mid = {"field": "worker", "type": "quantitative", "scale": y_scale, "axis": y_axis}
    if exact:
        x_scale: dict[str, Any] = {"domain": [0, float(horizon or 1.0)], "nice": False,
                                   "zero": True}
        x_title, x_axis = "time (s)", {"grid": False, "labelFontSize": 9, "titleFontSize": 10}
    else:
        # an explicit domain (not domainMin/domainMax): no extent is computed from the data,
        # so empty layers (no pause, no failed job) give no "Infinite extent" warning
        x_scale = {"domain": [0, {"expr": now}], "nice": False, "zero": True}
        x_title, x_axis = _DASHBOARD_TIME, {}

    def x(field: str) -> dict[str, Any]:
        enc = {"field": field, "type": "quantitative", "scale": x_scale, "title": x_title}
        return {**enc, "axis": x_axis} if x_axis else enc

    layers: list[dict[str, Any]] = []
    if lanes is not None:
        layers.append(_lane_track(lanes, now=now, half=half, x=x("x0"), y=y))
    if idle is not None:
        min_w = IDLE_WORD_PX * float(horizon or 1.0) / max(1, width)
        idle_layers = _idle_layers(idle, now=now, scheduler=scheduler, half=half, min_w=min_w,
                                   every=every, x=x, y=y, y_mid=y_mid, name=name)
        layers.append(idle_layers.pop(0))
    else:
        idle_layers = []
    if exact:
        layers.append({
            "data": {"name": jobs}, "name": f"{name}_jobs",
            "transform": by_scheduler(scheduler) + [
                {"filter": f"datum.start < {now}"},
                *calc(shown_end=f"min(datum.end, {now})"), *_rows_y(half)],
            "mark": {"type": "rect", "strokeWidth": 0, "cornerRadius": 0},
            "encoding": {"x": x("start"), "x2": {"field": "shown_end"}, "y": y,
                         "y2": {"field": "y1"},
                         "color": {"field": "rung", "type": "ordinal",
                                   "scale": rung_scale(n_rungs), "legend": None},
                         "tooltip": [{"field": "trial_id", "type": "nominal", "title": "trial"},
                                     {"field": "rung", "type": "ordinal"},
                                     {"field": "resource", "type": "quantitative"},
                                     {"field": "start", "type": "quantitative",
                                      "format": ".2f"},
                                     {"field": "end", "type": "quantitative", "format": ".2f"},
                                     {"field": "straggler", "type": "nominal"}]}})
    else:
        bins = max_bins or max(40, min(width // 2, 6000 // max(1, n_workers)))
        layers.append(_sliced_jobs(jobs, now=now, n_rungs=n_rungs, resources=resources,
                                   max_bins=bins, half=half, x=x("x0"), y_scale=y_scale,
                                   y_axis=y_axis))
    layers += idle_layers
    if pauses is not None:
        layers += _pause_layers(pauses, now=now, x=x("x0"))
    if barrier:
        layers.append({
            "data": {"name": jobs}, "name": f"{name}_holds",
            "transform": by_scheduler(scheduler) + [
                *calc(run=f"datum.start <= {now} && {now} < datum.end ? 1 : 0"),
                {"joinaggregate": [{"op": "sum", "field": "run", "as": "nrun"}]},
                {"filter": f"datum.run == 1 && datum.nrun < {int(n_workers)}"},
                *calc(nowx=now)],
            "mark": {"type": "point", "shape": "triangle-left", "filled": True,
                     "color": "#111", "size": 55, "opacity": 1},
            "encoding": {"x": x("nowx"), "y": y_mid,
                         "tooltip": [{"field": "trial_id", "type": "nominal",
                                      "title": "the barrier waits for trial"},
                                     {"field": "rung", "type": "ordinal"},
                                     {"field": "straggler", "type": "nominal"}]}})
    if now_rule:
        layers.append({"data": {"values": [{"_": 0}]}, "transform": calc(nowx=now),
                       "mark": {"type": "rule", "color": "#333", "strokeDash": [4, 3],
                                "strokeWidth": 1},
                       "encoding": {"x": x("nowx")}})
    return layers


def worker_busy_chart(
    *,
    dataset: str = "jobs",
    now: str = "now",
    n_workers: int = 4,
    n_rungs: int = 1,
    resources: Sequence[float] | None = None,
    pauses: str | None = "pauses",
    width: int = 760,
    height: int | None = None,
    max_bins: int | None = None,
    title: str = "Worker timeline",
    subtitle: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """The dashboard's worker timeline: per worker and time slice, how busy the worker was.

    The time axis, from 0 to the parameter ``now``, is cut into equal slices (a power of two of
    seconds, so the slices stay put while the search runs, between about ``max_bins / 2`` and
    ``max_bins`` of them). In each worker's row and slice, coloured bars stand on the row's
    grey idle track; their height is the share of the slice the worker spent on jobs of each
    rung (stacked), so **the coloured area of a row is exactly its busy time**, whatever the
    jobs' lengths: a job shorter than a pixel still counts, and idle time between short jobs
    stays visible as grey instead of being blended away or eaten by borders. Long jobs fill
    whole slices and read as ordinary bars.

    The browser does the slicing (Vega transforms), so the data stay one row per job; the
    lanes come from the dataset ``workers`` (``worker, from, to``).

    Parameters
    ----------
    dataset
        Rows ``worker, rung, start, end, state`` (``state``: ``"done"``, ``"failed"``,
        ``"running"`` or ``"stuck"``; a missing ``end`` means "still running": drawn to
        ``now``). Running and stuck jobs are drawn in a lighter colour (mixed with white);
        failed and stuck ones red.
    now
        Name of the parameter holding the search's current time (declared by the caller).
    n_workers, n_rungs, resources
        Worker rows, rung colours and the legend's resource labels.
    pauses
        Name of a dataset of pauses (``start``, ``end``; no ``end``: paused now), or ``None``.
    max_bins
        Most slices across the axis (default: one per 2 pixels, at most 6,000 cells in all).
    """
    rows = max(1, int(n_workers))
    layers = worker_timeline(jobs=dataset, n_workers=rows, n_rungs=n_rungs, now=now,
                             style="sliced", lanes="workers", pauses=pauses,
                             resources=resources, width=width, max_bins=max_bins)
    # 20 pixels per row: row edges fall on whole pixels (crisp idle tracks)
    h = height if height is not None else (20 * rows if rows <= 21 else 420)
    title_: Any = {"text": title, "subtitle": subtitle} if subtitle else title
    return {"layer": layers, "width": width, "height": max(h, 40), "title": title_}


def worker_lanes_chart(
    jobs: Any = None,
    idle: Any = None,
    *,
    time: str | None = "t",
    time_value: float | None = None,
    scheduler: str | None = None,
    n_workers: int,
    horizon: float,
    n_rungs: int,
    synchronous: bool = False,
    jobs_dataset: str = "lesson_jobs",
    idle_dataset: str = "lesson_idle",
    title: str | None = "worker lanes",
    width: int = 460,
    lane_height: int | None = None,
    name: str = "lanes",
) -> dict[str, Any]:
    """The lesson's worker lanes: jobs as bars coloured by rung, idle time as grey bars
    labelled "idle" (short idle intervals: a dot, see :func:`~asha_nb.viz.data.label_idle`).

    Bars have no stroke, so the coloured area of a lane is its busy time (a job narrower than
    a pixel is drawn with partial coverage, never as white). Jobs grow while they run (their
    ``end`` is cut at the frame time); with ``synchronous`` a black triangle marks every running
    job while another worker waits for it (the barrier).

    Parameters
    ----------
    jobs, idle
        Rows of :func:`~asha_nb.viz.data.lesson_rows` and
        :func:`~asha_nb.viz.data.idle_intervals` (with a ``scheduler`` column when
        ``scheduler`` is given) to inline, or ``None`` to read the named datasets.
    time
        Name of the time parameter, or ``None`` for the final frame (``horizon``).
    time_value
        With ``time``: declare the parameter here with this value (a standalone chart);
        ``None`` leaves the declaration to the caller (:func:`~asha_nb.viz.lesson_chart`).

    Returns
    -------
    dict
        A Vega-Lite layer spec.
    """
    now = time if time is not None else repr(float(horizon))
    lane_h = lane_height or lane_height_for(n_workers)
    spec: dict[str, Any] = {
        "layer": worker_timeline(
            jobs=jobs_dataset, idle=idle_dataset, n_workers=n_workers, n_rungs=n_rungs,
            now=now, style="exact", horizon=horizon, scheduler=scheduler,
            barrier=synchronous and time is not None, now_rule=time is not None,
            width=width, lane_height=lane_h, name=name),
        "width": width,
        "height": lane_h * n_workers,
    }
    if title:
        spec["title"] = {"text": title, "fontSize": 11, "anchor": "start"}
    standalone = jobs is not None or idle is not None or (time is not None
                                                          and time_value is not None)
    if standalone:
        spec = {"$schema": SCHEMA, **spec, "config": {"view": {"stroke": None}}}
        if time is not None and time_value is not None:
            spec["params"] = [{"name": time, "value": float(time_value)}]
        idle_rows = (label_idle(to_records(idle), horizon=horizon, width=width,
                                lane_height=lane_h) if idle is not None else [])
        spec["datasets"] = {jobs_dataset: to_records(jobs) if jobs is not None else [],
                            idle_dataset: idle_rows}
    return spec


def lane_height_for(n_workers: int) -> int:
    """The lesson's lane height in pixels: 16 for up to 13 workers, down to 7 for many."""
    return int(max(7, min(16, 220 // max(1, n_workers))))
