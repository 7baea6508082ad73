"""Where trials run: threads, processes, Dask, or any ``concurrent.futures.Executor``.

``make_executor(spec)`` turns what a user passes as ``executor=`` into a
:class:`BaseExecutor`:

==============================================  ===========================================
``executor=``                                   executor
==============================================  ===========================================
``"thread"``                                    :class:`ThreadExecutor` (cooperative stop)
``"process"``                                   :class:`ProcessExecutor` (pebble; kills)
``"dask"``                                      :class:`DaskExecutor` on a private LocalCluster
``"batched"`` (or ``"jax-batched"``)            :class:`BatchedExecutor` (the model's batch engine)
a ``distributed.Client``                        :class:`DaskExecutor` (cooperative stop)
any ``concurrent.futures.Executor``             :class:`GenericExecutor` (no preemption)
a :class:`BaseExecutor` instance                used as is
==============================================  ===========================================

The executor classes are imported lazily: ``import asha_nb.executors`` imports neither pebble
nor dask.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameterError, InvalidTypeError
from ._base import BaseExecutor, IntermediateReport, JobOutcome, JobSpec, RunningJob

__all__ = [
    "BaseExecutor",
    "JobSpec",
    "JobOutcome",
    "IntermediateReport",
    "RunningJob",
    "ThreadExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "GenericExecutor",
    "SimulatedExecutor",
    "SimulatedCrash",
    "BatchedExecutor",
    "make_executor",
    "is_dask_client",
]

_LAZY = {
    "ThreadExecutor": "asha_nb.executors.thread",
    "ProcessExecutor": "asha_nb.executors.process",
    "DaskExecutor": "asha_nb.executors.dask",
    "GenericExecutor": "asha_nb.executors.generic",
    "SimulatedExecutor": "asha_nb.executors.simulated",
    "SimulatedCrash": "asha_nb.executors.simulated",
    "BatchedExecutor": "asha_nb.executors.batched",
}

_ALIASES = {
    "thread": "thread",
    "threads": "thread",
    "process": "process",
    "processes": "process",
    "dask": "dask",
    "simulated": "simulated",
    "virtual": "simulated",
    "batched": "batched",
    "jax-batched": "batched",
    "jax": "batched",
}

_ALLOWED = (
    '"thread", "process", "dask" (a private LocalCluster), "batched" (or "jax-batched"), a distributed.Client, a concurrent.futures.Executor '
    "or an asha_nb.executors.BaseExecutor instance"
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'asha_nb.executors' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def is_dask_client(obj: Any) -> bool:
    """Whether ``obj`` is a ``distributed.Client`` (checked without importing dask)."""
    return any(
        cls.__name__ == "Client" and cls.__module__.split(".")[0] == "distributed"
        for cls in type(obj).__mro__
    )


def make_executor(spec: Any, **options: Any) -> BaseExecutor:
    """Build the executor named or wrapped by ``spec``.

    Parameters
    ----------
    spec
        ``"thread"``, ``"process"``, ``"dask"``, a ``distributed.Client``, any
        ``concurrent.futures.Executor``, or a :class:`BaseExecutor` (returned as is).
    **options
        Keyword arguments of the executor class (e.g. ``mp_context="forkserver"`` for
        ``"process"``).

    Raises
    ------
    InvalidParameterError
        For an unknown executor name.
    InvalidTypeError
        For anything else that is not an executor, or options given with an instance.

    Examples
    --------
    >>> make_executor("thread").name
    'thread'
    >>> make_executor("gpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    asha_nb.errors.InvalidParameterError: executor must be "thread", "process", ...; got 'gpu'
    >>> make_executor(42)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    asha_nb.errors.InvalidTypeError: executor must be "thread", "process", ...; got int: 42
    """
    if isinstance(spec, BaseExecutor):
        if options:
            raise InvalidTypeError(
                f"executor options {sorted(options)} cannot be applied to an executor instance "
                f"({type(spec).__name__}); pass them to its constructor"
            )
        return spec
    if isinstance(spec, str):
        kind = _ALIASES.get(spec.strip().lower())
        if kind == "thread":
            from .thread import ThreadExecutor

            return ThreadExecutor(**options)
        if kind == "process":
            from .process import ProcessExecutor

            return ProcessExecutor(**options)
        if kind == "dask":
            from .dask import DaskExecutor

            return DaskExecutor(None, **options)
        if kind == "simulated":
            from .simulated import SimulatedExecutor

            return SimulatedExecutor(**options)
        if kind == "batched":
            from .batched import BatchedExecutor

            return BatchedExecutor(**options)
        raise InvalidParameterError(f"executor must be {_ALLOWED}; got {spec!r}")
    if is_dask_client(spec):
        from .dask import DaskExecutor

        return DaskExecutor(spec, **options)
    if isinstance(spec, cf.Executor):
        from .generic import GenericExecutor

        return GenericExecutor(spec, **options)
    raise InvalidTypeError(f"executor must be {_ALLOWED}; got {type(spec).__name__}: {spec!r:.80}")


if TYPE_CHECKING:  # pragma: no cover
    from .batched import BatchedExecutor
    from .dask import DaskExecutor
    from .generic import GenericExecutor
    from .process import ProcessExecutor
    from .simulated import SimulatedCrash, SimulatedExecutor
    from .thread import ThreadExecutor
