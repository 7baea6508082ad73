"""What a scheduler holds (its trials, running jobs, generator and brackets) and every read of it:
counts, snapshots, columns, the best result. The transitions live in :mod:`._base`."""

from __future__ import annotations

import abc
import math
import numbers
from collections import deque
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from .._validation import check_choice, check_int, check_number
from ..errors import InvalidParameterError
from ..space import Space, as_space
from ._brackets import _Bracket
from .rungs import Rung
from .types import Job, RungSnapshot, SchedulerSnapshot, TrialSnapshot, TrialStatus

__all__: list[str] = []


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


class _SchedulerState(abc.ABC):
    """The state of a :class:`~asha_nb.core.Scheduler` and its read side (no transition here).

    It checks the constructor's arguments and owns the trial records (``_trials``, with their
    status ``_counts``), the user queue, the running and orphaned jobs, the random generator, the
    constructor's ``_params`` and the ``_brackets`` each scheduler sets.
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

    @property
    @abc.abstractmethod
    def is_finished(self) -> bool:
        """Whether the search is over: no job running and none will ever be handed out."""

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

    # ------------------------------------------------------------------ private reads
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

    def _bracket_rungs(self, bracket: int) -> list[Rung]:
        """The rungs of one bracket, rung 0 first."""
        return self._brackets[bracket].rungs

    def _rungs_with_brackets(self) -> list[tuple[int, Rung]]:
        """Every rung with its bracket index."""
        return [(b.index, r) for b in self._brackets for r in b.rungs]

    def _all_rungs(self) -> list[Rung]:
        return [r for _, r in self._rungs_with_brackets()]
