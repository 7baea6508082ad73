"""Jupyter views of asha_nb: the live :class:`Dashboard` and the teaching :class:`PromotionView`.

ipywidgets, anywidget and altair are imported only when one of these names is used; if they
are missing, :class:`~asha_nb.errors.MissingExtraError` says ``pip install "asha_nb[widgets]"``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["Dashboard", "PromotionView"]

_LAZY = {"Dashboard": ".dashboard", "PromotionView": ".promotion"}


def _require() -> None:
    from ..errors import MissingExtraError

    for module, package in (("ipywidgets", "ipywidgets"), ("anywidget", "anywidget"),
                            ("altair", "altair")):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError("widgets", package) from exc


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        _require()
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'asha_nb.widgets' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from .dashboard import Dashboard
    from .promotion import PromotionView
