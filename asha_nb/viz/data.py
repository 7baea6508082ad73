"""The views' plain data: lesson rows, idle intervals and their labels, frame counters.

Nothing here draws: every function takes and returns plain rows (lists of dicts) and numbers,
imports neither altair nor ipywidgets, and is tested on its own (``tests/viz/test_data.py``).
The chart specs (:mod:`asha_nb.viz.lesson`, :mod:`asha_nb.viz.timeline`) render these rows,
and compute on screen what :func:`frame_counters` computes here, with the same definitions.

* :func:`lesson_rows`: per job, where and when its mark appears in the rung shelves (promotion
  time, position by value, when its trial is promoted out);
* :func:`idle_intervals`: the idle time of every worker; :func:`label_idle` says which idle
  interval gets the word "idle" and which short ones share a small dot;
* :func:`promotions`, :func:`promotion_log`: the promotion events and what each beat;
* :func:`frame_counters`, :func:`format_counters`: the counters of one frame, as numbers and
  exactly as the chart writes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._common import NEVER as _NEVER
from ._common import PEN as _PEN
from ._common import UNITS as _UNITS
from ._common import to_records

__all__ = [
    "IDLE_WORD_PX",
    "IDLE_DOT_PX",
    "lesson_rows",
    "value_ranges",
    "promotions",
    "promotion_log",
    "placeholder_rows",
    "idle_intervals",
    "idle_word_every",
    "label_idle",
    "frame_counters",
    "format_counters",
    "COUNTER_LABELS",
]

#: Width in pixels of the word "idle" (9 px font) and its margin: an idle interval at least this
#: wide (as drawn so far) is labelled with the word, in its middle.
IDLE_WORD_PX = 26.0
#: Diameter in pixels of the dot that marks a shorter idle interval at least this wide (the dot
#: fits in its grey and covers no job), or a few such close together (dots are at least
#: ``IDLE_DOT_PX + 2`` pixels apart).
IDLE_DOT_PX = 3.0
_WORD_FONT_PX = 11  # height of the word "idle": lanes lower than this label every k-th lane



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


def idle_word_every(lane_height: float) -> int:
    """Label every k-th lane with the word "idle" (lanes lower than the word: k > 1, so the
    words of neighbouring lanes never stack).

    Examples
    --------
    >>> idle_word_every(16), idle_word_every(7)
    (1, 2)
    """
    return max(1, math.ceil(_WORD_FONT_PX / max(1.0, float(lane_height))))


def label_idle(idle: Sequence[Mapping[str, Any]], *, horizon: float, width: float,
               lane_height: float) -> list[dict[str, Any]]:
    """The idle intervals with their labels: which gets the word "idle", which a dot.

    The chart writes "idle" in the middle of an interval once it is drawn at least
    :data:`IDLE_WORD_PX` pixels wide (on every :func:`idle_word_every`-th lane). A shorter
    one at least :data:`IDLE_DOT_PX` pixels wide gets a dot that size in its middle (inside its
    grey: the dot covers no job), with a tooltip, once it has ended; short intervals of one lane
    whose dots would come closer than ``IDLE_DOT_PX + 2`` pixels share one dot (at the first
    one's middle, shown once the last one has ended; the tooltip counts them). No label
    overlaps another. Intervals narrower than the dot stay unlabelled grey slivers (their idle
    time is in the counters). On a lane without words (low lanes), every interval at least
    :data:`IDLE_DOT_PX` wide gets a dot.

    Parameters
    ----------
    idle
        :func:`idle_intervals` rows (``worker, start, end``; optional ``scheduler``: each
        scheduler's lanes are labelled apart).
    horizon, width
        The lane's time axis runs from 0 to ``horizon`` over ``width`` pixels.
    lane_height
        Height of a lane in pixels.

    Returns
    -------
    list of dict
        The rows, in input order, each with ``dot`` (``True`` on the interval that carries a
        dot), and on those ``dot_x`` (its time position), ``dot_t`` (the frame time from
        which it shows), ``dot_n`` (intervals it stands for), ``dot_idle`` (their idle
        seconds), ``dot_from`` and ``dot_to`` (their span).

    Examples
    --------
    >>> rows = label_idle([{"worker": 0, "start": 0.0, "end": 0.4},
    ...                    {"worker": 0, "start": 0.5, "end": 0.8},
    ...                    {"worker": 0, "start": 2.0, "end": 2.1},
    ...                    {"worker": 0, "start": 5.0, "end": 9.0}],
    ...                   horizon=10.0, width=100.0, lane_height=16)
    >>> [(r["dot"], r.get("dot_n")) for r in rows]  # 4 + 3 px: one dot; 1 px: none; 40: word
    [(True, 2), (False, None), (False, None), (False, None)]
    """
    px = float(width) / max(float(horizon), 1e-12)  # pixels per time unit
    word_t = IDLE_WORD_PX / px
    sep = (IDLE_DOT_PX + 2) / px
    out = [{**r, "dot": False} for r in idle]
    lanes: dict[tuple[Any, int], list[dict[str, Any]]] = {}
    for r in out:
        lanes.setdefault((r.get("scheduler"), int(r["worker"])), []).append(r)
    every = idle_word_every(lane_height)
    for (_, worker), rows in lanes.items():
        rows.sort(key=lambda r: float(r["start"]))
        worded = worker % every == 0
        lead: dict[str, Any] | None = None
        for r in rows:
            s, e = float(r["start"]), float(r["end"])
            if (worded and e - s >= word_t) or (e - s) * px < IDLE_DOT_PX:
                continue
            mid = (s + e) / 2
            if lead is not None and mid - float(lead["dot_x"]) < sep:
                lead["dot_n"] += 1
                lead["dot_idle"] += e - s
                lead["dot_to"] = e
                lead["dot_t"] = max(float(lead["dot_t"]), e)
                continue
            lead = r
            r.update(dot=True, dot_x=mid, dot_t=e, dot_n=1, dot_idle=e - s, dot_from=s,
                     dot_to=e)
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



def placeholder_rows(schedulers: Sequence[str], n_rungs: int) -> list[dict[str, Any]]:
    """One never-visible row per scheduler and rung, so that every rung's shelf counts exist
    from frame 0 (every computation of the chart is conditioned on time; these never qualify)."""
    return [{"scheduler": s, "job_id": -1, "trial_id": -1, "worker": 0, "rung": k,
             "resource": None, "start": _NEVER, "end": _NEVER, "value": None,
             "straggler": False, "bracket": 0, "promo": _NEVER, "px0": 0.0, "px": None,
             "jit": 0.0, "out": _NEVER, "first0": False, "at_top": False, "climb": False}
            for s in schedulers for k in range(n_rungs)]

