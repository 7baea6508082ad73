"""The dashboard's charts without a front end: a Vega-Lite spec with its rows inlined, rendered
offline by vl-convert as SVG or PNG, and the ``<img>`` the static snapshot embeds."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from ..viz import charts as _charts
from ..viz import with_data

__all__ = ["SVG_MARK_LIMIT", "STATIC_INK", "charts_image_html", "inline_spec", "to_png",
           "to_svg"]

#: Static snapshots with more marks than this embed the charts as PNG instead of SVG.
SVG_MARK_LIMIT = 4000
#: Text colour of the charts in a static snapshot: a mid grey, legible on light and dark pages.
STATIC_INK = "#808080"


def inline_spec(spec: dict[str, Any], datasets: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """``spec`` (the dashboard's, datasets empty) with the rows of every dashboard dataset."""
    return with_data(spec, {n: list(datasets.get(n, [])) for n in _charts.DASHBOARD_DATASETS})


def to_svg(spec: dict[str, Any]) -> str:
    """An inlined spec as SVG (vl-convert)."""
    import vl_convert as vlc

    svg: str = vlc.vegalite_to_svg(spec)
    return svg


def to_png(spec: dict[str, Any], scale: float = 1.0) -> bytes:
    """An inlined spec as PNG (vl-convert)."""
    import vl_convert as vlc

    png: bytes = vlc.vegalite_to_png(spec, scale=scale)
    return png


def charts_image_html(spec: dict[str, Any], n_marks: int) -> str:
    """The charts as an ``<img>`` with a ``data:`` URI: JupyterLab's sanitizer (an untrusted
    notebook), nbconvert/nbviewer and GitHub keep images, while an inline ``<svg>`` is stripped
    from untrusted HTML. An image cannot take the page's text colour, so its text is a mid grey
    (``STATIC_INK``) that reads on light and dark pages, on no background. More than
    ``SVG_MARK_LIMIT`` marks: a PNG, which stays small."""
    if n_marks <= SVG_MARK_LIMIT:
        src = "data:image/svg+xml;base64," + base64.b64encode(to_svg(spec).encode()).decode()
    else:
        src = "data:image/png;base64," + base64.b64encode(to_png(spec)).decode()
    return (f"<div class='asha-static-charts' style='margin-top:6px'><img alt='asha_nb "
            f"dashboard charts: learning curves, best value so far, worker timeline' "
            f"src='{src}'></div>")
