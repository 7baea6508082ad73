"""The :class:`Trial` context object handed to context-form objectives.

An objective written as ``objective(trial)`` gets one :class:`Trial` per job. It reads the
configuration and the resource to train to from it, reports intermediate values (streamed to
the dashboard while the job runs), checks for a cooperative stop, and saves the checkpoint a
promoted job will resume from.

This module is imported inside every worker process, so it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Trial", "Channel", "NullChannel"]

_UNSET: Any = object()


class Channel(Protocol):
    """Where a running job sends intermediate values and asks whether to stop.

    Every executor provides one (in-memory queue for threads, a Manager queue for processes,
    a ``distributed.Queue`` for Dask); :class:`NullChannel` ignores reports and never stops.
    """

    def report(self, job_id: int, trial_id: int, resource: float, value: float) -> None:
        """Stream one intermediate value; must never raise for transport problems."""

    def should_stop(self, job_id: int) -> bool:
        """Return ``True`` once the runtime asked job ``job_id`` to stop."""

    def started(self, job_id: int) -> None:
        """Tell the executor that job ``job_id`` begins to run its objective now (called once
        per job by the worker, before the objective; must never raise for transport
        problems). Executors that time jobs themselves ignore it."""


class NullChannel:
    """A channel that drops reports and never asks a job to stop."""

    def report(self, job_id: int, trial_id: int, resource: float, value: float) -> None:
        """Drop the report."""

    def should_stop(self, job_id: int) -> bool:
        """Always ``False``."""
        return False

    def started(self, job_id: int) -> None:
        """Ignore the start."""

    def __repr__(self) -> str:
        return "NullChannel()"


class Trial:
    """What a context-form objective ``objective(trial)`` receives for one job.

    Parameters
    ----------
    config
        The trial's hyperparameter configuration.
    resource
        Total resource (epochs, steps, ...) the trial must be trained to by the end of this job.
    resume_from
        Resource the trial already has: 0 for a new trial, the previous rung's resource for a
        promoted one (then :attr:`checkpoint` holds what :meth:`save` stored last time).
    rung, trial_id, job_id
        Where this job sits in the search.
    checkpoint
        The trial's previous checkpoint, or ``None`` for a new trial.
    channel
        Transport for :meth:`report` and :meth:`should_stop` (set by the executor).

    Examples
    --------
    >>> def objective(trial):
    ...     start = trial.checkpoint or 0
    ...     for epoch in range(int(trial.resume_from), int(trial.resource)):
    ...         loss = 1.0 / (1 + epoch * trial.config["lr"])
    ...         trial.report(loss)              # resource defaults to resume_from + n reports
    ...         if trial.should_stop():
    ...             break
    ...     trial.save(epoch + 1)
    ...     return loss
    >>> t = Trial({"lr": 0.5}, resource=3)
    >>> objective(t)
    0.5
    >>> t.intermediate
    ((1.0, 1.0), (2.0, 0.6666666666666666), (3.0, 0.5))
    >>> t.saved_checkpoint
    3
    """

    __slots__ = (
        "config",
        "resource",
        "resume_from",
        "rung",
        "trial_id",
        "job_id",
        "checkpoint",
        "_channel",
        "_intermediate",
        "_saved",
        "_stop_seen",
    )

    def __init__(
        self,
        config: Mapping[str, Any],
        resource: float,
        *,
        resume_from: float = 0,
        rung: int = 0,
        trial_id: int = 0,
        job_id: int = 0,
        checkpoint: Any = None,
        channel: Channel | None = None,
    ) -> None:
        self.config: dict[str, Any] = dict(config)
        self.resource = resource
        self.resume_from = resume_from
        self.rung = rung
        self.trial_id = trial_id
        self.job_id = job_id
        self.checkpoint = checkpoint
        self._channel: Channel = channel if channel is not None else NullChannel()
        self._intermediate: list[tuple[float, float]] = []
        self._saved: Any = _UNSET
        self._stop_seen = False

    @classmethod
    def from_spec(cls, spec: Any, channel: Channel | None = None) -> Trial:
        """Build the trial of a :class:`~asha_nb.executors.JobSpec`."""
        return cls(
            spec.job.config,
            spec.job.resource,
            resume_from=spec.job.resume_from,
            rung=spec.job.rung,
            trial_id=spec.job.trial_id,
            job_id=spec.job.job_id,
            checkpoint=spec.checkpoint,
            channel=channel,
        )

    # ------------------------------------------------------------------ objective API
    def report(self, value: float, resource: float | None = None) -> bool:
        """Report an intermediate value (e.g. the validation loss after one epoch).

        Parameters
        ----------
        value
            The metric at this point of training (same direction as the final value).
        resource
            Resource reached so far. Default: ``resume_from + number of reports so far``,
            which is right when you report once per unit of resource (once per epoch).

        Returns
        -------
        bool
            :meth:`should_stop`, so a loop can write ``if trial.report(loss): break``.
        """
        if resource is None:
            resource = self.resume_from + len(self._intermediate) + 1
        pair = (float(resource), float(value))
        self._intermediate.append(pair)
        try:
            self._channel.report(self.job_id, self.trial_id, pair[0], pair[1])
        except Exception:  # noqa: BLE001 - best effort
            pass
        return self.should_stop()

    def should_stop(self) -> bool:
        """Whether the runtime asked this job to stop (cooperative; check it once per epoch).

        Once it returned ``True`` it stays ``True``; return the current value soon after.
        """
        if not self._stop_seen:
            try:
                self._stop_seen = bool(self._channel.should_stop(self.job_id))
            except Exception:  # noqa: BLE001 - a broken channel never stops the objective
                return False
        return self._stop_seen

    def save(self, checkpoint: Any) -> None:
        """Keep ``checkpoint`` (any picklable object) as this trial's checkpoint.

        A promoted job of the same trial receives it as :attr:`checkpoint`. Only the last
        call counts; keep checkpoints small (they travel back to the runtime's process).
        """
        self._saved = checkpoint

    # ------------------------------------------------------------------ read back
    @property
    def intermediate(self) -> tuple[tuple[float, float], ...]:
        """The ``(resource, value)`` pairs reported so far."""
        return tuple(self._intermediate)

    @property
    def saved(self) -> bool:
        """Whether :meth:`save` was called."""
        return self._saved is not _UNSET

    @property
    def saved_checkpoint(self) -> Any:
        """What :meth:`save` stored last (``None`` if it was never called)."""
        return None if self._saved is _UNSET else self._saved

    @property
    def stop_seen(self) -> bool:
        """Whether :meth:`should_stop` has returned ``True`` during this job."""
        return self._stop_seen

    def __repr__(self) -> str:
        return (
            f"Trial(trial_id={self.trial_id}, job_id={self.job_id}, rung={self.rung}, "
            f"resource={self.resource}, resume_from={self.resume_from}, config={self.config!r})"
        )
