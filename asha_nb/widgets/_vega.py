"""VegaStream: an anywidget that renders a Vega-Lite spec offline and appends rows to it.

Why not ``alt.JupyterChart``? It has no append API: a growing table means re-sending the
whole spec with all its rows (or pre-sizing data, impossible for an open-ended search). This
widget ships the spec once (trait ``spec``, with named datasets) and then sends only the *new*
rows as one custom message per flush; the browser calls ``view.insert(name, rows)``. The
front-end code (``_vega.js``) is bundled together with vega, vega-lite and vega-embed by
vl-convert (``javascript_bundle``): nothing is fetched from a CDN. The bundle (~0.9 MB) is
built once per machine and cached in ``~/.cache/asha_nb``.

Parameters of the chart (e.g. the teaching view's time ``t``) are set with the ``params`` trait
or, for animations, with the integer ``frame`` trait (``t = frame * frame_step``), which an
``ipywidgets.Play`` can drive through ``jslink`` entirely in the browser.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from . import _sync

__all__ = ["VegaStream", "javascript_bundle"]

_JS_PATH = Path(__file__).with_name("_vega.js")
_BUNDLE: str | None = None
_BUNDLE_LOCK = threading.Lock()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "asha_nb"


def javascript_bundle(snippet: str | None = None) -> str:
    """Self-contained ES module: ``snippet`` (default: the widget's ``_vega.js``) + vega libs.

    Built with ``vl_convert.javascript_bundle`` (no network) and cached on disk.
    """
    global _BUNDLE
    if snippet is None and _BUNDLE is not None:
        return _BUNDLE
    with _BUNDLE_LOCK:
        if snippet is None and _BUNDLE is not None:
            return _BUNDLE
        try:
            import vl_convert as vlc
        except ImportError as exc:  # pragma: no cover - environment
            from ..errors import MissingExtraError

            raise MissingExtraError("widgets", "vl-convert-python") from exc
        src = _JS_PATH.read_text() if snippet is None else snippet
        key = hashlib.sha256((getattr(vlc, "__version__", "?") + src).encode()).hexdigest()[:16]
        path = _cache_dir() / f"vega-bundle-{key}.js"
        try:
            text = path.read_text()
        except OSError:
            text = vlc.javascript_bundle(src)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(text)
                tmp.replace(path)
            except OSError:
                pass
        if snippet is None:
            _BUNDLE = text
        return text


class VegaStream(anywidget.AnyWidget):
    """A Vega-Lite chart whose named datasets grow by appended rows.

    Parameters
    ----------
    spec
        Vega-Lite dict (``chart.to_dict()``); datasets named in it receive :meth:`append`.
    """

    spec = traitlets.Dict().tag(sync=True)
    params = traitlets.Dict().tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    frame_param = traitlets.Unicode("").tag(sync=True)
    frame_step = traitlets.Float(1.0).tag(sync=True)

    def __init__(self, spec: Mapping[str, Any] | None = None, **kwargs: Any):
        type(self)._esm = javascript_bundle()
        super().__init__(spec=dict(spec or {}), **kwargs)
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self.n_ready = 0
        self.on_msg(self._on_front_end_msg)

    # ------------------------------------------------------------------ data
    def rows(self, name: str) -> list[dict[str, Any]]:
        """A copy of the rows appended to dataset ``name`` so far."""
        with _sync.LOCK:
            return list(self._rows.get(name, ()))

    def append(self, rows: Mapping[str, list[dict[str, Any]]]) -> bool:
        """Append rows to named datasets; sends ONE message with only these rows.

        Returns whether a message was sent (nothing is sent for no rows).
        """
        payload = {k: list(v) for k, v in rows.items() if v}
        if not payload:
            return False
        with _sync.LOCK:
            start = {}
            for name, new in payload.items():
                buf = self._rows.setdefault(name, [])
                start[name] = len(buf)
                buf.extend(new)
            _sync.send(self, {"type": "append", "start": start, "rows": payload})
        return True

    def reset(self, spec: Mapping[str, Any], rows: Mapping[str, list[dict[str, Any]]] | None = None
              ) -> None:
        """Replace the spec and drop all rows (views re-embed and ask for the new rows)."""
        with _sync.LOCK:
            self._rows = {k: list(v) for k, v in (rows or {}).items()}
            _sync.set_traits(self, spec=dict(spec))

    def _replay(self) -> None:
        with _sync.LOCK:
            payload = {k: list(v) for k, v in self._rows.items() if v}
            if payload:
                _sync.send(self, {"type": "append", "start": {k: 0 for k in payload},
                                  "rows": payload})

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") in ("ready", "resync"):
            if content.get("type") == "ready":
                self.n_ready += 1
            self._replay()
