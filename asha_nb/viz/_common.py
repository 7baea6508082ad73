"""Shared helpers of the chart modules: lazy altair import, JSON-safe rows, named datasets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["RUNG_SCHEME", "FAILED_COLOUR", "altair", "clean", "to_records", "with_data",
           "with_static", "base_chart"]

#: Colour scheme of rungs (rung 0 light, top rung dark), used by every chart.
RUNG_SCHEME = "viridis"
FAILED_COLOUR = "#d62728"


def altair() -> Any:
    """The altair module (imported on first use; a clear error without the widgets extra)."""
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from ..errors import MissingExtraError

        raise MissingExtraError("widgets", "altair") from exc
    return alt


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
