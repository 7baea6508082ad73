"""Chart specs of the dashboard: worker timeline, learning curves, best-so-far.

Every chart reads a **named** dataset (``alt.Data(name=...)``) instead of inline values, so one
spec serves two renderers:

* live: :class:`asha_nb.widgets._vega.VegaStream` ships the spec once and then appends only new
  rows to the named datasets (``view.insert(name, rows)`` in the browser), replaces the small
  ones (running jobs) and sets the ``now`` parameter;
* static: :func:`with_data` inlines the rows as top-level ``datasets`` and vl-convert (or the
  offline HTML export) renders it.

What the pictures promise, and how they keep it:

* **worker timeline**: the coloured area of a worker's row is its busy time. Bars have no
  border (a border eats jobs narrower than itself), so a job covers exactly ``[start, end]``
  (anti-aliased below a pixel); running jobs are drawn to "now"; a timed-out job whose thread
  cannot be killed ("stuck") is drawn in red to "now"; idle time is a grey track.
* **best so far** is monotone by construction: each series is a running best (at any rung, or
  among results at the maximum resource), drawn as steps and continued to "now".
* axis domains come from the search: time from 0 to "now", resources from ``min_resource`` to
  ``max_resource`` with a tick at every rung.

Time-dependent views (the teaching animation) filter with an expression on a Vega-Lite
parameter whose *name* the caller passes as ``time``; the parameter itself is declared once at
the top level by the caller, so the same sub-charts can be concatenated without declaring the
parameter twice. The dashboard's ``now`` parameter is declared the same way
(:func:`dashboard_chart` does it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._common import (
    FAILED_COLOUR,
    IDLE_GREY,
    RUNG_SCHEME,
    altair,
    base_chart,
    rung_palette,
    theme_config,
    tint,
    to_records,
    with_data,
    with_static,
)

__all__ = [
    "RUNG_SCHEME",
    "DASHBOARD_DATASETS",
    "BEST_ANY",
    "best_at_max_label",
    "timeline_chart",
    "worker_busy_chart",
    "learning_curve_chart",
    "best_so_far_chart",
    "dashboard_chart",
    "with_data",
    "to_records",
]

#: Named datasets of :func:`dashboard_chart`: ``jobs`` (one row per job, with ``state``
#: ``done``/``failed``/``running``/``stuck``; finished jobs appended, running ones replaced on
#: every update), ``workers`` (one row per worker lane: ``worker``, ``from``, ``to``; a lane
#: added or removed by ``set_n_workers`` starts or ends then), ``pauses`` (every pause:
#: ``start``, ``end``; no ``end``: paused now),
#: ``results`` (values per trial and resource, appended), ``best`` (improvements of the
#: best-so-far series, appended), ``tail`` (the last value of each best-so-far series).
DASHBOARD_DATASETS = ("jobs", "workers", "pauses", "results", "best", "tail")
#: Name of the best-so-far series over every rung.
BEST_ANY = "best at any rung"
_BEST_COLOURS = ("#1f77b4", "#2ca02c")
_RUNNING_OPACITY = 0.55
_RUN = 1000  # colour keys of running jobs in the worker timeline start here


def best_at_max_label(max_resource: float) -> str:
    """Name of the best-so-far series among results at the maximum resource."""
    return f"best at max resource {max_resource:g}"


def _rung_colour_scale(alt: Any, n_rungs: int | None, resources: Sequence[float] | None) -> Any:
    if not n_rungs:
        return alt.Scale(scheme=RUNG_SCHEME, reverse=True)
    return alt.Scale(domain=list(range(n_rungs)), range=rung_palette(n_rungs))


def _rung_legend(alt: Any, n_rungs: int | None, resources: Sequence[float] | None) -> Any:
    if n_rungs and resources and len(resources) == n_rungs:
        labels = [f"{k} (resource {r:g})" for k, r in enumerate(resources)]
        return alt.Legend(title="rung", labelExpr=f"{labels!r}[datum.value]",
                          orient="right", symbolType="square")
    return alt.Legend(title="rung", orient="right", symbolType="square")


def timeline_chart(
    data: Any = None,
    *,
    dataset: str = "jobs",
    time: str | None = None,
    scheduler: str | None = None,
    x_max: float | None = None,
    n_workers: int | None = None,
    n_rungs: int | None = None,
    title: str = "Worker timeline",
    width: int = 460,
    height: int | None = None,
    now: str | None = None,
    live: str | None = None,
    workers: str | None = None,
    pauses: str | None = None,
    resources: Sequence[float] | None = None,
    subtitle: str | Sequence[str] | None = None,
) -> Any:
    """One row per worker, one borderless bar per job (``start`` to ``end``), coloured by rung.

    Parameters
    ----------
    data
        Rows with ``job_id, worker, trial_id, rung, resource, start, end`` (and optionally
        ``status``: failed and retried jobs are red). ``None``: the rows arrive later through
        the named ``dataset`` (live widgets).
    dataset
        Name of the dataset of (finished) jobs the chart reads.
    time
        Name of a Vega-Lite parameter holding the current time: jobs that start after it are
        hidden and running ones are cut at it (an animation frame). Declared by the caller.
    scheduler
        Keep only rows whose ``scheduler`` column equals this (lesson chart).
    x_max, n_workers, n_rungs
        Fix the time axis, the worker rows and the rung colour domain so that frames do not
        rescale.
    now
        Name of a parameter holding the search's current time (declared by the caller): the
        time axis runs from 0 to it, and running jobs, idle tracks and the pause end at it.
    live
        Name of a dataset of running jobs (``end`` ignored: drawn to ``now``; ``stuck`` true
        for a timed-out job whose worker is still busy: red). Needs ``now``.
    workers
        Name of a dataset with one row per worker slot (``worker``): a grey idle track from 0
        to ``now`` under its jobs. Needs ``now``.
    pauses
        Name of a dataset of pauses (``start``, ``end``; a missing ``end`` means "still
        paused": drawn to ``now``).
    resources
        The resource of each rung (legend labels).
    subtitle
        A line (or lines) under the title.
    """
    alt = altair()
    if (live or workers) and not now:
        raise ValueError("timeline_chart: live= and workers= need now= (the time parameter)")
    base = base_chart(alt, dataset, scheduler)
    if time is not None:
        base = base.transform_filter(f"datum.start < {time}").transform_calculate(
            shown_end=f"min(datum.end, {time})"
        )
    else:
        base = base.transform_calculate(shown_end="datum.end")
    base = base.transform_calculate(
        failed="datum.status == 'failed' || datum.status == 'retrying'",
        duration="datum.end - datum.start",
    )
    if now is not None:
        x_scale = alt.Scale(domain=[0, {"expr": now}], nice=False, zero=True)
    elif x_max:
        x_scale = alt.Scale(domain=[0, x_max], nice=False)
    else:
        x_scale = alt.Undefined
    y_scale = (alt.Scale(domain=list(range(n_workers)), paddingInner=0.2, paddingOuter=0.1)
               if n_workers else alt.Scale(paddingInner=0.2, paddingOuter=0.1))
    c_scale = _rung_colour_scale(alt, n_rungs, resources)
    x = alt.X("start:Q", title="time since the search started (s)", scale=x_scale,
              axis=alt.Axis(titlePadding=6))
    y = alt.Y("worker:O", title="worker", scale=y_scale, axis=alt.Axis(titlePadding=6))
    tooltip = [
        alt.Tooltip("trial_id:Q", title="trial"),
        alt.Tooltip("rung:O"),
        alt.Tooltip("resource:Q"),
        alt.Tooltip("start:Q", format=".3f"),
        alt.Tooltip("shown_end:Q", title="end", format=".3f"),
        alt.Tooltip("status:N"),
        alt.Tooltip("worker:O"),
    ]
    layers = []
    if workers is not None:
        track = (
            alt.Chart(alt.Data(name=workers))
            .transform_calculate(t0="0", t1=now)
            .mark_bar(color=IDLE_GREY, opacity=0.35, strokeWidth=0)
            .encode(x=alt.X("t0:Q", scale=x_scale, title="time since the search started (s)"),
                    x2="t1:Q", y=y, tooltip=[alt.Tooltip("worker:O", title="idle worker")])
        )
        layers.append(track)
    bar = dict(strokeWidth=0, cornerRadius=0, clip=now is not None)
    ok = base.transform_filter("!datum.failed").mark_bar(**bar).encode(
        x=x, x2="shown_end:Q", y=y,
        color=alt.Color("rung:O", scale=c_scale, legend=_rung_legend(alt, n_rungs, resources)),
        tooltip=tooltip,
    )
    failed = base.transform_filter("datum.failed").mark_bar(color=FAILED_COLOUR, **bar).encode(
        x=x, x2="shown_end:Q", y=y, tooltip=tooltip,
    )
    layers += [ok, failed]
    if live is not None:
        running = alt.Chart(alt.Data(name=live)).transform_calculate(
            shown_end=now, failed="datum.stuck == true")
        layers.append(running.transform_filter("!datum.failed").mark_bar(
            opacity=_RUNNING_OPACITY, **bar).encode(
            x=x, x2="shown_end:Q", y=y,
            color=alt.Color("rung:O", scale=c_scale, legend=None), tooltip=tooltip))
        layers.append(running.transform_filter("datum.failed").mark_bar(
            color=FAILED_COLOUR, opacity=_RUNNING_OPACITY, **bar).encode(
            x=x, x2="shown_end:Q", y=y, tooltip=tooltip))
    if pauses is not None:
        p = alt.Chart(alt.Data(name=pauses)).transform_calculate(
            shown_end=f"isValid(datum.end) ? datum.end : {now or 'datum.start'}")
        layers.append(p.mark_rect(color="#ff7f0e", opacity=0.18, clip=True).encode(
            x=alt.X("start:Q", scale=x_scale), x2="shown_end:Q",
            tooltip=[alt.Tooltip("start:Q", title="paused at", format=".2f")]))
        layers.append(p.mark_text(align="left", baseline="top", dx=3, dy=2, color="#ff7f0e",
                                  fontWeight="bold").encode(
            x=alt.X("start:Q", scale=x_scale), y=alt.value(0), text=alt.value("paused")))
    if time is not None:
        layers.append(
            alt.Chart(alt.Data(values=[{"_": 0}]))
            .transform_calculate(now=time)
            .mark_rule(color="#333", strokeDash=[4, 3])
            .encode(x=alt.X("now:Q", scale=x_scale))
        )
    h = height if height is not None else max(80, 16 * (n_workers or 6))
    title_ = alt.Title(title, subtitle=subtitle) if subtitle else title
    chart = alt.layer(*layers).properties(title=title_, width=width, height=h)
    return with_static(chart, dataset, data)


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

    The browser does the slicing (Vega transforms), so the data stay one row per job.

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
    if max_bins is None:
        max_bins = max(40, min(width // 2, 6000 // rows))
    half = 0.4  # a row fills [worker - 0.4, worker + 0.4] of the y scale
    # an explicit domain (not domainMin/domainMax): no extent is computed from the data, so
    # empty layers (no pause, no failed job) give no "Infinite extent" warning on each update
    x_scale = {"domain": [0, {"expr": now}], "nice": False, "zero": True}
    y_scale = {"domain": [-0.5, rows - 0.5], "reverse": True, "nice": False, "zero": False}
    time_title = "time since the search started (s)"
    x = {"field": "x0", "type": "quantitative", "scale": x_scale, "title": time_title}
    y_axis = {"values": list(range(rows)), "format": "d", "grid": False, "title": "worker",
              "titlePadding": 6, "tickCount": rows}
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
    # a worker's lane exists from ``from`` (0, or when set_n_workers added it) to ``to``
    # (when set_n_workers removed it; none: it still exists)
    track = {
        "name": "timeline_lanes",
        "data": {"name": "workers"},
        "transform": [{"calculate": "isValid(datum.from) ? datum.from : 0", "as": "x0"},
                      {"calculate": f"isValid(datum.to) ? min(datum.to, {now}) : {now}",
                       "as": "x1"},
                      {"filter": "datum.x1 > datum.x0"},
                      {"calculate": f"datum.worker - {half}", "as": "y0"},
                      {"calculate": f"datum.worker + {half}", "as": "y1"},
                      {"calculate": "'idle while it has no job; from ' + format(datum.x0, '.1f')"
                                    " + ' s' + (isValid(datum.to) ? ' to ' + "
                                    "format(datum.to, '.1f') + ' s (removed by set_n_workers)'"
                                    " : '')", "as": "lane"}],
        "mark": {"type": "rect", "color": IDLE_GREY, "opacity": 0.35, "strokeWidth": 0,
                 "clip": True},
        "encoding": {"x": x, "x2": {"field": "x1"},
                     "y": {"field": "y0", "type": "quantitative", "scale": y_scale,
                           "axis": y_axis},
                     "y2": {"field": "y1"},
                     "tooltip": [{"field": "worker", "type": "ordinal", "title": "worker"},
                                 {"field": "lane", "type": "nominal", "title": "lane"}]},
    }
    slices = {
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
    layers: list[dict[str, Any]] = [track, slices]
    if pauses is not None:
        p_tf = [{"calculate": f"isValid(datum.end) ? datum.end : {now}", "as": "x1"},
                {"calculate": "datum.start", "as": "x0"}]
        layers.append({
            "data": {"name": pauses}, "transform": p_tf,
            "mark": {"type": "rect", "fill": "#ff7f0e", "fillOpacity": 0.07, "stroke": "#ff7f0e",
                     "strokeOpacity": 0.9, "strokeWidth": 1, "strokeDash": [4, 3], "clip": True},
            "encoding": {"x": x, "x2": {"field": "x1"},
                         "tooltip": [{"field": "start", "type": "quantitative",
                                      "title": "paused at", "format": ".2f"}]}})
        layers.append({
            "data": {"name": pauses}, "transform": p_tf,
            "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 3, "dy": 2,
                     "color": "#ff7f0e", "fontWeight": "bold", "text": "paused"},
            "encoding": {"x": x, "y": {"value": 0}}})
    # 20 pixels per row: row edges fall on whole pixels (crisp idle tracks)
    h = height if height is not None else (20 * rows if rows <= 21 else 420)
    title_: Any = {"text": title, "subtitle": subtitle} if subtitle else title
    return {"layer": layers, "width": width, "height": max(h, 40), "title": title_}


def learning_curve_chart(
    data: Any = None,
    *,
    dataset: str = "results",
    log_x: bool = True,
    mode: str = "max",
    title: str = "Learning curves",
    width: int = 380,
    height: int = 220,
    resources: Sequence[float] | None = None,
    subtitle: str | Sequence[str] | None = None,
) -> Any:
    """Value against resource, one line per trial; trials promoted past rung 0 highlighted.

    Parameters
    ----------
    data
        Rows with ``trial_id, rung, resource, value`` (one per recorded result; ``rung`` -1
        for values a trial reported while it ran), or ``None`` for a live named dataset.
        Whether a trial was promoted is computed in the chart (its highest rung > 0), so
        appending rows later updates the highlight.
    log_x
        Logarithmic resource axis (when the resources span a factor of 4 or more).
    resources
        The rung resources: the axis runs from the first to the last, with a tick at each (the
        search's ``min_resource`` to ``max_resource``, not a rounded "nice" range).
    """
    alt = altair()
    base = (
        alt.Chart(alt.Data(name=dataset))
        .transform_filter("isValid(datum.value) && isFinite(datum.value)")
        .transform_joinaggregate(max_rung="max(rung)", n_points="count()", groupby=["trial_id"])
        .transform_calculate(promoted="datum.max_rung > 0 ? 'promoted' : 'not promoted'")
    )
    if resources:
        lo, hi = float(min(resources)), float(max(resources))
        use_log = log_x and lo > 0 and hi / lo >= 4
        scale = alt.Scale(type="log" if use_log else "linear", domain=[lo, hi], nice=False,
                          zero=False)
        axis = alt.Axis(values=sorted({float(r) for r in resources}), format="~g",
                        grid=True)
    else:
        scale = alt.Scale(type="log") if log_x else alt.Undefined
        axis = alt.Axis(format="~g")
    x = alt.X("resource:Q", title="resource", scale=scale, axis=axis)
    y = alt.Y("value:Q", title=f"value ({'higher' if mode == 'max' else 'lower'} is better)",
              scale=alt.Scale(zero=False))
    color = alt.Color(
        "promoted:N",
        title=None,
        legend=alt.Legend(orient="bottom", direction="horizontal"),
        scale=alt.Scale(domain=["promoted", "not promoted"], range=["#ff7f0e", "#9e9e9e"]),
    )
    lines = base.transform_filter("datum.n_points > 1").mark_line(strokeWidth=1.2).encode(
        x=x, y=y, detail="trial_id:N", color=color, order="resource:Q",
        opacity=alt.condition("datum.max_rung > 0", alt.value(0.95), alt.value(0.35)),
    )
    points = base.mark_circle(size=20).encode(
        x=x, y=y, color=color,
        opacity=alt.condition("datum.max_rung > 0", alt.value(0.95), alt.value(0.5)),
        tooltip=[alt.Tooltip("trial_id:Q", title="trial"), "rung:O", "resource:Q",
                 alt.Tooltip("value:Q", format=".4f")],
    )
    title_ = alt.Title(title, subtitle=subtitle) if subtitle else title
    chart = alt.layer(lines, points).properties(title=title_, width=width, height=height)
    return with_static(chart, dataset, data)


def best_so_far_chart(
    data: Any = None,
    *,
    dataset: str = "best",
    time: str | None = None,
    scheduler: str | None = None,
    mode: str = "max",
    title: str = "Best so far",
    width: int = 380,
    height: int = 220,
    now: str | None = None,
    tail: str | None = None,
    series: Sequence[str] | None = None,
    subtitle: str | Sequence[str] | None = None,
) -> Any:
    """Running best values over time, as steps; ``data`` rows ``time, value, trial_id`` (and
    ``series`` naming the running best each row belongs to).

    Parameters
    ----------
    now
        Name of a parameter holding the current time (declared by the caller): the time axis
        runs from 0 to it.
    tail
        Name of a dataset with the last row of each series (``series, time, value``): a line
        continues it from its last improvement to ``now`` (needs ``now``).
    series
        The series names, in legend order (colours are fixed by this order).
    """
    alt = altair()
    if tail is not None and now is None:
        raise ValueError("best_so_far_chart: tail= needs now= (the time parameter)")
    base = base_chart(alt, dataset, scheduler)
    if time is not None:
        base = base.transform_filter(f"datum.time <= {time}")
    better = "higher" if mode == "max" else "lower"
    x_scale = (alt.Scale(domain=[0, {"expr": now}], nice=False, zero=True)
               if now is not None else alt.Scale(zero=True))
    x = alt.X("time:Q", title="time since the search started (s)", scale=x_scale)
    y = alt.Y("value:Q", title=f"best value ({better} is better)", scale=alt.Scale(zero=False))
    if series:
        names = list(series)
        color: Any = alt.Color("series:N", title=None, scale=alt.Scale(
            domain=names, range=list(_BEST_COLOURS[:len(names)])),
            legend=alt.Legend(orient="bottom", direction="vertical"))
    else:
        color = alt.value(_BEST_COLOURS[0])
    tooltip = [alt.Tooltip("series:N"), alt.Tooltip("trial_id:Q", title="trial"),
               alt.Tooltip("value:Q", format=".4f"), alt.Tooltip("resource:Q"),
               alt.Tooltip("time:Q", format=".2f")]
    clip = now is not None
    line = base.mark_line(interpolate="step-after", strokeWidth=1.8, clip=clip).encode(
        x=x, y=y, color=color, detail="series:N")
    pts = base.mark_circle(size=28, clip=clip).encode(x=x, y=y, color=color, tooltip=tooltip)
    layers = [line, pts]
    if tail is not None:
        layers.append(
            alt.Chart(alt.Data(name=tail)).transform_calculate(t1=now)
            .mark_rule(strokeWidth=1.8, clip=True).encode(x=x, x2="t1:Q", y=y, color=color)
        )
    title_ = alt.Title(title, subtitle=subtitle) if subtitle else title
    chart = alt.layer(*layers).properties(title=title_, width=width, height=height)
    return with_static(chart, dataset, data)


def dashboard_chart(
    *,
    mode: str = "max",
    n_workers: int = 4,
    resources: Sequence[float] = (),
    n_rungs: int | None = None,
    max_resource: float | None = None,
    width: int = 720,
    ink: str | None = None,
    background: str | None = None,
    now: float = 0.0,
) -> dict[str, Any]:
    """The dashboard's charts as one Vega-Lite dict: learning curves and best-so-far side by
    side, the worker timeline below, all reading the :data:`DASHBOARD_DATASETS`.

    Parameters
    ----------
    mode
        ``"max"`` or ``"min"`` (axis titles say which way is better).
    n_workers
        Worker rows of the timeline.
    resources
        Rung resources (all brackets): the learning curves' axis and the legend's labels.
    n_rungs
        Number of rung colours (default: the number of ``resources``).
    max_resource
        The search's maximum resource (names the "best at max resource" series).
    width
        Width of the timeline's plot area in pixels (the two charts above share it).
    ink, background
        Text colour and background (default ``currentColor`` and transparent: the charts
        follow the page's theme; pass explicit colours for PNG output).
    now
        Initial value of the ``now`` parameter (the time axis' end).
    """
    alt = altair()
    res = sorted({float(r) for r in resources})
    n_rungs = n_rungs or max(1, len(res))
    top = max_resource if max_resource is not None else (res[-1] if res else None)
    series = [BEST_ANY] + ([best_at_max_label(top)] if top is not None else [])
    half = (width - 120) // 2
    curves = learning_curve_chart(
        mode=mode, width=half, height=190, resources=res or None,
        title="Learning curves", subtitle="value at each resource; promoted trials in orange")
    best = best_so_far_chart(
        mode=mode, width=half, height=190, now="now", tail="tail", series=series,
        title="Best value so far", subtitle="running best: it never gets worse")
    timeline = worker_busy_chart(
        width=width, n_workers=n_workers, n_rungs=n_rungs,
        resources=res if len(res) == n_rungs else None, title="Worker timeline",
        subtitle=["coloured height in a time slice = share of it the worker was busy "
                  "(lighter: running now; red: failed or timed out) · grey: idle"])
    upper = alt.hconcat(curves, best, spacing=60).resolve_scale(color="independent").to_dict()
    upper.pop("$schema", None)
    spec = {"$schema": upper.get("$schema", "https://vega.github.io/schema/vega-lite/v6.json"),
            "vconcat": [upper, timeline], "spacing": 24,
            "resolve": {"scale": {"color": "independent"}}}
    spec["params"] = [{"name": "now", "value": float(now)}]
    spec["config"] = theme_config(ink or "currentColor", background)
    spec["padding"] = {"left": 8, "right": 8, "top": 6, "bottom": 6}
    # lay out again on every update: y labels that grow (negative values arriving after the
    # first, empty picture) must push the chart right, not be clipped at its left edge
    spec["autosize"] = {"type": "pad", "resize": True}
    return spec
