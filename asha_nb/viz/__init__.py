"""Pure chart specifications: plain data (dicts of columns, DataFrames) -> altair charts.

Nothing here touches ipywidgets, threads or a clock; altair is imported lazily inside each
function, so importing :mod:`asha_nb.viz` is cheap. The widgets (:mod:`asha_nb.widgets`) stream
rows into the *named* datasets these specs declare; the static renderers (``static_html``,
``save``) inline the same rows with :func:`with_data`.
"""

from __future__ import annotations

from ._common import RUNG_SCHEME, clean, to_records, with_data
from .charts import (
    best_so_far_chart,
    learning_curve_chart,
    timeline_chart,
)
from .lesson import lesson_chart, rung_ladder_chart

__all__ = [
    "RUNG_SCHEME",
    "timeline_chart",
    "learning_curve_chart",
    "best_so_far_chart",
    "rung_ladder_chart",
    "lesson_chart",
    "with_data",
    "to_records",
    "clean",
]
