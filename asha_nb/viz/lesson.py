"""Chart specs of the sync-versus-async lesson (the promotion view): rung ladders, counters.

Shares the named-dataset conventions of :mod:`asha_nb.viz.charts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._common import RUNG_SCHEME, altair, base_chart, with_static
from .charts import timeline_chart

__all__ = ["rung_ladder_chart", "lesson_chart"]


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
    alt = altair()
    base = base_chart(alt, dataset, scheduler)
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
    return with_static(chart, dataset, data)


def _counters_chart(alt: Any, dataset: str, time: str, scheduler: str, n_workers: int,
                    top_rung: int, width: int) -> Any:
    """One text line of per-frame counters computed in the browser from the job rows."""
    base = (
        base_chart(alt, dataset, scheduler)
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
    alt = altair()
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
    return with_static(chart, dataset, data)
