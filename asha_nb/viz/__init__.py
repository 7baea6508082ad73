"""The views' data and chart specifications: plain rows in, Vega-Lite out.

:mod:`asha_nb.viz.data` computes plain rows and counters (no altair, no widgets); the chart
modules render them: :mod:`~asha_nb.viz.timeline` (the worker timeline of the dashboard and
the lesson), :mod:`~asha_nb.viz.charts` (the dashboard), :mod:`~asha_nb.viz.ladder` and
:mod:`~asha_nb.viz.lesson` (the lesson), :mod:`~asha_nb.viz.export` (GIF frames).

Nothing here touches ipywidgets or a clock (only :mod:`~asha_nb.viz.export` renders, with a
few threads); altair, vl-convert and Pillow are imported lazily inside each function, so
importing :mod:`asha_nb.viz` is cheap. The widgets (:mod:`asha_nb.widgets`) stream
rows into the *named* datasets these specs declare; the static renderers (``static_html``,
``save``) inline the same rows with :func:`with_data`.
"""

from __future__ import annotations

from ._common import RUNG_SCHEME, clean, to_records, with_data
from .charts import best_so_far_chart, learning_curve_chart
from .ladder import rung_ladder_chart
from .lesson import lesson_chart
from .timeline import worker_timeline

__all__ = [
    "RUNG_SCHEME",
    "worker_timeline",
    "learning_curve_chart",
    "best_so_far_chart",
    "rung_ladder_chart",
    "lesson_chart",
    "with_data",
    "to_records",
    "clean",
]
