"""The sync-versus-async lesson (the promotion view): data preparation and chart specs.

Everything here is a pure function of job rows (the simulator's ``timeline`` or a search's
``results()``): :func:`lesson_rows` derives, per job, where and when its mark appears in the rung
shelves (promotion time, position by value, when its trial is promoted out), the idle intervals
of every worker, and the promotion events; :func:`frame_counters` computes the counters of one
frame; :func:`lesson_chart` builds the Vega-Lite chart that draws one frame for the value of a
time parameter ``t`` (the browser moves ``t``; no data is re-sent). The chart computes its
counters from the same rows with the same definitions as :func:`frame_counters`, so what is
written on screen belongs to the frame on screen.

The picture, per scheduler:

* **rung shelves**: one row per rung (rung 0 at the bottom, labelled with its resource); every
  configuration with a result in the rung is a filled mark placed by its value (better to the
  right); a job running toward a rung is a hollow mark (new configurations on the left,
  promoted ones above their mark of the rung below); the rung's current top-1/eta cutoff is a
  dashed line; a promotion is a mark climbing to the next shelf over a few frames; a promoted
  configuration keeps an orange ring on the lower shelf.
* **worker lanes**: one lane per worker; a job is a bar coloured by rung that grows while it
  runs; idle time is a grey bar labelled "idle" (no borders: the coloured area of a lane is its
  busy time); the jobs a synchronous barrier waits for are marked with a black triangle.
* **counters** of the frame: busy share and idle worker-time so far, configurations evaluated,
  jobs finished, first configuration at the maximum resource, busy workers now, what the barrier
  waits for, the last promotion.

Rung colours follow :data:`~asha_nb.viz.RUNG_SCHEME` with rung 0 light and the top rung dark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._common import rung_palette, to_records

__all__ = [
    "IDLE_COLOUR",
    "PROMOTED_COLOUR",
    "CUTOFF_COLOUR",
    "lesson_rows",
    "value_ranges",
    "promotions",
    "promotion_log",
    "placeholder_rows",
    "idle_intervals",
    "frame_counters",
    "format_counters",
    "COUNTER_LABELS",
    "rung_colours",
    "worker_lanes_chart",
    "rung_ladder_chart",
    "lesson_chart",
]

#: Idle time in the worker lanes: a neutral grey no rung colour resembles.
IDLE_COLOUR = "#bdbdbd"
#: Ring of a configuration promoted out of a rung, and of a mark climbing to the next rung.
PROMOTED_COLOUR = "#e6550d"
#: The rung's top-1/eta cutoff line.
CUTOFF_COLOUR = "#b2182b"
_NEVER = 1e12  # "never happens" (Vega-Lite expressions have no infinity literal)
_UNITS = 1e6  # busy time is summed in integer micro-units: exact, in Python and in Vega
_PEN = (-0.21, -0.05)  # x range of running rung-0 jobs (new configurations)
_X_DOMAIN = (-0.25, 1.03)


# ---------------------------------------------------------------------- data
def _jitter(trial_id: Any) -> float:
    """A fixed vertical offset in [-0.27, 0.27] per trial (so a climb is a straight line)."""
    h = (int(trial_id) * 2654435761) % 4294967296 if isinstance(trial_id, int) else hash(trial_id)
    return round(((h % 1000) / 999.0 - 0.5) * 0.54, 4)


def idle_intervals(rows: Sequence[Mapping[str, Any]], n_workers: int, horizon: float,
                   eps: float = 1e-9) -> list[dict[str, Any]]:
    """Idle intervals ``{worker, start, end}`` of each worker over ``[0, horizon]``.

    A worker is idle where none of its jobs runs (jobs of one worker may overlap, e.g. batched
    trials; their union is its busy time). Job rows need ``worker, start, end``.
    """
    by_worker: dict[int, list[tuple[float, float]]] = {w: [] for w in range(n_workers)}
    for r in rows:
        by_worker.setdefault(int(r["worker"]), []).append((float(r["start"]), float(r["end"])))
    out = []
    for w in sorted(by_worker):
        cursor = 0.0
        for s, e in sorted(by_worker[w]):
            if s >= horizon:
                break
            if s > cursor + eps:
                out.append({"worker": w, "start": cursor, "end": s})
            cursor = max(cursor, e)
        if cursor < horizon - eps:
            out.append({"worker": w, "start": cursor, "end": horizon})
    return out


def lesson_rows(
    rows: Sequence[Mapping[str, Any]] | Any,
    *,
    horizon: float,
    n_workers: int,
    synchronous: bool,
    mode: str = "max",
    top_resource: float | None = None,
    value_range: Mapping[int, tuple[float, float]] | None = None,
) -> list[dict[str, Any]]:
    """Job rows of one scheduler, with what the lesson chart needs to draw them.

    Parameters
    ----------
    rows
        Job rows (``job_id, worker, trial_id, rung, resource, start, end, value``; optional
        ``bracket, straggler``) in any form :func:`~asha_nb.viz.to_records` accepts. Jobs that
        start after ``horizon`` are dropped; jobs still running at ``horizon`` keep their
        true ``end`` (they are drawn running, and counted busy up to the frame time).
    horizon
        The last frame's time.
    n_workers
        Workers of the run (the pen position of a new configuration's mark uses its worker).
    synchronous
        ``True`` for synchronous SHA: every promotion out of rung k happens when the last job
        of rung k (in its bracket) ends (the barrier opens). ``False`` (ASHA, pull-based): a
        job at rung k + 1 starting *is* the promotion.
    mode
        ``"max"`` or ``"min"``: better values are placed to the right.
    top_resource
        The maximum resource (default: the largest resource in ``rows``).
    value_range
        ``{rung: (low, high)}`` to place values by (default: the range of ``rows``); pass the
        same ranges to panels that should be comparable.

    Returns
    -------
    list of dict
        One row per job, sorted by start, with the input columns plus: ``promo`` (when the
        mark appears on its shelf), ``px0`` (its x while running: the pen for rung 0, the
        trial's x one rung below otherwise), ``px`` (x of its value, 0 = worst, 1 = best;
        ``None`` without a value), ``jit`` (vertical offset), ``out`` (when the trial is
        promoted out of this rung; ``1e12`` if never), ``first0`` (the trial's first finished
        rung-0 job), ``at_top`` (a job at the maximum resource).
    """
    recs = [dict(r) for r in to_records(rows)
            if r.get("start") is not None and r.get("end") is not None
            and float(r["start"]) <= horizon]
    for r in recs:
        r["rung"] = int(r["rung"])
        r["worker"] = int(r.get("worker") or 0)
        r["start"], r["end"] = float(r["start"]), float(r["end"])
        r["bracket"] = int(r.get("bracket") or 0)
        r["straggler"] = bool(r.get("straggler") or False)
        v = r.get("value")
        r["value"] = None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v
    recs.sort(key=lambda r: (r["start"], r["worker"], r.get("job_id") or 0))
    if top_resource is None:
        top_resource = max((float(r["resource"]) for r in recs), default=0.0)
    sign = 1.0 if mode == "max" else -1.0
    if value_range is None:
        value_range = value_ranges([recs])
    # position of each value in its rung
    for r in recs:
        lo, hi = value_range.get(r["rung"], (0.0, 1.0))
        if r["value"] is None:
            r["px"] = None
        elif hi > lo:
            x = (float(r["value"]) - lo) / (hi - lo)
            r["px"] = round(min(1.0, max(0.0, x if sign > 0 else 1.0 - x)), 5)
        else:
            r["px"] = 0.5
    # barrier times of synchronous SHA: last end of each (bracket, rung)
    barrier: dict[tuple[int, int], float] = {}
    for r in recs:
        key = (r["bracket"], r["rung"])
        barrier[key] = max(barrier.get(key, 0.0), r["end"])
    by_trial: dict[Any, dict[int, dict[str, Any]]] = {}
    for r in recs:  # the latest job of a trial at a rung (a retried job replaces a failed one)
        by_trial.setdefault(r["trial_id"], {})[r["rung"]] = r
    first0: dict[Any, dict[str, Any]] = {}
    for r in recs:
        if r["rung"] == 0 and r["value"] is not None:
            f = first0.get(r["trial_id"])
            if f is None or r["end"] < f["end"]:
                first0[r["trial_id"]] = r
    pen_lo, pen_hi = _PEN
    for r in recs:
        k = r["rung"]
        below = by_trial[r["trial_id"]].get(k - 1) if k > 0 else None
        r["climb"] = below is not None
        if below is None:
            r["promo"] = r["start"]
            r["px0"] = round(pen_lo + (pen_hi - pen_lo) * (r["worker"] % max(1, n_workers))
                             / max(1, n_workers - 1), 5)
        else:
            r["promo"] = (barrier.get((r["bracket"], k - 1), r["start"]) if synchronous
                          else r["start"])
            r["promo"] = min(r["promo"], r["start"])
            r["px0"] = below["px"] if below["px"] is not None else 0.5
        r["jit"] = _jitter(r["trial_id"])
        r["first0"] = first0.get(r["trial_id"]) is r
        r["at_top"] = float(r["resource"]) >= float(top_resource) - 1e-12
        r["out"] = _NEVER
    for r in recs:
        if r["rung"] > 0:
            below = by_trial[r["trial_id"]].get(r["rung"] - 1)
            if below is not None:
                below["out"] = min(below["out"], r["promo"])
    return recs


def value_ranges(panels: Sequence[Sequence[Mapping[str, Any]]]) -> dict[int, tuple[float, float]]:
    """``{rung: (lowest, highest value)}`` over the rows of all ``panels``."""
    out: dict[int, tuple[float, float]] = {}
    for rows in panels:
        for r in rows:
            v = r.get("value")
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                continue
            k = int(r["rung"])
            lo, hi = out.get(k, (float(v), float(v)))
            out[k] = (min(lo, float(v)), max(hi, float(v)))
    return out


def promotions(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The promotions in lesson rows: ``{time, trial_id, from_rung, to_rung}`` sorted by time."""
    out = [{"time": r["promo"], "trial_id": r["trial_id"], "from_rung": r["rung"] - 1,
            "to_rung": r["rung"]} for r in rows if r.get("climb")]
    out.sort(key=lambda p: (p["time"], p["trial_id"]))
    return out


def promotion_log(rows: Sequence[Mapping[str, Any]], *, reduction_factor: int,
                  mode: str = "max", synchronous: bool = False) -> list[dict[str, Any]]:
    """Every promotion with what it beat: ``{time, trial_id, from_rung, to_rung, value,
    cutoff, n_results}`` sorted by time (then trial).

    ``value`` is the trial's result in ``from_rung``; ``cutoff`` the rung's top-1/eta cutoff
    the promotion was decided against: the worst value inside the top ``floor(n / eta)`` of
    the ``n_results`` results of the rung (in the trial's bracket) recorded by then (``None``
    when ``n_results < eta``). Synchronous SHA decides at the barrier, on every result of the
    rung; ASHA when a worker asks for a job: on the results that ended before, and those that
    ended at the same time on workers up to the asking one (the simulator breaks ties in time
    by worker number).
    """
    eta = max(2, int(reduction_factor))
    sign = 1.0 if mode == "max" else -1.0
    by_rung: dict[tuple[int, int], list[tuple[float, int, float]]] = {}
    below: dict[tuple[Any, int], Mapping[str, Any]] = {}
    for r in rows:
        if r.get("value") is not None:
            by_rung.setdefault((int(r.get("bracket") or 0), int(r["rung"])), []).append(
                (float(r["end"]), int(r.get("worker") or 0), float(r["value"])))
        below[(r["trial_id"], int(r["rung"]))] = r
    out = []
    for r in rows:
        if not r.get("climb"):
            continue
        k = int(r["rung"]) - 1
        p = float(r["promo"])
        w = int(r.get("worker") or 0)
        src = below.get((r["trial_id"], k))
        bracket = int(r.get("bracket") or 0)
        done = sorted((v for e, wk, v in by_rung.get((bracket, k), ())
                       if e < p or (e == p and (synchronous or wk <= w))),
                      key=lambda v: -sign * v)
        m = len(done) // eta
        out.append({"time": p, "trial_id": r["trial_id"], "from_rung": k, "to_rung": k + 1,
                    "value": None if src is None else src.get("value"),
                    "cutoff": done[m - 1] if m >= 1 else None, "n_results": len(done)})
    out.sort(key=lambda q: (q["time"], q["trial_id"]))
    return out


# ------------------------------------------------------------------ counters
def frame_counters(rows: Sequence[Mapping[str, Any]], n_workers: int, time: float) -> dict[str, Any]:
    """The counters of one scheduler at frame ``time`` (what the chart writes on screen).

    Parameters
    ----------
    rows
        Lesson rows of one scheduler (:func:`lesson_rows`).

    Returns
    -------
    dict
        ``time``, ``workers``, ``busy_time`` (worker-seconds in ``[0, time]``, running jobs
        up to ``time``), ``idle_time``, ``utilization`` (``None`` at time 0),
        ``configs_evaluated`` (trials with a finished rung-0 job), ``jobs`` (jobs finished),
        ``time_to_max_resource`` (first end of a job at the maximum resource, ``None`` before
        it), ``busy_workers`` (jobs running at ``time``), ``waiting_rung`` (highest rung of a
        running job, ``None`` if none), ``running_stragglers``, ``last_promotion``
        (``(time, n, trial_id, to_rung)`` of the latest promotion(s), or ``None``).
    """
    t = float(time)
    jobs = evaluated = running = stragglers = 0
    top: float | None = None
    rung_running = -1
    last: tuple[float, int, Any, int, int] | None = None
    busy_units = 0
    for r in rows:
        s, e = float(r["start"]), float(r["end"])
        if s < t:
            busy_units += math.floor((min(e, t) - s) * _UNITS + 0.5)
        if e <= t:
            jobs += 1
            if r.get("first0"):
                evaluated += 1
            if r.get("at_top") and (top is None or e < top):
                top = e
        if s <= t < e:
            running += 1
            rung_running = max(rung_running, int(r["rung"]))
            stragglers += bool(r.get("straggler"))
        if r.get("climb") and r["promo"] <= t:
            p = float(r["promo"])
            k = int(r["rung"])
            if last is None or p > last[0]:
                last = (p, 1, r["trial_id"], k, k)
            elif p == last[0]:
                last = (p, last[1] + 1, max(last[2], r["trial_id"]), min(last[3], k),
                        max(last[4], k))
    busy = busy_units / _UNITS
    capacity = n_workers * t
    return {
        "time": t,
        "workers": n_workers,
        "busy_time": busy,
        "idle_time": max(0.0, capacity - busy),
        "utilization": busy / capacity if capacity > 0 else None,
        "configs_evaluated": evaluated,
        "jobs": jobs,
        "time_to_max_resource": top,
        "busy_workers": running,
        "waiting_rung": rung_running if rung_running >= 0 else None,
        "running_stragglers": stragglers,
        "last_promotion": last,
    }


def _fixed(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals, rounded half up like JavaScript's ``toFixed`` (d3-format)."""
    q = Decimal(1).scaleb(-digits)
    return str(Decimal(float(x)).quantize(q, rounding=ROUND_HALF_UP))


def format_counters(c: Mapping[str, Any], *, synchronous: bool) -> dict[str, str]:
    """The counter texts, exactly as the chart writes them (same rounding as d3-format)."""
    util = c["utilization"]
    nw = c["workers"]
    run = c["busy_workers"]
    if not synchronous:
        barrier = "none (asynchronous)"
    elif run == 0:
        barrier = "finished" if c["jobs"] else "not started"
    elif run < nw:
        barrier = (f"waiting for {run} job{'s' if run != 1 else ''} of rung {c['waiting_rung']}"
                   + (f" ({c['running_stragglers']} straggler"
                      f"{'s' if c['running_stragglers'] != 1 else ''})"
                      if c["running_stragglers"] else ""))
    else:
        barrier = "all workers busy"
    last = c["last_promotion"]
    if last is None:
        promo = "none yet"
    else:
        p, n, tid, lo, hi = last
        who = f"#{tid}" if n == 1 else f"{n} configurations"
        where = f", rung {lo - 1} \u2192 {lo}" if lo == hi else ""
        promo = f"{who}{where} at t = {_fixed(p, 1)}"
    top = c["time_to_max_resource"]
    return {
        "busy": "\u2013" if util is None else _fixed(util * 100, 0) + "%",
        "idle": _fixed(c["idle_time"], 1) + " s",
        "evaluated": str(c["configs_evaluated"]),
        "jobs": str(c["jobs"]),
        "top": "\u2013" if top is None else f"t = {_fixed(top, 1)} s",
        "now": f"{run} of {nw}",
        "barrier": barrier,
        "promotion": promo,
    }


#: Label of each counter line, in display order.
COUNTER_LABELS = {
    "busy": "busy so far",
    "idle": "idle worker-time so far",
    "evaluated": "configurations evaluated",
    "jobs": "jobs finished",
    "top": "first at max resource",
    "now": "busy workers now",
    "barrier": "barrier",
    "promotion": "last promotion",
}


# -------------------------------------------------------------------- charts
# The specs are plain Vega-Lite dicts (building them through altair's objects takes seconds;
# the sliders re-simulate in well under one). ``tests/widgets/test_lesson_chart.py``
# validates them against the Vega-Lite schema.
_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"


#: The colour of each rung, rung 0 first: the dashboard's palette (``viz._common.rung_palette``),
#: light (rung 0) to dark (top rung), so both views colour rungs alike.
rung_colours = rung_palette


def _rung_scale(n_rungs: int) -> dict[str, Any]:
    return {"type": "ordinal", "domain": list(range(n_rungs)), "range": rung_colours(n_rungs)}


def _fmt_num(x: float) -> str:
    return f"{x:g}"


def _calc(**exprs: str) -> list[dict[str, str]]:
    return [{"calculate": v, "as": k} for k, v in exprs.items()]


def _by_scheduler(scheduler: str | None) -> list[dict[str, Any]]:
    if scheduler is None:
        return []
    return [{"filter": {"field": "scheduler", "equal": scheduler}}]


def _lanes_layers(*, now: str, scheduler: str | None, n_workers: int, horizon: float,
                  n_rungs: int, synchronous: bool, with_time: bool, jobs_dataset: str,
                  idle_dataset: str, width: int, name: str,
                  lane_height: int = 16) -> list[dict[str, Any]]:
    x_scale = {"domain": [0, float(horizon)], "nice": False, "zero": True}
    y_enc = {"field": "worker", "type": "ordinal", "title": "worker",
             "scale": {"domain": list(range(n_workers)), "paddingInner": 0.18,
                       "paddingOuter": 0.09},
             "axis": {"labelFontSize": 9, "ticks": False, "domain": False,
                      "labelExpr": f"datum.value % {max(1, n_workers // 10)} == 0 ? "
                                   "datum.label : ''"}}
    x_axis = {"grid": False, "labelFontSize": 9, "titleFontSize": 10}

    def x(field: str) -> dict[str, Any]:
        return {"field": field, "type": "quantitative", "scale": x_scale, "title": "time (s)",
                "axis": x_axis}

    def shown(dataset: str) -> dict[str, Any]:
        return {"data": {"name": dataset},
                "transform": _by_scheduler(scheduler) + [
                    {"filter": f"datum.start < {now}"},
                    *_calc(shown_end=f"min(datum.end, {now})")]}

    min_w = 26.0 * float(horizon) / max(1, width)  # time units of a 26 px wide label
    layers: list[dict[str, Any]] = [
        {**shown(idle_dataset), "name": f"{name}_idle",
         "mark": {"type": "bar", "color": IDLE_COLOUR, "strokeWidth": 0},
         "encoding": {"x": x("start"), "x2": {"field": "shown_end"}, "y": y_enc,
                      "tooltip": [{"field": "worker", "type": "ordinal"},
                                  {"field": "start", "type": "quantitative",
                                   "title": "idle from", "format": ".2f"},
                                  {"field": "end", "type": "quantitative",
                                   "title": "idle until", "format": ".2f"}]}},
        {**shown(jobs_dataset), "name": f"{name}_jobs",
         "mark": {"type": "bar", "strokeWidth": 0, "cornerRadius": 0},
         "encoding": {"x": x("start"), "x2": {"field": "shown_end"}, "y": y_enc,
                      "color": {"field": "rung", "type": "ordinal",
                                "scale": _rung_scale(n_rungs), "legend": None},
                      "tooltip": [{"field": "trial_id", "type": "nominal", "title": "trial"},
                                  {"field": "rung", "type": "ordinal"},
                                  {"field": "resource", "type": "quantitative"},
                                  {"field": "start", "type": "quantitative", "format": ".2f"},
                                  {"field": "end", "type": "quantitative", "format": ".2f"},
                                  {"field": "straggler", "type": "nominal"}]}},
    ]
    idle_text = shown(idle_dataset)
    # lanes lower than the word's 11 px: label every k-th lane only, so labels never stack
    every = max(1, math.ceil(11 / max(1, lane_height)))
    idle_text["transform"] = idle_text["transform"] + [
        {"filter": f"datum.shown_end - datum.start >= {min_w!r}"},
        *([{"filter": f"datum.worker % {every} == 0"}] if every > 1 else []),
        *_calc(mid="(datum.start + datum.shown_end) / 2")]
    layers.append({**idle_text, "name": f"{name}_idletext",
                   "mark": {"type": "text", "fontSize": 9, "color": "#3a3a3a",
                            "baseline": "middle"},
                   "encoding": {"x": x("mid"), "y": y_enc, "text": {"value": "idle"}}})
    if synchronous and with_time:
        layers.append({
            "data": {"name": jobs_dataset}, "name": f"{name}_holds",
            "transform": _by_scheduler(scheduler) + [
                *_calc(run=f"datum.start <= {now} && {now} < datum.end ? 1 : 0"),
                {"joinaggregate": [{"op": "sum", "field": "run", "as": "nrun"}]},
                {"filter": f"datum.run == 1 && datum.nrun < {int(n_workers)}"},
                *_calc(nowx=now)],
            "mark": {"type": "point", "shape": "triangle-left", "filled": True,
                     "color": "#111", "size": 55, "opacity": 1},
            "encoding": {"x": x("nowx"), "y": y_enc,
                         "tooltip": [{"field": "trial_id", "type": "nominal",
                                      "title": "the barrier waits for trial"},
                                     {"field": "rung", "type": "ordinal"},
                                     {"field": "straggler", "type": "nominal"}]}})
    if with_time:
        layers.append({"data": {"values": [{"_": 0}]}, "transform": _calc(nowx=now),
                       "mark": {"type": "rule", "color": "#333", "strokeDash": [4, 3],
                                "strokeWidth": 1},
                       "encoding": {"x": x("nowx")}})
    return layers


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
    """One lane per worker: jobs as bars coloured by rung, idle time as grey bars labelled idle.

    Bars have no stroke, so the coloured area of a lane is its busy time (a job narrower than
    a pixel is drawn with partial coverage, never as white). Jobs grow while they run (their
    ``end`` is cut at the frame time); with ``synchronous`` a black triangle marks every running
    job while another worker waits for it (the barrier).

    Parameters
    ----------
    jobs, idle
        Rows of :func:`lesson_rows` and :func:`idle_intervals` (with a ``scheduler`` column
        when ``scheduler`` is given) to inline, or ``None`` to read the named datasets.
    time
        Name of the time parameter, or ``None`` for the final frame (``horizon``).
    time_value
        With ``time``: declare the parameter here with this value (a standalone chart);
        ``None`` leaves the declaration to the caller (:func:`lesson_chart`).

    Returns
    -------
    dict
        A Vega-Lite layer spec.
    """
    now = time if time is not None else repr(float(horizon))
    lane_h = lane_height or int(max(7, min(16, 220 // max(1, n_workers))))
    spec: dict[str, Any] = {
        "layer": _lanes_layers(now=now, scheduler=scheduler, n_workers=n_workers,
                               horizon=horizon, n_rungs=n_rungs, synchronous=synchronous,
                               with_time=time is not None, jobs_dataset=jobs_dataset,
                               idle_dataset=idle_dataset, width=width, name=name,
                               lane_height=lane_h),
        "width": width,
        "height": lane_h * n_workers,
    }
    if title:
        spec["title"] = {"text": title, "fontSize": 11, "anchor": "start"}
    standalone = jobs is not None or idle is not None or (time is not None
                                                          and time_value is not None)
    if standalone:
        spec = {"$schema": _SCHEMA, **spec, "config": {"view": {"stroke": None}}}
        if time is not None and time_value is not None:
            spec["params"] = [{"name": time, "value": float(time_value)}]
        spec["datasets"] = {jobs_dataset: to_records(jobs) if jobs is not None else [],
                            idle_dataset: to_records(idle) if idle is not None else []}
    return spec


#: At most this many marks climbing from a rung together get their own "#id" label.
LABELLED_CLIMBS = 3


def rung_ladder_chart(
    *,
    time: str = "t",
    scheduler: str,
    n_rungs: int,
    resources: Sequence[float],
    reduction_factor: int,
    tween: float,
    jobs_dataset: str = "lesson_jobs",
    width: int = 330,
    counts_width: int = 92,
    shelf_height: int = 46,
    name: str = "shelves",
) -> dict[str, Any]:
    """The rungs as shelves (rung 0 at the bottom), a mark per configuration placed by value.

    A filled mark is a result; a hollow one a job running toward that rung (new
    configurations at the left, promoted ones above their mark of the rung below; faded:
    promoted but waiting for a free worker); an orange ring a configuration already promoted
    out of the rung. A promotion moves the mark to the next shelf during ``tween`` time units,
    labelled with its trial id; a finished job's mark slides to its value during ``tween``.
    The dashed line is the rung's current top-1/``reduction_factor`` cutoff (marks to its right
    are the candidates). At the right: per rung, results / promoted / running at this frame.

    Returns
    -------
    dict
        A Vega-Lite ``hconcat`` of the shelves and the per-rung counts (the caller declares
        the parameter ``time`` and the named dataset).
    """
    t = time
    tau = max(float(tween), 1e-9)
    eta = int(reduction_factor)
    y_scale = {"domain": [-0.5, n_rungs - 0.5], "nice": False, "zero": False}
    x_scale = {"domain": list(_X_DOMAIN), "nice": False, "zero": False}
    labels = [f"rung {k} \u00b7 r = {_fmt_num(resources[k]) if k < len(resources) else '?'}"
              for k in range(n_rungs)]
    y_axis = {"values": list(range(n_rungs)), "grid": False, "ticks": False, "domain": False,
              "labelFontSize": 10, "labelPadding": 4, "title": None,
              "labelExpr": "[" + ", ".join(f"'{lab}'" for lab in labels)
                           + "][round(datum.value)]"}
    x_axis = {"values": [-0.13, 0.08, 0.94], "grid": False, "ticks": False, "labelFontSize": 9,
              "titleFontSize": 10, "labelFlush": False,
              "labelExpr": "datum.value < -0.1 ? '\u25cb new' : "
                           "(datum.value < 0.5 ? 'worse' : 'better')"}
    height = shelf_height * n_rungs
    data = {"name": jobs_dataset}
    sel = _by_scheduler(scheduler)
    mark_tf = sel + [
        {"filter": f"{t} >= datum.promo"},
        *_calc(f1=f"datum.climb ? clamp(({t} - datum.promo) / {tau!r}, 0, 1) : 1",
               done=f"datum.end <= {t} && isValid(datum.px)"),
        *_calc(f2=f"datum.done ? clamp(({t} - datum.end) / {tau!r}, 0, 1) : 0",
               state=(f"datum.done ? ({t} >= datum.out ? 'promoted' : 'result') : "
                      f"(datum.f1 < 1 ? 'climbing' : ({t} >= datum.start ? 'running' : "
                      "'waiting for a worker'))"),
               shown_value="datum.done ? format(datum.value, '.4f') : 'not yet'",
               promoted_at=(f"{t} >= datum.out ? format(datum.out, '.2f') + ' s' : "
                            "'not (yet)'")),
        *_calc(mx="datum.px0 + datum.f2 * ((datum.done ? datum.px : datum.px0) - datum.px0)",
               my="datum.rung - (1 - datum.f1) + datum.jit"),
    ]
    x_enc = {"field": "mx", "type": "quantitative", "scale": x_scale, "axis": x_axis,
             "title": "value in its rung (better \u2192)"}
    y_enc = {"field": "my", "type": "quantitative", "scale": y_scale, "axis": y_axis}
    tooltip = [{"field": "trial_id", "type": "nominal", "title": "trial"},
               {"field": "rung", "type": "ordinal"},
               {"field": "resource", "type": "quantitative"},
               {"field": "state", "type": "nominal"},
               {"field": "shown_value", "type": "nominal", "title": "value"},
               {"field": "promo", "type": "quantitative", "title": "entered the rung at",
                "format": ".2f"},
               {"field": "promoted_at", "type": "nominal", "title": "promoted at"}]
    settled = {
        "data": data, "name": f"{name}_marks",
        "transform": mark_tf + [{"filter": "datum.state != 'climbing'"}],
        "mark": {"type": "point", "shape": "circle", "filled": True, "size": 34},
        "encoding": {
            "x": x_enc, "y": y_enc, "tooltip": tooltip,
            "fill": {"condition": {"test": "datum.done", "field": "rung", "type": "ordinal",
                                   "scale": _rung_scale(n_rungs), "legend": None},
                     "value": "white"},
            "stroke": {"condition": {"test": "datum.state == 'promoted'",
                                     "value": PROMOTED_COLOUR}, "value": "#444"},
            "strokeWidth": {"condition": {"test": "datum.state == 'promoted'", "value": 2.2},
                            "value": 0.9},
            "opacity": {"condition": {"test": "datum.state == 'waiting for a worker'",
                                      "value": 0.45}, "value": 1.0},
        },
    }
    climbing_tf = mark_tf + [{"filter": "datum.state == 'climbing'"}]
    climb = {"data": data, "name": f"{name}_climbing", "transform": climbing_tf,
             "mark": {"type": "point", "shape": "circle", "filled": True, "size": 80,
                      "fill": "white", "stroke": PROMOTED_COLOUR, "strokeWidth": 2.5},
             "encoding": {"x": x_enc, "y": y_enc, "tooltip": tooltip}}
    # the climbing mark's trial id, on the side away from the plot's edge; when more than
    # LABELLED_CLIMBS climb from a rung together (SHA's barrier) one label counts them at the
    # left of the shelf (their ids are in the promotion log) instead of a blob of ids
    group_tf = climbing_tf + [
        {"joinaggregate": [{"op": "count", "as": "nclimb"}], "groupby": ["promo", "rung"]},
        {"window": [{"op": "row_number", "as": "kclimb"}], "groupby": ["promo", "rung"],
         "sort": [{"field": "px0", "order": "ascending"}]}]
    climb_text = [
        {"data": data, "name": f"{name}_climbtext{i}",
         "transform": group_tf + [{"filter": f"datum.nclimb <= {LABELLED_CLIMBS}"},
                                  {"filter": test}] + _calc(lab="'#' + datum.trial_id"),
         "mark": {"type": "text", "align": align, "dx": dx, "dy": -6, "fontSize": 10,
                  "fontWeight": "bold", "color": PROMOTED_COLOUR},
         "encoding": {"x": x_enc, "y": y_enc, "text": {"field": "lab", "type": "nominal"}}}
        for i, (test, align, dx) in enumerate((("datum.mx <= 0.8", "left", 7),
                                              ("datum.mx > 0.8", "right", -7)))]
    climb_text.append({
        "data": data, "name": f"{name}_climbcount",
        "transform": group_tf + [{"filter": f"datum.nclimb > {LABELLED_CLIMBS}"},
                                 {"filter": "datum.kclimb == 1"}]
        + _calc(lab="datum.nclimb + ' promoted \u2191 (ids in the log)'",
                ly="datum.rung - 0.5 * (1 - datum.f1) + 0.05"),
        "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 2,
                 "fontSize": 10, "fontWeight": "bold", "color": PROMOTED_COLOUR},
        "encoding": {"x": {"datum": -0.2, "type": "quantitative", "scale": x_scale},
                     "y": {"field": "ly", "type": "quantitative", "scale": y_scale},
                     "text": {"field": "lab", "type": "nominal"}}})
    cutoff_tf = sel + [
        {"filter": f"datum.end <= {t} && isValid(datum.px)"},
        {"window": [{"op": "row_number", "as": "rank"}], "groupby": ["rung"],
         "sort": [{"field": "px", "order": "descending"}]},
        {"joinaggregate": [{"op": "count", "as": "n"}], "groupby": ["rung"]},
        *_calc(m=f"floor(datum.n / {eta})"),
        {"filter": "datum.m >= 1 && (datum.rank == datum.m || datum.rank == datum.m + 1)"},
        {"aggregate": [{"op": "mean", "field": "px", "as": "cut"}], "groupby": ["rung"]},
        *_calc(y0="datum.rung - 0.42", y1="datum.rung + 0.36", ylab="datum.rung + 0.42"),
    ]
    cut_x = {"field": "cut", "type": "quantitative", "scale": x_scale}
    cut_rule = {"data": data, "name": f"{name}_cutoff", "transform": cutoff_tf,
                "mark": {"type": "rule", "color": CUTOFF_COLOUR, "strokeDash": [4, 2],
                         "strokeWidth": 1.6},
                "encoding": {"x": cut_x, "y": {"field": "y0", "type": "quantitative",
                                               "scale": y_scale},
                             "y2": {"field": "y1"}}}
    cut_text = {"data": data, "name": f"{name}_cutofftext", "transform": cutoff_tf,
                "mark": {"type": "text", "align": "left", "dx": 2, "fontSize": 9,
                         "color": CUTOFF_COLOUR, "baseline": "middle"},
                "encoding": {"x": cut_x, "y": {"field": "ylab", "type": "quantitative",
                                               "scale": y_scale},
                             "text": {"value": f"top 1/{eta} \u2192"}}}
    shelves = {"data": {"values": [{"y": k - 0.42} for k in range(n_rungs)]},
               "mark": {"type": "rule", "color": "#9a9a9a"},
               "encoding": {"x": {"datum": 0.0, "type": "quantitative", "scale": x_scale},
                            "x2": {"datum": 1.0},
                            "y": {"field": "y", "type": "quantitative", "scale": y_scale}}}
    pen = {"data": {"values": [{"y": -0.42}]},
           "mark": {"type": "rule", "color": "#9a9a9a", "strokeDash": [2, 2]},
           "encoding": {"x": {"datum": _PEN[0] - 0.02, "type": "quantitative",
                              "scale": x_scale},
                        "x2": {"datum": _PEN[1] + 0.02},
                        "y": {"field": "y", "type": "quantitative", "scale": y_scale}}}
    ladder = {"layer": [shelves, pen, cut_rule, cut_text, settled, climb, *climb_text],
              "width": width, "height": height}
    counts_tf = sel + [
        *_calc(d=f"datum.end <= {t} ? 1 : 0", up=f"datum.out <= {t} ? 1 : 0",
               run=f"datum.promo <= {t} && {t} < datum.end ? 1 : 0"),
        {"aggregate": [{"op": "sum", "field": "d", "as": "d"},
                       {"op": "sum", "field": "up", "as": "up"},
                       {"op": "sum", "field": "run", "as": "run"}], "groupby": ["rung"]},
        *_calc(l1="datum.d + (datum.d == 1 ? ' result' : ' results')",
                  l2="datum.up + ' promoted \u2191'", l3="datum.run + ' running'"),
    ]
    count_layers = [
        {"data": data, "name": f"{name}_count{i}", "transform": counts_tf,
         "mark": {"type": "text", "align": "left", "dy": dy, "fontSize": 9.5, "color": colour,
                  "baseline": "middle"},
         "encoding": {"x": {"value": 4},
                      "y": {"field": "rung", "type": "quantitative", "scale": y_scale,
                            "axis": None},
                      "text": {"field": field, "type": "nominal"}}}
        for i, (field, dy, colour) in enumerate(
            (("l1", -12, "#222"), ("l2", 0, PROMOTED_COLOUR), ("l3", 12, "#555")))
    ]
    counts = {"layer": count_layers, "width": counts_width, "height": height}
    return {"hconcat": [ladder, counts], "spacing": 2}


def _counters_chart(*, time: str, scheduler: str, n_workers: int, synchronous: bool,
                    jobs_dataset: str, width: int, name: str) -> dict[str, Any]:
    t = time
    nw = int(n_workers)
    units = repr(_UNITS)
    agg_tf = _by_scheduler(scheduler) + [
        *_calc(
            b=f"datum.start < {t} ? floor((min(datum.end, {t}) - datum.start) * {units} + 0.5)"
              " : 0",
            fin=f"datum.end <= {t} ? 1 : 0",
            ev=f"datum.first0 && datum.end <= {t} ? 1 : 0",
            topend=f"datum.at_top && datum.end <= {t} ? datum.end : {_NEVER!r}",
            run=f"datum.start <= {t} && {t} < datum.end ? 1 : 0",
            pv=f"datum.climb && datum.promo <= {t} ? datum.promo : -1"),
        *_calc(rr="datum.run == 1 ? datum.rung : -1",
               st="datum.run == 1 && datum.straggler ? 1 : 0"),
        {"joinaggregate": [{"op": "max", "field": "pv", "as": "maxp"}]},
        *_calc(islast="datum.pv >= 0 && datum.pv == datum.maxp ? 1 : 0"),
        *_calc(lid="datum.islast == 1 ? datum.trial_id : -1",
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
        *_calc(busy=f"datum.busy_units / {units}"),
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
    values_tf = agg_tf + _calc(**{f"c_{k}": v for k, v in texts.items()}) + [
        {"fold": [f"c_{k}" for k in keys], "as": ["key", "text"]},
        *_calc(key="slice(datum.key, 2)")]
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
        ("rung", k, f"rung {k} (r = {_fmt_num(resources[k]) if k < len(resources) else '?'})")
        for k in range(n_rungs)]
    entries += [("idle", 0, "idle worker"), ("hollow", 0, "running job"),
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
             color={"field": "rung", "type": "ordinal", "scale": _rung_scale(n_rungs),
                    "legend": None}),
        item("idle", {"type": "square", "size": 110, "opacity": 1, "color": IDLE_COLOUR}),
        item("hollow", {"type": "point", "shape": "circle", "size": 40, "filled": True,
                        "fill": "white", "stroke": "#444", "strokeWidth": 0.9}),
        item("ring", {"type": "point", "shape": "circle", "size": 40, "filled": True,
                      "fill": rung_colours(max(2, n_rungs))[0], "stroke": PROMOTED_COLOUR,
                      "strokeWidth": 2.2}),
        item("cut", {"type": "tick", "color": CUTOFF_COLOUR, "thickness": 1.6, "size": 14,
                     "orient": "vertical"}),
        item("holds", {"type": "point", "shape": "triangle-left", "filled": True,
                       "color": "#111", "size": 55, "opacity": 1}),
        {"transform": _calc(tx="datum.x + 10"),
         "mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 10,
                  "color": "#333"},
         "encoding": {"x": {**xs, "field": "tx"}, "y": ys,
                      "text": {"field": "label", "type": "nominal"}}},
    ]
    return {"data": {"values": items}, "layer": layers, "width": int(width),
            "height": 18 * (row + 1)}


def placeholder_rows(schedulers: Sequence[str], n_rungs: int) -> list[dict[str, Any]]:
    """One never-visible row per scheduler and rung, so that every rung's shelf counts exist
    from frame 0 (every computation of the chart is conditioned on time; these never qualify)."""
    return [{"scheduler": s, "job_id": -1, "trial_id": -1, "worker": 0, "rung": k,
             "resource": None, "start": _NEVER, "end": _NEVER, "value": None,
             "straggler": False, "bracket": 0, "promo": _NEVER, "px0": 0.0, "px": None,
             "jit": 0.0, "out": _NEVER, "first0": False, "at_top": False, "climb": False}
            for s in schedulers for k in range(n_rungs)]


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
    readout_tf = _calc(txt=f"'t = ' + format({time_name}, '.1f') + ' s'",
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
        "$schema": _SCHEMA,
        "params": [{"name": time_name,
                    "value": horizon if time_value is None else float(time_value)}],
        "vconcat": [clock, {"hconcat": panels, "spacing": 24}, legend],
        "spacing": 12,
        "config": {"view": {"stroke": None}},
    }
    job_rows = [] if jobs is None else [{k: r.get(k) for k in _JOB_FIELDS}
                                        for r in to_records(jobs)]
    spec["datasets"] = {
        jobs_dataset: job_rows + placeholder_rows(schedulers, n_rungs),
        idle_dataset: [] if idle is None else to_records(idle),
    }
    return spec
