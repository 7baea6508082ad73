"""VegaStream: an anywidget that renders a Vega-Lite spec offline and appends rows to it.

Why not ``alt.JupyterChart``? It has no append API: a growing table means re-sending the
whole spec with all its rows (or pre-sizing data, impossible for an open-ended search). This
widget ships the spec once (trait ``spec``, with named datasets) and then sends only the *new*
rows as one custom message per flush; the browser calls ``view.insert(name, rows)``. The
front-end code (``_vega.js``) is bundled together with vega, vega-lite and vega-embed by
vl-convert (``javascript_bundle``): nothing is fetched from a CDN. The bundle (~0.9 MB) is
built once per machine and cached in ``~/.cache/asha_nb``.

Parameters of the chart (e.g. the teaching view's time ``t``) are set with the ``params`` trait.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..errors import import_extra
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
        vlc = import_extra("vl_convert", "widgets", "vl-convert-python")
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
        Vega-Lite dict (``chart.to_dict()``); datasets named in it receive :meth:`append`
        (growing datasets) and :meth:`update` (growing, replaced, parameters, and the
        running-trials list shown above the chart).

    Notes
    -----
    One :meth:`update` is ONE comm message, whatever it carries. The widget keeps what it sent
    (appended rows, the latest replaced datasets, parameters and list) so that a view that
    opens later, or asks for a resync, gets all of it, and so that :meth:`datasets` can render
    the same picture statically.
    """

    spec = traitlets.Dict().tag(sync=True)
    params = traitlets.Dict().tag(sync=True)

    def __init__(self, spec: Mapping[str, Any] | None = None, **kwargs: Any):
        type(self)._esm = javascript_bundle()
        super().__init__(spec=dict(spec or {}), **kwargs)
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._replaced: dict[str, list[dict[str, Any]]] = {}
        self._volatile: dict[str, list[dict[str, Any]]] = {}
        self._signals: dict[str, Any] = {}
        self._running: dict[str, Any] | None = None
        self._handlers: list[Callable[[dict[str, Any]], None]] = []
        self.n_ready = 0
        self.on_msg(self._on_front_end_msg)

    # ------------------------------------------------------------------ data
    def rows(self, name: str) -> list[dict[str, Any]]:
        """A copy of the rows of dataset ``name`` (appended so far and the current volatile
        rows, or the latest replacement)."""
        with _sync.LOCK:
            if name in self._replaced:
                return list(self._replaced[name])
            return list(self._rows.get(name, ())) + list(self._volatile.get(name, ()))

    def datasets(self) -> dict[str, list[dict[str, Any]]]:
        """Every dataset as it stands (appended and volatile rows, latest replacements)."""
        with _sync.LOCK:
            names = set(self._rows) | set(self._volatile) | set(self._replaced)
        return {name: self.rows(name) for name in names}

    @property
    def signals(self) -> dict[str, Any]:
        """The parameters set with :meth:`update` (e.g. ``now``)."""
        with _sync.LOCK:
            return dict(self._signals)

    @property
    def running(self) -> dict[str, Any] | None:
        """The running-trials list last sent (``None`` if this chart shows none)."""
        with _sync.LOCK:
            return None if self._running is None else dict(self._running)

    def append(self, rows: Mapping[str, list[dict[str, Any]]]) -> bool:
        """Append rows to named datasets; sends ONE message with only these rows.

        Returns whether a message was sent (nothing is sent for no rows).
        """
        return self.update(append=rows)

    def update(self, *, append: Mapping[str, list[dict[str, Any]]] | None = None,
               replace: Mapping[str, list[dict[str, Any]]] | None = None,
               volatile: Mapping[str, list[dict[str, Any]]] | None = None,
               signals: Mapping[str, Any] | None = None,
               running: Mapping[str, Any] | None = None) -> bool:
        """Append rows, replace small datasets, set parameters and the running-trials list, in
        ONE message. Unchanged replacements, parameters and list are left out; returns whether
        a message was sent.

        Parameters
        ----------
        append
            New rows of growing datasets (sent once, never again).
        replace
            Small datasets replaced as a whole.
        volatile
            Rows that stand in a growing dataset until the next ``volatile`` rows of that
            dataset replace them (running jobs among the finished ones).
        signals
            Parameters of the spec (e.g. ``now``).
        running
            The running-trials list shown above the chart.
        """
        with _sync.LOCK:
            msg: dict[str, Any] = {"type": "update"}
            new = {k: list(v) for k, v in (append or {}).items() if v}
            if new:
                start = {}
                for name, rows in new.items():
                    buf = self._rows.setdefault(name, [])
                    start[name] = len(buf)
                    buf.extend(rows)
                msg["start"], msg["append"] = start, new
            rep = {k: list(v) for k, v in (replace or {}).items()
                   if self._replaced.get(k) != list(v)}
            if rep:
                self._replaced.update(rep)
                msg["replace"] = rep
            vol = {k: list(v) for k, v in (volatile or {}).items()
                   if self._volatile.get(k, []) != list(v)}
            if vol:
                self._volatile.update(vol)
                msg["volatile"] = vol
            sig = {k: v for k, v in (signals or {}).items() if self._signals.get(k) != v}
            if sig:
                self._signals.update(sig)
                msg["signals"] = sig
            if running is not None and dict(running) != self._running:
                self._running = dict(running)
                msg["running"] = self._running
            if len(msg) == 1:
                return False
            _sync.send(self, msg)
        return True

    def reset(self, spec: Mapping[str, Any], rows: Mapping[str, list[dict[str, Any]]] | None = None
              ) -> None:
        """Replace the spec and drop all rows (views re-embed and ask for the new rows)."""
        with _sync.LOCK:
            self._rows = {k: list(v) for k, v in (rows or {}).items()}
            self._replaced = {}
            self._volatile = {}
            _sync.set_traits(self, spec=dict(spec))

    def on_front_end(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Call ``handler(content)`` for messages from the front end other than ready/resync
        (e.g. ``{"type": "stop_trial", "trial_id": 3}`` from a running-list button)."""
        self._handlers.append(handler)

    def _replay(self) -> None:
        with _sync.LOCK:
            msg: dict[str, Any] = {"type": "update"}
            payload = {k: list(v) for k, v in self._rows.items() if v}
            if payload:
                msg["start"] = {k: 0 for k in payload}
                msg["append"] = payload
            if self._replaced:
                msg["replace"] = {k: list(v) for k, v in self._replaced.items()}
            if self._volatile:
                msg["volatile"] = {k: list(v) for k, v in self._volatile.items()}
            if self._signals:
                msg["signals"] = dict(self._signals)
            if self._running is not None:
                msg["running"] = dict(self._running)
            if len(msg) > 1:
                _sync.send(self, msg)

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind in ("ready", "resync"):
            if kind == "ready":
                self.n_ready += 1
            self._replay()
            return
        for handler in list(self._handlers):
            handler(content)
