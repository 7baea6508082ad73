"""asha_nb: notebook-native asynchronous successive halving (ASHA) hyperparameter search.

The scheduler core (:mod:`asha_nb.core`) is pure; :class:`Search` (the one runtime loop) runs
real trials on threads, processes, Dask or any executor, and :func:`simulate` runs the same
loop in virtual time for teaching, tests and benchmarks. Heavy or optional parts (the runtime, widgets, torch, JAX, Dask)
are imported lazily, so ``import asha_nb`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import space
from .core import ASHA, SHA, AsyncHyperband, Hyperband, Job, TrialStatus
from .errors import (
    AshaError,
    InvalidParameterError,
    InvalidTypeError,
    MissingExtraError,
    SearchStateError,
)
from .simulate import SimulationResult, simulate
from .space import choice, loguniform, randint, uniform

__version__ = "0.1.0"

__all__ = [
    "ASHA",
    "SHA",
    "Hyperband",
    "AsyncHyperband",
    "Job",
    "TrialStatus",
    "space",
    "uniform",
    "loguniform",
    "randint",
    "choice",
    "simulate",
    "SimulationResult",
    "Search",
    "Trial",
    "PromotionView",
    "Dashboard",
    "AshaError",
    "InvalidParameterError",
    "InvalidTypeError",
    "MissingExtraError",
    "SearchStateError",
    "load_ipython_extension",
    "unload_ipython_extension",
    "__version__",
]

# name -> (module, attribute): resolved on first access so optional extras load lazily.
_LAZY = {
    "Search": ("asha_nb._notebook", "Search"),
    "Trial": ("asha_nb._trial", "Trial"),
    "PromotionView": ("asha_nb.widgets", "PromotionView"),
    "Dashboard": ("asha_nb.widgets", "Dashboard"),
    "load_ipython_extension": ("asha_nb.magic", "load_ipython_extension"),
    "unload_ipython_extension": ("asha_nb.magic", "unload_ipython_extension"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'asha_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from ._notebook import Search
    from ._trial import Trial
    from .magic import load_ipython_extension, unload_ipython_extension
    from .widgets import Dashboard, PromotionView
