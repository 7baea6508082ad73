"""Shared machinery of every scheduler: trial registry, job issuing, the contract's bookkeeping."""

from __future__ import annotations

import abc
import math
import numbers
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Protocol

import numpy as np

from .._validation import check_choice, check_int, check_number
from ..errors import InvalidParameterError, InvalidTypeError, SearchStateError
from ..space import Space, as_space
from .rungs import Rung
from .types import (
    Event,
    Job,
    Promoted,
    ResultRecorded,
    RungSnapshot,
    SchedulerSnapshot,
    Stopped,
    StopReason,
    TrialCreated,
    TrialFailed,
    TrialSnapshot,
    TrialStatus,
)

__all__ = ["Scheduler", "rung_resources"]


def rung_resources(
    min_resource: float, max_resource: float, reduction_factor: int, early_stopping_rate: int
) -> list[float]:
    """Resources of the rungs: ``r * eta**(s + k)`` for ``k = 0 .. K - 1``, and ``R`` for rung ``K``.

    ``K = floor(log_eta(R / r)) - s`` is the top rung. It always trains exactly
    ``max_resource`` (as Hyperband, Ray Tune and Determined do): when ``R / r`` is not a power of
    ``eta`` the top rung's resource is ``R`` rather than ``r * eta**(s + K)``. Integer inputs give
    integer resources. ``min_resource == max_resource`` gives one rung (no early stopping).

    Raises
    ------
    InvalidParameterError
        If ``1 < R / r < eta`` (the range is too short for one reduction, so ``max_resource``
        could never be reached by a promotion), or if ``early_stopping_rate`` leaves no rung.

    Examples
    --------
    >>> rung_resources(1, 64, 4, 0)
    [1, 4, 16, 64]
    >>> rung_resources(1, 100, 3, 1)
    [3, 9, 27, 100]
    """
    # floor(log_eta(R/r)) computed without floating-point log error.
    k_max = 0
    while min_resource * reduction_factor ** (k_max + 1) <= max_resource * (1 + 1e-12):
        k_max += 1
    if k_max == 0 and max_resource > min_resource:
        raise InvalidParameterError(
            f"max_resource / min_resource must be 1 or at least reduction_factor={reduction_factor} "
            f"(one reduction), got max_resource={max_resource!r}, min_resource={min_resource!r}: "
            f"the range is too short for one rung step, so max_resource would never be trained; "
            f"use max_resource >= {min_resource * reduction_factor!r}, a smaller reduction_factor, "
            f"or max_resource == min_resource for a plain random search"
        )
    top = k_max - early_stopping_rate
    if top < 0:
        raise InvalidParameterError(
            f"early_stopping_rate must be an integer between 0 and floor(log_eta(max_resource / "
            f"min_resource)) = {k_max} for min_resource={min_resource!r}, "
            f"max_resource={max_resource!r}, reduction_factor={reduction_factor}; "
            f"got {early_stopping_rate}"
        )
    out = [min_resource * reduction_factor ** (early_stopping_rate + k) for k in range(top)]
    out.append(max_resource)
    return out


class _Bracket(Protocol):
    """What every scheduler's bracket has (the rest is its own)."""

    index: int
    resources: list[float]
    rungs: list[Rung]


class _Trial:
    """Mutable internal record of a trial; the outside world sees :class:`TrialSnapshot`."""

    __slots__ = ("trial_id", "config", "bracket", "status", "rung", "job", "error", "source")

    def __init__(self, trial_id: int, config: dict[str, Any], bracket: int, source: str):
        self.trial_id = trial_id
        self.config = config
        self.bracket = bracket
        self.status = TrialStatus.PENDING
        self.rung = 0  # rung of the next/last job
        self.job: Job | None = None
        self.error: str | None = None
        self.source = source


def _check_value(value: Any) -> float:
    if type(value) is float:  # fast path: the common case skips the ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(
            f"value must be a real number (the objective's result), got {value!r} "
            f"({type(value).__name__}); use fail(job, error) for a job that produced no number"
        )
    return float(value)


