"""Chart specs of the dashboard: learning curves, best-so-far, and the whole dashboard chart
(with the worker timeline of :mod:`asha_nb.viz.timeline`).

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
    RUNG_SCHEME,
    altair,
    base_chart,
    theme_config,
    to_records,
    with_data,
    with_static,
)
from .timeline import worker_busy_chart

__all__ = [
    "RUNG_SCHEME",
    "DASHBOARD_DATASETS",
    "BEST_ANY",
    "best_at_max_label",
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


def best_at_max_label(max_resource: float) -> str:
    """Name of the best-so-far series among results at the maximum resource."""
    return f"best at max resource {max_resource:g}"


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
