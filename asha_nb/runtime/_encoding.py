"""How configuration values travel and how a resumed search recognises them.

A journal stores each configuration with :mod:`pickle` (the ``data`` of its ``next_job`` and
``add_trial`` rows); a process pool sends each job's configuration with :mod:`pickle` too, and
Dask with ``cloudpickle``. :func:`same_config` compares two configurations by their canonical
encoding, never with ``==``: a value without value equality (``nan``, a numpy array, an object
of a class without ``__eq__``) is still equal to itself read back from the journal.
:func:`check_space_values` and :func:`check_config_values` refuse, when the search is built or
when a trial is added, a value that the journal or the executor could not carry, naming its key.
"""

from __future__ import annotations

import concurrent.futures as cf
import pickle
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidParameterError

__all__ = ["value_code", "same_config", "job_pickler", "check_space_values",
           "check_config_values"]

_ORDERED = (list, tuple)
_UNORDERED = (set, frozenset)


def value_code(value: Any) -> bytes:
    """The canonical encoding of one configuration value: its pickle, with the elements of
    lists, tuples and dicts encoded one by one and those of sets sorted (a set's iteration
    order depends on the process's string hashing).

    Examples
    --------
    >>> nan = float("nan")
    >>> nan == nan, value_code(nan) == value_code(float("nan"))
    (False, True)
    """
    kind = type(value)
    if kind in _ORDERED or kind in _UNORDERED or kind is dict:
        if kind is dict:
            parts = [value_code(k) + value_code(v) for k, v in value.items()]
        else:
            parts = [value_code(v) for v in value]
        if kind in _UNORDERED:
            parts.sort()
        body = b"".join(len(p).to_bytes(8, "little") + p for p in parts)
        return kind.__name__.encode() + b":" + body
    return b"p" + pickle.dumps(value, protocol=4)


def same_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two configurations hold the same values (same keys, each value the same object
    or with the same canonical encoding)."""
    if set(a) != set(b):
        return False
    for key, x in a.items():
        y = b[key]
        if x is y:
            continue
        try:
            if value_code(x) != value_code(y):
                return False
        except Exception:  # noqa: BLE001 - a value that cannot be encoded is not recognised
            return False
    return True


def job_pickler(executor: Any) -> str | None:
    """``"pickle"`` or ``"cloudpickle"``: how ``executor`` sends a job's configuration to its
    workers, or ``None`` when it does not serialise it (threads, batches, virtual time) or its
    serialiser is unknown. An executor may say so itself with a ``job_pickler`` attribute."""
    own = getattr(executor, "job_pickler", None)
    if own in ("pickle", "cloudpickle"):
        return str(own)
    from ..executors.generic import GenericExecutor
    from ..executors.process import ProcessExecutor

    if isinstance(executor, ProcessExecutor):
        return "pickle"  # multiprocessing (pebble) pickles the job's arguments
    if type(executor).__module__ == "asha_nb.executors.dask":
        return "cloudpickle"  # Dask falls back to cloudpickle
    if isinstance(executor, GenericExecutor):
        inner = executor.executor
        if isinstance(inner, cf.ProcessPoolExecutor) or type(inner).__module__.startswith(
                "mpi4py"):
            return "pickle"
    return None


def _problem(value: Any, *, journal: bool, pickler: str | None) -> str | None:
    """Why ``value`` cannot go into the journal or to the executor's workers, or ``None``."""
    if journal:
        try:
            blob = pickle.dumps(value)
        except Exception as exc:  # noqa: BLE001 - reported with the key
            return (f"cannot be written to the journal: pickle fails "
                    f"({type(exc).__name__}: {exc}); the journal stores configurations with "
                    "pickle (numbers, strings, tuples, numpy arrays, module-level functions and "
                    "classes are fine; a lambda or a local function is not)")
        try:
            same = value_code(pickle.loads(blob)) == value_code(value)  # noqa: S301 - own bytes
        except Exception as exc:  # noqa: BLE001 - reported with the key
            return (f"cannot be compared after it is read back from the journal "
                    f"({type(exc).__name__}: {exc})")
        if not same:
            return ("does not read back from the journal as itself (its pickle changes "
                    "after a round trip), so a resumed search could not recognise it")
    if pickler is not None and not (journal and pickler == "pickle"):
        try:
            if pickler == "pickle":
                pickle.dumps(value)
            else:
                import cloudpickle

                cloudpickle.dumps(value)
        except Exception as exc:  # noqa: BLE001 - reported with the key
            return (f"cannot be sent to the executor's worker processes: {pickler} fails "
                    f"({type(exc).__name__}: {exc}); use a picklable value (a module-level "
                    "function instead of a lambda or a local function), or executor='thread'")
    return None


def check_space_values(space: Mapping[str, Any], *, journal: bool,
                       pickler: str | None) -> None:
    """Refuse a ``choice`` option or fixed value of ``space`` that a journal (``journal``) or
    the executor's workers (``pickler``) cannot carry.

    Raises
    ------
    InvalidParameterError
        Naming the key, the option and why.
    """
    if not journal and pickler is None:
        return
    import numpy as np

    from ..space import Choice, _Fixed

    for name in space:
        dom = space[name]
        if isinstance(dom, Choice):
            values: tuple[Any, ...] = dom.options
            what = "option"
        elif isinstance(dom, _Fixed):
            values = (dom.value,)
            what = "fixed value"
        else:
            continue
        for i, v in enumerate(values):
            plain = v.item() if isinstance(v, np.generic) else v  # as Choice.sample gives it
            why = _problem(plain, journal=journal, pickler=pickler)
            if why is not None:
                raise InvalidParameterError(
                    f"space[{name!r}]: {what} {i} ({v!r:.60}) {why}")


def check_config_values(config: Mapping[str, Any], *, journal: bool,
                        pickler: str | None) -> None:
    """Refuse a value of an ``add_trial`` configuration that a journal or the executor's
    workers cannot carry (see :func:`check_space_values`)."""
    if not journal and pickler is None:
        return
    for name, v in config.items():
        why = _problem(v, journal=journal, pickler=pickler)
        if why is not None:
            raise InvalidParameterError(f"add_trial config[{name!r}] ({v!r:.60}) {why}")
