"""LessonPlayer: the anywidget front end of the promotion view (Play / Pause / Step / time).

The kernel ships the lesson's Vega-Lite spec once (trait ``spec``, data inlined); everything a
frame needs is computed in the browser from the parameter ``t``. The controls live in the
front end (``_lesson.js``): Play / Pause, "Step to next promotion" (the times are in the trait
``promotions``), a time slider and a readout. The time is written back to the kernel (trait
``t``) when the animation stops, so ``view.time`` reads the frame on screen, and setting
``t`` from Python moves every view.

The same ``_lesson.js`` runs in the standalone HTML export (:meth:`PromotionView.save`) with
a small stand-in for the widget model; vega, vega-lite and vega-embed are bundled offline by
vl-convert (:func:`asha_nb.widgets._vega.javascript_bundle`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ._vega import javascript_bundle

__all__ = ["LessonPlayer", "standalone_html"]

_JS_PATH = Path(__file__).with_name("_lesson.js")
_EXPORT = "export default { render };"


def _source() -> str:
    return _JS_PATH.read_text(encoding="utf-8")


class LessonPlayer(anywidget.AnyWidget):
    """The animated lesson chart with its controls.

    Parameters
    ----------
    spec
        The lesson's Vega-Lite dict (declares the time parameter ``t``).
    horizon
        The last frame's time.
    frames
        Frames from 0 to ``horizon`` when playing (the slider's step is ``horizon / frames``).
    interval
        Milliseconds between frames when playing.
    tween
        Time a promotion's climb takes; "Step" plays from a promotion to its end.
    promotions
        Sorted times at which a promotion happens (any panel).
    log
        The promotion log: ``{scheduler, time, trial_id, from_rung, to_rung, value, cutoff,
        n_results}`` by time; shown under the chart, synced to the frame (click a row to go
        there).
    """

    spec = traitlets.Dict().tag(sync=True)
    t = traitlets.Float(0.0).tag(sync=True)
    horizon = traitlets.Float(1.0).tag(sync=True)
    frames = traitlets.Int(150).tag(sync=True)
    interval = traitlets.Int(80).tag(sync=True)
    tween = traitlets.Float(0.0).tag(sync=True)
    promotions = traitlets.List(traitlets.Float()).tag(sync=True)
    log: traitlets.List[Any] = traitlets.List().tag(sync=True)

    def __init__(self, spec: Mapping[str, Any], **kwargs: Any):
        type(self)._esm = javascript_bundle(_source())
        super().__init__(spec=dict(spec), **kwargs)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; color: #222; }}
table.asha-final {{ border-collapse: collapse; font-size: 13px; }}
table.asha-final td, table.asha-final th {{ padding: 2px 10px; text-align: right; }}
table.asha-final td:first-child, table.asha-final th:first-child {{ text-align: left; }}
</style>
</head><body>
{header}
<div id="asha-lesson"></div>
{footer}
<script type="application/json" id="asha-lesson-state">{state}</script>
<script type="module">{bundle}</script>
</body></html>
"""

_BOOT = """
const state = JSON.parse(document.getElementById("asha-lesson-state").textContent);
const handlers = {};
const model = {
  get: (k) => state[k],
  set: (k, v) => { state[k] = v; },
  save_changes: () => {},
  send: () => {},
  on: (name, cb) => { (handlers[name] = handlers[name] || []).push(cb); },
};
render({ model, el: document.getElementById("asha-lesson") });
"""


def standalone_html(state: Mapping[str, Any], *, title: str, header: str = "",
                    footer: str = "") -> str:
    """A self-contained HTML page that plays the lesson with no kernel and no network.

    ``state`` holds the :class:`LessonPlayer` traits (``spec``, ``t``, ``horizon``, ...).
    """
    src = _source().replace(_EXPORT, "") + _BOOT
    bundle = javascript_bundle(src).replace("</script", "<\\/script")
    data = json.dumps(dict(state)).replace("</", "<\\/")
    return _PAGE.format(title=title, header=header, footer=footer, state=data, bundle=bundle)