class Scheduler(abc.ABC):
    """Base class of the pure scheduler state machines.

    A scheduler never looks at a clock, starts a thread or does I/O. It is driven by
    :meth:`next_job` (a worker is free), :meth:`report` / :meth:`fail` (a job ended) and the
    user's levers :meth:`add_trial` and :meth:`stop_trial`; :meth:`close` ends it. Its only
    randomness is one ``numpy.random.Generator`` seeded from ``seed``: the same seed and the
    same calls give the same jobs.

    Every call reports the events it caused: :meth:`report`, :meth:`fail`,
    :meth:`stop_trial` and :meth:`close` return them; :meth:`next_job` and :meth:`add_trial`
    append them to the ``events`` list passed in (``TrialCreated`` for a new trial,
    ``Promoted`` for a promotion of the asynchronous schedulers). A driver never has to derive an
    event from the scheduler's state.
    """

    _brackets: Sequence[_Bracket]  #: set by each scheduler: its brackets, index order

    def __init__(
        self,
        space: Mapping[str, Any] | Space,
        *,
        min_resource: float,
        max_resource: float,
        reduction_factor: int,
        mode: str,
        seed: int | None,
    ):
        self.space = as_space(space)
        self.min_resource = check_number("min_resource", min_resource, low=0, low_inclusive=False)
        self.max_resource = check_number("max_resource", max_resource, low=0, low_inclusive=False)
        if max_resource < min_resource:
            raise InvalidParameterError(
                f"max_resource must be >= min_resource ({min_resource!r}), got {max_resource!r}"
            )
        if isinstance(reduction_factor, numbers.Real) and not isinstance(reduction_factor, bool):
            if isinstance(reduction_factor, float) and reduction_factor.is_integer():
                reduction_factor = int(reduction_factor)
        self.reduction_factor = check_int("reduction_factor", reduction_factor, low=2)
        self.mode = check_choice("mode", mode, ("max", "min"))
        if seed is not None:
            check_int("seed", seed, low=0)
        self.seed = seed
        self._sign = -1.0 if mode == "max" else 1.0
        self._rng = np.random.default_rng(seed)
        self._trials: list[_Trial] = []
        self._counts: dict[TrialStatus, int] = dict.fromkeys(TrialStatus, 0)
        self._user_queue: deque[int] = deque()
        self._running: dict[int, Job] = {}
        self._orphans: dict[int, Job] = {}  # jobs of trials stopped while running
        self._next_job_id = 0
        self._params: dict[str, Any] = {}
        self._closed = False

    # ------------------------------------------------------------------ contract
    @abc.abstractmethod
    def next_job(self, events: list[Event] | None = None) -> Job | None:
        """Ask for work for a free worker.

        Parameters
        ----------
        events
            If given, the events this call causes are appended to it: ``TrialCreated`` when a
            new configuration is sampled, ``Promoted`` when an asynchronous scheduler promotes
            a trial (synchronous schedulers promote when a rung's barrier opens, in
            :meth:`report`).

        Returns
        -------
        Job or None
            ``None`` means nothing can run now: a synchronous rung barrier, a concurrency cap,
            or the trial budget is spent. :attr:`is_finished` tells these apart.
        """

    @property
    @abc.abstractmethod
    def is_finished(self) -> bool:
        """Whether the search is over: no job running and none will ever be handed out."""

    def report(self, job: Job, value: float) -> list[Event]:
        """Record the value ``job`` produced and return the events it caused.

        NaN and infinite values are accepted: they rank worst and are never promoted.

        Raises
        ------
        InvalidTypeError
            If ``value`` is not a real number.
        SearchStateError
            If ``job`` is not a job handed out by this scheduler that is still running.
        """
        value = _check_value(value)
        job_id = job.job_id
        if job_id in self._running:
            del self._running[job_id]
            trial = self._trials[job.trial_id]
            trial.job = None
            events: list[Event] = [
                ResultRecorded(job.trial_id, job_id, job.rung, job.resource, value, job.bracket)
            ]
            self._on_job_done(job)
            events.extend(self._record(trial, job, value))
            return events
        if job_id in self._orphans:
            del self._orphans[job_id]
            trial = self._trials[job.trial_id]
            self._record_orphan(trial, job, value)
            return [ResultRecorded(job.trial_id, job_id, job.rung, job.resource, value, job.bracket)]
        raise SearchStateError(
            f"job {job_id} (trial {job.trial_id}) is not running: it was already reported or "
            "failed, or it was not handed out by this scheduler"
        )

    def fail(self, job: Job, error: BaseException | str) -> list[Event]:
        """Mark ``job`` as failed; its trial is never promoted. Returns the events caused."""
        job_id = job.job_id
        trial = self._trials[job.trial_id] if 0 <= job.trial_id < len(self._trials) else None
        if job_id in self._orphans:
            del self._orphans[job_id]
            return []
        if job_id not in self._running or trial is None:
            raise SearchStateError(
                f"job {job_id} (trial {job.trial_id}) is not running: it was already reported or "
                "failed, or it was not handed out by this scheduler"
            )
        del self._running[job_id]
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        trial.job = None
        self._set_status(trial, TrialStatus.FAILED)
        trial.error = text
        self._on_job_done(job)
        events: list[Event] = [TrialFailed(trial.trial_id, job_id, job.rung, text, job.bracket)]
        events.extend(self._after_resolved(trial, job.rung))
        return events

    def add_trial(
        self, config: Mapping[str, Any], *, check: bool = True, events: list[Event] | None = None
    ) -> int:
        """Add a user-proposed configuration; it enters rung 0 with the next free worker.

        Parameters
        ----------
        config
            Values for some or all parameters of the space; missing ones are sampled, unknown
            ones are an error.
        check
            Refuse values outside their domain (default). ``check=False`` lets you add an
            out-of-range configuration on purpose.
        events
            If given, the ``TrialCreated`` event is appended to it.

        Returns
        -------
        int
            The new trial's id.
        """
        full = self.space.complete(config, self._rng, check=check)
        bracket = self._bracket_for_user_trial()
        trial = self._new_trial(full, bracket, "user", events)
        self._user_queue.append(trial.trial_id)
        self._on_user_trial(trial)
        return trial.trial_id

    def stop_trial(self, trial_id: int) -> list[Event]:
        """Stop a trial: it will not be (re)started or promoted.

        A running job's late result is still recorded (no result is lost) but does not make
        the trial promotable. Stopping a trial that already ended does nothing.
        """
        n = len(self._trials)
        if isinstance(trial_id, bool) or not isinstance(trial_id, numbers.Integral):
            raise InvalidTypeError(f"trial_id must be an integer, got {trial_id!r}")
        if not 0 <= trial_id < n:
            raise InvalidParameterError(
                f"trial_id must be an existing trial id between 0 and {n - 1}, got {trial_id}"
                if n
                else f"trial_id {trial_id} does not exist: no trial has been created yet"
            )
        trial = self._trials[trial_id]
        status = trial.status
        if status in (TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.FAILED,
                      TrialStatus.NOT_PROMOTED):
            return []
        if status is TrialStatus.RUNNING:
            job = trial.job
            assert job is not None
            del self._running[job.job_id]
            self._orphans[job.job_id] = job
            trial.job = None
            self._on_job_done(job)
        self._set_status(trial, TrialStatus.STOPPED)
        self._on_user_stop(trial, status)
        events: list[Event] = [Stopped(trial_id, trial.rung, StopReason.USER, trial.bracket)]
        if status in (TrialStatus.RUNNING, TrialStatus.PENDING):
            events.extend(self._after_resolved(trial, trial.rung))
        return events

    def close(self) -> list[Event]:
        """End the search: every trial still waiting for a promotion (``PAUSED``) becomes
        ``NOT_PROMOTED``; one waiting for its first or next job (``PENDING``) or whose job is
        still out (``RUNNING``: the search ended under it) becomes ``STOPPED``. Both get a
        ``Stopped`` event with :attr:`StopReason.END`.

        A job still out may still report: its value is recorded, never promoted (as after
        :meth:`stop_trial`). A closed scheduler hands out no more jobs. Returns the ``Stopped``
        events.
        """
        self._closed = True  # nothing is promoted any more: the rungs need no update
        events: list[Event] = []
        waiting = (TrialStatus.PAUSED, TrialStatus.PENDING)
        for t in self._trials:
            status = t.status
            if status is TrialStatus.RUNNING:
                job = t.job
                assert job is not None
                del self._running[job.job_id]
                self._orphans[job.job_id] = job
                t.job = None
                self._on_job_done(job)
            elif status not in waiting:
                continue
            # A trial waiting for a promotion was simply not promoted; one waiting for a job
            # (or whose job was out) was stopped by the end.
            self._set_status(t, TrialStatus.NOT_PROMOTED if status is TrialStatus.PAUSED
                             else TrialStatus.STOPPED)
            events.append(Stopped(t.trial_id, t.rung, StopReason.END, t.bracket))
        return events

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # ------------------------------------------------------------------ read side
    @property
    def n_trials(self) -> int:
        """Number of trials created so far (sampled and user-added)."""
        return len(self._trials)

    @property
    def n_running(self) -> int:
        """Number of jobs handed out and not yet reported, failed or stopped."""
        return len(self._running)

    @property
    def rung_resources(self) -> list[list[float]]:
        """Resources of each bracket's rungs (``rung_resources[bracket][rung]``)."""
        return [list(b.resources) for b in self._brackets]

    def expected_jobs(self) -> int | None:
        """The number of jobs this scheduler plans to hand out (``None``: no limit).

        Exact for the synchronous schedulers (without ``add_trial``); for the asynchronous ones a
        plan of ``floor(n / eta**k)`` jobs in rung ``k`` of each bracket: they may hand out a few
        more (a trial promoted early can later drop out of the top set).
        """
        return None

    @property
    def top_resource(self) -> float:
        """The largest resource any rung trains to (``max_resource``)."""
        return max(r[-1] for r in self.rung_resources)

    def running_jobs(self) -> list[Job]:
        """The jobs currently out, in the order they were handed out."""
        return list(self._running.values())

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments except ``space``: ``type(s)(space, **s.get_params())`` is a
        fresh scheduler that, given the same calls, hands out the same jobs."""
        return dict(self._params)

    def get_rng_state(self) -> dict[str, Any]:
        """State of the scheduler's random generator (a plain dict; see :meth:`set_rng_state`)."""
        state: dict[str, Any] = dict(self._rng.bit_generator.state)
        return state

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore the random generator, e.g. to rebuild a ``seed=None`` scheduler exactly.

        Together with :meth:`get_params` and the same calls, a fresh scheduler whose state is set
        to a recorded one hands out exactly the recorded jobs and configurations.
        """
        self._rng.bit_generator.state = dict(state)

    def trial_status(self, trial_id: int) -> TrialStatus:
        """The status of one trial (cheap: no snapshot is built)."""
        return self._trials[trial_id].status

    def trial(self, trial_id: int) -> TrialSnapshot:
        """Snapshot of one trial."""
        return self._trial_snapshot(self._trials[trial_id])

    def trial_config(self, trial_id: int) -> Mapping[str, Any]:
        """The configuration of a trial (the scheduler's own mapping: do not modify it)."""
        return self._trials[trial_id].config

    def best(self) -> tuple[int, float, float] | None:
        """``(trial_id, value, resource)`` of the best result at the highest resource reached.

        ``None`` while no finite result exists.
        """
        best: tuple[float, tuple[int, float, int], int, float] | None = None
        for rung in self._all_rungs():
            if not len(rung):
                continue
            tid = rung.top(1)[0]
            value = rung.value(tid)
            if not math.isfinite(value):
                continue
            key = rung.key(tid)
            if best is None or rung.resource > best[0] or (rung.resource == best[0] and key < best[1]):
                best = (rung.resource, key, tid, value)
        return None if best is None else (best[2], best[3], best[0])

    def trial_columns(self) -> dict[str, Any]:
        """Every trial as columns, in trial id order: ``trial_id``, ``rung``, ``bracket``
        (int64 arrays), ``value`` (float64 array: the value at the highest rung with a result,
        as ``TrialSnapshot.values[-1]``; NaN where there is none), ``has_value`` (bool array),
        and the lists ``status`` (:class:`TrialStatus`), ``error`` and ``config`` (the
        scheduler's own mappings: do not modify them).

        The same content as :meth:`snapshot`'s trials, with no object per trial: how a long
        search's table of trials is read.
        """
        trials = self._trials
        n = len(trials)
        value = np.full(n, np.nan)
        has_value = np.zeros(n, dtype=bool)
        for rung in sorted(self._all_rungs(), key=lambda r: r.index):  # higher rungs win
            tids, values = rung.value_arrays()
            value[tids] = values
            has_value[tids] = True
        return {
            "trial_id": np.arange(n, dtype=np.int64),
            "status": list(map(attrgetter("status"), trials)),
            "rung": np.fromiter(map(attrgetter("rung"), trials), dtype=np.int64, count=n),
            "bracket": np.fromiter(map(attrgetter("bracket"), trials), dtype=np.int64, count=n),
            "value": value,
            "has_value": has_value,
            "error": list(map(attrgetter("error"), trials)),
            "config": list(map(attrgetter("config"), trials)),
        }

    def rung_snapshots(self) -> tuple[RungSnapshot, ...]:
        """One :class:`RungSnapshot` per rung (cheap: no per-trial work)."""
        return tuple(
            RungSnapshot(
                bracket=b,
                rung=r.index,
                resource=r.resource,
                n_results=len(r),
                n_promoted=r.n_promoted,
                cutoff=r.cutoff(),
            )
            for b, r in self._rungs_with_brackets()
        )

    def status_counts(self) -> dict[TrialStatus, int]:
        """Number of trials in each status (kept up to date on every change: O(1))."""
        return dict(self._counts)

    @property
    def n_queued(self) -> int:
        """User-added trials still waiting for their first job."""
        trials = self._trials
        return sum(1 for t in self._user_queue if trials[t].status is TrialStatus.PENDING)

    def snapshot(self) -> SchedulerSnapshot:
        """An immutable picture of all rungs and trials (O(number of trials))."""
        trials = tuple(self._trial_snapshot(t) for t in self._trials)
        return SchedulerSnapshot(self.rung_snapshots(), trials, self.is_finished,
                                 len(self._running))

    # ------------------------------------------------------------------ helpers for subclasses
    def _set_status(self, trial: _Trial, status: TrialStatus) -> None:
        counts = self._counts
        counts[trial.status] -= 1
        counts[status] += 1
        trial.status = status

    def _trial_snapshot(self, t: _Trial) -> TrialSnapshot:
        return TrialSnapshot(
            t.trial_id,
            dict(t.config),
            t.status,
            t.rung,
            t.bracket,
            self._values_of(t),
            t.error,
        )

    def _values_of(self, t: _Trial) -> tuple[tuple[int, float], ...]:
        # A trial's values live in its bracket's rungs only (no per-trial dict to keep).
        rungs = self._bracket_rungs(t.bracket)
        tid = t.trial_id
        return tuple((r.index, r.value(tid)) for r in rungs[: t.rung + 1] if tid in r)

    def _new_trial(self, config: dict[str, Any], bracket: int, source: str,
                   events: list[Event] | None) -> _Trial:
        trial = _Trial(len(self._trials), config, bracket, source)
        self._trials.append(trial)
        self._counts[TrialStatus.PENDING] += 1
        self._on_trial_created(trial)
        if events is not None:
            events.append(TrialCreated(trial.trial_id, config, bracket, source))
        return trial

    def _issue(self, trial: _Trial, rung: int, resources: list[float]) -> Job:
        job = Job(
            self._next_job_id,
            trial.trial_id,
            trial.config,
            rung,
            resources[rung],
            resources[rung - 1] if rung > 0 else 0,
            trial.bracket,
        )
        self._next_job_id += 1
        counts = self._counts
        counts[trial.status] -= 1
        counts[TrialStatus.RUNNING] += 1
        trial.status = TrialStatus.RUNNING
        trial.rung = rung
        trial.job = job
        self._running[job.job_id] = job
        return job

    def _promoted(self, trial: _Trial, from_rung: int, resources: list[float],
                  events: list[Event] | None) -> None:
        if events is not None:
            events.append(Promoted(trial.trial_id, from_rung, from_rung + 1,
                                   resources[from_rung + 1], trial.bracket))

    def _pop_user_trial(self, blocked: Callable[[_Trial], bool] | None = None) -> _Trial | None:
        """The oldest user-added trial still waiting for its first job, taken off the queue.

        ``blocked(trial)`` True keeps a trial queued (e.g. its bracket is at its concurrency
        cap) and looks at the next one.
        """
        queue = self._user_queue
        trials = self._trials
        while queue and trials[queue[0]].status is not TrialStatus.PENDING:
            queue.popleft()  # stopped before it ever ran
        if not queue:
            return None
        if blocked is None:
            return trials[queue.popleft()]
        for i, tid in enumerate(queue):
            trial = trials[tid]
            if trial.status is TrialStatus.PENDING and not blocked(trial):
                del queue[i]
                return trial
        return None

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _record(self, trial: _Trial, job: Job, value: float) -> list[Event]:
        """Put a fresh result into its rung and decide what follows."""

    def _record_orphan(self, trial: _Trial, job: Job, value: float) -> None:
        """A stopped trial's late result: keep it, never promote it."""

    def _on_job_done(self, job: Job) -> None:
        """A job left the running set (reported, failed or stopped)."""

    def _on_trial_created(self, trial: _Trial) -> None:
        """A trial was just created."""

    def _on_user_trial(self, trial: _Trial) -> None:
        """A user-added trial was just queued."""

    def _on_user_stop(self, trial: _Trial, previous: TrialStatus) -> None:
        """``stop_trial`` (or ``close``) changed ``trial`` from ``previous`` to STOPPED."""

    def _after_resolved(self, trial: _Trial, rung: int) -> list[Event]:
        """A trial's place in ``rung`` is settled without a result (failed or stopped)."""
        return []

    def _bracket_for_user_trial(self) -> int:
        return 0

    def _bracket_rungs(self, bracket: int) -> list[Rung]:
        """The rungs of one bracket, rung 0 first."""
        return self._brackets[bracket].rungs

    def _rungs_with_brackets(self) -> list[tuple[int, Rung]]:
        """Every rung with its bracket index."""
        return [(b.index, r) for b in self._brackets for r in b.rungs]

    def _all_rungs(self) -> list[Rung]:
        return [r for _, r in self._rungs_with_brackets()]


class _HasBrackets(Protocol):
    @property
    def _brackets(self) -> Sequence[_Bracket]: ...


class _SingleBracket:
    """The one-bracket views of :class:`~asha_nb.core.ASHA` and :class:`~asha_nb.core.SHA`."""

    @property
    def resources(self: _HasBrackets) -> list[float]:
        """Resource of each rung (rung 0 first)."""
        return list(self._brackets[0].resources)

    @property
    def rungs(self: _HasBrackets) -> Sequence[Rung]:
        """The live rung containers (read-only use; prefer :meth:`snapshot`)."""
        return tuple(self._brackets[0].rungs)
