"""Chart specs of the dashboard: worker timeline, learning curves, best-so-far.

Every chart reads a **named** dataset (``alt.Data(name=...)``) instead of inline values, so one
spec serves two renderers:

* live: :class:`asha_nb.widgets._vega.VegaStream` ships the spec once and then appends only new
  rows to the named datasets (``view.insert(name, rows)`` in the browser);
* static: :func:`with_data` inlines the rows as top-level ``datasets`` and vl-convert (or the
  offline HTML export) renders it.

Time-dependent views (the teaching animation) filter with an expression on a Vega-Lite
parameter whose *name* the caller passes as ``time``; the parameter itself is declared once at
the top level by the caller (:func:`asha_nb.viz.lesson.lesson_chart` does it), so the same sub-charts
can be concatenated without declaring the parameter twice.
"""

from __future__ import annotations

from typing import Any

from ._common import (
    FAILED_COLOUR,
    RUNG_SCHEME,
    altair,
    base_chart,
    to_records,
    with_data,
    with_static,
)

__all__ = [
    "RUNG_SCHEME",
    "timeline_chart",
    "learning_curve_chart",
    "best_so_far_chart",
    "with_data",
    "to_records",
]


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
) -> Any:
    """One row per worker, one bar per job (``start`` to ``end``), coloured by rung.

    Parameters
    ----------
    data
        Rows with ``job_id, worker, trial_id, rung, resource, start, end`` (and optionally
        ``status``: failed jobs get a red outline; ``straggler``). ``None``: the rows arrive
        later through the named ``dataset`` (live widgets).
    dataset
        Name of the dataset the chart reads.
    time
        Name of a Vega-Lite parameter holding the current time: jobs that start after it are
        hidden and running ones are cut at it (an animation frame). Declared by the caller.
    scheduler
        Keep only rows whose ``scheduler`` column equals this (lesson chart).
    x_max, n_workers, n_rungs
        Fix the time axis, the worker rows and the rung colour domain so that frames do not
        rescale.
    """
    alt = altair()
    base = base_chart(alt, dataset, scheduler)
    if time is not None:
        base = base.transform_filter(f"datum.start < {time}").transform_calculate(
            shown_end=f"min(datum.end, {time})"
        )
    else:
        base = base.transform_calculate(shown_end="datum.end")
    base = base.transform_calculate(
        failed="datum.status == 'failed'",
        duration="datum.end - datum.start",
    )
    x_scale = alt.Scale(domain=[0, x_max], nice=False) if x_max else alt.Undefined
    y_scale = alt.Scale(domain=list(range(n_workers))) if n_workers else alt.Undefined
    c_scale = (
        alt.Scale(scheme=RUNG_SCHEME, domain=list(range(n_rungs)))
        if n_rungs
        else alt.Scale(scheme=RUNG_SCHEME)
    )
    bars = base.mark_bar(strokeWidth=1.5, cornerRadius=1).encode(
        x=alt.X("start:Q", title="time", scale=x_scale),
        x2="shown_end:Q",
        y=alt.Y("worker:O", title="worker", scale=y_scale),
        color=alt.Color("rung:O", title="rung", scale=c_scale),
        stroke=alt.condition("datum.failed", alt.value(FAILED_COLOUR), alt.value("white")),
        tooltip=[
            alt.Tooltip("trial_id:Q", title="trial"),
            alt.Tooltip("rung:O"),
            alt.Tooltip("resource:Q"),
            alt.Tooltip("start:Q", format=".2f"),
            alt.Tooltip("end:Q", format=".2f"),
            alt.Tooltip("worker:O"),
        ],
    )
    h = height if height is not None else max(80, 16 * (n_workers or 6))
    layers = [bars]
    if time is not None:
        now = (
            alt.Chart(alt.Data(values=[{"_": 0}]))
            .transform_calculate(now=time)
            .mark_rule(color="#333", strokeDash=[4, 3])
            .encode(x=alt.X("now:Q", scale=x_scale))
        )
        layers.append(now)
    chart = alt.layer(*layers).properties(title=title, width=width, height=h)
    return with_static(chart, dataset, data)


def learning_curve_chart(
    data: Any = None,
    *,
    dataset: str = "results",
    log_x: bool = True,
    mode: str = "max",
    title: str = "Learning curves",
    width: int = 380,
    height: int = 220,
) -> Any:
    """Value against resource, one line per trial; trials promoted past rung 0 highlighted.

    Parameters
    ----------
    data
        Rows with ``trial_id, rung, resource, value`` (one per recorded result), or ``None``
        for a live named dataset. Whether a trial was promoted is computed in the chart (its
        highest rung > 0), so appending rows later updates the highlight.
    """
    alt = altair()
    base = (
        alt.Chart(alt.Data(name=dataset))
        .transform_filter("isValid(datum.value) && isFinite(datum.value)")
        .transform_joinaggregate(max_rung="max(rung)", groupby=["trial_id"])
        .transform_calculate(promoted="datum.max_rung > 0 ? 'promoted' : 'not promoted'")
    )
    x = alt.X(
        "resource:Q",
        title="resource",
        scale=alt.Scale(type="log") if log_x else alt.Undefined,
    )
    y = alt.Y("value:Q", title=f"value ({'higher' if mode == 'max' else 'lower'} is better)",
              scale=alt.Scale(zero=False))
    color = alt.Color(
        "promoted:N",
        title=None,
        legend=alt.Legend(orient="top"),
        scale=alt.Scale(domain=["promoted", "not promoted"], range=["#ff7f0e", "#b0b0b0"]),
    )
    lines = base.mark_line(strokeWidth=1.2).encode(
        x=x, y=y, detail="trial_id:N", color=color, order="resource:Q",
        opacity=alt.condition("datum.max_rung > 0", alt.value(0.95), alt.value(0.35)),
    )
    points = base.mark_circle(size=22).encode(
        x=x, y=y, color=color,
        tooltip=[alt.Tooltip("trial_id:Q", title="trial"), "rung:O", "resource:Q",
                 alt.Tooltip("value:Q", format=".4f")],
    )
    chart = alt.layer(lines, points).properties(title=title, width=width, height=height)
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
) -> Any:
    """The incumbent's value over time (a step line); ``data`` rows ``time, value, trial_id``."""
    alt = altair()
    base = base_chart(alt, dataset, scheduler)
    if time is not None:
        base = base.transform_filter(f"datum.time <= {time}")
    enc = dict(
        x=alt.X("time:Q", title="time (s)"),
        y=alt.Y("value:Q", title="best value", scale=alt.Scale(zero=False)),
    )
    line = base.mark_line(interpolate="step-after", color="#1f77b4").encode(**enc)
    pts = base.mark_circle(size=30, color="#1f77b4").encode(
        **enc,
        tooltip=[alt.Tooltip("trial_id:Q", title="trial"), alt.Tooltip("value:Q", format=".4f"),
                 alt.Tooltip("time:Q", format=".2f")],
    )
    chart = alt.layer(line, pts).properties(title=title, width=width, height=height)
    return with_static(chart, dataset, data)
