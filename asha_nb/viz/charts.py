"""Chart specs of asha_nb: timelines, learning curves, best-so-far, rung ladders, the lesson.

Every chart reads a **named** dataset (``alt.Data(name=...)``) instead of inline values, so one
spec serves two renderers:

* live: :class:`asha_nb.widgets._vega.VegaStream` ships the spec once and then appends only new
  rows to the named datasets (``view.insert(name, rows)`` in the browser);
* static: :func:`with_data` inlines the rows as top-level ``datasets`` and vl-convert (or the
  offline HTML export) renders it.

Time-dependent views (the teaching animation) filter with an expression on a Vega-Lite
parameter whose *name* the caller passes as ``time``; the parameter itself is declared once at
the top level by the caller (:func:`lesson_chart` does it), so the same sub-charts can be
concatenated without declaring the parameter twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "RUNG_SCHEME",
    "timeline_chart",
    "learning_curve_chart",
    "best_so_far_chart",
    "rung_ladder_chart",
    "lesson_chart",
    "with_data",
    "to_records",
]

#: Colour scheme of rungs (rung 0 light, top rung dark), used by every chart.
RUNG_SCHEME = "viridis"
_FAILED = "#d62728"


def _alt() -> Any:
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from ..errors import MissingExtraError

        raise MissingExtraError("widgets", "altair") from exc
    return alt


def _clean(v: Any) -> Any:
    """JSON-safe scalar: NaN/inf -> None, numpy scalars -> Python."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (AttributeError, ValueError):
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def to_records(data: Any, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Turn a dict of equal-length columns, a DataFrame or an iterable of dicts into rows.

    Values are made JSON-safe (NaN and infinities become ``None``); ``columns`` keeps only
    those keys (missing ones become ``None``).

    Examples
    --------
    >>> to_records({"a": [1, 2], "b": [0.5, float("nan")]})
    [{'a': 1, 'b': 0.5}, {'a': 2, 'b': None}]
    """
    if data is None:
        return []
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas DataFrame
        rows: Iterable[Mapping[str, Any]] = data.to_dict(orient="records")
    elif isinstance(data, Mapping):
        keys = list(data)
        n = len(data[keys[0]]) if keys else 0
        rows = ({k: data[k][i] for k in keys} for i in range(n))
    else:
        rows = data
    if columns is None:
        return [{k: _clean(v) for k, v in r.items()} for r in rows]
    return [{k: _clean(r.get(k)) for k in columns} for r in rows]


def with_data(chart: Any, datasets: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's Vega-Lite dict with the named ``datasets`` inlined (for static rendering).

    Parameters
    ----------
    chart
        An altair chart (or an already converted Vega-Lite dict) built by this module.
    datasets
        ``{dataset name: rows}``; rows in any form :func:`to_records` accepts.
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    spec = dict(spec)
    merged = dict(spec.get("datasets") or {})
    for name, rows in datasets.items():
        merged[name] = to_records(rows)
    spec["datasets"] = merged
    return spec


def _with_static(chart: Any, dataset: str, data: Any) -> Any:
    """Attach ``data`` as the top-level named ``dataset`` of ``chart`` (when given)."""
    if data is None:
        return chart
    chart = chart.copy(deep=False)
    existing = chart.datasets if isinstance(chart.datasets, dict) else {}
    chart.datasets = {**existing, dataset: to_records(data)}
    return chart


def _base(alt: Any, dataset: str, scheduler: str | None) -> Any:
    base = alt.Chart(alt.Data(name=dataset))
    if scheduler is not None:
        base = base.transform_filter(alt.datum.scheduler == scheduler)
    return base


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
    alt = _alt()
    base = _base(alt, dataset, scheduler)
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
        stroke=alt.condition("datum.failed", alt.value(_FAILED), alt.value("white")),
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
    return _with_static(chart, dataset, data)


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
    alt = _alt()
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
    return _with_static(chart, dataset, data)


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
    alt = _alt()
    base = _base(alt, dataset, scheduler)
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
    return _with_static(chart, dataset, data)


def rung_ladder_chart(
    data: Any = None,
    *,
    dataset: str = "jobs",
    time: str | None = None,
    scheduler: str | None = None,
    x_max: float | None = None,
    n_rungs: int | None = None,
    title: str = "Rungs",
    width: int = 200,
    height: int = 140,
) -> Any:
    """A ladder: one horizontal bar per rung (top rung on top) counting its jobs.

    Solid = finished by ``time``, light = running at ``time`` (a running job in rung k > 0 is
    a promotion happening). Reads the same job rows as :func:`timeline_chart`.
    """
    alt = _alt()
    base = _base(alt, dataset, scheduler)
    if time is not None:
        base = base.transform_calculate(
            phase=f"datum.end <= {time} ? 'finished' : (datum.start < {time} ? 'running' : 'later')"
        ).transform_filter("datum.phase != 'later'")
    else:
        base = base.transform_calculate(phase="'finished'")
    base = base.transform_calculate(label="'rung ' + datum.rung + ' (r=' + datum.resource + ')'")
    c_scale = (
        alt.Scale(scheme=RUNG_SCHEME, domain=list(range(n_rungs)))
        if n_rungs
        else alt.Scale(scheme=RUNG_SCHEME)
    )
    bars = base.mark_bar().encode(
        y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("rung", order="descending")),
        x=alt.X("count():Q", title="jobs",
                scale=alt.Scale(domain=[0, x_max]) if x_max else alt.Undefined),
        color=alt.Color("rung:O", title="rung", scale=c_scale),
        opacity=alt.Opacity("phase:N", scale=alt.Scale(domain=["finished", "running"],
                                                         range=[1.0, 0.4]), legend=None),
        order=alt.Order("phase:N", sort="ascending"),
        tooltip=["label:N", "phase:N", alt.Tooltip("count():Q", title="jobs")],
    )
    chart = bars.properties(title=title, width=width, height=height)
    return _with_static(chart, dataset, data)


def _counters_chart(alt: Any, dataset: str, time: str, scheduler: str, n_workers: int,
                    top_rung: int, width: int) -> Any:
    """One text line of per-frame counters computed in the browser from the job rows."""
    base = (
        _base(alt, dataset, scheduler)
        .transform_filter(f"datum.start < {time}")
        .transform_calculate(
            busy=f"min(datum.end, {time}) - datum.start",
            done=f"datum.end <= {time} ? 1 : 0",
            evaluated=f"datum.end <= {time} && datum.rung == 0 ? 1 : 0",
            top=f"datum.end <= {time} && datum.rung == {top_rung} ? 1 : 0",
        )
        .transform_aggregate(busy="sum(busy)", done="sum(done)", evaluated="sum(evaluated)",
                             top="sum(top)")
        .transform_calculate(
            text=(
                f"'t = ' + format({time}, '.1f') + '   busy ' + format(datum.busy / "
                f"max(1e-9, {n_workers} * {time}), '.0%') + '   idle worker-time ' + "
                f"format({n_workers} * {time} - datum.busy, '.1f') + '   configs evaluated ' + "
                "datum.evaluated + '   at max resource ' + datum.top"
            )
        )
    )
    return base.mark_text(align="left", baseline="middle", fontSize=12, x=0).encode(
        text="text:N"
    ).properties(width=width, height=18)


def lesson_chart(
    data: Any = None,
    *,
    dataset: str = "lesson",
    schedulers: Sequence[str] = ("SHA", "ASHA"),
    n_workers: Mapping[str, int] | int = 10,
    n_rungs: int = 4,
    x_max: float | None = None,
    ladder_max: float | None = None,
    time_value: float | None = None,
    time_name: str = "t",
    bind_slider: bool = False,
    width: int = 520,
) -> Any:
    """The sync-versus-async lesson: per scheduler a worker timeline, a rung ladder and counters.

    All panels read one dataset (job rows with a ``scheduler`` column) and filter on the
    ``time_name`` parameter, declared here once; moving it (a slider, a Play button, or
    ``view.signal(time_name, t)``) animates the chart without re-sending any data.

    Parameters
    ----------
    data
        Job rows (timeline columns plus ``scheduler``), or ``None`` for a live dataset.
    n_workers
        Workers per scheduler (one int for all).
    x_max
        Time horizon (the longest makespan); also the parameter's initial value unless
        ``time_value`` is given.
    bind_slider
        Bind the parameter to an HTML range slider (for standalone HTML).
    """
    alt = _alt()
    horizon = float(x_max) if x_max else 1.0
    bind = (
        alt.binding_range(min=0, max=horizon, step=horizon / 200, name="time ")
        if bind_slider
        else alt.Undefined
    )
    t = alt.param(name=time_name, value=horizon if time_value is None else time_value, bind=bind)
    rows = []
    for s in schedulers:
        nw = n_workers if isinstance(n_workers, int) else n_workers[s]
        tl = timeline_chart(dataset=dataset, time=time_name, scheduler=s, x_max=x_max,
                            n_workers=nw, n_rungs=n_rungs, title=f"{s}: worker timeline",
                            width=width)
        ladder = rung_ladder_chart(dataset=dataset, time=time_name, scheduler=s,
                                   x_max=ladder_max, n_rungs=n_rungs, title=f"{s}: rung ladder",
                                   height=max(80, 16 * nw))
        counters = _counters_chart(alt, dataset, time_name, s, nw, n_rungs - 1, width)
        rows.append(alt.vconcat(alt.hconcat(tl, ladder), counters, spacing=4))
    chart = alt.vconcat(*rows, spacing=18).add_params(t).resolve_scale(color="shared")
    return _with_static(chart, dataset, data)
