"""SHA: synchronous successive halving with a real rung barrier."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from .._validation import check_int
from ..errors import SearchStateError
from ..space import Space
from ._base import Scheduler
from ._brackets import _SingleBracket, rung_resources
from ._state import _Trial
from .rungs import Rung
from .types import Event, Job, Promoted, Stopped, StopReason, TrialCompleted, TrialStatus

__all__ = ["SHA"]


class _SyncBracket:
    """One synchronous successive-halving bracket.

    Rung ``k`` holds ``n_k`` members; when every member of the open rung is resolved (result,
    failure or stop) the barrier opens: the top ``max(1, floor(n_k / eta))`` results are
    promoted and the others stopped.
    """

    __slots__ = ("index", "resources", "rungs", "top", "n_configs", "members", "queue",
                 "resolved", "open_rung", "finished", "n_created")

    def __init__(self, index: int, resources: list[float], sign: float, eta: int,
                 n_configs: int):
        self.index = index
        self.resources = resources
        self.rungs = [Rung(k, r, sign, eta) for k, r in enumerate(resources)]
        self.top = len(resources) - 1
        self.n_configs = n_configs  # planned members of rung 0 (grows with add_trial)
        self.members: list[list[int]] = [[] for _ in resources]
        self.queue: deque[int] = deque()  # promoted trials waiting for a worker (open rung)
        self.resolved = [0 for _ in resources]
        self.open_rung = 0
        self.finished = False
        self.n_created = 0

    def rung0_open(self) -> bool:
        return self.open_rung == 0 and not self.finished


class _SyncScheduler(Scheduler):
    """Engine shared by :class:`SHA` and :class:`~asha_nb.core.Hyperband`."""

    _brackets: list[_SyncBracket]

    def next_job(self, events: list[Event] | None = None) -> Job | None:
        if self._closed:
            return None
        trial = self._pop_user_trial()
        if trial is not None:
            return self._issue(trial, 0, self._brackets[trial.bracket].resources)
        trials = self._trials
        for b in self._brackets:
            if b.finished:
                continue
            while b.queue:
                t = trials[b.queue.popleft()]
                if t.status is TrialStatus.PENDING:
                    return self._issue(t, b.open_rung, b.resources)
            if b.open_rung == 0 and b.n_created < b.n_configs:
                t = self._new_trial(self.space.sample(self._rng), b.index, "sampled", events)
                b.members[0].append(t.trial_id)
                return self._issue(t, 0, b.resources)
        return None

    def _on_trial_created(self, trial: _Trial) -> None:
        self._brackets[trial.bracket].n_created += 1

    def _bracket_for_user_trial(self) -> int:
        for b in self._brackets:
            if b.rung0_open():
                return b.index
        raise SearchStateError(
            "cannot add a trial: every bracket of this synchronous scheduler has closed rung 0 "
            "(its barrier has passed); add trials before rung 0 completes, or use ASHA"
        )

    def _on_user_trial(self, trial: _Trial) -> None:
        b = self._brackets[trial.bracket]
        b.members[0].append(trial.trial_id)
        b.n_configs += 1

    def _record(self, trial: _Trial, job: Job, value: float) -> list[Event]:
        b = self._brackets[job.bracket]
        b.rungs[job.rung].add(trial.trial_id, value)
        if job.rung == b.top:
            self._set_status(trial, TrialStatus.COMPLETED)
            events: list[Event] = [TrialCompleted(trial.trial_id, job.rung, value, b.index)]
        else:
            self._set_status(trial, TrialStatus.PAUSED)
            events = []
        b.resolved[job.rung] += 1
        events.extend(self._maybe_open_barrier(b))
        return events

    def _record_orphan(self, trial: _Trial, job: Job, value: float) -> None:
        rung = self._brackets[job.bracket].rungs[job.rung]
        if trial.trial_id not in rung:
            rung.add(trial.trial_id, value, promotable=False)
            rung.block(trial.trial_id)

    def _after_resolved(self, trial: _Trial, rung: int) -> list[Event]:
        b = self._brackets[trial.bracket]
        b.resolved[rung] += 1
        return self._maybe_open_barrier(b)

    def _on_user_stop(self, trial: _Trial, previous: TrialStatus) -> None:
        if previous is TrialStatus.PAUSED:
            self._brackets[trial.bracket].rungs[trial.rung].block(trial.trial_id)

    def _maybe_open_barrier(self, b: _SyncBracket) -> list[Event]:
        k = b.open_rung
        members = b.members[k]
        if b.resolved[k] < len(members) or (k == 0 and b.n_created < b.n_configs):
            return []
        # The rung is complete.
        if k == b.top:
            b.finished = True
            return []
        rung = b.rungs[k]
        n_next = max(1, len(members) // self.reduction_factor)
        trials = self._trials
        eligible = [tid for tid in rung.top(len(rung)) if trials[tid].status is TrialStatus.PAUSED]
        # Non-finite values are never promoted (they rank last, so they are a suffix).
        promote = [tid for tid in eligible[:n_next] if rung.is_finite(tid)]
        events: list[Event] = []
        for tid in promote:
            rung.mark_promoted(tid)
            t = trials[tid]
            self._set_status(t, TrialStatus.PENDING)
            t.rung = k + 1
            b.queue.append(tid)
            events.append(Promoted(tid, k, k + 1, b.resources[k + 1], b.index))
        for tid in eligible[len(promote):]:
            rung.block(tid)
            self._set_status(trials[tid], TrialStatus.STOPPED)
            events.append(Stopped(tid, k, StopReason.RUNG, b.index))
        b.open_rung = k + 1
        b.members[k + 1] = list(promote)
        if not promote:
            b.finished = True
        return events

    @property
    def is_finished(self) -> bool:
        return not self._running and (self._closed or all(b.finished for b in self._brackets))


    def expected_jobs(self) -> int | None:
        total = 0
        for b in self._brackets:
            n = b.n_configs
            for _ in range(b.top + 1):
                total += n
                n = max(1, n // self.reduction_factor)
        return total

    def jobs_per_rung(self) -> list[list[int]]:
        """For each bracket, the number of configurations that entered each rung so far."""
        return [[len(m) for m in b.members] for b in self._brackets]


class SHA(_SyncScheduler, _SingleBracket):
    """Synchronous successive halving.

    ``n_configs`` configurations are trained to ``min_resource``; when *all* of them have
    reported (the rung barrier: :meth:`next_job` returns ``None`` meanwhile) the top
    ``floor(n / eta)`` (at least one) are promoted to ``eta`` times the resource, and so on
    up to ``max_resource``.

    Parameters
    ----------
    space
        Search space (see :mod:`asha_nb.space`).
    n_configs
        Configurations in rung 0 (integer >= 1).
    min_resource, max_resource, reduction_factor, early_stopping_rate, mode, seed
        As for :class:`~asha_nb.ASHA`.

    Examples
    --------
    The 64-configuration example (reduction factor 4): 64, 16, 4 and 1 jobs at resources
    1, 4, 16 and 64.

    >>> from asha_nb import SHA, space
    >>> sha = SHA({"x": space.uniform(0, 1)}, n_configs=64, min_resource=1, max_resource=64,
    ...           reduction_factor=4, seed=0)
    >>> while not sha.is_finished:
    ...     job = sha.next_job()
    ...     _ = sha.report(job, job.config["x"])
    >>> sha.jobs_per_rung(), sha.resources
    ([[64, 16, 4, 1]], [1, 4, 16, 64])
    """

    def __init__(
        self,
        space: Mapping[str, Any] | Space,
        *,
        n_configs: int,
        min_resource: float,
        max_resource: float,
        reduction_factor: int = 3,
        early_stopping_rate: int = 0,
        mode: str = "max",
        seed: int | None = None,
    ):
        params = {k: v for k, v in locals().items() if k not in ('self', 'space', '__class__')}
        super().__init__(space, min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, mode=mode, seed=seed)
        self._params = params
        self.n_configs = check_int("n_configs", n_configs, low=1)
        self.early_stopping_rate = check_int("early_stopping_rate", early_stopping_rate, low=0)
        resources = rung_resources(self.min_resource, self.max_resource, self.reduction_factor,
                                   self.early_stopping_rate)
        self._brackets = [_SyncBracket(0, resources, self._sign, self.reduction_factor,
                                      self.n_configs)]

    def __repr__(self) -> str:
        return (f"SHA(n_configs={self.n_configs}, min_resource={self.min_resource!r}, "
                f"max_resource={self.max_resource!r}, reduction_factor={self.reduction_factor}, "
                f"mode={self.mode!r}, seed={self.seed!r})")
