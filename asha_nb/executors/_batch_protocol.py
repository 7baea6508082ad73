"""The batch-engine protocol: what :class:`~asha_nb.executors.batched.BatchedExecutor` asks of an engine.

A batch engine trains many configurations of one model together and reports each row that
reached its target resource as a :class:`Finished`. This module imports neither JAX nor torch;
:mod:`asha_nb.executors.batched` re-exports every name here.

Examples
--------
>>> whole_epochs(3.0)
3
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable, Mapping, Sized
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidParameterError

__all__ = [
    "BatchEngine",
    "BatchedObjective",
    "ENGINE_MEMBERS",
    "check_engine_options",
    "Finished",
    "missing_engine_members",
    "whole_epochs",
]

@dataclass(frozen=True)
class Finished:
    """A row that reached its target resource: what the executor turns into a ``JobOutcome``.

    Attributes
    ----------
    key
        The key the row was added with (the executor uses the job id).
    trial_id
        The trial the row belongs to.
    value
        The model's value after the row's last epoch (reported to the scheduler).
    checkpoint
        The row's checkpoint: give it back to :meth:`BatchEngine.add` to continue. A mapping
        with at least ``"resource"``; engines may return a handle to device memory (e.g.
        :class:`~asha_nb.integrations.jax.DeviceCheckpoint`) that pickles as host data.
    epochs
        Epochs this job trained (its checkpoint's epochs excluded).
    """

    key: Hashable
    trial_id: int
    value: float
    checkpoint: Mapping[str, Any]
    epochs: int


@runtime_checkable
class BatchEngine(Protocol):
    """What :class:`BatchedExecutor` needs from a batch engine (one per search).

    A *row* is one job: a configuration trained ``epochs`` more epochs from its checkpoint (or
    from scratch). The executor calls every method from one thread.
    """

    @property
    def n_active(self) -> int:
        """Rows added and neither finished nor removed."""
        ...

    def add(
        self,
        key: Hashable,
        trial_id: int,
        config: Mapping[str, Any],
        epochs: float,
        checkpoint: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue a row: train ``config`` ``epochs`` more epochs from ``checkpoint`` (or scratch)."""
        ...

    def remove(self, key: Hashable) -> bool:
        """Drop a row (a stopped job); return whether it was there."""
        ...

    def step(self, max_epochs: int | None = None) -> list[Finished]:
        """Train one chunk (at most ``max_epochs`` epochs); return the rows that finished."""
        ...

    def progress(self) -> Mapping[Hashable, tuple[int, float]]:
        """``key -> (resource, value)`` of the rows still training after the last step.

        The executor reports each entry as an intermediate value after every step, so an
        engine returns a value once (a new evaluation), or nothing when the step evaluated
        none of the rows still training (the JAX engine: ``progress_interval``)."""
        ...

    def set_capacity(self, capacity: int) -> None:
        """Change the most rows trained at once (the search's ``n_workers``)."""
        ...

    # Optional (not checked): ``take_started() -> list[(key, time.perf_counter())]``, the rows
    # whose training began since the last call. An engine that has it may keep rows beyond its
    # capacity waiting; the executor then times each job from its row's start (the job's
    # ``RunningJob.started_at`` stays ``None`` while it waits, so no timeout runs meanwhile).
    # ``close()``: free the engine's batches when the executor stops.
    # ``finishing(key) -> bool``: the row's last chunk is in flight (dispatched, not read);
    # the executor then keeps the value it computes, rather than removing the row on a stop.
    # ``flush() -> list[Finished]``: read the chunks in flight, dispatching none (shutdown:
    # the values of the rows that finish in them are kept).


@runtime_checkable
class BatchedObjective(Protocol):
    """A model the batched executor can train: it builds the engine for a search."""

    def engine(self, capacity: int) -> BatchEngine:
        """A new engine training at most ``capacity`` rows at once (implementations may take
        keyword options, which :class:`BatchedExecutor` passes through)."""
        ...


#: Members of :class:`BatchEngine`, in the order errors name them (``n_active`` is a property).
ENGINE_MEMBERS = ("add", "remove", "step", "progress", "set_capacity", "n_active")


def missing_engine_members(engine: Any) -> list[str]:
    """The :class:`BatchEngine` members ``engine`` lacks (methods must be callable)."""
    missing = []
    for name in ENGINE_MEMBERS:
        if name == "n_active":
            if not hasattr(engine, name) or callable(getattr(engine, name)):
                missing.append(name)
        elif not callable(getattr(engine, name, None)):
            missing.append(name)
    return missing


def whole_epochs(value: float, what: str = "epochs") -> int:
    """``value`` as a non-negative whole number of epochs (engines train whole epochs).

    Raises
    ------
    InvalidParameterError
        If ``value`` is negative or not whole; the message names ``what``.

    Examples
    --------
    >>> whole_epochs(3.0)
    3
    >>> whole_epochs(2.5, "resource")
    Traceback (most recent call last):
    ...
    asha_nb.errors.InvalidParameterError: resource must be a non-negative whole number of epochs for a batch engine, got 2.5
    """
    n = int(round(float(value)))
    if abs(n - float(value)) > 1e-9 or n < 0:
        raise InvalidParameterError(
            f"{what} must be a non-negative whole number of epochs for a batch engine, got {value!r}"
        )
    return n


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_engine_options(options: Mapping[str, Any]) -> None:
    """Check the values of the engine options the bundled engines share (their names as in
    :class:`~asha_nb.integrations.jax.BatchedModel`'s ``engine``), without building an engine:
    :class:`BatchedExecutor` calls it when it is made, so a bad option is refused there and
    not when the search starts. Other names pass (an engine may take its own options); what
    depends on the devices (``train_block`` a multiple of their count) the engine checks.

    Raises
    ------
    InvalidParameterError
        The first option out of its range; the message names it, its range and the value.

    Examples
    --------
    >>> check_engine_options({"pipeline_depth": 2, "progress_interval": None})
    >>> check_engine_options({"pipeline_depth": 0})
    Traceback (most recent call last):
    ...
    asha_nb.errors.InvalidParameterError: pipeline_depth must be an int >= 1 (chunks of a group in flight), got 0
    """
    for name, value in options.items():
        message = _option_error(name, value)
        if message is not None:
            raise InvalidParameterError(f"{message}, got {value!r}")


def _option_error(name: str, value: Any) -> str | None:
    """What is wrong with engine option ``name = value`` (``None``: nothing we know of)."""
    if name == "pipeline_depth" and not (_is_int(value) and value >= 1):
        return "pipeline_depth must be an int >= 1 (chunks of a group in flight)"
    if name in ("progress_interval", "compact_after") and value is not None and not (
            _is_real(value) and value >= 0):
        return f"{name} must be None or >= 0 seconds"
    if name == "pool_fraction" and not (_is_real(value) and 0 < value <= 1):
        return "pool_fraction must be in (0, 1]"
    if name in ("max_pool_bytes", "train_block") and value is not None and not (
            _is_int(value) and value >= 1):
        return f"{name} must be None or an int >= 1"
    if name in ("buckets", "devices") and value is not None and (
            isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sized)
            or not isinstance(value, Iterable) or not len(value)):
        return f"{name} must be None or a non-empty sequence"
    if name == "buckets" and value is not None and not all(_is_int(b) and b >= 1 for b in value):
        return "buckets must be None or a non-empty sequence of ints >= 1 (batch sizes)"
    return None
