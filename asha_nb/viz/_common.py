"""Shared helpers of the chart modules: lazy altair import, JSON-safe rows, named datasets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import import_extra

__all__ = ["RUNG_SCHEME", "FAILED_COLOUR", "IDLE_GREY", "IDLE_COLOUR", "PROMOTED_COLOUR",
           "CUTOFF_COLOUR", "INK", "SCHEMA", "NEVER", "UNITS", "PEN", "altair", "clean",
           "to_records", "with_data", "with_static", "base_chart", "rung_palette", "rung_scale",
           "tint", "theme_config", "calc", "by_scheduler"]

#: Colour scheme of rungs (rung 0 light, top rung dark), used by every chart.
RUNG_SCHEME = "viridis"
FAILED_COLOUR = "#d62728"
#: Idle worker time: a neutral grey drawn semi-transparent (``opacity`` 0.35), so it reads as
#: light grey on a light page and dark grey on a dark one, and no rung colour resembles it.
IDLE_GREY = "#8c8c8c"
#: Idle time in the lesson's worker lanes: a neutral grey no rung colour resembles.
IDLE_COLOUR = "#bdbdbd"
#: Ring of a configuration promoted out of a rung, and of a mark climbing to the next rung.
PROMOTED_COLOUR = "#e6550d"
#: The rung's top-1/eta cutoff line.
CUTOFF_COLOUR = "#b2182b"
#: The Vega-Lite schema of the specs (plain dicts: building them through altair's objects takes
#: seconds; the lesson's sliders re-simulate in well under one).
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
#: "Never happens" (Vega-Lite expressions have no infinity literal).
NEVER = 1e12
#: Busy time is summed in integer micro-units: exact, in Python and in Vega.
UNITS = 1e6
#: The lesson's x range of running rung-0 jobs (new configurations) in the rung shelves.
PEN = (-0.21, -0.05)
#: Text and guide colour of the dashboard's charts: the colour of the surrounding page (light
#: text in a dark JupyterLab theme, dark text in a light one; black where nothing sets it).
INK = "currentColor"

# viridis (RUNG_SCHEME) at 0, 0.1, ..., 1: dark purple -> yellow
_VIRIDIS = ("#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884",
            "#44bf70", "#7ad151", "#bddf26", "#fde725")


def _viridis(p: float) -> str:
    p = min(1.0, max(0.0, p)) * (len(_VIRIDIS) - 1)
    i = min(int(p), len(_VIRIDIS) - 2)
    f = p - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    rgb = [round(int(a[j:j + 2], 16) * (1 - f) + int(b[j:j + 2], 16) * f) for j in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def rung_palette(n_rungs: int) -> list[str]:
    """Colour of each rung, rung 0 first: :data:`RUNG_SCHEME` from light (rung 0) to dark (top
    rung), spread over most of the scheme (the same colours as the promotion view).

    Examples
    --------
    >>> rung_palette(3)
    ['#cae126', '#21918c', '#471d6e']
    """
    if n_rungs <= 1:
        return [_viridis(0.6)][:max(0, n_rungs)]
    return [_viridis(0.92 - 0.84 * k / (n_rungs - 1)) for k in range(n_rungs)]


def rung_scale(n_rungs: int) -> dict[str, Any]:
    """The Vega-Lite colour scale of rungs ``0 .. n_rungs - 1`` (:func:`rung_palette`)."""
    return {"type": "ordinal", "domain": list(range(n_rungs)), "range": rung_palette(n_rungs)}


def tint(colour: str, share: float = 0.5) -> str:
    """``colour`` mixed with white (``share`` of white): the lighter version of a rung colour
    that marks running jobs.

    Examples
    --------
    >>> tint("#000000")
    '#808080'
    """
    rgb = [int(colour[j:j + 2], 16) for j in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)


def theme_config(ink: str = INK, background: str | None = None) -> dict[str, Any]:
    """Vega-Lite ``config`` whose text, axes, grid and legends take the colour ``ink``.

    With the default ``ink="currentColor"`` and no background, an SVG chart inherits the text
    colour of the page around it: it follows JupyterLab's light and dark themes (and GitHub's)
    without knowing them. Raster output (PNG) has no page around it: pass explicit colours.
    """
    guide = {"labelColor": ink, "titleColor": ink}
    return {
        "background": background or "transparent",
        "view": {"stroke": ink, "strokeOpacity": 0.25},
        "axis": {**guide, "domainColor": ink, "tickColor": ink, "gridColor": ink,
                 "gridOpacity": 0.12, "domainOpacity": 0.6, "tickOpacity": 0.6,
                 "labelFontSize": 11, "titleFontSize": 11, "titlePadding": 6},
        "legend": {**guide, "labelFontSize": 11, "titleFontSize": 11},
        "header": {**guide},
        "title": {"color": ink, "subtitleColor": ink, "fontSize": 13, "subtitleFontSize": 10,
                  "anchor": "start"},
        "text": {"color": ink},
    }


def altair() -> Any:
    """The altair module (imported on first use; a clear error without the widgets extra)."""
    return import_extra("altair", "widgets")


def clean(v: Any) -> Any:
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
        return [{k: clean(v) for k, v in r.items()} for r in rows]
    return [{k: clean(r.get(k)) for k in columns} for r in rows]


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


def with_static(chart: Any, dataset: str, data: Any) -> Any:
    """Attach ``data`` as the top-level named ``dataset`` of ``chart`` (when given)."""
    if data is None:
        return chart
    chart = chart.copy(deep=False)
    existing = chart.datasets if isinstance(chart.datasets, dict) else {}
    chart.datasets = {**existing, dataset: to_records(data)}
    return chart


def base_chart(alt: Any, dataset: str, scheduler: str | None) -> Any:
    base = alt.Chart(alt.Data(name=dataset))
    if scheduler is not None:
        base = base.transform_filter(alt.datum.scheduler == scheduler)
    return base


def calc(**exprs: str) -> list[dict[str, str]]:
    """Vega-Lite ``calculate`` transforms, one per keyword (``as`` = the keyword)."""
    return [{"calculate": v, "as": k} for k, v in exprs.items()]


def by_scheduler(scheduler: str | None) -> list[dict[str, Any]]:
    """A filter keeping the rows of one ``scheduler`` (none for ``None``)."""
    if scheduler is None:
        return []
    return [{"filter": {"field": "scheduler", "equal": scheduler}}]
