"""The lesson's rung shelves: one shelf per rung, a mark per configuration placed by its value.

A pure function of the lesson rows (:func:`~asha_nb.viz.data.lesson_rows`) and the frame time:
the chart reads the named jobs dataset and the time parameter; the browser moves the time, no
data is re-sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._common import CUTOFF_COLOUR, PEN, PROMOTED_COLOUR, by_scheduler, calc, rung_scale

__all__ = ["LABELLED_CLIMBS", "rung_ladder_chart"]

_X_DOMAIN = (-0.25, 1.03)


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
    labels = [f"rung {k} \u00b7 r = {format(resources[k], 'g') if k < len(resources) else '?'}"
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
    sel = by_scheduler(scheduler)
    mark_tf = sel + [
        {"filter": f"{t} >= datum.promo"},
        *calc(f1=f"datum.climb ? clamp(({t} - datum.promo) / {tau!r}, 0, 1) : 1",
               done=f"datum.end <= {t} && isValid(datum.px)"),
        *calc(f2=f"datum.done ? clamp(({t} - datum.end) / {tau!r}, 0, 1) : 0",
               state=(f"datum.done ? ({t} >= datum.out ? 'promoted' : 'result') : "
                      f"(datum.f1 < 1 ? 'climbing' : ({t} >= datum.start ? 'running' : "
                      "'waiting for a worker'))"),
               shown_value="datum.done ? format(datum.value, '.4f') : 'not yet'",
               promoted_at=(f"{t} >= datum.out ? format(datum.out, '.2f') + ' s' : "
                            "'not (yet)'")),
        *calc(mx="datum.px0 + datum.f2 * ((datum.done ? datum.px : datum.px0) - datum.px0)",
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
                                   "scale": rung_scale(n_rungs), "legend": None},
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
                                  {"filter": test}] + calc(lab="'#' + datum.trial_id"),
         "mark": {"type": "text", "align": align, "dx": dx, "dy": -6, "fontSize": 10,
                  "fontWeight": "bold", "color": PROMOTED_COLOUR},
         "encoding": {"x": x_enc, "y": y_enc, "text": {"field": "lab", "type": "nominal"}}}
        for i, (test, align, dx) in enumerate((("datum.mx <= 0.8", "left", 7),
                                              ("datum.mx > 0.8", "right", -7)))]
    climb_text.append({
        "data": data, "name": f"{name}_climbcount",
        "transform": group_tf + [{"filter": f"datum.nclimb > {LABELLED_CLIMBS}"},
                                 {"filter": "datum.kclimb == 1"}]
        + calc(lab="datum.nclimb + ' promoted \u2191 (ids in the log)'",
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
        *calc(m=f"floor(datum.n / {eta})"),
        {"filter": "datum.m >= 1 && (datum.rank == datum.m || datum.rank == datum.m + 1)"},
        {"aggregate": [{"op": "mean", "field": "px", "as": "cut"}], "groupby": ["rung"]},
        *calc(y0="datum.rung - 0.42", y1="datum.rung + 0.36", ylab="datum.rung + 0.42"),
    ]
    cut_x = {"field": "cut", "type": "quantitative", "scale": x_scale}
    cut_rule = {"data": data, "name": f"{name}_cutoff", "transform": cutoff_tf,
                "mark": {"type": "rule", "color": CUTOFF_COLOUR, "strokeDash": [4, 2],
                         "strokeWidth": 1.6},
                "encoding": {"x": cut_x, "y": {"field": "y0", "type": "quantitative",
                                               "scale": y_scale},
                             "y2": {"field": "y1"}}}
    # the label on the rule's right, or on its left near the shelf's end: it never runs past
    # the plot (which would move the counts beside it from frame to frame)
    cut_text = [{"data": data, "name": f"{name}_cutofftext{suffix}",
                 "transform": cutoff_tf + [{"filter": test}],
                 "mark": {"type": "text", "align": align, "dx": dx, "fontSize": 9,
                          "color": CUTOFF_COLOUR, "baseline": "middle"},
                 "encoding": {"x": cut_x, "y": {"field": "ylab", "type": "quantitative",
                                                "scale": y_scale},
                              "text": {"value": f"top 1/{eta} \u2192"}}}
                for suffix, test, align, dx in (("", "datum.cut <= 0.8", "left", 2),
                                                ("_left", "datum.cut > 0.8", "right", -2))]
    shelves = {"data": {"values": [{"y": k - 0.42} for k in range(n_rungs)]},
               "mark": {"type": "rule", "color": "#9a9a9a"},
               "encoding": {"x": {"datum": 0.0, "type": "quantitative", "scale": x_scale},
                            "x2": {"datum": 1.0},
                            "y": {"field": "y", "type": "quantitative", "scale": y_scale}}}
    pen = {"data": {"values": [{"y": -0.42}]},
           "mark": {"type": "rule", "color": "#9a9a9a", "strokeDash": [2, 2]},
           "encoding": {"x": {"datum": PEN[0] - 0.02, "type": "quantitative",
                              "scale": x_scale},
                        "x2": {"datum": PEN[1] + 0.02},
                        "y": {"field": "y", "type": "quantitative", "scale": y_scale}}}
    ladder = {"layer": [shelves, pen, cut_rule, *cut_text, settled, climb, *climb_text],
              "width": width, "height": height}
    counts_tf = sel + [
        *calc(d=f"datum.end <= {t} ? 1 : 0", up=f"datum.out <= {t} ? 1 : 0",
               run=f"datum.promo <= {t} && {t} < datum.end ? 1 : 0"),
        {"aggregate": [{"op": "sum", "field": "d", "as": "d"},
                       {"op": "sum", "field": "up", "as": "up"},
                       {"op": "sum", "field": "run", "as": "run"}], "groupby": ["rung"]},
        *calc(l1="datum.d + (datum.d == 1 ? ' result' : ' results')",
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

